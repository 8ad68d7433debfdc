// HPACK conformance (RFC 7541) of the proxy's decoder, through requests on its h2c listener: every
// header field representation (h2spec generic/5: indexed, literal with incremental indexing /
// without indexing / never indexed, indexed or new names, with and without Huffman, dynamic table
// size updates), the dynamic table (insertion, reference, eviction, entries larger than the
// table), and the decoding errors that are connection errors COMPRESSION_ERROR (RFC 9113 §4.3,
// h2spec hpack/2.3.3, 4.2, 5.2, 6.1, 6.3, plus integer overflow and truncation). Upstream echoes
// show what the proxy decoded.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { E, headerFrames, headers, req, T, type H2Conn, type Response, type OpenOptions } from '../../helpers/h2-frames.js';
import { encodeReps, hpackInt, type Rep } from '../../helpers/h2-hpack.js';
import { CASE_CONCURRENCY, NO_CONNECTION_LEFT, useTarget, type CaseFn } from './target.js';

interface Echo { method: string; url: string; headers: Record<string, string> }
const echoOf = (r: Response): Echo => JSON.parse(r.body.toString()) as Echo;

/** GET /hpack with the pseudo-headers as plain literals, then `reps`. */
const block = (reps: Rep[], path = '/hpack'): Buffer => Buffer.concat([headers(1, req(path)).subarray(9), encodeReps(reps)]);
/** :method GET, :scheme http, :path / from the static table (indexes 2, 6, 4) and a literal :authority. */
const indexedPseudo: Rep[] = [{ t: 'indexed', index: 2 }, { t: 'indexed', index: 6 }, { t: 'indexed', index: 4 }, { t: 'literal', mode: 'without', index: 1, value: 'conformance.test' }];

async function sendAndEcho(c: H2Conn, id: number, b: Buffer): Promise<Echo> {
  c.send(headers(id, b, { end: true }));
  const r = await c.response(id);
  assert.equal(r.status, 200);
  return echoOf(r);
}

describe('HTTP/2 conformance: HPACK', () => {
  const { run, noConnectionLeft } = useTarget();
  const h2case = (name: string, fn: CaseFn, opts?: OpenOptions): void => { test(name, run(fn, opts)); };
  describe('cases', { concurrency: CASE_CONCURRENCY }, () => {
    // ─────────────────────────── representations (h2spec generic/5) ───────────────────────────

    h2case('generic/5/1: indexed header field representations (static table)', async (c) => {
      const e = await sendAndEcho(c, 1, encodeReps(indexedPseudo));
      assert.equal(e.method, 'GET');
      assert.equal(e.url, '/');
    });

    // user-agent is static index 58.
    for (const mode of ['incremental', 'without', 'never'] as const) {
      for (const huffman of [false, true]) {
        h2case(`generic/5: literal ${mode === 'incremental' ? 'with incremental indexing' : mode === 'without' ? 'without indexing' : 'never indexed'}, indexed name${huffman ? ', Huffman' : ''}`, async (c) => {
          const e = await sendAndEcho(c, 1, block([{ t: 'literal', mode, index: 58, value: `ua-${mode}`, huffman }]));
          assert.equal(e.headers['user-agent'], `ua-${mode}`);
        });
        h2case(`generic/5: literal ${mode === 'incremental' ? 'with incremental indexing' : mode === 'without' ? 'without indexing' : 'never indexed'}, new name${huffman ? ', Huffman' : ''}`, async (c) => {
          const e = await sendAndEcho(c, 1, block([{ t: 'literal', mode, name: 'x-hpack-test', value: `value-${mode}`, huffman }]));
          assert.equal(e.headers['x-hpack-test'], `value-${mode}`);
        });
      }
    }

    h2case('generic/5/14: a dynamic table size update at the start of a block is accepted', async (c) => {
      await sendAndEcho(c, 1, Buffer.concat([encodeReps([{ t: 'size', size: 0 }]), block([])]));
    });

    h2case('generic/5/15: several dynamic table size updates at the start of a block are accepted', async (c) => {
      await sendAndEcho(c, 1, Buffer.concat([encodeReps([{ t: 'size', size: 0 }, { t: 'size', size: 4096 }]), block([])]));
    });

    // ─────────────────────────── the dynamic table (RFC 7541 §2.3, §4) ───────────────────────────

    h2case('RFC 7541 §2.3.3: an entry added with incremental indexing is referenced by index 62 in the next block', async (c) => {
      await sendAndEcho(c, 1, block([{ t: 'literal', mode: 'incremental', name: 'x-dyn', value: 'first' }]));
      c.send(headers(3, block([{ t: 'indexed', index: 62 }]), { end: true }));
      assert.equal(echoOf(await c.response(3)).headers['x-dyn'], 'first');
    });

    h2case('RFC 7541 §4.4: entries are evicted oldest first; the newest survive and index 62 is the newest', async (c) => {
      // 4096 / (32 + 5 + 1000) ≈ 3.95: each block adds one 1037-octet entry; after 5 only the last 3 fit.
      for (let i = 0; i < 5; i++) {
        await sendAndEcho(c, 1 + 2 * i, block([{ t: 'literal', mode: 'incremental', name: `x-e${i}`, value: String(i).repeat(1000) }]));
      }
      const e = await sendAndEcho(c, 11, block([{ t: 'indexed', index: 62 }, { t: 'indexed', index: 64 }]));
      assert.equal(e.headers['x-e4'], '4'.repeat(1000));
      assert.equal(e.headers['x-e2'], '2'.repeat(1000));
      c.send(headers(13, block([{ t: 'indexed', index: 65 }]), { end: true }));
      await c.connectionError(E.COMPRESSION_ERROR);
    });

    h2case('RFC 7541 §4.4: an entry larger than the table empties it and is not added', async (c) => {
      await sendAndEcho(c, 1, block([{ t: 'literal', mode: 'incremental', name: 'x-small', value: 's' }]));
      await sendAndEcho(c, 3, block([{ t: 'literal', mode: 'incremental', name: 'x-huge', value: 'h'.repeat(5000) }]));
      c.send(headers(5, block([{ t: 'indexed', index: 62 }]), { end: true }));
      await c.connectionError(E.COMPRESSION_ERROR);
    });

    h2case('RFC 7541 §4.2: a size update to 0 empties the table; references to old entries fail', async (c) => {
      await sendAndEcho(c, 1, block([{ t: 'literal', mode: 'incremental', name: 'x-gone', value: 'v' }]));
      c.send(headers(3, Buffer.concat([encodeReps([{ t: 'size', size: 0 }, { t: 'size', size: 4096 }]), block([{ t: 'indexed', index: 62 }])]), { end: true }));
      await c.connectionError(E.COMPRESSION_ERROR);
    });

    h2case('RFC 9113 §4.3: the table is updated by a block whose stream is refused (oversized header list), so later blocks still decode', async (c) => {
      // The proxy advertises SETTINGS_MAX_HEADER_LIST_SIZE; this list passes it (and Envoy's 60 KiB default).
      const big: Rep[] = Array.from({ length: 12 }, (_, i) => ({ t: 'literal', mode: 'without', name: `x-pad${i}`, value: 'p'.repeat(6000) }));
      c.send(headerFrames(1, block([{ t: 'literal', mode: 'incremental', name: 'x-sync', value: 'kept' }, ...big]), { end: true }));
      await c.until(() => c.rstCode(1) !== undefined || c.recent.some((e) => e.streamId === 1 && e.type === T.HEADERS) || c.closed || c.goaway() !== undefined);
      assert.ok(c.goaway() === undefined && !c.closed, `the connection survives an oversized header list; got ${c.transcript()}`);
      c.send(headers(3, block([{ t: 'indexed', index: 62 }]), { end: true }));
      assert.equal(echoOf(await c.response(3)).headers['x-sync'], 'kept');
    });

    h2case('RFC 7541 §5.2: a long Huffman-coded value (8 KiB) is decoded', async (c) => {
      const v = 'The quick brown fox jumps over the lazy dog 0123456789~!@#$%^&*()'.repeat(128).slice(0, 8192);
      const e = await sendAndEcho(c, 1, block([{ t: 'literal', mode: 'without', name: 'x-long', value: v, huffman: true }]));
      assert.equal(e.headers['x-long'], v);
    });

    // ─────────────────────────── decoding errors: connection error COMPRESSION_ERROR ───────────────────────────

    const errors: Array<[string, Buffer]> = [
      ['hpack/2.3.3/1: an indexed field with an index beyond both tables', block([{ t: 'indexed', index: 70 }])],
      ['hpack/2.3.3/2: a literal whose name index is beyond both tables', block([{ t: 'literal', mode: 'without', index: 70, value: 'x' }])],
      ['hpack/4.2/1: a dynamic table size update at the end of a block', Buffer.concat([block([]), encodeReps([{ t: 'size', size: 0 }])])],
      ['hpack/5.2/1: Huffman padding longer than 7 bits', Buffer.concat([block([]), Buffer.from([0x00, 0x06]), Buffer.from('x-test'), Buffer.from([0x82, 0x1f, 0xff])])], // 'a' (00011) + 11 one-bits
      ['hpack/5.2/2: Huffman padding that is not the EOS prefix (zeros)', Buffer.concat([block([]), Buffer.from([0x00, 0x06]), Buffer.from('x-test'), Buffer.from([0x81, 0x18])])], // 'a' + 000
      ['hpack/5.2/3: a Huffman string containing EOS', Buffer.concat([block([]), Buffer.from([0x00, 0x06]), Buffer.from('x-test'), Buffer.from([0x84, 0xff, 0xff, 0xff, 0xff])])], // 30 one-bits = EOS
      ['hpack/6.1/1: an indexed field with index 0', block([{ t: 'indexed', index: 0 }])],
      ['hpack/6.3/1: a dynamic table size update above SETTINGS_HEADER_TABLE_SIZE', Buffer.concat([encodeReps([{ t: 'size', size: 4097 }]), block([])])],
      ['RFC 7541 §5.1: an integer that overflows (index with 10 continuation octets)', Buffer.concat([block([]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])])],
      ['RFC 7541 §5.2: a string longer than the block', Buffer.concat([block([]), Buffer.from([0x00, 0x06]), Buffer.from('x-test'), hpackInt(50, 7), Buffer.from('short')])],
      ['RFC 7541 §5.1: a block ending inside an integer', Buffer.concat([block([]), Buffer.from([0xff, 0x80])])],
    ];
    for (const [name, b] of errors) {
      h2case(`${name} is a connection error COMPRESSION_ERROR`, async (c) => {
        c.send(headers(1, b, { end: true }));
        await c.connectionError(E.COMPRESSION_ERROR);
      });
    }
  });
  test(NO_CONNECTION_LEFT, noConnectionLeft);
});
