// SDS from a gRPC server on a Unix socket (Istio's layout: a STATIC `sds-grpc` cluster with a
// `pipe` address, secrets `default` and `ROOTCA`): a cluster with an SDS client certificate and a
// combined validation context (SAN matcher inline, ROOTCA over SDS) talks mTLS to an upstream; a
// listener with the same secrets requires client certificates; the SDS server rotates the
// certificate (new connections use it) and a bad secret is NACKed with the last good one kept.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { makePki, type LeafFiles, type TestPki } from '../helpers/certs.js';
import { startProxy } from '../helpers/proxy.js';
import { bootstrap, direct, hcm, listener, request, toCluster, type Obj } from '../helpers/bootstrap.js';
import { tlsGet } from '../helpers/tls-clients.js';
import { waitUntil } from '../helpers/adversarial.js';
import { caSecret, certSecret, grpcSds, startFakeSds } from '../helpers/sds.js';

const TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3';
const SPIFFE_WEB = 'spiffe://cluster.local/ns/default/sa/web';
const SPIFFE_UP = 'spiffe://cluster.local/ns/default/sa/upstream';

let pki: TestPki;
let web1: LeafFiles;
let web2: LeafFiles;
let upstreamLeaf: LeafFiles;

before(async () => {
  pki = await makePki();
  web1 = await pki.issue('web-1', { sans: [`URI:${SPIFFE_WEB}`] });
  web2 = await pki.issue('web-2', { sans: [`URI:${SPIFFE_WEB}`] });
  upstreamLeaf = await pki.issue('upstream', { sans: [`URI:${SPIFFE_UP}`] });
});
after(() => pki.close());

const serial = (f: LeafFiles): string => new X509Certificate(readFileSync(f.cert)).serialNumber;

/** An HTTPS upstream requiring a client certificate from the test CA; answers with the client's serial and closes. */
async function startMtlsUpstream(): Promise<{ port: number; close(): Promise<void> }> {
  const server = https.createServer({
    cert: readFileSync(upstreamLeaf.cert), key: readFileSync(upstreamLeaf.key), ca: readFileSync(pki.cert),
    requestCert: true, rejectUnauthorized: true,
  }, (req, res) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
    res.end(`client=${peer.serialNumber}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const combined = (sans: string[]): Obj => ({
  default_validation_context: { match_typed_subject_alt_names: sans.map((s) => ({ san_type: 'URI', matcher: { exact: s } })) },
  validation_context_sds_secret_config: grpcSds('ROOTCA', 'sds-grpc'),
});

test('gRPC SDS over a Unix socket: mTLS to an upstream and on a listener, rotation, NACK of a bad secret', async (t) => {
  const sock = pki.file('sds.sock');
  const sds = await startFakeSds(`unix:${sock}`);
  t.after(() => sds.close());
  sds.set([certSecret('default', web1), caSecret('ROOTCA', pki.cert)]);
  const up = await startMtlsUpstream();
  t.after(() => up.close());

  const px = await startProxy(bootstrap({
    admin: true,
    listeners: [
      listener({ name: 'plain', filter: hcm({ statPrefix: 'out', routes: [toCluster('/', 'mtls-up')] }) }),
      listener({
        name: 'inbound',
        chains: [{
          filters: [hcm({ statPrefix: 'in', routes: [direct({ prefix: '/' }, 'inbound')] })],
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': `${TLS}.DownstreamTlsContext`, require_client_certificate: true,
              common_tls_context: { tls_certificate_sds_secret_configs: [grpcSds('default', 'sds-grpc')], combined_validation_context: combined([SPIFFE_WEB]) },
            },
          },
        }],
      }),
    ],
    clusters: [
      { name: 'sds-grpc', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'sds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: sock } } } }] }] } },
      {
        name: 'mtls-up', type: 'STATIC', connect_timeout: '1s',
        load_assignment: { cluster_name: 'mtls-up', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: up.port } } } }] }] },
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            '@type': `${TLS}.UpstreamTlsContext`,
            common_tls_context: { tls_certificate_sds_secret_configs: [grpcSds('default', 'sds-grpc')], combined_validation_context: combined([SPIFFE_UP]) },
          },
        },
      },
    ],
  }));
  t.after(() => px.close());
  await waitUntil(async () => (await request(px.adminPort, '/ready')).status === 200, 5000, '/ready');
  // One stream, both names subscribed.
  assert.deepEqual([...(sds.requests[0]?.resource_names ?? [])].sort(), ['ROOTCA', 'default']);
  assert.equal(sds.requests[0]?.type_url, 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret');

  // Outbound: mTLS with the SDS client certificate, the upstream verified against ROOTCA + SAN.
  const r1 = await request(px.portOf('plain'), '/');
  assert.equal(r1.status, 200);
  assert.equal(r1.body, `client=${serial(web1)}`);
  // Inbound: a client certificate from the CA with the right SAN is accepted; none is refused.
  const withCert = await tlsGet(px.portOf('inbound'), { cert: web2.cert, key: web2.key });
  assert.match(withCert.response, /200[\s\S]*inbound$/);
  const noCert = await tlsGet(px.portOf('inbound'), {});
  assert.equal(noCert.response, '');
  const wrongSan = await tlsGet(px.portOf('inbound'), { cert: upstreamLeaf.cert, key: upstreamLeaf.key });
  assert.equal(wrongSan.response, '');

  // Rotation over SDS: the next upstream connection presents the new certificate.
  sds.set([certSecret('default', web2), caSecret('ROOTCA', pki.cert)]);
  await waitUntil(async () => (await request(px.portOf('plain'), '/')).body === `client=${serial(web2)}`, 5000, 'rotated client certificate');
  const acks = sds.requests.filter((q) => q.version_info === '2' && q.error_detail === undefined);
  assert.ok(acks.length >= 1, 'version 2 ACKed');
  assert.ok((px.server.stats.value('cluster.mtls-up.client_ssl_socket_factory.ssl_context_update_by_sds') ?? 0) >= 1);

  // A bad secret (key of another certificate): NACKed, version 2 stays in force.
  const bad = certSecret('default', web1);
  (bad.tls_certificate as Obj).private_key = (certSecret('x', web2).tls_certificate as Obj).private_key;
  sds.set([bad, caSecret('ROOTCA', pki.cert)]);
  await waitUntil(() => sds.requests.some((q) => q.error_detail !== undefined), 5000, 'a NACK');
  const nack = sds.requests.find((q) => q.error_detail !== undefined)!;
  assert.equal(nack.version_info, '2', 'the NACK carries the last accepted version');
  assert.match(nack.error_detail?.message ?? '', /default: tls_certificate\.private_key/);
  assert.equal(px.server.stats.value('sds.default.update_rejected'), 1);
  assert.equal((await request(px.portOf('plain'), '/')).body, `client=${serial(web2)}`);
});

test('a cluster whose SDS secrets have not arrived fails its connects (secrets not ready) and recovers when they do', async (t) => {
  const sock = pki.file('sds-late.sock');
  const sds = await startFakeSds(`unix:${sock}`);
  t.after(() => sds.close());
  const up = await startMtlsUpstream();
  t.after(() => up.close());
  const px = await startProxy(bootstrap({
    listeners: [listener({ name: 'plain', filter: hcm({ statPrefix: 'out', routes: [toCluster('/', 'mtls-up')] }) })],
    clusters: [
      { name: 'sds-grpc', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'sds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: sock } } } }] }] } },
      {
        name: 'mtls-up', type: 'STATIC', connect_timeout: '1s',
        load_assignment: { cluster_name: 'mtls-up', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: up.port } } } }] }] },
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: { '@type': `${TLS}.UpstreamTlsContext`, common_tls_context: { tls_certificate_sds_secret_configs: [grpcSds('default', 'sds-grpc')], combined_validation_context: combined([SPIFFE_UP]) } },
        },
      },
    ],
  }));
  t.after(() => px.close());
  const r = await request(px.portOf('plain'), '/');
  assert.equal(r.status, 503);
  assert.ok((px.server.stats.value('cluster.mtls-up.client_ssl_socket_factory.upstream_context_secrets_not_ready') ?? 0) >= 1);
  sds.set([certSecret('default', web1), caSecret('ROOTCA', pki.cert)]);
  await waitUntil(async () => (await request(px.portOf('plain'), '/')).status === 200, 5000, 'the cluster works once the secrets arrived');
});
