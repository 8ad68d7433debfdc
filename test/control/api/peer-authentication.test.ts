// PeerAuthentication (security.istio.io/v1) through `weft apply`'s path: Istio's documentation
// examples validate, mistakes are refused naming the field path, and the effective mode per
// workload and port follows Istio's composition (workload > namespace > mesh > PERMISSIVE, UNSET
// inherits, oldest wins, portLevelMtls by port, root-namespace selector policies apply to nothing).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigResource } from '../../../src/control/model.js';
import { MeshIndex } from '../../../src/control/translate/mesh-index.js';
import { peerAuthMode } from '../../../src/control/translate/security/mtls.js';
import { applyYaml, meshOf } from '../../helpers/istio-translate.js';

const PA = (ns: string, name: string, spec: string): string =>
  `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec}`;

function apply(...docs: string[]): readonly ConfigResource[] {
  const r = applyYaml(docs.join('\n---\n'), 'pa.yaml');
  if (!r.ok) assert.fail(r.errors.join('\n'));
  return r.configs;
}

const errorsOf = (...docs: string[]): readonly string[] => {
  const r = applyYaml(docs.join('\n---\n'), 'pa.yaml');
  assert.equal(r.ok, false, 'expected the document to be refused');
  return r.ok ? [] : r.errors;
};

// istio.io/latest/docs/reference/config/security/peer_authentication/ and the mTLS migration task.
const MESH_STRICT = PA('istio-system', 'default', '  mtls:\n    mode: STRICT\n');
const NS_PERMISSIVE = PA('foo', 'default', '  mtls:\n    mode: PERMISSIVE\n');
const FINANCE = PA('foo', 'finance', '  selector:\n    matchLabels:\n      app: finance\n  mtls:\n    mode: STRICT\n  portLevelMtls:\n    8080:\n      mode: DISABLE\n');

test('the Istio docs examples validate: mesh-wide STRICT, namespace PERMISSIVE, workload STRICT with portLevelMtls DISABLE', () => {
  const configs = apply(MESH_STRICT, NS_PERMISSIVE, FINANCE);
  assert.equal(configs.length, 3);
  const finance = configs.find((c) => c.metadata.name === 'finance')!;
  assert.deepEqual(finance.spec, { selector: { matchLabels: { app: 'finance' } }, mtls: { mode: 'STRICT' }, portLevelMtls: { 8080: { mode: 'DISABLE' } } });
  assert.ok(Object.isFrozen(finance.spec));
  // security.istio.io/v1beta1 is accepted too, and an empty spec means "inherit" everywhere.
  apply(PA('foo', 'empty', '  {}\n').replace('security.istio.io/v1', 'security.istio.io/v1beta1'));
});

test('mistakes are refused with the field path: mode values, portLevelMtls without a selector, bad port keys, unknown fields', () => {
  assert.deepEqual(errorsOf(PA('foo', 'a', '  mtls: { mode: STRIKT }\n')), [
    'pa.yaml#1: PeerAuthentication foo/a: spec.mtls.mode: expected one of UNSET, DISABLE, PERMISSIVE, STRICT, got "STRIKT"',
  ]);
  assert.deepEqual(errorsOf(PA('foo', 'a', '  mtls: { mode: STRICT }\n  portLevelMtls: { 8080: { mode: DISABLE } }\n')), [
    'pa.yaml#1: PeerAuthentication foo/a: spec.portLevelMtls: expected only with a selector (Istio: a namespace-wide or mesh-wide PeerAuthentication cannot have port-level mTLS)',
  ]);
  assert.deepEqual(errorsOf(PA('foo', 'a', '  selector: { matchLabels: { app: x } }\n  portLevelMtls: { "0": { mode: DISABLE }, http: { mode: STRICT }, 9080: { mod: STRICT } }\n')), [
    'pa.yaml#1: PeerAuthentication foo/a: spec.portLevelMtls["0"]: expected a port number in 1..65535 as the key, got "0"',
    // (integer-like keys come first in a JS object, as YAML maps them)
    'pa.yaml#1: PeerAuthentication foo/a: spec.portLevelMtls["9080"].mod: unknown field (did you mean mode?)',
    'pa.yaml#1: PeerAuthentication foo/a: spec.portLevelMtls["http"]: expected a port number in 1..65535 as the key, got "http"',
  ]);
  assert.deepEqual(errorsOf(PA('foo', 'a', '  selector: { labels: { app: x } }\n  mtls: STRICT\n')), [
    'pa.yaml#1: PeerAuthentication foo/a: spec.selector.labels: unknown field',
    'pa.yaml#1: PeerAuthentication foo/a: spec.mtls: expected an object, got "STRICT"',
  ]);
  assert.deepEqual(errorsOf(PA('foo', 'a', '  selector: { matchLabels: { app: x } }\n  portLevelMtls: {}\n')), [
    'pa.yaml#1: PeerAuthentication foo/a: spec.portLevelMtls: expected at least one port when set',
  ]);
});

function indexOf(...docs: string[]): MeshIndex {
  return new MeshIndex(meshOf(apply(...docs)), 'cluster.local');
}

test('effective mode: workload selector > namespace > mesh-wide > PERMISSIVE, portLevelMtls by port', () => {
  const none = indexOf(PA('bar', 'unrelated', '  mtls: { mode: DISABLE }\n'));
  assert.equal(peerAuthMode(none, 'foo', { app: 'x' }, 80), 'PERMISSIVE', 'nothing applies: PERMISSIVE');
  const ix = indexOf(MESH_STRICT, NS_PERMISSIVE, FINANCE);
  assert.equal(peerAuthMode(ix, 'default', { app: 'x' }, 80), 'STRICT', 'mesh-wide STRICT');
  assert.equal(peerAuthMode(ix, 'foo', { app: 'x' }, 80), 'PERMISSIVE', 'the namespace overrides the mesh');
  assert.equal(peerAuthMode(ix, 'foo', { app: 'finance' }, 80), 'STRICT', 'the workload overrides the namespace');
  assert.equal(peerAuthMode(ix, 'foo', { app: 'finance' }, 8080), 'DISABLE', 'the port overrides the workload');
});

test('effective mode: UNSET inherits from the level above, port UNSET from the policy, oldest wins, root-namespace selectors apply to nothing', () => {
  const ix = indexOf(
    MESH_STRICT,
    PA('foo', 'default', '  mtls: { mode: UNSET }\n'),
    PA('foo', 'w', '  selector: { matchLabels: { app: w } }\n  portLevelMtls: { 9000: { mode: UNSET }, 9001: { mode: PERMISSIVE } }\n'),
    PA('foo', 'w2', '  selector: { matchLabels: { app: w } }\n  mtls: { mode: DISABLE }\n'),
    PA('istio-system', 'sel', '  selector: { matchLabels: { app: v } }\n  mtls: { mode: DISABLE }\n'),
  );
  assert.equal(peerAuthMode(ix, 'foo', { app: 'x' }, 80), 'STRICT', 'UNSET namespace policy inherits the mesh');
  // foo/w and foo/w2 are equally old here (same creation time): the name decides, w first.
  assert.equal(peerAuthMode(ix, 'foo', { app: 'w' }, 80), 'STRICT', 'w (no mode) inherits; w2 loses as the younger');
  assert.equal(peerAuthMode(ix, 'foo', { app: 'w' }, 9000), 'STRICT');
  assert.equal(peerAuthMode(ix, 'foo', { app: 'w' }, 9001), 'PERMISSIVE');
  assert.equal(peerAuthMode(ix, 'foo', { app: 'v' }, 80), 'STRICT', 'a selector policy in the root namespace is ignored');
  assert.equal(peerAuthMode(ix, 'istio-system', { app: 'v' }, 80), 'STRICT');
});

test('the root namespace follows the mesh config', () => {
  const configs = apply(PA('mesh-root', 'default', '  mtls: { mode: STRICT }\n'), MESH_STRICT.replace('STRICT', 'DISABLE'));
  const ix = new MeshIndex({ ...meshOf(configs), meshConfig: { trustDomain: 'cluster.local', rootNamespace: 'mesh-root', extensionProviders: [] } }, 'cluster.local');
  assert.equal(peerAuthMode(ix, 'default', {}, 80), 'STRICT');
  assert.equal(peerAuthMode(new MeshIndex(meshOf(configs), 'cluster.local'), 'default', {}, 80), 'DISABLE');
});
