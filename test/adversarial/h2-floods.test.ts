// Adversarial: Envoy's HTTP/2 flood protections on the downstream, one test per limit, with raw
// frames (enforced by Weft's HTTP/2 session, src/proxy/codec/http2/; the limits node:http2 could
// not enforce are in h2-session-limits.test.ts):
// a PING flood and a SETTINGS flood whose ACKs are never read (http2.outbound_control_flood),
// empty DATA frames (http2.inbound_empty_frames_flood), PRIORITY frames
// (http2.inbound_priority_frames_flood). Each closes the attacker's connection; the proxy stays
// up, a bystander stays fast, RSS and fds come back near their baseline.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream } from '../helpers/upstream.js';
import type { Obj } from '../helpers/bootstrap.js';
import {
  bystander, connect, FrameType, h2Frame, h2Get, h2Request, h2Settings, H2_PREFACE, proxyInFrontOf, rawH2Client, waitUntil,
} from '../helpers/adversarial.js';

async function setup(t: TestContext, http2: Obj = {}) {
  const up = await startUpstream();
  t.after(() => up.close());
  const px = await proxyInFrontOf(t, up.port, { http2_protocol_options: http2 });
  const port = px.port('main');
  const by = bystander(port);
  let stopped = false;
  t.after(async () => { if (!stopped) await by.stop(); });
  await waitUntil(async () => (await px.stat('http.ingress.downstream_rq_2xx')) > 0, 10_000, 'the bystander served');
  const base = { rss: px.rss(), fds: px.fds() };
  return {
    px, port,
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

/** Writes `frame` repeatedly (never reading) until the proxy closes the connection; returns how many were written. */
async function floodUnread(port: number, frame: Buffer): Promise<number> {
  const s = await connect(port);
  s.pause(); // the ACKs are never read
  s.on('error', () => { /* reset by the proxy */ });
  s.write(Buffer.concat([H2_PREFACE, h2Settings([]), h2Frame(FrameType.SETTINGS, 0x1, 0)]));
  const batch = Buffer.concat(Array.from({ length: 500 }, () => frame));
  let n = 0, closed = false;
  s.on('close', () => { closed = true; });
  const deadline = Date.now() + 30_000;
  while (!closed && Date.now() < deadline) {
    n += 500;
    await new Promise<void>((r) => { if (!s.write(batch)) s.once('drain', r); else setImmediate(r); setTimeout(r, 200); });
  }
  s.destroy();
  assert.ok(closed, 'the proxy closed the flooding connection');
  return n;
}

test('PING flood with unread ACKs closes the connection (http2.outbound_control_flood)', async (t) => {
  const e = await setup(t);
  await floodUnread(e.port, h2Frame(FrameType.PING, 0, 0, Buffer.alloc(8)));
  await waitUntil(async () => (await e.px.stat('http2.outbound_control_flood')) >= 1, 10_000, 'http2.outbound_control_flood');
  await e.finish();
});

test('SETTINGS flood with unread ACKs closes the connection (http2.outbound_control_flood)', async (t) => {
  const e = await setup(t);
  await floodUnread(e.port, h2Settings([[4, 65535]]));
  await waitUntil(async () => (await e.px.stat('http2.outbound_control_flood')) >= 1, 10_000, 'http2.outbound_control_flood');
  await e.finish();
});

test('empty DATA frames without END_STREAM close the connection (max_consecutive_inbound_frames_with_empty_payload, http2.inbound_empty_frames_flood)', async (t) => {
  const e = await setup(t);
  const c = await rawH2Client(e.port);
  t.after(() => c.close());
  c.write(h2Request(1, [[':method', 'POST'], [':scheme', 'http'], [':authority', 'adv.test'], [':path', '/upload']], false));
  // Far more than the default of 1 in a row.
  c.write(Array.from({ length: 300 }, () => h2Frame(FrameType.DATA, 0, 1)));
  await c.waitFor(() => c.closed, 'the connection closed');
  assert.ok(c.goaway() !== undefined, 'a GOAWAY first');
  assert.equal(await e.px.stat('http2.inbound_empty_frames_flood'), 1);
  await e.finish();
});

test('a larger max_consecutive_inbound_frames_with_empty_payload allows more empty frames', async (t) => {
  const e = await setup(t, { max_consecutive_inbound_frames_with_empty_payload: 500 });
  const c = await rawH2Client(e.port);
  t.after(() => c.close());
  c.write(h2Request(1, [[':method', 'POST'], [':scheme', 'http'], [':authority', 'adv.test'], [':path', '/upload']], false));
  c.write(Array.from({ length: 300 }, () => h2Frame(FrameType.DATA, 0, 1)));
  c.write(h2Frame(FrameType.DATA, 0x1, 1, Buffer.from('done')));
  await c.waitFor(() => c.frames.some((f) => f.type === FrameType.HEADERS && f.streamId === 1), 'the response');
  assert.equal(c.closed, false);
  assert.equal(await e.px.stat('http2.inbound_empty_frames_flood'), 0);
  c.close();
  await e.finish();
});

test('PRIORITY flood closes the connection (max_inbound_priority_frames_per_stream, http2.inbound_priority_frames_flood)', async (t) => {
  const e = await setup(t, { max_inbound_priority_frames_per_stream: 10 });
  const c = await rawH2Client(e.port);
  t.after(() => c.close());
  const prio = (id: number) => { const p = Buffer.alloc(5); p[4] = 15; return h2Frame(FrameType.PRIORITY, 0, id, p); };
  // One stream open: 10 × (1 + 1) = 20 PRIORITY frames are allowed, the 21st is not.
  c.write(h2Request(1, h2Get('/p'), true));
  c.write(Array.from({ length: 20 }, (_, i) => prio(i % 2 === 0 ? 1 : 101 + 2 * i)));
  await c.waitFor(() => c.frames.some((f) => f.type === FrameType.HEADERS && f.streamId === 1), 'the response');
  assert.equal(c.closed, false, 'within the limit');
  c.write(Array.from({ length: 50 }, (_, i) => prio(201 + 2 * i)));
  await c.waitFor(() => c.closed, 'the connection closed');
  assert.equal(c.goaway()?.code, 0xb, 'GOAWAY ENHANCE_YOUR_CALM');
  assert.equal(await e.px.stat('http2.inbound_priority_frames_flood'), 1);
  await e.finish();
});
