// End-to-end tests of the admin listener (src/proxy/admin/server.ts) with fetch, curl and raw sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { AdminServer } from '../../../src/proxy/admin/server.js';
import { fakeContext, type FakeContext } from './fake-context.js';

const run = promisify(execFile);

async function startServer(t: { after(fn: () => Promise<void> | void): void }, ctx: FakeContext = fakeContext()):
  Promise<{ ctx: FakeContext; server: AdminServer; base: string; port: number }> {
  const server = new AdminServer({ address: '127.0.0.1', port: 0 }, ctx);
  const { port } = await server.start();
  t.after(() => server.close());
  return { ctx, server, base: `http://127.0.0.1:${port}`, port };
}

/** Writes raw bytes, then collects everything until the server closes the connection. */
function rawExchange(port: number, data: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.on('data', (b) => chunks.push(b));
    sock.on('error', reject);
    sock.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    sock.write(data);
  });
}

test('fetch: /ready, /server_info and /stats/prometheus with correct framing', async (t) => {
  const { base } = await startServer(t);
  const ready = await fetch(`${base}/ready`);
  assert.equal(ready.status, 200);
  assert.equal(ready.headers.get('content-type'), 'text/plain; charset=UTF-8');
  assert.equal(ready.headers.get('content-length'), '5');
  assert.equal(await ready.text(), 'LIVE\n');
  const info = await fetch(`${base}/server_info`);
  assert.equal((await info.json() as { version: string }).version, 'weft/0.1.0');
  const prom = await fetch(`${base}/stats/prometheus`);
  assert.match(prom.headers.get('content-type')!, /version=0\.0\.4/);
  assert.match(await prom.text(), /envoy_cluster_upstream_rq_total\{envoy_cluster_name="web"\} 7/);
  const missing = await fetch(`${base}/missing`);
  assert.equal(missing.status, 404);
  await missing.arrayBuffer();
});

test('fetch: GET on /quitquitquit is 405; POST answers, then quits', async (t) => {
  const { ctx, base } = await startServer(t);
  const get = await fetch(`${base}/quitquitquit`);
  assert.equal(get.status, 405);
  await get.arrayBuffer();
  let quitted: () => void = () => {};
  const quit = new Promise<void>((r) => { quitted = r; });
  ctx.quit = () => { ctx.calls.push('quit'); quitted(); };
  const post = await fetch(`${base}/quitquitquit`, { method: 'POST' });
  assert.equal(post.status, 200);
  assert.equal(await post.text(), 'OK\n');
  await quit;
  assert.deepEqual(ctx.calls, ['quit']);
});

test('fetch: POST bodies are read (and ignored by endpoints that take none)', async (t) => {
  const { ctx, base } = await startServer(t);
  const r = await fetch(`${base}/drain_listeners?graceful`, { method: 'POST', body: 'x'.repeat(10_000) });
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  assert.deepEqual(ctx.calls, ['drain graceful=true inbound=false']);
});

test('curl: reuses one keep-alive connection for several requests', async (t) => {
  const { base } = await startServer(t);
  const { stdout, stderr } = await run('curl', ['-sS', '-v', `${base}/stats?filter=live`, `${base}/clusters`, `${base}/logging`]);
  assert.match(stdout, /^server\.live: 1\n/);
  assert.match(stdout, /web::10\.0\.0\.1:80::cx_active::2/);
  assert.match(stdout, /active loggers:/);
  assert.match(stderr, /Re-using existing connection/i);
});

test('curl: POST /logging?level= changes the level; an unknown level is 400', async (t) => {
  const { ctx, base } = await startServer(t);
  const { stdout } = await run('curl', ['-sS', '-X', 'POST', '-o', '/dev/null', '-w', '%{http_code}', `${base}/logging?level=nonsense`]);
  assert.equal(stdout, '400');
  assert.deepEqual(ctx.calls, ['level nonsense']);
  const head = await run('curl', ['-sS', '-I', `${base}/ready`]);
  assert.match(head.stdout, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(head.stdout, /content-length: 5\r\n/i);
});

test('pipelined requests are answered in order; Connection: close ends the connection', async (t) => {
  const { port } = await startServer(t);
  const out = await rawExchange(port,
    'GET /ready HTTP/1.1\r\nHost: a\r\n\r\n' +
    'GET /stats?filter=live HTTP/1.1\r\nHost: a\r\n\r\n' +
    'GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' +
    'GET /ready HTTP/1.1\r\nHost: a\r\n\r\n');
  const statuses = [...out.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => m[1]);
  assert.deepEqual(statuses, ['200', '200', '404']); // nothing after the close
  assert.ok(out.indexOf('LIVE\n') < out.indexOf('server.live: 1'));
  assert.match(out, /connection: close\r\n\r\ninvalid path/);
});

test('HTTP/1.0 without keep-alive gets one response and a close; HEAD gets no body', async (t) => {
  const { port } = await startServer(t);
  const out10 = await rawExchange(port, 'GET /ready HTTP/1.0\r\n\r\n');
  assert.match(out10, /^HTTP\/1\.0 200 OK\r\n[\s\S]*\r\n\r\nLIVE\n$/);
  const head = await rawExchange(port, 'HEAD /ready HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.match(head, /content-length: 5\r\n/);
  assert.ok(head.endsWith('\r\n\r\n'), 'no body after the head');
});

test('malformed requests get the codec\'s status and a close; oversized bodies get 413', async (t) => {
  const ctx = fakeContext();
  const server = new AdminServer({ address: '127.0.0.1', port: 0 }, ctx, { maxBodyBytes: 100 });
  const { port } = await server.start();
  t.after(() => server.close());
  const bad = await rawExchange(port, 'GET /ready HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n');
  assert.match(bad, /^HTTP\/1\.1 400 /);
  assert.match(bad, /connection: close/);
  const big = await rawExchange(port, `POST /drain_listeners HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(1000)}`);
  assert.match(big, /^HTTP\/1\.1 413 /);
  const chunked = await rawExchange(port,
    `POST /drain_listeners HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${(200).toString(16)}\r\n${'y'.repeat(200)}\r\n0\r\n\r\n`);
  assert.match(chunked, /^HTTP\/1\.1 413 /);
  assert.deepEqual(ctx.calls, []);
});

test('Expect: 100-continue is answered before the body', async (t) => {
  const { port } = await startServer(t);
  const out = await new Promise<string>((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let got = '';
    sock.on('data', (b) => {
      got += b.toString('latin1');
      if (got === 'HTTP/1.1 100 Continue\r\n\r\n') sock.write('abcd');
    });
    sock.on('error', reject);
    sock.on('close', () => resolve(got));
    sock.write('POST /drain_listeners HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n');
  });
  assert.match(out, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
});

test('close() ends idle keep-alive connections and stops accepting', async () => {
  const server = new AdminServer({ address: '127.0.0.1', port: 0 }, fakeContext());
  const { port } = await server.start();
  const sock = connect(port, '127.0.0.1');
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  const first = new Promise<string>((r) => sock.once('data', (b) => r(b.toString('latin1'))));
  sock.write('GET /ready HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.match(await first, /^HTTP\/1\.1 200 /);
  await server.close();
  await closed;
  await assert.rejects(fetch(`http://127.0.0.1:${port}/ready`));
  await server.close(); // idempotent
});

test('start() rejects when the port is taken', async (t) => {
  const { port } = await startServer(t);
  const second = new AdminServer({ address: '127.0.0.1', port }, fakeContext());
  await assert.rejects(second.start(), { code: 'EADDRINUSE' });
  await second.close();
});
