// Flow control and lifecycle details of Weft's own HTTP/2 session (src/proxy/codec/http2/session.ts)
// against hand-built frames: WINDOW_UPDATE withheld while a stream is paused and granted on resume,
// batched grants, SETTINGS_INITIAL_WINDOW_SIZE changes applied to open streams (RFC 9113 §6.9.2),
// DATA kept out of the socket while its buffer is above the high-water mark (a peer that does not
// read), the graceful drain's timeout when the client never answers the PING, and close(code).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import {
  Flag, FrameType, type RawH2Client, h2Frame, h2Get, h2Request, h2Settings, h2WindowUpdate, rawH2Client, waitUntil,
} from '../../../helpers/adversarial.js';
import type { H2Stream } from '../../../../src/proxy/codec/http2/types.js';
import { Recorder, startH2Server } from './session-helpers.js';

async function roundTrip(c: RawH2Client, tag: number): Promise<void> {
  const p = Buffer.alloc(8); p.writeUInt32BE(tag, 4);
  c.write(h2Frame(FrameType.PING, 0, 0, p));
  await c.waitFor((fs) => fs.some((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0 && f.payload.readUInt32BE(4) === tag), `PING ACK ${tag}`);
}

const windowUpdates = (c: RawH2Client, id: number): number[] =>
  c.frames.filter((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === id).map((f) => f.payload.readUInt32BE(0));
const dataBytes = (c: RawH2Client, id: number): number =>
  c.frames.filter((f) => f.type === FrameType.DATA && f.streamId === id).reduce((n, f) => n + f.payload.length, 0);
const data = (id: number, n: number, end = false): Buffer => h2Frame(FrameType.DATA, end ? Flag.END_STREAM : 0, id, Buffer.alloc(n, 0x61));

test('flow control: stream WINDOW_UPDATEs are batched (half the window), withheld while paused, granted on resume', async (t) => {
  let stream: H2Stream | null = null;
  const rec = new Recorder();
  const srv = await startH2Server(t, (st) => { stream = st; st.handler = rec; });
  const c = await rawH2Client(srv.port);
  t.after(() => c.close());
  c.write(h2Request(1, h2Get('/'), false));
  await waitUntil(() => stream !== null, 5000, 'stream');
  // 10 frames of 3000 bytes = 30000 < 32767: no grant yet.
  c.write(Array.from({ length: 10 }, () => data(1, 3000)));
  await roundTrip(c, 1);
  assert.deepEqual(windowUpdates(c, 1), []);
  c.write(data(1, 3000));
  await c.waitFor(() => windowUpdates(c, 1).length === 1, 'a batched WINDOW_UPDATE');
  assert.deepEqual(windowUpdates(c, 1), [33_000]);
  // Paused: 40000 more bytes arrive (within the window), nothing is granted.
  stream!.pause();
  c.write(Array.from({ length: 10 }, () => data(1, 4000)));
  await roundTrip(c, 2);
  assert.equal(rec.body.length, 73_000, 'data inside the window is still delivered');
  assert.deepEqual(windowUpdates(c, 1), [33_000]);
  stream!.resume();
  await c.waitFor(() => windowUpdates(c, 1).length === 2, 'the grant on resume');
  assert.deepEqual(windowUpdates(c, 1), [33_000, 40_000]);
  // The connection window (1 MiB) has not reached its half: no connection update yet.
  assert.deepEqual(windowUpdates(c, 0).slice(1), []);
});

test('flow control: SETTINGS_INITIAL_WINDOW_SIZE changes shift open streams\' send windows (§6.9.2), including below zero', async (t) => {
  let stream: H2Stream | null = null;
  const srv = await startH2Server(t, (st) => {
    stream = st;
    st.handler = new Recorder();
    st.sendHeaders([':status', '200'], false);
    st.sendData(Buffer.alloc(1000, 0x62), true);
  });
  const c = await rawH2Client(srv.port, { settings: [[4, 0]] });
  t.after(() => c.close());
  c.write(h2Request(1, h2Get('/'), true));
  await c.waitFor((fs) => fs.some((f) => f.type === FrameType.HEADERS && f.streamId === 1), 'response HEADERS');
  await roundTrip(c, 1);
  assert.equal(dataBytes(c, 1), 0, 'window 0: no DATA');
  c.write(h2Settings([[4, 600]]));
  await c.waitFor(() => dataBytes(c, 1) === 600, '600 bytes');
  // Down to 100: the window is 100 - 600 = -500; a WINDOW_UPDATE of 700 opens 200 more.
  c.write(h2Settings([[4, 100]]));
  await roundTrip(c, 2);
  c.write(h2WindowUpdate(1, 700));
  await c.waitFor(() => dataBytes(c, 1) === 800, '800 bytes');
  await roundTrip(c, 3);
  assert.equal(dataBytes(c, 1), 800);
  c.write(h2WindowUpdate(1, 1000));
  await c.waitFor((fs) => fs.some((f) => f.type === FrameType.DATA && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0), 'END_STREAM');
  assert.equal(dataBytes(c, 1), 1000);
  await waitUntil(() => stream!.closed, 5000, 'stream closed');
});

test('writes: DATA stays queued in the stream (not the socket) while the peer does not read; sendData says so; all of it arrives later', async (t) => {
  let stream: H2Stream | null = null;
  const total = 16 << 20;
  let refusedAt = -1;
  const srv = await startH2Server(t, (st) => {
    stream = st;
    st.handler = new Recorder();
    st.sendHeaders([':status', '200'], false);
    const piece = Buffer.alloc(1 << 20, 0x63);
    for (let i = 0; i < 16; i++) if (!st.sendData(piece, i === 15) && refusedAt < 0) refusedAt = i;
  }, { streamBufferLimit: 4 << 20 });
  const c = await rawH2Client(srv.port, { settings: [[4, 2 ** 31 - 1]] });
  t.after(() => c.close());
  c.write(h2WindowUpdate(0, 2 ** 31 - 1 - 65_535));
  c.sock.pause();
  c.write(h2Request(1, h2Get('/'), true));
  await waitUntil(() => stream !== null, 5000, 'stream');
  const sock = (srv.events.sessions[0] as unknown as { socket: Duplex }).socket;
  // Let the kernel buffers fill; then the socket's own buffer stays near its budget.
  let last = -1;
  await waitUntil(() => { const q = stream!.queuedBytes; const same = q === last; last = q; return same && q > 0; }, 10_000, 'queue settled');
  assert.equal(refusedAt, 4, 'sendData returned false once 4 MiB were queued');
  assert.ok(sock.writableLength <= 256 * 1024, `socket buffer ${sock.writableLength}`);
  assert.ok(stream!.queuedBytes >= 4 << 20, `stream queue ${stream!.queuedBytes}`);
  c.sock.resume();
  await c.waitFor((fs) => fs.some((f) => f.type === FrameType.DATA && (f.flags & Flag.END_STREAM) !== 0), 'END_STREAM', 30_000);
  assert.equal(dataBytes(c, 1), total);
});

test('shutdown: a client that never answers the PING gets the final GOAWAY after drainTimeoutMs; the session closes once its stream ends', async (t) => {
  const streams: H2Stream[] = [];
  const srv = await startH2Server(t, (st) => { st.handler = new Recorder(); streams.push(st); }, { drainTimeoutMs: 200 });
  const c = await rawH2Client(srv.port); // never ACKs PINGs
  t.after(() => c.close());
  c.write(h2Request(1, h2Get('/'), true));
  await waitUntil(() => streams.length === 1, 5000, 'stream');
  const t0 = Date.now();
  srv.events.sessions[0]!.shutdown();
  const goaways = (): Array<{ last: number; code: number }> => c.frames.filter((f) => f.type === FrameType.GOAWAY).map((f) => ({ last: f.payload.readUInt32BE(0), code: f.payload.readUInt32BE(4) }));
  await c.waitFor(() => goaways().length === 2, 'final GOAWAY');
  assert.ok(Date.now() - t0 >= 150, 'the final GOAWAY waited for the drain timeout');
  assert.deepEqual(goaways(), [{ last: 2 ** 31 - 1, code: 0 }, { last: 1, code: 0 }]);
  assert.ok(c.frames.some((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) === 0), 'the drain PING');
  // A stream opened after the final GOAWAY is refused.
  c.write(h2Request(3, h2Get('/'), true));
  await c.waitFor(() => c.rstCode(3) !== undefined, 'RST on 3');
  assert.equal(c.rstCode(3), 7);
  assert.deepEqual(srv.events.refused, ['draining']);
  assert.equal(srv.events.closes, 0);
  streams[0]!.sendHeaders([':status', '204'], true);
  await waitUntil(() => srv.events.closes === 1 && c.closed, 5000, 'closed after the last stream');
});

test('close(code): GOAWAY(code, last stream), open streams reset (remote false), onClose once', async (t) => {
  const recs: Recorder[] = [];
  const srv = await startH2Server(t, (st) => { const r = new Recorder(); recs.push(r); st.handler = r; });
  const c = await rawH2Client(srv.port);
  t.after(() => c.close());
  c.write([h2Request(1, h2Get('/'), false), h2Request(3, h2Get('/'), false)]);
  await waitUntil(() => recs.length === 2, 5000, 'streams');
  srv.events.sessions[0]!.close(2);
  assert.equal(srv.events.sessions[0]!.closed, true);
  for (const r of recs) assert.deepEqual(r.reset, { code: 2, remote: false });
  await c.waitFor(() => c.goaway() !== undefined, 'GOAWAY');
  assert.deepEqual(c.goaway(), { lastStreamId: 3, code: 2 });
  await waitUntil(() => c.closed && srv.events.closes === 1, 5000, 'closed');
  const pinged = await new Promise<Error | null>((r) => srv.events.sessions[0]!.ping((err) => r(err)));
  assert.ok(pinged instanceof Error);
});
