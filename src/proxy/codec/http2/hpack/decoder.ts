// HPACK decoder (RFC 7541 §3, §5, §6): integers (§5.1, overflow-guarded), string literals (§5.2,
// raw or Huffman), indexed fields (§6.1), literals with/without/never indexing (§6.2), dynamic
// table size updates (§6.3: only at the start of a block, never above the limit we advertised,
// mandatory after we lowered it — RFC 9113 §4.3.1). Every malformed input ends in HpackError (a
// COMPRESSION_ERROR for the session). The whole block is always decoded so that the dynamic table
// stays in sync with the peer's encoder, even when the list is over maxHeaderListSize.

import { DEFAULT_HEADER_TABLE_SIZE } from '../constants.js';
import { HpackError, type HpackDecoder } from '../types.js';
import { huffmanDecode, huffmanValid, maxDecodedLength } from './huffman.js';
import { DynamicTable, ENTRY_OVERHEAD, STATIC_LENGTH, STATIC_NAMES, STATIC_VALUES } from './table.js';

/** Buffer's fast latin1 slice (not in @types/node). */
interface Latin1Sliceable {
  latin1Slice(start: number, end: number): string;
}

/** Integers above this are refused (§5.1 leaves the limit to the implementation; indexes and lengths need far less). */
const MAX_INT = 0x7fffffff;

/** Scratch for Huffman decoding, shared by all decoders (decoding is synchronous; each string is sliced out at once). Grows as needed. */
let huff: Buffer = Buffer.allocUnsafeSlow(4096);
const HUFF_SCRATCH_MAX = 65536;

/** Longest encoded literal value (length prefix included) memoized per static name index. */
const MEMO_BYTES = 64;

export class Decoder implements HpackDecoder {
  /** The dynamic table (exposed for tests). */
  readonly table: DynamicTable;
  /** The largest size update the peer may send (our SETTINGS_HEADER_TABLE_SIZE). */
  private limit: number;
  /** We lowered the limit below the table's current size: the next block must start with a size update. */
  private updateRequired = false;
  /** Read position inside the block being decoded. */
  private pos = 0;
  /** Per static name index, the encoded bytes and string of the last non-indexed literal value (readMemoized), allocated on first use. */
  private memo: { bytes: Array<Buffer | null>; sizes: Uint8Array; values: string[] } | null = null;

  /**
   * The table starts at the protocol's initial 4096 bytes (RFC 7541 §4.2 / RFC 9113 §6.5.2): the
   * peer may use that much before it has seen our SETTINGS. Size updates up to `maxTableSize` are
   * accepted; call setMaxTableSize when our SETTINGS are acknowledged to enforce a lower value.
   */
  constructor(maxTableSize: number) {
    this.table = new DynamicTable(DEFAULT_HEADER_TABLE_SIZE, false);
    this.limit = maxTableSize;
  }

  setMaxTableSize(size: number): void {
    this.limit = size;
    this.updateRequired = this.table.maxSize > size;
  }

  decode(block: Buffer, out: string[], maxHeaderListSize: number): boolean {
    const end = block.length;
    const table = this.table;
    const outStart = out.length;
    let listSize = 0;
    let fits = true;
    this.pos = 0;

    // §4.2 / §6.3: size updates only before the first field.
    if (this.updateRequired) {
      if (end === 0 || (block[0] & 0xe0) !== 0x20) throw new HpackError('HPACK: the dynamic table size update required after SETTINGS_HEADER_TABLE_SIZE was lowered is missing');
      this.updateRequired = false;
    }
    while (this.pos < end && (block[this.pos] & 0xe0) === 0x20) {
      const size = this.readInt(block, 5);
      if (size > this.limit) throw new HpackError(`HPACK: dynamic table size update to ${size} above the limit ${this.limit}`);
      table.resize(size);
    }

    while (this.pos < end) {
      const b = block[this.pos];
      let name: string;
      let value: string;
      if ((b & 0x80) !== 0) {
        // §6.1 indexed field.
        const index = this.readInt(block, 7);
        if (index === 0) throw new HpackError('HPACK: index 0');
        if (index <= STATIC_LENGTH) {
          name = STATIC_NAMES[index - 1];
          value = STATIC_VALUES[index - 1];
        } else {
          const i = index - STATIC_LENGTH - 1;
          if (i >= table.count) throw new HpackError(`HPACK: index ${index} beyond the table`);
          name = table.name(i);
          value = table.value(i);
        }
      } else if ((b & 0xe0) === 0x20) {
        throw new HpackError('HPACK: dynamic table size update after the first field of the block');
      } else {
        // §6.2.1 (01xxxxxx, 6-bit index) with incremental indexing; §6.2.2/3 (0000xxxx / 0001xxxx, 4-bit index).
        const indexing = (b & 0x40) !== 0;
        const index = this.readInt(block, indexing ? 6 : 4);
        if (index === 0) {
          name = this.readString(block, true);
        } else if (index <= STATIC_LENGTH) {
          name = STATIC_NAMES[index - 1];
        } else {
          const i = index - STATIC_LENGTH - 1;
          if (i >= table.count) throw new HpackError(`HPACK: name index ${index} beyond the table`);
          name = table.name(i);
        }
        if (indexing || !fits || index === 0 || index > STATIC_LENGTH) {
          // Past the list limit, a field that is not indexed is only validated, not materialized.
          value = this.readString(block, fits || indexing);
        } else {
          value = this.readMemoized(block, index);
        }
        if (indexing) table.add(name, value);
      }
      if (fits) {
        listSize += name.length + value.length + ENTRY_OVERHEAD;
        if (listSize > maxHeaderListSize) {
          fits = false;
          out.length = outStart;
        } else {
          out.push(name, value);
        }
      }
    }
    return fits;
  }

  /** §5.1: an integer with an N-bit prefix at this.pos. */
  private readInt(block: Buffer, prefixBits: number): number {
    const end = block.length;
    let pos = this.pos;
    const max = (1 << prefixBits) - 1;
    let value = block[pos++] & max;
    if (value === max) {
      let shift = 0;
      let byte: number;
      do {
        if (pos >= end) throw new HpackError('HPACK: truncated integer');
        if (shift >= 35) throw new HpackError('HPACK: integer overflow (too many continuation bytes)');
        byte = block[pos++];
        value += (byte & 0x7f) * 2 ** shift;
        shift += 7;
        if (value > MAX_INT) throw new HpackError('HPACK: integer overflow');
      } while ((byte & 0x80) !== 0);
    }
    this.pos = pos;
    return value;
  }

  /**
   * The value of a literal that is not indexed, with a static name index (e.g. a gRPC :path,
   * which encoders do not index): when its encoded bytes are those of the last such value for
   * that name, the same string is returned without decoding or allocating.
   */
  private readMemoized(block: Buffer, nameIndex: number): string {
    const from = this.pos;
    if (from >= block.length) throw new HpackError('HPACK: truncated block (string expected)');
    const length = this.readInt(block, 7);
    const end = this.pos + length;
    const size = end - from;
    this.pos = from;
    if (size > MEMO_BYTES || end > block.length) return this.readString(block, true);
    let memo = this.memo;
    if (memo === null) memo = this.memo = { bytes: new Array<Buffer | null>(STATIC_LENGTH).fill(null), sizes: new Uint8Array(STATIC_LENGTH), values: new Array<string>(STATIC_LENGTH).fill('') };
    const slot = nameIndex - 1;
    let bytes = memo.bytes[slot];
    if (bytes === null) bytes = memo.bytes[slot] = Buffer.allocUnsafe(MEMO_BYTES);
    if (memo.sizes[slot] === size) {
      let i = 0;
      while (i < size && bytes[i] === block[from + i]) i++;
      if (i === size) {
        this.pos = end;
        return memo.values[slot];
      }
    }
    const value = this.readString(block, true);
    block.copy(bytes, 0, from, end);
    memo.sizes[slot] = size;
    memo.values[slot] = value;
    return value;
  }

  /** §5.2: a string literal at this.pos; '' without materializing it when `keep` is false (still validated). */
  private readString(block: Buffer, keep: boolean): string {
    if (this.pos >= block.length) throw new HpackError('HPACK: truncated block (string expected)');
    const huffman = (block[this.pos] & 0x80) !== 0;
    const length = this.readInt(block, 7);
    const start = this.pos;
    const end = start + length;
    if (end > block.length) throw new HpackError('HPACK: truncated string literal');
    this.pos = end;
    if (!huffman) return keep ? (block as unknown as Latin1Sliceable).latin1Slice(start, end) : '';
    if (!keep) {
      if (!huffmanValid(block, start, end)) throw new HpackError('HPACK: invalid Huffman code');
      return '';
    }
    const need = maxDecodedLength(length);
    let dst = huff;
    if (need > dst.length) {
      // The shared scratch grows up to HUFF_SCRATCH_MAX; a rarer, larger string gets a one-off buffer.
      dst = Buffer.allocUnsafeSlow(need);
      if (need <= HUFF_SCRATCH_MAX) huff = dst;
    }
    const n = huffmanDecode(block, start, end, dst);
    if (n < 0) throw new HpackError('HPACK: invalid Huffman code (EOS or bad padding)');
    return (dst as unknown as Latin1Sliceable).latin1Slice(0, n);
  }
}
