// SDS over ADS from the control plane: a proxy subscribing to the Secret type by name (`ROOTCA`, as
// Istio's sidecars do) gets the mesh trust bundle once the CA sets it, and the new bundle after
// `mesh.setTrustBundle` (a root rotation), over SotW and delta; a name that does not exist gets
// nothing (delta: removed). Real ControlPlane, MeshGenerator and XdsServer; a raw grpc-js client.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ControlPlane } from '../../../src/control/control-plane.js';
import { MeshGenerator } from '../../../src/control/translate/index.js';
import { XdsServer } from '../../../src/control/xds-server/server.js';
import { validateDocument } from '../../../src/control/api/index.js';
import { SECRET_TYPE } from '../../../src/xds/resource-types.js';
import { decode, deltaStream, node, sotwStream } from '../../helpers/ads-client.js';

const OLD = '-----BEGIN CERTIFICATE-----\nOLDROOT\n-----END CERTIFICATE-----\n';
const NEW = '-----BEGIN CERTIFICATE-----\nNEWROOT\n-----END CERTIFICATE-----\n';

async function controlPlane(t: { after(fn: () => unknown): void }): Promise<{ cp: ControlPlane; xdsPort: number }> {
  const cp = new ControlPlane({
    validator: validateDocument, analyzer: () => [], generator: new MeshGenerator(), httpPort: 0, xdsPort: 0, meshDebounceMs: 5,
    reconnectHoldMs: 0, registry: { graceMs: 50, healthCheckIntervalMs: 0 },
    makeXdsServer: (generator, lifecycle, { port, host, reconnectHoldMs }) => new XdsServer({ generator, lifecycle, port, host, reconnectHoldMs, debounceMs: 5 }),
  });
  const { xdsPort } = await cp.start();
  t.after(() => cp.close());
  return { cp, xdsPort };
}

const bundleOf = (any: { type_url: string; value: Uint8Array }): { name: string; pem: string } => {
  const j = decode(any) as { name: string; validation_context: { trusted_ca: { inline_string: string } } };
  return { name: j.name, pem: j.validation_context.trusted_ca.inline_string };
};

test('SotW: a proxy subscribed to ROOTCA gets the trust bundle when the CA sets it, then the rotated bundle', async (t) => {
  const { cp, xdsPort } = await controlPlane(t);
  cp.mesh.setTrustBundle([OLD]);
  await new Promise<void>((resolve) => { const off = cp.mesh.onSnapshot((m) => { if (m.trustBundle !== undefined) { off(); resolve(); } }); });
  const s = sotwStream(xdsPort);
  t.after(() => s.close());
  s.send({ node: node('sidecar~127.0.0.1~a.default~default.svc.cluster.local'), type_url: SECRET_TYPE, resource_names: ['ROOTCA'] });
  const first = await s.next();
  assert.equal(first.type_url, SECRET_TYPE);
  assert.deepEqual(first.resources.map(bundleOf), [{ name: 'ROOTCA', pem: OLD }]);
  s.send({ type_url: SECRET_TYPE, resource_names: ['ROOTCA'], response_nonce: first.nonce, version_info: first.version_info });
  // Rotation: the new root joins (signing root first), the old one stays trusted.
  cp.mesh.setTrustBundle([NEW, OLD]);
  const second = await s.next();
  assert.deepEqual(second.resources.map(bundleOf), [{ name: 'ROOTCA', pem: NEW + OLD }]);
  assert.notEqual(second.version_info, first.version_info);
  s.send({ type_url: SECRET_TYPE, resource_names: ['ROOTCA'], response_nonce: second.nonce, version_info: second.version_info });
  cp.mesh.setTrustBundle([NEW]);
  const third = await s.next();
  assert.deepEqual(third.resources.map(bundleOf), [{ name: 'ROOTCA', pem: NEW }]);
});

test('delta: ROOTCA by name, pushed on change; an unknown secret name is answered as removed', async (t) => {
  const { cp, xdsPort } = await controlPlane(t);
  cp.mesh.setTrustBundle([OLD]);
  await new Promise<void>((resolve) => { const off = cp.mesh.onSnapshot((m) => { if (m.trustBundle !== undefined) { off(); resolve(); } }); });
  const s = deltaStream(xdsPort);
  t.after(() => s.close());
  s.send({ node: node('sidecar~127.0.0.1~b.default~default.svc.cluster.local'), type_url: SECRET_TYPE, resource_names_subscribe: ['ROOTCA', 'nope'] });
  const first = await s.next();
  assert.deepEqual(first.resources.map((r) => r.name), ['ROOTCA']);
  assert.deepEqual(bundleOf(first.resources[0]!.resource!), { name: 'ROOTCA', pem: OLD });
  assert.deepEqual(first.removed_resources, ['nope']);
  s.send({ type_url: SECRET_TYPE, response_nonce: first.nonce });
  cp.mesh.setTrustBundle([NEW, OLD]);
  const second = await s.next();
  assert.deepEqual(second.resources.map((r) => bundleOf(r.resource!)), [{ name: 'ROOTCA', pem: NEW + OLD }]);
});
