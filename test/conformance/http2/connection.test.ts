// HTTP/2 conformance, connection level (RFC 9113 §3.4 preface, §4.1-4.3 frame format, size and
// header compression, §5.4.1 connection errors, §5.5 extensions, §6.5 SETTINGS, §6.7 PING, §6.8
// GOAWAY, §7 error codes): the cases of h2spec's http2/3.5, 4.x, 5.4, 5.5, 6.5, 6.7, 6.8, 7 and
// generic/1, 3.5, 3.7, 3.8, driven with raw frames against the proxy's h2c listener.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { E, F, frame, goaway, H2Conn, headers, continuation, data, ping, PREFACE, priority, req, rst, S, settings, T, type OpenOptions } from '../../helpers/h2-frames.js';
import { CASE_CONCURRENCY, NO_CONNECTION_LEFT, useTarget, type CaseFn } from './target.js';

describe('HTTP/2 conformance: connection level', () => {
  const { target, run, noConnectionLeft } = useTarget();
  const h2case = (name: string, fn: CaseFn, opts?: OpenOptions): void => { test(name, run(fn, opts)); };
  describe('cases', { concurrency: CASE_CONCURRENCY }, () => {

    // ─────────────────────────── §3.4 connection preface ───────────────────────────

    h2case('generic/1 + http2/3.5/1: after the client preface the server\'s first frame is SETTINGS, and a GET is answered', async (c) => {
      assert.equal(c.events[0]?.type, T.SETTINGS, 'first frame');
      assert.equal((c.events[0]!.flags & F.ACK), 0, 'first SETTINGS is not an ACK');
      c.send(headers(1, req('/'), { end: true }));
      const r = await c.response(1);
      assert.equal(r.status, 200);
    });

    test('http2/3.5/2: an invalid connection preface closes the TCP connection', async () => {
      const c = await H2Conn.open(target().port, { handshake: false });
      try {
        c.send(Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n', 'latin1'), settings());
        assert.ok(await c.until(() => c.closed), `expected the connection closed; got ${c.transcript(0)}`);
        assert.ok(!c.events.some((e) => e.type === T.HEADERS || e.type === T.DATA), 'no response');
      } finally { c.close(); }
    });

    test('http2/3.5/3: a preface followed by a frame other than SETTINGS is a connection error PROTOCOL_ERROR', async () => {
      const c = await H2Conn.open(target().port, { handshake: false });
      try {
        c.send(PREFACE, ping(Buffer.alloc(8)));
        await c.connectionError(E.PROTOCOL_ERROR);
      } finally { c.close(); }
    });

    // ─────────────────────────── §4.1 frame format ───────────────────────────

    h2case('http2/4.1/1: a frame of unknown type is ignored', async (c) => {
      c.send(frame(0x16, 0, 0, Buffer.from('unknown')), frame(0xfe, 0xff, 1, Buffer.alloc(4)));
      await c.alive();
      c.send(headers(1, req('/'), { end: true }));
      assert.equal((await c.response(1)).status, 200);
    });

    h2case('http2/4.1/2: undefined flags are ignored (PING with flags 0x16 is answered)', async (c) => {
      const p = Buffer.from('h2conf!!');
      c.send(frame(T.PING, 0x16 & ~F.ACK, 0, p));
      assert.ok(await c.until(() => c.recent.some((e) => e.type === T.PING && (e.flags & F.ACK) !== 0 && e.payload.equals(p))),
        `expected PING ACK with the same payload; got ${c.transcript()}`);
    });

    h2case('http2/4.1/3: the reserved bit of the stream identifier is ignored', async (c) => {
      c.send(frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, headers(1, req('/')).subarray(9), { reserved: true }));
      assert.equal((await c.response(1)).status, 200);
    });

    // ─────────────────────────── §4.2 frame size ───────────────────────────

    h2case('http2/4.2/1: a DATA frame of 2^14 octets is accepted', async (c) => {
      c.send(headers(1, req('/', [['content-length', '16384']], 'POST')), data(1, Buffer.alloc(16384, 'a'), { end: true }));
      const r = await c.response(1);
      assert.equal(r.status, 200);
      assert.equal((JSON.parse(r.body.toString()) as { body: string }).body.length, 16384);
    });

    h2case('http2/4.2/2: a DATA frame above SETTINGS_MAX_FRAME_SIZE is a FRAME_SIZE_ERROR', async (c) => {
      c.send(headers(1, req('/', [], 'POST')), data(1, Buffer.alloc(16385, 'a'), { end: true }));
      await c.streamError(1, E.FRAME_SIZE_ERROR);
    });

    h2case('http2/4.2/3: a HEADERS frame above SETTINGS_MAX_FRAME_SIZE is a connection error FRAME_SIZE_ERROR', async (c) => {
      const fields = req('/', Array.from({ length: 8 }, (_, i) => [`x-dummy${i}`, 'd'.repeat(2100)] as [string, string]));
      const h = headers(1, fields, { end: true });
      assert.ok(h.length - 9 > 16384);
      c.send(h);
      await c.connectionError(E.FRAME_SIZE_ERROR);
    });

    // ─────────────────────────── §4.3 header compression ───────────────────────────

    h2case('http2/4.3/1: an undecodable header block fragment is a connection error COMPRESSION_ERROR', async (c) => {
      // A literal whose name claims 5 Huffman octets but the block ends after one.
      c.send(headers(1, Buffer.from([0x00, 0x85, 0xf2]), { end: true }));
      await c.connectionError(E.COMPRESSION_ERROR);
    });

    h2case('http2/4.3/2: a PRIORITY frame in the middle of a header block is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, req('/'), { end: true, endHeaders: false }), priority(1, { dependency: 0, weight: 16 }));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/4.3/3: a HEADERS frame for another stream in the middle of a header block is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, req('/'), { end: true, endHeaders: false }), headers(3, req('/'), { end: true }));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    // ─────────────────────────── §5.4.1 connection error handling ───────────────────────────

    h2case('http2/5.4.1/1+2: a connection error sends GOAWAY (last-stream-id = the last stream processed) and closes the connection', async (c) => {
      c.send(headers(1, req('/'), { end: true }));
      assert.equal((await c.response(1)).status, 200);
      c.send(frame(T.PING, 0, 3, Buffer.alloc(8)));
      const g = await c.connectionError(E.PROTOCOL_ERROR);
      assert.equal(g.lastStreamId, 1, 'GOAWAY last-stream-id');
    });

    // ─────────────────────────── §5.5 extending HTTP/2 ───────────────────────────

    h2case('http2/5.5/1: an unknown extension frame is ignored', async (c) => {
      c.send(frame(0xff, 0, 0, Buffer.from('extension')));
      await c.alive();
    });

    h2case('http2/5.5/2: an unknown extension frame in the middle of a header block is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, req('/'), { end: true, endHeaders: false }), frame(0xff, 0, 1, Buffer.from('extension')), continuation(1, [], true));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    // ─────────────────────────── §6.5 SETTINGS ───────────────────────────

    h2case('generic/3.5: a SETTINGS frame is accepted and acknowledged', async (c) => {
      c.send(settings([[S.MAX_CONCURRENT_STREAMS, 100], [S.INITIAL_WINDOW_SIZE, 65535]]));
      assert.ok(await c.until(() => c.recent.some((e) => e.type === T.SETTINGS && (e.flags & F.ACK) !== 0)), `expected SETTINGS ACK; got ${c.transcript()}`);
    });

    h2case('http2/6.5/1: SETTINGS with ACK and a payload is a connection error FRAME_SIZE_ERROR', async (c) => {
      c.send(frame(T.SETTINGS, F.ACK, 0, Buffer.from([0, 4, 0, 0, 0xff, 0xff])));
      await c.connectionError(E.FRAME_SIZE_ERROR);
    });

    h2case('http2/6.5/2: SETTINGS on a stream other than 0 is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(frame(T.SETTINGS, 0, 1, Buffer.from([0, 3, 0, 0, 0, 100])));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/6.5/3: SETTINGS whose length is not a multiple of 6 is a connection error FRAME_SIZE_ERROR', async (c) => {
      c.send(frame(T.SETTINGS, 0, 0, Buffer.from([0, 3, 0])));
      await c.connectionError(E.FRAME_SIZE_ERROR);
    });

    h2case('http2/6.5.2/1: SETTINGS_ENABLE_PUSH other than 0 or 1 is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(settings([[S.ENABLE_PUSH, 2]]));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/6.5.2/2: SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 is a connection error FLOW_CONTROL_ERROR', async (c) => {
      c.send(settings([[S.INITIAL_WINDOW_SIZE, 2 ** 31]]));
      await c.connectionError(E.FLOW_CONTROL_ERROR);
    });

    h2case('http2/6.5.2/3: SETTINGS_MAX_FRAME_SIZE below 16384 is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(settings([[S.MAX_FRAME_SIZE, 16383]]));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/6.5.2/4: SETTINGS_MAX_FRAME_SIZE above 2^24-1 is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(settings([[S.MAX_FRAME_SIZE, 2 ** 24]]));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/6.5.2/5: an unknown SETTINGS identifier is ignored (the frame is acknowledged)', async (c) => {
      c.send(settings([[0xff, 1], [0x4242, 7]]));
      assert.ok(await c.until(() => c.recent.some((e) => e.type === T.SETTINGS && (e.flags & F.ACK) !== 0)), `expected SETTINGS ACK; got ${c.transcript()}`);
      await c.alive();
    });

    h2case('http2/6.5.3/1: values in one SETTINGS frame apply in order (INITIAL_WINDOW_SIZE 100 then 1: the first DATA carries 1 octet)', async (c) => {
      c.send(settings([[S.INITIAL_WINDOW_SIZE, 100], [S.INITIAL_WINDOW_SIZE, 1]]));
      assert.ok(await c.until(() => c.recent.some((e) => e.type === T.SETTINGS && (e.flags & F.ACK) !== 0)), 'SETTINGS ACK');
      c.send(headers(1, req('/'), { end: true }));
      assert.ok(await c.until(() => c.recent.some((e) => e.type === T.DATA && e.streamId === 1)), `expected DATA; got ${c.transcript()}`);
      assert.equal(c.recent.find((e) => e.type === T.DATA && e.streamId === 1)!.payload.length, 1, 'first DATA length');
    });

    h2case('http2/6.5.3/2: SETTINGS without ACK is acknowledged', async (c) => {
      c.send(settings([[S.ENABLE_PUSH, 0]]));
      assert.ok(await c.until(() => c.recent.some((e) => e.type === T.SETTINGS && (e.flags & F.ACK) !== 0 && e.payload.length === 0)), `expected SETTINGS ACK; got ${c.transcript()}`);
    });

    // ─────────────────────────── §6.7 PING ───────────────────────────

    h2case('generic/3.7 + http2/6.7/1: PING is answered by PING ACK with the same payload', async (c) => {
      await c.alive();
    });

    h2case('http2/6.7/2: PING with ACK is not answered', async (c) => {
      const p = Buffer.from('notaping');
      c.send(ping(p, true));
      await c.alive();
      assert.ok(!c.recent.some((e) => e.type === T.PING && e.payload.equals(p)), `no answer to a PING ACK; got ${c.transcript()}`);
    });

    h2case('http2/6.7/3: PING on a stream other than 0 is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(frame(T.PING, 0, 1, Buffer.alloc(8)));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/6.7/4: PING with a length other than 8 is a connection error FRAME_SIZE_ERROR', async (c) => {
      c.send(frame(T.PING, 0, 0, Buffer.alloc(6)));
      await c.connectionError(E.FRAME_SIZE_ERROR);
    });

    // ─────────────────────────── §6.8 GOAWAY ───────────────────────────

    h2case('generic/3.8: a GOAWAY from the client is accepted (a stream it covers still completes)', async (c) => {
      c.send(headers(1, req('/'), { end: true }), goaway(1, E.NO_ERROR));
      assert.equal((await c.response(1)).status, 200);
    });

    h2case('http2/6.8/1: GOAWAY on a stream other than 0 is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(frame(T.GOAWAY, 0, 1, Buffer.alloc(8)));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    // ─────────────────────────── §7 error codes ───────────────────────────

    h2case('http2/7/1: GOAWAY with an unknown error code triggers nothing special (no error GOAWAY back; PING answered or a graceful close)', async (c) => {
      c.send(goaway(0, 0xff));
      const p = Buffer.from('afterGA!');
      c.send(ping(p));
      await c.until(() => c.closed || c.recent.some((e) => e.type === T.PING && (e.flags & F.ACK) !== 0));
      const g = c.goaway();
      assert.ok(g === undefined || g.code === E.NO_ERROR, `expected no error; got ${c.transcript()}`);
      assert.ok(c.closed || c.recent.some((e) => e.type === T.PING && (e.flags & F.ACK) !== 0 && e.payload.equals(p)), `expected PING ACK or close; got ${c.transcript()}`);
    });

    h2case('http2/7/2: RST_STREAM with an unknown error code triggers nothing special', async (c) => {
      c.send(headers(1, req('/', [], 'POST')), rst(1, 0xff));
      await c.alive();
      c.send(headers(3, req('/'), { end: true }));
      assert.equal((await c.response(3)).status, 200);
    });
  });
  test(NO_CONNECTION_LEFT, noConnectionLeft);
});
