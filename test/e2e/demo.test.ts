// `weft demo` as users run it: it comes up, the frontend reaches backend v1 through the sidecars,
// a VirtualService applied with `weft apply` moves traffic, and Ctrl-C stops every process it
// started; killed outright (SIGKILL), its processes still exit and free every port; a demo whose
// ports are taken refuses to start. Every demo here runs with --ports-from-kernel, so it never
// collides with anything else on the machine.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { fromRoot } from '../helpers/paths.js';
import { runWeft, startWeft, type WeftProcess } from '../helpers/process.js';
import { waitUntil } from '../helpers/mesh.js';

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

type DemoPorts = Record<string, number>;

/** Sends a plaintext HTTP request; true when the connection is closed without an answer. */
function plaintextRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write('GET / HTTP/1.1\r\nHost: backend\r\n\r\n'));
    let got = '';
    s.on('data', (d) => { got += d.toString(); });
    s.on('error', () => {});
    s.on('close', () => resolve(got === ''));
  });
}

async function startDemo(): Promise<{ demo: WeftProcess; ports: DemoPorts }> {
  const demo = startWeft(['demo', '--ports-from-kernel']);
  await demo.waitFor(/weft demo: ready/, 0, 90_000);
  const ports = JSON.parse((await demo.waitFor(/weft demo: ports (\{.*\})/))[1]!) as DemoPorts;
  assert.equal(Object.keys(ports).length, 15, `15 ports: ${JSON.stringify(ports)}`);
  return { demo, ports };
}

test('weft demo runs the mesh, follows weft apply, and Ctrl-C stops everything', async (t) => {
  const { demo, ports } = await startDemo();
  t.after(async () => { demo.kill('SIGKILL'); await demo.exited; });
  const front = `http://127.0.0.1:${ports.frontendIn}`;
  const version = async () => ((await (await fetch(`${front}/api/backend`)).json()) as { version: string }).version;
  assert.equal(await version(), 'v1');
  assert.match(await (await fetch(`${front}/`)).text(), /frontend → backend/);

  const r = await runWeft(['apply', '-f', fromRoot('examples', 'demo', 'mesh', 'user-pin.yaml'), '--control', `127.0.0.1:${ports.http}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'virtualservice.networking.istio.io/backend configured\n');
  await waitUntil('jason pinned to v2', async () =>
    ((await (await fetch(`${front}/api/backend?user=jason`)).json()) as { version: string }).version === 'v2');
  assert.equal(await version(), 'v1');

  // The README's security walkthrough: sidecars speak mTLS with SPIFFE identities; the backend
  // refuses plaintext; /api/profile needs the demo JWT; a DENY policy by the frontend's identity.
  const status = await runWeft(['proxy-status', '--control', `127.0.0.1:${ports.http}`]);
  assert.match(status.stdout, /spiffe:\/\/cluster\.local\/ns\/default\/sa\/frontend/);
  assert.equal(await plaintextRefused(ports.v1In), true, 'the backend (STRICT) refuses a plaintext connection');
  assert.equal((await fetch(`${front}/api/profile`)).status, 403);
  const token = readFileSync(fromRoot('examples', 'demo', 'security', 'demo.jwt'), 'utf8').trim();
  const profile = await fetch(`${front}/api/profile`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(profile.status, 200);
  assert.deepEqual(await profile.json(), { user: 'alice' });
  assert.equal((await fetch(`${front}/api/profile`, { headers: { authorization: `Bearer ${token}x` } })).status, 401);
  const deny = fromRoot('examples', 'demo', 'security', 'deny-frontend.yaml');
  assert.equal((await runWeft(['apply', '-f', deny, '--control', `127.0.0.1:${ports.http}`])).code, 0);
  await waitUntil('the backend denies the frontend', async () => (await fetch(`${front}/api/backend`)).status === 502);
  assert.match(await (await fetch(`${front}/api/backend`)).text(), /403/);
  assert.equal((await runWeft(['delete', '-f', deny, '--control', `127.0.0.1:${ports.http}`])).code, 0);
  await waitUntil('the frontend is allowed again', async () => (await fetch(`${front}/api/backend`)).status === 200);

  demo.kill('SIGINT');
  assert.equal(await demo.exited, 0);
  for (const [name, port] of Object.entries(ports)) {
    assert.equal(await portOpen(port), false, `${name} port ${port} closed after Ctrl-C`);
  }
});

test('weft demo killed with SIGKILL: its apps and sidecars exit with it and free every port', async (t) => {
  const { demo, ports } = await startDemo();
  t.after(async () => { demo.kill('SIGKILL'); await demo.exited; });
  for (const [name, port] of Object.entries(ports)) assert.equal(await portOpen(port), true, `${name} port ${port} open while running`);
  demo.kill('SIGKILL');
  await demo.exited;
  // No event reaches this process when the demo's children go: poll, bounded.
  await waitUntil('every demo port closed after SIGKILL', async () => {
    const open = await Promise.all(Object.values(ports).map(portOpen));
    return open.every((o) => !o);
  }, 30_000);
});

test('a second weft demo whose ports are taken refuses with one line naming the port, and starts nothing', async (t) => {
  // The "first demo": something holding the control plane's HTTP API port (a kernel-given port).
  const holder = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => holder.close(() => r())));
  const busy = (holder.address() as net.AddressInfo).port;
  let connections = 0;
  holder.on('connection', () => { connections++; });
  // --port-offset puts the control plane's HTTP API (15014 by default) on the held port.
  const r = await runWeft(['demo', '--port-offset', String(busy - 15014)]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
  // Other ports of the offset block may be in use too (the machine's other sockets): the held one is named.
  assert.match(lines[0]!, new RegExp(`^weft demo: ports? (.*, )?${busy} \\(control plane HTTP API\\)(, .*)? already in use; is another weft demo running\\?`));
  assert.match(lines[0]!, /--port-offset N or --ports-from-kernel/);
  assert.doesNotMatch(r.stderr, /\n\s+at |EADDRINUSE/, 'no stack trace');
  assert.doesNotMatch(r.stdout, /\[control\]|\[backend|\[frontend/, 'no process started');
  assert.equal(connections, 0, 'nothing talked to the process holding the port');
});
