// AuthorizationPolicy validation (src/control/api/authorization-policy.ts) through `weft apply`'s
// path: documents written after the istio.io authorization tasks (HTTP, TCP, JWT, deny, ingress,
// ext_authz, dry-run, trust-domain migration) apply unchanged; bad documents are refused with the
// field path and Istio's rule.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyYaml } from '../../helpers/istio-translate.js';
import type { AuthorizationPolicySpec } from '../../../src/control/api/authorization-policy.js';

function specs(yaml: string): Map<string, AuthorizationPolicySpec> {
  const r = applyYaml(yaml);
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  return new Map(r.configs.map((c) => [`${c.metadata.namespace}/${c.metadata.name}`, c.spec as AuthorizationPolicySpec]));
}

function errors(yaml: string): string[] {
  const r = applyYaml(yaml);
  assert.ok(!r.ok, 'expected the document to be refused');
  return [...r.errors];
}

function has(errs: readonly string[], path: string, text: string | RegExp): void {
  const hit = errs.find((e) => e.includes(`: ${path}: `) && (typeof text === 'string' ? e.includes(text) : text.test(e)));
  assert.ok(hit, `no error at ${path} matching ${String(text)} in:\n${errs.join('\n')}`);
}

const ap = (name: string, spec: string, ns = 'default', extraMeta = ''): string =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n${extraMeta}spec:\n${spec}\n---\n`;

test('documents modelled on the istio.io authorization tasks apply unchanged', () => {
  const s = specs([
    // allow-nothing (HTTP traffic task): an empty spec is ALLOW without rules.
    'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: allow-nothing\n  namespace: default\nspec: {}\n---\n',
    ap('productpage-viewer', '  selector:\n    matchLabels:\n      app: productpage\n  action: ALLOW\n  rules:\n  - to:\n    - operation:\n        methods: ["GET"]'),
    ap('details-viewer', '  selector:\n    matchLabels:\n      app: details\n  action: ALLOW\n  rules:\n  - from:\n    - source:\n        principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]\n    to:\n    - operation:\n        methods: ["GET"]'),
    ap('tcp-policy', '  selector:\n    matchLabels:\n      app: tcp-echo\n  action: ALLOW\n  rules:\n  - to:\n    - operation:\n        ports: ["9000", "9001"]', 'foo'),
    ap('require-jwt', '  selector:\n    matchLabels:\n      app: httpbin\n  action: ALLOW\n  rules:\n  - from:\n    - source:\n        requestPrincipals: ["testing@secure.istio.io/testing@secure.istio.io"]\n    when:\n    - key: request.auth.claims[groups]\n      values: ["group1"]', 'foo'),
    ap('deny-method-get', '  selector:\n    matchLabels:\n      app: httpbin\n  action: DENY\n  rules:\n  - to:\n    - operation:\n        methods: ["GET"]\n    when:\n    - key: request.headers[x-token]\n      notValues: ["admin"]', 'foo'),
    ap('allow-path-ip', '  selector:\n    matchLabels:\n      app: httpbin\n  action: ALLOW\n  rules:\n  - from:\n    - source:\n        notNamespaces: ["bar"]\n        ipBlocks: ["10.0.0.0/8", "192.168.1.7"]\n        remoteIpBlocks: ["2001:db8::/32"]\n    to:\n    - operation:\n        notPaths: ["/ip", "/admin/*"]\n        hosts: ["*.example.com", "httpbin:8000"]\n        paths: ["/api/{*}/items/{**}"]', 'foo'),
    ap('ext-authz', '  selector:\n    matchLabels:\n      app: httpbin\n  action: CUSTOM\n  provider:\n    name: sample-ext-authz-grpc\n  rules:\n  - to:\n    - operation:\n        paths: ["/headers"]', 'foo'),
    ap('audit', '  action: AUDIT\n  rules:\n  - to:\n    - operation:\n        paths: ["/data"]', 'foo'),
    ap('dry-run-deny', '  action: DENY\n  rules:\n  - to:\n    - operation:\n        methods: ["POST"]', 'foo', '  annotations:\n    "istio.io/dry-run": "true"\n'),
    ap('migration', '  action: ALLOW\n  rules:\n  - from:\n    - source:\n        principals: ["old-td/ns/foo/sa/sleep", "*/ns/foo/sa/sleep", "spiffe-prefix*", "*"]\n    when:\n    - key: source.ip\n      values: ["10.1.2.3"]\n    - key: remote.ip\n      notValues: ["10.0.0.0/8"]\n    - key: destination.port\n      values: ["8000"]\n    - key: connection.sni\n      values: ["*.example.com"]\n    - key: request.auth.claims[nested][key]\n      values: ["v"]\n    - key: request.auth.audiences\n      values: ["aud1"]\n    - key: request.auth.presenter\n      values: ["azp1"]\n    - key: request.auth.principal\n      values: ["iss/sub"]\n    - key: source.namespace\n      values: ["foo"]\n    - key: source.principal\n      values: ["cluster.local/ns/foo/sa/sleep"]\n    - key: destination.ip\n      values: ["127.0.0.1"]', 'foo'),
    ap('mesh-deny', '  action: DENY\n  rules:\n  - from:\n    - source:\n        serviceAccounts: ["sleep", "bar/curl"]', 'istio-system'),
    ap('allow-all', '  rules:\n  - {}', 'bar'),
  ].join(''));
  assert.deepEqual(s.get('default/allow-nothing'), { action: 'ALLOW', rules: [] });
  assert.deepEqual(s.get('default/details-viewer'), {
    selector: { matchLabels: { app: 'details' } },
    action: 'ALLOW',
    rules: [{ from: [{ principals: ['cluster.local/ns/default/sa/bookinfo-productpage'] }], to: [{ methods: ['GET'] }], when: [] }],
  });
  assert.deepEqual(s.get('foo/require-jwt')!.rules[0]!.when, [{ key: 'request.auth.claims[groups]', values: ['group1'] }]);
  assert.deepEqual(s.get('foo/ext-authz')!.provider, { name: 'sample-ext-authz-grpc' });
  assert.deepEqual(s.get('bar/allow-all')!.rules, [{ from: [], to: [], when: [] }]);
  assert.equal(s.get('foo/audit')!.action, 'AUDIT');
  assert.equal(s.size, 13);
});

test('security.istio.io/v1beta1 is accepted too; networking groups are not', () => {
  const ok = applyYaml('apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata:\n  name: a\nspec: {}\n');
  assert.ok(ok.ok);
  const bad = applyYaml('apiVersion: networking.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: a\nspec: {}\n');
  assert.ok(!bad.ok && bad.errors.some((e) => e.includes('apiVersion')), JSON.stringify(bad));
});

test('bad AuthorizationPolicies are refused with the field path and what Istio expects', () => {
  const e = errors([
    ap('a', '  targetRef:\n    kind: Gateway\n    name: gw\n  action: MAYBE'),
    ap('b', '  action: CUSTOM\n  rules:\n  - {}'),
    ap('c', '  action: ALLOW\n  provider:\n    name: x\n  rules:\n  - {}'),
    ap('d', '  action: DENY'),
    ap('e', '  rules:\n  - from:\n    - source: {}\n    to:\n    - operation: {}\n  - from: []\n  - to:\n    - {}'),
    ap('f', '  rules:\n  - when:\n    - key: source.ip\n    - key: request.foo\n      values: ["x"]\n    - key: experimental.envoy.filters.network.mysql_proxy[db.table]\n      values: ["[update]"]\n    - key: request.auth.claims[]\n      values: ["x"]\n    - key: source.ip\n      values: ["not-an-ip"]\n    - key: destination.port\n      values: ["http"]'),
    ap('g', '  rules:\n  - from:\n    - source:\n        ipBlocks: ["1.2.3.4/40"]\n        principals: [""]\n        serviceAccounts: ["sa"]\n    to:\n    - operation:\n        ports: ["99999"]\n        paths: ["/a/{x}"]\n        methods: ["GET"]\n        verbs: ["x"]'),
    ap('h', '  action: CUSTOM\n  provider:\n    name: p\n  rules:\n  - from:\n    - source:\n        principals: ["a"]\n    when:\n    - key: request.auth.claims[iss]\n      values: ["x"]'),
    ap('i', '  selector:\n    labels:\n      app: x'),
  ].join(''));
  has(e, 'spec.targetRef', 'not supported yet');
  has(e, 'spec.action', 'one of ALLOW, DENY, AUDIT, CUSTOM');
  has(e, 'spec.provider', 'with action CUSTOM');
  has(e, 'spec.provider', 'only allowed with action CUSTOM');
  has(e, 'spec.rules', 'at least one rule with action DENY');
  has(e, 'spec.rules[0].from[0].source', 'at least one field');
  has(e, 'spec.rules[0].to[0].operation', 'at least one field');
  has(e, 'spec.rules[1].from', 'non-empty list');
  has(e, 'spec.rules[2].to[0].operation', 'expected an operation');
  has(e, 'spec.rules[0].when[0]', 'values or notValues');
  has(e, 'spec.rules[0].when[1].key', 'unknown key "request.foo"');
  has(e, 'spec.rules[0].when[2].key', 'experimental keys are not supported yet');
  has(e, 'spec.rules[0].when[3].key', 'request.auth.claims[<claim>]');
  has(e, 'spec.rules[0].when[4].values[0]', 'an IP address or CIDR block');
  has(e, 'spec.rules[0].when[5].values[0]', 'a port number');
  has(e, 'spec.rules[0].from[0].source.ipBlocks[0]', 'an IP address or CIDR block');
  has(e, 'spec.rules[0].from[0].source.principals[0]', 'a non-empty string');
  has(e, 'spec.rules[0].from[0].source.principals', 'cannot be set with serviceAccounts');
  has(e, 'spec.rules[0].to[0].operation.ports[0]', 'a port number');
  has(e, 'spec.rules[0].to[0].operation.paths[0]', 'template segments');
  has(e, 'spec.rules[0].to[0].operation.verbs', 'unknown field');
  has(e, 'spec.rules[0].from[0].source.principals', 'not supported with action CUSTOM');
  has(e, 'spec.rules[0].when[0].key', 'not supported with action CUSTOM');
  has(e, 'spec.selector.labels', 'unknown field');
});
