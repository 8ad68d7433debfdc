// Weft's own HTTP/2 session (src/proxy/codec/http2/session.ts) as a CLIENT, against node:http2
// servers: requests with bodies both ways, trailers, 1xx heads, large bodies over small windows,
// many concurrent streams (respecting the server's SETTINGS_MAX_CONCURRENT_STREAMS), the
// server's GOAWAY (streams above last-stream-id refused), PING, and malformed responses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { FrameReader, waitUntil } from '../../../helpers/adversarial.js';
import { Recorder, connectClient, field } from './session-helpers.js';

async function nodeServer(t: TestContext, onStream: (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders) => void, settings: http2.Settings = {}): Promise<{ port: number; server: http2.Http2Server; sessions: http2.ServerHttp2Session[] }> {
  const server = http2.createServer({ settings });
  const sessions: http2.ServerHttp2Session[] = [];
  server.on('session', (s) => { sessions.push(s); s.on('error', () => {}); });
  server.on('stream', (s, h) => { s.on('error', () => {}); onStream(s, h); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    for (const s of sessions) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as net.AddressInfo).port, server, sessions };
}

/** node:http2 echo: 200 with the request body; trailers echoed when the request had some. */
function nodeEcho(s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders): void {
  const chunks: Buffer[] = [];
  let trailers: http2.IncomingHttpHeaders | null = null;
  s.on('trailers', (tr) => { trailers = tr; });
  s.on('data', (d: Buffer) => chunks.push(d));
  s.on('end', () => {
    const withTrailers = trailers !== null;
    s.respond({ ':status': 200, 'x-path': String(h[':path']), 'x-length': String(Buffer.concat(chunks).length) }, { waitForTrailers: withTrailers });
    if (withTrailers) s.on('wantTrailers', () => s.sendTrailers({ 'x-trailer-echo': String(trailers!['x-trailer']) }));
    s.end(Buffer.concat(chunks));
  });
}

const GET = (path: string): string[] => [':method', 'GET', ':scheme', 'http', ':authority', 'test', ':path', path];
const POST = (path: string): string[] => [':method', 'POST', ':scheme', 'http', ':authority', 'test', ':path', path];

test('client session: GET and POST with bodies and trailers against node:http2', async (t) => {
  const srv = await nodeServer(t, nodeEcho);
  const c = await connectClient(t, srv.port);
  await c.ready;
  assert.equal(c.session.canOpenStream, true);

  const g = new Recorder();
  c.session.request(GET('/a'), true, g);
  await g.done();
  assert.equal(field(g.heads[0]!.headers, ':status'), '200');
  assert.equal(field(g.heads[0]!.headers, 'x-path'), '/a');
  assert.equal(g.body.length, 0);

  const p = new Recorder();
  const st = c.session.request(POST('/b'), false, p);
  const body = Buffer.alloc(200_000, 0x42);
  st.sendData(body.subarray(0, 100_000), false);
  st.sendData(body.subarray(100_000), false);
  st.sendTrailers(['x-trailer', 'hello']);
  await p.done();
  assert.equal(p.reset, null);
  assert.equal(field(p.heads[0]!.headers, 'x-length'), String(body.length));
  assert.ok(p.body.equals(body));
  const tr = p.heads.find((x) => x.trailers);
  assert.ok(tr !== undefined && tr.endStream);
  assert.equal(field(tr.headers, 'x-trailer-echo'), 'hello');
  await waitUntil(() => p.closed && g.closed && c.session.activeStreams === 0, 5000, 'streams closed');
});

test('client session: 1xx informational heads before the final response', async (t) => {
  const srv = await nodeServer(t, (s) => {
    s.additionalHeaders({ ':status': 103, link: '</a.css>; rel=preload' });
    s.respond({ ':status': 200 });
    s.end('ok');
  });
  const c = await connectClient(t, srv.port);
  await c.ready;
  const r = new Recorder();
  c.session.request(GET('/'), true, r);
  await r.done();
  assert.equal(field(r.heads[0]!.headers, ':status'), '103');
  assert.equal(r.heads[0]!.endStream, false);
  assert.equal(field(r.heads[1]!.headers, ':status'), '200');
  assert.equal(r.body.toString(), 'ok');
});

test('client session: 2 MiB both ways over small windows (server initial window 1000, ours 1000)', async (t) => {
  const srv = await nodeServer(t, nodeEcho, { initialWindowSize: 1000 });
  const c = await connectClient(t, srv.port, { settings: { initialWindowSize: 1000 }, connectionWindowSize: 65_535, streamBufferLimit: 64 * 1024 });
  await c.ready;
  const body = Buffer.alloc(2 << 20);
  for (let i = 0; i < body.length; i++) body[i] = (i * 13) & 0xff;
  const r = new Recorder();
  const st = c.session.request(POST('/big'), false, r);
  // Respect backpressure: write 64 KiB pieces, wait for onDrain when sendData says so.
  let off = 0;
  const pump = (): void => {
    while (off < body.length) {
      const piece = body.subarray(off, off + 64 * 1024);
      off += piece.length;
      if (!st.sendData(piece, off === body.length)) return;
    }
  };
  r.onDrain = () => { r.drains++; pump(); };
  pump();
  await r.done(20_000);
  assert.equal(r.reset, null);
  assert.ok(r.drains > 0, 'sendData returned false and onDrain followed');
  assert.ok(r.body.equals(body));
});

test('client session: 250 requests, the server allows 20 concurrent streams; canOpenStream gates them', async (t) => {
  let maxSeen = 0, open = 0;
  const srv = await nodeServer(t, (s, h) => {
    open++; maxSeen = Math.max(maxSeen, open);
    s.on('close', () => { open--; });
    setImmediate(() => { s.respond({ ':status': 200 }); s.end(String(h[':path'])); });
  }, { maxConcurrentStreams: 20 });
  const c = await connectClient(t, srv.port);
  await c.ready;
  assert.equal(c.session.remoteSettings.maxConcurrentStreams, 20);
  const total = 250;
  let started = 0, done = 0;
  const bodies: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const next = (): void => {
      while (started < total && c.session.canOpenStream) {
        const i = started++;
        const r = new Recorder((rec) => {
          if (rec.reset !== null) reject(new Error(`stream ${i} reset ${rec.reset.code}`));
          else if (rec.closed) { bodies[i] = rec.body.toString(); if (++done === total) resolve(); else setImmediate(next); }
        });
        c.session.request(GET(`/r${i}`), true, r);
      }
    };
    next();
  });
  assert.ok(maxSeen <= 20, `server saw ${maxSeen} concurrent streams`);
  for (let i = 0; i < total; i++) assert.equal(bodies[i], `/r${i}`);
});

test('client session: the server\'s GOAWAY refuses streams above its last-stream-id; the others complete; no new streams', async (t) => {
  const held: http2.ServerHttp2Stream[] = [];
  const srv = await nodeServer(t, (s) => { held.push(s); });
  const c = await connectClient(t, srv.port);
  await c.ready;
  const recs = [new Recorder(), new Recorder(), new Recorder()];
  for (const r of recs) c.session.request(GET('/'), true, r);
  await waitUntil(() => held.length === 3, 5000, 'three streams at the server');
  // GOAWAY with last-stream-id 3: stream 5 is refused.
  srv.sessions[0]!.goaway(0, 3);
  await waitUntil(() => c.goaways.length === 1, 5000, 'GOAWAY at the client');
  assert.deepEqual(c.goaways[0], { code: 0, last: 3 });
  assert.deepEqual(recs[2]!.reset, { code: 7, remote: true });
  assert.equal(c.session.draining, true);
  assert.equal(c.session.canOpenStream, false);
  assert.throws(() => c.session.request(GET('/'), true, new Recorder()));
  for (const s of held.slice(0, 2)) { s.respond({ ':status': 204 }, { endStream: true }); }
  await recs[0]!.done();
  await recs[1]!.done();
  assert.equal(field(recs[0]!.heads[0]!.headers, ':status'), '204');
  await c.closed;
  assert.equal(c.closes, 1);
});

test('client session: ping round trip; a server that closes the connection resets open streams once', async (t) => {
  const held: http2.ServerHttp2Stream[] = [];
  const srv = await nodeServer(t, (s) => { held.push(s); });
  const c = await connectClient(t, srv.port);
  await c.ready;
  const rtt = await new Promise<number>((resolve, reject) => c.session.ping((err, ms) => err ? reject(err) : resolve(ms)));
  assert.ok(rtt >= 0 && rtt < 5000);
  const r = new Recorder();
  c.session.request(GET('/'), true, r);
  await waitUntil(() => held.length === 1, 5000, 'stream at the server');
  srv.sessions[0]!.destroy();
  await c.closed;
  assert.equal(r.reset?.remote, false);
  assert.equal(c.closes, 1);
  assert.equal(c.session.closed, true);
});

test('client session: a malformed response (uppercase field name) resets the stream with PROTOCOL_ERROR', async (t) => {
  // A raw server: SETTINGS, then a response HEADERS with an upper-case name (HPACK literal, no Huffman).
  const server = net.createServer((sock) => {
    sock.on('error', () => {});
    const reader = new FrameReader();
    let prefaceSeen = false;
    sock.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
    sock.on('data', (d: Buffer) => {
      if (!prefaceSeen) { prefaceSeen = true; d = d.subarray(24); }
      if (!reader.push(d).some((f) => f.type === 1)) return;
      const block = Buffer.concat([Buffer.from([0x88]), Buffer.from([0x00, 0x03]), Buffer.from('X-A'), Buffer.from([0x01]), Buffer.from('b')]);
      const hd = Buffer.alloc(9);
      hd.writeUIntBE(block.length, 0, 3); hd[3] = 1; hd[4] = 0x4; hd.writeUInt32BE(1, 5);
      sock.write(Buffer.concat([hd, block]));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as net.AddressInfo).port;
  const c = await connectClient(t, port);
  await c.ready;
  const r = new Recorder();
  c.session.request(GET('/'), true, r);
  await r.done();
  assert.deepEqual(r.reset, { code: 1, remote: false });
  assert.equal(r.heads.length, 0);
  c.session.destroy();
});
