// Mesh mTLS in translation (Istio's semantics, Envoy's config shape): virtualInbound's chains per
// PeerAuthentication mode, auto mTLS (transport_socket_matches + `tlsMode: istio` endpoint
// metadata), DestinationRule ISTIO_MUTUAL / DISABLE, and the ROOTCA secret; everything encodes
// against the real Envoy protos. Without a CA (no trust bundle) nothing changes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { ConfigResource, MeshSnapshot, ProxyResources, Workload } from '../../../src/control/model.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, SECRET_TYPE } from '../../../src/xds/resource-types.js';
import { fqdn, sidecarProxy, workload, WORKLOADS } from '../../helpers/bookinfo-mesh.js';
import { applyYaml, generateFor, meshOf, proxyRejects, resource } from '../../helpers/istio-translate.js';
import { encodeAll } from '../../helpers/xds-encode.js';
import { createRootCertificate, generateKeyPair } from '../../../src/security/x509.js';
import { fromRoot } from '../../helpers/paths.js';

type J = any; // eslint-disable-line @typescript-eslint/no-explicit-any

// Two real roots (the proxy parses the bundle); the second without its final newline, as a bundle may come.
const ROOT = await createRootCertificate(generateKeyPair(), 'O=cluster.local', 86_400_000);
const ROOT2 = (await createRootCertificate(generateKeyPair(), 'O=cluster.local', 86_400_000)).trimEnd();

function apply(yaml: string): readonly ConfigResource[] {
  if (yaml === '') return [];
  const r = applyYaml(yaml, 'mtls.yaml');
  if (!r.ok) assert.fail(r.errors.join('\n'));
  return r.configs;
}

/** Bookinfo where reviews v1/v2 and ratings run Weft sidecars (registered as the registry does), reviews v3 is plain. */
const SIDECAR_WORKLOADS: readonly Workload[] = WORKLOADS.map((w) => {
  if (w.service === 'ratings' || (w.service === 'reviews' && w.labels.version !== 'v3')) {
    return { ...w, source: 'sidecar', tlsMode: 'istio', serviceAccount: `bookinfo-${w.service}`, ports: w.ports.map((p) => ({ ...p, targetPort: 15006 })) } as Workload;
  }
  return w;
});

function meshWith(yaml: string, opts: { ca?: boolean; workloads?: readonly Workload[] } = {}): MeshSnapshot {
  const base = meshOf(apply(yaml));
  return {
    ...base, workloads: opts.workloads ?? SIDECAR_WORKLOADS,
    ...(opts.ca === false ? {} : { trustBundle: [ROOT, ROOT2] }),
  };
}

const gen = (yaml = '', opts: { ca?: boolean; workloads?: readonly Workload[] } = {}, proxy = sidecarProxy('reviews')): ProxyResources =>
  generateFor(meshWith(yaml, opts), proxy);

const PA = (ns: string, name: string, spec: string): string =>
  `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: ${name}, namespace: ${ns} }\nspec: ${spec}`;

const SDS_DEFAULT = {
  name: 'default',
  sds_config: {
    api_config_source: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'sds-grpc' } }] },
    resource_api_version: 'V3',
  },
};
const ROOTCA_ADS = { name: 'ROOTCA', sds_config: { ads: {}, resource_api_version: 'V3' } };

const inbound = (res: ProxyResources): J => resource(res, LISTENER_TYPE, 'virtualInbound');
const hcmOf = (chain: J): J => chain.filters.find((f: J) => f.name === 'envoy.filters.network.http_connection_manager');

test('without a CA in the control plane nothing is mTLS: one plaintext inbound chain, no socket matches, no endpoint metadata, no secrets', () => {
  const res = gen(PA('istio-system', 'default', '{ mtls: { mode: STRICT } }'), { ca: false });
  const l = inbound(res);
  assert.equal(l.filter_chains.length, 1);
  assert.equal(l.filter_chains[0].transport_socket, undefined);
  assert.equal(l.listener_filters, undefined);
  const c = resource(res, CLUSTER_TYPE, `outbound|9080||${fqdn('ratings')}`);
  assert.equal(c.transport_socket_matches, undefined);
  assert.equal(c.transport_socket, undefined);
  const eps = resource(res, ENDPOINT_TYPE, `outbound|9080||${fqdn('ratings')}`);
  assert.equal(eps.endpoints[0].lb_endpoints[0].metadata, undefined);
  assert.equal(res.get(SECRET_TYPE)?.size ?? 0, 0);
});

test('PERMISSIVE (no policy): tls_inspector, an mTLS chain for Istio ALPNs with the SDS certificate and ROOTCA, then a plaintext chain', () => {
  const res = gen();
  const l = inbound(res);
  assert.deepEqual(l.listener_filters.map((f: J) => f.name), ['envoy.filters.listener.tls_inspector']);
  assert.equal(l.filter_chains.length, 2);
  const [tls, plain] = l.filter_chains;
  assert.deepEqual(tls.filter_chain_match, {
    transport_protocol: 'tls', application_protocols: ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'],
  });
  assert.deepEqual(tls.transport_socket, {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      common_tls_context: {
        tls_certificate_sds_secret_configs: [SDS_DEFAULT],
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/' } }] },
          validation_context_sds_secret_config: ROOTCA_ADS,
        },
        alpn_protocols: ['h2', 'http/1.1'],
      },
      require_client_certificate: true,
    },
  });
  assert.equal(plain.filter_chain_match, undefined);
  assert.equal(plain.transport_socket, undefined);
  // Both chains serve the same HCM (the security filters and the route to the app).
  assert.deepEqual(hcmOf(tls), hcmOf(plain));
  assert.equal(hcmOf(tls).typed_config.route_config.virtual_hosts[0].routes[0].route.cluster, 'inbound|9080||');
  encodeAll(res);
});

test('STRICT: only the mTLS chain, matching any TLS (a plaintext connection matches no chain); the trust domain follows the mesh config', () => {
  const m = meshWith(PA('istio-system', 'default', '{ mtls: { mode: STRICT } }'));
  const res = generateFor({ ...m, meshConfig: { trustDomain: 'example.org', rootNamespace: 'istio-system', extensionProviders: [] } }, sidecarProxy('reviews'));
  const l = inbound(res);
  assert.equal(l.filter_chains.length, 1);
  assert.deepEqual(l.filter_chains[0].filter_chain_match, { transport_protocol: 'tls' });
  assert.deepEqual(l.filter_chains[0].transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context,
    { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://example.org/' } }] });
  assert.deepEqual(l.listener_filters.map((f: J) => f.name), ['envoy.filters.listener.tls_inspector']);
  encodeAll(res);
});

test('DISABLE for the workload, and portLevelMtls by the app port', () => {
  const disabled = inbound(gen(`${PA('istio-system', 'default', '{ mtls: { mode: STRICT } }')}\n---\n${PA('default', 'reviews', '{ selector: { matchLabels: { app: reviews } }, mtls: { mode: DISABLE } }')}`));
  assert.equal(disabled.filter_chains.length, 1);
  assert.equal(disabled.filter_chains[0].transport_socket, undefined);
  assert.equal(disabled.listener_filters, undefined);
  const byPort = `${PA('default', 'default', '{ mtls: { mode: STRICT } }')}\n---\n${PA('default', 'reviews', '{ selector: { matchLabels: { app: reviews } }, portLevelMtls: { 9081: { mode: DISABLE } } }')}`;
  const app9081 = sidecarProxy('reviews', { appPorts: [{ name: 'http', port: 9080, targetPort: 9081, protocol: 'HTTP' }] });
  assert.equal(inbound(gen(byPort, {}, app9081)).filter_chains[0].transport_socket, undefined, 'port 9081 is DISABLE');
  assert.deepEqual(inbound(gen(byPort)).filter_chains[0].filter_chain_match, { transport_protocol: 'tls' }, 'port 9080 stays STRICT');
});

test('auto mTLS: outbound clusters get transport_socket_matches (ISTIO_MUTUAL for tlsMode istio, plaintext otherwise); sidecar endpoints carry tlsMode istio', () => {
  const res = gen();
  const c = resource(res, CLUSTER_TYPE, `outbound|9080||${fqdn('reviews')}`);
  assert.deepEqual(c.transport_socket_matches, [
    {
      name: 'tlsMode-istio',
      match: { tlsMode: 'istio' },
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
          common_tls_context: {
            tls_certificate_sds_secret_configs: [SDS_DEFAULT],
            combined_validation_context: {
              default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews' } }] },
              validation_context_sds_secret_config: ROOTCA_ADS,
            },
            alpn_protocols: ['istio-http/1.1'],
          },
          sni: `outbound_.9080_._.${fqdn('reviews')}`,
        },
      },
    },
    {
      name: 'tlsMode-disabled',
      match: {},
      transport_socket: { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' } },
    },
  ]);
  assert.equal(c.transport_socket, undefined);
  const eps = resource(res, ENDPOINT_TYPE, `outbound|9080||${fqdn('reviews')}`).endpoints.flatMap((g: J) => g.lb_endpoints);
  const meta = Object.fromEntries(eps.map((e: J) => [e.endpoint.address.socket_address.address, e.metadata?.filter_metadata?.['envoy.transport_socket_match']?.tlsMode ?? 'none']));
  assert.deepEqual(meta, { '127.0.0.41': 'istio', '127.0.0.42': 'istio', '127.0.0.43': 'none' }, 'v3 runs no sidecar');
  // A service whose workloads say no service account: the SAN check falls back to the trust domain.
  const details = resource(res, CLUSTER_TYPE, `outbound|9080||${fqdn('details')}`);
  assert.deepEqual(details.transport_socket_matches[0].transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context,
    { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/' } }] });
  encodeAll(res);
});

test('auto mTLS: a registry workload labelled security.istio.io/tlsMode=istio is mesh; HTTP2/GRPC ports use istio-h2 and TCP ports istio-peer-exchange', () => {
  const labelled = workload('details', 'v1', '127.0.0.20', { labels: { app: 'details', version: 'v1', 'security.istio.io/tlsMode': 'istio' } });
  const ws = SIDECAR_WORKLOADS.map((w) => (w.service === 'details' ? labelled : w));
  const res = gen('', { workloads: ws });
  const eps = resource(res, ENDPOINT_TYPE, `outbound|9080||${fqdn('details')}`).endpoints[0].lb_endpoints;
  assert.equal(eps[0].metadata.filter_metadata['envoy.transport_socket_match'].tlsMode, 'istio');
  const svcYaml = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: internal }
spec:
  hosts: [grpc.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 7070, name: grpc, protocol: GRPC }, { number: 7000, name: tcp, protocol: TCP }]
  endpoints: [{ address: 127.0.0.70, labels: { security.istio.io/tlsMode: istio } }]
`;
  const r = applyYaml(svcYaml, 'se.yaml');
  if (!r.ok) {
    // ServiceEntries are MESH_EXTERNAL-only in Weft so far: build the ports on a registry service instead.
    assert.ok(r.errors.some((e) => e.includes('location')), r.errors.join('\n'));
  }
  const grpcSvc = { hostname: fqdn('grpc'), name: 'grpc', namespace: 'default', location: 'MESH_INTERNAL', resolution: 'STATIC', source: 'file',
    ports: [{ name: 'grpc', port: 7070, protocol: 'GRPC' }, { name: 'tcp', port: 7000, protocol: 'TCP' }] } as const;
  const grpcW = { ...workload('grpc', 'v1', '127.0.0.70'), tlsMode: 'istio', ports: [{ name: 'grpc', port: 7070, targetPort: 7070, protocol: 'GRPC' }, { name: 'tcp', port: 7000, targetPort: 7000, protocol: 'TCP' }] } as Workload;
  const m = { ...meshWith(''), services: [...meshWith('').services, grpcSvc], workloads: [...SIDECAR_WORKLOADS, grpcW] };
  const res2 = generateFor(m, sidecarProxy('reviews'));
  const alpn = (port: number): string[] => resource(res2, CLUSTER_TYPE, `outbound|${port}||${fqdn('grpc')}`).transport_socket_matches[0].transport_socket.typed_config.common_tls_context.alpn_protocols;
  assert.deepEqual(alpn(7070), ['istio-h2']);
  assert.deepEqual(alpn(7000), ['istio-peer-exchange', 'istio']);
  encodeAll(res2);
});

test('auto mTLS honours the destination PeerAuthentication: DISABLE (workload or port) leaves its endpoints plaintext', () => {
  const res = gen(PA('default', 'r1', '{ selector: { matchLabels: { app: reviews, version: v1 } }, mtls: { mode: DISABLE } }'));
  const eps = resource(res, ENDPOINT_TYPE, `outbound|9080||${fqdn('reviews')}`).endpoints.flatMap((g: J) => g.lb_endpoints);
  assert.deepEqual(eps.map((e: J) => e.metadata === undefined ? 'plain' : 'mtls'), ['plain', 'mtls', 'plain']);
  const port = gen(PA('default', 'ratings', '{ selector: { matchLabels: { app: ratings } }, portLevelMtls: { 9080: { mode: DISABLE } } }'));
  assert.equal(resource(port, ENDPOINT_TYPE, `outbound|9080||${fqdn('ratings')}`).endpoints[0].lb_endpoints[0].metadata, undefined);
});

test('DestinationRule: ISTIO_MUTUAL forces mTLS for every endpoint (sni and subjectAltNames honoured), DISABLE forces plaintext, SIMPLE keeps its files', () => {
  const dr = (host: string, tls: string): string => `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: ${host} }\nspec: { host: ${host}, trafficPolicy: { tls: ${tls} } }`;
  const res = gen([
    dr('reviews', '{ mode: ISTIO_MUTUAL }'),
    dr('ratings', '{ mode: DISABLE }'),
    dr('details', '{ mode: ISTIO_MUTUAL, sni: details.example, subjectAltNames: ["spiffe://cluster.local/ns/default/sa/details"] }'),
    dr('productpage', '{ mode: SIMPLE, caCertificates: /etc/ca.pem }'),
  ].join('\n---\n'));
  const reviews = resource(res, CLUSTER_TYPE, `outbound|9080||${fqdn('reviews')}`);
  assert.equal(reviews.transport_socket_matches, undefined);
  assert.equal(reviews.transport_socket.typed_config.sni, `outbound_.9080_._.${fqdn('reviews')}`);
  assert.deepEqual(reviews.transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs, [SDS_DEFAULT]);
  const ratings = resource(res, CLUSTER_TYPE, `outbound|9080||${fqdn('ratings')}`);
  assert.equal(ratings.transport_socket_matches, undefined);
  assert.equal(ratings.transport_socket, undefined);
  const details = resource(res, CLUSTER_TYPE, `outbound|9080||${fqdn('details')}`).transport_socket.typed_config;
  assert.equal(details.sni, 'details.example');
  assert.deepEqual(details.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names,
    [{ san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/default/sa/details' } }]);
  const pp = resource(res, CLUSTER_TYPE, `outbound|9080||${fqdn('productpage')}`);
  assert.deepEqual(pp.transport_socket.typed_config.common_tls_context, { validation_context: { trusted_ca: { filename: '/etc/ca.pem' } } });
  encodeAll(res);
});

test('DestinationRule ISTIO_MUTUAL refuses certificate fields (the mesh ones are used); Istio sample destination-rule-all-mtls.yaml applies', () => {
  const r = applyYaml('apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: r }\nspec: { host: reviews, trafficPolicy: { tls: { mode: ISTIO_MUTUAL, caCertificates: /ca.pem } } }', 'dr.yaml');
  assert.deepEqual(r, { ok: false, errors: ['dr.yaml#1: DestinationRule default/r: spec.trafficPolicy.tls.caCertificates: expected nothing with mode ISTIO_MUTUAL (the mesh certificates and root are used)'] });
  const sample = readFileSync(fromRoot('test/control/api/fixtures/istio-samples', 'destination-rule-all-mtls.yaml'), 'utf8');
  const res = gen(sample);
  const c = resource(res, CLUSTER_TYPE, `outbound|9080|v1|${fqdn('productpage')}`);
  assert.equal(c.transport_socket.typed_config.sni, `outbound_.9080_.v1_.${fqdn('productpage')}`);
});

test('ROOTCA: the trust bundle (every root, newline-separated) as a Secret over ADS, for sidecars and gateways', () => {
  const res = gen();
  const secret = resource(res, SECRET_TYPE, 'ROOTCA');
  assert.deepEqual(secret, { name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: `${ROOT}${ROOT2}\n` } } });
  assert.equal(res.get(SECRET_TYPE)!.size, 1);
  encodeAll(res);
});

test('the proxy accepts every mTLS resource generated (SDS, transport_socket_matches, endpoint metadata)', () => {
  const res = gen(PA('istio-system', 'default', '{ mtls: { mode: PERMISSIVE } }'));
  assert.deepEqual(proxyRejects(res), []);
});

test('Gateway server tls.mode ISTIO_MUTUAL: the gateway presents its mesh certificate and requires mesh clients; certificate files are refused', async () => {
  const { gatewayProxy } = await import('../../helpers/bookinfo-mesh.js');
  const gw = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: mesh-gw, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 443, name: https, protocol: HTTPS }
    hosts: ["*"]
    tls: { mode: ISTIO_MUTUAL, subjectAltNames: ["spiffe://cluster.local/ns/default/sa/client"] }
`;
  const res = gen(gw, {}, gatewayProxy());
  const l = resource(res, LISTENER_TYPE, '0.0.0.0_443');
  assert.deepEqual(l.filter_chains[0].transport_socket.typed_config, {
    '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
    common_tls_context: {
      tls_certificate_sds_secret_configs: [SDS_DEFAULT],
      combined_validation_context: {
        default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/default/sa/client' } }] },
        validation_context_sds_secret_config: ROOTCA_ADS,
      },
      alpn_protocols: ['h2', 'http/1.1'],
    },
    require_client_certificate: true,
  });
  assert.ok(resource(res, SECRET_TYPE, 'ROOTCA'), 'gateways get ROOTCA too');
  encodeAll(res);
  const bad = applyYaml(gw.replace('tls: { mode: ISTIO_MUTUAL,', 'tls: { mode: ISTIO_MUTUAL, serverCertificate: /c.pem,'), 'gw.yaml');
  assert.deepEqual(bad, { ok: false, errors: ['gw.yaml#1: Gateway istio-system/mesh-gw: spec.servers[0].tls.serverCertificate: expected nothing here: ISTIO_MUTUAL uses the mesh certificates and root'] });
});
