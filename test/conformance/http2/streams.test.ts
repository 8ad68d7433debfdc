// HTTP/2 conformance, streams and frame types (RFC 9113 §5.1 stream states, §5.1.1 identifiers,
// §5.1.2 concurrency, §5.3 priority, §6.1-6.4 DATA/HEADERS/PRIORITY/RST_STREAM, §6.9 WINDOW_UPDATE
// and flow control, §6.10 CONTINUATION): h2spec's http2/5.1-5.3, 6.1-6.4, 6.9, 6.10 and
// generic/2, 3.1-3.4, 3.9, 3.10, driven with raw frames against the proxy's h2c listener.
// Expected error codes follow h2spec where RFC 9113 leaves a choice (a stream error may always be
// answered with a connection error of the same code, RFC 9113 §5.4.2).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { continuation, data, E, F, frame, headers, priority, req, rst, S, settings, T, windowUpdate, type H2Conn, type OpenOptions } from '../../helpers/h2-frames.js';
import { CASE_CONCURRENCY, NO_CONNECTION_LEFT, useTarget, type CaseFn } from './target.js';

const post = (path = '/'): Array<[string, string]> => req(path, [], 'POST');
const settingsAcked = (c: H2Conn, n = 1) => c.until(() => c.recent.filter((e) => e.type === T.SETTINGS && (e.flags & F.ACK) !== 0).length >= n);
const dataOn = (c: H2Conn, id: number) => c.recent.filter((e) => e.type === T.DATA && e.streamId === id);

describe('HTTP/2 conformance: streams and frame types', () => {
  const { run, noConnectionLeft } = useTarget();
  const h2case = (name: string, fn: CaseFn, opts?: OpenOptions): void => { test(name, run(fn, opts)); };
  describe('cases', { concurrency: CASE_CONCURRENCY }, () => {
    // ─────────────────────────── §5.1 stream states ───────────────────────────

    h2case('http2/5.1/1: idle: DATA is a PROTOCOL_ERROR (or STREAM_CLOSED)', async (c) => {
      c.send(data(1, 'test', { end: true }));
      await c.streamError(1, E.PROTOCOL_ERROR, E.STREAM_CLOSED);
    });

    h2case('http2/5.1/2: idle: RST_STREAM is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(rst(1, E.CANCEL));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/5.1/3: idle: WINDOW_UPDATE is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(windowUpdate(1, 100));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/5.1/4: idle: CONTINUATION is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(continuation(1, req('/'), true));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/5.1/5: half-closed (remote): DATA is a stream error STREAM_CLOSED', async (c) => {
      c.send(headers(1, req('/'), { end: true }), data(1, 'test', { end: true }));
      await c.streamError(1, E.STREAM_CLOSED);
    });

    h2case('http2/5.1/6: half-closed (remote): HEADERS is a stream error STREAM_CLOSED', async (c) => {
      c.send(headers(1, req('/'), { end: true }), headers(1, req('/'), { end: true }));
      await c.streamError(1, E.STREAM_CLOSED);
    });

    h2case('http2/5.1/7: half-closed (remote): CONTINUATION is a STREAM_CLOSED or PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, req('/'), { end: true }), continuation(1, [['x-late', '1']], true));
      await c.streamError(1, E.STREAM_CLOSED, E.PROTOCOL_ERROR);
    });

    h2case('http2/5.1/8: closed: DATA after the client\'s RST_STREAM is a stream error STREAM_CLOSED', async (c) => {
      c.send(headers(1, post()), rst(1, E.CANCEL), data(1, 'test', { end: true }));
      await c.streamError(1, E.STREAM_CLOSED);
    });

    h2case('http2/5.1/9: closed: HEADERS after the client\'s RST_STREAM is a stream error STREAM_CLOSED', async (c) => {
      c.send(headers(1, post()), rst(1, E.CANCEL), headers(1, req('/'), { end: true }));
      await c.streamError(1, E.STREAM_CLOSED);
    });

    h2case('http2/5.1/10: closed: CONTINUATION after the client\'s RST_STREAM is a STREAM_CLOSED or PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, post()), rst(1, E.CANCEL), continuation(1, [['x-late', '1']], true));
      await c.streamError(1, E.STREAM_CLOSED, E.PROTOCOL_ERROR);
    });

    h2case('http2/5.1/11: closed: DATA after both END_STREAMs is a STREAM_CLOSED error', async (c) => {
      c.send(headers(1, req('/'), { end: true }));
      await c.response(1);
      c.send(data(1, 'test', { end: true }));
      await c.streamError(1, E.STREAM_CLOSED);
    });

    h2case('http2/5.1/12: closed: HEADERS after both END_STREAMs is a connection error STREAM_CLOSED (or PROTOCOL_ERROR: a reused stream id)', async (c) => {
      c.send(headers(1, req('/'), { end: true }));
      await c.response(1);
      c.send(headers(1, req('/'), { end: true }));
      await c.connectionError(E.STREAM_CLOSED, E.PROTOCOL_ERROR);
    });

    h2case('http2/5.1/13: closed: CONTINUATION after both END_STREAMs is a connection error STREAM_CLOSED or PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, req('/'), { end: true }));
      await c.response(1);
      c.send(continuation(1, [['x-late', '1']], true));
      await c.connectionError(E.STREAM_CLOSED, E.PROTOCOL_ERROR);
    });

    // ─────────────────────────── §5.1.1 stream identifiers ───────────────────────────

    h2case('http2/5.1.1/1: an even-numbered stream identifier from the client is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(headers(2, req('/'), { end: true }));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/5.1.1/2: a stream identifier smaller than a previous one is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(headers(5, req('/'), { end: true }), headers(3, req('/'), { end: true }));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    // ─────────────────────────── §5.1.2 stream concurrency ───────────────────────────

    h2case('http2/5.1.2/1: a stream above SETTINGS_MAX_CONCURRENT_STREAMS is refused (REFUSED_STREAM or PROTOCOL_ERROR)', async (c) => {
      const s = c.events.find((e) => e.type === T.SETTINGS && (e.flags & F.ACK) === 0)!;
      let max = 0;
      for (let i = 0; i + 6 <= s.payload.length; i += 6) if (s.payload.readUInt16BE(i) === S.MAX_CONCURRENT_STREAMS) max = s.payload.readUInt32BE(i + 2);
      assert.ok(max > 0 && max <= 1000, `the proxy advertises SETTINGS_MAX_CONCURRENT_STREAMS (got ${max})`);
      c.send(...Array.from({ length: max + 1 }, (_, i) => headers(1 + 2 * i, post())));
      const last = 1 + 2 * max;
      await c.streamError(last, E.REFUSED_STREAM, E.PROTOCOL_ERROR);
      assert.ok(!c.recent.some((e) => e.type === T.RST_STREAM && e.streamId < last), `only the stream above the limit is reset; got ${c.transcript()}`);
    });

    // ─────────────────────────── §5.3 priority ───────────────────────────

    h2case('http2/5.3.1/1: HEADERS depending on its own stream is a stream error PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, req('/'), { end: true, priority: { dependency: 1, weight: 16 } }));
      await c.streamError(1, E.PROTOCOL_ERROR);
    });

    h2case('http2/5.3.1/2: PRIORITY depending on its own stream is a stream error PROTOCOL_ERROR', async (c) => {
      c.send(priority(1, { dependency: 1, weight: 16 }));
      await c.streamError(1, E.PROTOCOL_ERROR);
    });

    // ─────────────────────────── §6.1 DATA ───────────────────────────

    h2case('generic/3.1/1: a DATA frame is accepted', async (c) => {
      c.send(headers(1, post()), data(1, 'test', { end: true }));
      const r = await c.response(1);
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body.toString()).body, 'test');
    });

    h2case('generic/3.1/2: multiple DATA frames are accepted', async (c) => {
      c.send(headers(1, post()), data(1, 'te'), data(1, 's'), data(1, 't', { end: true }));
      assert.equal(JSON.parse((await c.response(1)).body.toString()).body, 'test');
    });

    h2case('generic/3.1/3: a DATA frame with padding is accepted (padding removed)', async (c) => {
      c.send(headers(1, post()), data(1, 'test', { end: true, pad: { length: 8 } }));
      assert.equal(JSON.parse((await c.response(1)).body.toString()).body, 'test');
    });

    h2case('http2/6.1/1: DATA on stream 0 is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(data(0, 'test', { end: true }));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/6.1/2: DATA on a stream not open or half-closed (local) is a stream error STREAM_CLOSED', async (c) => {
      c.send(headers(1, req('/'), { end: true }), data(1, 'test', { end: true }));
      await c.streamError(1, E.STREAM_CLOSED);
    });

    h2case('http2/6.1/3: DATA whose pad length is not below the payload length is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, post()), data(1, 'test', { end: true, pad: { length: 2, declared: 8 } }));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    // ─────────────────────────── §6.2 HEADERS ───────────────────────────

    h2case('generic/3.2/1: a HEADERS frame is accepted', async (c) => {
      c.send(headers(1, req('/'), { end: true }));
      assert.equal((await c.response(1)).status, 200);
    });

    h2case('generic/3.2/2: a HEADERS frame with padding is accepted', async (c) => {
      c.send(headers(1, req('/'), { end: true, pad: { length: 16 } }));
      assert.equal((await c.response(1)).status, 200);
    });

    h2case('generic/3.2/3: a HEADERS frame with priority is accepted', async (c) => {
      c.send(headers(1, req('/'), { end: true, priority: { dependency: 0, weight: 255, exclusive: true } }));
      assert.equal((await c.response(1)).status, 200);
    });

    h2case('http2/6.2/1: HEADERS without END_HEADERS followed by PRIORITY is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, req('/'), { end: true, endHeaders: false }), priority(3, { dependency: 0, weight: 16 }));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/6.2/2: HEADERS to another stream while a header block is open is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(headers(3, req('/'), { end: true, endHeaders: false }), headers(5, req('/'), { end: true }));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/6.2/3: HEADERS on stream 0 is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(headers(0, req('/'), { end: true }));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/6.2/4: HEADERS whose pad length is not below the payload length is a connection error PROTOCOL_ERROR', async (c) => {
      const block = headers(1, req('/')).subarray(9);
      c.send(frame(T.HEADERS, F.END_HEADERS | F.END_STREAM | F.PADDED, 1, Buffer.concat([Buffer.from([block.length + 10]), block])));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    // ─────────────────────────── §6.3 PRIORITY ───────────────────────────

    for (const [name, p] of [['weight 1', { dependency: 0, weight: 1 }], ['weight 256', { dependency: 0, weight: 256 }],
      ['a stream dependency', { dependency: 1, weight: 16 }], ['the exclusive flag', { dependency: 1, weight: 16, exclusive: true }]] as const) {
      h2case(`generic/3.3: a PRIORITY frame with ${name} is accepted`, async (c) => {
        c.send(headers(1, post()), priority(3, p), data(1, 'x', { end: true }));
        assert.equal((await c.response(1)).status, 200);
        await c.alive();
      });
    }

    h2case('generic/3.3/5 + generic/2/1: PRIORITY for an idle stream, then HEADERS on a lower stream id, is answered', async (c) => {
      c.send(priority(3, { dependency: 0, weight: 16 }), headers(1, req('/'), { end: true }));
      assert.equal((await c.response(1)).status, 200);
    });

    h2case('http2/6.3/1: PRIORITY on stream 0 is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(priority(0, { dependency: 1, weight: 16 }));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/6.3/2: PRIORITY with a length other than 5 is a stream error FRAME_SIZE_ERROR', async (c) => {
      c.send(headers(1, post()), frame(T.PRIORITY, 0, 1, Buffer.from([0x80, 0, 0, 1])));
      await c.streamError(1, E.FRAME_SIZE_ERROR);
    });

    // ─────────────────────────── §6.4 RST_STREAM ───────────────────────────

    h2case('generic/3.4: RST_STREAM on an open stream is accepted', async (c) => {
      c.send(headers(1, post()), rst(1, E.CANCEL));
      await c.alive();
    });

    h2case('http2/6.4/1: RST_STREAM on stream 0 is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(rst(0, E.CANCEL));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/6.4/2: RST_STREAM on an idle stream is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, post()), rst(3, E.CANCEL));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/6.4/3: RST_STREAM with a length other than 4 is a connection error FRAME_SIZE_ERROR', async (c) => {
      c.send(headers(1, post()), frame(T.RST_STREAM, 0, 1, Buffer.from([0, 0, 0, 8, 0])));
      await c.connectionError(E.FRAME_SIZE_ERROR);
    });

    // ─────────────────────────── §5.1 frames on half-closed (remote) and closed streams that must be accepted ───────────────────────────

    h2case('generic/2/2: WINDOW_UPDATE on a half-closed (remote) stream is accepted', async (c) => {
      c.send(headers(1, req('/'), { end: true }), windowUpdate(1, 100));
      assert.equal((await c.response(1)).status, 200);
    });

    h2case('generic/2/3: PRIORITY on a half-closed (remote) stream is accepted', async (c) => {
      c.send(headers(1, req('/'), { end: true }), priority(1, { dependency: 0, weight: 16 }));
      assert.equal((await c.response(1)).status, 200);
    });

    h2case('generic/2/4: RST_STREAM on a half-closed (remote) stream is accepted', async (c) => {
      c.send(headers(1, req('/'), { end: true }), rst(1, E.CANCEL));
      await c.alive();
    });

    h2case('generic/2/5: PRIORITY on a closed stream is accepted', async (c) => {
      c.send(headers(1, req('/'), { end: true }));
      await c.response(1);
      c.send(priority(1, { dependency: 0, weight: 16 }));
      await c.alive();
    });

    // ─────────────────────────── §6.9 WINDOW_UPDATE and flow control ───────────────────────────

    h2case('generic/3.9/1: WINDOW_UPDATE on stream 0 is accepted', async (c) => {
      c.send(windowUpdate(0, 1));
      await c.alive();
    });

    h2case('generic/3.9/2: WINDOW_UPDATE on an open stream is accepted', async (c) => {
      c.send(headers(1, post()), windowUpdate(1, 1), data(1, 'x', { end: true }));
      assert.equal((await c.response(1)).status, 200);
    });

    h2case('http2/6.9/1: WINDOW_UPDATE with increment 0 on the connection is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(windowUpdate(0, 0));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/6.9/2: WINDOW_UPDATE with increment 0 on a stream is a stream error PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, post()), windowUpdate(1, 0));
      await c.streamError(1, E.PROTOCOL_ERROR);
    });

    h2case('http2/6.9/3: WINDOW_UPDATE with a length other than 4 is a connection error FRAME_SIZE_ERROR', async (c) => {
      c.send(frame(T.WINDOW_UPDATE, 0, 0, Buffer.from([0, 0, 0, 1, 0])));
      await c.connectionError(E.FRAME_SIZE_ERROR);
    });

    h2case('http2/6.9.1/1: with SETTINGS_INITIAL_WINDOW_SIZE 1 the proxy sends DATA of at most 1 octet, then waits for WINDOW_UPDATE', async (c) => {
      c.autoWindow = false;
      c.send(settings([[S.INITIAL_WINDOW_SIZE, 1]]));
      assert.ok(await settingsAcked(c), 'SETTINGS ACK');
      c.send(headers(1, req('/big/20'), { end: true }));
      assert.ok(await c.until(() => dataOn(c, 1).length > 0), `expected DATA; got ${c.transcript()}`);
      await c.alive(); // a barrier: nothing more may be sent without window
      assert.deepEqual(dataOn(c, 1).map((e) => e.payload.length), [1], `DATA frames within a 1-octet window; got ${c.transcript()}`);
      c.send(windowUpdate(1, 100));
      assert.equal((await c.response(1)).body.length, 20);
    });

    h2case('http2/6.9.1/2: WINDOW_UPDATEs taking the connection window above 2^31-1 are a connection error FLOW_CONTROL_ERROR', async (c) => {
      c.send(windowUpdate(0, 2 ** 31 - 1), windowUpdate(0, 2 ** 31 - 1));
      await c.connectionError(E.FLOW_CONTROL_ERROR);
    });

    h2case('http2/6.9.1/3: WINDOW_UPDATEs taking a stream window above 2^31-1 are a stream error FLOW_CONTROL_ERROR', async (c) => {
      c.send(headers(1, post()), windowUpdate(1, 2 ** 31 - 1), windowUpdate(1, 2 ** 31 - 1));
      await c.streamError(1, E.FLOW_CONTROL_ERROR);
    });

    h2case('http2/6.9.2/1: a change of SETTINGS_INITIAL_WINDOW_SIZE after HEADERS adjusts the open stream\'s window', async (c) => {
      c.autoWindow = false;
      c.send(settings([[S.INITIAL_WINDOW_SIZE, 0]]));
      assert.ok(await settingsAcked(c), 'SETTINGS ACK');
      c.send(headers(1, req('/big/20'), { end: true }));
      assert.ok(await c.until(() => c.recent.some((e) => e.type === T.HEADERS && e.streamId === 1)), `expected the response HEADERS; got ${c.transcript()}`);
      c.send(settings([[S.INITIAL_WINDOW_SIZE, 1]]));
      assert.ok(await c.until(() => dataOn(c, 1).length > 0), `expected DATA of 1 octet; got ${c.transcript()}`);
      assert.equal(dataOn(c, 1)[0]!.payload.length, 1);
    });

    h2case('http2/6.9.2/2: a SETTINGS_INITIAL_WINDOW_SIZE change can make a window negative, and the proxy tracks it', async (c) => {
      c.autoWindow = false;
      c.send(settings([[S.INITIAL_WINDOW_SIZE, 3]]));
      assert.ok(await settingsAcked(c), 'SETTINGS ACK');
      c.send(headers(1, req('/big/20'), { end: true }));
      assert.ok(await c.until(() => dataOn(c, 1).reduce((a, e) => a + e.payload.length, 0) >= 3), `expected 3 octets of DATA; got ${c.transcript()}`);
      c.send(settings([[S.INITIAL_WINDOW_SIZE, 2]])); // the window is now -1
      assert.ok(await settingsAcked(c, 2), 'second SETTINGS ACK');
      c.setMark();
      c.send(windowUpdate(1, 2)); // +1
      assert.ok(await c.until(() => dataOn(c, 1).length > 0), `expected DATA; got ${c.transcript()}`);
      await c.alive();
      assert.deepEqual(dataOn(c, 1).map((e) => e.payload.length), [1], `DATA within the 1-octet window; got ${c.transcript()}`);
    });

    h2case('http2/6.9.2/3: SETTINGS_INITIAL_WINDOW_SIZE of 2^31 is a connection error FLOW_CONTROL_ERROR', async (c) => {
      c.send(settings([[S.INITIAL_WINDOW_SIZE, 2 ** 31]]));
      await c.connectionError(E.FLOW_CONTROL_ERROR);
    });

    h2case('RFC 9113 §6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE change that takes an open stream\'s window above 2^31-1 is a FLOW_CONTROL_ERROR', async (c) => {
      c.send(headers(1, post()), windowUpdate(1, 2 ** 31 - 1 - 65535), settings([[S.INITIAL_WINDOW_SIZE, 65536]]));
      await c.streamError(1, E.FLOW_CONTROL_ERROR);
    });

    // ─────────────────────────── §6.10 CONTINUATION ───────────────────────────

    h2case('generic/3.10/1: a CONTINUATION frame is accepted', async (c) => {
      const f = req('/');
      c.send(headers(1, f.slice(0, 2), { end: true, endHeaders: false }), continuation(1, f.slice(2), true));
      assert.equal((await c.response(1)).status, 200);
    });

    h2case('generic/3.10/2 + http2/6.10/1: multiple CONTINUATION frames are accepted', async (c) => {
      const f = req('/', [['x-a', 'a'], ['x-b', 'b']]);
      c.send(headers(1, f.slice(0, 1), { end: true, endHeaders: false }), continuation(1, f.slice(1, 3), false),
        continuation(1, f.slice(3, 5), false), continuation(1, f.slice(5), true));
      const r = await c.response(1);
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body.toString()).headers['x-b'], 'b');
    });

    h2case('http2/6.10/2: a CONTINUATION followed by a frame other than CONTINUATION is a connection error PROTOCOL_ERROR', async (c) => {
      const f = req('/');
      c.send(headers(1, f.slice(0, 1), { endHeaders: false }), continuation(1, f.slice(1, 2), false), data(1, 'x', { end: true }));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/6.10/3: CONTINUATION on stream 0 is a connection error PROTOCOL_ERROR', async (c) => {
      const f = req('/');
      c.send(headers(1, f.slice(0, 2), { end: true, endHeaders: false }), continuation(0, f.slice(2), true));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/6.10/4: CONTINUATION after HEADERS with END_HEADERS is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, post()), continuation(1, [['x-more', '1']], true));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/6.10/5: CONTINUATION after a CONTINUATION with END_HEADERS is a connection error PROTOCOL_ERROR', async (c) => {
      const f = post();
      c.send(headers(1, f.slice(0, 2), { endHeaders: false }), continuation(1, f.slice(2), true), continuation(1, [['x-more', '1']], true));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    h2case('http2/6.10/6: CONTINUATION after DATA is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, post()), data(1, 'x'), continuation(1, [['x-more', '1']], true));
      await c.connectionError(E.PROTOCOL_ERROR);
    });
  });
  test(NO_CONNECTION_LEFT, noConnectionLeft);
});
