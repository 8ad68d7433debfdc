// Weft's own HTTP/2 server session (src/proxy/codec/http2/session.ts) against hand-built frames
// on a TCP socket: SETTINGS_MAX_CONCURRENT_STREAMS enforced by REFUSED_STREAM with the connection
// and the HPACK tables intact, CONTINUATION rules, flow-control errors, stream states (§5.1),
// stream ids (§5.1.1), the bad preface, SETTINGS validation, frame sizes and malformed requests.
// (Flood limits: session-flood.test.ts.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import {
  Flag, FrameType, type RawH2Client, connect, h2Frame, h2Get, h2Request, h2RstStream, h2Settings, h2Status, h2WindowUpdate,
  hpackLiterals, rawH2Client, waitUntil,
} from '../../../helpers/adversarial.js';
import type { H2Stream } from '../../../../src/proxy/codec/http2/types.js';
import { Recorder, field, startH2Server, type TestServer } from './session-helpers.js';

const PROTOCOL_ERROR = 1, FLOW_CONTROL_ERROR = 3, STREAM_CLOSED = 5, FRAME_SIZE_ERROR = 6, REFUSED_STREAM = 7, ENHANCE_YOUR_CALM = 11;

/** Answers 200 + "ok" once the request ended; records every stream. */
function responder(streams: Array<{ st: H2Stream; rec: Recorder; headers: string[] }>) {
  return (st: H2Stream, headers: string[], end: boolean): void => {
    const respond = (): void => { st.sendHeaders([':status', '200'], false); st.sendData(Buffer.from('ok'), true); };
    const rec = new Recorder((r) => { if (r.ended && !r.closed && r.reset === null && !st.localEnded) respond(); });
    streams.push({ st, rec, headers });
    st.handler = rec;
    if (end) respond();
  };
}

async function setup(t: TestContext, opts: Parameters<typeof startH2Server>[2] = {}): Promise<{ srv: TestServer; c: RawH2Client; streams: Array<{ st: H2Stream; rec: Recorder; headers: string[] }> }> {
  const streams: Array<{ st: H2Stream; rec: Recorder; headers: string[] }> = [];
  const srv = await startH2Server(t, responder(streams), opts);
  const c = await rawH2Client(srv.port);
  t.after(() => c.close());
  await c.waitFor((fs) => fs.some((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0), 'server SETTINGS');
  return { srv, c, streams };
}

/** Sends a PING and waits for its ACK: everything written before was processed. */
async function roundTrip(c: RawH2Client, tag: number): Promise<void> {
  const p = Buffer.alloc(8); p.writeUInt32BE(tag, 4);
  c.write(h2Frame(FrameType.PING, 0, 0, p));
  await c.waitFor((fs) => fs.some((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0 && f.payload.readUInt32BE(4) === tag), `PING ACK ${tag}`);
}

async function expectGoaway(c: RawH2Client, code: number): Promise<void> {
  await c.waitFor((fs) => fs.some((f) => f.type === FrameType.GOAWAY), 'GOAWAY');
  assert.equal(c.goaway()!.code, code, `GOAWAY code ${c.goaway()!.code}, expected ${code}`);
  await waitUntil(() => c.closed, 5000, 'connection closed');
}

async function expectRst(c: RawH2Client, id: number, code: number): Promise<void> {
  await c.waitFor(() => c.rstCode(id) !== undefined, `RST_STREAM on ${id}`);
  assert.equal(c.rstCode(id), code);
}

const data = (id: number, payload: Buffer | string, end: boolean): Buffer => h2Frame(FrameType.DATA, end ? Flag.END_STREAM : 0, id, Buffer.from(payload));
const responseOn = (c: RawH2Client, id: number): number => { const f = c.frames.find((x) => x.type === FrameType.HEADERS && x.streamId === id); return f === undefined ? 0 : h2Status(f); };

test('max_concurrent_streams: extra streams get REFUSED_STREAM, their header blocks still update HPACK, their DATA is ignored, the connection goes on', async (t) => {
  const { srv, c, streams } = await setup(t, { settings: { maxConcurrentStreams: 2 } });
  // Stream 5's block adds "x-sync: v1" to the dynamic table (literal with incremental indexing).
  const sync = Buffer.concat([hpackLiterals(h2Get('/5')), Buffer.from([0x40, 6]), Buffer.from('x-sync'), Buffer.from([2]), Buffer.from('v1')]);
  c.write([h2Request(1, h2Get('/1'), false), h2Request(3, h2Get('/3'), false), h2Frame(FrameType.HEADERS, Flag.END_HEADERS, 5, sync), data(5, 'ignored', true)]);
  await expectRst(c, 5, REFUSED_STREAM);
  assert.deepEqual(srv.events.refused, ['max_concurrent_streams']);
  assert.equal(streams.length, 2);
  // Finish stream 1; a new stream 7 referencing the dynamic entry (index 62) is accepted.
  c.write(data(1, 'body', true));
  await c.waitFor(() => responseOn(c, 1) === 200, 'response on 1');
  await waitUntil(() => srv.events.sessions[0]!.activeStreams === 1, 5000, 'stream 1 closed');
  c.write(h2Frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 7, Buffer.concat([hpackLiterals(h2Get('/7')), Buffer.from([0xbe])])));
  await c.waitFor(() => responseOn(c, 7) === 200, 'response on 7');
  assert.equal(field(streams[2]!.headers, 'x-sync'), 'v1');
  await roundTrip(c, 1);
  assert.equal(c.goaway(), undefined);
  assert.equal(c.rstCode(7), undefined);
  assert.equal(c.frames.filter((f) => f.type === FrameType.RST_STREAM).length, 1, 'only stream 5 was reset');
});

test('a handler that does not take the stream (no handler set) gets it reset with REFUSED_STREAM', async (t) => {
  const srv = await startH2Server(t, () => { /* leaves stream.handler null */ });
  const c = await rawH2Client(srv.port);
  t.after(() => c.close());
  c.write(h2Request(1, h2Get('/'), true));
  await expectRst(c, 1, REFUSED_STREAM);
});

test('CONTINUATION: a block split over HEADERS + 2 CONTINUATION frames makes one request', async (t) => {
  const { c, streams } = await setup(t);
  const block = hpackLiterals(h2Get('/split', [['x-long', 'y'.repeat(100)]]));
  c.write([
    h2Frame(FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 10)),
    h2Frame(FrameType.CONTINUATION, 0, 1, block.subarray(10, 50)),
    h2Frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(50)),
  ]);
  await c.waitFor(() => responseOn(c, 1) === 200, 'response');
  assert.equal(field(streams[0]!.headers, ':path'), '/split');
  assert.equal(field(streams[0]!.headers, 'x-long'), 'y'.repeat(100));
});

for (const [name, frames] of [
  ['another frame interleaved in a header block', [h2Frame(FrameType.HEADERS, 0, 1, hpackLiterals(h2Get('/'))), h2Frame(FrameType.PING, 0, 0, Buffer.alloc(8))]],
  ['CONTINUATION on another stream', [h2Frame(FrameType.HEADERS, 0, 1, hpackLiterals(h2Get('/'))), h2Frame(FrameType.CONTINUATION, Flag.END_HEADERS, 3, Buffer.from([0x82]))]],
  ['CONTINUATION without a header block in progress', [h2Frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, hpackLiterals(h2Get('/')))]],
] as const) {
  test(`CONTINUATION: ${name} is a connection error PROTOCOL_ERROR`, async (t) => {
    const { srv, c } = await setup(t);
    c.write([...frames]);
    await expectGoaway(c, PROTOCOL_ERROR);
    await waitUntil(() => srv.events.closes === 1, 5000, 'session closed');
    assert.equal(srv.events.protocolErrors[0]!.code, PROTOCOL_ERROR);
  });
}

test('CONTINUATION: a header block far above max_header_list_size closes the connection (ENHANCE_YOUR_CALM) without buffering it all', async (t) => {
  const { srv, c } = await setup(t, { settings: { maxHeaderListSize: 4096 } });
  const frames = [h2Frame(FrameType.HEADERS, 0, 1, Buffer.alloc(1000, 0x41))];
  for (let i = 0; i < 200; i++) frames.push(h2Frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(1000, 0x41)));
  c.write(frames);
  await expectGoaway(c, ENHANCE_YOUR_CALM);
  assert.match(srv.events.protocolErrors[0]!.detail, /header block too large/);
});

test('header list above max_header_list_size: the stream is reset, the connection goes on', async (t) => {
  const { srv, c } = await setup(t, { settings: { maxHeaderListSize: 4096 } });
  c.write(h2Request(1, h2Get('/', [['x-big', 'z'.repeat(5000)]]), true));
  await expectRst(c, 1, PROTOCOL_ERROR);
  assert.deepEqual(srv.events.refused, ['header_list_size']);
  c.write(h2Request(3, h2Get('/ok'), true));
  await c.waitFor(() => responseOn(c, 3) === 200, 'response on 3');
});

test('flow control: WINDOW_UPDATE overflowing the connection window is FLOW_CONTROL_ERROR on the connection', async (t) => {
  const { c } = await setup(t);
  c.write(h2WindowUpdate(0, 2 ** 31 - 1));
  await expectGoaway(c, FLOW_CONTROL_ERROR);
});

test('flow control: WINDOW_UPDATE overflowing a stream window resets that stream only', async (t) => {
  const { c, streams } = await setup(t);
  c.write(h2Request(1, h2Get('/'), false));
  await waitUntil(() => streams.length === 1, 5000, 'stream open');
  c.write(h2WindowUpdate(1, 2 ** 31 - 1));
  await expectRst(c, 1, FLOW_CONTROL_ERROR);
  assert.deepEqual(streams[0]!.rec.reset, { code: FLOW_CONTROL_ERROR, remote: false });
  await roundTrip(c, 2);
  assert.equal(c.goaway(), undefined);
});

test('flow control: a WINDOW_UPDATE of 0 is a stream error on a stream, a connection error on stream 0', async (t) => {
  const { c, streams } = await setup(t);
  c.write(h2Request(1, h2Get('/'), false));
  await waitUntil(() => streams.length === 1, 5000, 'stream open');
  c.write(h2WindowUpdate(1, 0));
  await expectRst(c, 1, PROTOCOL_ERROR);
  c.write(h2WindowUpdate(0, 0));
  await expectGoaway(c, PROTOCOL_ERROR);
});

test('flow control: DATA beyond our stream window resets the stream (FLOW_CONTROL_ERROR); beyond the connection window closes the connection', async (t) => {
  const { c, streams } = await setup(t, { settings: { initialWindowSize: 1000, maxFrameSize: 100_000 }, connectionWindowSize: 65_535 });
  // rawH2Client ACKed our SETTINGS before this (frames are ordered): the stream window is 1000.
  c.write([h2Request(1, h2Get('/'), false), data(1, Buffer.alloc(1500), false)]);
  await expectRst(c, 1, FLOW_CONTROL_ERROR);
  assert.equal(streams[0]!.rec.reset?.code, FLOW_CONTROL_ERROR);
  c.write([h2Request(3, h2Get('/'), false), data(3, Buffer.alloc(70_000), false)]);
  await expectGoaway(c, FLOW_CONTROL_ERROR);
});

test('stream states: DATA on an idle stream is PROTOCOL_ERROR; so are RST_STREAM and WINDOW_UPDATE on idle streams', async (t) => {
  for (const frame of [data(1, 'x', true), h2RstStream(1), h2WindowUpdate(1, 10)]) {
    const { c } = await setup(t);
    c.write(frame);
    await expectGoaway(c, PROTOCOL_ERROR);
  }
});

test('stream states: DATA or HEADERS on a half-closed (remote) stream is a stream error STREAM_CLOSED', async (t) => {
  // No response: the streams stay half-closed (remote).
  const streams: H2Stream[] = [];
  const srv = await startH2Server(t, (st) => { st.handler = new Recorder(); streams.push(st); });
  const c = await rawH2Client(srv.port);
  t.after(() => c.close());
  c.write(h2Request(1, h2Get('/'), true));
  await waitUntil(() => streams.length === 1, 5000, 'stream 1');
  c.write(data(1, 'late', true));
  await expectRst(c, 1, STREAM_CLOSED);
  assert.equal(streams.length, 1);
  c.write(h2Request(3, h2Get('/'), true));
  await waitUntil(() => streams.length === 2, 5000, 'stream 3');
  c.write(h2Request(3, h2Get('/'), true));
  await expectRst(c, 3, STREAM_CLOSED);
  await roundTrip(c, 3);
  assert.equal(c.goaway(), undefined);
});

test('stream states: DATA after the client\'s RST_STREAM is a stream error STREAM_CLOSED; after a normal close it is a connection error STREAM_CLOSED', async (t) => {
  const { c, streams } = await setup(t);
  c.write([h2Request(1, h2Get('/'), false), h2RstStream(1, 8), data(1, 'x', true)]);
  await expectRst(c, 1, STREAM_CLOSED);
  await waitUntil(() => streams[0]?.rec.reset !== null, 5000, 'stream 1 reset');
  assert.deepEqual(streams[0]!.rec.reset, { code: 8, remote: true });
  c.write(h2Request(3, h2Get('/'), true));
  await c.waitFor(() => responseOn(c, 3) === 200 && c.frames.some((f) => f.type === FrameType.DATA && f.streamId === 3 && (f.flags & Flag.END_STREAM) !== 0), 'response on 3');
  c.write(data(3, 'x', true));
  await expectGoaway(c, STREAM_CLOSED);
});

test('stream states: frames on a stream we reset are ignored (in flight)', async (t) => {
  let first: H2Stream | null = null;
  const srv = await startH2Server(t, (st) => { st.handler = new Recorder(); first ??= st; });
  const c = await rawH2Client(srv.port);
  t.after(() => c.close());
  c.write(h2Request(1, h2Get('/'), false));
  await waitUntil(() => first !== null, 5000, 'stream');
  first!.reset(8);
  await expectRst(c, 1, 8);
  c.write([data(1, 'in flight', false), h2Frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, hpackLiterals([['x-t', '1']]))]);
  await roundTrip(c, 4);
  assert.equal(c.frames.filter((f) => f.type === FrameType.RST_STREAM).length, 1);
  assert.equal(c.goaway(), undefined);
});

test('stream ids: an even id or an id lower than one used is a connection error PROTOCOL_ERROR', async (t) => {
  {
    const { c } = await setup(t);
    c.write(h2Request(2, h2Get('/'), true));
    await expectGoaway(c, PROTOCOL_ERROR);
  }
  {
    const { c } = await setup(t);
    c.write([h2Request(5, h2Get('/'), true), h2Request(3, h2Get('/'), true)]);
    await expectGoaway(c, PROTOCOL_ERROR);
    assert.equal(c.goaway()!.lastStreamId, 5);
  }
});

test('preface: anything else than the client preface is a connection error PROTOCOL_ERROR', async (t) => {
  const srv = await startH2Server(t, () => {});
  const sock = await connect(srv.port);
  t.after(() => sock.destroy());
  const got: Buffer[] = [];
  sock.on('data', (d: Buffer) => got.push(d));
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  sock.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
  await closed;
  const all = Buffer.concat(got);
  // SETTINGS first (the server preface), then GOAWAY(PROTOCOL_ERROR).
  const goaway = all.indexOf(Buffer.from([0, 0, 8, FrameType.GOAWAY]));
  assert.ok(goaway > 0);
  assert.equal(all.readUInt32BE(goaway + 9 + 4), PROTOCOL_ERROR);
  assert.match(srv.events.protocolErrors[0]!.detail, /preface/);
  await waitUntil(() => srv.events.closes === 1, 5000, 'session closed');
});

test('preface: the first frame must be SETTINGS', async (t) => {
  const srv = await startH2Server(t, () => {});
  const c = await rawH2Client(srv.port, { ackSettings: false });
  t.after(() => c.close());
  // rawH2Client sent preface + SETTINGS; a second client sends the preface then a PING.
  const sock = await connect(srv.port);
  t.after(() => sock.destroy());
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  sock.on('data', () => {});
  sock.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), h2Frame(FrameType.PING, 0, 0, Buffer.alloc(8))]));
  await closed;
  assert.ok(srv.events.protocolErrors.some((e) => /first frame/.test(e.detail)));
});

for (const [name, settings, code] of [
  ['SETTINGS_ENABLE_PUSH 2', [[2, 2]], PROTOCOL_ERROR],
  ['SETTINGS_INITIAL_WINDOW_SIZE 2^31', [[4, 2 ** 31]], FLOW_CONTROL_ERROR],
  ['SETTINGS_MAX_FRAME_SIZE 16383', [[5, 16_383]], PROTOCOL_ERROR],
  ['SETTINGS_MAX_FRAME_SIZE 2^24', [[5, 2 ** 24]], PROTOCOL_ERROR],
  ['SETTINGS_ENABLE_CONNECT_PROTOCOL 2', [[8, 2]], PROTOCOL_ERROR],
] as const) {
  test(`SETTINGS validation: ${name} is a connection error`, async (t) => {
    const { c } = await setup(t);
    c.write(h2Settings(settings.map(([a, b]) => [a, b] as [number, number])));
    await expectGoaway(c, code);
  });
}

test('SETTINGS: unknown ids and unknown frame types are ignored; the SETTINGS is ACKed; a bad SETTINGS length is FRAME_SIZE_ERROR', async (t) => {
  const { c } = await setup(t);
  c.write([h2Settings([[0x99, 7]]), h2Frame(0xfa, 0, 1, Buffer.from('whatever'))]);
  await c.waitFor((fs) => fs.filter((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0).length === 2, 'two SETTINGS ACKs');
  c.write(h2Request(1, h2Get('/'), true));
  await c.waitFor(() => responseOn(c, 1) === 200, 'response');
  c.write(h2Frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5)));
  await expectGoaway(c, FRAME_SIZE_ERROR);
});

test('frame sizes: a frame above our SETTINGS_MAX_FRAME_SIZE, a PING of 7 bytes, an RST_STREAM of 3 are FRAME_SIZE_ERROR', async (t) => {
  for (const frame of [data(1, Buffer.alloc(16_385), false), h2Frame(FrameType.PING, 0, 0, Buffer.alloc(7)), h2Frame(FrameType.RST_STREAM, 0, 1, Buffer.alloc(3))]) {
    const { c } = await setup(t);
    c.write(frame);
    await expectGoaway(c, FRAME_SIZE_ERROR);
  }
});

test('PUSH_PROMISE from a client is a connection error PROTOCOL_ERROR', async (t) => {
  const { c } = await setup(t);
  c.write(h2Frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.concat([Buffer.from([0, 0, 0, 2]), hpackLiterals(h2Get('/'))])));
  await expectGoaway(c, PROTOCOL_ERROR);
});

for (const [name, headers] of [
  ['an upper-case field name', h2Get('/', [['X-Upper', '1']])],
  ['a missing :path', [[':method', 'GET'], [':scheme', 'http'], [':authority', 'a']]],
  ['an unknown pseudo-header', h2Get('/', [[':foo', '1']])],
  ['a pseudo-header after a regular field', [[':method', 'GET'], ['x-a', '1'], [':scheme', 'http'], [':path', '/']]],
  ['a duplicate :method', [[':method', 'GET'], [':method', 'POST'], [':scheme', 'http'], [':path', '/']]],
  ['a connection-specific field', h2Get('/', [['connection', 'keep-alive']])],
  ['transfer-encoding', h2Get('/', [['transfer-encoding', 'chunked']])],
  ['te other than trailers', h2Get('/', [['te', 'gzip']])],
  ['a CR in a value', h2Get('/', [['x-a', 'a\rb']])],
  [':protocol without ENABLE_CONNECT_PROTOCOL', [[':method', 'CONNECT'], [':protocol', 'websocket'], [':scheme', 'http'], [':path', '/'], [':authority', 'a']]],
  ['content-length 5 with END_STREAM on HEADERS', h2Get('/', [['content-length', '5']])],
] as Array<[string, Array<[string, string]>]>) {
  test(`malformed request: ${name} → RST_STREAM(PROTOCOL_ERROR), onStreamRefused('malformed'), the connection goes on`, async (t) => {
    const { srv, c, streams } = await setup(t);
    c.write(h2Request(1, headers, true));
    await expectRst(c, 1, PROTOCOL_ERROR);
    assert.deepEqual(srv.events.refused, ['malformed']);
    assert.equal(streams.length, 0);
    c.write(h2Request(3, h2Get('/ok'), true));
    await c.waitFor(() => responseOn(c, 3) === 200, 'next request answered');
  });
}

test('content-length: DATA totalling other than content-length resets the stream (PROTOCOL_ERROR), the handler hears onReset', async (t) => {
  const { c, streams } = await setup(t);
  c.write([h2Request(1, h2Get('/', [['content-length', '10']]), false), data(1, 'short', true)]);
  await expectRst(c, 1, PROTOCOL_ERROR);
  assert.deepEqual(streams[0]!.rec.reset, { code: PROTOCOL_ERROR, remote: false });
  c.write([h2Request(3, h2Get('/', [['content-length', '3']]), false), data(3, 'toolong', false)]);
  await expectRst(c, 3, PROTOCOL_ERROR);
  c.write([h2Request(5, h2Get('/', [['content-length', '3']]), false), data(5, 'abc', true)]);
  await c.waitFor(() => responseOn(c, 5) === 200, 'exact length answered');
});

test('extended CONNECT (RFC 8441) is accepted when enabled; the SETTINGS advertise it', async (t) => {
  const { c, streams } = await setup(t, { settings: { enableConnectProtocol: true } });
  const s = c.frames.find((f) => f.type === FrameType.SETTINGS)!;
  const ids: number[] = [];
  for (let o = 0; o < s.payload.length; o += 6) if (s.payload.readUInt32BE(o + 2) === 1) ids.push(s.payload.readUInt16BE(o));
  assert.ok(ids.includes(8));
  c.write(h2Request(1, [[':method', 'CONNECT'], [':protocol', 'websocket'], [':scheme', 'http'], [':path', '/chat'], [':authority', 'a']], false));
  await waitUntil(() => streams.length === 1, 5000, 'stream');
  assert.equal(field(streams[0]!.headers, ':protocol'), 'websocket');
});
