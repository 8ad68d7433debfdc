// HTTP/2 upstream session pool, one per host (RFC 9113 over node:http2 client sessions): requests
// are multiplexed on a session up to min(our max_concurrent_streams, the peer's
// SETTINGS_MAX_CONCURRENT_STREAMS); a new session opens when every session is full (bounded by
// circuit_breakers max_connections, waiters bounded by max_pending_requests). A GOAWAY drains a
// session (no new streams; streams above its last-stream-id come back as refused), as do
// max_requests_per_connection and host removal; idle sessions close after idle_timeout.
// Requests and responses are translated to and from the HTTP/1.1 shapes the router uses.

import http2 from 'node:http2';
import type net from 'node:net';
import type { Cluster } from '../cluster/cluster.js';
import type { Host } from '../cluster/host.js';
import type { MessageHead } from '../codec/http1/parser.js';
import { openUpstreamSocket } from './connect.js';
import { poolFor } from './http1-pool.js';
import type {
  PoolFailure, PoolWaiter, UpstreamPool, UpstreamRequest, UpstreamRequestSource, UpstreamResponseHandler,
} from './upstream.js';

const {
  NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM, NGHTTP2_FLAG_END_STREAM,
} = http2.constants;

/** Request fields that are connection-specific in HTTP/2 (RFC 9113 §8.2.2) and never sent. */
function isConnectionSpecific(name: string): boolean {
  switch (name) {
    case 'connection': case 'keep-alive': case 'proxy-connection': case 'transfer-encoding': case 'upgrade':
    case 'http2-settings': case 'host':
      return true;
    default:
      return false;
  }
}

/** HTTP/1.1-shaped request → HTTP/2 header object (`host` → `:authority`, repeated fields as arrays). */
export function toHttp2RequestHeaders(src: UpstreamRequestSource, scheme: string): http2.OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = Object.create(null);
  const hs = src.upstreamHeaders;
  let authority = '';
  for (let i = 0; i < hs.length; i += 2) {
    const name = hs[i]!;
    const value = hs[i + 1]!;
    if (name === 'host') { if (authority === '') authority = value; continue; }
    if (isConnectionSpecific(name)) continue;
    if (name === 'te' && value !== 'trailers') continue;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  out[':method'] = src.upstreamMethod;
  out[':path'] = src.upstreamPath;
  out[':scheme'] = scheme;
  if (authority !== '') out[':authority'] = authority;
  return out;
}

/** HTTP/2 header object → flat [name, value, ...] without pseudo-headers. */
export function flattenHttp2Headers(h: http2.IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const name of Object.keys(h)) {
    if (name.charCodeAt(0) === 58 /* : */) continue;
    const v = h[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push(name, x);
    else out.push(name, String(v));
  }
  return out;
}

/** Flat trailer list → HTTP/2 header object. */
function trailersObject(t: readonly string[] | null): http2.OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = Object.create(null);
  if (t === null) return out;
  for (let i = 0; i < t.length; i += 2) {
    const name = t[i]!;
    if (isConnectionSpecific(name) || name === 'content-length') continue;
    const prev = out[name];
    if (prev === undefined) out[name] = t[i + 1]!;
    else if (Array.isArray(prev)) prev.push(t[i + 1]!);
    else out[name] = [prev, t[i + 1]!];
  }
  return out;
}

/** One request on an HTTP/2 session: a reserved stream slot until sendHead opens the stream. */
export class Http2UpstreamStream implements UpstreamRequest {
  readonly protocol = 'HTTP/2' as const;
  private stream: http2.ClientHttp2Stream | null = null;
  private handler: UpstreamResponseHandler | null = null;
  private slotHeld = true;
  private requestEnded = false;
  private requestTrailers: string[] | null = null;
  private responseTrailers: string[] | null = null;
  private responded = false;

  constructor(readonly session: Http2Session) {}

  get closed(): boolean { return this.session.closed || (this.stream !== null && this.stream.destroyed); }

  begin(handler: UpstreamResponseHandler): void { this.handler = handler; }

  sendHead(src: UpstreamRequestSource, endStream: boolean): void {
    const headers = toHttp2RequestHeaders(src, this.session.scheme);
    let st: http2.ClientHttp2Stream;
    try {
      st = this.session.session!.request(headers, { endStream, waitForTrailers: !endStream });
    } catch (err) {
      // The session started closing (GOAWAY) between acquire and now: nothing reached the upstream.
      this.releaseSlot();
      const h = this.handler;
      this.handler = null;
      queueMicrotask(() => h?.onResponseReset('refused', (err as Error).message));
      return;
    }
    this.stream = st;
    this.requestEnded = endStream;
    st.on('response', (h, flags) => this.onResponse(h, flags));
    st.on('data', (chunk: Buffer) => {
      const hd = this.handler;
      if (hd === null) return;
      hd.onResponseData(chunk);
      hd.onUpstreamReadEnd();
    });
    st.on('trailers', (h) => { this.responseTrailers = flattenHttp2Headers(h); });
    st.on('end', () => this.onEnd());
    st.on('wantTrailers', () => { st.sendTrailers(trailersObject(this.requestTrailers)); });
    st.on('drain', () => this.handler?.onUpstreamDrain());
    st.on('error', () => { /* 'close' follows and reports */ });
    st.on('close', () => this.onClose(st));
  }

  private onResponse(h: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader, flags: number): void {
    const hd = this.handler;
    if (hd === null) return;
    this.responded = true;
    const headers = flattenHttp2Headers(h);
    const ended = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    let contentLength = -1;
    const cl = h['content-length'];
    if (ended) contentLength = 0;
    else if (typeof cl === 'string' && /^\d+$/.test(cl)) contentLength = Number(cl);
    const head: MessageHead = {
      method: '', url: '', statusCode: h[':status'] ?? 0, reason: '', versionMinor: 1, headers, contentLength,
      chunked: contentLength < 0, keepAlive: true, upgrade: null, expectContinue: false, headBytes: 0,
    };
    hd.onResponseHead(head);
    // A head with END_STREAM (a gRPC trailers-only reply) is the whole response: complete it now,
    // so that the downstream can send it as one HEADERS frame with END_STREAM too.
    if (ended) this.onEnd();
    else this.handler?.onUpstreamReadEnd();
  }

  private onEnd(): void {
    const hd = this.handler;
    this.handler = null;
    if (hd === null) return;
    if (!this.responded) { hd.onResponseReset('protocol', 'stream ended without a response'); return; }
    // A complete response ends the exchange; a request still being sent is cut short cleanly.
    const st = this.stream;
    if (!this.requestEnded && st !== null && !st.closed) st.close(NGHTTP2_NO_ERROR);
    hd.onResponseComplete(this.responseTrailers);
  }

  private onClose(st: http2.ClientHttp2Stream): void {
    this.releaseSlot();
    const hd = this.handler;
    this.handler = null;
    if (hd === null) return;
    const refused = !this.responded && (st.rstCode === NGHTTP2_REFUSED_STREAM || this.session.refusedAbove(st.id));
    hd.onResponseReset(refused ? 'refused' : 'reset', refused ? 'remote refused stream reset' : `stream reset (code ${st.rstCode ?? 0})`);
  }

  sendData(chunk: Buffer): boolean {
    const st = this.stream;
    if (st === null || st.destroyed) return true;
    return st.write(chunk);
  }

  sendEnd(trailers: string[] | null): void {
    this.requestTrailers = trailers;
    this.requestEnded = true;
    const st = this.stream;
    if (st !== null && !st.destroyed) st.end();
  }

  abort(): void {
    this.handler = null;
    const st = this.stream;
    if (st === null) { this.releaseSlot(); return; }
    if (!st.closed && !st.destroyed) st.close(NGHTTP2_CANCEL);
  }

  pauseReading(): void { this.stream?.pause(); }
  resumeReading(): void { if (this.stream !== null && !this.stream.destroyed) this.stream.resume(); }
  markReadRetained(): void { /* node:http2 hands out fresh buffers */ }
  cork(): void { /* frames are batched by the session */ }
  uncork(): void { /* idem */ }

  /** Gives the stream slot back to the session (once). */
  releaseSlot(): void {
    if (!this.slotHeld) return;
    this.slotHeld = false;
    this.session.onStreamDone();
  }
}

/** One HTTP/2 connection to the host. */
export class Http2Session {
  session: http2.ClientHttp2Session | null = null;
  readonly socket: net.Socket;
  readonly scheme: 'http' | 'https';
  /** The peer's SETTINGS arrived: streams can be opened. */
  ready = false;
  closed = false;
  /** No new streams (GOAWAY, max requests, pool draining). */
  draining = false;
  /** Stream slots handed out and not yet finished. */
  active = 0;
  requests = 0;
  maxStreams: number;
  /** last-stream-id of a GOAWAY received; streams above it were not processed. */
  private goawayLastStreamId = -1;
  private connectTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly openedAt = performance.now();
  private localClose = false;

  constructor(readonly pool: Http2Pool) {
    const cluster = pool.cluster;
    const up = openUpstreamSocket(cluster, pool.host, { alpn: pool.auto ? ['h2', 'http/1.1'] : ['h2'] });
    this.socket = up.socket;
    this.scheme = up.readyEvent === 'secureConnect' ? 'https' : 'http';
    this.maxStreams = cluster.config.http2.maxConcurrentStreams;
    if (pool.auto && up.readyEvent === 'connect') {
      // auto_config over plaintext: no ALPN, so HTTP/1.1, as Envoy does.
      queueMicrotask(() => pool.fallBackToHttp1(this));
      return;
    }
    const onEarlyError = (e: Error): void => this.onConnectFailed('connect-failure', (e as NodeJS.ErrnoException).code ?? e.message);
    this.socket.once('error', onEarlyError);
    this.socket.once(up.readyEvent, () => {
      this.socket.off('error', onEarlyError);
      if (this.closed) return;
      if (pool.auto && (this.socket as net.Socket & { alpnProtocol?: string | false }).alpnProtocol !== 'h2') { pool.fallBackToHttp1(this); return; }
      this.startSession();
    });
    if (pool.connectTimeoutMs > 0) this.connectTimer = setTimeout(() => this.onConnectTimeout(), pool.connectTimeoutMs);
  }

  private startSession(): void {
    const h2 = this.pool.cluster.config.http2;
    const s = http2.connect(`${this.scheme}://${this.pool.host.key}`, {
      createConnection: () => this.socket,
      settings: { enablePush: false, initialWindowSize: h2.initialStreamWindowSize, headerTableSize: h2.hpackTableSize },
      // Streams above the peer's limit are held by nghttp2 rather than refused; the pool never goes above it.
      peerMaxConcurrentStreams: Math.min(h2.maxConcurrentStreams, 1000),
      maxSessionMemory: 64,
    });
    this.session = s;
    s.on('connect', () => {
      try { s.setLocalWindowSize(h2.initialConnectionWindowSize); } catch { /* older peers: keep the default */ }
    });
    s.on('remoteSettings', (settings) => {
      const peer = settings.maxConcurrentStreams ?? 0xffffffff;
      this.maxStreams = Math.max(1, Math.min(h2.maxConcurrentStreams, peer));
      if (!this.ready) {
        this.ready = true;
        if (this.connectTimer) { clearTimeout(this.connectTimer); this.connectTimer = null; }
        const cs = this.pool.cluster.stats;
        cs.upstream_cx_connect_ms.record(performance.now() - this.openedAt);
        this.pool.onReady(this);
      } else {
        this.pool.dispatch();
      }
    });
    s.on('goaway', (_code: number, lastStreamId: number) => {
      this.goawayLastStreamId = lastStreamId;
      this.startDraining();
    });
    s.on('error', (e: Error) => {
      if (!this.ready) this.onConnectFailed('connect-failure', (e as NodeJS.ErrnoException).code ?? e.message);
      else this.pool.cluster.stats.upstream_cx_protocol_error.inc();
    });
    s.on('close', () => this.onClosed());
  }

  /** Was stream `id` refused by a GOAWAY (above its last-stream-id)? */
  refusedAbove(id: number | undefined): boolean {
    return this.goawayLastStreamId >= 0 && id !== undefined && id > this.goawayLastStreamId;
  }

  get hasCapacity(): boolean {
    return this.ready && !this.draining && !this.closed && this.active < this.maxStreams;
  }

  /** Reserves a stream slot. */
  newStream(): Http2UpstreamStream {
    this.active++;
    this.requests++;
    if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = null; }
    if (this.active === 1) this.session?.ref();
    const max = this.pool.maxRequestsPerConnection;
    if (max > 0 && this.requests >= max) {
      this.pool.cluster.stats.upstream_cx_max_requests.inc();
      this.startDraining();
    }
    return new Http2UpstreamStream(this);
  }

  onStreamDone(): void {
    this.active--;
    if (this.closed) return;
    if (this.draining) {
      if (this.active === 0) this.close();
      return;
    }
    if (this.active === 0) this.armIdle();
    this.pool.dispatch();
  }

  /** No stream is open: the session does not keep the process alive and closes after idle_timeout. */
  armIdle(): void {
    this.session?.unref();
    const ms = this.pool.idleTimeoutMs;
    if (ms > 0 && this.idleTimer === null) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = null;
        if (this.active > 0 || this.closed) return;
        this.pool.cluster.stats.upstream_cx_idle_timeout.inc();
        this.close();
      }, ms);
      this.idleTimer.unref();
    }
  }

  /** No new streams; closes once the open ones finish. */
  startDraining(): void {
    if (this.draining) return;
    this.draining = true;
    this.pool.onDraining(this);
    if (this.active === 0) this.close();
  }

  /** Closes gracefully (GOAWAY from our side; open streams finish). */
  close(): void {
    if (this.closed) return;
    this.localClose = true;
    if (this.session !== null && !this.session.closed) this.session.close();
    else if (this.session === null) this.destroy();
  }

  destroy(): void {
    if (this.session !== null) this.session.destroy();
    else { this.socket.destroy(); this.onClosed(); }
  }

  private onConnectTimeout(): void {
    this.connectTimer = null;
    if (this.ready || this.closed) return;
    this.pool.cluster.stats.upstream_cx_connect_timeout.inc();
    this.onConnectFailed('connect-timeout', 'connect timeout');
  }

  private onConnectFailed(reason: PoolFailure, detail: string): void {
    if (this.ready || this.closed) return;
    if (reason === 'connect-failure') {
      this.pool.cluster.stats.upstream_cx_connect_fail.inc();
      this.pool.host.stats.cxConnectFail++;
    }
    this.pool.onConnectFailed(this, reason, detail);
    this.destroy();
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.connectTimer) { clearTimeout(this.connectTimer); this.connectTimer = null; }
    if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = null; }
    const cs = this.pool.cluster.stats;
    cs.upstream_cx_rx_bytes_total.add(this.socket.bytesRead);
    cs.upstream_cx_tx_bytes_total.add(this.socket.bytesWritten);
    if (this.ready) {
      // A connection that never came up is a connect failure, not a destroyed connection.
      if (this.active > 0) cs.upstream_cx_destroy_with_active_rq.inc();
      if (this.localClose) cs.upstream_cx_destroy_local.inc();
      else cs.upstream_cx_destroy_remote.inc();
      cs.upstream_cx_length_ms.record(performance.now() - this.openedAt);
    }
    this.pool.onClosed(this);
  }
}

/**
 * The HTTP/2 sessions to one host. `acquire` returns a stream slot on a session with room, or
 * queues the waiter while a session connects.
 */
export class Http2Pool implements UpstreamPool {
  private readonly sessions: Http2Session[] = [];
  private readonly waiting: PoolWaiter[] = [];
  private connecting = 0;
  private draining = false;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxRequestsPerConnection: number;
  /** auto_config: ALPN decides; a host that does not negotiate h2 (or plaintext) goes to the HTTP/1.1 pool. */
  readonly auto: boolean;
  private http1Fallback = false;

  constructor(readonly cluster: Cluster, readonly host: Host) {
    const cfg = cluster.config;
    this.connectTimeoutMs = cfg.connectTimeoutMs;
    this.idleTimeoutMs = cfg.connectionPool.idleTimeoutMs;
    this.maxRequestsPerConnection = cfg.connectionPool.maxRequestsPerConnection;
    this.auto = cfg.upstreamProtocol === 'AUTO';
  }

  /** auto_config found this host speaks HTTP/1.1 only: later requests go straight to the HTTP/1.1 pool. */
  get usesHttp1(): boolean { return this.http1Fallback; }

  acquire(waiter: PoolWaiter): UpstreamRequest | null {
    if (this.http1Fallback) return poolFor(this.cluster, this.host).acquire(waiter);
    for (const s of this.sessions) if (s.hasCapacity) return s.newStream();
    const stats = this.cluster.stats;
    const limits = this.cluster.config.connectionPool;
    if (stats.upstream_rq_pending_active.value >= limits.maxPendingRequests) {
      stats.upstream_rq_pending_overflow.inc();
      waiter.onPoolFailure('overflow', 'pending requests overflow');
      return null;
    }
    stats.upstream_rq_pending_total.inc();
    stats.upstream_rq_pending_active.inc();
    this.waiting.push(waiter);
    this.maybeOpen();
    return null;
  }

  cancel(waiter: PoolWaiter): void {
    const i = this.waiting.indexOf(waiter);
    if (i >= 0) {
      this.waiting.splice(i, 1);
      this.cluster.stats.upstream_rq_pending_active.dec();
    } else if (this.http1Fallback) {
      poolFor(this.cluster, this.host).cancel(waiter);
    }
  }

  release(req: UpstreamRequest): void {
    if (req instanceof Http2UpstreamStream) req.releaseSlot();
    else poolFor(this.cluster, this.host).release(req);
  }

  /** Opens a session when the waiters exceed what the connecting sessions will take. */
  private maybeOpen(): void {
    if (this.draining || this.waiting.length === 0) return;
    const perSession = this.cluster.config.http2.maxConcurrentStreams;
    if (this.connecting * perSession >= this.waiting.length) return;
    const stats = this.cluster.stats;
    if (stats.upstream_cx_active.value >= this.cluster.config.connectionPool.maxConnections) {
      stats.upstream_cx_overflow.inc();
      return;
    }
    this.connecting++;
    stats.upstream_cx_total.inc();
    stats.upstream_cx_active.inc();
    this.host.stats.cxTotal++;
    this.host.stats.cxActive++;
    this.sessions.push(new Http2Session(this));
  }

  /** Hands waiters to sessions with room; opens another session for the rest. */
  dispatch(): void {
    const stats = this.cluster.stats;
    while (this.waiting.length > 0) {
      let s: Http2Session | undefined;
      for (const c of this.sessions) if (c.hasCapacity) { s = c; break; }
      if (s === undefined) break;
      const w = this.waiting.shift()!;
      stats.upstream_rq_pending_active.dec();
      w.onPoolReady(s.newStream());
    }
    this.maybeOpen();
  }

  onReady(s: Http2Session): void {
    this.connecting--;
    this.cluster.stats.upstream_cx_http2_total.inc();
    this.dispatch();
    if (s.active === 0 && !s.draining) s.armIdle();
  }

  onDraining(_s: Http2Session): void {
    this.dispatch();
  }

  onConnectFailed(s: Http2Session, reason: PoolFailure, detail: string): void {
    this.connecting--;
    this.remove(s);
    // Every waiter beyond what the remaining connecting sessions can take fails.
    const perSession = this.cluster.config.http2.maxConcurrentStreams;
    const stats = this.cluster.stats;
    while (this.waiting.length > 0 && this.waiting.length > this.connecting * perSession) {
      const w = this.waiting.shift()!;
      stats.upstream_rq_pending_active.dec();
      w.onPoolFailure(reason, detail);
    }
  }

  onClosed(s: Http2Session): void {
    if (!s.ready && this.sessions.includes(s)) this.connecting--;
    if (!this.remove(s)) return;
    this.cluster.stats.upstream_cx_destroy.inc();
    this.dispatch();
  }

  private remove(s: Http2Session): boolean {
    const i = this.sessions.indexOf(s);
    if (i < 0) return false;
    this.sessions.splice(i, 1);
    this.cluster.stats.upstream_cx_active.dec();
    this.host.stats.cxActive--;
    return true;
  }

  /** auto_config without h2: the session's waiters and later requests use the HTTP/1.1 pool. */
  fallBackToHttp1(s: Http2Session): void {
    this.http1Fallback = true;
    this.connecting--;
    this.remove(s);
    s.socket.destroy();
    const h1 = poolFor(this.cluster, this.host);
    const stats = this.cluster.stats;
    for (const w of this.waiting.splice(0)) {
      stats.upstream_rq_pending_active.dec();
      const c = h1.acquire(w);
      if (c !== null) w.onPoolReady(c);
    }
  }

  /** Closes idle sessions now and busy ones as their streams finish. */
  drain(): void {
    this.draining = true;
    for (const s of [...this.sessions]) s.startDraining();
  }

  /** Closes everything at once; waiters fail. */
  close(): void {
    this.draining = true;
    for (const w of this.waiting.splice(0)) {
      this.cluster.stats.upstream_rq_pending_active.dec();
      w.onPoolFailure('connect-failure', 'pool closed');
    }
    for (const s of [...this.sessions]) s.destroy();
  }

  get size(): number { return this.sessions.length; }
}

const pools = new WeakMap<Host, Http2Pool>();
const watched = new WeakSet<Cluster>();

/** The HTTP/2 pool of a host, created on first use. Hosts that leave the cluster get their pool drained. */
export function http2PoolFor(cluster: Cluster, host: Host): Http2Pool {
  let p = pools.get(host);
  if (p === undefined || p.cluster !== cluster) {
    p = new Http2Pool(cluster, host);
    pools.set(host, p);
    if (!watched.has(cluster)) {
      watched.add(cluster);
      cluster.onHostsChanged((_added, removed) => { for (const h of removed) pools.get(h)?.drain(); });
    }
  }
  return p;
}

/**
 * The pool a request goes to: HTTP/2 for explicit HTTP/2, for use_downstream_protocol_config when
 * the downstream request is HTTP/2, and for auto_config (which falls back to HTTP/1.1 per host);
 * HTTP/1.1 otherwise, and always for upgrade requests (WebSocket over HTTP/2 needs extended CONNECT).
 */
export function upstreamPoolFor(cluster: Cluster, host: Host, downstreamProtocol: string, upgrade: boolean): UpstreamPool {
  const proto = cluster.config.upstreamProtocol;
  if (proto === 'HTTP1' || upgrade || (proto === 'USE_DOWNSTREAM' && downstreamProtocol !== 'HTTP/2')) return poolFor(cluster, host);
  const p = http2PoolFor(cluster, host);
  return p.usesHttp1 ? poolFor(cluster, host) : p;
}
