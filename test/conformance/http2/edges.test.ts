// HTTP/2 conformance beyond h2spec's list: corners of RFC 9113 and RFC 7541 where codecs tend to
// differ — padding that counts against flow control, the connection-level window, reserved bits
// in WINDOW_UPDATE, padded/priority frames too short for their own fields, header table size
// changes between blocks (RFC 7541 §4.2), content-length on a bodiless request, upper-case
// pseudo-header names, 100-continue, and a header block that never ends (the CONTINUATION flood,
// CVE-2024-27316).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { continuation, data, E, F, frame, headers, req, S, settings, T, windowUpdate, type H2Conn, type OpenOptions } from '../../helpers/h2-frames.js';
import { CASE_CONCURRENCY, NO_CONNECTION_LEFT, useTarget, type CaseFn } from './target.js';

const dataOn = (c: H2Conn, id: number) => c.recent.filter((e) => e.type === T.DATA && e.streamId === id);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** The proxy's SETTINGS value `id` from the handshake (or `dflt`). */
function serverSetting(c: H2Conn, id: number, dflt: number): number {
  const s = c.events.find((e) => e.type === T.SETTINGS && (e.flags & F.ACK) === 0)!;
  for (let i = 0; i + 6 <= s.payload.length; i += 6) if (s.payload.readUInt16BE(i) === id) return s.payload.readUInt32BE(i + 2);
  return dflt;
}

describe('HTTP/2 conformance: edges', () => {
  const { run, noConnectionLeft } = useTarget();
  const h2case = (name: string, fn: CaseFn, opts?: OpenOptions): void => { test(name, run(fn, opts)); };
  describe('cases', { concurrency: CASE_CONCURRENCY }, () => {
    h2case('RFC 9113 §6.1: padding counts against flow control and is given back (a 256 KiB upload in frames padded by 255 octets)', async (c) => {
      const body = Buffer.alloc(256 * 1024, 'p');
      c.send(headers(1, req('/padded', [['content-length', String(body.length)]], 'POST')));
      let connWin = 65535, streamWin = serverSetting(c, S.INITIAL_WINDOW_SIZE, 65535), sent = 0, seen = 0;
      while (sent < body.length) {
        for (const e of c.events.slice(seen)) {
          if (e.type !== T.WINDOW_UPDATE) continue;
          if (e.streamId === 0) connWin += e.payload.readUInt32BE(0); else if (e.streamId === 1) streamWin += e.payload.readUInt32BE(0);
        }
        seen = c.events.length;
        const n = Math.min(4096, connWin - 256, streamWin - 256, body.length - sent);
        if (n <= 0) {
          const before = seen;
          assert.ok(await c.until(() => c.events.length > before), `stalled after ${sent} octets (windows ${connWin}/${streamWin}): padding not given back? got ${c.transcript()}`);
          continue;
        }
        c.send(data(1, body.subarray(sent, sent + n), { end: sent + n === body.length, pad: { length: 255 } }));
        sent += n; connWin -= n + 256; streamWin -= n + 256;
      }
      const r = await c.response(1, 10_000);
      assert.equal((JSON.parse(r.body.toString()) as { body: string }).body.length, body.length);
    });

    h2case('RFC 9113 §6.9.1: the connection window bounds all streams (a large stream window does not let more than 65535 octets through)', async (c) => {
      c.autoWindow = false;
      c.send(settings([[S.INITIAL_WINDOW_SIZE, 1 << 20]]));
      assert.ok(await c.until(() => c.recent.some((e) => e.type === T.SETTINGS && (e.flags & F.ACK) !== 0)), 'SETTINGS ACK');
      c.send(headers(1, req('/big/200000'), { end: true }));
      assert.ok(await c.until(() => sum(dataOn(c, 1).map((e) => e.payload.length)) >= 65535), `expected 65535 octets; got ${c.transcript()}`);
      await c.alive();
      assert.equal(sum(dataOn(c, 1).map((e) => e.payload.length)), 65535, 'exactly the connection window');
      c.send(windowUpdate(0, 200000));
      assert.equal((await c.response(1)).body.length, 200000);
    });

    h2case('RFC 9113 §6.9: the reserved bit of a WINDOW_UPDATE increment is ignored', async (c) => {
      c.send(frame(T.WINDOW_UPDATE, 0, 0, Buffer.from([0x80, 0, 0, 1])));
      await c.alive();
    });

    h2case('RFC 9113 §6.1: a PADDED DATA frame without room for its Pad Length is a connection error', async (c) => {
      c.send(headers(1, req('/', [], 'POST')), frame(T.DATA, F.PADDED, 1));
      await c.connectionError(E.PROTOCOL_ERROR, E.FRAME_SIZE_ERROR);
    });

    h2case('RFC 9113 §6.2: HEADERS with PRIORITY shorter than the priority fields is a connection error', async (c) => {
      c.send(frame(T.HEADERS, F.PRIORITY | F.END_HEADERS | F.END_STREAM, 1, Buffer.from([0, 0, 0])));
      await c.connectionError(E.PROTOCOL_ERROR, E.FRAME_SIZE_ERROR);
    });

    h2case('RFC 9113 §6.2: HEADERS with PADDED and PRIORITY whose padding covers the priority fields is a connection error PROTOCOL_ERROR', async (c) => {
      c.send(frame(T.HEADERS, F.PADDED | F.PRIORITY | F.END_HEADERS | F.END_STREAM, 1, Buffer.from([5, 0, 0, 0, 0, 15])));
      await c.connectionError(E.PROTOCOL_ERROR, E.FRAME_SIZE_ERROR);
    });

    h2case('RFC 9113 §6.2: padding with PRIORITY and CONTINUATION together is accepted', async (c) => {
      const f = req('/', [['x-a', 'a']]);
      c.send(headers(1, f.slice(0, 2), { end: true, endHeaders: false, pad: { length: 7 }, priority: { dependency: 0, weight: 42 } }), continuation(1, f.slice(2), true));
      assert.equal((await c.response(1)).status, 200);
    });

    h2case('RFC 7541 §4.2: header table size lowered to 0 and raised again between blocks: the next block signals the minimum (0) first', async (c) => {
      c.send(headers(1, req('/'), { end: true }));
      await c.response(1);
      c.setMark();
      c.send(settings([[S.HEADER_TABLE_SIZE, 0]]), settings([[S.HEADER_TABLE_SIZE, 4096]]));
      assert.ok(await c.until(() => c.recent.filter((e) => e.type === T.SETTINGS && (e.flags & F.ACK) !== 0).length >= 2), 'two SETTINGS ACKs');
      c.send(headers(3, req('/'), { end: true }));
      const r = await c.response(3);
      assert.equal(r.status, 200);
      const h = c.recent.find((e) => e.type === T.HEADERS && e.streamId === 3)!;
      assert.equal(h.payload[0], 0x20, `the block opens with a size update to 0 (got 0x${h.payload[0]?.toString(16)})`);
    });

    h2case('RFC 7541 §4.2: a lowered header table size (256) is honoured by the proxy\'s encoder', async (c) => {
      c.send(settings([[S.HEADER_TABLE_SIZE, 256]]));
      assert.ok(await c.until(() => c.recent.some((e) => e.type === T.SETTINGS && (e.flags & F.ACK) !== 0)), 'SETTINGS ACK');
      c.decoder.setSettingsMax(256);
      for (const id of [1, 3, 5, 7]) {
        c.send(headers(id, req(`/t/${id}`), { end: true }));
        assert.equal((await c.response(id)).status, 200);
      }
    });

    h2case('RFC 9113 §8.1.1: content-length on a request that ends with its HEADERS is a PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, req('/', [['content-length', '5']], 'POST'), { end: true }));
      await c.streamError(1, E.PROTOCOL_ERROR);
    });

    h2case('RFC 9113 §8.2: an upper-case pseudo-header name is a PROTOCOL_ERROR', async (c) => {
      c.send(headers(1, [[':method', 'GET'], [':scheme', 'http'], [':Path', '/'], [':authority', 'conformance.test']], { end: true }));
      await c.streamError(1, E.PROTOCOL_ERROR);
    });

    h2case('RFC 9110 §10.1.1: expect: 100-continue gets an informational 100 before the body is sent', async (c) => {
      c.send(headers(1, req('/continue', [['content-length', '4'], ['expect', '100-continue']], 'POST')));
      const informational = () => c.recent.some((e) => e.type === T.HEADERS && e.streamId === 1 && e.headers?.some(([n, v]) => n === ':status' && v === '100'));
      assert.ok(await c.until(informational), `expected :status 100; got ${c.transcript()}`);
      const h = c.recent.find((e) => e.type === T.HEADERS && e.streamId === 1)!;
      assert.equal(h.flags & F.END_STREAM, 0, 'the 100 does not end the stream');
      c.send(data(1, 'body', { end: true }));
      const r = await c.response(1);
      assert.equal(r.status, 200);
      assert.equal((JSON.parse(r.body.toString()) as { body: string }).body, 'body');
    });

    h2case('CVE-2024-27316: a header block that never ends (CONTINUATION after CONTINUATION, 4 MiB) is cut off', async (c) => {
      c.send(headers(1, req('/'), { endHeaders: false }));
      const chunk = continuation(1, Buffer.concat(Array.from({ length: 100 }, () => Buffer.from([0x00, 0x03, 0x78, 0x2d, 0x63, 0x7e, ...Buffer.from('v'.repeat(126))]))), false);
      let sent = 0;
      while (sent < 4 * 1024 * 1024 && !c.closed && c.goaway() === undefined && c.rstCode(1) === undefined) {
        if (!c.sock.write(chunk)) await new Promise<void>((r) => { c.sock.once('drain', r); c.sock.once('close', r); });
        sent += chunk.length;
      }
      await c.until(() => c.closed || c.goaway() !== undefined || c.rstCode(1) !== undefined);
      assert.ok(c.closed || c.goaway() !== undefined || c.rstCode(1) !== undefined, `expected the proxy to give up on the block (GOAWAY, RST_STREAM or close); got ${c.transcript()} after ${sent} octets`);
    });
  });
  test(NO_CONNECTION_LEFT, noConnectionLeft);
});
