// HTTP/2 upstream session pool, one per host (RFC 9113 on Weft's own HTTP/2 codec,
// src/proxy/codec/http2/session.ts, in the client role): requests are multiplexed on a session up
// to min(our max_concurrent_streams, the peer's SETTINGS_MAX_CONCURRENT_STREAMS); a new session
// opens when every session is full (bounded by circuit_breakers max_connections, waiters bounded by
// max_pending_requests). A GOAWAY drains a session (no new streams; streams above its
// last-stream-id come back as refused, so the router can retry them), as do
// max_requests_per_connection and host removal; idle sessions close after idle_timeout. One
// request is an Http2UpstreamStream (http2-upstream-stream.ts).

import type net from 'node:net';
import type { Cluster } from '../cluster/cluster.js';
import type { Host } from '../cluster/host.js';
import { DEFAULT_MAX_FRAME_SIZE } from '../codec/http2/constants.js';
import { createH2Session } from '../codec/http2/session.js';
import type { H2FloodKind, H2RemoteSettings, H2Session, H2SessionHandler, H2SessionOptions } from '../codec/http2/types.js';
import { openUpstreamSocket } from './connect.js';
import { alpnCodec } from '../tls/alpn.js';
import { poolFor } from './http1-pool.js';
import { http2UpstreamStats, type Http2UpstreamStats } from './http2-pool-stats.js';
import { Http2UpstreamStream } from './http2-upstream-stream.js';
import type { PoolFailure, PoolWaiter, UpstreamPool, UpstreamRequest } from './upstream.js';

export { Http2UpstreamStream, requestFields } from './http2-upstream-stream.js';

/** Envoy's default max_headers_count, for responses too (as the HTTP/1.1 pool). */
const DEFAULT_MAX_RESPONSE_HEADERS = 100;
/** SETTINGS_MAX_HEADER_LIST_SIZE we send: the HTTP/1.1 pool's response head limit, 96 KiB. */
const MAX_RESPONSE_HEADER_LIST_SIZE = 96 * 1024;

/** The session options of a cluster (built once per pool). */
function sessionOptions(cluster: Cluster): H2SessionOptions {
  const h2 = cluster.config.http2;
  return {
    role: 'client',
    settings: {
      headerTableSize: h2.hpackTableSize,
      maxConcurrentStreams: h2.maxConcurrentStreams,
      initialWindowSize: h2.initialStreamWindowSize,
      maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
      maxHeaderListSize: MAX_RESPONSE_HEADER_LIST_SIZE,
      enableConnectProtocol: false,
    },
    connectionWindowSize: h2.initialConnectionWindowSize,
    // Envoy's flood protections apply to upstream connections too (the cluster's http2_protocol_options).
    limits: {
      maxOutboundFrames: h2.maxOutboundFrames,
      maxOutboundControlFrames: h2.maxOutboundControlFrames,
      maxConsecutiveInboundFramesWithEmptyPayload: h2.maxConsecutiveInboundFramesWithEmptyPayload,
      maxInboundPriorityFramesPerStream: h2.maxInboundPriorityFramesPerStream,
      maxInboundWindowUpdateFramesPerDataFrameSent: h2.maxInboundWindowUpdateFramesPerDataFrameSent,
    },
    streamBufferLimit: cluster.config.perConnectionBufferLimitBytes,
  };
}

const ignore = (): void => { /* the session reports socket errors through onClose */ };

/** One HTTP/2 connection to the host. */
export class Http2Session implements H2SessionHandler {
  h2: H2Session | null = null;
  readonly socket: net.Socket;
  readonly scheme: 'http' | 'https';
  readonly stats: Http2UpstreamStats;
  /** The peer's SETTINGS arrived: streams can be opened. */
  ready = false;
  closed = false;
  /** No new streams (GOAWAY, max requests, pool draining). */
  draining = false;
  /** Stream slots handed out and not yet finished. */
  active = 0;
  requests = 0;
  maxStreams: number;
  /** Streams with response events in the current read (told about its end by onReadEnd). */
  private readonly touched: Http2UpstreamStream[] = [];
  private connectTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly openedAt = performance.now();
  private localClose = false;
  /** The session ended on a protocol error or a flood (its streams are upstream protocol errors). */
  protocolError = false;
  /** Stream slots in use when the connection started to go away (before the session reset them). */
  private activeAtEnd = -1;

  constructor(readonly pool: Http2Pool) {
    const cluster = pool.cluster;
    this.stats = pool.stats;
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
      // istio-h2 (Istio's mesh marker, src/proxy/tls/alpn.ts) stands for h2.
      if (pool.auto && alpnCodec((this.socket as net.Socket & { alpnProtocol?: string | false }).alpnProtocol || null) !== 'h2') { pool.fallBackToHttp1(this); return; }
      this.startSession();
    });
    if (pool.connectTimeoutMs > 0) this.connectTimer = setTimeout(() => this.onConnectTimeout(), pool.connectTimeoutMs);
  }

  private startSession(): void {
    const sock = this.socket;
    // Registered before the session's own listeners: the slots in use when the peer goes away.
    sock.on('error', ignore);
    sock.once('close', () => {
      this.markEnding();
      // The session reports its end through onClose; this only guards against a missed one.
      setImmediate(() => this.onClosed());
    });
    sock.once('end', () => this.markEnding());
    this.h2 = createH2Session(sock, this.pool.sessionOptions, this);
  }

  // ─────────────────────────── H2SessionHandler ───────────────────────────

  onRemoteSettings(settings: H2RemoteSettings, first: boolean): void {
    const peer = settings.maxConcurrentStreams;
    this.maxStreams = Math.max(1, Math.min(this.pool.cluster.config.http2.maxConcurrentStreams, peer));
    if (!first && this.ready) { this.pool.dispatch(); return; }
    if (this.ready) return;
    this.ready = true;
    if (this.connectTimer) { clearTimeout(this.connectTimer); this.connectTimer = null; }
    this.pool.cluster.stats.upstream_cx_connect_ms.record(performance.now() - this.openedAt);
    this.pool.onReady(this);
  }

  onGoaway(_code: number, _lastStreamId: number): void {
    // Streams above lastStreamId were already reset with REFUSED_STREAM (reported as refused).
    this.startDraining();
  }

  onReadEnd(): void {
    const t = this.touched;
    if (t.length === 0) return;
    for (let i = 0; i < t.length; i++) {
      const s = t[i]!;
      s.touched = false;
      s.readEnd();
    }
    t.length = 0;
  }

  onProtocolError(_code: number, detail: string): void {
    this.markEnding();
    this.protocolError = true;
    // The session sends its GOAWAY and closes by itself.
    if (!this.ready) this.onConnectFailed('connect-failure', `protocol error: ${detail}`, false);
    else this.pool.cluster.stats.upstream_cx_protocol_error.inc();
  }

  onFlood(kind: H2FloodKind): void {
    this.markEnding();
    this.protocolError = true;
    this.stats.flood(kind).inc();
    this.pool.cluster.stats.upstream_cx_protocol_error.inc();
  }

  onClose(): void { this.onClosed(); }

  // ─────────────────────────── streams ───────────────────────────

  /** `s` had response events in this read: tell it when the read is over. */
  touch(s: Http2UpstreamStream): void {
    if (s.touched) return;
    s.touched = true;
    this.touched.push(s);
  }

  get hasCapacity(): boolean {
    return this.ready && !this.draining && !this.closed && this.active < this.maxStreams && this.h2 !== null && this.h2.canOpenStream;
  }

  /** Reserves a stream slot. */
  newStream(): Http2UpstreamStream {
    this.active++;
    this.requests++;
    if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = null; }
    if (this.active === 1) this.socket.ref();
    const max = this.pool.maxRequestsPerConnection;
    if (max > 0 && this.requests >= max) {
      this.pool.cluster.stats.upstream_cx_max_requests.inc();
      this.startDraining();
    }
    return new Http2UpstreamStream(this);
  }

  onStreamDone(): void {
    this.active--;
    if (this.closed || this.activeAtEnd >= 0) return;
    if (this.draining) {
      if (this.active === 0) this.close();
      return;
    }
    if (this.active === 0) this.armIdle();
    this.pool.dispatch();
  }

  /** No stream is open: the session does not keep the process alive and closes after idle_timeout. */
  armIdle(): void {
    this.socket.unref();
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
    if (this.h2 === null) this.destroy();
    else if (!this.h2.closed) this.h2.shutdown();
  }

  /** Closes at once (open streams are reset). */
  destroy(): void {
    this.markEnding();
    if (this.h2 !== null && !this.h2.closed) { this.localClose = true; this.h2.destroy(); return; }
    this.socket.destroy();
    this.onClosed();
  }

  private markEnding(): void {
    if (this.activeAtEnd < 0) this.activeAtEnd = this.active;
  }

  private onConnectTimeout(): void {
    this.connectTimer = null;
    if (this.ready || this.closed) return;
    this.pool.cluster.stats.upstream_cx_connect_timeout.inc();
    this.onConnectFailed('connect-timeout', 'connect timeout');
  }

  private onConnectFailed(reason: PoolFailure, detail: string, destroy = true): void {
    if (this.ready || this.closed) return;
    if (reason === 'connect-failure') {
      this.pool.cluster.stats.upstream_cx_connect_fail.inc();
      this.pool.host.stats.cxConnectFail++;
    }
    this.pool.onConnectFailed(this, reason, detail);
    if (destroy) this.destroy();
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.connectTimer) { clearTimeout(this.connectTimer); this.connectTimer = null; }
    if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = null; }
    if (!this.socket.destroyed) this.socket.destroy();
    const cs = this.pool.cluster.stats;
    cs.upstream_cx_rx_bytes_total.add(this.socket.bytesRead);
    cs.upstream_cx_tx_bytes_total.add(this.socket.bytesWritten);
    if (this.ready) {
      // A connection that never came up is a connect failure, not a destroyed connection.
      if (this.activeAtEnd > 0 || this.active > 0) cs.upstream_cx_destroy_with_active_rq.inc();
      if (this.localClose) cs.upstream_cx_destroy_local.inc();
      else cs.upstream_cx_destroy_remote.inc();
      cs.upstream_cx_length_ms.record(performance.now() - this.openedAt);
    }
    this.touched.length = 0;
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
  readonly stats: Http2UpstreamStats;
  readonly sessionOptions: H2SessionOptions;
  /** max_headers_count for responses (Envoy's default 100). */
  readonly maxResponseHeaders: number;

  constructor(readonly cluster: Cluster, readonly host: Host) {
    const cfg = cluster.config;
    this.stats = http2UpstreamStats(cluster);
    this.sessionOptions = sessionOptions(cluster);
    this.maxResponseHeaders = cfg.maxResponseHeadersCount ?? DEFAULT_MAX_RESPONSE_HEADERS;
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
