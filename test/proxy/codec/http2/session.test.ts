// Weft's own HTTP/2 session (src/proxy/codec/http2/session.ts) as a SERVER, against node:http2
// clients: requests and responses with bodies both ways, trailers, large bodies over small flow
// control windows, many concurrent streams, PING, the two-phase graceful shutdown, and a client
// that vanishes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { h2Get, h2Request, rawH2Client, waitUntil } from '../../../helpers/adversarial.js';
import type { H2Session, H2Stream } from '../../../../src/proxy/codec/http2/types.js';
import { Recorder, field, startH2Server } from './session-helpers.js';

function nodeClient(t: { after(fn: () => unknown): void }, port: number, opts: http2.ClientSessionOptions = {}): http2.ClientHttp2Session {
  const c = http2.connect(`http://127.0.0.1:${port}`, opts);
  c.on('error', () => { /* asserted through requests */ });
  t.after(() => { c.destroy(); });
  return c;
}

/** Sends a request with node:http2 and collects the response. */
function nodeRequest(c: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | null, trailers?: Record<string, string>): Promise<{ headers: http2.IncomingHttpHeaders; body: Buffer; trailers: http2.IncomingHttpHeaders | null; rstCode: number }> {
  return new Promise((resolve, reject) => {
    const req = c.request(headers, { endStream: body === undefined || body === null, waitForTrailers: trailers !== undefined });
    if (trailers !== undefined) req.on('wantTrailers', () => req.sendTrailers(trailers));
    let head: http2.IncomingHttpHeaders = {};
    let tr: http2.IncomingHttpHeaders | null = null;
    const chunks: Buffer[] = [];
    req.on('response', (h) => { head = h; });
    req.on('trailers', (h) => { tr = h; });
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('close', () => resolve({ headers: head, body: Buffer.concat(chunks), trailers: tr, rstCode: req.rstCode ?? 0 }));
    req.on('error', () => { /* close follows with rstCode */ });
    if (body !== undefined && body !== null) req.end(body);
    void reject;
  });
}

/** An echo handler: answers 200 with the request body, `x-method` and `x-path`, and trailers when the request had some. */
function echo(st: H2Stream, headers: string[]): void {
  const chunks: Buffer[] = [];
  const respond = (trailers: string[] | null): void => {
    const body = Buffer.concat(chunks);
    st.sendHeaders([':status', '200', 'x-method', field(headers, ':method') ?? '', 'x-path', field(headers, ':path') ?? '', 'x-length', String(body.length)], false);
    if (trailers !== null) { st.sendData(body, false); st.sendTrailers(['x-trailer-echo', field(trailers, 'x-trailer') ?? '']); }
    else st.sendData(body, true);
  };
  st.handler = {
    onHeaders: (h, end, isTrailers) => { if (isTrailers && end) respond(h); },
    onData: (d, end) => { chunks.push(Buffer.from(d)); if (end) respond(null); },
    onReset: () => {},
    onDrain: () => {},
  };
}

test('server session: GET answered to a node:http2 client, and the stream and session close cleanly', async (t) => {
  const srv = await startH2Server(t, (st, h, end) => {
    assert.equal(end, true);
    assert.equal(field(h, ':method'), 'GET');
    assert.equal(field(h, ':path'), '/hello');
    st.handler = new Recorder();
    st.sendHeaders([':status', '200', 'content-type', 'text/plain'], false);
    st.sendData(Buffer.from('hello world'), true);
  });
  const c = nodeClient(t, srv.port);
  const r = await nodeRequest(c, { ':path': '/hello' });
  assert.equal(r.headers[':status'], 200);
  assert.equal(r.headers['content-type'], 'text/plain');
  assert.equal(r.body.toString(), 'hello world');
  await waitUntil(() => srv.events.sessions[0]!.activeStreams === 0, 5000, 'stream closed on the server');
  c.close();
  await waitUntil(() => srv.events.closes === 1, 5000, 'server session closed');
  assert.deepEqual(srv.events.protocolErrors, []);
});

test('server session: request bodies and trailers both ways, echoed', async (t) => {
  const srv = await startH2Server(t, echo);
  const c = nodeClient(t, srv.port);
  const body = Buffer.alloc(300_000, 0x61);
  const r = await nodeRequest(c, { ':method': 'POST', ':path': '/echo' }, body, { 'x-trailer': 'tv' });
  assert.equal(r.headers[':status'], 200);
  assert.equal(r.headers['x-method'], 'POST');
  assert.equal(r.headers['x-length'], String(body.length));
  assert.ok(r.body.equals(body));
  assert.equal(r.trailers?.['x-trailer-echo'], 'tv');
});

test('server session: 1 MiB both ways over 1000-byte stream windows on both sides', async (t) => {
  const srv = await startH2Server(t, echo, { settings: { initialWindowSize: 1000 }, connectionWindowSize: 65_535 });
  const c = nodeClient(t, srv.port, { settings: { initialWindowSize: 1000 } });
  const body = Buffer.alloc(1 << 20);
  for (let i = 0; i < body.length; i++) body[i] = i * 7;
  const r = await nodeRequest(c, { ':method': 'PUT', ':path': '/big' }, body);
  assert.equal(r.headers[':status'], 200);
  assert.equal(r.body.length, body.length);
  assert.ok(r.body.equals(body));
});

test('server session: 100 concurrent streams with bodies on one connection', async (t) => {
  const srv = await startH2Server(t, echo);
  const c = nodeClient(t, srv.port);
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) =>
    nodeRequest(c, { ':method': 'POST', ':path': `/s/${i}` }, Buffer.alloc(10_000 + i, i & 0xff))));
  results.forEach((r, i) => {
    assert.equal(r.headers[':status'], 200);
    assert.equal(r.headers['x-path'], `/s/${i}`);
    assert.ok(r.body.equals(Buffer.alloc(10_000 + i, i & 0xff)));
  });
  assert.deepEqual(srv.events.refused, []);
});

test('server session: ping measures a round trip; node:http2 pings are answered', async (t) => {
  const srv = await startH2Server(t, echo);
  const c = nodeClient(t, srv.port);
  await new Promise<void>((r) => c.once('remoteSettings', () => r()));
  const rtt = await new Promise<number>((resolve, reject) => c.ping((err, ms) => err ? reject(err) : resolve(ms)));
  assert.ok(rtt >= 0);
  await waitUntil(() => srv.events.sessions.length === 1, 5000, 'session');
  const ours = await new Promise<number>((resolve, reject) => srv.events.sessions[0]!.ping((err, ms) => err ? reject(err) : resolve(ms)));
  assert.ok(ours >= 0 && ours < 5000);
});

test('server session: shutdown() sends GOAWAY(2^31-1) + PING, then the final GOAWAY; the stream in flight completes and the session closes', async (t) => {
  let held: H2Stream | null = null;
  const srv = await startH2Server(t, (st) => { held = st; st.handler = new Recorder(); });
  const c = nodeClient(t, srv.port);
  const goaways: number[] = [];
  c.on('goaway', (code, last) => goaways.push(last));
  const pending = nodeRequest(c, { ':path': '/slow' });
  await waitUntil(() => held !== null, 5000, 'stream opened');
  const session: H2Session = srv.events.sessions[0]!;
  session.shutdown();
  assert.equal(session.draining, true);
  await waitUntil(() => goaways.length >= 1, 5000, 'GOAWAY at the client');
  held!.sendHeaders([':status', '200'], false);
  held!.sendData(Buffer.from('late'), true);
  const r = await pending;
  assert.equal(r.headers[':status'], 200);
  assert.equal(r.body.toString(), 'late');
  await waitUntil(() => srv.events.closes === 1, 5000, 'server session closed after the drain');
  assert.equal(goaways[0], 2 ** 31 - 1);
});

test('server session: a client that vanishes (socket end) resets the open streams and closes the session once', async (t) => {
  const recs: Recorder[] = [];
  const srv = await startH2Server(t, (st) => { const r = new Recorder(); recs.push(r); st.handler = r; });
  const c = await rawH2Client(srv.port);
  t.after(() => c.close());
  c.write([1, 3, 5].map((id) => h2Request(id, h2Get(`/${id}`), false)));
  await waitUntil(() => recs.length === 3, 5000, 'three streams');
  c.sock.end();
  await waitUntil(() => srv.events.closes === 1, 5000, 'session closed');
  for (const r of recs) assert.deepEqual(r.reset, { code: 8, remote: false });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(srv.events.closes, 1);
  assert.equal(srv.events.sessions[0]!.closed, true);
  assert.equal(srv.events.sessions[0]!.activeStreams, 0);
});
