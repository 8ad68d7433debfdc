// Process lifecycle in a running mesh, under traffic: a sidecar stopped with SIGTERM leaves the
// mesh the way Istio's does (its endpoint leaves EDS first, it keeps serving through the drain
// duration, then drains and exits), and a control plane restarted without --data-dir (an empty
// registry) does not push a config that takes services away from reconnecting proxies.
// Both assert that not one request failed.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRootCertificate, generateKeyPair } from '../../src/security/x509.js';
import { test } from 'node:test';
import {
  hammer, proxyStatus, startControl, startSidecar, startVersionApp, versionVia, waitUntil,
  type ControlProcess, type SidecarProcess,
} from '../helpers/mesh.js';

async function allSynced(control: ControlProcess, n: number): Promise<boolean> {
  const rows = await proxyStatus(control.api);
  return rows.length === n && rows.every((r) => Object.keys(r.types).length >= 4 && Object.values(r.types).every((s) => s.state === 'SYNCED'));
}

test('a sidecar stopped with SIGTERM leaves EDS first and serves through its drain duration: no request fails', async (t) => {
  const control = await startControl();
  t.after(() => control.stop());
  const a = await startVersionApp('a');
  const b = await startVersionApp('b');
  const front = await startVersionApp('frontend');
  t.after(() => Promise.all([a.close(), b.close(), front.close()]));
  const [sa, sb, client] = await Promise.all([
    startSidecar(control, { service: 'backend', appPort: a.port, servicePort: 9080, labels: 'version=a', extra: ['--drain-duration', '3s', '--drain-time-s', '2'] }),
    startSidecar(control, { service: 'backend', appPort: b.port, servicePort: 9080, labels: 'version=b' }),
    startSidecar(control, { service: 'frontend', appPort: front.port, servicePort: 9090 }),
  ]);
  t.after(() => Promise.all([sa, sb, client].map((s) => s.stop())));
  await waitUntil('both backend instances answer', async () => {
    const seen = new Set(await Promise.all(Array.from({ length: 10 }, () => versionVia(client.outbound, 'backend:9080'))));
    return seen.has('a') && seen.has('b');
  });

  const load = hammer(t, client);
  await waitUntil('traffic flowing', async () => load.results.length > 200);
  const stoppedAt = Date.now();
  sa.proc.kill('SIGTERM');
  // The control plane removes the workload as soon as the sidecar ends its stream (not after the
  // 5 s reconnect grace period), while the sidecar still serves.
  await control.proc.waitFor(/sidecar sidecar~[^ ]*backend-a-[^ ]* is leaving: workload removed/, 0, 10_000);
  assert.ok(Date.now() - stoppedAt < 2500, 'the workload left before the drain duration ended');
  const exit = await sa.proc.exited;
  assert.equal(exit, 0, sa.proc.output());
  const atExit = load.results.length;
  await waitUntil('traffic after the sidecar exited', async () => load.results.length > atExit + 200);
  await load.stop();
  const failed = load.results.filter((r) => r !== 'a' && r !== 'b');
  assert.deepEqual(failed.slice(0, 10), [], `${failed.length} of ${load.results.length} requests failed`);
  assert.deepEqual(new Set(load.results.slice(atExit)), new Set(['b']), 'after the exit only b answers');
});

test('a control plane restarted without --data-dir holds reconnecting proxies until their peers are back: no 404, no 503', async (t) => {
  // Without --data-dir the CA's own root would be new after the restart; a plug-in CA (files, as
  // Istio's cacerts) keeps the mesh's trust across it, as a real deployment does.
  const dir = mkdtempSync(join(tmpdir(), 'weft-lifecycle-ca-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kp = generateKeyPair();
  writeFileSync(join(dir, 'root.pem'), await createRootCertificate(kp, 'O=cluster.local', 86_400_000));
  writeFileSync(join(dir, 'key.pem'), kp.privateKeyPem);
  const ca = ['--ca-cert', join(dir, 'root.pem'), '--ca-key', join(dir, 'key.pem'), '--ca-chain', join(dir, 'root.pem'), '--root-cert', join(dir, 'root.pem')];
  let control = await startControl(ca);
  const ports = { xds: control.xdsPort, http: control.httpPort };
  const caPort = ['--ca-port', String(control.caPort)];
  t.after(() => control.stop());
  const v1 = await startVersionApp('v1');
  const front = await startVersionApp('frontend');
  t.after(() => Promise.all([v1.close(), front.close()]));
  const sidecars = await Promise.all([
    startSidecar(control, { service: 'backend', appPort: v1.port, servicePort: 9080, labels: 'version=v1' }),
    startSidecar(control, { service: 'frontend', appPort: front.port, servicePort: 9090 }),
  ]);
  t.after(() => Promise.all(sidecars.map((s) => s.stop())));
  const client = sidecars[1]!;
  await waitUntil('frontend reaches backend', async () => await versionVia(client.outbound, 'backend:9080') === 'v1');
  await waitUntil('2 proxies SYNCED', () => allSynced(control, 2));

  const load = hammer(t, client);
  await waitUntil('traffic flowing', async () => load.results.length > 100);
  await control.stop();
  const outage = load.results.length;
  await waitUntil('traffic during the outage', async () => load.results.length > outage + 100);
  // Same ports, empty memory: the registry knows nothing until the sidecars reconnect.
  control = await startControl([...ca, ...caPort], ports);
  await waitUntil('2 proxies SYNCED after the restart', () => allSynced(control, 2), 60_000);
  const synced = load.results.length;
  await waitUntil('more traffic after the resync', async () => load.results.length > synced + 200);
  await load.stop();
  const bad = load.results.filter((r) => r !== 'v1');
  assert.deepEqual(bad.slice(0, 10), [], `${bad.length} of ${load.results.length} requests failed`);
  assert.match(control.proc.output(), /warm-up: sidecar~[^ ]* reconnected; holding its updates/);
});
