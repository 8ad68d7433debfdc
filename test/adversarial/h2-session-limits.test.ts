// Adversarial: the HTTP/2 limits node:http2 could not enforce as Envoy does, now enforced by
// Weft's own session on the downstream, with raw frames:
//  - max_concurrent_streams by refusal: a client ignoring the SETTINGS gets RST_STREAM
//    (REFUSED_STREAM) for the extra streams, the others complete, the connection goes on
//    (http2.stream_refused_errors);
//  - max_inbound_window_update_frames_per_data_frame_sent (http2.inbound_window_update_frames_flood),
//    at the default and at a configured value;
//  - max_outbound_frames / max_outbound_control_frames at configured values (http2.outbound_flood,
//    http2.outbound_control_flood), against a client that stopped reading;
//  - max_consecutive_inbound_frames_with_empty_payload as Envoy's consecutive count.
// Each attack leaves the proxy up, a bystander fast, RSS and fds near their baseline.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { startUpstream, type UpstreamHandler } from '../helpers/upstream.js';
import type { Obj } from '../helpers/bootstrap.js';
import {
  bystander, connect, Flag, FrameType, h2Frame, h2Get, h2Request, h2Settings, h2Status, h2WindowUpdate, H2_PREFACE,
  FrameReader, proxyInFrontOf, rawH2Client, waitUntil, type H2Frame, type RawH2Client,
} from '../helpers/adversarial.js';

async function setup(t: TestContext, http2: Obj = {}, handler?: UpstreamHandler) {
  const up = await startUpstream(handler);
  t.after(() => up.close());
  const px = await proxyInFrontOf(t, up.port, { http2_protocol_options: http2 });
  const port = px.port('main');
  const by = bystander(port, '/bystander');
  let stopped = false;
  t.after(async () => { if (!stopped) await by.stop(); });
  await waitUntil(async () => (await px.stat('http.ingress.downstream_rq_2xx')) > 0, 10_000, 'the bystander served');
  const base = { rss: px.rss(), fds: px.fds() };
  return {
    px, port, up,
    async finish() {
      stopped = true;
      const r = await by.stop();
      assert.equal(r.errors, 0, 'bystander errors');
      assert.ok(r.p50Ms < 200, `bystander p50 ${r.p50Ms.toFixed(1)} ms`);
      await waitUntil(() => px.fds() <= base.fds + 10, 10_000, `fds back near ${base.fds}`);
      assert.ok(px.rss() < base.rss + 64 * 1024 * 1024, `RSS ${(px.rss() / 2 ** 20).toFixed(0)} MiB vs ${(base.rss / 2 ** 20).toFixed(0)} MiB before`);
    },
  };
}

const isEnd = (f: H2Frame, id: number) => f.streamId === id && (f.type === FrameType.HEADERS || f.type === FrameType.DATA) && (f.flags & Flag.END_STREAM) !== 0;
const ended = (c: RawH2Client, id: number) => c.frames.some((f) => isEnd(f, id));
const headersOf = (c: RawH2Client, id: number) => c.frames.find((f) => f.type === FrameType.HEADERS && f.streamId === id);
const post = (path: string): Array<[string, string]> => [[':method', 'POST'], [':scheme', 'http'], [':authority', 'adv.test'], [':path', path]];

// ─────────────────────────── max_concurrent_streams ───────────────────────────

test('streams beyond max_concurrent_streams get RST_STREAM(REFUSED_STREAM); the other streams complete and the connection goes on (http2.stream_refused_errors)', async (t) => {
  const held: http.ServerResponse[] = [];
  const e = await setup(t, { max_concurrent_streams: 5 }, (req, res) => {
    if (req.url!.startsWith('/hold/')) { held.push(res); return; }
    res.writeHead(200, { 'content-length': '2' });
    res.end('ok');
  });
  const c = await rawH2Client(e.port);
  t.after(() => c.close());
  // A client that ignores SETTINGS_MAX_CONCURRENT_STREAMS: 5 + 150 streams in one write.
  const LIMIT = 5, EXTRA = 150;
  c.write(Array.from({ length: LIMIT + EXTRA }, (_, i) => h2Request(1 + 2 * i, h2Get(`/hold/${i}`), true)));
  const refused = () => c.frames.filter((f) => f.type === FrameType.RST_STREAM && f.payload.readUInt32BE(0) === 0x7).length;
  await c.waitFor(() => refused() === EXTRA, `${EXTRA} REFUSED_STREAM`);
  await waitUntil(() => held.length === LIMIT, 10_000, 'the streams within the limit upstream');
  for (let i = 0; i < LIMIT; i++) assert.equal(c.rstCode(1 + 2 * i), undefined, `stream ${1 + 2 * i} is not reset`);
  assert.equal(await e.px.stat('http2.stream_refused_errors'), EXTRA);
  for (const r of held) { r.writeHead(200, { 'content-length': '4' }); r.end('done'); }
  await c.waitFor(() => Array.from({ length: LIMIT }, (_, i) => 1 + 2 * i).every((id) => ended(c, id)), 'the streams within the limit answered');
  for (let i = 0; i < LIMIT; i++) assert.equal(h2Status(headersOf(c, 1 + 2 * i)!), 200);
  // The connection takes new streams.
  const next = 1 + 2 * (LIMIT + EXTRA);
  c.write(h2Request(next, h2Get('/after'), true));
  await c.waitFor(() => ended(c, next), 'a stream opened afterwards answered');
  assert.equal(h2Status(headersOf(c, next)!), 200);
  assert.equal(c.closed, false);
  assert.equal(c.goaway(), undefined);
  assert.equal(e.up.requests.filter((r) => r.url.startsWith('/hold/')).length, LIMIT, 'no refused stream reached the upstream');
  c.close();
  await e.finish();
});

// ─────────────────────────── WINDOW_UPDATE flood ───────────────────────────

test('WINDOW_UPDATE flood closes the connection (max_inbound_window_update_frames_per_data_frame_sent, http2.inbound_window_update_frames_flood)', async (t) => {
  const e = await setup(t);
  const c = await rawH2Client(e.port);
  t.after(() => c.close());
  // One stream open (the upstream waits for the body), no DATA sent to the client yet: Envoy
  // allows a handful of WINDOW_UPDATEs, not 40.
  c.write(h2Request(1, post('/upload'), false));
  c.write(Array.from({ length: 40 }, (_, i) => h2WindowUpdate(i % 2, 1)));
  await c.waitFor(() => c.closed, 'the connection closed');
  assert.equal(c.goaway()?.code, 0xb, 'GOAWAY ENHANCE_YOUR_CALM');
  assert.equal(await e.px.stat('http2.inbound_window_update_frames_flood'), 1);
  await e.finish();
});

/** Gets a 40000-byte response (at least 3 DATA frames), then sends WINDOW_UPDATEs beyond what a ratio of 1 allows; returns whether the proxy closed the connection. */
async function windowUpdatesAfterResponse(port: number): Promise<{ closed: boolean; goaway?: number }> {
  const c = await rawH2Client(port);
  try {
    c.write(h2Request(1, h2Get('/big'), true));
    await c.waitFor(() => ended(c, 1), 'the response');
    const dataFrames = c.frames.filter((f) => f.type === FrameType.DATA && f.streamId === 1).length;
    assert.ok(dataFrames >= 3, `${dataFrames} DATA frames`);
    // Allowed with a ratio of N: (1 or 5) + 2 × (1 stream + N × DATA frames sent).
    const n = 7 + 2 * dataFrames + 20;
    c.write(Array.from({ length: n }, (_, i) => h2WindowUpdate(i % 2, 1)));
    c.write(h2Request(3, h2Get('/small'), true));
    await c.waitFor(() => c.closed || ended(c, 3), 'close or the next response');
    return { closed: c.closed, goaway: c.goaway()?.code };
  } finally { c.close(); }
}

test('a configured max_inbound_window_update_frames_per_data_frame_sent takes effect; Envoy\'s default allows the same traffic', async (t) => {
  const body = Buffer.alloc(40_000, 0x62);
  const handler: UpstreamHandler = (req, res) => {
    const b = req.url === '/big' ? body : Buffer.from('ok');
    res.writeHead(200, { 'content-length': String(b.length) });
    res.end(b);
  };
  const strict = await setup(t, { max_inbound_window_update_frames_per_data_frame_sent: 1 }, handler);
  assert.deepEqual(await windowUpdatesAfterResponse(strict.port), { closed: true, goaway: 0xb });
  assert.equal(await strict.px.stat('http2.inbound_window_update_frames_flood'), 1);
  await strict.finish();
  const lenient = await setup(t, {}, handler);
  assert.deepEqual(await windowUpdatesAfterResponse(lenient.port), { closed: false, goaway: undefined });
  assert.equal(await lenient.px.stat('http2.inbound_window_update_frames_flood'), 0);
  await lenient.finish();
});

// ─────────────────────────── outbound queue limits ───────────────────────────

/**
 * A client that asks for a 32 MiB response with windows wide open and stops reading it: once the
 * proxy's socket is backed up, it sends `pings` PINGs whose ACKs can only queue. Then
 * `expectFlood`: the proxy closes the connection (a paused socket does not see that: the
 * proxy's downstream_cx_http2_active says it); else the client reads everything again and gets
 * every ACK on a connection that stayed open.
 */
async function pingsWhileBlocked(e: Awaited<ReturnType<typeof setup>>, pings: number, expectFlood: boolean): Promise<void> {
  const s = await connect(e.port);
  s.pause();
  s.on('error', () => { /* reset by the proxy */ });
  let closed = false;
  s.on('close', () => { closed = true; });
  try {
    s.write(Buffer.concat([
      H2_PREFACE, h2Settings([[4, 2 ** 31 - 1]]), h2WindowUpdate(0, 2 ** 31 - 1 - 65_535), h2Frame(FrameType.SETTINGS, Flag.ACK, 0),
      h2Request(1, h2Get('/huge'), true),
    ]));
    const active = () => e.px.stat('http.ingress.downstream_cx_http2_active');
    // The proxy stops moving response bytes once the socket is full (a small outbound limit may
    // already be crossed by the response's own DATA frames queued for the socket). The
    // bystander's 2-byte bodies count in the same stat: "settled" is less than 64 KiB in 500 ms.
    await waitUntil(async () => (await active()) === 0 || (await e.px.stat('http.ingress.downstream_cx_tx_bytes_total')) > 1 << 20, 10_000, 'the response flowing');
    let last = -Infinity;
    await waitUntil(async () => {
      if ((await active()) === 0) return true;
      const now = await e.px.stat('http.ingress.downstream_cx_tx_bytes_total');
      const quiet = now - last < 65_536;
      last = now;
      if (!quiet) await new Promise((r) => setTimeout(r, 500));
      return quiet;
    }, 20_000, 'the response blocked');
    if ((await active()) !== 0) {
      s.write(Buffer.concat(Array.from({ length: pings }, (_, i) => { const p = Buffer.alloc(8); p.writeUInt32BE(i, 4); return h2Frame(FrameType.PING, 0, 0, p); })));
    }
    if (expectFlood) {
      await waitUntil(async () => (await active()) === 0, 10_000, 'the proxy closed the connection');
      return;
    }
    const reader = new FrameReader();
    let acks = 0, ended = false;
    s.on('data', (d: Buffer) => {
      for (const f of reader.push(d)) {
        if (f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0) acks++;
        if (f.type === FrameType.DATA && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0) ended = true;
      }
    });
    s.resume();
    await waitUntil(() => acks === pings && ended, 30_000, `${pings} PING ACKs and the whole response`);
    assert.equal(closed, false);
    assert.equal(await active(), 1, 'the connection stayed open');
  } finally { s.destroy(); }
}

const huge = Buffer.alloc(32 << 20, 0x63);
const hugeHandler: UpstreamHandler = (req, res) => {
  const b = req.url === '/huge' ? huge : Buffer.from('ok');
  res.writeHead(200, { 'content-length': String(b.length) });
  res.end(b);
};

test('a configured max_outbound_control_frames takes effect (http2.outbound_control_flood); Envoy\'s default allows the same PINGs', async (t) => {
  const strict = await setup(t, { max_outbound_control_frames: 10 }, hugeHandler);
  await pingsWhileBlocked(strict, 100, true);
  assert.equal(await strict.px.stat('http2.outbound_control_flood'), 1);
  assert.equal(await strict.px.stat('http2.outbound_flood'), 0);
  await strict.finish();
  const lenient = await setup(t, {}, hugeHandler);
  await pingsWhileBlocked(lenient, 100, false);
  assert.equal(await lenient.px.stat('http2.outbound_control_flood'), 0);
  assert.equal(await lenient.px.stat('http2.outbound_flood'), 0);
  await waitUntil(async () => (await lenient.px.stat('http.ingress.downstream_cx_http2_active')) === 0, 10_000, 'the client gone');
  await lenient.finish();
});

test('a configured max_outbound_frames takes effect (http2.outbound_flood)', async (t) => {
  const strict = await setup(t, { max_outbound_frames: 20 }, hugeHandler);
  await pingsWhileBlocked(strict, 100, true);
  assert.equal(await strict.px.stat('http2.outbound_flood'), 1);
  await strict.finish();
});

// ─────────────────────────── consecutive empty frames ───────────────────────────

test('max_consecutive_inbound_frames_with_empty_payload counts consecutive frames: empty DATA frames between non-empty ones never trip it', async (t) => {
  const e = await setup(t);
  const c = await rawH2Client(e.port);
  t.after(() => c.close());
  c.write(h2Request(1, post('/upload'), false));
  const x = Buffer.from('x');
  // 300 empty frames in all (node:http2's session-wide budget was 1 + 100 + 100), never two in a row.
  c.write(Array.from({ length: 600 }, (_, i) => h2Frame(FrameType.DATA, 0, 1, i % 2 === 0 ? Buffer.alloc(0) : x)));
  c.write(h2Frame(FrameType.DATA, Flag.END_STREAM, 1, x));
  await c.waitFor(() => ended(c, 1), 'the response');
  assert.equal(h2Status(headersOf(c, 1)!), 200);
  assert.equal(c.closed, false);
  assert.equal(await e.px.stat('http2.inbound_empty_frames_flood'), 0);
  assert.equal(e.up.requests.find((r) => r.url === '/upload')?.body.length, 301);
  c.close();
  await e.finish();
});

test('two consecutive empty DATA frames close the connection at Envoy\'s default of 1 (http2.inbound_empty_frames_flood)', async (t) => {
  const e = await setup(t);
  const c = await rawH2Client(e.port);
  t.after(() => c.close());
  c.write(h2Request(1, post('/upload'), false));
  c.write([h2Frame(FrameType.DATA, 0, 1, Buffer.from('a')), h2Frame(FrameType.DATA, 0, 1), h2Frame(FrameType.DATA, 0, 1)]);
  await c.waitFor(() => c.closed, 'the connection closed');
  assert.equal(c.goaway()?.code, 0xb, 'GOAWAY ENHANCE_YOUR_CALM');
  assert.equal(await e.px.stat('http2.inbound_empty_frames_flood'), 1);
  await e.finish();
});

test('a configured max_consecutive_inbound_frames_with_empty_payload allows that many in a row, not one more', async (t) => {
  const e = await setup(t, { max_consecutive_inbound_frames_with_empty_payload: 5 });
  const c = await rawH2Client(e.port);
  t.after(() => c.close());
  const empty = (n: number) => Array.from({ length: n }, () => h2Frame(FrameType.DATA, 0, 1));
  c.write(h2Request(1, post('/upload'), false));
  c.write([...empty(5), h2Frame(FrameType.DATA, 0, 1, Buffer.from('a')), ...empty(5), h2Frame(FrameType.DATA, 0, 1, Buffer.from('b'))]);
  // A PING round trip: everything before it was processed.
  c.write(h2Frame(FrameType.PING, 0, 0, Buffer.alloc(8)));
  await c.waitFor((fs) => fs.some((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0), 'the PING ACK');
  assert.equal(c.closed, false, 'five in a row are allowed');
  c.write(empty(6));
  await c.waitFor(() => c.closed, 'the connection closed');
  assert.equal(c.goaway()?.code, 0xb);
  assert.equal(await e.px.stat('http2.inbound_empty_frames_flood'), 1);
  await e.finish();
});
