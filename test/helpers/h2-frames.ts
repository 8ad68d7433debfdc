// Raw HTTP/2 (RFC 9113) for the conformance suite (test/conformance/http2/): builders for every
// frame type, valid and deliberately broken (reserved bits, wrong lengths, bad padding, stream 0),
// and H2Conn, a client that records every frame the server sends (header blocks decoded by the
// strict HPACK oracle of h2-hpack.ts) and checks the outcome a case expects: a connection error
// (GOAWAY with the code, then close), a stream error (RST_STREAM, or GOAWAY, with the code), a
// complete response, or a connection still alive (PING answered). A verdict that does not hold
// fails with the expected outcome and a transcript of what arrived instead.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { HpackDecoder, literalBlock } from './h2-hpack.js';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const T = {
  DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7,
  WINDOW_UPDATE: 8, CONTINUATION: 9,
} as const;
const TYPE_NAMES = ['DATA', 'HEADERS', 'PRIORITY', 'RST_STREAM', 'SETTINGS', 'PUSH_PROMISE', 'PING', 'GOAWAY', 'WINDOW_UPDATE', 'CONTINUATION'];

export const F = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** RFC 9113 §7. */
export const E = {
  NO_ERROR: 0x0, PROTOCOL_ERROR: 0x1, INTERNAL_ERROR: 0x2, FLOW_CONTROL_ERROR: 0x3, SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5, FRAME_SIZE_ERROR: 0x6, REFUSED_STREAM: 0x7, CANCEL: 0x8, COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa, ENHANCE_YOUR_CALM: 0xb, INADEQUATE_SECURITY: 0xc, HTTP_1_1_REQUIRED: 0xd,
} as const;
const ERROR_NAMES = Object.fromEntries(Object.entries(E).map(([k, v]) => [v, k])) as Record<number, string>;
export const errorName = (code: number): string => ERROR_NAMES[code] ?? `0x${code.toString(16)}`;

/** RFC 9113 §6.5.2. */
export const S = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5, MAX_HEADER_LIST_SIZE: 6 } as const;
const SETTING_NAMES: Record<number, string> = Object.fromEntries(Object.entries(S).map(([k, v]) => [v, k]));

// ─────────────────────────── frame builders ───────────────────────────

/** A frame; `reserved` sets the reserved bit of the stream id, `length` overrides the length field (the payload is sent as is). */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0), o: { reserved?: boolean; length?: number } = {}): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(o.length ?? payload.length, 0, 3);
  h[3] = type; h[4] = flags;
  h.writeUInt32BE(((streamId & 0x7fffffff) | (o.reserved ? 0x80000000 : 0)) >>> 0, 5);
  return Buffer.concat([h, payload]);
}

/** Padding: `padLength` octets of padding (the Pad Length field says `declared` when given, to lie). */
function padded(body: Buffer, pad: { length: number; declared?: number } | undefined, prefix: Buffer = Buffer.alloc(0)): { flags: number; payload: Buffer } {
  if (pad === undefined) return { flags: 0, payload: Buffer.concat([prefix, body]) };
  return { flags: F.PADDED, payload: Buffer.concat([Buffer.from([pad.declared ?? pad.length]), prefix, body, Buffer.alloc(pad.length)]) };
}

export function data(id: number, body: Buffer | string, o: { end?: boolean; pad?: { length: number; declared?: number }; flags?: number } = {}): Buffer {
  const p = padded(typeof body === 'string' ? Buffer.from(body) : body, o.pad);
  return frame(T.DATA, p.flags | (o.end ? F.END_STREAM : 0) | (o.flags ?? 0), id, p.payload);
}

export interface PrioritySpec { dependency: number; weight: number; exclusive?: boolean }
function priorityFields(p: PrioritySpec): Buffer {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(((p.dependency & 0x7fffffff) | (p.exclusive ? 0x80000000 : 0)) >>> 0, 0);
  b[4] = p.weight - 1;
  return b;
}

/** HEADERS carrying `block` (an HPACK fragment, or a field list encoded as plain literals). END_HEADERS unless `endHeaders: false`. */
export function headers(id: number, block: Buffer | ReadonlyArray<readonly [string, string]>, o: {
  end?: boolean; endHeaders?: boolean; pad?: { length: number; declared?: number }; priority?: PrioritySpec; flags?: number;
} = {}): Buffer {
  const b = Buffer.isBuffer(block) ? block : literalBlock(block);
  const p = padded(b, o.pad, o.priority ? priorityFields(o.priority) : undefined);
  const flags = p.flags | (o.end ? F.END_STREAM : 0) | (o.endHeaders === false ? 0 : F.END_HEADERS) | (o.priority ? F.PRIORITY : 0) | (o.flags ?? 0);
  return frame(T.HEADERS, flags, id, p.payload);
}

export function continuation(id: number, block: Buffer | ReadonlyArray<readonly [string, string]>, endHeaders: boolean): Buffer {
  return frame(T.CONTINUATION, endHeaders ? F.END_HEADERS : 0, id, Buffer.isBuffer(block) ? block : literalBlock(block));
}

/** A header block of any size as HEADERS + CONTINUATION frames of at most `maxFrame` octets. */
export function headerFrames(id: number, block: Buffer, o: { end?: boolean; maxFrame?: number } = {}): Buffer {
  const max = o.maxFrame ?? 16384;
  const out = [headers(id, block.subarray(0, max), { end: o.end, endHeaders: block.length <= max })];
  for (let i = max; i < block.length; i += max) out.push(continuation(id, block.subarray(i, i + max), i + max >= block.length));
  return Buffer.concat(out);
}

export function priority(id: number, p: PrioritySpec): Buffer { return frame(T.PRIORITY, 0, id, priorityFields(p)); }

export function rst(id: number, code: number): Buffer {
  const b = Buffer.alloc(4); b.writeUInt32BE(code >>> 0, 0);
  return frame(T.RST_STREAM, 0, id, b);
}

export function settings(pairs: ReadonlyArray<readonly [number, number]> = []): Buffer {
  const b = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([id, v], i) => { b.writeUInt16BE(id, i * 6); b.writeUInt32BE(v >>> 0, i * 6 + 2); });
  return frame(T.SETTINGS, 0, 0, b);
}
export const settingsAck = (): Buffer => frame(T.SETTINGS, F.ACK, 0);

export function ping(payload: Buffer = Buffer.alloc(8), ack = false): Buffer { return frame(T.PING, ack ? F.ACK : 0, 0, payload); }

export function goaway(lastStreamId: number, code: number, debug = ''): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(lastStreamId & 0x7fffffff, 0); b.writeUInt32BE(code >>> 0, 4);
  return frame(T.GOAWAY, 0, 0, Buffer.concat([b, Buffer.from(debug)]));
}

export function windowUpdate(id: number, increment: number): Buffer {
  const b = Buffer.alloc(4); b.writeUInt32BE(increment >>> 0, 0);
  return frame(T.WINDOW_UPDATE, 0, id, b);
}

export function pushPromise(id: number, promised: number, block: Buffer | ReadonlyArray<readonly [string, string]>): Buffer {
  const b = Buffer.alloc(4); b.writeUInt32BE(promised, 0);
  return frame(T.PUSH_PROMISE, F.END_HEADERS, id, Buffer.concat([b, Buffer.isBuffer(block) ? block : literalBlock(block)]));
}

/** A request's pseudo-header fields (+ `extra`), in the order clients send them. */
export function req(path = '/', extra: ReadonlyArray<readonly [string, string]> = [], method = 'GET'): Array<[string, string]> {
  return [[':method', method], [':scheme', 'http'], [':path', path], [':authority', 'conformance.test'], ...extra.map(([n, v]) => [n, v] as [string, string])];
}

// ─────────────────────────── the recording client ───────────────────────────

export interface Ev {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
  /** HEADERS / PUSH_PROMISE: the decoded block (once its END_HEADERS arrived). */
  headers?: Array<[string, string]>;
  /** The oracle could not decode the block: the proxy's HPACK output is wrong. */
  hpackError?: string;
}

export interface Response {
  status: number;
  headers: Array<[string, string]>;
  body: Buffer;
  trailers?: Array<[string, string]>;
  /** Payload length of each DATA frame, in order. */
  dataFrames: number[];
}

/** How long a verdict waits for the server's first reaction, and then for the connection to close. */
const VERDICT_MS = 4_000;
const CLOSE_MS = 3_000;

export function describe(e: Ev): string {
  const name = TYPE_NAMES[e.type] ?? `UNKNOWN(0x${e.type.toString(16)})`;
  const es = (e.type === T.DATA || e.type === T.HEADERS) && (e.flags & F.END_STREAM) ? ' END_STREAM' : '';
  switch (e.type) {
    case T.DATA: return `DATA[${e.streamId}] len=${e.payload.length}${es}`;
    case T.HEADERS: case T.PUSH_PROMISE: {
      const h = e.hpackError !== undefined ? `HPACK ERROR: ${e.hpackError}` : (e.headers ?? []).slice(0, 4).map(([n, v]) => `${n}: ${v.slice(0, 40)}`).join(', ');
      return `${name}[${e.streamId}] {${h}}${es}`;
    }
    case T.RST_STREAM: return `RST_STREAM[${e.streamId}] ${errorName(e.payload.readUInt32BE(0))}`;
    case T.SETTINGS: {
      if (e.flags & F.ACK) return 'SETTINGS ACK';
      const pairs: string[] = [];
      for (let i = 0; i + 6 <= e.payload.length; i += 6) pairs.push(`${SETTING_NAMES[e.payload.readUInt16BE(i)] ?? e.payload.readUInt16BE(i)}=${e.payload.readUInt32BE(i + 2)}`);
      return `SETTINGS {${pairs.join(', ')}}`;
    }
    case T.PING: return `PING${e.flags & F.ACK ? ' ACK' : ''}`;
    case T.GOAWAY: return `GOAWAY last=${e.payload.readUInt32BE(0) & 0x7fffffff} ${errorName(e.payload.readUInt32BE(4))}${e.payload.length > 8 ? ` "${e.payload.subarray(8).toString('latin1').slice(0, 80)}"` : ''}`;
    case T.WINDOW_UPDATE: return `WINDOW_UPDATE[${e.streamId}] +${e.payload.readUInt32BE(0) & 0x7fffffff}`;
    default: return `${name}[${e.streamId}] len=${e.payload.length}`;
  }
}

export interface OpenOptions {
  /** Our SETTINGS (sent with the preface). */
  settings?: ReadonlyArray<readonly [number, number]>;
  /** Send the preface and SETTINGS, wait for the server's SETTINGS and the ACK of ours (default true). */
  handshake?: boolean;
  /** Give back every DATA byte received with WINDOW_UPDATE frames (default true). */
  autoWindow?: boolean;
}

export class H2Conn {
  readonly events: Ev[] = [];
  closed = false;
  /** Verdicts look at events from this index on (set after the handshake, or by setMark()). */
  mark = 0;
  autoWindow: boolean;
  readonly decoder = new HpackDecoder();
  private buf: Buffer = Buffer.alloc(0);
  private pendingBlock: { ev: Ev; parts: Buffer[] } | null = null;
  private waiters = new Set<() => void>();

  private constructor(readonly sock: net.Socket, o: OpenOptions) {
    this.autoWindow = o.autoWindow ?? true;
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('error', () => { /* close follows */ });
    sock.on('close', () => { this.closed = true; this.wake(); });
  }

  /** Connects to 127.0.0.1:port (and by default completes the connection preface exchange, RFC 9113 §3.4). */
  static async open(port: number, o: OpenOptions = {}): Promise<H2Conn> {
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.off('error', reject); resolve(s); });
      s.once('error', reject);
    });
    sock.setNoDelay(true);
    const c = new H2Conn(sock, o);
    if (o.handshake !== false) {
      c.send(PREFACE, settings(o.settings ?? []));
      const ok = await c.until(() => c.events.some((e) => e.type === T.SETTINGS && (e.flags & F.ACK) !== 0) && c.events.some((e) => e.type === T.SETTINGS && (e.flags & F.ACK) === 0));
      if (!ok) { c.close(); assert.fail(`handshake: expected the server's SETTINGS and an ACK of ours; got ${c.transcript(0)}`); }
      c.mark = c.events.length;
    }
    return c;
  }

  private wake(): void { for (const w of [...this.waiters]) w(); }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      const ev: Ev = { type: this.buf[3]!, flags: this.buf[4]!, streamId: this.buf.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(this.buf.subarray(9, 9 + len)) };
      this.buf = this.buf.subarray(9 + len);
      this.events.push(ev);
      this.onFrame(ev);
    }
    this.wake();
  }

  private onFrame(ev: Ev): void {
    if (ev.type === T.SETTINGS && (ev.flags & F.ACK) === 0) this.send(settingsAck());
    if (ev.type === T.DATA && this.autoWindow && ev.payload.length > 0) {
      this.send(windowUpdate(0, ev.payload.length));
      if ((ev.flags & F.END_STREAM) === 0) this.send(windowUpdate(ev.streamId, ev.payload.length));
    }
    if (ev.type === T.HEADERS || ev.type === T.PUSH_PROMISE) {
      let p = ev.payload, start = 0, end = p.length;
      if (ev.flags & F.PADDED) { start = 1; end -= p[0]!; }
      if (ev.type === T.HEADERS && (ev.flags & F.PRIORITY)) start += 5;
      if (ev.type === T.PUSH_PROMISE) start += 4;
      p = p.subarray(start, Math.max(start, end));
      this.pendingBlock = { ev, parts: [p] };
      if (ev.flags & F.END_HEADERS) this.finishBlock();
    } else if (ev.type === T.CONTINUATION && this.pendingBlock !== null) {
      this.pendingBlock.parts.push(ev.payload);
      if (ev.flags & F.END_HEADERS) this.finishBlock();
    }
  }

  private finishBlock(): void {
    const { ev, parts } = this.pendingBlock!;
    this.pendingBlock = null;
    try { ev.headers = this.decoder.decode(Buffer.concat(parts)); } catch (e) { ev.hpackError = (e as Error).message; }
  }

  send(...bufs: Buffer[]): void { if (!this.sock.destroyed) this.sock.write(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs)); }

  /** From now on, verdicts only look at what arrives next. */
  setMark(): void { this.mark = this.events.length; }

  /** Events since the mark. */
  get recent(): Ev[] { return this.events.slice(this.mark); }

  /** Resolves true once `pred()` holds (checked on every read and on close), false after `ms`. */
  until(pred: () => boolean, ms = VERDICT_MS): Promise<boolean> {
    return new Promise((resolve) => {
      const check = () => { if (pred()) { this.waiters.delete(check); clearTimeout(timer); resolve(true); } };
      const timer = setTimeout(() => { this.waiters.delete(check); resolve(pred()); }, ms);
      this.waiters.add(check);
      check();
    });
  }

  transcript(from = this.mark): string {
    const lines = this.events.slice(from).map(describe);
    if (this.closed) lines.push('connection closed');
    return lines.length === 0 ? 'nothing (within the wait)' : lines.join(' | ');
  }

  private find(type: number, streamId?: number): Ev | undefined {
    return this.recent.find((e) => e.type === type && (streamId === undefined || e.streamId === streamId));
  }

  goaway(): { lastStreamId: number; code: number } | undefined {
    const g = this.find(T.GOAWAY);
    return g === undefined ? undefined : { lastStreamId: g.payload.readUInt32BE(0) & 0x7fffffff, code: g.payload.readUInt32BE(4) };
  }

  rstCode(id: number): number | undefined { return this.find(T.RST_STREAM, id)?.payload.readUInt32BE(0); }

  /**
   * A connection error (RFC 9113 §5.4.1): GOAWAY with one of `codes`, then the connection closes.
   * Returns the GOAWAY.
   */
  async connectionError(...codes: number[]): Promise<{ lastStreamId: number; code: number }> {
    const want = `GOAWAY(${codes.map(errorName).join(' or ')}) and the connection closed`;
    await this.until(() => this.goaway() !== undefined || this.closed);
    const g = this.goaway();
    if (g === undefined) assert.fail(`expected ${want}; got ${this.transcript()}`);
    if (!codes.includes(g.code)) assert.fail(`expected ${want}; got ${this.transcript()}`);
    if (!(await this.until(() => this.closed, CLOSE_MS))) assert.fail(`expected ${want}; got ${this.transcript()} (still open ${CLOSE_MS} ms later)`);
    return g;
  }

  /**
   * A stream error on `id` (RFC 9113 §5.4.2): RST_STREAM with one of `codes`, or a GOAWAY with one
   * of them (an endpoint may treat a stream error as a connection error). Returns which one came.
   */
  async streamError(id: number, ...codes: number[]): Promise<'rst' | 'goaway'> {
    const want = `RST_STREAM[${id}](${codes.map(errorName).join(' or ')}) or GOAWAY with that code`;
    await this.until(() => this.rstCode(id) !== undefined || this.goaway() !== undefined || this.closed);
    const r = this.rstCode(id);
    if (r !== undefined && codes.includes(r)) return 'rst';
    const g = this.goaway();
    if (r === undefined && g !== undefined && codes.includes(g.code)) return 'goaway';
    assert.fail(`expected ${want}; got ${this.transcript()}`);
  }

  /** The complete response on `id` (END_STREAM received); fails on a reset, a GOAWAY with an error, or a close first. */
  async response(id: number, ms = VERDICT_MS): Promise<Response> {
    const ended = () => this.recent.some((e) => e.streamId === id && (e.type === T.DATA || e.type === T.HEADERS) && (e.flags & F.END_STREAM) !== 0);
    await this.until(() => ended() || this.rstCode(id) !== undefined || this.closed || (this.goaway()?.code ?? 0) !== 0, ms);
    if (!ended()) assert.fail(`expected a complete response on stream ${id}; got ${this.transcript()}`);
    const out: Response = { status: 0, headers: [], body: Buffer.alloc(0), dataFrames: [] };
    const chunks: Buffer[] = [];
    for (const e of this.recent) {
      if (e.streamId !== id) continue;
      if (e.type === T.HEADERS) {
        if (e.hpackError !== undefined) assert.fail(`stream ${id}: the proxy's header block does not decode: ${e.hpackError}`);
        const h = e.headers ?? [];
        const status = Number(h.find(([n]) => n === ':status')?.[1] ?? 0);
        if (out.status === 0 && status >= 100 && status < 200) continue; // informational
        if (out.status === 0) { out.status = status; out.headers = h; } else out.trailers = h;
      } else if (e.type === T.DATA) {
        let p = e.payload;
        if (e.flags & F.PADDED) p = p.subarray(1, p.length - p[0]!);
        chunks.push(p);
        out.dataFrames.push(e.payload.length);
      }
    }
    out.body = Buffer.concat(chunks);
    return out;
  }

  /** The connection still works: a PING is answered with an identical PING ACK, and no GOAWAY came. */
  async alive(): Promise<void> {
    const payload = randomBytes(8);
    this.send(ping(payload));
    const acked = () => this.recent.some((e) => e.type === T.PING && (e.flags & F.ACK) !== 0 && e.payload.equals(payload));
    await this.until(() => acked() || this.closed || this.goaway() !== undefined);
    if (!acked() || this.goaway() !== undefined) assert.fail(`expected the connection to stay usable (PING answered, no GOAWAY); got ${this.transcript()}`);
  }

  close(): void { this.sock.destroy(); }
}

/** Opens a connection, runs `body`, and always closes it. */
export async function withConn<R>(port: number, body: (c: H2Conn) => Promise<R>, o: OpenOptions = {}): Promise<R> {
  const c = await H2Conn.open(port, o);
  try { return await body(c); } finally { c.close(); }
}
