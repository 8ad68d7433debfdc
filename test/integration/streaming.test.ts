// Bodies stream through the proxy both ways with backpressure: the `weft proxy` process moves
// 1 GB up and 1 GB down (Content-Length and chunked) while its resident memory stays flat, and a
// client that stops reading makes the upstream stop writing instead of the proxy buffering.
//
// The proxy runs as a child process so its VmRSS (/proc/<pid>/status) measures the proxy alone;
// the upstream and the clients run here. RSS is sampled on progress (every SAMPLE_EVERY bytes
// moved), not on a clock. WEFT_STREAM_BYTES overrides the transfer size (default 1 GiB).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleBootstrap, startProxy } from '../helpers/proxy.js';
import { startWeft } from '../helpers/process.js';

const MiB = 1024 * 1024;
/** Bytes per transfer (the issue asks for 1 GiB). */
const SIZE = Number(process.env.WEFT_STREAM_BYTES ?? 1024 * MiB);
/** What the slow reader downloads. */
const SLOW_SIZE = Math.min(SIZE, 512 * MiB);
/** How far the proxy's RSS may rise above its pre-transfer value. */
const RSS_BOUND = 80 * MiB;
/**
 * How far the upstream may run ahead of a stopped client: loopback socket buffers (this kernel
 * lets a receive buffer grow to net.ipv4.tcp_rmem's max, 32 MiB here, on both hops) plus what
 * the proxy holds. A proxy that buffered the body would let the upstream write all of it.
 */
const GAP_BOUND = 128 * MiB;
const SAMPLE_EVERY = 16 * MiB;
/** Where the slow reader stops reading until the upstream is blocked. */
const STOPS = [0.125, 0.375, 0.625, 0.875].map((f) => Math.floor(SLOW_SIZE * f));

/** The 64 KiB block every body is made of (reused: nothing allocates per chunk). */
const BLOCK = Buffer.alloc(64 * 1024, 'weft streaming test. ');

/**
 * Whether `chunk`, found at `offset` of a body, is what the body holds there (BLOCK repeated):
 * a memcmp per piece, so checking every byte of 1 GiB costs little.
 */
function isPattern(chunk: Buffer, offset: number): boolean {
  for (let i = 0; i < chunk.length;) {
    const at = (offset + i) % BLOCK.length;
    const n = Math.min(chunk.length - i, BLOCK.length - at);
    if (BLOCK.compare(chunk, i, i + n, at, at + n) !== 0) return false;
    i += n;
  }
  return true;
}

function vmRss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  if (m === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** Calls `sample` each time `add`ed progress crosses another SAMPLE_EVERY bytes. */
function progress(sample: () => void): { add(n: number): void; readonly bytes: number } {
  let bytes = 0, next = SAMPLE_EVERY;
  return {
    add(n) { bytes += n; while (bytes >= next) { next += SAMPLE_EVERY; sample(); } },
    get bytes() { return bytes; },
  };
}

interface Writer {
  /** Body bytes handed to the socket so far. */
  sent: number;
  /** Waiting for 'drain' right now. */
  blocked: boolean;
  /** Bumped on every write, to tell a stalled writer from a moving one. */
  writes: number;
}

/**
 * The upstream: `POST /upload` counts the body and answers with the count; `GET /download?size=N`
 * generates N bytes on the fly with backpressure, with Content-Length or (`&mode=chunked`) chunked.
 */
async function startStreamingUpstream(): Promise<{ port: number; uploaded: ReturnType<typeof progress> | null; corrupt: number; writers: Writer[]; onUpload: (p: ReturnType<typeof progress>) => void; close(): Promise<void> }> {
  const writers: Writer[] = [];
  let uploadProgress: ReturnType<typeof progress> | null = null;
  let corrupt = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://upstream');
    if (req.method === 'POST' && url.pathname === '/upload') {
      let n = 0;
      const p = uploadProgress;
      req.on('data', (c: Buffer) => {
        if (!isPattern(c, n)) corrupt++;
        n += c.length;
        p?.add(c.length);
      });
      req.on('end', () => {
        const body = String(n);
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
        res.end(body);
      });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/download') {
      const size = Number(url.searchParams.get('size'));
      const chunked = url.searchParams.get('mode') === 'chunked';
      req.resume();
      // Without a Content-Length node frames an HTTP/1.1 response with chunked encoding.
      res.writeHead(200, chunked ? { 'content-type': 'application/octet-stream' }
        : { 'content-type': 'application/octet-stream', 'content-length': size });
      const w: Writer = { sent: 0, blocked: false, writes: 0 };
      writers.push(w);
      const pump = (): void => {
        w.blocked = false;
        while (w.sent < size) {
          const n = Math.min(BLOCK.length, size - w.sent);
          const ok = res.write(n === BLOCK.length ? BLOCK : BLOCK.subarray(0, n));
          w.sent += n;
          w.writes++;
          if (!ok) { w.blocked = true; res.once('drain', pump); return; }
        }
        res.end();
      };
      res.on('close', () => res.off('drain', pump));
      pump();
      return;
    }
    res.writeHead(404, { 'content-length': 0 });
    res.end();
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const up = {
    port: (server.address() as AddressInfo).port,
    get uploaded() { return uploadProgress; },
    /** Upload chunks that differed from the pattern. */
    get corrupt() { return corrupt; },
    writers,
    onUpload: (p: ReturnType<typeof progress>) => { uploadProgress = p; },
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
  return up;
}

/** Streams `size` bytes up (reused block, honouring write() backpressure); resolves with the response. */
async function upload(port: number, size: number, chunked: boolean): Promise<{ status: number; body: string }> {
  const req = http.request({
    host: '127.0.0.1', port, method: 'POST', path: '/upload', agent: false,
    headers: chunked ? { 'content-type': 'application/octet-stream' } : { 'content-type': 'application/octet-stream', 'content-length': size },
  });
  const response = once(req, 'response') as Promise<[http.IncomingMessage]>;
  for (let sent = 0; sent < size;) {
    const n = Math.min(BLOCK.length, size - sent);
    sent += n;
    if (!req.write(n === BLOCK.length ? BLOCK : BLOCK.subarray(0, n))) await once(req, 'drain');
  }
  req.end();
  const [res] = await response;
  let body = '';
  res.setEncoding('latin1');
  for await (const c of res) body += c;
  return { status: res.statusCode!, body };
}

/** GETs a generated body, counting bytes as they arrive; `onData` may pause the response. */
async function download(port: number, size: number, mode: 'cl' | 'chunked', onData: (res: http.IncomingMessage, chunk: number, received: number) => void):
  Promise<{ status: number; headers: http.IncomingHttpHeaders; received: number; corrupt: number }> {
  const req = http.get({ host: '127.0.0.1', port, path: `/download?size=${size}&mode=${mode}`, agent: false });
  const [res] = await once(req, 'response') as [http.IncomingMessage];
  let received = 0, corrupt = 0;
  res.on('data', (c: Buffer) => {
    if (!isPattern(c, received)) corrupt++;
    received += c.length;
    onData(res, c.length, received);
  });
  await once(res, 'end');
  return { status: res.statusCode!, headers: res.headers, received, corrupt };
}

test('1 GiB streams up and down through the proxy process with flat memory; a stopped reader stops the upstream', { timeout: 300_000 }, async (t) => {
  const up = await startStreamingUpstream();
  t.after(() => up.close());
  const dir = mkdtempSync(join(tmpdir(), 'weft-stream-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // The route timeout (15 s by default, as in Envoy) covers the whole response, and a 1 GiB
  // download on a loaded machine may need longer; uploads are not bounded by it at all.
  writeFileSync(join(dir, 'bootstrap.yaml'), simpleBootstrap({ ports: [up.port], routeExtra: '                          timeout: 120s' }));
  // One process, so the RSS measured below is the proxy's (not a primary's with workers beside it).
  const px = startWeft(['proxy', '-c', join(dir, 'bootstrap.yaml'), '--no-watch', '--concurrency', '1']);
  t.after(() => px.kill('SIGKILL'));
  const port = Number((await px.waitFor(/listener main on 127\.0\.0\.1:(\d+)/))[1]);
  const pid = px.child.pid!;

  // Warm up every code path once (small bodies), so lazily compiled code is not counted.
  assert.deepEqual(await upload(port, 100_000, false), { status: 200, body: '100000' });
  assert.deepEqual(await upload(port, 100_000, true), { status: 200, body: '100000' });
  assert.equal((await download(port, 100_000, 'cl', () => {})).received, 100_000);
  assert.equal((await download(port, 100_000, 'chunked', () => {})).received, 100_000);

  const baseline = vmRss(pid);
  let peak = baseline, phasePeak = baseline;
  const sample = () => { const r = vmRss(pid); if (r > peak) peak = r; if (r > phasePeak) phasePeak = r; };
  const report: string[] = [`proxy RSS before the transfers: ${(baseline / MiB).toFixed(1)} MiB`];
  const timed = async <T>(what: string, bytes: number, fn: () => Promise<T>): Promise<T> => {
    phasePeak = 0;
    sample();
    const t0 = performance.now();
    const r = await fn();
    const s = (performance.now() - t0) / 1000;
    sample();
    report.push(`${what}: ${(bytes / MiB).toFixed(0)} MiB in ${s.toFixed(2)} s (${(bytes / MiB / s).toFixed(0)} MiB/s), proxy RSS peak +${((phasePeak - baseline) / MiB).toFixed(1)} MiB`);
    return r;
  };

  await t.test('upload with Content-Length', async () => {
    up.onUpload(progress(sample));
    const r = await timed('upload (content-length)', SIZE, () => upload(port, SIZE, false));
    assert.deepEqual(r, { status: 200, body: String(SIZE) });
    assert.equal(up.uploaded!.bytes, SIZE);
    assert.equal(up.corrupt, 0, 'the upstream received the bytes sent');
  });

  await t.test('upload chunked', async () => {
    up.onUpload(progress(sample));
    const r = await timed('upload (chunked)', SIZE, () => upload(port, SIZE, true));
    assert.deepEqual(r, { status: 200, body: String(SIZE) });
    assert.equal(up.uploaded!.bytes, SIZE);
    assert.equal(up.corrupt, 0, 'the upstream received the bytes sent');
  });

  await t.test('download with Content-Length', async () => {
    const p = progress(sample);
    const r = await timed('download (content-length)', SIZE, () => download(port, SIZE, 'cl', (_res, n) => p.add(n)));
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], String(SIZE));
    assert.equal(r.received, SIZE);
    assert.equal(r.corrupt, 0, 'the client received the bytes sent');
  });

  await t.test('download chunked', async () => {
    const p = progress(sample);
    const r = await timed('download (chunked)', SIZE, () => download(port, SIZE, 'chunked', (_res, n) => p.add(n)));
    assert.equal(r.status, 200);
    assert.equal(r.headers['transfer-encoding'], 'chunked');
    assert.equal(r.received, SIZE);
    assert.equal(r.corrupt, 0, 'the client received the bytes sent');
  });

  await t.test('a reader that stops makes the upstream stop, not the proxy buffer', async () => {
    const firstWriter = up.writers.length;
    const gaps: number[] = [];
    let stop = 0;
    let stopping: Promise<void> | null = null;
    const p = progress(sample);
    const r = await timed('slow reader (content-length)', SLOW_SIZE, () => download(port, SLOW_SIZE, 'cl', (res, chunk, n) => {
      p.add(chunk);
      if (stop < STOPS.length && n >= STOPS[stop]! && stopping === null) {
        stop++;
        res.pause();
        stopping = untilStalled(up.writers[firstWriter]!).then(() => {
          sample();
          gaps.push(up.writers[firstWriter]!.sent - n);
          stopping = null;
          res.resume();
        });
      }
    }));
    assert.equal(r.received, SLOW_SIZE);
    assert.equal(r.corrupt, 0);
    assert.equal(gaps.length, STOPS.length);
    report.push(`slow reader: upstream ahead of the stopped client by ${gaps.map((g) => (g / MiB).toFixed(1)).join(', ')} MiB`);
    for (const g of gaps) assert.ok(g < GAP_BOUND, `the upstream ran ${(g / MiB).toFixed(1)} MiB ahead of a stopped client`);
  });

  for (const line of report) t.diagnostic(line);
  assert.ok(peak - baseline < RSS_BOUND, `proxy RSS grew by ${((peak - baseline) / MiB).toFixed(1)} MiB (bound ${RSS_BOUND / MiB} MiB)\n${report.join('\n')}`);
  px.kill('SIGTERM');
  assert.equal(await px.exited, 0);
});

/**
 * Resolves once the upstream writer is blocked on 'drain' and has made no write for a few
 * consecutive checks. (Only "nothing happens" has no event to wait for; stopping early only
 * makes the gap check weaker, never flaky.)
 */
async function untilStalled(w: Writer): Promise<void> {
  let quiet = 0, seen = -1;
  while (quiet < 4) {
    await new Promise((r) => setTimeout(r, 25));
    if (w.blocked && w.writes === seen) quiet++;
    else { quiet = 0; seen = w.writes; }
  }
}

test('the route timeout runs from the end of the request: an upload longer than it completes', async (t) => {
  const up = await startStreamingUpstream();
  t.after(() => up.close());
  const never = http.createServer(() => { /* never answers */ });
  await new Promise<void>((r) => never.listen(0, '127.0.0.1', r));
  t.after(() => { never.closeAllConnections(); never.close(); });
  const px = await startProxy(simpleBootstrap({
    ports: [up.port],
    vhostRoutes: `
                      - match: { prefix: "/upload" }
                        route: { cluster: up, timeout: 0.2s }
                      - match: { prefix: "/clock" }
                        route: { cluster: never, timeout: 0.3s }`,
  }).replace('  clusters:\n', `  clusters:
    - name: never
      type: STATIC
      load_assignment: { cluster_name: never, endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${(never.address() as AddressInfo).port} } } } } ] } ] }
`));
  t.after(() => px.close());

  // Start an upload and keep it open: head and half the body.
  const req = http.request({ host: '127.0.0.1', port: px.port, method: 'POST', path: '/upload', agent: false, headers: { 'content-length': 2 * BLOCK.length } });
  const response = once(req, 'response') as Promise<[http.IncomingMessage]>;
  req.write(BLOCK);
  // A clock made of events: /clock's 0.3 s timeout is armed after the upload started, so its
  // 504 arrives after a 0.2 s timer armed at the upload's start would have fired.
  const clock = await fetch(`http://127.0.0.1:${px.port}/clock`);
  assert.equal(clock.status, 504);
  await clock.text();
  req.end(BLOCK);
  const [res] = await response;
  let body = '';
  for await (const c of res) body += c;
  assert.equal(res.statusCode, 200, body);
  assert.equal(body, String(2 * BLOCK.length));
});
