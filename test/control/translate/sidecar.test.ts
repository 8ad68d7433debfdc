// Translation for sidecars on a Bookinfo-like mesh: Istio's cluster names, virtual host domains,
// VirtualService route order and weights, subsets' endpoints, DestinationRule policies and
// Sidecar scoping; every resource encodes against the real Envoy protos.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MeshGenerator } from '../../../src/control/translate/index.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, messageName, ROUTE_TYPE } from '../../../src/xds/resource-types.js';
import type { ProxyResources } from '../../../src/control/model.js';
import { encodeAll } from '../../helpers/xds-encode.js';
import { config, fqdn, mesh, REVIEWS_DR, REVIEWS_VS, service, sidecarProxy, workload, WORKLOADS } from '../../helpers/bookinfo-mesh.js';

type J = any; // eslint-disable-line @typescript-eslint/no-explicit-any


const names = (res: ProxyResources, type: string): string[] => [...res.get(type)!.keys()].sort();
const get = (res: ProxyResources, type: string, name: string): J => {
  const o = res.get(type)!.get(name);
  assert.ok(o !== undefined, `${name} missing from ${messageName(type)}: ${names(res, type).join(', ')}`);
  return o;
};
const vhost = (res: ProxyResources, host: string): J =>
  get(res, ROUTE_TYPE, '15001').virtual_hosts.find((v: J) => v.name === `${fqdn(host)}:9080`);

function generate(configs: Parameters<typeof mesh>[0] = [], proxy = sidecarProxy('productpage'), extra = {}): ProxyResources {
  const g = new MeshGenerator();
  g.update(mesh(configs, extra));
  return g.generate(proxy, new Set());
}

test('without Istio config a sidecar gets an EDS cluster, endpoints and a default route per service port', () => {
  const res = generate();
  assert.deepEqual(names(res, CLUSTER_TYPE), [
    'inbound|9080||',
    `outbound|9080||${fqdn('details')}`, `outbound|9080||${fqdn('productpage')}`,
    `outbound|9080||${fqdn('ratings')}`, `outbound|9080||${fqdn('reviews')}`,
  ]);
  assert.deepEqual(get(res, CLUSTER_TYPE, `outbound|9080||${fqdn('reviews')}`), {
    name: `outbound|9080||${fqdn('reviews')}`,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: `outbound|9080||${fqdn('reviews')}` },
    connect_timeout: '10s',
    lb_policy: 'ROUND_ROBIN',
    circuit_breakers: { thresholds: [{ max_connections: 4294967295, max_pending_requests: 4294967295, max_requests: 4294967295, max_retries: 4294967295 }] },
  });
  const reviewsEndpoints = get(res, ENDPOINT_TYPE, `outbound|9080||${fqdn('reviews')}`);
  assert.deepEqual(reviewsEndpoints.endpoints.flatMap((l: J) => l.lb_endpoints.map((e: J) => e.endpoint.address.socket_address.address)),
    ['127.0.0.41', '127.0.0.42', '127.0.0.43']);
  assert.deepEqual(names(res, LISTENER_TYPE), ['virtualInbound', 'virtualOutbound']);
  assert.deepEqual(names(res, ROUTE_TYPE), ['15001']);
  const details = vhost(res, 'details');
  assert.deepEqual(details.domains, [
    `${fqdn('details')}:9080`, 'details.default.svc:9080', 'details.default:9080', 'details:9080',
    fqdn('details'), 'details.default.svc', 'details.default', 'details',
  ]);
  assert.deepEqual(details.routes, [{
    name: 'default',
    match: { prefix: '/' },
    route: {
      cluster: `outbound|9080||${fqdn('details')}`, timeout: '0s',
      retry_policy: { retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes', num_retries: 2, retriable_status_codes: [503] },
    },
  }]);
  const outbound = get(res, LISTENER_TYPE, 'virtualOutbound');
  assert.deepEqual(outbound.address, { socket_address: { address: '127.0.0.1', port_value: 15001 } });
  const hcm = outbound.filter_chains[0].filters[0].typed_config;
  assert.deepEqual(hcm.rds, { route_config_name: '15001', config_source: { ads: {}, resource_api_version: 'V3' } });
  assert.deepEqual(hcm.http_filters.map((f: J) => f.name), ['envoy.filters.http.router']);
  const inbound = get(res, LISTENER_TYPE, 'virtualInbound');
  assert.deepEqual(inbound.address, { socket_address: { address: '127.0.0.10', port_value: 15006 } });
  assert.equal(inbound.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.cluster, 'inbound|9080||');
  assert.equal(encodeAll(res), 5 + 4 + 2 + 1);
});

test('a proxy in another namespace does not get the bare short name, and a port-80 service gets port-less domains', () => {
  const web = service('web', [{ name: 'http', port: 80, protocol: 'HTTP' }, { name: 'admin', port: 8080, protocol: 'HTTP' }]);
  const res = generate([], sidecarProxy('productpage', { namespace: 'other' }), { services: [web] });
  const vhosts = get(res, ROUTE_TYPE, '15001').virtual_hosts;
  assert.deepEqual(vhosts.map((v: J) => v.name), [`${fqdn('web')}:80`, `${fqdn('web')}:8080`]);
  assert.deepEqual(vhosts[0].domains, [`${fqdn('web')}:80`, 'web.default.svc:80', 'web.default:80', fqdn('web'), 'web.default.svc', 'web.default']);
  assert.deepEqual(vhosts[1].domains, [`${fqdn('web')}:8080`, 'web.default.svc:8080', 'web.default:8080']);
});

test('the reviews VirtualService: jason pinned to v2 first, then 90/10 between v1 and v3; subsets get their own endpoints', () => {
  const res = generate([REVIEWS_DR, REVIEWS_VS]);
  const routes = vhost(res, 'reviews').routes;
  assert.equal(routes.length, 2);
  assert.deepEqual(routes[0].match, { prefix: '/', headers: [{ name: 'end-user', string_match: { exact: 'jason' } }] });
  assert.equal(routes[0].route.cluster, `outbound|9080|v2|${fqdn('reviews')}`);
  assert.deepEqual(routes[1].match, { prefix: '/' });
  assert.deepEqual(routes[1].route.weighted_clusters, {
    clusters: [{ name: `outbound|9080|v1|${fqdn('reviews')}`, weight: 90 }, { name: `outbound|9080|v3|${fqdn('reviews')}`, weight: 10 }],
  });
  for (const v of ['v1', 'v2', 'v3']) {
    const cla = get(res, ENDPOINT_TYPE, `outbound|9080|${v}|${fqdn('reviews')}`);
    assert.deepEqual(cla.endpoints.flatMap((l: J) => l.lb_endpoints.map((e: J) => e.endpoint.address.socket_address.address)),
      [`127.0.0.4${v.slice(1)}`], v);
    assert.equal(get(res, CLUSTER_TYPE, `outbound|9080|${v}|${fqdn('reviews')}`).eds_cluster_config.service_name, `outbound|9080|${v}|${fqdn('reviews')}`);
  }
  // Other services keep their default route.
  assert.equal(vhost(res, 'ratings').routes[0].name, 'default');
  encodeAll(res);
});

test('unhealthy workloads are left out, weights and localities are carried, targetPort is the endpoint port', () => {
  const workloads = [
    ...WORKLOADS.filter((w) => w.service !== 'ratings'),
    workload('ratings', 'v1', '127.0.0.31', { weight: 3, locality: { region: 'eu', zone: 'a' }, ports: [{ name: 'http', port: 9080, targetPort: 15006, protocol: 'HTTP' }] }),
    workload('ratings', 'v1', '127.0.0.32', { id: 'ratings-sick', healthy: false }),
  ];
  const res = generate([], sidecarProxy('productpage'), { workloads });
  assert.deepEqual(get(res, ENDPOINT_TYPE, `outbound|9080||${fqdn('ratings')}`), {
    cluster_name: `outbound|9080||${fqdn('ratings')}`,
    endpoints: [{
      locality: { region: 'eu', zone: 'a' },
      lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.31', port_value: 15006 } } }, health_status: 'HEALTHY', load_balancing_weight: 3 }],
      load_balancing_weight: 3,
    }],
  });
});

test('HTTP route features: matches, rewrite, timeout, retries, mirror, headers, redirect, direct response, fault and CORS', () => {
  const vs = config('VirtualService', 'ratings', {
    hosts: ['ratings.default.svc.cluster.local'],
    gateways: ['mesh'],
    http: [
      {
        name: 'api',
        match: [
          { name: 'exact', uri: { exact: '/ratings/0' }, method: { exact: 'GET' }, queryParams: { q: { prefix: 'x' } }, ignoreUriCase: true },
          { uri: { regex: '/r/[0-9]+' }, withoutHeaders: { 'x-skip': { exact: '1' } }, authority: { prefix: 'ratings' } },
          { uri: { prefix: '/never' }, port: 1234 },
          { uri: { prefix: '/labels' }, sourceLabels: { app: 'reviews' } },
        ],
        route: [{ destination: { host: 'ratings' }, headers: { request: { set: { 'x-dest': 'r' } } } }],
        rewrite: { uri: '/v2/ratings', authority: 'ratings.internal' },
        timeout: { ms: 1500 },
        retries: { attempts: 3, perTryTimeout: { ms: 500 }, retryOn: '5xx,409' },
        mirror: { host: 'details' },
        mirrorPercentage: { value: 12.5 },
        headers: { request: { set: { 'x-a': '1' }, add: { 'x-b': '2' }, remove: ['x-c'] }, response: { remove: ['server'] } },
        fault: { delay: { fixedDelay: { ms: 2000 }, percentage: { value: 10 } }, abort: { httpStatus: 418, percentage: { value: 1 } } },
        corsPolicy: { allowOrigins: [{ exact: 'https://a.example' }], allowMethods: ['GET', 'POST'], maxAge: { ms: 60_000 }, allowCredentials: true },
      },
      { match: [{ uri: { prefix: '/old' } }], route: [], redirect: { uri: '/new', authority: 'b.example', redirectCode: 308 } },
      { match: [{ uri: { prefix: '/teapot' } }], route: [], directResponse: { status: 418, body: { string: 'short and stout' } } },
      { match: [], route: [{ destination: { host: 'ratings' } }], retries: { attempts: 0 } },
    ],
    tcp: [],
    tls: [],
    exportTo: [],
  });
  const res = generate([vs]);
  const routes = vhost(res, 'ratings').routes;
  assert.deepEqual(routes.map((r: J) => r.name ?? ''), ['api.exact', 'api', '', '', '']);
  assert.deepEqual(routes[0].match, {
    path: '/ratings/0', case_sensitive: false,
    headers: [{ name: ':method', string_match: { exact: 'GET' } }],
    query_parameters: [{ name: 'q', string_match: { prefix: 'x' } }],
  });
  assert.deepEqual(routes[1].match, {
    safe_regex: { regex: '/r/[0-9]+' },
    headers: [{ name: ':authority', string_match: { prefix: 'ratings' } }, { name: 'x-skip', string_match: { exact: '1' }, invert_match: true }],
  });
  // The sourceLabels match is for reviews' proxies only; productpage's sidecar does not get it.
  assert.deepEqual(routes[2].match, { prefix: '/old' });
  const action = routes[0].route;
  assert.deepEqual(action, {
    cluster: `outbound|9080||${fqdn('ratings')}`,
    prefix_rewrite: '/v2/ratings',
    host_rewrite_literal: 'ratings.internal',
    timeout: '1.5s',
    retry_policy: { retry_on: '5xx,retriable-status-codes', num_retries: 3, per_try_timeout: '0.5s', retriable_status_codes: [409] },
    request_mirror_policies: [{ cluster: `outbound|9080||${fqdn('details')}`, runtime_fraction: { default_value: { numerator: 125000, denominator: 'MILLION' } } }],
  });
  assert.deepEqual(routes[0].request_headers_to_add, [
    { header: { key: 'x-a', value: '1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    { header: { key: 'x-b', value: '2' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
    // A lone destination's headers go on the route, after the route's own (as Istio appends them).
    { header: { key: 'x-dest', value: 'r' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
  ]);
  assert.deepEqual(routes[0].request_headers_to_remove, ['x-c']);
  assert.deepEqual(routes[0].response_headers_to_remove, ['server']);
  assert.deepEqual(routes[0].typed_per_filter_config['envoy.filters.http.fault'], {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
    delay: { fixed_delay: '2s', percentage: { numerator: 100000, denominator: 'MILLION' } },
    abort: { http_status: 418, percentage: { numerator: 10000, denominator: 'MILLION' } },
  });
  assert.deepEqual(routes[0].typed_per_filter_config['envoy.filters.http.cors'], {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
    allow_origin_string_match: [{ exact: 'https://a.example' }], allow_methods: 'GET,POST', max_age: '60', allow_credentials: true,
  });
  assert.deepEqual(routes[2].redirect, { path_redirect: '/new', host_redirect: 'b.example', response_code: 'PERMANENT_REDIRECT' });
  assert.deepEqual(routes[3].direct_response, { status: 418, body: { inline_string: 'short and stout' } });
  assert.equal(routes[4].route.retry_policy, undefined);
  // The listener now carries the fault and CORS filters before the router.
  const hcm = get(res, LISTENER_TYPE, 'virtualOutbound').filter_chains[0].filters[0].typed_config;
  assert.deepEqual(hcm.http_filters.map((f: J) => f.name), ['envoy.filters.http.fault', 'envoy.filters.http.cors', 'envoy.filters.http.router']);
  encodeAll(res);

  // From a reviews sidecar, the sourceLabels match is there.
  const fromReviews = generate([vs], sidecarProxy('reviews'));
  assert.deepEqual(vhost(fromReviews, 'ratings').routes[2].match, { prefix: '/labels' });
});

test('DestinationRule policies: load balancer, consistent hash on the routes, connection pool, TLS, subset and port overrides', () => {
  const dr = config('DestinationRule', 'reviews', {
    host: 'reviews.default.svc.cluster.local',
    trafficPolicy: {
      loadBalancer: { simple: 'LEAST_CONN' },
      connectionPool: {
        tcp: { maxConnections: 100, connectTimeout: { ms: 250 } },
        http: { http1MaxPendingRequests: 10, http2MaxRequests: 1000, maxRetries: 5, idleTimeout: { ms: 30_000 }, maxRequestsPerConnection: 7, h2UpgradePolicy: 'UPGRADE' },
      },
      tls: { mode: 'SIMPLE', caCertificates: '/etc/certs/ca.pem', subjectAltNames: ['reviews.example'], sni: 'reviews.example' },
      portLevelSettings: [{ port: { number: 9080 }, loadBalancer: { simple: 'RANDOM' } }],
    },
    subsets: [
      { name: 'v1', labels: { version: 'v1' }, trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user', ringHash: { minimumRingSize: 2048 } } } } },
      { name: 'v2', labels: { version: 'v2' }, trafficPolicy: { tls: { mode: 'DISABLE' } } },
    ],
    exportTo: [],
  });
  const vs = config('VirtualService', 'reviews', {
    hosts: ['reviews'], gateways: [], tcp: [], tls: [], exportTo: [],
    http: [{ match: [], route: [{ destination: { host: 'reviews', subset: 'v1' } }] }],
  });
  const res = generate([dr, vs]);
  const base = get(res, CLUSTER_TYPE, `outbound|9080||${fqdn('reviews')}`);
  assert.equal(base.lb_policy, 'RANDOM');
  assert.equal(base.connect_timeout, '0.25s');
  assert.deepEqual(base.circuit_breakers, { thresholds: [{ max_connections: 100, max_pending_requests: 10, max_requests: 1000, max_retries: 5 }] });
  assert.deepEqual(base.typed_extension_protocol_options, {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      common_http_protocol_options: { idle_timeout: '30s', max_requests_per_connection: 7 },
      explicit_http_config: { http2_protocol_options: {} },
    },
  });
  assert.deepEqual(base.transport_socket, {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      common_tls_context: { validation_context: { trusted_ca: { filename: '/etc/certs/ca.pem' }, match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'reviews.example' } }] } },
      sni: 'reviews.example',
    },
  });
  const v1 = get(res, CLUSTER_TYPE, `outbound|9080|v1|${fqdn('reviews')}`);
  assert.equal(v1.lb_policy, 'RING_HASH');
  assert.deepEqual(v1.ring_hash_lb_config, { minimum_ring_size: '2048' });
  assert.ok(v1.transport_socket !== undefined, 'the subset inherits the top-level TLS');
  const v2 = get(res, CLUSTER_TYPE, `outbound|9080|v2|${fqdn('reviews')}`);
  assert.equal(v2.transport_socket, undefined, 'the subset disables TLS');
  assert.equal(v2.lb_policy, 'RANDOM');
  assert.deepEqual(vhost(res, 'reviews').routes[0].route.hash_policy, [{ header: { header_name: 'x-user' } }]);
  encodeAll(res);
});

test('a Sidecar resource limits clusters, endpoints and virtual hosts to its egress hosts', () => {
  const sc = config('Sidecar', 'productpage', {
    workloadSelector: { labels: { app: 'productpage' } },
    ingress: [],
    egress: [{ hosts: ['./reviews.default.svc.cluster.local', 'default/ratings.default.svc.cluster.local'] }],
  });
  const full = generate([REVIEWS_DR]);
  const scoped = generate([REVIEWS_DR, sc]);
  assert.deepEqual(names(scoped, CLUSTER_TYPE), [
    'inbound|9080||', `outbound|9080||${fqdn('ratings')}`, `outbound|9080||${fqdn('reviews')}`,
    `outbound|9080|v1|${fqdn('reviews')}`, `outbound|9080|v2|${fqdn('reviews')}`, `outbound|9080|v3|${fqdn('reviews')}`,
  ].sort());
  assert.deepEqual(names(scoped, ENDPOINT_TYPE), names(scoped, CLUSTER_TYPE).filter((n) => n.startsWith('outbound')));
  assert.deepEqual(get(scoped, ROUTE_TYPE, '15001').virtual_hosts.map((v: J) => v.name), [`${fqdn('ratings')}:9080`, `${fqdn('reviews')}:9080`]);
  assert.ok(full.get(CLUSTER_TYPE)!.size > scoped.get(CLUSTER_TYPE)!.size);
  // Another workload in the namespace is not selected and sees everything.
  const other = generate([REVIEWS_DR, sc], sidecarProxy('details'));
  assert.equal(other.get(CLUSTER_TYPE)!.size, full.get(CLUSTER_TYPE)!.size);
  // A root-namespace default applies when the namespace has none.
  const root = config('Sidecar', 'default', { ingress: [], egress: [{ hosts: ['*/details.default.svc.cluster.local'] }] }, 'istio-system');
  assert.deepEqual(get(generate([root]), ROUTE_TYPE, '15001').virtual_hosts.map((v: J) => v.name), [`${fqdn('details')}:9080`]);
});

test('exportTo hides VirtualServices and DestinationRules from other namespaces', () => {
  const vs = { ...REVIEWS_VS, spec: { ...REVIEWS_VS.spec, exportTo: ['.'] } } as typeof REVIEWS_VS;
  const dr = { ...REVIEWS_DR, spec: { ...REVIEWS_DR.spec, exportTo: ['.'] } } as typeof REVIEWS_DR;
  const res = generate([dr, vs], sidecarProxy('client', { namespace: 'other' }));
  const v = get(res, ROUTE_TYPE, '15001').virtual_hosts.find((x: J) => x.name === `${fqdn('reviews')}:9080`);
  assert.equal(v.routes[0].name, 'default');
  assert.ok(!res.get(CLUSTER_TYPE)!.has(`outbound|9080|v1|${fqdn('reviews')}`));
});

test('a DNS ServiceEntry becomes a STRICT_DNS cluster with inline endpoints; a Sidecar egress port gets a TCP listener', () => {
  const ext = { hostname: 'api.example.com', name: 'api.example.com', namespace: 'default', ports: [{ name: 'tcp', port: 5432, protocol: 'TCP' }], location: 'MESH_EXTERNAL', resolution: 'DNS', source: 'service-entry' } as const;
  const extWl = workload('api.example.com', 'v1', 'db.example.com', { labels: {}, ports: [{ name: 'tcp', port: 5432, targetPort: 5432, protocol: 'TCP' }] });
  const sc = config('Sidecar', 'default', { ingress: [], egress: [{ port: { number: 5432, protocol: 'TCP', name: 'pg' }, hosts: ['*/api.example.com'] }, { hosts: ['*/*'] }] });
  const res = generate([sc], sidecarProxy('productpage'), { services: [ext], workloads: [extWl] });
  const c = get(res, CLUSTER_TYPE, 'outbound|5432||api.example.com');
  assert.equal(c.type, 'STRICT_DNS');
  assert.deepEqual(c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address, { socket_address: { address: 'db.example.com', port_value: 5432 } });
  assert.ok(!res.get(ENDPOINT_TYPE)!.has('outbound|5432||api.example.com'));
  const l = get(res, LISTENER_TYPE, '127.0.0.1_5432');
  assert.equal(l.filter_chains[0].filters[0].typed_config.cluster, 'outbound|5432||api.example.com');
  // No HTTP virtual host for a TCP port.
  assert.deepEqual(get(res, ROUTE_TYPE, '15001').virtual_hosts, []);
  encodeAll(res);
});
