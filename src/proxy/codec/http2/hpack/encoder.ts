// HPACK encoder (RFC 7541 §4, §5, §6): indexed fields for exact static/dynamic matches (§6.1),
// literals with incremental indexing for fields that repeat (§6.2.1), without indexing for values
// that rarely do (§6.2.2), never-indexed for credentials (§6.2.3, §7.1.3), as nghttp2 decides;
// Huffman coding when shorter (§5.2); pending table size updates emitted at the start of the next
// block (§4.2: the smallest size seen, then the final one). Output goes into a reused scratch buffer.

import { DEFAULT_HEADER_TABLE_SIZE } from '../constants.js';
import type { HpackEncoder } from '../types.js';
import { huffmanEncode, huffmanEncodedLength } from './huffman.js';
import { DynamicTable, ENTRY_OVERHEAD, IndexPolicy, LastKind, NameEntry, STATIC_LOOKUP } from './table.js';

/** Longest literal representation memoized per name (e.g. a gRPC :path). */
const LITERAL_MEMO = 96;

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
  if (len < 64 && o + 1 + len * 4 <= buf.length) {
    // Short and room for the worst case (30 bits per byte): Huffman-code it in place, then keep it if shorter.
    const end = huffmanEncode(s, buf, o + 1);
    const n = end - o - 1;
    if (n < len) {
      buf[o] = 0x80 | n;
      return end;
    }
    buf[o] = len;
    return o + 1 + (buf as unknown as Latin1Writable).latin1Write(s, o + 1, len);
  }
  const hlen = huffmanEncodedLength(s);
  if (hlen < len) {
    o = writeInt(buf, o, 0x80, 7, hlen);
    return huffmanEncode(s, buf, o);
  }
  o = writeInt(buf, o, 0, 7, len);
  return o + (buf as unknown as Latin1Writable).latin1Write(s, o, len);
}

/** Copies `src[from..from+n)` to `dst` at `o` (n ≤ LITERAL_MEMO: a loop beats Buffer#copy's overhead); returns o + n. */
function copySmall(src: Uint8Array, from: number, n: number, dst: Uint8Array, o: number): number {
  for (let i = 0; i < n; i++) dst[o + i] = src[from + i];
  return o + n;
}

export class Encoder implements HpackEncoder {
  /** The dynamic table (exposed for tests). */
  readonly table: DynamicTable;
  /** The largest table this encoder uses whatever the peer allows (bounds memory, like nghttp2's default deflater). */
  private readonly cap: number;
  /** The output scratch: small and pooled at first (most blocks are), grown as needed. */
  private buf: Buffer = Buffer.allocUnsafe(1024);
  /** Smallest table size since the last block (-1: no update pending), and the latest. */
  private pendingMin = -1;
  private pendingFinal = 0;
  /** The last returned view of `buf`. */
  private view: Buffer | null = null;

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
    const byName = table.byName as Map<string, NameEntry>;
    const n = fields.length;
    for (let i = start; i + 1 < n; i += 2) {
      const name = fields[i];
      const value = fields[i + 1];
      // Room for the worst case: three integers (≤ 6 bytes each) and both strings raw.
      const need = o + name.length + value.length + 18;
      if (need > buf.length) buf = this.grow(o, need);

      let e = byName.get(name);
      if (e === undefined) {
        const st = STATIC_LOOKUP.get(name);
        if (st === undefined) {
          // In neither table: a literal name, indexed when small enough.
          if ((name.length + value.length + ENTRY_OVERHEAD) * 4 <= table.maxSize * 3) {
            buf[o++] = 0x40;
            o = writeString(buf, o, name);
            o = writeString(buf, o, value);
            table.add(name, value);
          } else {
            buf[o++] = 0;
            o = writeString(buf, o, name);
            o = writeString(buf, o, value);
          }
          continue;
        }
        byName.set(name, (e = new NameEntry(st)));
      }
      // The memo: the same value as last time for this name.
      if (value === e.lastValue) {
        const kind = e.lastKind;
        if (kind === LastKind.STATIC) {
          o = writeInt(buf, o, 0x80, 7, e.lastNum);
          continue;
        }
        if (kind === LastKind.LITERAL) {
          o = copySmall(e.literal as Buffer, 0, e.lastNum, buf, o);
          continue;
        }
        if (kind === LastKind.DYNAMIC && table.has(e.lastNum)) {
          o = writeInt(buf, o, 0x80, 7, table.indexOf(e.lastNum));
          continue;
        }
      }
      let policy = e.policy;
      if (policy === IndexPolicy.COOKIE) policy = value.length < 20 ? IndexPolicy.NEVER : IndexPolicy.INDEX;
      if (policy !== IndexPolicy.NEVER) {
        if (e.staticValues !== null) {
          const idx = e.staticValues.get(value);
          if (idx !== undefined) {
            e.lastValue = value;
            e.lastKind = LastKind.STATIC;
            e.lastNum = idx;
            o = writeInt(buf, o, 0x80, 7, idx);
            continue;
          }
        }
        if (e.values !== null) {
          const seq = e.values.get(value);
          if (seq !== undefined) {
            e.lastValue = value;
            e.lastKind = LastKind.DYNAMIC;
            e.lastNum = seq;
            o = writeInt(buf, o, 0x80, 7, table.indexOf(seq));
            continue;
          }
        }
      }
      // A name without a static index has live dynamic entries (else it would have no NameEntry).
      const nameIndex = e.staticIndex !== 0 ? e.staticIndex : table.indexOf(e.newest);
      if (policy === IndexPolicy.INDEX && (name.length + value.length + ENTRY_OVERHEAD) * 4 <= table.maxSize * 3) {
        o = writeInt(buf, o, 0x40, 6, nameIndex);
        o = writeString(buf, o, value);
        table.add(name, value); // memoizes the new entry
      } else {
        const from = o;
        o = writeInt(buf, o, policy === IndexPolicy.NEVER ? 0x10 : 0, 4, nameIndex);
        o = writeString(buf, o, value);
        // With a static name index the representation does not depend on the table: memoize it.
        if (e.staticIndex !== 0 && o - from <= LITERAL_MEMO) {
          if (e.literal === null) e.literal = Buffer.allocUnsafe(LITERAL_MEMO);
          copySmall(buf, from, o - from, e.literal, 0);
          e.lastValue = value;
          e.lastKind = LastKind.LITERAL;
          e.lastNum = o - from;
        }
      }
    }
    // The same view as last time when the length is the same (the contract allows reusing it).
    let view = this.view;
    if (view === null || view.length !== o) this.view = view = buf.subarray(0, o);
    return view;
  }

  private grow(used: number, need: number): Buffer {
    const next = Buffer.allocUnsafeSlow(Math.max(need, this.buf.length * 2));
    this.buf.copy(next, 0, 0, used);
    this.buf = next;
    this.view = null;
    return next;
  }
}
