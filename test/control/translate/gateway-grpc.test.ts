// Translation for gateways (listeners per Gateway server port, HTTP/HTTPS/passthrough/TCP) and
// proxyless gRPC clients (API listeners by requested name), plus decoding with Weft's own Envoy
// decoders and the cache's identity guarantees (same shape → same objects; a workload change
// only replaces ClusterLoadAssignments).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { MeshGenerator } from '../../../src/control/translate/index.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, messageName, ROUTE_TYPE } from '../../../src/xds/resource-types.js';
import { encodeFromJson } from '../../../src/xds/proto-json.js';
import { messageType } from '../../../src/xds/protos.js';
import type { ProxyResources } from '../../../src/control/model.js';
import { runDecoder } from '../../../src/envoy/decode/result.js';
import { builtinExtensions } from '../../../src/envoy/extensions.js';
import { cluster } from '../../../src/envoy/cluster.js';
import { listener } from '../../../src/envoy/listener.js';
import { routeConfiguration } from '../../../src/envoy/route.js';
import {
  config, fqdn, gatewayProxy, grpcProxy, mesh, REVIEWS_DR, REVIEWS_VS, sidecarProxy, workload, WORKLOADS,
} from '../../helpers/bookinfo-mesh.js';
import { encodeAll } from '../../helpers/xds-encode.js';

type J = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const names = (res: ProxyResources, type: string): string[] => [...res.get(type)!.keys()].sort();
const get = (res: ProxyResources, type: string, name: string): J => {
  const o = res.get(type)!.get(name);
  assert.ok(o !== undefined, `${name} missing: ${names(res, type).join(', ')}`);
  return o;
};
const env = () => ({ baseDir: '/', extensions: builtinExtensions(), clusterRefs: [] });

const GATEWAY = config('Gateway', 'bookinfo-gateway', {
  selector: { istio: 'ingressgateway' },
  servers: [
    { port: { number: 8080, protocol: 'HTTP', name: 'http' }, hosts: ['*'] },
    { port: { number: 8443, protocol: 'HTTPS', name: 'https' }, hosts: ['bookinfo.example.com'], tls: { mode: 'SIMPLE', serverCertificate: '/certs/tls.crt', privateKey: '/certs/tls.key' } },
    { port: { number: 9443, protocol: 'TLS', name: 'tls' }, hosts: ['*.example.org'], tls: { mode: 'PASSTHROUGH' } },
    { port: { number: 31400, protocol: 'TCP', name: 'tcp' }, hosts: ['*'] },
  ],
});
const PRODUCTPAGE_VS = config('VirtualService', 'bookinfo', {
  hosts: ['*'], gateways: ['bookinfo-gateway'], tcp: [], tls: [], exportTo: [],
  http: [{
    match: [{ uri: { exact: '/productpage' } }, { uri: { prefix: '/static' } }],
    route: [{ destination: { host: 'productpage', port: { number: 9080 } } }],
  }],
});
const TCP_VS = config('VirtualService', 'ratings-tcp', {
  hosts: ['*'], gateways: ['default/bookinfo-gateway'], http: [], tls: [], exportTo: [],
  tcp: [{ match: [{ port: 31400 }], route: [{ destination: { host: 'ratings', port: { number: 9080 } } }] }],
});
const TLS_VS = config('VirtualService', 'secure', {
  hosts: ['secure.example.org'], gateways: ['bookinfo-gateway'], http: [], tcp: [], exportTo: [],
  tls: [{ match: [{ sniHosts: ['secure.example.org'] }], route: [{ destination: { host: 'details.default.svc.cluster.local', port: { number: 9080 } } }] }],
});

test('a gateway gets one listener per server port with HTTP routes, TLS termination, SNI passthrough and TCP', () => {
  const g = new MeshGenerator();
  g.update(mesh([GATEWAY, PRODUCTPAGE_VS, TCP_VS, TLS_VS, REVIEWS_VS, REVIEWS_DR]));
  const res = g.generate(gatewayProxy(), new Set());
  assert.deepEqual(names(res, LISTENER_TYPE), ['0.0.0.0_31400', '0.0.0.0_8080', '0.0.0.0_8443', '0.0.0.0_9443']);
  assert.deepEqual(names(res, ROUTE_TYPE), ['http.8080', 'https.8443.https.bookinfo-gateway.default']);

  const http = get(res, LISTENER_TYPE, '0.0.0.0_8080');
  assert.deepEqual(http.address, { socket_address: { address: '0.0.0.0', port_value: 8080 } });
  assert.equal(http.filter_chains[0].filters[0].typed_config.rds.route_config_name, 'http.8080');
  const rc = get(res, ROUTE_TYPE, 'http.8080');
  assert.deepEqual(rc.virtual_hosts.map((v: J) => [v.name, v.domains]), [['*:8080', ['*']]]);
  assert.deepEqual(rc.virtual_hosts[0].routes.map((r: J) => [r.match, r.route.cluster]), [
    [{ path: '/productpage' }, `outbound|9080||${fqdn('productpage')}`],
    [{ prefix: '/static' }, `outbound|9080||${fqdn('productpage')}`],
  ]);

  const https = get(res, LISTENER_TYPE, '0.0.0.0_8443');
  assert.deepEqual(https.listener_filters.map((f: J) => f.name), ['envoy.filters.listener.tls_inspector']);
  assert.deepEqual(https.filter_chains[0].filter_chain_match, { server_names: ['bookinfo.example.com'] });
  assert.deepEqual(https.filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates, [
    { certificate_chain: { filename: '/certs/tls.crt' }, private_key: { filename: '/certs/tls.key' } },
  ]);
  assert.deepEqual(get(res, ROUTE_TYPE, 'https.8443.https.bookinfo-gateway.default').virtual_hosts.map((v: J) => v.domains),
    [['bookinfo.example.com', 'bookinfo.example.com:8443']]);

  const passthrough = get(res, LISTENER_TYPE, '0.0.0.0_9443');
  assert.deepEqual(passthrough.filter_chains.map((c: J) => [c.filter_chain_match.server_names, c.filters[0].typed_config.cluster]),
    [[['secure.example.org'], `outbound|9080||${fqdn('details')}`]]);
  assert.equal(get(res, LISTENER_TYPE, '0.0.0.0_31400').filter_chains[0].filters[0].typed_config.cluster, `outbound|9080||${fqdn('ratings')}`);

  // The gateway has every service's clusters (subsets too) and their endpoints.
  assert.ok(res.get(CLUSTER_TYPE)!.has(`outbound|9080|v2|${fqdn('reviews')}`));
  assert.ok(res.get(ENDPOINT_TYPE)!.has(`outbound|9080||${fqdn('productpage')}`));
  encodeAll(res);

  // Weft's decoders read the route configs and the TCP listeners as they are.
  for (const [name, o] of res.get(ROUTE_TYPE)!) {
    const r = runDecoder(routeConfiguration(false), o, env());
    assert.ok(r.ok, `${name}: ${r.ok ? '' : r.errors.join('; ')}`);
  }
  for (const name of ['0.0.0.0_31400', '0.0.0.0_9443']) {
    const r = runDecoder(listener, get(res, LISTENER_TYPE, name), env());
    assert.ok(r.ok, `${name}: ${r.ok ? '' : r.errors.join('; ')}`);
  }

  // A gateway proxy whose labels match no Gateway gets no listeners.
  assert.equal(g.generate(gatewayProxy({ labels: { istio: 'egressgateway' } }), new Set()).get(LISTENER_TYPE)!.size, 0);
});

test('a proxyless gRPC client gets an API listener, its route config and only the clusters it reaches', () => {
  const lb = config('DestinationRule', 'reviews-lb', { ...REVIEWS_DR.spec, trafficPolicy: { loadBalancer: { simple: 'LEAST_CONN' }, tls: { mode: 'SIMPLE', caCertificates: '/ca.pem' } } });
  const redirect = config('VirtualService', 'reviews', {
    ...REVIEWS_VS.spec,
    http: [{ match: [{ uri: { prefix: '/moved' } }], route: [], redirect: { uri: '/x' } }, ...REVIEWS_VS.spec.http],
  });
  const g = new MeshGenerator();
  g.update(mesh([lb, redirect]));
  const res = g.generate(grpcProxy(), new Set(['reviews:9080', 'nosuch:1']));
  assert.deepEqual(names(res, LISTENER_TYPE), ['reviews:9080']);
  assert.deepEqual(get(res, LISTENER_TYPE, 'reviews:9080'), {
    name: 'reviews:9080',
    api_listener: {
      api_listener: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        rds: { route_config_name: 'reviews:9080', config_source: { ads: {}, resource_api_version: 'V3' } },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
      },
    },
  });
  const rc = get(res, ROUTE_TYPE, 'reviews:9080');
  assert.equal(rc.virtual_hosts.length, 1);
  assert.ok(rc.virtual_hosts[0].domains.includes('reviews:9080'));
  assert.ok(rc.virtual_hosts[0].domains.includes(`${fqdn('reviews')}:9080`));
  // The redirect is left out (gRPC clients reject non-forwarding actions); order is kept.
  assert.deepEqual(rc.virtual_hosts[0].routes.map((r: J) => r.route.cluster ?? r.route.weighted_clusters.clusters.map((c: J) => c.name).join('+')), [
    `outbound|9080|v2|${fqdn('reviews')}`, `outbound|9080|v1|${fqdn('reviews')}+outbound|9080|v3|${fqdn('reviews')}`,
  ]);
  assert.deepEqual(names(res, CLUSTER_TYPE), [1, 2, 3].map((v) => `outbound|9080|v${v}|${fqdn('reviews')}`));
  for (const c of res.get(CLUSTER_TYPE)!.values() as Iterable<J>) {
    assert.equal(c.type, 'EDS');
    assert.equal(c.lb_policy, 'ROUND_ROBIN', 'gRPC clients take ROUND_ROBIN or RING_HASH only');
    assert.equal(c.transport_socket, undefined, 'gRPC clients need certificate providers, not files');
  }
  const cla = get(res, ENDPOINT_TYPE, `outbound|9080|v2|${fqdn('reviews')}`);
  assert.deepEqual(cla.endpoints, [{
    locality: {},
    lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.42', port_value: 9080 } } }, health_status: 'HEALTHY', load_balancing_weight: 1 }],
    load_balancing_weight: 1,
  }]);
  encodeAll(res);
  // The same service by its full name is its own listener.
  const full = g.generate(grpcProxy(), new Set([`${fqdn('reviews')}:9080`]));
  assert.deepEqual(names(full, LISTENER_TYPE), [`${fqdn('reviews')}:9080`]);
});

test("Weft's decoders read the sidecar's route config, virtualInbound and its STATIC, STRICT_DNS and EDS clusters", () => {
  const g = new MeshGenerator();
  g.update(mesh([REVIEWS_DR, REVIEWS_VS], {
    services: [...mesh().services, { hostname: 'api.example.com', name: 'api.example.com', namespace: 'default', ports: [{ name: 'http', port: 80, protocol: 'HTTP' }], location: 'MESH_EXTERNAL', resolution: 'DNS', source: 'service-entry' }],
    workloads: [...WORKLOADS, workload('api.example.com', 'v1', 'api.example.com', { labels: {}, ports: [{ name: 'http', port: 80, targetPort: 80, protocol: 'HTTP' }] })],
  }));
  const res = g.generate(sidecarProxy('productpage'), new Set());
  for (const [name, o] of [['15001', get(res, ROUTE_TYPE, '15001')]] as const) {
    const r = runDecoder(routeConfiguration(false), o, env());
    assert.ok(r.ok, `${name}: ${r.ok ? '' : r.errors.join('; ')}`);
  }
  const inbound = runDecoder(listener, get(res, LISTENER_TYPE, 'virtualInbound'), env());
  assert.ok(inbound.ok, inbound.ok ? '' : inbound.errors.join('; '));
  for (const name of ['inbound|9080||', 'outbound|80||api.example.com']) {
    const r = runDecoder(cluster, get(res, CLUSTER_TYPE, name), env());
    assert.ok(r.ok, `${name}: ${r.ok ? '' : r.errors.join('; ')}`);
  }
  const eds = runDecoder(cluster, get(res, CLUSTER_TYPE, `outbound|9080||${fqdn('reviews')}`), env());
  assert.ok(eds.ok, eds.ok ? '' : eds.errors.join('; '));
});

test('proxies of one shape share one result; resources are shared across shapes; a workload change only replaces load assignments', () => {
  const g = new MeshGenerator();
  g.update(mesh([REVIEWS_DR, REVIEWS_VS]));
  const a = g.generate(sidecarProxy('productpage', { id: 'a' }), new Set());
  const b = g.generate(sidecarProxy('productpage', { id: 'b' }), new Set());
  assert.equal(a, b);
  const c = g.generate(sidecarProxy('productpage', { ipAddress: '127.0.0.11' }), new Set());
  assert.notEqual(a, c);
  for (const type of [CLUSTER_TYPE, ENDPOINT_TYPE, ROUTE_TYPE]) {
    for (const [name, o] of a.get(type)!) assert.equal(c.get(type)!.get(name), o, name);
  }
  assert.equal(c.get(LISTENER_TYPE)!.get('virtualOutbound'), a.get(LISTENER_TYPE)!.get('virtualOutbound'));
  assert.notEqual(c.get(LISTENER_TYPE)!.get('virtualInbound'), a.get(LISTENER_TYPE)!.get('virtualInbound'));
  assert.ok(Object.isFrozen(a.get(CLUSTER_TYPE)!.get('inbound|9080||')));

  // reviews-v2 moves: a new mesh version with only that workload changed.
  const moved = WORKLOADS.map((w) => (w.id === 'reviews-v2' ? workload('reviews', 'v2', '127.0.0.52') : w));
  g.update(mesh([REVIEWS_DR, REVIEWS_VS], { version: 2, workloads: moved }));
  assert.equal(g.version, 2);
  const d = g.generate(sidecarProxy('productpage', { id: 'a' }), new Set());
  assert.notEqual(d, a);
  for (const type of [CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE]) {
    for (const [name, o] of a.get(type)!) assert.equal(d.get(type)!.get(name), o, `${name} kept its identity`);
  }
  const changed = [...a.get(ENDPOINT_TYPE)!].filter(([name, o]) => d.get(ENDPOINT_TYPE)!.get(name) !== o).map(([name]) => name).sort();
  assert.deepEqual(changed, [`outbound|9080|v2|${fqdn('reviews')}`, `outbound|9080||${fqdn('reviews')}`]);
});

test('1,000 sidecars with their own addresses regenerate quickly after an endpoint change', () => {
  const g = new MeshGenerator();
  g.update(mesh([REVIEWS_DR, REVIEWS_VS]));
  const proxies = Array.from({ length: 1000 }, (_, i) =>
    sidecarProxy(['productpage', 'reviews', 'ratings', 'details'][i % 4]!, { id: `p${i}`, ipAddress: `127.0.${i >> 8}.${i & 255}` }));
  for (const p of proxies) g.generate(p, new Set());
  g.update(mesh([REVIEWS_DR, REVIEWS_VS], { version: 2, workloads: WORKLOADS.filter((w) => w.id !== 'reviews-v3') }));
  const start = performance.now();
  const results = proxies.map((p) => g.generate(p, new Set()));
  const elapsed = performance.now() - start;
  const clas = new Set(results.map((r) => r.get(ENDPOINT_TYPE)!.get(`outbound|9080||${fqdn('reviews')}`)));
  assert.equal(clas.size, 1, 'one shared load assignment object');
  assert.ok(elapsed < 1000, `regenerating 1,000 proxies took ${elapsed.toFixed(0)} ms`);
});

test("a gRPC client's resources pass @grpc/grpc-js-xds's own resource validation (the NACK checks)", () => {
  const require = createRequire(import.meta.url);
  (require('@grpc/grpc-js-xds') as { register(): void }).register();
  const dir = '@grpc/grpc-js-xds/build/src/xds-resource-type';
  const types: Record<string, { get(): { decode(ctx: unknown, any: unknown): { name: string; error?: string } } }> = {
    [LISTENER_TYPE]: require(`${dir}/listener-resource-type.js`).ListenerResourceType,
    [ROUTE_TYPE]: require(`${dir}/route-config-resource-type.js`).RouteConfigurationResourceType,
    [CLUSTER_TYPE]: require(`${dir}/cluster-resource-type.js`).ClusterResourceType,
    [ENDPOINT_TYPE]: require(`${dir}/endpoint-resource-type.js`).EndpointResourceType,
  };
  const hash = config('DestinationRule', 'reviews', {
    ...REVIEWS_DR.spec,
    trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } }, outlierDetection: { consecutive5xxErrors: 3, baseEjectionTime: { ms: 5000 } } },
  });
  const vs = config('VirtualService', 'reviews', {
    ...REVIEWS_VS.spec,
    http: [
      { match: [{ uri: { prefix: '/slow' } }], route: [{ destination: { host: 'reviews', subset: 'v1' } }], fault: { delay: { fixedDelay: { ms: 5 } } }, retries: { attempts: 1, retryOn: 'unavailable' } },
      ...REVIEWS_VS.spec.http,
    ],
  });
  const g = new MeshGenerator();
  g.update(mesh([hash, vs]));
  const res = g.generate(grpcProxy(), new Set(['reviews:9080', 'ratings.default:9080']));
  let n = 0;
  for (const [type, byName] of res) {
    for (const [name, o] of byName) {
      const value = Buffer.from(encodeFromJson(messageType(messageName(type)), o));
      const r = types[type]!.get().decode({ server: {}, bootstrap: { certificateProviders: {} } }, { type_url: type, value });
      assert.equal(r.error, undefined, `${messageName(type)} ${name}`);
      n++;
    }
  }
  assert.equal(n, 2 + 2 + 4 + 4);
  assert.equal(get(res, CLUSTER_TYPE, `outbound|9080|v1|${fqdn('reviews')}`).lb_policy, 'RING_HASH');
});

test('localityLbSetting distribute sets locality weights from the proxy locality; failover with outlier detection sets priorities', () => {
  const w = (v: string, addr: string, zone: string, region = 'eu') => workload('ratings', v, addr, { id: `ratings-${addr}`, locality: { region, zone } });
  const workloads = [...WORKLOADS.filter((x) => x.service !== 'ratings'), w('v1', '127.0.0.31', 'a'), w('v1', '127.0.0.32', 'b'), w('v1', '127.0.0.33', 'c', 'us')];
  const dr = (setting: object, outlier?: object) => config('DestinationRule', 'ratings', {
    host: 'ratings', subsets: [], exportTo: [],
    trafficPolicy: { loadBalancer: { localityLbSetting: setting }, ...(outlier ? { outlierDetection: outlier } : {}) },
  });
  const proxy = sidecarProxy('productpage', { locality: { region: 'eu', zone: 'a' } });
  const g = new MeshGenerator();
  g.update(mesh([dr({ distribute: [{ from: 'eu/a/*', to: { 'eu/a/*': 80, 'eu/b/*': 20 } }] })], { workloads }));
  const cla = get(g.generate(proxy, new Set()), ENDPOINT_TYPE, `outbound|9080||${fqdn('ratings')}`);
  assert.deepEqual(cla.endpoints.map((l: J) => [l.locality.zone, l.load_balancing_weight]), [['a', 80], ['b', 20]]);

  g.update(mesh([dr({ failover: [{ from: 'eu', to: 'us' }] }, { consecutive5xxErrors: 5 })], { version: 2, workloads }));
  const failover = get(g.generate(proxy, new Set()), ENDPOINT_TYPE, `outbound|9080||${fqdn('ratings')}`);
  assert.deepEqual(failover.endpoints.map((l: J) => [l.locality.zone, l.priority ?? 0]), [['a', 0], ['b', 1], ['c', 2]]);
  encodeAll(g.generate(proxy, new Set()));
});

test('DestinationRule outlierDetection becomes outlier_detection as Istio maps it, and Weft decodes it', () => {
  const dr = (od: object, subsetOd?: object) => config('DestinationRule', 'reviews', {
    ...REVIEWS_DR.spec,
    trafficPolicy: { outlierDetection: od },
    subsets: REVIEWS_DR.spec.subsets.map((s) => (s.name === 'v2' && subsetOd ? { ...s, trafficPolicy: { outlierDetection: subsetOd } } : s)),
  });
  const g = new MeshGenerator();
  g.update(mesh([dr(
    { consecutive5xxErrors: 0, consecutiveGatewayErrors: 3, interval: { ms: 500 }, baseEjectionTime: { ms: 600_000 }, maxEjectionPercent: 50, minHealthPercent: 30, splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 2 },
    { consecutive5xxErrors: 7 },
  ), REVIEWS_VS]));
  const res = g.generate(sidecarProxy('productpage'), new Set());
  const base = get(res, CLUSTER_TYPE, `outbound|9080||${fqdn('reviews')}`);
  assert.deepEqual(base.outlier_detection, {
    enforcing_success_rate: 0,
    consecutive_5xx: 0, enforcing_consecutive_5xx: 0,
    consecutive_gateway_failure: 3, enforcing_consecutive_gateway_failure: 100,
    interval: '0.5s', base_ejection_time: '600s', max_ejection_time: '600s', max_ejection_percent: 50,
    split_external_local_origin_errors: true, consecutive_local_origin_failure: 2, enforcing_consecutive_local_origin_failure: 100,
    enforcing_local_origin_success_rate: 0,
  });
  assert.deepEqual(base.common_lb_config, { healthy_panic_threshold: { value: 30 } });
  const decoded = runDecoder(cluster, base, env());
  assert.ok(decoded.ok, decoded.ok ? '' : decoded.errors.join('; '));
  assert.deepEqual(decoded.value.outlierDetection, {
    consecutive5xx: 0, enforcingConsecutive5xx: 0, consecutiveGatewayFailure: 3, enforcingConsecutiveGatewayFailure: 100,
    intervalMs: 500, baseEjectionTimeMs: 600_000, maxEjectionTimeMs: 600_000, maxEjectionPercent: 50,
    splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: 2, enforcingConsecutiveLocalOriginFailure: 100,
  });
  assert.equal(decoded.value.healthyPanicThresholdPercent, 30);

  // The subset's own policy replaces the top-level one; minHealthPercent unset still turns panic off.
  const v2 = get(res, CLUSTER_TYPE, `outbound|9080|v2|${fqdn('reviews')}`);
  assert.deepEqual(v2.outlier_detection, { enforcing_success_rate: 0, consecutive_5xx: 7, enforcing_consecutive_5xx: 100 });
  assert.deepEqual(v2.common_lb_config, { healthy_panic_threshold: { value: 0 } });
  const v1 = runDecoder(cluster, get(res, CLUSTER_TYPE, `outbound|9080|v1|${fqdn('reviews')}`), env());
  assert.ok(v1.ok && v1.value.outlierDetection?.consecutive5xx === 0, 'v1 inherits the top-level policy');
  for (const [, o] of res.get(CLUSTER_TYPE)!) encodeFromJson(messageType(messageName(CLUSTER_TYPE)), o);

  // Without outlierDetection nothing is sent.
  g.update(mesh([REVIEWS_DR, REVIEWS_VS], { version: 2 }));
  const plain = get(g.generate(sidecarProxy('productpage'), new Set()), CLUSTER_TYPE, `outbound|9080||${fqdn('reviews')}`);
  assert.equal(plain.outlier_detection, undefined);
  assert.equal(plain.common_lb_config, undefined);
});
