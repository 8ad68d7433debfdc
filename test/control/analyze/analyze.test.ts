// `weft analyze` over hand-built mesh snapshots: a healthy Bookinfo mesh yields nothing, and each
// analyzer fires on exactly the resource and field path it is about (and only there).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import YAML from 'yaml';
import { analyze } from '../../../src/control/analyze/index.js';
import { validateDocument } from '../../../src/control/api/index.js';
import type { ConfigResource, MeshSnapshot, ServiceDef, Workload } from '../../../src/control/model.js';

function configs(yaml: string): ConfigResource[] {
  return YAML.parseAllDocuments(yaml).map((d, i) => {
    const r = validateDocument(d.toJS(), `mesh.yaml#${i + 1}`);
    if (!r.ok) assert.fail(r.errors.join('\n'));
    return r.value;
  });
}

function service(name: string, namespace = 'default'): ServiceDef {
  return {
    hostname: `${name}.${namespace}.svc.cluster.local`, name, namespace,
    ports: [{ name: 'http', port: 9080, protocol: 'HTTP' }], location: 'MESH_INTERNAL', resolution: 'STATIC', source: 'file',
  };
}

function workload(service: string, version: string, namespace = 'default'): Workload {
  return {
    id: `${service}-${version}`, service, namespace, labels: { app: service, version }, address: '127.0.0.1',
    ports: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'HTTP' }], weight: 1, healthy: true, source: 'file',
  };
}

const SERVICES = ['productpage', 'reviews', 'ratings', 'details'].map((n) => service(n));
const WORKLOADS = [workload('productpage', 'v1'), workload('reviews', 'v1'), workload('reviews', 'v2'), workload('reviews', 'v3'), workload('ratings', 'v1')];

const BOOKINFO = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http:
  - match: [{ headers: { end-user: { exact: jason } } }]
    route: [{ destination: { host: reviews, subset: v2 } }]
  - route:
    - { destination: { host: reviews, subset: v1 }, weight: 90 }
    - { destination: { host: reviews.default.svc.cluster.local, subset: v3 }, weight: 10 }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
  - { name: v3, labels: { version: v3 } }
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: bookinfo-gateway }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 8080, name: http, protocol: HTTP }, hosts: ["*"] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: bookinfo }
spec:
  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http:
  - match: [{ uri: { exact: /productpage } }, { uri: { prefix: /static } }]
    route: [{ destination: { host: productpage, port: { number: 9080 } } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: httpbin-ext }
spec:
  hosts: [httpbin.org]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: DNS
`;

function mesh(extra = '', opts: { services?: ServiceDef[]; workloads?: Workload[]; base?: string } = {}): MeshSnapshot {
  return {
    version: 1,
    configs: configs(`${opts.base ?? BOOKINFO}${extra === '' ? '' : `\n---\n${extra}`}`),
    services: opts.services ?? SERVICES,
    workloads: opts.workloads ?? WORKLOADS,
    domainSuffix: 'cluster.local',
  };
}

const brief = (mesh: MeshSnapshot) => analyze(mesh).map((m) => `${m.level} ${m.code} ${m.resource} ${m.path}: ${m.message}`);

test('a consistent Bookinfo mesh (short and full names, subsets, gateway, ServiceEntry) yields no messages', () => {
  assert.deepEqual(brief(mesh(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: httpbin }
spec:
  hosts: [httpbin.org]
  http: [{ route: [{ destination: { host: httpbin.org } }], timeout: 3s }]
`)), []);
});

test('IST0101: an unknown destination host, an undefined subset, a missing gateway', () => {
  const m = mesh(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ratings, namespace: default }
spec:
  hosts: [ratings]
  gateways: [mesh, istio-system/missing-gw]
  http:
  - match: [{ uri: { prefix: /x }, gateways: [other-gw] }]
    route: [{ destination: { host: ratings, subset: v1 } }]
    mirror: { host: reviews, subset: v9 }
  - route: [{ destination: { host: rating } }]
  tcp:
  - route: [{ destination: { host: db.example.com } }]
`);
  const msgs = analyze(m);
  assert.deepEqual(msgs.map((x) => [x.level, x.code, x.resource, x.path, x.message]), [
    ['Error', 'IST0101', 'VirtualService default/ratings', 'spec.http[0].route[0].destination.subset', 'Referenced host+subset in DestinationRule not found: "ratings.default.svc.cluster.local+v1"'],
    ['Error', 'IST0101', 'VirtualService default/ratings', 'spec.http[0].mirror.subset', 'Referenced host+subset in DestinationRule not found: "reviews.default.svc.cluster.local+v9"'],
    ['Error', 'IST0101', 'VirtualService default/ratings', 'spec.http[1].route[0].destination.host', 'Referenced host not found: "rating.default.svc.cluster.local" (no service or ServiceEntry provides it)'],
    ['Error', 'IST0101', 'VirtualService default/ratings', 'spec.tcp[0].route[0].destination.host', 'Referenced host not found: "db.example.com" (no service or ServiceEntry provides it)'],
    ['Error', 'IST0101', 'VirtualService default/ratings', 'spec.gateways[1]', 'Referenced gateway not found: "istio-system/missing-gw"'],
    ['Error', 'IST0101', 'VirtualService default/ratings', 'spec.http[0].match[0].gateways[0]', 'Referenced gateway not found: "default/other-gw"'],
  ]);
  assert.ok(Object.isFrozen(msgs) && Object.isFrozen(msgs[0]));
});

test('IST0101: short names resolve in the VirtualService namespace, so reviews from namespace shop is not default/reviews', () => {
  const msgs = brief(mesh(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: shop }
spec:
  hosts: [reviews.default.svc.cluster.local]
  gateways: [default/bookinfo-gateway]
  http: [{ route: [{ destination: { host: reviews } }] }]
`));
  assert.deepEqual(msgs, ['Error IST0101 VirtualService shop/reviews spec.http[0].route[0].destination.host: Referenced host not found: "reviews.shop.svc.cluster.local" (no service or ServiceEntry provides it)']);
});

test('IST0101: wildcard ServiceEntry hosts cover destinations; registry services need no ServiceEntry', () => {
  const base = BOOKINFO.replace('hosts: [httpbin.org]', 'hosts: ["*.example.org"]').replace('resolution: DNS', 'resolution: STATIC\n  endpoints: [{ address: 10.0.0.9 }]');
  assert.deepEqual(brief(mesh(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api }
spec:
  hosts: [api.example.org]
  http: [{ route: [{ destination: { host: api.example.org } }] }]
`, { base })), []);
});

test('WEFT0001: route weights that do not add up to 100 warn, with the sum; 100 and a lone destination do not', () => {
  const msgs = brief(mesh(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ratings }
spec:
  hosts: [ratings]
  http:
  - match: [{ uri: { prefix: /a } }]
    route:
    - { destination: { host: ratings }, weight: 50 }
    - { destination: { host: details }, weight: 40 }
  - match: [{ uri: { prefix: /b } }]
    route:
    - { destination: { host: ratings }, weight: 70 }
    - { destination: { host: details }, weight: 30 }
  - match: [{ uri: { prefix: /c } }]
    route: [{ destination: { host: ratings } }]
  tcp:
  - route:
    - { destination: { host: ratings } }
    - { destination: { host: details } }
`));
  assert.deepEqual(msgs, [
    'Warning WEFT0001 VirtualService default/ratings spec.http[0].route: Route weights add up to 90, not 100: traffic is split in proportion to the weights (WEFT0001 RouteWeightsNot100)',
    'Warning WEFT0001 VirtualService default/ratings spec.tcp[0].route: Route weights add up to 0, not 100: no destination gets traffic (WEFT0001 RouteWeightsNot100)',
  ]);
});

test('IST0109: two VirtualServices for the same host on the mesh, each named; different gateways do not conflict', () => {
  const msgs = brief(mesh(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews-canary }
spec:
  hosts: [reviews.default.svc.cluster.local]
  http: [{ route: [{ destination: { host: reviews, subset: v3 } }] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews-edge }
spec:
  hosts: [reviews]
  gateways: [bookinfo-gateway]
  http: [{ route: [{ destination: { host: reviews } }] }]
`));
  const text = 'The VirtualServices default/reviews, default/reviews-canary associated with gateway mesh define the same host reviews.default.svc.cluster.local, which can lead to undefined behavior';
  assert.deepEqual(msgs, [
    `Error IST0109 VirtualService default/reviews spec.hosts[0]: ${text}`,
    `Error IST0109 VirtualService default/reviews-canary spec.hosts[0]: ${text}`,
  ]);
});

test('IST0109: two VirtualServices binding * to the same gateway conflict', () => {
  const msgs = analyze(mesh(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: bookinfo-2, namespace: default }
spec:
  hosts: ["*"]
  gateways: [default/bookinfo-gateway]
  http: [{ route: [{ destination: { host: details } }] }]
`));
  assert.deepEqual(msgs.map((m) => [m.code, m.resource, m.path]), [
    ['IST0109', 'VirtualService default/bookinfo', 'spec.hosts[0]'],
    ['IST0109', 'VirtualService default/bookinfo-2', 'spec.hosts[0]'],
  ]);
  assert.match(msgs[0]!.message, /associated with gateway default\/bookinfo-gateway define the same host \*/);
});

test('IST0130: routes after a catch-all (no match, or only uri prefix /) and repeated matches never match', () => {
  const msgs = brief(mesh(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: details }
spec:
  hosts: [details]
  http:
  - match: [{ uri: { prefix: /api }, headers: { x-a: { exact: "1" } } }]
    route: [{ destination: { host: details } }]
  - match: [{ name: again, headers: { x-a: { exact: "1" } }, uri: { prefix: /api } }]
    route: [{ destination: { host: details } }]
  - match: [{ uri: { prefix: /v2 } }, { uri: { prefix: / } }]
    route: [{ destination: { host: details } }]
  - match: [{ uri: { exact: /health } }]
    route: [{ destination: { host: details } }]
  - route: [{ destination: { host: details } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ratings }
spec:
  hosts: [ratings]
  http:
  - route: [{ destination: { host: ratings } }]
  - match: [{ uri: { prefix: /never } }]
    route: [{ destination: { host: ratings } }]
`));
  assert.deepEqual(msgs, [
    'Warning IST0130 VirtualService default/details spec.http[1]: This route can never match: its matches repeat those of spec.http[0] before it',
    'Warning IST0130 VirtualService default/details spec.http[3]: This route can never match: spec.http[2] before it matches every request',
    'Warning IST0130 VirtualService default/details spec.http[4]: This route can never match: spec.http[2] before it matches every request',
    'Warning IST0130 VirtualService default/ratings spec.http[1]: This route can never match: spec.http[0] before it matches every request',
  ]);
});

test('IST0130 does not fire when a prefix / match has another condition (a header, a port)', () => {
  assert.deepEqual(brief(mesh(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: details }
spec:
  hosts: [details]
  http:
  - match: [{ uri: { prefix: / }, headers: { x-canary: { exact: "1" } } }]
    route: [{ destination: { host: details } }]
  - match: [{ uri: { prefix: / }, port: 8080 }]
    route: [{ destination: { host: details } }]
  - route: [{ destination: { host: details } }]
`)), []);
});

test('WEFT0002/WEFT0003: a DestinationRule for an unknown host, a subset selecting no workload', () => {
  const msgs = brief(mesh(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ratings }
spec:
  host: ratings.default.svc.cluster.local
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2, app: ratings } }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ghost, namespace: shop }
spec:
  host: ghost
  trafficPolicy: { loadBalancer: { simple: LEAST_REQUEST } }
`));
  assert.deepEqual(msgs, [
    'Warning WEFT0003 DestinationRule default/ratings spec.subsets[1].labels: Subset "v2" selects no workload of "ratings.default.svc.cluster.local" (labels version=v2,app=ratings; 1 workload(s) known) (WEFT0003 SubsetSelectsNoWorkload)',
    'Warning WEFT0002 DestinationRule shop/ghost spec.host: No service or ServiceEntry provides host "ghost.shop.svc.cluster.local": this DestinationRule applies to nothing',
  ]);
});

test('WEFT0003 counts ServiceEntry endpoints as workloads; errors sort before warnings', () => {
  const msgs = brief(mesh(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: legacy }
spec:
  hosts: [legacy.internal]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: 10.0.0.1, labels: { track: stable } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: legacy }
spec:
  host: legacy.internal
  subsets:
  - { name: stable, labels: { track: stable } }
  - { name: canary, labels: { track: canary } }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: legacy }
spec:
  hosts: [legacy.internal]
  http: [{ route: [{ destination: { host: legacy.internal, subset: beta } }] }]
`));
  assert.deepEqual(msgs.map((s) => s.split(':')[0]), [
    'Error IST0101 VirtualService default/legacy spec.http[0].route[0].destination.subset',
    'Warning WEFT0003 DestinationRule default/legacy spec.subsets[1].labels',
  ]);
});

test('PeerAuthentication: STRICT without a CA (WEFT0012), a selector that selects nothing (IST0127), a selector in the root namespace (WEFT0013)', () => {
  const pas = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: nobody }
spec: { selector: { matchLabels: { app: nobody } }, mtls: { mode: PERMISSIVE } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: reviews }
spec: { selector: { matchLabels: { app: reviews } }, mtls: { mode: PERMISSIVE } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: sel, namespace: istio-system }
spec: { selector: { matchLabels: { app: reviews } } }`;
  const m = mesh(pas);
  const codes = (ms: readonly { code: string; resource: string; path: string }[]) => ms.filter((x) => ['WEFT0012', 'WEFT0013', 'IST0127'].includes(x.code) && x.resource.startsWith('PeerAuthentication')).map((x) => [x.code, x.resource, x.path]);
  assert.deepEqual(codes(analyze(m)).sort(), [
    ['WEFT0012', 'PeerAuthentication istio-system/default', 'spec.mtls.mode'],
    ['WEFT0013', 'PeerAuthentication istio-system/sel', 'spec.selector'],
    ['IST0127', 'PeerAuthentication default/nobody', 'spec.selector.matchLabels'],
  ].sort());
  // With a CA, STRICT is enforced: no WEFT0012.
  assert.deepEqual(codes(analyze({ ...m, trustBundle: ['-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n'] })).map((c) => c[0]).sort(), ['IST0127', 'WEFT0013']);
});
