// HTTP/2 conformance, HTTP semantics (RFC 9113 §8): request/response exchanges (h2spec generic/4,
// http2/8.1), field validity (§8.2: upper-case names, connection-specific fields, TE, CR/LF/NUL),
// pseudo-header rules (§8.3, h2spec http2/8.1.2.x), content-length checks (§8.1.1), cookie
// crumbs (§8.2.3), server push from a client (§8.4, h2spec http2/8.2), and what the proxy sends
// back: lower-case names, no connection-specific fields, trailers, no body for HEAD/204/304,
// header blocks split into CONTINUATION frames, DATA within the client's SETTINGS_MAX_FRAME_SIZE.
// Malformed requests: RFC 9113 asks for a stream error PROTOCOL_ERROR; Envoy (nghttp2 with
// stream_error_on_invalid_http_messaging false, its default) answers with a connection error of
// the same code instead, which RFC 9113 §5.4.2 allows: both pass.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { continuation, data, E, F, headers, pushPromise, req, S, T, type Response, type OpenOptions } from '../../helpers/h2-frames.js';
import { CASE_CONCURRENCY, NO_CONNECTION_LEFT, useTarget, type CaseFn } from './target.js';

interface Echo { method: string; url: string; headers: Record<string, string>; body: string }
const echoOf = (r: Response): Echo => JSON.parse(r.body.toString()) as Echo;
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'];

describe('HTTP/2 conformance: HTTP semantics', () => {
  const { run, noConnectionLeft } = useTarget();
  const h2case = (name: string, fn: CaseFn, opts?: OpenOptions): void => { test(name, run(fn, opts)); };
  describe('cases', { concurrency: CASE_CONCURRENCY }, () => {
    // ─────────────────────────── request/response exchanges ───────────────────────────

    h2case('generic/4/1: GET is answered; :authority becomes Host upstream', async (c) => {
      c.send(headers(1, req('/get?x=1'), { end: true }));
      const r = await c.response(1);
      assert.equal(r.status, 200);
      const e = echoOf(r);
      assert.equal(e.url, '/get?x=1');
      assert.equal(e.headers.host, 'conformance.test');
    });

    h2case('generic/4/2: HEAD is answered without a body', async (c) => {
      c.send(headers(1, req('/', [], 'HEAD'), { end: true }));
      const r = await c.response(1);
      assert.equal(r.status, 200);
      assert.equal(r.body.length, 0, 'no DATA payload for HEAD');
    });

    h2case('generic/4/3: POST is answered; the body reaches the upstream', async (c) => {
      c.send(headers(1, req('/post', [['content-length', '4']], 'POST')), data(1, 'test', { end: true }));
      const e = echoOf(await c.response(1));
      assert.equal(e.method, 'POST');
      assert.equal(e.body, 'test');
    });

    h2case('generic/4/4: POST with trailers is answered', async (c) => {
      c.send(headers(1, req('/post', [], 'POST')), data(1, 'test'), headers(1, [['x-trailer', 'yes']], { end: true }));
      const r = await c.response(1);
      assert.equal(r.status, 200);
      assert.equal(echoOf(r).body, 'test');
    });

    h2case('http2/8.1/1: a second HEADERS without END_STREAM (trailers that do not end the stream) is a PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, req('/post', [], 'POST')), data(1, 'test'), headers(1, [['x-trailer', 'yes']]));
      await c.streamError(1, E.PROTOCOL_ERROR);
    });

    // ─────────────────────────── §8.2 field names and values ───────────────────────────

    h2case('http2/8.1.2/1: an upper-case field name is a PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, req('/', [['X-Upper', 'test']]), { end: true }));
      await c.streamError(1, E.PROTOCOL_ERROR);
    });

    for (const [what, name, value] of [['a CR in a value', 'x-bad', 'a\rb'], ['a LF in a value', 'x-bad', 'a\nb'], ['a NUL in a value', 'x-bad', 'a\0b'],
      ['a space in a name', 'x bad', 'v'], ['a colon inside a name', 'x:bad', 'v'], ['an empty name', '', 'v']] as const) {
      h2case(`RFC 9113 §8.2.1: ${what} is a PROTOCOL_ERROR`, async (c) => {
        c.send(headers(1, req('/', [[name, value]]), { end: true }));
        await c.streamError(1, E.PROTOCOL_ERROR);
      });
    }

    for (const [name, value] of [['connection', 'keep-alive'], ['keep-alive', 'timeout=5'], ['proxy-connection', 'keep-alive'], ['transfer-encoding', 'chunked'], ['upgrade', 'websocket']] as const) {
      h2case(`http2/8.1.2.2/1: the connection-specific field ${name} is a PROTOCOL_ERROR`, async (c) => {
        c.send(headers(1, req('/', [[name, value]]), { end: true }));
        await c.streamError(1, E.PROTOCOL_ERROR);
      });
    }

    h2case('http2/8.1.2.2/2: TE with a value other than "trailers" is a PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, req('/', [['te', 'trailers, deflate']]), { end: true }));
      await c.streamError(1, E.PROTOCOL_ERROR);
    });

    h2case('RFC 9113 §8.2.2: TE: trailers is accepted', async (c) => {
      c.send(headers(1, req('/', [['te', 'trailers']]), { end: true }));
      assert.equal((await c.response(1)).status, 200);
    });

    h2case('RFC 9113 §8.2.3: cookie crumbs are joined with "; " for the HTTP/1.1 upstream', async (c) => {
      c.send(headers(1, req('/', [['cookie', 'a=1'], ['cookie', 'b=2'], ['cookie', 'c=3']]), { end: true }));
      assert.equal(echoOf(await c.response(1)).headers.cookie, 'a=1; b=2; c=3');
    });

    // ─────────────────────────── §8.3 pseudo-header fields ───────────────────────────

    const pseudoCases: Array<[string, Array<[string, string]>]> = [
      ['http2/8.1.2.1/1: an unknown pseudo-header', [...req('/'), [':test', 'x']]],
      ['http2/8.1.2.1/2: a response pseudo-header in a request', [...req('/'), [':status', '200']]],
      ['http2/8.1.2.1/4: a pseudo-header after a regular field', [[':method', 'GET'], [':scheme', 'http'], ['x-regular', '1'], [':path', '/'], [':authority', 'conformance.test']]],
      ['http2/8.1.2.3/1: an empty :path', [[':method', 'GET'], [':scheme', 'http'], [':path', ''], [':authority', 'conformance.test']]],
      ['http2/8.1.2.3/2: no :method', [[':scheme', 'http'], [':path', '/'], [':authority', 'conformance.test']]],
      ['http2/8.1.2.3/3: no :scheme', [[':method', 'GET'], [':path', '/'], [':authority', 'conformance.test']]],
      ['http2/8.1.2.3/4: no :path', [[':method', 'GET'], [':scheme', 'http'], [':authority', 'conformance.test']]],
      ['http2/8.1.2.3/5: a duplicated :method', [[':method', 'GET'], [':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'conformance.test']]],
      ['http2/8.1.2.3/6: a duplicated :scheme', [[':method', 'GET'], [':scheme', 'http'], [':scheme', 'http'], [':path', '/'], [':authority', 'conformance.test']]],
      ['http2/8.1.2.3/7: a duplicated :path', [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':path', '/'], [':authority', 'conformance.test']]],
      ['RFC 9113 §8.5: CONNECT with :scheme and :path', [[':method', 'CONNECT'], [':scheme', 'http'], [':path', '/'], [':authority', 'conformance.test:443']]],
    ];
    for (const [name, fields] of pseudoCases) {
      h2case(`${name} is a PROTOCOL_ERROR`, async (c) => {
        c.send(headers(1, fields, { end: true }));
        await c.streamError(1, E.PROTOCOL_ERROR);
      });
    }

    h2case('http2/8.1.2.1/3: a pseudo-header in trailers is a PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, req('/post', [], 'POST')), data(1, 'test'), headers(1, [[':path', '/'], ['x-trailer', 'yes']], { end: true }));
      await c.streamError(1, E.PROTOCOL_ERROR);
    });

    // ─────────────────────────── §8.1.1 malformed messages ───────────────────────────

    h2case('http2/8.1.2.6/1: content-length not equal to the DATA payload is a PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, req('/post', [['content-length', '1']], 'POST')), data(1, 'test', { end: true }));
      await c.streamError(1, E.PROTOCOL_ERROR);
    });

    h2case('http2/8.1.2.6/2: content-length not equal to the sum of several DATA payloads is a PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, req('/post', [['content-length', '1']], 'POST')), data(1, 'te'), data(1, 'st', { end: true }));
      await c.streamError(1, E.PROTOCOL_ERROR);
    });

    // ─────────────────────────── §8.4 server push ───────────────────────────

    h2case('http2/8.2/1: PUSH_PROMISE from a client is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, req('/post', [], 'POST')), pushPromise(1, 2, req('/pushed')));
      await c.connectionError(E.PROTOCOL_ERROR);
    });

    // ─────────────────────────── what the proxy sends ───────────────────────────

    h2case('responses: :status first and alone among pseudo-headers, names lower case, no connection-specific fields', async (c) => {
      c.send(headers(1, req('/hop'), { end: true }));
      const r = await c.response(1);
      assert.equal(r.headers[0]?.[0], ':status');
      assert.equal(r.headers.filter(([n]) => n.startsWith(':')).length, 1);
      for (const [n] of r.headers) assert.equal(n, n.toLowerCase(), `field name ${n}`);
      const names = r.headers.map(([n]) => n);
      for (const h of [...HOP_BY_HOP, 'x-hop']) assert.ok(!names.includes(h), `${h} must not be forwarded (got ${names.join(', ')})`);
      assert.ok(names.includes('x-end-to-end'));
      assert.equal(r.body.toString(), 'hop body');
    });

    h2case('responses: upstream trailers arrive as a trailing HEADERS with END_STREAM and no pseudo-header', async (c) => {
      c.send(headers(1, req('/trailers', [['te', 'trailers']]), { end: true }));
      const r = await c.response(1);
      assert.equal(r.body.toString(), 'abc');
      assert.deepEqual(r.trailers, [['x-trailer', 'done']]);
    });

    for (const status of [204, 304]) {
      h2case(`responses: ${status} carries no body`, async (c) => {
        c.send(headers(1, req(`/status/${status}`), { end: true }));
        const r = await c.response(1);
        assert.equal(r.status, status);
        assert.equal(r.body.length, 0);
      });
    }

    h2case('responses: a 40 KB response header block is split into HEADERS + CONTINUATION within 16384-octet frames', async (c) => {
      c.send(headers(1, req('/hdr/40000'), { end: true }));
      const r = await c.response(1);
      assert.equal(r.headers.find(([n]) => n === 'x-big')?.[1].length, 40000);
      const frames = c.recent.filter((e) => e.streamId === 1 && (e.type === T.HEADERS || e.type === T.CONTINUATION));
      assert.ok(frames.length >= 2 && frames[1]!.type === T.CONTINUATION, `HEADERS then CONTINUATION; got ${c.transcript()}`);
      for (const f of frames) assert.ok(f.payload.length <= 16384, `frame of ${f.payload.length} octets`);
    });

    h2case('responses: DATA frames stay within SETTINGS_MAX_FRAME_SIZE (16384 by default) and the body is intact', async (c) => {
      c.send(headers(1, req('/big/100000'), { end: true }));
      const r = await c.response(1, 10_000);
      assert.equal(r.body.length, 100000);
      assert.ok(r.body.every((b) => b === 0x78));
      for (const n of r.dataFrames) assert.ok(n <= 16384, `DATA of ${n} octets`);
    });

    h2case('responses: a client SETTINGS_MAX_FRAME_SIZE of 32768 lets DATA frames grow past 16384 but not past 32768', async (c) => {
      c.send(headers(1, req('/big/100000'), { end: true }));
      const r = await c.response(1, 10_000);
      assert.equal(r.body.length, 100000);
      for (const n of r.dataFrames) assert.ok(n <= 32768, `DATA of ${n} octets`);
    }, { settings: [[S.MAX_FRAME_SIZE, 32768]] });

    h2case('responses: with the client\'s SETTINGS_HEADER_TABLE_SIZE 0 the first block starts with a table size update and no dynamic entry is used', async (c) => {
      c.decoder.setSettingsMax(0);
      for (const id of [1, 3, 5]) {
        c.send(headers(id, req('/'), { end: true }));
        const r = await c.response(id);
        assert.equal(r.status, 200);
      }
      const first = c.recent.find((e) => e.type === T.HEADERS)!;
      assert.equal(first.payload[0]! & 0xe0, 0x20, 'a dynamic table size update opens the first header block');
    }, { settings: [[S.HEADER_TABLE_SIZE, 0]] });

    h2case('responses: 40 responses on one connection decode with one HPACK context (dynamic table, Huffman)', async (c) => {
      for (let i = 0; i < 40; i++) c.send(headers(1 + 2 * i, req(`/n/${i}`, [['x-req', `r${i}`]]), { end: true }));
      for (let i = 0; i < 40; i++) {
        const r = await c.response(1 + 2 * i);
        assert.equal(r.status, 200);
        assert.equal(echoOf(r).url, `/n/${i}`);
      }
    });

    h2case('responses: a header block split across HEADERS and CONTINUATION inside a string literal is accepted', async (c) => {
      const block = headers(1, req('/split', [['x-split', 'abcdefghijklmnopqrstuvwxyz']])).subarray(9);
      const cut = block.length - 10;
      c.send(headers(1, block.subarray(0, cut), { end: true, endHeaders: false }), continuation(1, block.subarray(cut), true));
      assert.equal(echoOf(await c.response(1)).headers['x-split'], 'abcdefghijklmnopqrstuvwxyz');
    });

    h2case('requests: the proxy\'s SETTINGS_INITIAL_WINDOW_SIZE lets a 256 KiB upload through with WINDOW_UPDATEs', async (c) => {
      const body = Buffer.alloc(256 * 1024, 'u');
      c.send(headers(1, req('/upload', [['content-length', String(body.length)]], 'POST')));
      let sent = 0, connWin = 65535, streamWin = 65535;
      const settingsFrame = c.events.find((e) => e.type === T.SETTINGS && (e.flags & F.ACK) === 0)!;
      for (let i = 0; i + 6 <= settingsFrame.payload.length; i += 6) if (settingsFrame.payload.readUInt16BE(i) === S.INITIAL_WINDOW_SIZE) streamWin = settingsFrame.payload.readUInt32BE(i + 2);
      let seen = 0;
      while (sent < body.length) {
        for (const e of c.events.slice(seen)) {
          if (e.type === T.WINDOW_UPDATE) { if (e.streamId === 0) connWin += e.payload.readUInt32BE(0); else if (e.streamId === 1) streamWin += e.payload.readUInt32BE(0); }
        }
        seen = c.events.length;
        const n = Math.min(16384, connWin, streamWin, body.length - sent);
        if (n <= 0) {
          const before = seen;
          assert.ok(await c.until(() => c.events.length > before), `stalled at ${sent} octets: no WINDOW_UPDATE; got ${c.transcript()}`);
          continue;
        }
        c.send(data(1, body.subarray(sent, sent + n), { end: sent + n === body.length }));
        sent += n; connWin -= n; streamWin -= n;
      }
      const r = await c.response(1, 10_000);
      assert.equal(echoOf(r).body.length, body.length);
    });
  });
  test(NO_CONNECTION_LEFT, noConnectionLeft);
});
