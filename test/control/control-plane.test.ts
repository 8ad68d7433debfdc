// ControlPlane composition: mesh snapshots reach the generator then the xDS server's push; sidecars
// reach the registry through the ProxyLifecycle given to the xDS server factory; the API serves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ControlPlane, type MeshGeneratorLike } from '../../src/control/control-plane.js';
import type { MeshSnapshot, ProxyLifecycle } from '../../src/control/model.js';
import { fakeAnalyzer, fakeValidator, fakeXds, sidecar, waitForEvent } from '../helpers/control-fakes.js';

test('snapshots go to generator.update then xds.push; sidecar connects register workloads', async (t) => {
  const updates: MeshSnapshot[] = [];
  const xds = fakeXds([]);
  const generator: MeshGeneratorLike = {
    get version() { return updates.at(-1)?.version ?? 0; },
    update(m) { updates.push(m); },
    generate() { return new Map(); },
  };
  let lifecycle: ProxyLifecycle | undefined;
  let xdsOpts: { port: number; host: string; reconnectHoldMs: number } | undefined;
  const cp = new ControlPlane({
    validator: fakeValidator, analyzer: fakeAnalyzer(), generator, httpPort: 0, xdsPort: 0, meshDebounceMs: 10,
    registry: { graceMs: 50, healthCheckIntervalMs: 0 },
    makeXdsServer: (g, l, o) => { assert.equal(g, generator); lifecycle = l; xdsOpts = o; return xds; },
  });
  const { httpPort } = await cp.start();
  t.after(() => cp.close());
  assert.deepEqual(xdsOpts, { port: 0, host: '127.0.0.1', reconnectHoldMs: 15_000 });
  assert.equal(updates.length, 1, 'the generator has the first snapshot before any proxy connects');

  let next = waitForEvent<MeshSnapshot>((cb) => cp.mesh.onSnapshot(cb));
  lifecycle!.onConnected(sidecar('a', 'reviews'), '127.0.0.1:5000');
  let m = await next;
  assert.equal(updates.at(-1), m);
  assert.equal(xds.pushes, 1);
  assert.deepEqual(m.workloads.map((w) => w.id), ['a']);

  next = waitForEvent<MeshSnapshot>((cb) => cp.mesh.onSnapshot(cb));
  const res = await fetch(`http://127.0.0.1:${httpPort}/v1/apply`, { method: 'POST', body: 'apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default}\nspec: {}\n' });
  assert.equal(res.status, 200);
  m = await next;
  assert.deepEqual(m.configs.map((c) => c.kind), ['Sidecar']);
  assert.equal(xds.pushes, 2);

  next = waitForEvent<MeshSnapshot>((cb) => cp.mesh.onSnapshot(cb));
  lifecycle!.onDisconnected(sidecar('a', 'reviews'));
  m = await next;
  assert.deepEqual(m.workloads, []);
});
