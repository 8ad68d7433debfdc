// Cluster.transport_socket_matches through a real proxy (Istio's auto mTLS shape): one cluster with
// two endpoints, one labelled `tlsMode: istio` in filter_metadata["envoy.transport_socket_match"]
// (reached over mutual TLS with a SPIFFE client certificate) and one unlabelled (plaintext, by the
// `tlsMode-disabled` raw_buffer match); both answer. Locality-level metadata applies when the
// endpoint's own does not match. Per-match `total_match_count` stats. Decoding: EDS endpoints
// carry their metadata, typed_filter_metadata is refused with its path, and a changed endpoint
// metadata makes a new host (so a pool never keeps the old transport).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type tls from 'node:tls';
import { makePki, type LeafFiles, type TestPki } from '../helpers/certs.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { bootstrap, cluster, endpoint, hcm, listener, request, toCluster, type Obj } from '../helpers/bootstrap.js';
import { parseBootstrapText } from '../../src/envoy/text.js';
import { Cluster } from '../../src/proxy/cluster/cluster.js';
import { StatsStore } from '../../src/observe/stats.js';
import type { LocalityLbEndpointsConfig } from '../../src/proxy/config/types.js';
import { decodeResource } from '../../src/proxy/xds-client/resources.js';
import { encodeFromJson } from '../../src/xds/proto-json.js';
import { typeOfUrl } from '../../src/xds/protos.js';

type T = { after(fn: () => Promise<void> | void): void };
const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const RAW_BUFFER = 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';
const SPIFFE_CLIENT = 'spiffe://cluster.local/ns/default/sa/client';

let pki: TestPki;
let serverCert: LeafFiles;
let clientCert: LeafFiles;
before(async () => {
  pki = await makePki();
  serverCert = await pki.issue('server', { sans: ['URI:spiffe://cluster.local/ns/default/sa/server'] });
  clientCert = await pki.issue('client', { sans: [`URI:${SPIFFE_CLIENT}`] });
});
after(() => pki.close());

/** An HTTPS server requiring a client certificate from the test CA; answers `mtls <client URI SAN>`. */
async function mtlsServer(t: T): Promise<number> {
  const server = https.createServer({
    cert: readFileSync(serverCert.cert), key: readFileSync(serverCert.key), ca: readFileSync(pki.cert),
    requestCert: true, rejectUnauthorized: true,
  }, (req, res) => {
    const peer = (req.socket as tls.TLSSocket).getPeerCertificate();
    res.end(`mtls ${peer.subjectaltname ?? 'none'}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return (server.address() as AddressInfo).port;
}

async function plainServer(t: T): Promise<number> {
  const server = http.createServer((_req, res) => res.end('plain'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return (server.address() as AddressInfo).port;
}

const istioMutual = (): Obj => ({
  name: 'envoy.transport_sockets.tls',
  typed_config: {
    '@type': UPSTREAM_TLS,
    common_tls_context: {
      tls_certificates: [{ certificate_chain: { filename: clientCert.cert }, private_key: { filename: clientCert.key } }],
      validation_context: {
        trusted_ca: { filename: pki.cert },
        match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/' } }],
      },
    },
  },
});
const rawBuffer = (): Obj => ({ name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': RAW_BUFFER } });
const tlsModeIstio: Obj = { filter_metadata: { 'envoy.transport_socket_match': { tlsMode: 'istio' } } };

/** Istio's two matches: `tlsMode-istio` (mTLS), then `tlsMode-disabled` (everything else, plaintext). */
const ISTIO_MATCHES = (): Obj[] => [
  { name: 'tlsMode-istio', match: { tlsMode: 'istio' }, transport_socket: istioMutual() },
  { name: 'tlsMode-disabled', match: {}, transport_socket: rawBuffer() },
];

async function proxyTo(svc: Obj): Promise<RunningProxy> {
  return startProxy(bootstrap({ listeners: [listener({ filter: hcm({ routes: [toCluster('/', 'svc')] }) })], clusters: [svc] }));
}

function stat(p: RunningProxy, name: string): number {
  return p.server.stats.counter(name).value;
}

test('tlsMode istio endpoint over mTLS, unlabelled endpoint in plaintext: both answer through one cluster', async (t) => {
  const mesh = await mtlsServer(t);
  const plain = await plainServer(t);
  const p = await proxyTo(cluster('svc', [endpoint(mesh, { metadata: tlsModeIstio }), plain], { transport_socket_matches: ISTIO_MATCHES() }));
  t.after(() => p.close());
  const bodies = new Map<string, number>();
  for (let i = 0; i < 8; i++) {
    const r = await request(p.port, '/');
    assert.equal(r.status, 200, r.body);
    bodies.set(r.body, (bodies.get(r.body) ?? 0) + 1);
  }
  assert.deepEqual([...bodies.keys()].sort(), [`mtls URI:${SPIFFE_CLIENT}`, 'plain']);
  assert.equal(bodies.get('plain'), 4);
  // One connection per request (agent: false downstream, but the upstream pool keeps them): at least one each.
  assert.ok(stat(p, 'cluster.svc.tlsMode-istio.total_match_count') >= 1);
  assert.ok(stat(p, 'cluster.svc.tlsMode-disabled.total_match_count') >= 1);
  assert.equal(stat(p, 'cluster.svc.default.total_match_count'), 0);
  assert.equal(stat(p, 'cluster.svc.ssl.handshake'), stat(p, 'cluster.svc.tlsMode-istio.total_match_count'));
});

test('locality metadata applies when no match takes the endpoint; no match at all = the cluster transport_socket', async (t) => {
  const mesh = await mtlsServer(t);
  const plain = await plainServer(t);
  const p = await proxyTo(cluster('svc', [], {
    transport_socket_matches: [{ name: 'tlsMode-istio', match: { tlsMode: 'istio' }, transport_socket: istioMutual() }],
  }, [
    { lb_endpoints: [endpoint(mesh)], metadata: tlsModeIstio, locality: { zone: 'a' } },
    { lb_endpoints: [endpoint(plain, { metadata: { filter_metadata: { 'envoy.transport_socket_match': { tlsMode: 'disabled' } } } })], locality: { zone: 'b' } },
  ]));
  t.after(() => p.close());
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) seen.add((await request(p.port, '/')).body);
  assert.deepEqual([...seen].sort(), [`mtls URI:${SPIFFE_CLIENT}`, 'plain']);
  assert.ok(stat(p, 'cluster.svc.default.total_match_count') >= 1, 'the plain endpoint went to the default (no transport_socket: plaintext)');
});

test('without matching metadata every host gets mTLS when that is the only match; a plaintext server then fails the call', async (t) => {
  const plain = await plainServer(t);
  const p = await proxyTo(cluster('svc', [plain], {
    transport_socket_matches: [{ name: 'all', match: {}, transport_socket: istioMutual() }],
  }));
  t.after(() => p.close());
  const r = await request(p.port, '/');
  assert.equal(r.status, 503);
  assert.equal(stat(p, 'cluster.svc.all.total_match_count'), 1);
});

test('decoding: raw_buffer accepted as a cluster transport socket; typed_filter_metadata and an unknown socket type refused with their paths', () => {
  const yaml = (svc: Obj): string => bootstrap({ listeners: [], clusters: [svc] });
  const ok = parseBootstrapText(yaml(cluster('svc', [80], { transport_socket: rawBuffer() })), 't.yaml', { baseDir: process.cwd() });
  assert.ok(ok.ok, ok.ok ? '' : ok.errors.join('\n'));
  assert.equal(ok.ok && ok.value.clusters[0]!.transportSocket, null);

  const typed = parseBootstrapText(yaml(cluster('svc', [endpoint(80, { metadata: { typed_filter_metadata: { x: { '@type': 'type.googleapis.com/google.protobuf.Struct' } } } })])), 't.yaml', { baseDir: process.cwd() });
  assert.equal(typed.ok, false);
  assert.match(typed.ok ? '' : typed.errors.join('\n'), /lb_endpoints\[0\]\.metadata\.typed_filter_metadata/);

  const unknown = parseBootstrapText(yaml(cluster('svc', [80], {
    transport_socket_matches: [{ name: 'x', match: {}, transport_socket: { name: 'alts', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.alts.v3.Alts' } } }],
  })), 't.yaml', { baseDir: process.cwd() });
  assert.equal(unknown.ok, false);
  assert.match(unknown.ok ? '' : unknown.errors.join('\n'), /transport_socket_matches\[0\]\.transport_socket\.typed_config/);

  const noSocket = parseBootstrapText(yaml(cluster('svc', [80], { transport_socket_matches: [{ name: 'x', match: {} }] })), 't.yaml', { baseDir: process.cwd() });
  assert.equal(noSocket.ok, false);
});

const EDS_TYPE = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

/** A ClusterLoadAssignment through binary protobuf and the xDS client's decoder (as over ADS). */
function overXds(json: Obj): LocalityLbEndpointsConfig[] {
  const value = encodeFromJson(typeOfUrl(EDS_TYPE)!, json);
  const r = decodeResource(EDS_TYPE, { type_url: EDS_TYPE, value }, { baseDir: process.cwd() });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return [...r.value.endpoints];
}

test('EDS: endpoint metadata decoded; a host whose metadata changes is a new host with the new transport', (t) => {
  const assignment = (md: Obj | null): Obj => ({
    cluster_name: 'svc',
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } }, ...(md ? { metadata: md } : {}) }] }],
  });
  const eps = overXds(assignment(tlsModeIstio));
  assert.deepEqual(eps[0]!.lbEndpoints[0]!.metadata, { 'envoy.transport_socket_match': { tlsMode: 'istio' } });

  const parsed = parseBootstrapText(bootstrap({ listeners: [], clusters: [cluster('svc', [], { transport_socket_matches: ISTIO_MATCHES() })] }), 't.yaml', { baseDir: process.cwd() });
  assert.ok(parsed.ok);
  const base = { ...parsed.value.clusters[0]!, type: 'EDS' as const, eds: { serviceName: 'svc', configSource: { initialFetchTimeoutMs: 15000 } } };
  const c = new Cluster({ ...base, loadAssignment: { endpoints: overXds(assignment(null)) } }, new StatsStore());
  t.after(() => c.close());
  const before = c.hosts[0]!;
  assert.equal(before.transport?.name, 'tlsMode-disabled');
  c.updateLoadAssignment({ ...base, loadAssignment: { endpoints: eps } });
  const afterUpdate = c.hosts[0]!;
  assert.notEqual(afterUpdate, before, 'a new Host (and so a new connection pool)');
  assert.equal(afterUpdate.transport?.name, 'tlsMode-istio');
  assert.ok(afterUpdate.transport?.tls !== null);
});
