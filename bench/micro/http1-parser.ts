// Micro-benchmark of the HTTP/1.1 codec (src/proxy/codec/http1): parse ops/s for a typical
// ~300-byte GET head, a response head with a 64-byte body, pipelined and chunked input, and
// the serializers. Run: node dist/bench/micro/http1-parser.js [filter]  (or npx tsx bench/micro/http1-parser.ts)
import { pathToFileURL } from 'node:url';
import { Http1Parser, type Http1ParserHandler, type MessageHead } from '../../src/proxy/codec/http1/parser.js';
import { requestHead, responseHead } from '../../src/proxy/codec/http1/serialize.js';

const GET =
  'GET /api/v1/users/12345?include=profile&fields=name,email HTTP/1.1\r\n' +
  'Host: api.example.com\r\n' +
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101\r\n' +
  'Accept: application/json\r\n' +
  'Accept-Encoding: gzip, deflate, br\r\n' +
  'Accept-Language: en-US,en;q=0.9\r\n' +
  'Connection: keep-alive\r\n' +
  'X-Request-Id: 7f3c2a9e-1b4d-4e8f-9a2c-5d6e7f8a9b0c\r\n' +
  '\r\n';

const RESPONSE =
  'HTTP/1.1 200 OK\r\n' +
  'Content-Type: application/json\r\n' +
  'Content-Length: 64\r\n' +
  'Date: Sat, 22 Nov 2025 10:00:00 GMT\r\n' +
  'Server: backend/1.0\r\n' +
  'Cache-Control: no-cache\r\n' +
  '\r\n' +
  '{"id":12345,"name":"Ada Lovelace","email":"ada@example.com","x":1}'.slice(0, 64);

const CHUNKED =
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n' +
  '40\r\n' + 'a'.repeat(64) + '\r\n' + '40\r\n' + 'b'.repeat(64) + '\r\n' + '0\r\n\r\n';

class Sink implements Http1ParserHandler {
  heads = 0;
  bytes = 0;
  completes = 0;
  errors = 0;
  onHead(head: MessageHead): boolean {
    this.heads += head.headers.length;
    return false;
  }
  onInformational(): void {}
  onData(chunk: Buffer): void {
    this.bytes += chunk.length;
  }
  onComplete(): void {
    this.completes++;
  }
  onError(): void {
    this.errors++;
  }
}

interface Case {
  name: string;
  kind: 'request' | 'response';
  input: Buffer;
  /** Messages per input buffer. */
  messages: number;
}

const cases: Case[] = [
  { name: `GET head (${GET.length} B)`, kind: 'request', input: Buffer.from(GET, 'latin1'), messages: 1 },
  { name: `response head + 64 B body (${RESPONSE.length} B)`, kind: 'response', input: Buffer.from(RESPONSE, 'latin1'), messages: 1 },
  { name: 'GET x16 pipelined in one buffer', kind: 'request', input: Buffer.from(GET.repeat(16), 'latin1'), messages: 16 },
  { name: 'chunked response, 2 x 64 B chunks', kind: 'response', input: Buffer.from(CHUNKED, 'latin1'), messages: 1 },
];

/**
 * CPU time (user + system, µs → ns) rather than wall time: on a shared machine the process is
 * often descheduled, which wall time would count as parsing time.
 */
function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

function measure(p: Http1Parser, input: Buffer, iterations: number): number {
  const t0 = cpuNs();
  for (let i = 0; i < iterations; i++) p.execute(input);
  return cpuNs() - t0;
}

/**
 * Reference only: Node's own llhttp binding (what node:http uses), driven the same way, to give
 * the numbers a machine-independent yardstick. Weft does not use it. Null when unavailable.
 */
function llhttp(kind: 'request' | 'response'): { execute(b: Buffer): void; completes(): number } | null {
  let binding: { HTTPParser: any } | undefined;
  try {
    const noDep = process.noDeprecation;
    process.noDeprecation = true; // DEP0111 for process.binding
    binding = (process as unknown as { binding(name: string): { HTTPParser: any } }).binding('http_parser');
    process.noDeprecation = noDep;
  } catch {
    return null;
  }
  const { HTTPParser } = binding!;
  const p = new HTTPParser();
  let completes = 0;
  let sink = 0;
  p[HTTPParser.kOnHeaders] = () => {};
  p[HTTPParser.kOnHeadersComplete] = (_maj: number, _min: number, headers: string[]) => {
    sink += headers.length;
  };
  p[HTTPParser.kOnBody] = (b: Buffer) => {
    sink += b.length;
  };
  p[HTTPParser.kOnMessageComplete] = () => {
    completes++;
  };
  p[HTTPParser.kOnExecute] = () => {};
  p.initialize(kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, 0, 0);
  return { execute: (b: Buffer) => p.execute(b), completes: () => completes + (sink < 0 ? 1 : 0) };
}

function measureLl(p: { execute(b: Buffer): void }, input: Buffer, iterations: number): number {
  const t0 = cpuNs();
  for (let i = 0; i < iterations; i++) p.execute(input);
  return cpuNs() - t0;
}

export interface Result {
  name: string;
  opsPerSec: number;
  nsPerOp: number;
}

/** ops = messages parsed (head + body + completion). Best of 9 runs after 3 warm-up runs. */
export function run(only?: string): Result[] {
  const out: Result[] = [];
  for (const c of cases) {
    if (only !== undefined && !c.name.includes(only)) continue;
    const sink = new Sink();
    const p = new Http1Parser(c.kind, sink, { maxHeaderBytes: 64 * 1024 });
    const iterations = Math.ceil(400_000 / c.messages);
    for (let w = 0; w < 3; w++) measure(p, c.input, iterations); // warm-up: let the JIT settle
    let best = Infinity;
    for (let r = 0; r < 9; r++) best = Math.min(best, measure(p, c.input, iterations));
    if (sink.errors !== 0 || sink.completes !== 12 * iterations * c.messages) throw new Error(`${c.name}: parser misbehaved`);
    const nsPerOp = best / (iterations * c.messages);
    out.push({ name: c.name, opsPerSec: 1e9 / nsPerOp, nsPerOp });
    const ll = llhttp(c.kind);
    if (ll !== null) {
      measureLl(ll, c.input, iterations);
      let llBest = Infinity;
      for (let r = 0; r < 9; r++) llBest = Math.min(llBest, measureLl(ll, c.input, iterations));
      if (ll.completes() !== 10 * iterations * c.messages) throw new Error(`${c.name}: llhttp reference misbehaved`);
      const llNs = llBest / (iterations * c.messages);
      out.push({ name: '  (reference: node llhttp binding)', opsPerSec: 1e9 / llNs, nsPerOp: llNs });
    }
  }
  if (only === undefined || 'serialize'.includes(only)) out.push(...serializers());
  return out;
}

function serializers(): Result[] {
  const headers = ['host', 'api.example.com', 'user-agent', 'Mozilla/5.0', 'accept', 'application/json',
    'accept-encoding', 'gzip, deflate, br', 'connection', 'keep-alive', 'x-request-id', '7f3c2a9e-1b4d-4e8f'];
  const res = ['content-type', 'application/json', 'content-length', '64', 'date', 'Sat, 22 Nov 2025 10:00:00 GMT'];
  const bench = (name: string, fn: () => number): Result => {
    const n = 1_000_000;
    let sink = 0;
    for (let i = 0; i < n; i++) sink += fn();
    let best = Infinity;
    for (let r = 0; r < 5; r++) {
      const t0 = cpuNs();
      for (let i = 0; i < n; i++) sink += fn();
      best = Math.min(best, cpuNs() - t0);
    }
    if (sink === -1) console.log(sink);
    return { name, opsPerSec: (1e9 * n) / best, nsPerOp: best / n };
  };
  return [
    // Buffer.byteLength forces the rope to be flattened, as a socket write would.
    bench('serialize: requestHead', () => Buffer.byteLength(requestHead('GET', '/api/v1/users/12345', headers), 'latin1')),
    bench('serialize: responseHead', () => Buffer.byteLength(responseHead(200, res), 'latin1')),
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  console.log(`HTTP/1.1 codec, node ${process.version}`);
  for (const r of run(process.argv[2])) {
    console.log(`${r.name.padEnd(44)} ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(12)} ops/s ${r.nsPerOp.toFixed(0).padStart(7)} ns/op`);
  }
}
