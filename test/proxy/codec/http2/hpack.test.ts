// Tests of Weft's HPACK (RFC 7541, src/proxy/codec/http2/hpack): every example of Appendix C
// (decoded lists and dynamic table states; our encoder's bytes where its choices are the RFC's),
// the encoder's indexing decisions and table size updates (§4.2), Huffman (§5.2, Appendix B),
// round trips of random lists over many blocks sharing a table, and the unhappy paths: every
// malformed input must end in HpackError, never another exception.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HpackError } from '../../../../src/proxy/codec/http2/types.js';
import { createHpackDecoder, createHpackEncoder } from '../../../../src/proxy/codec/http2/hpack/index.js';
import { Decoder } from '../../../../src/proxy/codec/http2/hpack/decoder.js';
import { Encoder } from '../../../../src/proxy/codec/http2/hpack/encoder.js';
import { huffmanDecode, huffmanEncode, huffmanEncodedLength, maxDecodedLength } from '../../../../src/proxy/codec/http2/hpack/huffman.js';
import { randomBlock, randomList, rng } from './hpack-random.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[^0-9a-f]/g, ''), 'hex');
const pairs = (flat: string[]): Array<[string, string]> => {
  const r: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) r.push([flat[i], flat[i + 1]]);
  return r;
};
const flat = (list: Array<[string, string]>): string[] => list.flatMap(([n, v]) => [n, v]);

function decodeAll(dec: Decoder, block: Buffer, max = 1 << 20): Array<[string, string]> {
  const out: string[] = [];
  assert.equal(dec.decode(block, out, max), true);
  return pairs(out);
}

function assertHpackError(fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof HpackError, `expected HpackError, got ${String(err)}`);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

// ─────────────────────────── RFC 7541 Appendix C ───────────────────────────

const REQ1: Array<[string, string]> = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const REQ2: Array<[string, string]> = [...REQ1, ['cache-control', 'no-cache']];
const REQ3: Array<[string, string]> = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']];
const TABLE_REQ1: Array<[string, string]> = [[':authority', 'www.example.com']];
const TABLE_REQ2: Array<[string, string]> = [['cache-control', 'no-cache'], ...TABLE_REQ1];
const TABLE_REQ3: Array<[string, string]> = [['custom-key', 'custom-value'], ...TABLE_REQ2];

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOC = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESP1: Array<[string, string]> = [[':status', '302'], ['cache-control', 'private'], ['date', DATE1], ['location', LOC]];
const RESP2: Array<[string, string]> = [[':status', '307'], ['cache-control', 'private'], ['date', DATE1], ['location', LOC]];
const RESP3: Array<[string, string]> = [[':status', '200'], ['cache-control', 'private'], ['date', DATE2], ['location', LOC], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]];
const TABLE_RESP1: Array<[string, string]> = [['location', LOC], ['date', DATE1], ['cache-control', 'private'], [':status', '302']];
const TABLE_RESP2: Array<[string, string]> = [[':status', '307'], ['location', LOC], ['date', DATE1], ['cache-control', 'private']];
const TABLE_RESP3: Array<[string, string]> = [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE2]];

interface Step { block: string; list: Array<[string, string]>; table: Array<[string, string]>; size: number }

const SEQUENCES: Record<string, { tableSize: number; steps: Step[] }> = {
  'C.3 requests without Huffman': {
    tableSize: 4096,
    steps: [
      { block: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', list: REQ1, table: TABLE_REQ1, size: 57 },
      { block: '8286 84be 5808 6e6f 2d63 6163 6865', list: REQ2, table: TABLE_REQ2, size: 110 },
      { block: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65', list: REQ3, table: TABLE_REQ3, size: 164 },
    ],
  },
  'C.4 requests with Huffman': {
    tableSize: 4096,
    steps: [
      { block: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', list: REQ1, table: TABLE_REQ1, size: 57 },
      { block: '8286 84be 5886 a8eb 1064 9cbf', list: REQ2, table: TABLE_REQ2, size: 110 },
      { block: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', list: REQ3, table: TABLE_REQ3, size: 164 },
    ],
  },
  'C.5 responses without Huffman (256-byte table)': {
    tableSize: 256,
    steps: [
      {
        block: '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        list: RESP1, table: TABLE_RESP1, size: 222,
      },
      { block: '4803 3330 37c1 c0bf', list: RESP2, table: TABLE_RESP2, size: 222 },
      {
        block: '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
        list: RESP3, table: TABLE_RESP3, size: 215,
      },
    ],
  },
  'C.6 responses with Huffman (256-byte table)': {
    tableSize: 256,
    steps: [
      {
        block: '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
        list: RESP1, table: TABLE_RESP1, size: 222,
      },
      { block: '4883 640e ffc1 c0bf', list: RESP2, table: TABLE_RESP2, size: 222 },
      {
        block: '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
        list: RESP3, table: TABLE_RESP3, size: 215,
      },
    ],
  },
};

for (const [name, seq] of Object.entries(SEQUENCES)) {
  test(`RFC 7541 ${name}: decoded lists and dynamic table states`, () => {
    const dec = new Decoder(4096);
    // The RFC's examples assume the table size is already the setting; a size update sets it here.
    if (seq.tableSize !== 4096) decodeAll(dec, hex(`3f${(0x80 | ((seq.tableSize - 31) & 0x7f)).toString(16)}${((seq.tableSize - 31) >> 7).toString(16).padStart(2, '0')}`));
    assert.equal(dec.table.maxSize, seq.tableSize);
    for (const step of seq.steps) {
      assert.deepEqual(decodeAll(dec, hex(step.block)), step.list);
      assert.deepEqual(dec.table.entries(), step.table);
      assert.equal(dec.table.size, step.size);
    }
  });
}

test('RFC 7541 C.2: literal with indexing, without indexing, never indexed, indexed', () => {
  const cases: Array<[string, Array<[string, string]>, Array<[string, string]>]> = [
    ['400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572', [['custom-key', 'custom-header']], [['custom-key', 'custom-header']]],
    ['040c 2f73 616d 706c 652f 7061 7468', [[':path', '/sample/path']], []],
    ['1008 7061 7373 776f 7264 0673 6563 7265 74', [['password', 'secret']], []],
    ['82', [[':method', 'GET']], []],
  ];
  for (const [block, list, table] of cases) {
    const dec = new Decoder(4096);
    assert.deepEqual(decodeAll(dec, hex(block)), list);
    assert.deepEqual(dec.table.entries(), table);
  }
  assert.equal(new Decoder(4096).table.size, 0);
});

test('RFC 7541 C.4: our encoder produces the RFC bytes (Huffman, incremental indexing) and the same table', () => {
  const enc = createHpackEncoder() as Encoder;
  const steps = SEQUENCES['C.4 requests with Huffman'].steps;
  for (const step of steps) {
    assert.equal(enc.encode(flat(step.list)).toString('hex'), hex(step.block).toString('hex'));
    assert.deepEqual(enc.table.entries(), step.table);
  }
  assert.equal(createHpackEncoder().encode([':method', 'GET']).toString('hex'), '82'); // C.2.4
});

test('RFC 7541 C.6.2: our encoder reuses the dynamic table like the RFC, with a 256-byte table after a size update', () => {
  const enc = new Encoder();
  enc.setMaxTableSize(256);
  // The first block starts with the size update (§4.2): 001 11111 + 256-31 = 225 → 3f e1 01.
  const first = enc.encode(flat(RESP1));
  assert.equal(first.subarray(0, 3).toString('hex'), '3fe101');
  const dec = new Decoder(4096);
  assert.deepEqual(decodeAll(dec, Buffer.from(first)), RESP1);
  // location is never indexed by our encoder (nghttp2's choice), so compare the parts the RFC and we agree on.
  const second = enc.encode(flat(RESP2));
  assert.deepEqual(decodeAll(dec, Buffer.from(second)), RESP2);
  // :status 307 with incremental indexing; raw, since its Huffman code (17 bits) is not shorter than 3 bytes (the RFC uses Huffman).
  assert.equal(second.subarray(0, 5).toString('hex'), '4803333037');
  assert.deepEqual(enc.table.entries(), dec.table.entries());
});

// ─────────────────────────── the encoder's decisions ───────────────────────────

test('encoder: repeated fields become one-byte indexed references; :path, content-length and huge values are not indexed', () => {
  const enc = createHpackEncoder();
  const list = ['x-request-id', 'abc', ':path', '/pkg.Service/Method', 'content-length', '12', 'x-big', 'v'.repeat(3100)];
  const first = Buffer.from(enc.encode(list));
  const second = Buffer.from(enc.encode(list));
  // x-request-id is the only entry: index 62 = 0xbe; :path, content-length and x-big stay literal.
  assert.equal(second[0], 0xbe);
  assert.ok(second.length > 3100 * 0.6 && second.length < first.length);
  const dec = createHpackDecoder(4096);
  for (const block of [first, second]) {
    const out: string[] = [];
    assert.equal(dec.decode(block, out, 1 << 20), true);
    assert.deepEqual(out, list);
  }
  assert.deepEqual((enc as Encoder).table.entries(), [['x-request-id', 'abc']]);
});

test('encoder: never-indexed literals for authorization and short cookies (as nghttp2), indexing for long cookies', () => {
  const enc = new Encoder();
  const auth = enc.encode(['authorization', 'Bearer abc']);
  assert.equal(auth[0], 0x1f); // 0001 1111: never indexed, name index 23 = 15 + 8
  assert.equal(auth[1], 0x08);
  const short = enc.encode(['cookie', 'a=b']);
  assert.equal(short[0], 0x1f); // name index 32 = 15 + 17
  assert.equal(short[1], 17);
  const long = enc.encode(['cookie', 'session=0123456789abcdef']);
  assert.equal(long[0], 0x60); // 01 100000: incremental indexing, name index 32
  assert.deepEqual(enc.table.entries(), [['cookie', 'session=0123456789abcdef']]);
  // Never-indexed fields are never sent as an index, even when repeated.
  assert.equal(enc.encode(['authorization', 'Bearer abc'])[0], 0x1f);
});

test('encoder: table size updates (§4.2): the smallest size then the final one, only when it changes, capped at 4096', () => {
  const enc = new Encoder();
  enc.setMaxTableSize(65536); // larger than our cap: no change, no update
  assert.equal(enc.encode([':method', 'GET']).toString('hex'), '82');
  enc.setMaxTableSize(0);
  enc.setMaxTableSize(4096);
  assert.equal(enc.encode([':method', 'GET']).toString('hex'), '20' + '3fe11f' + '82');
  assert.equal(enc.encode([':method', 'GET']).toString('hex'), '82'); // emitted once
  enc.setMaxTableSize(100);
  enc.setMaxTableSize(200);
  assert.equal(enc.encode([]).toString('hex'), '3f45' + '3fa901'); // 100 then 200
  const dec = new Decoder(4096);
  enc.setMaxTableSize(0);
  const b = enc.encode(['x-a', 'b', 'x-a', 'b']);
  assert.deepEqual(decodeAll(dec, Buffer.from(b)), [['x-a', 'b'], ['x-a', 'b']]);
  assert.equal(dec.table.maxSize, 0);
  assert.equal(enc.table.count, 0);
});

test('encoder: the scratch buffer grows for large blocks and latin1 bytes survive', () => {
  const enc = createHpackEncoder();
  const dec = createHpackDecoder(4096);
  let all = '';
  for (let c = 0; c < 256; c++) all += String.fromCharCode(c);
  const list: string[] = [];
  for (let i = 0; i < 40; i++) list.push(`x-h${i}`, all + 'y'.repeat(i * 100));
  const out: string[] = [];
  assert.equal(dec.decode(Buffer.from(enc.encode(list)), out, 1 << 22), true);
  assert.deepEqual(out, list);
  const out2: string[] = [];
  assert.equal(dec.decode(Buffer.from(enc.encode(list, 78)), out2, 1 << 22), true);
  assert.deepEqual(out2, list.slice(78));
});

test('encoder memo: a memoized dynamic entry that was evicted is not referenced; literal memos follow value changes', () => {
  const enc = new Encoder();
  const dec = new Decoder(4096);
  const roundTrip = (list: string[]): Buffer => {
    const block = Buffer.from(enc.encode(list));
    const out: string[] = [];
    assert.equal(dec.decode(block, out, 1 << 20), true);
    assert.deepEqual(out, list);
    return block;
  };
  enc.setMaxTableSize(120); // room for two 4x-byte entries
  roundTrip(['x-a', '1', 'x-b', '2']);
  assert.equal(roundTrip(['x-a', '1']).toString('hex'), 'bf'); // memo: x-a is the second newest
  roundTrip(['x-c', '3', 'x-d', '4']); // evicts x-a and x-b
  assert.equal(enc.table.entries().some(([n]) => n === 'x-a'), false);
  const again = roundTrip(['x-a', '1']);
  assert.equal(again[0], 0x40); // a new literal, not the stale index
  // Non-indexed literals with a static name: memoized bytes, updated when the value changes.
  const p1 = roundTrip([':path', '/pkg.Service/One']);
  assert.deepEqual(roundTrip([':path', '/pkg.Service/One']), p1);
  const p2 = roundTrip([':path', '/pkg.Service/Two']);
  assert.notDeepEqual(p2, p1);
  assert.deepEqual(roundTrip([':path', '/pkg.Service/Two']), p2);
  roundTrip([':path', '/pkg.Service/One', ':path', '/pkg.Service/Two', ':path', '/pkg.Service/One']);
  // Same-length output twice: the view may be the same object, its bytes are the new block's.
  const a = enc.encode([':path', '/aaaa']);
  const aHex = a.toString('hex');
  const b = enc.encode([':path', '/bbbb']);
  assert.equal(b.length, a.length);
  assert.notEqual(b.toString('hex'), aHex);
});

test('decoder memo: repeated non-indexed literals decode to the same string; changes, raw/Huffman forms and truncation are honoured', () => {
  const dec = new Decoder(4096);
  const enc = new Encoder();
  const path = (p: string): Buffer => Buffer.from(enc.encode([':path', p]));
  const first: string[] = [];
  dec.decode(path('/pkg.Service/Method'), first, 1 << 20);
  const second: string[] = [];
  dec.decode(path('/pkg.Service/Method'), second, 1 << 20);
  assert.equal(second[1], '/pkg.Service/Method');
  const third: string[] = [];
  dec.decode(path('/pkg.Service/Other!'), third, 1 << 20); // same length, other bytes
  assert.equal(third[1], '/pkg.Service/Other!');
  // The same value raw (04 0c ...) and Huffman-coded: different bytes, same string.
  assert.deepEqual(decodeAll(dec, hex('040c 2f73 616d 706c 652f 7061 7468')), [[':path', '/sample/path']]);
  const huffman = Buffer.alloc(32);
  const end = huffmanEncode('/sample/path', huffman, 2);
  huffman[0] = 0x04;
  huffman[1] = 0x80 | (end - 2);
  assert.deepEqual(decodeAll(dec, huffman.subarray(0, end)), [[':path', '/sample/path']]);
  assert.deepEqual(decodeAll(dec, hex('040c 2f73 616d 706c 652f 7061 7468')), [[':path', '/sample/path']]);
  // A truncated copy of the memoized bytes is an error, not a memo hit.
  assertHpackError(() => dec.decode(hex('040c 2f73 616d 706c 652f 7061 74'), [], 1 << 20), /truncated/);
  // Never-indexed literals (0001xxxx) use the memo too and keep their value.
  assert.deepEqual(decodeAll(dec, hex('1f08 03 612062 1f08 03 612062')), [['authorization', 'a b'], ['authorization', 'a b']]);
});

// ─────────────────────────── Huffman ───────────────────────────

test('Huffman: every byte value round-trips; the computed length is the written length; shorter strings get Huffman', () => {
  const r = rng(7);
  const strings = [''];
  for (let c = 0; c < 256; c++) strings.push(String.fromCharCode(c), String.fromCharCode(c).repeat(9));
  for (let i = 0; i < 300; i++) {
    let s = '';
    for (let n = Math.floor(r() * 200); n > 0; n--) s += String.fromCharCode(Math.floor(r() * 256));
    strings.push(s);
  }
  const buf = Buffer.alloc(16384);
  const back = Buffer.alloc(16384);
  for (const s of strings) {
    const end = huffmanEncode(s, buf, 3);
    assert.equal(end - 3, huffmanEncodedLength(s));
    assert.ok(maxDecodedLength(end - 3) >= s.length);
    const n = huffmanDecode(buf, 3, end, back);
    assert.equal(back.toString('latin1', 0, n), s);
  }
  assert.equal(huffmanEncodedLength('www.example.com'), 12); // RFC 7541 C.4.1
});

// ─────────────────────────── round trips ───────────────────────────

test('round trips: 2000 random lists over one encoder/decoder pair sharing a table, with table size changes', () => {
  const r = rng(20251122);
  const enc = createHpackEncoder() as Encoder;
  const dec = createHpackDecoder(4096) as Decoder;
  for (let i = 0; i < 2000; i++) {
    if (r() < 0.03) {
      const size = [0, 1, 64, 256, 1000, 4096, 100000][Math.floor(r() * 7)];
      enc.setMaxTableSize(size);
      if (r() < 0.5) enc.setMaxTableSize(Math.floor(r() * 5000));
    }
    const list = randomList(r);
    const out: string[] = [];
    assert.equal(dec.decode(Buffer.from(enc.encode(list)), out, 1 << 22), true);
    assert.deepEqual(out, list, `block ${i}`);
    assert.deepEqual(dec.table.entries(), enc.table.entries());
    assert.equal(dec.table.size, enc.table.size);
  }
});

// ─────────────────────────── unhappy paths ───────────────────────────

test('malformed: truncated blocks, index 0, indexes past the table, integer overflow', () => {
  const bad: Array<[string, string, RegExp]> = [
    ['truncated integer', 'ff', /truncated integer/],
    ['truncated integer continuation', 'ff 80', /truncated integer/],
    ['literal with no name', '40', /truncated/],
    ['literal with no value', '41', /truncated/],
    ['string longer than the block', '41 8c f1e3 c2e5', /truncated string/],
    ['raw string longer than the block', '40 0a 6375 7374', /truncated string/],
    ['index 0', '80', /index 0/],
    ['index 62 on an empty table', 'be', /beyond the table/],
    ['name index 62 on an empty table', '7e 00', /beyond the table/],
    ['name index 70 without indexing', '0f 37 00', /beyond the table/],
    ['index far past the table', 'ff ff ff 03', /beyond the table/],
    ['integer above 2^31', 'ff ff ff ff ff 0f', /overflow/],
    ['string length above 2^31', '40 ff ff ff ff ff 0f', /overflow/],
    ['too many continuation bytes', 'ff 80 80 80 80 80 80 00', /overflow/],
  ];
  for (const [what, block, message] of bad) {
    assertHpackError(() => createHpackDecoder(4096).decode(hex(block), [], 1 << 20), message);
    void what;
  }
  // An index that was valid before its entry was evicted: a 48-byte table holds one 36-byte entry.
  const dec = createHpackDecoder(4096);
  const out: string[] = [];
  assert.equal(dec.decode(hex('3f11 4003 782d 6101 62 be 4003 782d 6201 63 be'), out, 1 << 20), true);
  assert.deepEqual(out, ['x-a', 'b', 'x-a', 'b', 'x-b', 'c', 'x-b', 'c']);
  assertHpackError(() => dec.decode(hex('bf'), [], 1 << 20), /beyond the table/);
});

test('malformed Huffman: padding of zeros, padding longer than 7 bits, EOS inside the string', () => {
  // 'a' is 00011 (5 bits): 0x1f is 'a' + 111 padding (valid), 0x18 pads with zeros.
  assert.deepEqual(decodeAll(new Decoder(4096), hex('40 81 1f 81 1f')), [['a', 'a']]);
  assertHpackError(() => new Decoder(4096).decode(hex('40 81 18 81 1f'), [], 1 << 20), /Huffman/);
  assertHpackError(() => new Decoder(4096).decode(hex('40 82 1f ff 81 1f'), [], 1 << 20), /Huffman/);
  assertHpackError(() => new Decoder(4096).decode(hex('40 81 1f 84 ffff ffff'), [], 1 << 20), /Huffman/);
  assertHpackError(() => new Decoder(4096).decode(hex('40 81 1f 81 fe'), [], 1 << 20), /Huffman/); // 7 bits, not all ones
  // Invalid Huffman is detected even past the list limit, where values are not materialized.
  assertHpackError(() => new Decoder(4096).decode(hex('00 81 1f 81 1f 00 81 1f 81 18'), [], 10), /Huffman/);
});

test('malformed: size update above the limit, in the middle of a block, or missing after the limit was lowered', () => {
  assertHpackError(() => createHpackDecoder(4096).decode(hex('3fe21f'), [], 1 << 20), /above the limit 4096/); // 4097
  assertHpackError(() => createHpackDecoder(4096).decode(hex('82 3fe11f'), [], 1 << 20), /after the first field/);
  assertHpackError(() => createHpackDecoder(4096).decode(hex('82 20'), [], 1 << 20), /after the first field/);
  // Two updates at the start are fine (§4.2), and up to the advertised limit.
  const big = new Decoder(65536);
  assert.deepEqual(decodeAll(big, hex('20 3fe1ff01 82')), [[':method', 'GET']]);
  assert.equal(big.table.maxSize, 32768);
  // After our SETTINGS lowered the limit (and were acknowledged) the next block must start with an update.
  const dec = createHpackDecoder(4096);
  dec.setMaxTableSize(1024);
  assertHpackError(() => dec.decode(hex('82'), [], 1 << 20), /size update required/);
  const ok = createHpackDecoder(4096) as Decoder;
  ok.setMaxTableSize(1024);
  assertHpackError(() => ok.decode(hex('3fe207'), [], 1 << 20), /above the limit 1024/); // 1025
  const fine = createHpackDecoder(4096) as Decoder;
  fine.setMaxTableSize(1024);
  assert.deepEqual(decodeAll(fine, hex('3fe107 82')), [[':method', 'GET']]);
  assert.equal(fine.table.maxSize, 1024);
  assert.deepEqual(decodeAll(fine, hex('82')), [[':method', 'GET']]); // required only once
});

test('a list over maxHeaderListSize: decode returns false, the table stays in sync and the next block decodes right', () => {
  const enc = createHpackEncoder();
  const dec = createHpackDecoder(4096);
  const big = ['x-one', 'a'.repeat(40), 'x-two', 'b'.repeat(40), 'x-three', 'c'.repeat(40), 'x-four', 'not indexed'];
  const out: string[] = [];
  // Sizes: 5+40+32 = 77, then 154 > 150 from the second field on.
  assert.equal(dec.decode(Buffer.from(enc.encode(big)), out, 150), false);
  assert.equal(out.length, 0);
  const again: string[] = [];
  const second = Buffer.from(enc.encode(big));
  assert.ok(second.length < 20, 'the second block uses the entries added by the first');
  assert.equal(dec.decode(second, again, 1 << 20), true);
  assert.deepEqual(again, big);
  // The limit is exact: name + value + 32 per field (RFC 9113 §6.5.2).
  assert.equal(createHpackDecoder(4096).decode(hex('82'), [], 42), true);
  assert.equal(createHpackDecoder(4096).decode(hex('82'), [], 41), false);
  // Fields already in `out` from before the call are kept.
  const prior = ['kept', 'yes'];
  assert.equal(createHpackDecoder(4096).decode(hex('82 82'), prior, 50), false);
  assert.deepEqual(prior, ['kept', 'yes']);
});

test('fuzz: 5000 random and mutated blocks throw only HpackError and leave the decoder consistent', () => {
  const r = rng(4242);
  // Self-contained valid blocks (each from a fresh encoder), to be mutated and spliced.
  const valid: Buffer[] = [];
  for (let i = 0; i < 50; i++) valid.push(Buffer.from(createHpackEncoder().encode(randomList(r))));
  let errors = 0;
  let decoded = 0;
  for (let i = 0; i < 5000; i++) {
    const dec = createHpackDecoder(4096) as Decoder;
    for (let b = 0; b < 3; b++) {
      const block = randomBlock(r, valid);
      try {
        dec.decode(block, [], r() < 0.2 ? 64 : 1 << 20);
        decoded++;
      } catch (err) {
        if (!(err instanceof HpackError)) throw new Error(`block ${block.toString('hex')} threw ${String(err)}`);
        errors++;
        break;
      }
      let sum = 0;
      for (const [n, v] of dec.table.entries()) sum += n.length + v.length + 32;
      assert.equal(sum, dec.table.size);
      assert.ok(dec.table.size <= dec.table.maxSize);
    }
  }
  assert.ok(errors > 1000 && decoded > 1000, `errors ${errors}, decoded ${decoded}`);
});
