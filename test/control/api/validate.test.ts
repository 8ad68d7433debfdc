// Golden tests for the Istio resource validator: Bookinfo's manifests come out as typed, frozen
// resources with defaults filled; bad documents produce exactly the listed errors, all at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import YAML from 'yaml';
import { validateDocument } from '../../../src/control/api/index.js';
import type { DestinationRuleSpec, GatewaySpec, ServiceEntrySpec, SidecarSpec, VirtualServiceSpec } from '../../../src/control/api/types.js';
import type { ConfigResource } from '../../../src/control/model.js';

function ok(yaml: string, source = 'test.yaml#1'): ConfigResource {
  const r = validateDocument(YAML.parse(yaml), source);
  if (!r.ok) assert.fail(`expected valid, got:\n${r.errors.join('\n')}`);
  return r.value;
}

function errors(yaml: string, source = 'test.yaml#1'): readonly string[] {
  const r = validateDocument(YAML.parse(yaml), source);
  assert.equal(r.ok, false, 'expected errors, the document validated');
  return r.ok ? [] : r.errors;
}

// ───────────────────────────── Bookinfo: valid documents ─────────────────────────────

test('Bookinfo reviews VirtualService (90/10 split) becomes a frozen typed resource with defaults', () => {
  const r = ok(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
      weight: 90
    - destination:
        host: reviews
        subset: v2
      weight: 10
`);
  assert.equal(r.kind, 'VirtualService');
  assert.deepEqual(r.metadata, { name: 'reviews', namespace: 'default', labels: {}, annotations: {}, resourceVersion: '', creationTimestamp: '', generation: 0 });
  const spec: VirtualServiceSpec = {
    hosts: ['reviews'],
    gateways: [],
    http: [{
      match: [],
      route: [
        { destination: { host: 'reviews', subset: 'v1' }, weight: 90 },
        { destination: { host: 'reviews', subset: 'v2' }, weight: 10 },
      ],
    }],
    tcp: [],
    tls: [],
    exportTo: [],
  };
  assert.deepEqual(r.spec, spec);
  assert.ok(Object.isFrozen(r) && Object.isFrozen(r.spec) && Object.isFrozen((r.spec as VirtualServiceSpec).http[0]!.route[0]!.destination));
});

test('Bookinfo reviews DestinationRule with v1/v2/v3 subsets and a subset traffic policy', () => {
  const r = ok(`
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: reviews, namespace: bookinfo, labels: { app: reviews } }
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: { simple: RANDOM }
    connectionPool: { tcp: { maxConnections: 100, connectTimeout: 30ms }, http: { http1MaxPendingRequests: 10 } }
    outlierDetection: { consecutive5xxErrors: 5, interval: 1m, baseEjectionTime: 1.5s, maxEjectionPercent: 50 }
  subsets:
  - name: v1
    labels: { version: v1 }
  - name: v2
    labels: { version: v2 }
    trafficPolicy:
      loadBalancer:
        consistentHash: { httpCookie: { name: user, ttl: 0s } }
  - name: v3
    labels: { version: v3 }
`);
  assert.deepEqual(r.metadata.namespace, 'bookinfo');
  assert.deepEqual(r.metadata.labels, { app: 'reviews' });
  const spec: DestinationRuleSpec = {
    host: 'reviews',
    trafficPolicy: {
      loadBalancer: { simple: 'RANDOM' },
      connectionPool: { tcp: { maxConnections: 100, connectTimeout: { ms: 30 } }, http: { http1MaxPendingRequests: 10 } },
      outlierDetection: { consecutive5xxErrors: 5, interval: { ms: 60_000 }, baseEjectionTime: { ms: 1500 }, maxEjectionPercent: 50 },
    },
    subsets: [
      { name: 'v1', labels: { version: 'v1' } },
      { name: 'v2', labels: { version: 'v2' }, trafficPolicy: { loadBalancer: { consistentHash: { httpCookie: { name: 'user', ttl: { ms: 0 } } } } } },
      { name: 'v3', labels: { version: 'v3' } },
    ],
    exportTo: [],
  };
  assert.deepEqual(r.spec, spec);
});

test('Bookinfo ingress: the Gateway and the productpage VirtualService bound to it (host * allowed with a gateway)', () => {
  const gw = ok(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: bookinfo-gateway }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 8080, name: http, protocol: http }
    hosts: ["*"]
  - port: { number: 8443, name: https, protocol: HTTPS }
    hosts: ["bookinfo/*.example.com"]
    tls: { mode: SIMPLE, serverCertificate: /etc/certs/cert.pem, privateKey: /etc/certs/key.pem }
`);
  const gwSpec: GatewaySpec = {
    selector: { istio: 'ingressgateway' },
    servers: [
      { port: { number: 8080, name: 'http', protocol: 'HTTP' }, hosts: ['*'] },
      {
        port: { number: 8443, name: 'https', protocol: 'HTTPS' },
        hosts: ['bookinfo/*.example.com'],
        tls: { mode: 'SIMPLE', serverCertificate: '/etc/certs/cert.pem', privateKey: '/etc/certs/key.pem' },
      },
    ],
  };
  assert.deepEqual(gw.spec, gwSpec);
  const vs = ok(`
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: { name: bookinfo }
spec:
  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http:
  - match:
    - uri: { exact: /productpage }
    - uri: { prefix: /static }
    - uri: { regex: '^/api/v1/products(/[0-9]+)?$' }
      headers: { x-debug: { exact: "1" } }
    route:
    - destination: { host: productpage, port: { number: 9080 } }
    timeout: 10s
    retries: { attempts: 3, perTryTimeout: 2s, retryOn: "gateway-error,connect-failure,503" }
`);
  const route = (vs.spec as VirtualServiceSpec).http[0]!;
  assert.deepEqual(route.match, [
    { uri: { exact: '/productpage' } },
    { uri: { prefix: '/static' } },
    { uri: { regex: '^/api/v1/products(/[0-9]+)?$' }, headers: { 'x-debug': { exact: '1' } } },
  ]);
  assert.deepEqual(route.route, [{ destination: { host: 'productpage', port: { number: 9080 } } }]);
  assert.deepEqual(route.timeout, { ms: 10_000 });
  assert.deepEqual(route.retries, { attempts: 3, perTryTimeout: { ms: 2000 }, retryOn: 'gateway-error,connect-failure,503' });
});

test('a ServiceEntry for an external host gets Istio defaults; a Sidecar with egress hosts', () => {
  const se = ok(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: httpbin-ext }
spec:
  hosts: [httpbin.org]
  ports:
  - { number: 443, name: tls, protocol: TLS }
  - { number: 80, name: http, protocol: HTTP }
  resolution: DNS
`);
  const seSpec: ServiceEntrySpec = {
    hosts: ['httpbin.org'],
    addresses: [],
    ports: [{ number: 443, name: 'tls', protocol: 'TLS' }, { number: 80, name: 'http', protocol: 'HTTP' }],
    location: 'MESH_EXTERNAL',
    resolution: 'DNS',
    endpoints: [],
    exportTo: [],
    subjectAltNames: [],
  };
  assert.deepEqual(se.spec, seSpec);
  const sc = ok(`
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: bookinfo }
spec:
  egress:
  - port: { number: 3306, protocol: MYSQL, name: mysql }
    hosts: ["./mysql.bookinfo.svc.cluster.local"]
  - hosts: ["./*", "istio-system/*"]
`);
  const scSpec: SidecarSpec = {
    ingress: [],
    egress: [
      { port: { number: 3306, protocol: 'MYSQL', name: 'mysql' }, hosts: ['./mysql.bookinfo.svc.cluster.local'] },
      { hosts: ['./*', 'istio-system/*'] },
    ],
  };
  assert.deepEqual(sc.spec, scSpec);
});

test('a STATIC ServiceEntry with IP endpoints and named endpoint ports', () => {
  const se = ok(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: legacy-db }
spec:
  hosts: [db.internal.example]
  location: MESH_EXTERNAL
  ports: [{ number: 5432, name: tcp-pg, protocol: tcp, targetPort: 15432 }]
  resolution: STATIC
  endpoints:
  - { address: 10.1.2.3, ports: { tcp-pg: 6432 }, labels: { role: primary } }
  - { address: "::1" }
`);
  const spec = se.spec as ServiceEntrySpec;
  assert.equal(spec.ports[0]!.protocol, 'TCP');
  assert.deepEqual(spec.endpoints, [{ address: '10.1.2.3', ports: { 'tcp-pg': 6432 }, labels: { role: 'primary' } }, { address: '::1' }]);
});

// ───────────────────────────── invalid documents: exact errors ─────────────────────────────

const VS = (spec: string, meta = 'name: reviews') => `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { ${meta} }\nspec:\n${spec}`;
const DR = (spec: string) => `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: reviews }\nspec:\n${spec}`;
const GW = (spec: string, name = 'gw') => `apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: ${name} }\nspec:\n${spec}`;
const SE = (spec: string) => `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: ext }\nspec:\n${spec}`;
const SC = (spec: string) => `apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: default }\nspec:\n${spec}`;
const P = (kind: string, name: string) => `reviews.yaml#2: ${kind} default/${name}: `;

const bad: { name: string; yaml: string; errors: string[] }[] = [
  {
    name: 'envelope: apiVersion, kind, names, unknown top-level field',
    yaml: 'apiVersion: networking.istio.io/v2\nkind: VirtualServce\nmetadata: { name: Reviews_1, namespace: a.b }\nspec: {}\nextra: 1',
    errors: [
      'reviews.yaml#2: apiVersion: expected one of networking.istio.io/v1, networking.istio.io/v1beta1, networking.istio.io/v1alpha3, got "networking.istio.io/v2"',
      'reviews.yaml#2: kind: expected one of VirtualService, DestinationRule, Gateway, ServiceEntry, Sidecar, PeerAuthentication, AuthorizationPolicy, RequestAuthentication, Secret, got "VirtualServce"',
      'reviews.yaml#2: extra: unknown field',
      'reviews.yaml#2: metadata.name: expected a DNS-1123 subdomain (lower-case alphanumerics, - and .), got "Reviews_1"',
      'reviews.yaml#2: metadata.namespace: expected a DNS-1123 label (lower-case alphanumerics and -, at most 63), got "a.b"',
    ],
  },
  {
    name: 'metadata: label values must be strings, unknown metadata fields rejected, spec missing',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: gw, labels: { a: 1 }, lables: {} }',
    errors: [
      `${P('Gateway', 'gw')}metadata.labels["a"]: expected a string, got 1`,
      `${P('Gateway', 'gw')}metadata.lables: unknown field (did you mean labels?)`,
      `${P('Gateway', 'gw')}spec: expected an object, got nothing`,
    ],
  },
  {
    name: 'VirtualService: weight out of range, unknown field with a hint, no route action',
    yaml: VS('  hosts: [reviews]\n  http:\n  - route:\n    - { destination: { host: reviews, subset: v1 }, weight: 90 }\n    - { destination: { host: reviews, subset: v2 }, weight: 120 }\n  - rout:\n    - destination: { host: reviews }'),
    errors: [
      `${P('VirtualService', 'reviews')}spec.http[0].route[1].weight: expected an integer in 0..100, got 120`,
      `${P('VirtualService', 'reviews')}spec.http[1].rout: unknown field (did you mean route?)`,
      `${P('VirtualService', 'reviews')}spec.http[1]: expected exactly one of route, redirect, directResponse, got none`,
    ],
  },
  {
    name: 'VirtualService: hosts missing, no routes at all',
    yaml: VS('  gateways: [mesh]'),
    errors: [
      `${P('VirtualService', 'reviews')}spec.hosts: expected a non-empty list, got nothing`,
      `${P('VirtualService', 'reviews')}spec: expected at least one of http, tcp, tls routes`,
    ],
  },
  {
    name: 'VirtualService: * host bound to the mesh, bad hosts and gateway names',
    yaml: VS('  hosts: ["*", "foo.*.com", ""]\n  gateways: [mesh, "a/b/c"]\n  tcp:\n  - route: [{ destination: { host: db } }]'),
    errors: [
      `${P('VirtualService', 'reviews')}spec.hosts[1]: expected a host name (FQDN, short name or *.domain, or *), got "foo.*.com"`,
      `${P('VirtualService', 'reviews')}spec.hosts[2]: expected a host name (FQDN, short name or *.domain, or *), got ""`,
      `${P('VirtualService', 'reviews')}spec.gateways[1]: expected mesh, a Gateway name or namespace/name, got "a/b/c"`,
      `${P('VirtualService', 'reviews')}spec.hosts[0]: expected a specific host: * is allowed only for VirtualServices bound to gateways (not mesh)`,
    ],
  },
  {
    name: 'VirtualService: route with redirect, rewrite with redirect, bad redirect code',
    yaml: VS('  hosts: [reviews]\n  http:\n  - route: [{ destination: { host: reviews } }]\n    redirect: { uri: /v2, redirectCode: 305 }\n  - redirect: { redirectCode: 301 }\n    rewrite: { uri: /x }'),
    errors: [
      `${P('VirtualService', 'reviews')}spec.http[0].redirect.redirectCode: expected one of 301, 302, 303, 307, 308, got 305`,
      `${P('VirtualService', 'reviews')}spec.http[0]: expected exactly one of route, redirect, directResponse, got route and redirect`,
      `${P('VirtualService', 'reviews')}spec.http[1].redirect: expected at least one of uri, prefixRewrite, authority, scheme, port, derivePort`,
      `${P('VirtualService', 'reviews')}spec.http[1].rewrite: expected only with route (not with redirect or directResponse)`,
    ],
  },
  {
    name: 'VirtualService: StringMatch needs exactly one kind; regexes are RE2; header names lower-case',
    yaml: VS(`  hosts: [reviews]
  http:
  - match:
    - uri: { exact: /a, prefix: /b }
      method: {}
      headers: { X-User: { exact: jason }, end-user: { regex: "(?=jason)" } }
      queryParams: { q: { regex: "a(b" } }
      authority: { regex: "(?i)^Reviews$" }
    directResponse: { status: 503, body: { string: unavailable } }`),
    errors: [
      `${P('VirtualService', 'reviews')}spec.http[0].match[0].uri: expected exactly one of exact, prefix, regex, got exact and prefix`,
      `${P('VirtualService', 'reviews')}spec.http[0].match[0].method: expected exactly one of exact, prefix, regex, got none`,
      `${P('VirtualService', 'reviews')}spec.http[0].match[0].headers["X-User"]: expected a lower-case header name`,
      `${P('VirtualService', 'reviews')}spec.http[0].match[0].headers["end-user"].regex: expected a regular expression in RE2 syntax (no lookarounds or backreferences), got "(?=jason)"`,
      `${P('VirtualService', 'reviews')}spec.http[0].match[0].queryParams["q"].regex: expected a regular expression (RE2 syntax), got "a(b" (Unterminated group)`,
    ],
  },
  {
    name: 'VirtualService: retries, timeouts, faults, mirrors',
    yaml: VS(`  hosts: [reviews]
  http:
  - route: [{ destination: { host: reviews } }]
    timeout: 5 seconds
    retries: { attempts: -1, perTryTimeout: 0s, retryOn: "5xx,bogus,600" }
    fault: { abort: { httpStatus: 700, percentage: { value: 101 } }, delay: { percentage: { value: 10 } } }
    mirrorPercentage: { value: 150 }
    mirror: { host: reviews, subset: V2 }
  - route: [{ destination: { host: reviews } }]
    fault: {}
    directResponse: { status: 99 }
  - redirect: { uri: /elsewhere }
    fault: { abort: { grpcStatus: UNAVAILABLE } }
    retries: { retryOn: 5xx }
    headers: { request: { set: { ":authority": a.example, X-Trace: "1" }, remove: [host] }, response: { add: { ":status": "200" } } }`),
    errors: [
      `${P('VirtualService', 'reviews')}spec.http[0].timeout: expected a duration like 1.5s, 100ms, 1m or 2h, got "5 seconds"`,
      `${P('VirtualService', 'reviews')}spec.http[0].retries.attempts: expected an integer ≥ 0, got -1`,
      `${P('VirtualService', 'reviews')}spec.http[0].retries.perTryTimeout: expected a duration like 1.5s, 100ms, 1m or 2h (at least 1ms), got "0s"`,
      `${P('VirtualService', 'reviews')}spec.http[0].retries.retryOn: expected retry conditions among 5xx, gateway-error, reset, reset-before-request, connect-failure, envoy-ratelimited, retriable-4xx, refused-stream, retriable-status-codes, retriable-headers, http3-post-connect-failure, cancelled, deadline-exceeded, internal, resource-exhausted, unavailable or HTTP status codes 100..599, got "bogus"`,
      `${P('VirtualService', 'reviews')}spec.http[0].retries.retryOn: expected retry conditions among 5xx, gateway-error, reset, reset-before-request, connect-failure, envoy-ratelimited, retriable-4xx, refused-stream, retriable-status-codes, retriable-headers, http3-post-connect-failure, cancelled, deadline-exceeded, internal, resource-exhausted, unavailable or HTTP status codes 100..599, got "600"`,
      `${P('VirtualService', 'reviews')}spec.http[0].fault.abort.httpStatus: expected an integer in 200..599, got 700`,
      `${P('VirtualService', 'reviews')}spec.http[0].fault.abort.percentage.value: expected a number in 0..100, got 101`,
      `${P('VirtualService', 'reviews')}spec.http[0].fault.delay.fixedDelay: expected a duration like 1.5s, 100ms, 1m or 2h (at least 1ms), got nothing`,
      `${P('VirtualService', 'reviews')}spec.http[0].mirrorPercentage.value: expected a number in 0..100, got 150`,
      `${P('VirtualService', 'reviews')}spec.http[0].mirror.subset: expected a DNS-1123 label (lower-case alphanumerics and -, at most 63), got "V2"`,
      `${P('VirtualService', 'reviews')}spec.http[1].fault: expected at least one of delay, abort`,
      `${P('VirtualService', 'reviews')}spec.http[1].directResponse.status: expected an integer in 200..599, got 99`,
      `${P('VirtualService', 'reviews')}spec.http[1]: expected exactly one of route, redirect, directResponse, got route and directResponse`,
      `${P('VirtualService', 'reviews')}spec.http[2].retries.attempts: expected an integer ≥ 1 when retryOn is set (0 or none disables retries)`,
      `${P('VirtualService', 'reviews')}spec.http[2].headers.request.remove[0]: expected a header name other than Host and pseudo-headers`,
      `${P('VirtualService', 'reviews')}spec.http[2].headers.response.add[":status"]: expected a header name other than Host and pseudo-headers`,
      `${P('VirtualService', 'reviews')}spec.http[2].fault: expected only with route (not with redirect or directResponse)`,
    ],
  },
  {
    name: 'VirtualService: TLS routes need SNI matches, TCP routes need destinations',
    yaml: VS('  hosts: [db]\n  tls:\n  - route: [{ destination: { host: db } }]\n  - match: [{ port: 0, sniHosts: [] }]\n    route: [{ destination: { host: db } }]\n  tcp:\n  - match: [{ destinationSubnets: [10.0.0.0/33] }]'),
    errors: [
      `${P('VirtualService', 'reviews')}spec.tls[0].match: expected a non-empty list of SNI matches, got nothing`,
      `${P('VirtualService', 'reviews')}spec.tls[1].match[0].port: expected an integer in 1..65535, got 0`,
      `${P('VirtualService', 'reviews')}spec.tls[1].match[0].sniHosts: expected a non-empty list, got []`,
      `${P('VirtualService', 'reviews')}spec.tcp[0].match[0].destinationSubnets: not supported yet (the proxy does not see original destination addresses)`,
      `${P('VirtualService', 'reviews')}spec.tcp[0].route: expected a non-empty list, got nothing`,
    ],
  },
  {
    name: 'VirtualService: SNI hosts of TLS routes must fall within the VirtualService hosts',
    yaml: VS('  hosts: [db, "*.example.com"]\n  tls:\n  - match: [{ sniHosts: [db, a.example.com, "*.b.example.com", other.org, "*.com"] }]\n    route: [{ destination: { host: db } }]'),
    errors: [
      `${P('VirtualService', 'reviews')}spec.tls[0].match[0].sniHosts[3]: expected an SNI host within spec.hosts (db, *.example.com), got "other.org"`,
      `${P('VirtualService', 'reviews')}spec.tls[0].match[0].sniHosts[4]: expected an SNI host within spec.hosts (db, *.example.com), got "*.com"`,
    ],
  },
  {
    name: 'DestinationRule: host required, subsets unique with labels, load balancer and TLS rules',
    yaml: DR(`  trafficPolicy:
    loadBalancer: { simple: ROUND_ROBIN, consistentHash: { httpHeaderName: x-user, useSourceIp: true } }
    tls: { mode: ISTIO_MUTUAL }
    portLevelSettings:
    - { port: { number: 80 }, tls: { mode: MUTUAL, caCertificates: /ca.pem } }
    - { port: { number: 80 }, loadBalancer: { simple: FASTEST } }
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v1, labels: {} }
  - { name: v3, trafficPolicy: { tls: { mode: SIMPLE, credentialName: reviews-cert } } }`),
    errors: [
      `${P('DestinationRule', 'reviews')}spec.trafficPolicy.loadBalancer.consistentHash: expected exactly one hash key of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName, got httpHeaderName and useSourceIp`,
      `${P('DestinationRule', 'reviews')}spec.trafficPolicy.loadBalancer: expected exactly one of simple, consistentHash, got simple and consistentHash`,
      `${P('DestinationRule', 'reviews')}spec.trafficPolicy.portLevelSettings[0].tls.clientCertificate: expected a file path (required for MUTUAL), got nothing`,
      `${P('DestinationRule', 'reviews')}spec.trafficPolicy.portLevelSettings[0].tls.privateKey: expected a file path (required for MUTUAL), got nothing`,
      `${P('DestinationRule', 'reviews')}spec.trafficPolicy.portLevelSettings[1].loadBalancer.simple: expected one of UNSPECIFIED, LEAST_CONN, RANDOM, ROUND_ROBIN, LEAST_REQUEST, PASSTHROUGH, got "FASTEST"`,
      `${P('DestinationRule', 'reviews')}spec.trafficPolicy.portLevelSettings[1].port.number: expected a port not listed before, got 80 again`,
      `${P('DestinationRule', 'reviews')}spec.subsets[1].labels: expected a non-empty label map, got {}`,
      `${P('DestinationRule', 'reviews')}spec.subsets[2].labels: expected a non-empty label map, got nothing`,
      `${P('DestinationRule', 'reviews')}spec.host: expected a host name, got nothing`,
      `${P('DestinationRule', 'reviews')}spec.subsets[1].name: expected a unique subset name, got "v1" again`,
    ],
  },
  {
    name: 'Gateway: ports, protocols, ns/host forms, TLS for HTTPS',
    yaml: GW(`  selector: { istio: ingressgateway }
  servers:
  - port: { number: 443, protocol: HTTPS, name: https }
    hosts: ["bookinfo/*.example.com", "a/b/c", "Bad Host"]
  - port: { number: 8443, protocol: HTTPS, name: https-2 }
    hosts: ["*"]
    tls: { mode: MUTUAL, serverCertificate: /cert.pem }
  - port: { number: 70000, protocol: QUIC }
    hosts: []
  - port: { number: 80, protocol: HTTP, name: http }
    hosts: ["*"]
    tls: { mode: SIMPLE }
  - port: { number: 9443, protocol: HTTPS, name: https-3 }
    hosts: ["*"]
    tls: { mode: PASSTHROUGH }
  - port: { number: 9000, protocol: TCP, name: https, targetPort: 9001 }
    hosts: ["*"]
    tls: { mode: SIMPLE }
  - port: { number: 8081, protocol: HTTP, name: http-redirect }
    hosts: ["*"]
    tls: { httpsRedirect: true }`),
    errors: [
      `${P('Gateway', 'gw')}spec.servers[0].hosts[1]: expected namespace/host (namespace * or . or a name; host *, *.domain or an FQDN), got "a/b/c"`,
      `${P('Gateway', 'gw')}spec.servers[0].hosts[2]: expected namespace/host (namespace * or . or a name; host *, *.domain or an FQDN), got "Bad Host"`,
      `${P('Gateway', 'gw')}spec.servers[0].tls: expected TLS settings for protocol HTTPS`,
      `${P('Gateway', 'gw')}spec.servers[1].tls.privateKey: expected a file path (required for MUTUAL), got nothing`,
      `${P('Gateway', 'gw')}spec.servers[1].tls.caCertificates: expected a file path (required for MUTUAL), got nothing`,
      `${P('Gateway', 'gw')}spec.servers[2].port.number: expected an integer in 1..65535, got 70000`,
      `${P('Gateway', 'gw')}spec.servers[2].port.protocol: expected one of HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP, TLS, got "QUIC"`,
      `${P('Gateway', 'gw')}spec.servers[2].port.name: expected a port name, got nothing`,
      `${P('Gateway', 'gw')}spec.servers[2].hosts: expected a non-empty list, got []`,
      `${P('Gateway', 'gw')}spec.servers[3].tls: expected only httpsRedirect on a plain-text HTTP port`,
      `${P('Gateway', 'gw')}spec.servers[5].port.targetPort: expected no targetPort: it has no effect on Gateways`,
      `${P('Gateway', 'gw')}spec.servers[5].tls: expected no TLS settings on a plain-text TCP port (use protocol TLS or HTTPS)`,
      `${P('Gateway', 'gw')}spec.servers[5].port.name: expected a port name unique among servers, got "https" again`,
    ],
  },
  {
    name: 'ServiceEntry: unique ports, STATIC needs IPs, endpoint ports name declared ports',
    yaml: SE(`  hosts: ["*", api.example.com]
  ports:
  - { number: 443, name: https, protocol: TLS }
  - { number: 443, name: https, protocol: tls }
  location: OUTSIDE
  resolution: STATIC
  endpoints:
  - { address: api.example.com, ports: { http: 8080 } }`),
    errors: [
      `${P('ServiceEntry', 'ext')}spec.hosts[0]: expected a host name (FQDN, short name or *.domain), got "*"`,
      `${P('ServiceEntry', 'ext')}spec.location: expected one of MESH_EXTERNAL, MESH_INTERNAL, got "OUTSIDE"`,
      `${P('ServiceEntry', 'ext')}spec.ports[1].number: expected a port number not listed before, got 443 again`,
      `${P('ServiceEntry', 'ext')}spec.ports[1].name: expected a port name not listed before, got "https" again`,
      `${P('ServiceEntry', 'ext')}spec.endpoints[0].ports["http"]: expected the name of a port of spec.ports (https)`,
      `${P('ServiceEntry', 'ext')}spec.endpoints[0].address: expected an IP address (resolution STATIC), got "api.example.com"`,
    ],
  },
  {
    name: 'ServiceEntry: resolution NONE, Istio\'s default, is not supported yet',
    yaml: SE('  hosts: [a.example.com]\n  ports: [{ number: 80, name: http, protocol: HTTP }]\n  endpoints: [{ address: 10.0.0.1 }]'),
    errors: [`${P('ServiceEntry', 'ext')}spec.resolution: expected DNS, DNS_ROUND_ROBIN or STATIC: the default, NONE, is not supported yet (the proxy has no original-destination passthrough)`],
  },
  {
    name: 'ServiceEntry: DNS resolution of wildcard hosts without endpoints',
    yaml: SE('  hosts: ["*.example.com"]\n  ports: [{ number: 80, name: http, protocol: HTTP }]\n  resolution: DNS'),
    errors: [`${P('ServiceEntry', 'ext')}spec.hosts[0]: expected a host without wildcard (resolution DNS without endpoints resolves the hosts), got "*.example.com"`],
  },
  {
    name: 'Sidecar: egress hosts need namespace/, only the last egress may omit its port, selector labels',
    yaml: SC(`  workloadSelector: { labels: {} }
  ingress:
  - port: { number: 9080, protocol: HTTP, name: http }
    defaultEndpoint: localhost:8080
  egress:
  - hosts: ["./*"]
  - port: { number: 3306, protocol: MYSQL, name: mysql }
    hosts: ["reviews.default.svc.cluster.local", "~/*", "ns/*.svc"]
  outboundTrafficPolicy: { mode: DENY }`),
    errors: [
      `${P('Sidecar', 'default')}spec.workloadSelector.labels: expected a non-empty label map, got {}`,
      `${P('Sidecar', 'default')}spec.ingress[0].defaultEndpoint: expected 127.0.0.1:PORT, 0.0.0.0:PORT, [::1]:PORT or unix://path, got "localhost:8080"`,
      `${P('Sidecar', 'default')}spec.egress[1].hosts[0]: expected namespace/host (namespace *, ., ~ or a name; host *, *.domain or an FQDN), got "reviews.default.svc.cluster.local"`,
      `${P('Sidecar', 'default')}spec.outboundTrafficPolicy.mode: expected one of REGISTRY_ONLY, ALLOW_ANY, got "DENY"`,
      `${P('Sidecar', 'default')}spec.ingress: not supported yet (a sidecar's inbound listener sends everything to its first app port)`,
      `${P('Sidecar', 'default')}spec.egress[0]: expected a port: only the last egress listener may omit it (it catches the rest)`,
    ],
  },
];

bad.push({
  name: 'VirtualService: errors keep their list index when an earlier item is invalid',
  yaml: VS('  hosts: ["foo.*.com", "*"]\n  http: [{ route: [{ destination: { host: reviews } }] }]'),
  errors: [
    `${P('VirtualService', 'reviews')}spec.hosts[0]: expected a host name (FQDN, short name or *.domain, or *), got "foo.*.com"`,
    `${P('VirtualService', 'reviews')}spec.hosts[1]: expected a specific host: * is allowed only for VirtualServices bound to gateways (not mesh)`,
  ],
});

bad.push({
  name: 'Gateway: the name is a DNS label (no dots)',
  yaml: GW('  servers: [{ port: { number: 80, protocol: HTTP, name: http }, hosts: ["*"] }]', 'gw.v1'),
  errors: ['reviews.yaml#2: Gateway default/gw.v1: metadata.name: expected a DNS-1123 label for a Gateway (no dots: VirtualServices refer to it as namespace/name), got "gw.v1"'],
});

for (const c of bad) {
  test(`rejects with exact errors — ${c.name}`, () => {
    assert.deepEqual(errors(c.yaml, 'reviews.yaml#2'), c.errors);
  });
}

test('a document that is not an object, and a list where an object belongs', () => {
  assert.deepEqual(errors('- a\n- b', 'x.yaml#1'), ['x.yaml#1: document: expected an object with apiVersion, kind, metadata, spec, got a list']);
  assert.deepEqual(errors(VS('  hosts: reviews\n  http: { route: [] }')), [
    'test.yaml#1: VirtualService default/reviews: spec.hosts: expected a non-empty list, got "reviews"',
    'test.yaml#1: VirtualService default/reviews: spec.http: expected a list, got an object',
    'test.yaml#1: VirtualService default/reviews: spec: expected at least one of http, tcp, tls routes',
  ]);
});

test('durations in every Go unit convert to milliseconds; store metadata from kubectl output is ignored', () => {
  const r = ok(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: prod, uid: abc, resourceVersion: "7", annotations: { owner: team-a } }
spec:
  hosts: [r.prod.svc.cluster.local]
  http:
  - route: [{ destination: { host: r } }]
    timeout: 1h2m3.5s
    retries: { attempts: 1, perTryTimeout: 250ms }
    fault: { delay: { fixedDelay: 1500us, percentage: { value: 0.5 } } }
status: {}
`);
  const h = (r.spec as VirtualServiceSpec).http[0]!;
  assert.deepEqual(h.timeout, { ms: 3_723_500 });
  assert.deepEqual(h.retries, { attempts: 1, perTryTimeout: { ms: 250 } });
  assert.deepEqual(h.fault, { delay: { fixedDelay: { ms: 1.5 }, percentage: { value: 0.5 } } });
  assert.deepEqual(r.metadata.annotations, { owner: 'team-a' });
  assert.equal(r.metadata.resourceVersion, '');
});

test('map keys named __proto__ stay plain keys; label keys are checked', () => {
  const r = ok(VS('  hosts: [reviews]\n  http: [{ route: [{ destination: { host: reviews } }] }]', 'name: reviews, annotations: { "__proto__": x, b: y }'));
  assert.deepEqual(Object.keys(r.metadata.annotations), ['__proto__', 'b']);
  assert.equal(Object.getPrototypeOf(r.metadata.annotations), Object.prototype);
  const d = ok(DR('  host: reviews\n  subsets:\n  - { name: v1, labels: { app.kubernetes.io/version: v1 } }'));
  assert.deepEqual((d.spec as DestinationRuleSpec).subsets[0]!.labels, { 'app.kubernetes.io/version': 'v1' });
  assert.deepEqual(errors(DR('  host: reviews\n  subsets:\n  - { name: v1, labels: { "bad key": v1 } }')), [
    'test.yaml#1: DestinationRule default/reviews: spec.subsets[0].labels["bad key"]: expected a label key (optional DNS prefix/ then alphanumerics, -, _, .)',
  ]);
});
