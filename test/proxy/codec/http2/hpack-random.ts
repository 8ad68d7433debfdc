// Random HPACK inputs for the tests of src/proxy/codec/http2/hpack (hpack*.test.ts): a seeded
// PRNG, header lists that mix static-table fields, repeated fields (dynamic table hits), latin1
// values of every byte and long values, and corrupt blocks (noise, mutations, splices of valid blocks).

/** mulberry32: a small seeded PRNG returning [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = [
  ':method', ':path', ':scheme', ':authority', ':status', 'content-type', 'te', 'user-agent', 'accept', 'accept-encoding',
  'cookie', 'authorization', 'set-cookie', 'content-length', 'date', 'server', 'location', 'etag', 'cache-control',
  'grpc-timeout', 'grpc-encoding', 'grpc-status', 'grpc-message', 'x-request-id', 'x-envoy-upstream-service-time',
  'x-forwarded-for', 'x-b3-traceid', 'x-custom',
];
const VALUES = [
  '', 'GET', 'POST', '/', '/index.html', 'https', 'http', '200', '404', 'gzip, deflate', 'application/grpc', 'trailers',
  'grpc-go/1.60.0', '0', 'ok', 'www.example.com', 'Bearer eyJhbGciOiJIUzI1NiJ9.e30', 'a=b', 'session=0123456789abcdefghij',
];

function randomString(r: () => number, max: number, alphabet: number): string {
  let s = '';
  for (let n = Math.floor(r() * max); n > 0; n--) s += String.fromCharCode(Math.floor(r() * alphabet));
  return s;
}

/** A flat [name, value, ...] list of 0..24 fields. */
export function randomList(r: () => number): string[] {
  const list: string[] = [];
  for (let n = Math.floor(r() * 25); n > 0; n--) {
    const k = r();
    const name = k < 0.85 ? NAMES[Math.floor(r() * NAMES.length)] : 'x-' + randomString(r, 12, 26).replace(/./g, (c) => String.fromCharCode(97 + (c.charCodeAt(0) % 26)));
    const v = r();
    const value =
      v < 0.5 ? VALUES[Math.floor(r() * VALUES.length)]
      : v < 0.8 ? randomString(r, 40, 128)
      : v < 0.97 ? randomString(r, 100, 256)
      : randomString(r, 5000, 256);
    list.push(name, value);
  }
  return list;
}

/** A corrupt (or occasionally valid) block: noise, a mutated valid block, or two spliced. */
export function randomBlock(r: () => number, valid: readonly Buffer[]): Buffer {
  const kind = r();
  if (kind < 0.3) {
    const b = Buffer.alloc(Math.floor(r() * 64));
    for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
    return b;
  }
  let b = Buffer.from(valid[Math.floor(r() * valid.length)]);
  for (let m = 1 + Math.floor(r() * 3); m > 0; m--) {
    const op = r();
    if (b.length === 0) break;
    const at = Math.floor(r() * b.length);
    if (op < 0.3) b[at] ^= 1 << Math.floor(r() * 8);
    else if (op < 0.5) b[at] = Math.floor(r() * 256);
    else if (op < 0.65) b = b.subarray(0, at);
    else if (op < 0.8) b[at] |= 0x80;
    else if (op < 0.9) b = Buffer.concat([b.subarray(0, at), Buffer.from([0x3f, 0xe1 + Math.floor(r() * 3), 0x1f]), b.subarray(at)]);
    else b = Buffer.concat([b, valid[Math.floor(r() * valid.length)]]);
  }
  return b;
}
