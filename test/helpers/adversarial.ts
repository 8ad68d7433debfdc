// The adversarial suite's harness (test/adversarial/): the proxy runs as its own process so its
// RSS and open file descriptors can be read from /proc while an attack runs; a bystander client
// keeps sending ordinary requests beside the attack and reports its latency; raw HTTP/2 frames
// are built by hand so that an attack can send what no well-behaved client library would.

import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { bootstrap, cluster, hcm, listener, toCluster, type Obj } from './bootstrap.js';
import { startWeft, startWeftWithFdLimit, type WeftProcess } from './process.js';

export interface ProxyChild {
  proc: WeftProcess;
  pid: number;
  /** Port of a listener by name (from the proxy's `listener NAME on ADDR:PORT` log line). */
  port(listener: string): number;
  adminPort: number;
  /** Resident set size of the proxy process, in bytes (/proc/PID/status VmRSS). */
  rss(): number;
  /** Open file descriptors of the proxy process (/proc/PID/fd). */
  fds(): number;
  /** A counter or gauge from the admin /stats?format=json (0 when absent). */
  stat(name: string): Promise<number>;
  /** SIGTERM, wait for exit, remove the temp dir. */
  close(): Promise<void>;
}

/**
 * Writes `yaml` (a bootstrap with an `admin` block on port 0 and listeners on port 0) to a temp
 * file and starts `weft proxy -c FILE --concurrency 1` (plus `args`). Resolves once the admin
 * port and every named listener in `listeners` are announced.
 */
export async function startProxyChild(yaml: string, listeners: string[], args: string[] = [], opts: { fdLimit?: number } = {}): Promise<ProxyChild> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-adv-'));
  const file = join(dir, 'bootstrap.yaml');
  writeFileSync(file, yaml);
  const argv = ['proxy', '-c', file, '--concurrency', '1', '--log-level', 'info', ...args];
  const proc = opts.fdLimit === undefined ? startWeft(argv) : startWeftWithFdLimit(argv, opts.fdLimit);
  const ports = new Map<string, number>();
  try {
    const admin = await proc.waitFor(/admin listening on [^\s]+:(\d+)/);
    for (const l of listeners) {
      const m = await proc.waitFor(new RegExp(`listener ${l} on [^\\s]+:(\\d+)`));
      ports.set(l, Number(m[1]));
    }
    await proc.waitFor(/weft proxy started/);
    const pid = proc.child.pid!;
    const adminPort = Number(admin[1]);
    return {
      proc, pid, adminPort,
      port(name) {
        const p = ports.get(name);
        if (p === undefined) throw new Error(`listener ${name} was not awaited`);
        return p;
      },
      rss() {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
        return m ? Number(m[1]) * 1024 : 0;
      },
      fds: () => readdirSync(`/proc/${pid}/fd`).length,
      async stat(name) {
        const res = await fetch(`http://127.0.0.1:${adminPort}/stats?format=json`);
        const body = await res.json() as { stats: Array<{ name: string; value?: number }> };
        return body.stats.find((s) => s.name === name)?.value ?? 0;
      },
      async close() {
        proc.kill('SIGTERM');
        await proc.exited;
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    proc.kill('SIGKILL');
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

export interface BystanderReport {
  /** Requests that got a complete 200. */
  ok: number;
  /** Requests that failed (other status, reset, error). */
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * An ordinary client beside the attack: one keep-alive HTTP/1.1 connection (reopened if the
 * proxy closes it) sending `GET path` one after another until stop() is called.
 */
export function bystander(port: number, path = '/'): { stop(): Promise<BystanderReport> } {
  const lat: number[] = [];
  let ok = 0, errors = 0, running = true;
  let done!: () => void;
  const finished = new Promise<void>((r) => { done = r; });
  const agentLoop = async () => {
    while (running) {
      const t0 = performance.now();
      try {
        const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        if (res.status === 200) ok++; else errors++;
      } catch { errors++; }
      lat.push(performance.now() - t0);
    }
    done();
  };
  void agentLoop();
  return {
    async stop() {
      running = false;
      await finished;
      const s = lat.slice().sort((a, b) => a - b);
      const q = (p: number) => s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
      return { ok, errors, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: s[s.length - 1] ?? 0 };
    },
  };
}

/** Resolves when `cond()` holds, checking after each macrotask turn (at most every 20 ms); rejects after `timeoutMs`. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Opens a TCP connection to 127.0.0.1:port and resolves once it is connected. */
export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.off('error', reject); resolve(s); });
    s.once('error', reject);
  });
}

// ─────────────────────────── raw HTTP/2 frames (RFC 9113 §4, §6) ───────────────────────────

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FrameType = {
  DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6,
  GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9,
} as const;
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** One frame: 9-byte header + payload. */
export function h2Frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type; h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** A SETTINGS frame from [id, value] pairs (ids: 1 table size, 3 max streams, 4 initial window, 5 max frame, 6 max header list). */
export function h2Settings(pairs: Array<[number, number]> = []): Buffer {
  const p = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([id, v], i) => { p.writeUInt16BE(id, i * 6); p.writeUInt32BE(v, i * 6 + 2); });
  return h2Frame(FrameType.SETTINGS, 0, 0, p);
}

export function h2WindowUpdate(streamId: number, increment: number): Buffer {
  const p = Buffer.alloc(4); p.writeUInt32BE(increment, 0);
  return h2Frame(FrameType.WINDOW_UPDATE, 0, streamId, p);
}

export function h2RstStream(streamId: number, code = 0x8 /* CANCEL */): Buffer {
  const p = Buffer.alloc(4); p.writeUInt32BE(code, 0);
  return h2Frame(FrameType.RST_STREAM, 0, streamId, p);
}

/** HPACK literal header fields without indexing, new names, no Huffman (RFC 7541 §6.2.2). */
export function hpackLiterals(headers: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  const int7 = (n: number): Buffer => {
    if (n < 127) return Buffer.from([n]);
    const out = [127]; n -= 127;
    while (n >= 128) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
    out.push(n);
    return Buffer.from(out);
  };
  for (const [name, value] of headers) {
    const n = Buffer.from(name, 'latin1'), v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00]), int7(n.length), n, int7(v.length), v);
  }
  return Buffer.concat(parts);
}

/** A HEADERS frame (END_HEADERS set) for a request with the given pseudo-headers and fields. */
export function h2Request(streamId: number, headers: Array<[string, string]>, endStream: boolean): Buffer {
  return h2Frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId, hpackLiterals(headers));
}

/** Splits a byte stream of HTTP/2 frames; returns whole frames and keeps the rest for the next call. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  push(d: Buffer): Array<{ type: number; flags: number; streamId: number; payload: Buffer }> {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    const out: Array<{ type: number; flags: number; streamId: number; payload: Buffer }> = [];
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      out.push({ type: this.buf[3]!, flags: this.buf[4]!, streamId: this.buf.readUInt32BE(5) & 0x7fffffff, payload: this.buf.subarray(9, 9 + len) });
      this.buf = this.buf.subarray(9 + len);
    }
    return out;
  }
}

// ─────────────────────────── floods and process trees ───────────────────────────

export interface Flood {
  /** Bytes the socket has accepted so far. */
  sent(): number;
  /** Resolves with the bytes accepted once `total` were written, the socket closed, or stop() was called. */
  done: Promise<number>;
  stop(): void;
}

/**
 * Writes `total` bytes (of `fill`) to `sock` as fast as it takes them, waiting for 'drain' only
 * when the socket asks to (so the attacker's own memory stays bounded too).
 */
export function flood(sock: net.Socket, total: number, chunkBytes = 64 * 1024, fill = 0x61): Flood {
  const chunk = Buffer.alloc(chunkBytes, fill);
  let sent = 0, stopped = false;
  let finish!: (n: number) => void;
  const done = new Promise<number>((r) => { finish = r; });
  const end = () => { sock.off('drain', pump); sock.off('close', end); finish(sent); };
  const pump = (): void => {
    while (!stopped && !sock.destroyed && sent < total) {
      const n = Math.min(chunkBytes, total - sent);
      const ok = sock.write(n === chunkBytes ? chunk : chunk.subarray(0, n));
      sent += n;
      if (!ok) return; // 'drain' calls pump again
    }
    end();
  };
  sock.on('drain', pump);
  sock.on('close', end);
  sock.on('error', () => { /* close follows */ });
  pump();
  return { sent: () => sent, done, stop: () => { stopped = true; end(); } };
}

/** Resolves with the value of `read()` once it has not changed for `quietMs` (checked every 50 ms); rejects after `timeoutMs`. */
export async function settle(read: () => number | Promise<number>, quietMs: number, timeoutMs: number, what: string): Promise<number> {
  let last = await read(), since = Date.now();
  const end = Date.now() + timeoutMs;
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    const v = await read();
    if (v !== last) { last = v; since = Date.now(); }
    else if (Date.now() - since >= quietMs) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} to settle (last ${v})`);
  }
}

/** PIDs of the direct children of `pid` (from /proc/<n>/stat), e.g. the workers of `--concurrency N`. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
      // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch { /* the process exited meanwhile */ }
  }
  return out;
}

/** VmRSS of one process in bytes (0 when it is gone). */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch { return 0; }
}

/** startProxyChild with the proxy limited to `fdLimit` open file descriptors (descriptor exhaustion attacks). */
export function startProxyChildWithFdLimit(yaml: string, listeners: string[], fdLimit: number, args: string[] = []): Promise<ProxyChild> {
  return startProxyChild(yaml, listeners, args, { fdLimit });
}

export interface H2Frame { type: number; flags: number; streamId: number; payload: Buffer }

export interface RawH2Client {
  sock: net.Socket;
  /** Every frame received so far, in order. */
  frames: H2Frame[];
  /** Whether the socket closed. */
  readonly closed: boolean;
  write(data: Buffer | Buffer[]): void;
  /** Resolves once `pred(frames)` holds (checked on every read and on close); rejects after `timeoutMs`. */
  waitFor(pred: (frames: H2Frame[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** RST_STREAM error code received for `streamId`, or undefined. */
  rstCode(streamId: number): number | undefined;
  /** :status of the response HEADERS on `streamId` (literal or static-table indexed as nghttp2 sends it), or undefined. */
  goaway(): { lastStreamId: number; code: number } | undefined;
  close(): void;
}

/**
 * A raw HTTP/2 client: sends the preface and a SETTINGS frame with `settings`, ACKs the server's
 * SETTINGS (unless `ackSettings` is false) and records every frame. Resolves once connected.
 */
export async function rawH2Client(port: number, o: { settings?: Array<[number, number]>; ackSettings?: boolean } = {}): Promise<RawH2Client> {
  const sock = await connect(port);
  const reader = new FrameReader();
  const frames: H2Frame[] = [];
  const waiters = new Set<() => void>();
  let closed = false;
  const wake = () => { for (const w of [...waiters]) w(); };
  sock.on('data', (d: Buffer) => {
    for (const f of reader.push(d)) {
      frames.push(f);
      if (f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0 && o.ackSettings !== false && !sock.destroyed) sock.write(h2Frame(FrameType.SETTINGS, Flag.ACK, 0));
    }
    wake();
  });
  sock.on('error', () => { /* close follows */ });
  sock.on('close', () => { closed = true; wake(); });
  sock.write(Buffer.concat([H2_PREFACE, h2Settings(o.settings ?? [])]));
  return {
    sock, frames,
    get closed() { return closed; },
    write(data) { if (!sock.destroyed) sock.write(Array.isArray(data) ? Buffer.concat(data) : data); },
    waitFor(pred, what, timeoutMs = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pred(frames)) { waiters.delete(check); clearTimeout(timer); resolve(); }
          else if (closed && !pred(frames)) { /* keep waiting for the timeout: the predicate may be about close */ }
        };
        const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`timed out waiting for ${what}; frames: ${frames.map((f) => `${f.type}/${f.streamId}`).join(' ')}`)); }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    rstCode(streamId) {
      const f = frames.find((x) => x.type === FrameType.RST_STREAM && x.streamId === streamId);
      return f === undefined ? undefined : f.payload.readUInt32BE(0);
    },
    goaway() {
      const f = frames.find((x) => x.type === FrameType.GOAWAY);
      return f === undefined ? undefined : { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) };
    },
    close() { sock.destroy(); },
  };
}

/** The request pseudo-headers for GET `path` (plus `extra` fields). */
export function h2Get(path: string, extra: Array<[string, string]> = []): Array<[string, string]> {
  return [[':method', 'GET'], [':scheme', 'http'], [':authority', 'adv.test'], [':path', path], ...extra];
}

/** The HPACK-decoded :status of a response HEADERS frame from node:http2 (static-table index 8–14 or a literal), or 0. */
export function h2Status(f: H2Frame): number {
  const b = f.payload;
  let i = (f.flags & Flag.PADDED) !== 0 ? 1 : 0;
  if ((f.flags & Flag.PRIORITY) !== 0) i += 5;
  // Skip dynamic table size updates (001xxxxx).
  while (i < b.length && (b[i]! & 0xe0) === 0x20) i++;
  const c = b[i] ?? 0;
  const indexed: Record<number, number> = { 0x88: 200, 0x89: 204, 0x8a: 206, 0x8b: 304, 0x8c: 400, 0x8d: 404, 0x8e: 500 };
  if (indexed[c] !== undefined) return indexed[c]!;
  // Literal with name index 8 (:status): 0x48 (incremental), 0x08 (without indexing), 0x18 (never indexed).
  if (c === 0x48 || c === 0x08 || c === 0x18) {
    const len = b[i + 1]! & 0x7f;
    if ((b[i + 1]! & 0x80) === 0) return Number(b.subarray(i + 2, i + 2 + len).toString('latin1'));
  }
  return 0;
}

/**
 * The common shape of an attack's target: a proxy child (admin on, listener `main`, stat prefix
 * `ingress`) routing everything to one cluster `up` at `upstreamPort`, closed after the test.
 * `hcmExtra` adds keys to the HTTP connection manager (e.g. http2_protocol_options).
 */
export async function proxyInFrontOf(t: TestContext, upstreamPort: number, hcmExtra: Obj = {}): Promise<ProxyChild> {
  const px = await startProxyChild(bootstrap({
    admin: true,
    listeners: [listener({ name: 'main', filter: hcm({ routes: [toCluster('/', 'up')], extra: hcmExtra }) })],
    clusters: [cluster('up', [upstreamPort])],
  }), ['main']);
  t.after(() => px.close());
  return px;
}
