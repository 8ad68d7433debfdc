// Micro-benchmark of Weft's HPACK (src/proxy/codec/http2/hpack, RFC 7541): ns per encode and per
// decode of a typical gRPC request header list, its response head and trailers, in steady state
// (one table across blocks, as on a connection) and with a per-request unique x-request-id (table
// churn), plus a cold block (fresh table: every string Huffman-decoded).
// Run: node dist/bench/micro/hpack.js [filter]  (or npx tsx bench/micro/hpack.ts)
import { pathToFileURL } from 'node:url';
import { createHpackDecoder, createHpackEncoder } from '../../src/proxy/codec/http2/hpack/index.js';

const REQUEST = [
  ':method', 'POST',
  ':scheme', 'http',
  ':path', '/helloworld.Greeter/SayHello',
  ':authority', 'greeter.default.svc.cluster.local:50051',
  'content-type', 'application/grpc',
  'te', 'trailers',
  'grpc-accept-encoding', 'identity,deflate,gzip',
  'grpc-timeout', '4999m',
  'user-agent', 'grpc-node-js/1.14.7',
];
const RESPONSE = [':status', '200', 'content-type', 'application/grpc', 'grpc-accept-encoding', 'identity,deflate,gzip', 'grpc-encoding', 'identity'];
const TRAILERS = ['grpc-status', '0', 'grpc-message', ''];

/** N request lists that differ by their x-request-id (a uuid), as a proxy sees them. */
function uniqueIds(n: number): string[][] {
  const lists: string[][] = [];
  for (let i = 0; i < n; i++) {
    const id = `7f3c2a9e-1b4d-4e8f-9a2c-${(0x5d6e7f8a9b0c + i * 7919).toString(16).padStart(12, '0')}`;
    lists.push([...REQUEST, 'x-request-id', id]);
  }
  return lists;
}

/** CPU time (user + system) in ns: on a shared machine wall time would count descheduled time. */
function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

export interface Result {
  name: string;
  nsPerOp: number;
  bytes: number;
}

/** Best of 9 runs (after 3 warm-up runs) of `pass`, which performs `ops` operations. */
function best(pass: () => number, ops: number): number {
  let sink = 0;
  for (let w = 0; w < 3; w++) sink += pass();
  let min = Infinity;
  for (let r = 0; r < 9; r++) {
    const t0 = cpuNs();
    sink += pass();
    min = Math.min(min, cpuNs() - t0);
  }
  if (sink === -1) console.log(sink);
  return min / ops;
}

function encodeCase(name: string, lists: string[][], passes = 40): Result {
  // One encoder across all passes: steady state, as on a long-lived connection.
  const enc = createHpackEncoder();
  let bytes = 0;
  for (const l of lists) bytes += enc.encode(l).length;
  const ns = best(() => {
    let s = 0;
    for (let p = 0; p < passes; p++) for (let i = 0; i < lists.length; i++) s += enc.encode(lists[i]).length;
    return s;
  }, passes * lists.length);
  return { name, nsPerOp: ns, bytes: bytes / lists.length };
}

function decodeCase(name: string, lists: string[][], passes = 40): Result {
  // The blocks one encoder produced for the sequence; each pass decodes them all with a fresh decoder.
  const enc = createHpackEncoder();
  const blocks = lists.map((l) => Buffer.from(enc.encode(l)));
  const ns = best(() => {
    let s = 0;
    for (let p = 0; p < passes; p++) {
      const dec = createHpackDecoder(4096);
      for (let i = 0; i < blocks.length; i++) {
        // A fresh list per block, as the session hands each one to its stream.
        const out: string[] = [];
        dec.decode(blocks[i], out, 1 << 20);
        s += out.length;
      }
    }
    return s;
  }, passes * blocks.length);
  return { name, nsPerOp: ns, bytes: blocks.reduce((a, b) => a + b.length, 0) / blocks.length };
}

function coldDecode(name: string, list: string[]): Result {
  const block = Buffer.from(createHpackEncoder().encode(list));
  const n = 100_000;
  const ns = best(() => {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const out: string[] = [];
      createHpackDecoder(4096).decode(block, out, 1 << 20);
      s += out.length;
    }
    return s;
  }, n);
  return { name, nsPerOp: ns, bytes: block.length };
}

function coldEncode(name: string, list: string[]): Result {
  const n = 100_000;
  let bytes = 0;
  const ns = best(() => {
    let s = 0;
    for (let i = 0; i < n; i++) s += createHpackEncoder().encode(list).length;
    bytes = s / n;
    return s;
  }, n);
  return { name, nsPerOp: ns, bytes };
}

export function run(only?: string): Result[] {
  const same = Array.from({ length: 1000 }, () => REQUEST);
  const ids = uniqueIds(1000);
  const responses = Array.from({ length: 1000 }, () => RESPONSE);
  const trailers = Array.from({ length: 1000 }, () => TRAILERS);
  const cases: Array<[string, (name: string) => Result]> = [
    ['encode gRPC request (steady)', (n) => encodeCase(n, same)],
    ['decode gRPC request (steady)', (n) => decodeCase(n, same)],
    ['encode gRPC request + unique x-request-id', (n) => encodeCase(n, ids)],
    ['decode gRPC request + unique x-request-id', (n) => decodeCase(n, ids)],
    ['encode gRPC response head (steady)', (n) => encodeCase(n, responses)],
    ['decode gRPC response head (steady)', (n) => decodeCase(n, responses)],
    ['encode gRPC trailers (steady)', (n) => encodeCase(n, trailers)],
    ['decode gRPC trailers (steady)', (n) => decodeCase(n, trailers)],
    ['encode gRPC request (fresh table)', (n) => coldEncode(n, REQUEST)],
    ['decode gRPC request (fresh table, Huffman)', (n) => coldDecode(n, REQUEST)],
  ];
  const out: Result[] = [];
  for (const [name, fn] of cases) if (only === undefined || name.includes(only)) out.push(fn(name));
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  console.log(`HPACK, node ${process.version}`);
  for (const r of run(process.argv[2])) {
    console.log(`${r.name.padEnd(46)} ${r.nsPerOp.toFixed(0).padStart(7)} ns/op ${r.bytes.toFixed(1).padStart(7)} B/block`);
  }
}
