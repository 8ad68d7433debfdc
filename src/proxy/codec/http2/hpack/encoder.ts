// HPACK encoder (RFC 7541 §4, §5, §6): indexed fields for exact static/dynamic matches (§6.1),
// literals with incremental indexing for fields that repeat (§6.2.1), without indexing for values
// that rarely do (§6.2.2), never-indexed for credentials (§6.2.3, §7.1.3), as nghttp2 decides;
// Huffman coding when shorter (§5.2); pending table size updates emitted at the start of the next
// block (§4.2: the smallest size seen, then the final one). Output goes into a reused scratch buffer.

import { DEFAULT_HEADER_TABLE_SIZE } from '../constants.js';
import type { HpackEncoder } from '../types.js';
import { huffmanEncode, huffmanEncodedLength } from './huffman.js';
import { DynamicTable, ENTRY_OVERHEAD, IndexPolicy, STATIC_LOOKUP } from './table.js';

/** Buffer's fast latin1 write (not in @types/node). */
interface Latin1Writable {
  latin1Write(s: string, offset: number, length: number): number;
}

/** §5.1: `value` with an N-bit prefix after the `flags` bits; returns the offset after it. */
function writeInt(buf: Buffer, o: number, flags: number, prefixBits: number, value: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    buf[o] = flags | value;
    return o + 1;
  }
  buf[o++] = flags | max;
  value -= max;
  while (value >= 0x80) {
    buf[o++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buf[o] = value;
  return o + 1;
}

/** §5.2: a string literal, Huffman-coded when that is shorter. */
function writeString(buf: Buffer, o: number, s: string): number {
  const len = s.length;
  const hlen = huffmanEncodedLength(s);
  if (hlen < len) {
    o = writeInt(buf, o, 0x80, 7, hlen);
    return huffmanEncode(s, buf, o);
  }
  o = writeInt(buf, o, 0, 7, len);
  return o + (buf as unknown as Latin1Writable).latin1Write(s, o, len);
}

export class Encoder implements HpackEncoder {
  /** The dynamic table (exposed for tests). */
  readonly table: DynamicTable;
  /** The largest table this encoder uses whatever the peer allows (bounds memory, like nghttp2's default deflater). */
  private readonly cap: number;
  private buf: Buffer = Buffer.allocUnsafeSlow(4096);
  /** Smallest table size since the last block (-1: no update pending), and the latest. */
  private pendingMin = -1;
  private pendingFinal = 0;

  constructor(cap = DEFAULT_HEADER_TABLE_SIZE) {
    this.cap = cap;
    // Both sides start from the protocol's initial 4096 (RFC 9113 §6.5.2).
    this.table = new DynamicTable(Math.min(cap, DEFAULT_HEADER_TABLE_SIZE), true);
    if (cap < DEFAULT_HEADER_TABLE_SIZE) this.setMaxTableSize(cap);
  }

  setMaxTableSize(size: number): void {
    const s = Math.min(size, this.cap);
    if (this.pendingMin < 0) {
      if (s === this.table.maxSize) return;
      this.pendingMin = Math.min(s, this.table.maxSize);
    } else if (s < this.pendingMin) {
      this.pendingMin = s;
    }
    this.pendingFinal = s;
  }

  encode(fields: readonly string[], start = 0): Buffer {
    const table = this.table;
    let buf = this.buf;
    let o = 0;
    if (this.pendingMin >= 0) {
      const min = this.pendingMin;
      const final = this.pendingFinal;
      this.pendingMin = -1;
      if (min < final && min < table.maxSize) {
        o = writeInt(buf, o, 0x20, 5, min);
        table.resize(min);
      }
      o = writeInt(buf, o, 0x20, 5, final);
      table.resize(final);
    }
    const n = fields.length;
    for (let i = start; i + 1 < n; i += 2) {
      const name = fields[i];
      const value = fields[i + 1];
      // Room for the worst case: three integers (≤ 6 bytes each) and both strings raw.
      const need = o + name.length + value.length + 18;
      if (need > buf.length) buf = this.grow(o, need);

      const st = STATIC_LOOKUP.get(name);
      let policy = IndexPolicy.INDEX;
      let nameIndex = 0;
      if (st !== undefined) {
        policy = st.policy;
        if (policy === IndexPolicy.COOKIE) policy = value.length < 20 ? IndexPolicy.NEVER : IndexPolicy.INDEX;
        nameIndex = st.index;
        if (policy !== IndexPolicy.NEVER) {
          const idx = st.values.get(value);
          if (idx !== undefined) {
            o = writeInt(buf, o, 0x80, 7, idx);
            continue;
          }
        }
      }
      if (table.count !== 0 && policy !== IndexPolicy.NEVER) {
        const idx = table.find(name, value);
        if (idx !== 0) {
          o = writeInt(buf, o, 0x80, 7, idx);
          continue;
        }
        if (nameIndex === 0) nameIndex = table.findName(name);
      }
      if (policy === IndexPolicy.INDEX && (name.length + value.length + ENTRY_OVERHEAD) * 4 <= table.maxSize * 3) {
        o = writeInt(buf, o, 0x40, 6, nameIndex);
        if (nameIndex === 0) o = writeString(buf, o, name);
        o = writeString(buf, o, value);
        table.add(name, value);
      } else {
        o = writeInt(buf, o, policy === IndexPolicy.NEVER ? 0x10 : 0, 4, nameIndex);
        if (nameIndex === 0) o = writeString(buf, o, name);
        o = writeString(buf, o, value);
      }
    }
    return buf.subarray(0, o);
  }

  private grow(used: number, need: number): Buffer {
    const next = Buffer.allocUnsafeSlow(Math.max(need, this.buf.length * 2));
    this.buf.copy(next, 0, 0, used);
    this.buf = next;
    return next;
  }
}
