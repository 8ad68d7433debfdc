// The mesh end to end: `weft control`, three services each behind a `weft sidecar` process, and
// Istio resources applied through the control plane's API. A VirtualService shifts traffic 90/10,
// a header match pins a user to v2, a Sidecar resource shrinks what a proxy receives, and the
// control plane restarted under traffic loses no request and no config.

import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parallel } from '../helpers/bootstrap.js';
import {
  apply, proxyStatus, startControl, startSidecar, startVersionApp, versionVia, waitUntil,
  type ControlProcess, type SidecarProcess,
} from '../helpers/mesh.js';

const DR = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: backend, namespace: default}
spec:
  host: backend
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;

const split = (v1: number, v2: number) => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: backend, namespace: default}
spec:
  hosts: [backend]
  http:
  - route:
    - {destination: {host: backend, subset: v1}, weight: ${v1}}
    - {destination: {host: backend, subset: v2}, weight: ${v2}}
`;

const PIN = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: backend, namespace: default}
spec:
  hosts: [backend]
  http:
  - match:
    - headers: {end-user: {exact: jason}}
    route:
    - destination: {host: backend, subset: v2}
  - route:
    - destination: {host: backend, subset: v1}
`;

const SCOPE = `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: default}
spec:
  egress:
  - hosts: ["./backend.default.svc.cluster.local"]
`;

/** Waits until the proxy whose id contains `name` has ACKed a new version of every type (after `apply`). */
async function synced(control: ControlProcess, name: string, before?: Record<string, string>): Promise<Record<string, string>> {
  let versions: Record<string, string> = {};
  await waitUntil(`${name} SYNCED${before ? ' on a new version' : ''}`, async () => {
    const row = (await proxyStatus(control.api)).find((p) => p.id.includes(name));
    if (row === undefined) return false;
    const types = Object.entries(row.types);
    if (types.length < 4 || types.some(([, s]) => s.state !== 'SYNCED')) return false;
    versions = Object.fromEntries(types.map(([k, s]) => [k, s.sentVersion]));
    return before === undefined || types.some(([k, s]) => s.sentVersion !== before[k]);
  });
  return versions;
}

async function clusterNames(sidecar: SidecarProcess): Promise<string[]> {
  const r = await fetch(`http://127.0.0.1:${sidecar.admin}/clusters?format=json`);
  const body = await r.json() as { cluster_statuses?: { name: string }[] };
  return (body.cluster_statuses ?? []).map((c) => c.name).sort();
}

/**
 * backend v1 and v2 (service port 9080) and frontend (9090), each app behind its own sidecar;
 * returns the frontend's sidecar, the client the tests call through.
 */
async function startServices(t: TestContext, control: ControlProcess): Promise<SidecarProcess> {
  const v1 = await startVersionApp('v1');
  const v2 = await startVersionApp('v2');
  const front = await startVersionApp('frontend');
  t.after(() => Promise.all([v1.close(), v2.close(), front.close()]));
  const sidecars = await Promise.all([
    startSidecar(control, { service: 'backend', appPort: v1.port, servicePort: 9080, labels: 'version=v1' }),
    startSidecar(control, { service: 'backend', appPort: v2.port, servicePort: 9080, labels: 'version=v2' }),
    startSidecar(control, { service: 'frontend', appPort: front.port, servicePort: 9090 }),
  ]);
  t.after(() => Promise.all(sidecars.map((s) => s.stop())));
  return sidecars[2]!;
}

test('a three-service mesh: 90/10 split, a user pinned to v2, Sidecar scoping', async (t) => {
  const control = await startControl();
  t.after(() => control.stop());
  const client = await startServices(t, control);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
  t.after(() => agent.destroy());

  // With no VirtualService, both versions serve (round robin over the service's endpoints).
  await waitUntil('both backend versions reachable', async () => {
    const seen = new Set(await parallel(20, 5, () => versionVia(client.outbound, 'backend:9080', {}, agent)));
    return seen.has('v1') && seen.has('v2');
  });

  let before = await synced(control, 'frontend');
  await apply(control.api, DR + '---' + split(90, 10));
  before = await synced(control, 'frontend', before);
  const answers = await parallel(1000, 10, () => versionVia(client.outbound, 'backend.default.svc.cluster.local:9080', {}, agent));
  const v2Share = answers.filter((a) => a === 'v2').length / answers.length;
  assert.equal(answers.filter((a) => a !== 'v1' && a !== 'v2').length, 0, `every request answered: ${[...new Set(answers)]}`);
  assert.ok(Math.abs(v2Share - 0.10) <= 0.05, `v2 share ${v2Share} within 10% ± 5%`);

  await apply(control.api, PIN);
  before = await synced(control, 'frontend', before);
  const jason = await parallel(20, 5, () => versionVia(client.outbound, 'backend:9080', { 'end-user': 'jason' }, agent));
  const others = await parallel(20, 5, () => versionVia(client.outbound, 'backend:9080', { 'end-user': 'kim' }, agent));
  assert.deepEqual(new Set(jason), new Set(['v2']));
  assert.deepEqual(new Set(others), new Set(['v1']));

  // Scoping: before the Sidecar resource the frontend's proxy has the frontend's own clusters too;
  // after it, only what it may call (backend) plus its inbound cluster.
  const all = await clusterNames(client);
  assert.ok(all.some((n) => n.startsWith('outbound|9090||frontend.default')), `frontend cluster present: ${all}`);
  await apply(control.api, SCOPE);
  await synced(control, 'frontend', before);
  const scoped = await clusterNames(client);
  assert.ok(scoped.length < all.length, `fewer clusters: ${scoped} vs ${all}`);
  assert.ok(!scoped.some((n) => n.includes('frontend.default.svc')), `no frontend outbound cluster: ${scoped}`);
  assert.ok(scoped.some((n) => n.startsWith('outbound|9080|v2|backend.default')), `backend subsets kept: ${scoped}`);
  assert.equal(await versionVia(client.outbound, 'backend:9080', { 'end-user': 'jason' }, agent), 'v2');
});

test('the control plane restarted under traffic: no request lost, proxies resync, nothing applied is lost', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'weft-e2e-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  let control = await startControl(['--data-dir', dataDir]);
  const ports = { xds: control.xdsPort, http: control.httpPort };
  t.after(() => control.stop());
  const client = await startServices(t, control);
  const before = await synced(control, 'frontend');
  await apply(control.api, DR + '---' + split(0, 100));
  await synced(control, 'frontend', before);
  assert.equal(await versionVia(client.outbound, 'backend:9080'), 'v2');

  // Traffic runs while the control plane stops and comes back on the same ports and data dir.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  t.after(() => agent.destroy());
  let running = true;
  const results: string[] = [];
  const traffic = parallel(4, 4, async () => {
    while (running) results.push(await versionVia(client.outbound, 'backend:9080', {}, agent).catch((e: Error) => `error ${e.message}`));
  });
  await control.stop();
  const duringOutage = results.length;
  control = await startControl(['--data-dir', dataDir], ports);
  // Every sidecar reconnects and is SYNCED again; the applied VirtualService survived the restart.
  await waitUntil('3 proxies SYNCED after the restart', async () => {
    const rows = await proxyStatus(control.api);
    return rows.length === 3 && rows.every((r) => Object.keys(r.types).length >= 4 && Object.values(r.types).every((s) => s.state === 'SYNCED'));
  }, 60_000);
  const vs = await (await fetch(`http://${control.api}/v1/config/virtualservice/default/backend`)).json() as { spec: { http: unknown[] } };
  assert.equal(vs.spec.http.length, 1);
  await waitUntil('more traffic after the resync', async () => results.length > duringOutage + 50);
  running = false;
  await traffic;
  const bad = results.filter((r) => r !== 'v2');
  assert.deepEqual(bad, [], `all ${results.length} requests answered by v2`);
});
