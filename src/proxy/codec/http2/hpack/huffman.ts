// HPACK Huffman code (RFC 7541 §5.2, Appendix B): encoding of latin1 strings, the encoded length
// (the encoder picks Huffman only when it is shorter) and a fast decoder driven by a byte-wise
// state machine built once at module load (a state = a node of the code tree; one table lookup
// per input byte yields up to two symbols). Padding rules of §5.2 are enforced: at most 7 bits,
// all ones; the EOS symbol inside a string is an error.

/** The codes of RFC 7541 Appendix B, symbols 0..256 (256 = EOS), right-aligned in `HUFFMAN_LENGTHS[sym]` bits. */
const HUFFMAN_CODES = new Uint32Array([
  0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7,
  0xfffffe8, 0xffffea, 0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec,
  0xfffffed, 0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3,
  0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb,
  0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa,
  0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18,
  0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
  0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc,
  0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62,
  0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
  0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72,
  0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0, 0x1ffc, 0x3ffc, 0x22,
  0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26,
  0x27, 0x6, 0x74, 0x75, 0x28, 0x29, 0x2a, 0x7,
  0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78,
  0x79, 0x7a, 0x7b, 0x7ffe, 0x7fc, 0x3ffd, 0x1ffd, 0xffffffc,
  0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4, 0x3fffd5, 0x7fffd9,
  0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf,
  0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3,
  0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef,
  0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde,
  0x7fffea, 0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec,
  0x1fffe0, 0x1fffe1, 0x3fffe0, 0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef,
  0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1,
  0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec,
  0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed,
  0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2, 0xfffff2,
  0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5,
  0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3,
  0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4,
  0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea,
  0x7ffffeb, 0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee,
  0x3fffffff,
]);

/** The code lengths in bits of RFC 7541 Appendix B, symbols 0..256. */
const HUFFMAN_LENGTHS = new Uint8Array([
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
]);

// ─────────────────────────── decoding state machine ───────────────────────────
// The code is complete (257 leaves), so its tree has 256 inner nodes: node 0 is the root and a
// decoder state is the inner node reached by the bits read since the last symbol. DECODE_TABLE
// [state << 8 | byte] packs: next state (bits 0-7), symbols emitted (bits 8-9, 0..2, since the
// shortest code is 5 bits), FAIL (bit 10: EOS reached), first symbol (bits 12-19), second (20-27).
// ACCEPTING[state] is 1 when the bits since the last symbol are valid padding (≤ 7 bits, all ones).

const FAIL = 1 << 10;
const DECODE_TABLE = new Uint32Array(256 * 256);
const ACCEPTING = new Uint8Array(256);

function buildDecoder(): void {
  // child[node * 2 + bit]: an inner node id (≥ 0) or a leaf, -(symbol + 1).
  const child = new Int32Array(256 * 2).fill(0x7fffffff);
  const depth = new Uint8Array(256);
  const allOnes = new Uint8Array(256);
  allOnes[0] = 1;
  let nodes = 1;
  for (let sym = 0; sym <= 256; sym++) {
    const code = HUFFMAN_CODES[sym];
    const len = HUFFMAN_LENGTHS[sym];
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = (code >>> i) & 1;
      const slot = node * 2 + bit;
      if (i === 0) {
        child[slot] = -(sym + 1);
      } else {
        if (child[slot] === 0x7fffffff) {
          const id = nodes++;
          child[slot] = id;
          depth[id] = depth[node] + 1;
          allOnes[id] = allOnes[node] & bit;
        }
        node = child[slot];
      }
    }
  }
  for (let s = 0; s < 256; s++) ACCEPTING[s] = allOnes[s] === 1 && depth[s] <= 7 ? 1 : 0;
  for (let s = 0; s < 256; s++) {
    for (let byte = 0; byte < 256; byte++) {
      let node = s;
      let count = 0;
      let syms = 0;
      let fail = 0;
      for (let i = 7; i >= 0; i--) {
        const next = child[node * 2 + ((byte >>> i) & 1)];
        if (next >= 0) {
          node = next;
          continue;
        }
        const sym = -next - 1;
        if (sym === 256) {
          fail = FAIL;
          break;
        }
        syms |= sym << (12 + 8 * count);
        count++;
        node = 0;
      }
      DECODE_TABLE[(s << 8) | byte] = fail !== 0 ? FAIL : (node | (count << 8) | syms) >>> 0;
    }
  }
}
buildDecoder();

/**
 * Decodes the Huffman string `src[start..end)` into `dst` from offset 0 (`dst` must hold
 * `maxDecodedLength(end - start)` bytes). Returns the decoded length, or -1 when the string is
 * invalid (EOS inside, padding longer than 7 bits or not all ones).
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number, dst: Uint8Array): number {
  let state = 0;
  let o = 0;
  for (let i = start; i < end; i++) {
    const e = DECODE_TABLE[(state << 8) | src[i]];
    if ((e & FAIL) !== 0) return -1;
    const n = (e >>> 8) & 3;
    if (n !== 0) {
      dst[o++] = (e >>> 12) & 0xff;
      if (n === 2) dst[o++] = (e >>> 20) & 0xff;
    }
    state = e & 0xff;
  }
  return ACCEPTING[state] === 1 ? o : -1;
}

/** Validates a Huffman string without producing it (a field whose value is not needed). Returns false when invalid. */
export function huffmanValid(src: Uint8Array, start: number, end: number): boolean {
  let state = 0;
  for (let i = start; i < end; i++) {
    const e = DECODE_TABLE[(state << 8) | src[i]];
    if ((e & FAIL) !== 0) return false;
    state = e & 0xff;
  }
  return ACCEPTING[state] === 1;
}

/** The most bytes `n` Huffman-coded bytes can decode to (the shortest code is 5 bits). */
export function maxDecodedLength(n: number): number {
  return Math.ceil((n * 8) / 5);
}

// ─────────────────────────── encoding ───────────────────────────

/** Bytes the Huffman coding of the latin1 string `s` takes (whole bytes, padding included). */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += HUFFMAN_LENGTHS[s.charCodeAt(i) & 0xff];
  return (bits + 7) >>> 3;
}

/**
 * Writes the Huffman coding of the latin1 string `s` into `dst` at `offset` (room for
 * `huffmanEncodedLength(s)` bytes must be there), padded with ones; returns the offset after it.
 */
export function huffmanEncode(s: string, dst: Uint8Array, offset: number): number {
  let o = offset;
  let acc = 0; // pending bits, right-aligned; fewer than 8 between symbols
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    let code = HUFFMAN_CODES[sym];
    let len = HUFFMAN_LENGTHS[sym];
    if (len > 24) {
      // Push the high part first so that acc never needs more than 31 bits.
      const high = len - 8;
      acc = (acc << high) | (code >>> 8);
      bits += high;
      while (bits >= 8) {
        bits -= 8;
        dst[o++] = acc >>> bits;
      }
      acc &= (1 << bits) - 1;
      code &= 0xff;
      len = 8;
    }
    acc = (acc << len) | code;
    bits += len;
    while (bits >= 8) {
      bits -= 8;
      dst[o++] = acc >>> bits;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) dst[o++] = (acc << (8 - bits)) | (0xff >>> bits);
  return o;
}
