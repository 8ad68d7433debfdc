// Envoy's drain sequence (src/proxy/overload/drain.ts) on an in-process proxy: while it runs the
// listener keeps accepting, HTTP/1.1 responses say `Connection: close` (the client reconnects) and
// HTTP/2 connections get GOAWAY, at once (immediate) or with a chance rising over the drain time
// (gradual); counted in downstream_cx_drain_close; no request fails. POST
// /drain_listeners?graceful&inboundonly runs one on the INBOUND listeners only, then stops them.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { parseBootstrapText } from '../../../src/envoy/text.js';
import { ProxyServer, type ProxyServerOptions } from '../../../src/proxy/server.js';
import { bootstrap, direct, hcm, listener, request } from '../../helpers/bootstrap.js';
import { FrameType, rawH2Client, waitUntil, type H2Frame } from '../../helpers/adversarial.js';

async function start(t: TestContext, yaml: string, opts: ProxyServerOptions = {}): Promise<ProxyServer> {
  const r = parseBootstrapText(yaml, 'test.yaml', { baseDir: process.cwd() });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  const server = new ProxyServer(r.value, opts);
  await server.start();
  t.after(() => server.close());
  return server;
}

const oneListener = (extra: Record<string, unknown> = {}) => bootstrap({
  admin: true,
  listeners: [{ ...listener({ filter: hcm({ routes: [direct({ prefix: '/' }, 'ok')], extra: { codec_type: 'AUTO' } }) }), ...extra }],
});

/** A keep-alive HTTP/1.1 connection that sends GET / and reads one response at a time. */
function keepAlive(t: TestContext, port: number): { get(): Promise<string>; closed: Promise<void> } {
  const s = net.connect(port, '127.0.0.1');
  t.after(() => s.destroy());
  s.on('error', () => {});
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  return {
    closed,
    get: () => new Promise((resolve, reject) => {
      let text = '';
      const onData = (d: Buffer) => {
        text += d.toString('latin1');
        const end = text.indexOf('\r\n\r\n');
        const len = /content-length: (\d+)/i.exec(text);
        if (end >= 0 && len !== null && text.length >= end + 4 + Number(len[1])) { s.off('data', onData); s.off('close', onClose); resolve(text); }
      };
      const onClose = () => reject(new Error(`connection closed before a response: ${JSON.stringify(text)}`));
      s.on('data', onData);
      s.once('close', onClose);
      s.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    }),
  };
}

function h2get(session: http2.ClientHttp2Session): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': '/' });
    req.on('response', (h) => resolve(Number(h[':status'])));
    req.on('error', reject);
    req.resume();
    req.end();
  });
}

test('immediate drain sequence: HTTP/1.1 gets Connection: close and reconnects, HTTP/2 gets GOAWAY, the listener keeps accepting, nothing fails', async (t) => {
  const server = await start(t, oneListener(), { drainStrategy: 'immediate' });
  const port = server.listenerPort('main');
  const stat = (n: string) => server.stats.value(n) ?? 0;
  const h1 = keepAlive(t, port);
  assert.doesNotMatch(await h1.get(), /connection: close/i);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.after(() => session.destroy());
  session.on('error', () => {});
  assert.equal(await h2get(session), 200);
  const goaway = new Promise<void>((r) => session.once('goaway', () => r()));

  server.startDrainSequence(10_000);
  await goaway; // the sweep at the start of an immediate sequence
  const last = await h1.get();
  assert.match(last, /^HTTP\/1\.1 200/);
  assert.match(last, /connection: close/i);
  await h1.closed;
  // New connections are still taken (and told to close after their response).
  const h1again = keepAlive(t, port);
  assert.match(await h1again.get(), /^HTTP\/1\.1 200[^]*connection: close/i);
  await h1again.closed;
  const session2 = http2.connect(`http://127.0.0.1:${port}`);
  t.after(() => session2.destroy());
  session2.on('error', () => {});
  const goaway2 = new Promise<void>((r) => session2.once('goaway', () => r()));
  assert.equal(await h2get(session2), 200);
  await goaway2; // at the next sweep
  assert.equal(stat('http.ingress.downstream_cx_drain_close'), 4);
  assert.equal(stat('http.ingress.downstream_rq_2xx'), 5);
  assert.equal(stat('http.ingress.downstream_rq_5xx'), 0);
});

test('gradual drain sequence: a response closes its connection with a chance of elapsed / drain time', async (t) => {
  // Math.random() = 0.5: the connection closes once half the drain time has gone by.
  t.mock.method(Math, 'random', () => 0.5);
  const server = await start(t, oneListener());
  const port = server.listenerPort('main');
  const h1 = keepAlive(t, port);
  const started = performance.now();
  server.startDrainSequence(1500);
  let served = 0;
  let text = '';
  while (!/connection: close/i.test(text)) {
    text = await h1.get();
    assert.match(text, /^HTTP\/1\.1 200/);
    served++;
    if (!/connection: close/i.test(text)) assert.ok(performance.now() - started < 750 + 100, 'kept alive past half the drain time');
  }
  assert.ok(performance.now() - started >= 750, `closed after ${(performance.now() - started).toFixed(0)} ms, before half the drain time`);
  assert.ok(served > 1);
  await h1.closed;
  assert.equal(server.stats.value('http.ingress.downstream_cx_drain_close'), 1);
});

test('POST /drain_listeners?graceful&inboundonly: a drain sequence on the INBOUND listeners, which then stop; the others are left alone', async (t) => {
  const yaml = bootstrap({
    admin: true,
    listeners: [
      { ...listener({ name: 'in', filter: hcm({ statPrefix: 'in', routes: [direct({ prefix: '/' }, 'in')] }) }), traffic_direction: 'INBOUND' },
      { ...listener({ name: 'out', filter: hcm({ statPrefix: 'out', routes: [direct({ prefix: '/' }, 'out')] }) }), traffic_direction: 'OUTBOUND' },
    ],
  });
  const server = await start(t, yaml, { drainStrategy: 'immediate', drainTimeMs: 1000 });
  const inPort = server.listenerPort('in');
  const outPort = server.listenerPort('out');
  const res = await fetch(`http://127.0.0.1:${server.adminPort}/drain_listeners?graceful&inboundonly`, { method: 'POST' });
  assert.equal(res.status, 200);
  // During the drain time: both accept; only the inbound one closes connections.
  const inbound = await keepAlive(t, inPort).get();
  assert.match(inbound, /connection: close\r\n/i);
  assert.match(inbound, /\r\n\r\nin$/);
  const outbound = await keepAlive(t, outPort).get();
  assert.match(outbound, /\r\n\r\nout$/);
  assert.doesNotMatch(outbound, /connection: close/i);
  // After it, the inbound listener no longer accepts.
  await waitUntil(async () => (await request(inPort, '/').then(() => 'up', () => 'refused')) === 'refused', 10_000, 'the inbound listener to stop');
  assert.equal((await request(outPort, '/')).body, 'out');
  assert.equal(server.stats.value('http.out.downstream_cx_drain_close') ?? 0, 0);
});

test('HCM drain_timeout: a client that never answers the shutdown PING gets the final GOAWAY after drain_timeout (Envoy default 5 s)', async (t) => {
  const yaml = bootstrap({
    admin: true,
    listeners: [listener({ filter: hcm({ routes: [direct({ prefix: '/' }, 'ok')], extra: { codec_type: 'AUTO', drain_timeout: '0.2s' } }) })],
  });
  const server = await start(t, yaml, { drainStrategy: 'immediate' });
  const c = await rawH2Client(server.listenerPort('main'));
  t.after(() => c.close());
  await c.waitFor((fs) => fs.some((f) => f.type === FrameType.SETTINGS), 'server SETTINGS');
  server.startDrainSequence(10_000);
  const goaways = (fs: readonly H2Frame[]) => fs.filter((f) => f.type === FrameType.GOAWAY).map((f) => f.payload.readUInt32BE(0) & 0x7fffffff);
  // Phase one: GOAWAY(2^31-1) and a PING, which this client never answers.
  await c.waitFor((fs) => goaways(fs).length >= 1, 'first GOAWAY', 3000);
  assert.equal(goaways(c.frames)[0], 2 ** 31 - 1);
  // Phase two comes from drain_timeout (0.2 s), well before the 5 s default.
  await c.waitFor((fs) => goaways(fs).length >= 2, 'final GOAWAY', 3000);
  assert.equal(goaways(c.frames)[1], 0);
});
