// The connection manager's request checks on HTTP/2 streams, with raw frames: a :path with a
// fragment or raw bytes above 0x7e is answered 400 and never forwarded (Envoy's
// http_reject_path_with_fragment and header validation); control characters are refused by
// nghttp2 itself (stream error); max_headers_count resets the stream (http2.header_overflow);
// headers_with_underscores_action REJECT_REQUEST resets it
// (http2.requests_rejected_with_underscores_in_headers) and DROP_HEADER drops the field
// (http2.dropped_headers_with_underscores); max_concurrent_streams refuses streams above the
// limit that arrive before the client acknowledged it, and the downstream windows default to
// 64 KiB / 1 MiB.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { cluster, simple, toCluster, type Obj } from '../helpers/bootstrap.js';
import { FrameType, Flag, h2Get, h2Request, h2Status, rawH2Client, type RawH2Client } from '../helpers/adversarial.js';

type T = { after(fn: () => unknown): void };

async function setup(t: T, extra: Obj = {}): Promise<{ port: number; up: Upstream; stat(name: string): number }> {
  const up = await startUpstream();
  t.after(() => up.close());
  const p = await startProxy(simple({ routes: [toCluster('/', 'up')], clusters: [cluster('up', [up.port])], extra }));
  t.after(() => p.close());
  return { port: p.port, up, stat: (n) => p.server.stats.value(n) ?? 0 };
}

async function client(t: T, port: number): Promise<RawH2Client> {
  const c = await rawH2Client(port);
  t.after(() => c.close());
  return c;
}

const headersOf = (c: RawH2Client, id: number) => c.frames.find((f) => f.type === FrameType.HEADERS && f.streamId === id);
const answered = (c: RawH2Client, id: number) => headersOf(c, id) !== undefined || c.rstCode(id) !== undefined;

test(':path with a fragment or a byte above 0x7e gets 400 and never reaches the upstream; control characters are a stream error', async (t) => {
  const { port, up } = await setup(t);
  const c = await client(t, port);
  c.write([
    h2Request(1, h2Get('/frag#ment'), true),
    h2Request(3, h2Get('/high\x80byte'), true),
    h2Request(5, h2Get('/ctl\x01char'), true),
    h2Request(7, h2Get('/space here'), true),
    h2Request(9, h2Get('/fine?q=%23'), true),
  ]);
  await c.waitFor(() => [1, 3, 5, 7, 9].every((id) => answered(c, id)), 'an answer on every stream');
  assert.equal(h2Status(headersOf(c, 1)!), 400);
  assert.equal(h2Status(headersOf(c, 3)!), 400);
  assert.equal(c.rstCode(5), 1, 'PROTOCOL_ERROR for a control character');
  assert.equal(c.rstCode(7), 1, 'PROTOCOL_ERROR for a space');
  assert.equal(h2Status(headersOf(c, 9)!), 200);
  assert.deepEqual(up.requests.map((r) => r.url), ['/fine?q=%23']);
});

test('max_headers_count: a request with more fields than the limit is reset (http2.header_overflow); at the limit it passes', async (t) => {
  const { port, up, stat } = await setup(t, { common_http_protocol_options: { max_headers_count: 10 } });
  const c = await client(t, port);
  const fields = (n: number): Array<[string, string]> => Array.from({ length: n }, (_, i) => [`x-f${i}`, 'v']);
  // 4 pseudo-headers + 6 = 10 fields (allowed); 4 + 7 = 11 (too many); 4 + 100 (far too many).
  c.write([h2Request(1, h2Get('/ok', fields(6)), true), h2Request(3, h2Get('/over', fields(7)), true), h2Request(5, h2Get('/way-over', fields(100)), true)]);
  await c.waitFor(() => [1, 3, 5].every((id) => answered(c, id)), 'answers');
  assert.equal(h2Status(headersOf(c, 1)!), 200);
  assert.ok(c.rstCode(3) !== undefined, 'stream 3 reset');
  assert.ok(c.rstCode(5) !== undefined, 'stream 5 reset');
  assert.deepEqual(up.requests.map((r) => r.url), ['/ok']);
  assert.equal(stat('http2.header_overflow'), 2);
  assert.ok(c.goaway() === undefined && !c.closed, 'the connection stays up');
});

test('the default max_headers_count is 100', async (t) => {
  const { port, up, stat } = await setup(t);
  const c = await client(t, port);
  const fields = (n: number): Array<[string, string]> => Array.from({ length: n }, (_, i) => [`x-f${i}`, 'v']);
  c.write([h2Request(1, h2Get('/ok', fields(96)), true), h2Request(3, h2Get('/over', fields(97)), true)]);
  await c.waitFor(() => answered(c, 1) && answered(c, 3), 'answers');
  assert.equal(h2Status(headersOf(c, 1)!), 200);
  assert.ok(c.rstCode(3) !== undefined);
  assert.equal(up.requests.length, 1);
  assert.equal(stat('http2.header_overflow'), 1);
});

test('headers_with_underscores_action REJECT_REQUEST resets the stream; ALLOW (default) forwards the field', async (t) => {
  const { port, up, stat } = await setup(t, { common_http_protocol_options: { headers_with_underscores_action: 'REJECT_REQUEST' } });
  const c = await client(t, port);
  c.write([h2Request(1, h2Get('/under', [['x_bad', '1']]), true), h2Request(3, h2Get('/dash', [['x-good', '1']]), true)]);
  await c.waitFor(() => answered(c, 1) && answered(c, 3), 'answers');
  assert.ok(c.rstCode(1) !== undefined, 'stream with an underscore field reset');
  assert.equal(h2Status(headersOf(c, 3)!), 200);
  assert.deepEqual(up.requests.map((r) => r.url), ['/dash']);
  assert.equal(stat('http2.requests_rejected_with_underscores_in_headers'), 1);

  const other = await setup(t);
  const c2 = await client(t, other.port);
  c2.write(h2Request(1, h2Get('/allowed', [['x_ok', '1']]), true));
  await c2.waitFor(() => answered(c2, 1), 'an answer');
  assert.equal(other.up.requests[0]!.headers['x_ok'], '1');
});

test('headers_with_underscores_action DROP_HEADER drops the field and counts it', async (t) => {
  const { port, up, stat } = await setup(t, { common_http_protocol_options: { headers_with_underscores_action: 'DROP_HEADER' } });
  const c = await client(t, port);
  c.write(h2Request(1, h2Get('/drop', [['x_a', '1'], ['x-b', '2'], ['y_c', '3']]), true));
  await c.waitFor(() => answered(c, 1), 'an answer');
  assert.equal(h2Status(headersOf(c, 1)!), 200);
  const seen = up.requests[0]!.headers;
  assert.equal(seen['x-b'], '2');
  assert.equal(seen['x_a'], undefined);
  assert.equal(seen['y_c'], undefined);
  assert.equal(stat('http2.dropped_headers_with_underscores'), 2);
});

test('every flood limit takes any value Envoy accepts; below Envoy\'s minimum is a config error naming the field', async () => {
  const yaml = (o: Obj) => simple({ routes: [toCluster('/', 'up')], clusters: [cluster('up', [1])], extra: { http2_protocol_options: o } });
  for (const field of ['max_outbound_frames', 'max_outbound_control_frames', 'max_inbound_window_update_frames_per_data_frame_sent'] as const) {
    await assert.rejects(startProxy(yaml({ [field]: 0 })), (e: Error) => e.message.includes(field));
  }
  const ok = await startProxy(yaml({ max_outbound_frames: 500, max_outbound_control_frames: 10, max_inbound_window_update_frames_per_data_frame_sent: 3, max_inbound_priority_frames_per_stream: 5, max_consecutive_inbound_frames_with_empty_payload: 3 }));
  await ok.close();
});

test('a response the upstream ends with its head (content-length 0) is one HEADERS frame with END_STREAM', async (t) => {
  const up = await startUpstream((_req, res) => { res.writeHead(204); res.end(); });
  t.after(() => up.close());
  const up2 = await startUpstream((_req, res) => { res.writeHead(200, { 'content-length': '0' }); res.end(); });
  t.after(() => up2.close());
  const p = await startProxy(simple({ routes: [toCluster('/a', 'a'), toCluster('/b', 'b')], clusters: [cluster('a', [up.port]), cluster('b', [up2.port])] }));
  t.after(() => p.close());
  const c = await client(t, p.port);
  c.write([h2Request(1, h2Get('/a'), true), h2Request(3, h2Get('/b'), true)]);
  await c.waitFor(() => answered(c, 1) && answered(c, 3), 'answers');
  for (const id of [1, 3]) {
    assert.ok((headersOf(c, id)!.flags & Flag.END_STREAM) !== 0, `END_STREAM on stream ${id}'s HEADERS`);
    assert.equal(c.frames.filter((f) => f.type === FrameType.DATA && f.streamId === id).length, 0);
  }
});
