// Mesh: versioned snapshots of store + registry, debounced; ServiceEntries add services and workloads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigStore } from '../../src/control/store/config-store.js';
import { ServiceRegistry } from '../../src/control/registry/service-registry.js';
import { Mesh } from '../../src/control/mesh.js';
import type { MeshSnapshot } from '../../src/control/model.js';
import type { ServiceEntrySpec } from '../../src/control/api/types.js';
import { fakeValidator, sidecar, vs, waitForEvent } from '../helpers/control-fakes.js';

const se = (name: string, spec: Partial<ServiceEntrySpec>) => ({
  apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name, namespace: 'ns1' },
  spec: { hosts: [], addresses: [], ports: [], location: 'MESH_EXTERNAL', resolution: 'NONE', endpoints: [], exportTo: [], subjectAltNames: [], ...spec },
});

test('changes to the store and the registry close together make one new snapshot with the next version', async (t) => {
  const store = new ConfigStore({ validator: fakeValidator });
  const registry = new ServiceRegistry({ healthCheckIntervalMs: 0 });
  const mesh = new Mesh({ store, registry, debounceMs: 30 });
  mesh.start();
  t.after(() => { mesh.close(); return registry.close(); });
  assert.equal(mesh.current.version, 1);
  const seen: MeshSnapshot[] = [];
  mesh.onSnapshot((m) => seen.push(m));
  const next = waitForEvent<MeshSnapshot>((cb) => mesh.onSnapshot(cb));
  store.apply([{ doc: vs('reviews'), source: 't' }]);
  registry.registerSidecar(sidecar('a', 'reviews'), 'p');
  const m = await next;
  assert.equal(m.version, 2);
  assert.equal(seen.length, 1);
  assert.equal(mesh.current, m);
  assert.deepEqual(m.configs.map((c) => c.metadata.name), ['reviews']);
  assert.deepEqual(m.workloads.map((w) => w.id), ['a']);
  assert.equal(m.domainSuffix, 'cluster.local');
  assert.ok(Object.isFrozen(m) && Object.isFrozen(m.workloads));
});

test('ServiceEntries contribute services, and STATIC / DNS endpoints become workloads', async (t) => {
  const store = new ConfigStore({ validator: fakeValidator });
  const registry = new ServiceRegistry({ healthCheckIntervalMs: 0 });
  const mesh = new Mesh({ store, registry, debounceMs: 10 });
  mesh.start();
  t.after(() => { mesh.close(); return registry.close(); });
  const next = waitForEvent<MeshSnapshot>((cb) => mesh.onSnapshot(cb));
  const r = store.apply([
    { doc: se('static', { hosts: ['db.internal'], location: 'MESH_INTERNAL', resolution: 'STATIC', ports: [{ number: 5432, name: 'tcp', protocol: 'TCP' }],
      endpoints: [{ address: '10.0.0.1', ports: { tcp: 15432 }, locality: 'eu/west', weight: 2 }, { address: '10.0.0.2' }] }), source: 't#1' },
    { doc: se('dns', { hosts: ['api.example.com'], resolution: 'DNS', ports: [{ number: 443, name: 'https', protocol: 'TLS' }] }), source: 't#2' },
    { doc: se('none', { hosts: ['*.example.org'], resolution: 'NONE', ports: [{ number: 80, name: 'http', protocol: 'HTTP' }] }), source: 't#3' },
  ]);
  assert.ok(r.ok);
  const m = await next;
  assert.deepEqual(m.services.map((s) => [s.hostname, s.location, s.resolution, s.source]).sort(), [
    ['*.example.org', 'MESH_EXTERNAL', 'NONE', 'service-entry'],
    ['api.example.com', 'MESH_EXTERNAL', 'DNS', 'service-entry'],
    ['db.internal', 'MESH_INTERNAL', 'STATIC', 'service-entry'],
  ]);
  assert.deepEqual(m.workloads.map((w) => [w.service, w.address, w.ports[0]!.targetPort, w.weight, w.locality?.region, w.source]).sort(), [
    ['api.example.com', 'api.example.com', 443, 1, undefined, 'service-entry'],
    ['db.internal', '10.0.0.1', 15432, 2, 'eu', 'service-entry'],
    ['db.internal', '10.0.0.2', 5432, 1, undefined, 'service-entry'],
  ]);
});
