// HPACK (RFC 7541) for the HTTP/2 conformance tests: an encoder that can write every header field
// representation on purpose (indexed, the three literal kinds with indexed or new names, Huffman or
// not, dynamic table size updates, and deliberately broken ones), and an independent, strict decoder
// with its own dynamic table, used as an oracle for what the proxy's encoder sends. Test code only:
// written for clarity, not speed. Tables from RFC 7541 Appendix A and B.

61
/** RFC 7541 Appendix A (index 1..61). */
export const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [":authority", ""], [":method", "GET"], [":method", "POST"], [":path", "/"], [":path", "/index.html"],
  [":scheme", "http"], [":scheme", "https"], [":status", "200"], [":status", "204"], [":status", "206"],
  [":status", "304"], [":status", "400"], [":status", "404"], [":status", "500"], ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"], ["accept-language", ""], ["accept-ranges", ""], ["accept", ""],
  ["access-control-allow-origin", ""], ["age", ""], ["allow", ""], ["authorization", ""], ["cache-control", ""],
  ["content-disposition", ""], ["content-encoding", ""], ["content-language", ""], ["content-length", ""],
  ["content-location", ""], ["content-range", ""], ["content-type", ""], ["cookie", ""], ["date", ""], ["etag", ""],
  ["expect", ""], ["expires", ""], ["from", ""], ["host", ""], ["if-match", ""], ["if-modified-since", ""],
  ["if-none-match", ""], ["if-range", ""], ["if-unmodified-since", ""], ["last-modified", ""], ["link", ""],
  ["location", ""], ["max-forwards", ""], ["proxy-authenticate", ""], ["proxy-authorization", ""], ["range", ""],
  ["referer", ""], ["refresh", ""], ["retry-after", ""], ["server", ""], ["set-cookie", ""],
  ["strict-transport-security", ""], ["transfer-encoding", ""], ["user-agent", ""], ["vary", ""], ["via", ""],
  ["www-authenticate", ""],
];

/** RFC 7541 Appendix B: the code of each symbol (0..255, 256 = EOS), and its length in bits. */
const HUFFMAN_CODES = [
  0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7, 0xfffffe8, 0xffffea, 0x3ffffffc, 0xfffffe9,
  0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec, 0xfffffed, 0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3,
  0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb, 0x14, 0x3f8, 0x3f9, 0xffa,
  0x1ff9, 0x15, 0xf8, 0x7fa, 0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18,
  0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x5c, 0xfb,
  0x7ffc, 0x20, 0xffb, 0x3fc, 0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62,
  0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e,
  0x6f, 0x70, 0x71, 0x72, 0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0, 0x1ffc, 0x3ffc, 0x22,
  0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26, 0x27, 0x6, 0x74, 0x75,
  0x28, 0x29, 0x2a, 0x7, 0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78,
  0x79, 0x7a, 0x7b, 0x7ffe, 0x7fc, 0x3ffd, 0x1ffd, 0xffffffc, 0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8,
  0x3fffd3, 0x3fffd4, 0x3fffd5, 0x7fffd9, 0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf,
  0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3, 0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5,
  0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef, 0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde,
  0x7fffea, 0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec, 0x1fffe0, 0x1fffe1, 0x3fffe0, 0x1fffe2,
  0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef, 0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1,
  0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec, 0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde,
  0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed, 0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2, 0xfffff2,
  0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5, 0xfffec, 0xfffff3, 0xfffed, 0x1fffe6,
  0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3, 0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4,
  0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea, 0x7ffffeb, 0xffffffe, 0x7ffffec, 0x7ffffed,
  0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee, 0x3fffffff,
];
const HUFFMAN_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

/** Symbol by `${length}:${code}`, for bit-by-bit decoding. */
const HUFFMAN_DECODE = new Map<string, number>();
for (let s = 0; s < 257; s++) HUFFMAN_DECODE.set(`${HUFFMAN_LENGTHS[s]}:${HUFFMAN_CODES[s]}`, s);

/** Huffman-encodes bytes (RFC 7541 §5.2), padding the last octet with the EOS prefix (ones). */
export function huffmanEncode(data: Buffer): Buffer {
  const out: number[] = [];
  let acc = 0n, bits = 0;
  for (const byte of data) {
    acc = (acc << BigInt(HUFFMAN_LENGTHS[byte]!)) | BigInt(HUFFMAN_CODES[byte]!);
    bits += HUFFMAN_LENGTHS[byte]!;
    while (bits >= 8) { bits -= 8; out.push(Number((acc >> BigInt(bits)) & 0xffn)); }
    acc &= (1n << BigInt(bits)) - 1n;
  }
  if (bits > 0) out.push(Number(((acc << BigInt(8 - bits)) | ((1n << BigInt(8 - bits)) - 1n)) & 0xffn));
  return Buffer.from(out);
}

export class HpackDecodeError extends Error {}

/** Decodes a Huffman string; throws on EOS, on padding longer than 7 bits, or padding that is not all ones. */
export function huffmanDecode(data: Buffer): Buffer {
  const out: number[] = [];
  let code = 0, len = 0;
  for (const byte of data) {
    for (let i = 7; i >= 0; i--) {
      code = (code << 1) | ((byte >> i) & 1);
      len++;
      const sym = HUFFMAN_DECODE.get(`${len}:${code >>> 0}`);
      if (sym !== undefined) {
        if (sym === 256) throw new HpackDecodeError('Huffman string contains EOS');
        out.push(sym);
        code = 0; len = 0;
      } else if (len > 30) throw new HpackDecodeError('bad Huffman code');
    }
  }
  if (len > 7) throw new HpackDecodeError(`Huffman padding of ${len} bits (more than 7)`);
  if (len > 0 && code !== (1 << len) - 1) throw new HpackDecodeError('Huffman padding is not the EOS prefix (all ones)');
  return Buffer.from(out);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1); `flags` are the high bits of the first octet. */
export function hpackInt(value: number, prefixBits: number, flags = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([flags | value]);
  const out = [flags | max];
  let rest = value - max;
  while (rest >= 128) { out.push((rest % 128) | 0x80); rest = Math.floor(rest / 128); }
  out.push(rest);
  return Buffer.from(out);
}

/** An HPACK string literal (RFC 7541 §5.2), Huffman-coded when `huffman`. */
export function hpackString(s: string | Buffer, huffman = false): Buffer {
  const raw = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  const data = huffman ? huffmanEncode(raw) : raw;
  return Buffer.concat([hpackInt(data.length, 7, huffman ? 0x80 : 0), data]);
}

/** One header field representation (RFC 7541 §6). */
export type Rep =
  | { t: 'indexed'; index: number }
  | { t: 'literal'; mode: 'incremental' | 'without' | 'never'; index?: number; name?: string; value: string; huffman?: boolean }
  | { t: 'size'; size: number };

/** Encodes representations into a header block fragment exactly as given. */
export function encodeReps(reps: readonly Rep[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of reps) {
    if (r.t === 'indexed') parts.push(hpackInt(r.index, 7, 0x80));
    else if (r.t === 'size') parts.push(hpackInt(r.size, 5, 0x20));
    else {
      const [bits, flags] = r.mode === 'incremental' ? [6, 0x40] : r.mode === 'without' ? [4, 0x00] : [4, 0x10];
      parts.push(hpackInt(r.index ?? 0, bits, flags));
      if (r.index === undefined || r.index === 0) parts.push(hpackString(r.name ?? '', r.huffman));
      parts.push(hpackString(r.value, r.huffman));
    }
  }
  return Buffer.concat(parts);
}

/** The plainest block: every field a literal without indexing with a new name, no Huffman (no table state). */
export function literalBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  return encodeReps(fields.map(([name, value]) => ({ t: 'literal', mode: 'without', name, value })));
}

/** A strict HPACK decoder with its own dynamic table (RFC 7541 §2.3, §4, §6). */
export class HpackDecoder {
  private table: Array<[string, string]> = [];
  private size = 0;
  /** The limit a size update may not pass: the SETTINGS_HEADER_TABLE_SIZE we advertised. */
  constructor(public settingsMax = 4096, private maxSize = settingsMax) {}

  /** Set when our SETTINGS_HEADER_TABLE_SIZE went below the table's size: the next block must open with a size update. */
  private updateRequired = false;

  get dynamicTable(): ReadonlyArray<readonly [string, string]> { return this.table; }

  /**
   * Our SETTINGS_HEADER_TABLE_SIZE changed (and was acknowledged). Below the current maximum, the
   * peer's encoder must signal a size update at the start of its next block (RFC 7541 §4.2).
   */
  setSettingsMax(n: number): void {
    if (n < this.maxSize) this.updateRequired = true;
    this.settingsMax = n;
  }

  private evict(limit: number): void {
    while (this.size > limit && this.table.length > 0) {
      const [n, v] = this.table.pop()!;
      this.size -= 32 + Buffer.byteLength(n, 'latin1') + Buffer.byteLength(v, 'latin1');
    }
  }

  private entry(index: number): [string, string] {
    if (index === 0) throw new HpackDecodeError('index 0');
    if (index <= STATIC_TABLE.length) { const e = STATIC_TABLE[index - 1]!; return [e[0], e[1]]; }
    const e = this.table[index - STATIC_TABLE.length - 1];
    if (e === undefined) throw new HpackDecodeError(`index ${index} beyond the tables (dynamic has ${this.table.length})`);
    return e;
  }

  decode(block: Buffer): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    let i = 0, fieldsSeen = false;
    const int = (prefix: number): number => {
      if (i >= block.length) throw new HpackDecodeError('truncated integer');
      const max = (1 << prefix) - 1;
      let v = block[i++]! & max;
      if (v < max) return v;
      let m = 1;
      for (;;) {
        if (i >= block.length) throw new HpackDecodeError('truncated integer');
        const b = block[i++]!;
        v += (b & 0x7f) * m;
        m *= 128;
        if (v > 2 ** 32) throw new HpackDecodeError('integer overflow');
        if ((b & 0x80) === 0) return v;
      }
    };
    const str = (): string => {
      if (i >= block.length) throw new HpackDecodeError('truncated string');
      const huff = (block[i]! & 0x80) !== 0;
      const len = int(7);
      if (i + len > block.length) throw new HpackDecodeError('truncated string');
      const raw = block.subarray(i, i + len);
      i += len;
      return (huff ? huffmanDecode(raw) : raw).toString('latin1');
    };
    if (this.updateRequired && (block.length === 0 || (block[0]! & 0xe0) !== 0x20)) {
      throw new HpackDecodeError(`no dynamic table size update opens the block after SETTINGS_HEADER_TABLE_SIZE fell to ${this.settingsMax}`);
    }
    this.updateRequired = false;
    while (i < block.length) {
      const b = block[i]!;
      if (b & 0x80) { out.push(this.entry(int(7))); fieldsSeen = true; continue; }
      if ((b & 0xe0) === 0x20) {
        if (fieldsSeen) throw new HpackDecodeError('dynamic table size update after a field');
        const size = int(5);
        if (size > this.settingsMax) throw new HpackDecodeError(`table size update to ${size} above ${this.settingsMax}`);
        this.maxSize = size;
        this.evict(size);
        continue;
      }
      const incremental = (b & 0xc0) === 0x40;
      const index = int(incremental ? 6 : 4);
      const name = index === 0 ? str() : this.entry(index)[0];
      const value = str();
      out.push([name, value]);
      fieldsSeen = true;
      if (incremental) {
        const sz = 32 + Buffer.byteLength(name, 'latin1') + Buffer.byteLength(value, 'latin1');
        this.evict(this.maxSize - sz);
        if (sz <= this.maxSize) { this.table.unshift([name, value]); this.size += sz; }
      }
    }
    return out;
  }
}
