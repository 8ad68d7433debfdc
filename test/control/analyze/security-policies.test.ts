// `weft analyze` on security policies (src/control/analyze/security-policies.ts): IST0127 for a
// selector matching no workload (AuthorizationPolicy, PeerAuthentication, RequestAuthentication;
// root-namespace policies look in every namespace), WEFT0010 for an ALLOW rule every request of
// which a DENY rule on the same workload denies, WEFT0011 for a CUSTOM provider missing from the
// mesh config; and silence on a healthy set.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyze } from '../../../src/control/analyze/index.js';
import { applyYaml } from '../../helpers/istio-translate.js';
import type { ConfigResource, MeshConfig, MeshSnapshot, ServiceDef, Workload } from '../../../src/control/model.js';
import { DEFAULT_MESH_CONFIG } from '../../../src/control/model.js';

function configs(yaml: string): ConfigResource[] {
  const r = applyYaml(yaml);
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  return [...r.configs];
}

const svc = (name: string, namespace = 'default'): ServiceDef => ({
  hostname: `${name}.${namespace}.svc.cluster.local`, name, namespace,
  ports: [{ name: 'http', port: 9080, protocol: 'HTTP' }], location: 'MESH_INTERNAL', resolution: 'STATIC', source: 'file',
});
const wl = (service: string, namespace = 'default'): Workload => ({
  id: `${service}-1.${namespace}`, service, namespace, labels: { app: service }, address: '127.0.0.1',
  ports: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'HTTP' }], weight: 1, healthy: true, source: 'file',
});

function mesh(c: ConfigResource[], meshConfig?: MeshConfig): MeshSnapshot {
  return {
    version: 1, configs: c, domainSuffix: 'cluster.local',
    services: [svc('reviews'), svc('ratings'), svc('httpbin', 'foo')],
    workloads: [wl('reviews'), wl('ratings'), wl('httpbin', 'foo')],
    ...(meshConfig !== undefined ? { meshConfig } : {}),
  };
}

const brief = (m: MeshSnapshot): string[] => analyze(m).map((x) => `${x.level} ${x.code} ${x.resource} ${x.path}`);

const ap = (name: string, spec: string, ns = 'default', meta = ''): string =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n${meta}spec:\n${spec}\n---\n`;

test('healthy policies: nothing reported', () => {
  const c = configs([
    ap('reviews-viewer', '  selector: { matchLabels: { app: reviews } }\n  rules:\n  - to: [{ operation: { methods: ["GET"] } }]'),
    ap('deny-admin', '  action: DENY\n  rules:\n  - to: [{ operation: { paths: ["/admin"] } }]'),
    ap('mesh-httpbin', '  selector: { matchLabels: { app: httpbin } }\n  action: DENY\n  rules:\n  - to: [{ operation: { methods: ["DELETE"] } }]', 'istio-system'),
  ].join(''));
  assert.deepEqual(brief(mesh(c)), []);
});

test('IST0127: selectors that match no workload, for each security kind (root namespace looks everywhere)', () => {
  const c = configs(ap('nothing', '  selector: { matchLabels: { app: nope } }\n  rules:\n  - {}')
    + ap('wrong-ns', '  selector: { matchLabels: { app: httpbin } }\n  rules:\n  - {}'));
  // The other kinds are validated by other parts; their selectors are read the same way.
  const meta = (kind: string, name: string) => ({ apiVersion: 'security.istio.io/v1', kind, metadata: { name, namespace: 'default', labels: {}, annotations: {}, resourceVersion: '', creationTimestamp: '', generation: 1 } });
  c.push({ ...meta('PeerAuthentication', 'pa'), spec: { selector: { matchLabels: { app: 'gone' } } } } as ConfigResource);
  c.push({ ...meta('RequestAuthentication', 'ra'), spec: { selector: { matchLabels: { app: 'reviews' } } } } as ConfigResource);
  const msgs = analyze(mesh(c));
  assert.deepEqual(msgs.map((m) => `${m.level} ${m.code} ${m.resource} ${m.path}`), [
    'Warning IST0127 AuthorizationPolicy default/nothing spec.selector.matchLabels',
    'Warning IST0127 AuthorizationPolicy default/wrong-ns spec.selector.matchLabels',
    'Warning IST0127 PeerAuthentication default/pa spec.selector.matchLabels',
  ]);
  assert.match(msgs[0]!.message, /No matching workloads for this resource with the following labels: app=nope \(in namespace default\)/);
});

test('WEFT0010: an ALLOW rule fully shadowed by a DENY rule on a common workload; partial overlap is not reported', () => {
  const c = configs([
    ap('allow-get', '  selector: { matchLabels: { app: reviews } }\n  rules:\n  - from: [{ source: { principals: ["cluster.local/ns/default/sa/a"] } }]\n    to: [{ operation: { methods: ["GET"], paths: ["/x"] } }]\n  - to: [{ operation: { methods: ["POST"] } }]'),
    ap('deny-get', '  action: DENY\n  rules:\n  - to: [{ operation: { methods: ["GET", "HEAD"] } }]'),
    // Broader than POST-only on ratings, but ratings is not selected by allow-get.
    ap('deny-ratings', '  selector: { matchLabels: { app: ratings } }\n  action: DENY\n  rules:\n  - {}'),
    // A dry-run DENY denies nothing.
    ap('dry', '  action: DENY\n  rules:\n  - {}', 'default', '  annotations:\n    istio.io/dry-run: "true"\n'),
  ].join(''));
  const msgs = analyze(mesh(c)).filter((m) => m.code === 'WEFT0010');
  assert.deepEqual(msgs.map((m) => [m.resource, m.path]), [['AuthorizationPolicy default/allow-get', 'spec.rules[0]']]);
  assert.match(msgs[0]!.message, /denied by AuthorizationPolicy default\/deny-get spec\.rules\[0\] \(DENY is evaluated first\) on reviews-1\.default/);
  // A root-namespace catch-all DENY shadows everything it shares a workload with.
  const all = configs(ap('allow-any', '  rules:\n  - {}', 'foo') + ap('deny-all', '  action: DENY\n  rules:\n  - {}', 'istio-system'));
  assert.deepEqual(brief(mesh(all)), ['Warning WEFT0010 AuthorizationPolicy foo/allow-any spec.rules[0]']);
});

test('WEFT0011: a CUSTOM provider the mesh config does not define', () => {
  const c = configs(ap('ext', '  action: CUSTOM\n  provider: { name: my-authz }\n  rules:\n  - {}'));
  const msgs = analyze(mesh(c));
  assert.deepEqual(msgs.map((m) => `${m.level} ${m.code} ${m.resource} ${m.path}`), ['Error WEFT0011 AuthorizationPolicy default/ext spec.provider.name']);
  assert.match(msgs[0]!.message, /"my-authz" is not defined in the mesh config \(no extensionProviders\)/);
  const withProvider: MeshConfig = { ...DEFAULT_MESH_CONFIG, extensionProviders: [{ name: 'my-authz', kind: 'envoyExtAuthzHttp', spec: {} }] };
  assert.deepEqual(brief(mesh(c, withProvider)), []);
});
