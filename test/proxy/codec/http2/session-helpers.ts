// Test helpers for Weft's own HTTP/2 session (src/proxy/codec/http2/session.ts): default
// options, a net server whose connections become server sessions, a client session on a fresh
// TCP connection, and a stream handler that records what arrives.

import net from 'node:net';
import type { TestContext } from 'node:test';
import { createH2Session } from '../../../../src/proxy/codec/http2/session.js';
import type {
  H2FloodKind, H2Session, H2SessionHandler, H2SessionOptions, H2Stream, H2StreamHandler, H2StreamRefusal,
} from '../../../../src/proxy/codec/http2/types.js';

export const LIMITS: H2SessionOptions['limits'] = {
  maxOutboundFrames: 10_000, maxOutboundControlFrames: 1000, maxConsecutiveInboundFramesWithEmptyPayload: 1,
  maxInboundPriorityFramesPerStream: 100, maxInboundWindowUpdateFramesPerDataFrameSent: 10,
};

export function sessionOptions(role: 'server' | 'client', o: { settings?: Partial<H2SessionOptions['settings']>; limits?: Partial<H2SessionOptions['limits']>; connectionWindowSize?: number; streamBufferLimit?: number; drainTimeoutMs?: number } = {}): H2SessionOptions {
  return {
    role,
    settings: {
      headerTableSize: 4096, maxConcurrentStreams: 100, initialWindowSize: 65_535, maxFrameSize: 16_384,
      maxHeaderListSize: 64 * 1024, enableConnectProtocol: false, ...o.settings,
    },
    connectionWindowSize: o.connectionWindowSize ?? 1 << 20,
    limits: { ...LIMITS, ...o.limits },
    streamBufferLimit: o.streamBufferLimit ?? 1 << 20,
    ...(o.drainTimeoutMs !== undefined ? { drainTimeoutMs: o.drainTimeoutMs } : {}),
  };
}

/** What a server session reported, for assertions. */
export interface ServerEvents {
  sessions: H2Session[];
  refused: H2StreamRefusal[];
  floods: H2FloodKind[];
  protocolErrors: Array<{ code: number; detail: string }>;
  closes: number;
  priorities: number;
  goaways: Array<{ code: number; last: number }>;
}

export interface TestServer {
  port: number;
  events: ServerEvents;
  server: net.Server;
}

/**
 * A server whose connections become H2 server sessions; `onStream` handles each stream (sets its
 * handler). Closed after the test (sessions destroyed).
 */
export async function startH2Server(
  t: TestContext,
  onStream: (stream: H2Stream, headers: string[], endStream: boolean, session: H2Session) => void,
  opts: Parameters<typeof sessionOptions>[1] = {},
  extra: Partial<H2SessionHandler> = {},
): Promise<TestServer> {
  const events: ServerEvents = { sessions: [], refused: [], floods: [], protocolErrors: [], closes: 0, priorities: 0, goaways: [] };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    let session: H2Session;
    const handler: H2SessionHandler = {
      ...extra,
      onStream: (st, h, end) => onStream(st, h, end, session),
      onStreamRefused: (r) => { events.refused.push(r); extra.onStreamRefused?.(r); },
      onFlood: (k) => { events.floods.push(k); extra.onFlood?.(k); },
      onProtocolError: (code, detail) => { events.protocolErrors.push({ code, detail }); extra.onProtocolError?.(code, detail); },
      onPriority: () => { events.priorities++; },
      onGoaway: (code, last) => { events.goaways.push({ code, last }); },
      onClose: () => { events.closes++; extra.onClose?.(); },
    };
    session = createH2Session(sock, sessionOptions('server', opts), handler);
    events.sessions.push(session);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as net.AddressInfo).port, events, server };
}

/** Records a stream's events. */
export class Recorder implements H2StreamHandler {
  heads: Array<{ headers: string[]; endStream: boolean; trailers: boolean }> = [];
  chunks: Buffer[] = [];
  ended = false;
  reset: { code: number; remote: boolean } | null = null;
  closed = false;
  drains = 0;
  private waiters: Array<() => void> = [];
  constructor(private readonly onEvent?: (r: Recorder) => void) {}
  private wake(): void { for (const w of this.waiters.splice(0)) w(); this.onEvent?.(this); }
  onHeaders(headers: string[], endStream: boolean, trailers: boolean): void { this.heads.push({ headers, endStream, trailers }); if (endStream) this.ended = true; this.wake(); }
  onData(chunk: Buffer, endStream: boolean): void { this.chunks.push(Buffer.from(chunk)); if (endStream) this.ended = true; this.wake(); }
  onReset(code: number, remote: boolean): void { this.reset = { code, remote }; this.wake(); }
  onDrain(): void { this.drains++; this.wake(); }
  onClose(): void { this.closed = true; this.wake(); }
  get body(): Buffer { return Buffer.concat(this.chunks); }
  /** Resolves once the stream ended (END_STREAM received) or was reset. */
  done(timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => { if (this.ended || this.reset !== null) { clearTimeout(timer); resolve(); } else this.waiters.push(check); };
      const timer = setTimeout(() => reject(new Error('stream did not end')), timeoutMs);
      check();
    });
  }
}

/** The value of `name` in a flat field list. */
export function field(h: readonly string[], name: string): string | undefined {
  for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
  return undefined;
}

export interface TestClient {
  session: H2Session;
  socket: net.Socket;
  closes: number;
  goaways: Array<{ code: number; last: number }>;
  ready: Promise<void>;
  closed: Promise<void>;
}

/** A client session on a new TCP connection to `port`; `ready` resolves on the server's first SETTINGS. Destroyed after the test. */
export async function connectClient(t: TestContext, port: number, opts: Parameters<typeof sessionOptions>[1] = {}, extra: Partial<H2SessionHandler> = {}): Promise<TestClient> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  let onReady!: () => void, onClosed!: () => void;
  const ready = new Promise<void>((r) => { onReady = r; });
  const closed = new Promise<void>((r) => { onClosed = r; });
  const c: TestClient = { session: null as unknown as H2Session, socket, closes: 0, goaways: [], ready, closed };
  c.session = createH2Session(socket, sessionOptions('client', opts), {
    ...extra,
    onRemoteSettings: (s, first) => { if (first) onReady(); extra.onRemoteSettings?.(s, first); },
    onGoaway: (code, last) => { c.goaways.push({ code, last }); extra.onGoaway?.(code, last); },
    onClose: () => { c.closes++; onClosed(); extra.onClose?.(); },
  });
  t.after(() => { c.session.destroy(); socket.destroy(); });
  return c;
}
