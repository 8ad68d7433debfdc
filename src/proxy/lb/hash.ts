// 32-bit MurmurHash3 (x86_32) of a string's UTF-8 bytes: the one hash used for request hash
// policies (header, cookie, source IP) and for placing hosts on the ring-hash / Maglev tables.
// Envoy uses xxHash64; Weft uses a 32-bit hash on purpose (fast in JS, no BigInt).

const enc = new TextEncoder();

export function hash32(input: string, seed = 0): number {
  const data = enc.encode(input);
  const len = data.length;
  let h = seed >>> 0;
  const c1 = 0xcc9e2d51, c2 = 0x1b873593;
  const nblocks = len >>> 2;
  for (let i = 0; i < nblocks; i++) {
    const o = i << 2;
    let k = data[o]! | (data[o + 1]! << 8) | (data[o + 2]! << 16) | (data[o + 3]! << 24);
    k = Math.imul(k, c1); k = (k << 15) | (k >>> 17); k = Math.imul(k, c2);
    h ^= k; h = (h << 13) | (h >>> 19); h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  const tail = nblocks << 2;
  const rem = len & 3;
  if (rem > 0) {
    if (rem === 3) k ^= data[tail + 2]! << 16;
    if (rem >= 2) k ^= data[tail + 1]! << 8;
    k ^= data[tail]!;
    k = Math.imul(k, c1); k = (k << 15) | (k >>> 17); k = Math.imul(k, c2); h ^= k;
  }
  h ^= len;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return h >>> 0;
}
