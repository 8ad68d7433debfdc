// Adversarial: HTTP/2 clients that go away without a GOAWAY (the review's "20,000 connections in
// 2.3 s used every file descriptor"). Thousands of h2c connections send the preface, SETTINGS and
// a request to an upstream that never answers, then close (FIN) or reset (RST) the socket; the
// proxy must tear each session down, reset its streams and release their upstream connections:
// downstream_cx_http2_active back to 0, the upstream's connections closed, fds near baseline, a
// bystander served throughout. Then a grpc-js client process that exits (SIGKILL) mid-call: the
// upstream server sees the call cancelled.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { startUpstream } from '../helpers/upstream.js';
import { bootstrap, cluster, hcm, listener, toCluster, type Obj } from '../helpers/bootstrap.js';
import { h2Options } from '../helpers/h2-upstream.js';
import { fromRoot } from '../helpers/paths.js';
import { bystander, connect, h2Get, h2Request, h2Settings, H2_PREFACE, startProxyChild, waitUntil } from '../helpers/adversarial.js';

/** A TCP upstream that accepts and reads but never answers; counts its open connections. */
async function silentUpstream(): Promise<{ port: number; open(): number; total(): number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let total = 0;
  const server = net.createServer((s) => {
    total++;
    sockets.add(s);
    s.on('data', () => { /* swallowed */ });
    s.on('error', () => { /* the proxy may reset */ });
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    open: () => sockets.size,
    total: () => total,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

function proxyYaml(slowPort: number, fastPort: number, extraClusters: Obj[] = [], routes: Obj[] = []): string {
  return bootstrap({
    admin: true,
    listeners: [listener({ name: 'main', filter: hcm({ routes: [...routes, toCluster('/slow', 'slow'), toCluster('/', 'fast')] }) })],
    clusters: [cluster('slow', [slowPort]), cluster('fast', [fastPort]), ...extraClusters],
  });
}

test('h2c clients that vanish (FIN or RST, no GOAWAY) release their sessions, streams and upstream connections', async (t) => {
  const slow = await silentUpstream();
  t.after(() => slow.close());
  const fast = await startUpstream();
  t.after(() => fast.close());
  const px = await startProxyChild(proxyYaml(slow.port, fast.port), ['main']);
  t.after(() => px.close());
  const port = px.port('main');

  const by = bystander(port);
  let report: Awaited<ReturnType<typeof by.stop>> | null = null;
  t.after(async () => { report ??= await by.stop(); });
  await waitUntil(async () => (await px.stat('http.ingress.downstream_rq_2xx')) > 0, 10_000, 'the bystander served');
  const fdBase = px.fds();

  const N = 3000, BATCH = 250;
  const hello = Buffer.concat([H2_PREFACE, h2Settings([]), h2Request(1, h2Get('/slow/x'), true)]);
  const t0 = performance.now();
  for (let i = 0; i < N; i += BATCH) {
    await Promise.all(Array.from({ length: Math.min(BATCH, N - i) }, async (_, j) => {
      const s = await connect(port);
      s.on('error', () => { /* reset */ });
      s.write(hello);
      // Half of them wait for the proxy's SETTINGS (the session is up), then all leave.
      if ((i + j) % 2 === 0) await new Promise((r) => { s.once('data', r); s.once('close', r); });
      if ((i + j) % 4 === 0) s.resetAndDestroy();
      else s.end();
    }));
  }
  const attackMs = performance.now() - t0;
  assert.ok(slow.total() > 0, 'requests reached the silent upstream');

  await waitUntil(async () => (await px.stat('http.ingress.downstream_cx_http2_active')) === 0, 30_000,
    'every HTTP/2 connection closed (downstream_cx_http2_active 0)');
  await waitUntil(async () => (await px.stat('cluster.slow.upstream_rq_active')) === 0
    && (await px.stat('cluster.slow.upstream_rq_pending_active')) === 0, 30_000, 'no upstream request left');
  // Connections that carried a request were reset; those still connecting for a request that
  // went away were closed (Envoy's CloseExcess).
  await waitUntil(() => slow.open() === 0, 30_000, 'the silent upstream\'s connections released');
  await waitUntil(() => px.fds() <= fdBase + 10, 30_000, `fds back near ${fdBase}`);
  assert.ok((await px.stat('http.ingress.downstream_rq_active')) <= 1, 'only the bystander\'s request active');
  const r = report = await by.stop();
  assert.ok(r.ok > 0, 'bystander served');
  assert.equal(r.errors, 0, 'bystander errors');
  assert.ok(r.p50Ms < 200, `bystander p50 ${r.p50Ms.toFixed(1)} ms (attack took ${attackMs.toFixed(0)} ms)`);
});

// ───────────────────────────── a grpc-js client process that exits mid-call ─────────────────────────────

const id = (b: Buffer): Buffer => b;
const HOLD: grpc.ServiceDefinition = {
  Hold: { path: '/adv.Hold/Hold', requestStream: false, responseStream: true, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
};

test('a grpc-js client process killed mid-call: the upstream call is cancelled, the session closed', async (t) => {
  const server = new grpc.Server();
  const calls: Array<{ cancelled: boolean }> = [];
  server.addService(HOLD, {
    Hold: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const c = { cancelled: false };
      calls.push(c);
      call.on('cancelled', () => { c.cancelled = true; });
      call.write(Buffer.from('first'));
    },
  });
  const gport = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  t.after(() => server.forceShutdown());
  const fast = await startUpstream();
  t.after(() => fast.close());
  const px = await startProxyChild(proxyYaml(1, fast.port, [cluster('grpc', [gport], h2Options())], [toCluster('/adv.Hold', 'grpc')]), ['main']);
  t.after(() => px.close());

  const script = `
    import * as grpc from '@grpc/grpc-js';
    const id = (b) => b;
    const C = grpc.makeGenericClientConstructor({ Hold: { path: '/adv.Hold/Hold', requestStream: false, responseStream: true,
      requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } }, 'Hold');
    const c = new C('127.0.0.1:${px.port('main')}', grpc.credentials.createInsecure());
    const call = c.Hold(Buffer.from('x'));
    call.on('data', () => process.stdout.write('got\\n'));
    call.on('error', () => {});
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: fromRoot(), stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => { child.kill('SIGKILL'); });
  await new Promise<void>((res, rej) => {
    child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('got')) res(); });
    child.on('exit', () => rej(new Error('client exited early')));
  });
  assert.equal(calls.length, 1);
  assert.equal(await px.stat('http.ingress.downstream_cx_http2_active'), 1);
  child.kill('SIGKILL');
  await waitUntil(() => calls[0]!.cancelled, 15_000, 'the upstream call cancelled');
  await waitUntil(async () => (await px.stat('http.ingress.downstream_cx_http2_active')) === 0, 15_000, 'the session closed');
  assert.equal(await px.stat('http.ingress.downstream_rq_active'), 0);
});
