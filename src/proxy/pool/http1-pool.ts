// HTTP/1.1 upstream connection pool, one per host: keep-alive reuse (LIFO), a bounded number of
// connections per cluster (circuit_breakers max_connections), a pending queue
// (max_pending_requests), connect timeouts, idle timeouts and max requests per connection.
// Speaks HTTP/1.1 with the proxy's own codec on raw sockets. A response the request did not allow
// for (a 101 without an Upgrade request, more header fields than max_headers_count) is an upstream
// protocol error: the connection is closed, never reused.

import type net from 'node:net';
import { openUpstreamSocket } from './connect.js';
import type { Cluster } from '../cluster/cluster.js';
import type { Host } from '../cluster/host.js';
import { Http1Parser, type Http1ParserHandler, type MessageHead } from '../codec/http1/parser.js';
import type { Http1ParseError } from '../codec/http1/errors.js';
import { chunkHeader, LAST_CHUNK, trailersBlock } from '../codec/http1/serialize.js';
import type {
  PoolFailure, PoolWaiter, UpstreamPool, UpstreamRequest, UpstreamRequestSource, UpstreamResponseHandler,
} from './upstream.js';

export type { PoolFailure, PoolWaiter, UpstreamResponseHandler } from './upstream.js';

/** Size of each upstream connection's read buffer. */
const READ_BUFFER_SIZE = 64 * 1024;
/** Envoy's default max_headers_count, for responses too. */
const DEFAULT_MAX_RESPONSE_HEADERS = 100;

const NO_BODY_STATUS = (s: number) => s === 204 || s === 304 || (s >= 100 && s < 200);

export class UpstreamConnection implements Http1ParserHandler, UpstreamRequest {
  readonly protocol = 'HTTP/1.1' as const;
  readonly socket: net.Socket;
  readonly parser: Http1Parser;
  handler: UpstreamResponseHandler | null = null;
  /** Requests sent on this connection. */
  requests = 0;
  connected = false;
  closed = false;
  /** True once the current request has been fully written. */
  requestDone = true;
  /** The current request's body goes out with chunked framing. */
  private chunkedRequest = false;
  /** The current request asked to switch protocols (Upgrade): only then may a 101 come back. */
  private upgradeRequest = false;
  private responseKeepAlive = true;
  /** When the connection last became idle (performance.now()). */
  idleSince = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  /** The response head of the current request, for upgrade handling. */
  upgraded = false;
  private readBuf: Buffer | null = null;
  private readRetained = false;
  private pauseAfterRead = false;
  private readPaused = false;
  /** After an upgrade, where upstream bytes go (the tunnel). */
  private tunnelSink: ((d: Buffer) => void) | null = null;
  /** Plaintext sockets read through `onread`; TLS sockets emit 'data' (and pause/resume as streams). */
  private readonly usesOnread: boolean;

  private readonly nextReadBuffer = (): Buffer => {
    if (this.readBuf === null || this.readRetained) {
      this.readBuf = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
      this.readRetained = false;
    }
    return this.readBuf;
  };

  private readonly onRead = (n: number, buf: Uint8Array): boolean => {
    const d = (buf as Buffer).subarray(0, n);
    if (this.tunnelSink !== null) this.tunnelSink(d);
    else this.onSocketData(d);
    if (this.pauseAfterRead) {
      this.pauseAfterRead = false;
      this.readPaused = true;
      return false; // Node stops reading until resumeReading()
    }
    return true;
  };

  /** Something may still reference bytes of the current read buffer: do not reuse it. */
  markReadRetained(): void { this.readRetained = true; }

  /** Stops reading after the current read (backpressure from the client side). */
  pauseReading(): void {
    if (this.usesOnread) this.pauseAfterRead = true;
    else this.socket.pause();
  }

  resumeReading(): void {
    if (!this.usesOnread) { if (!this.socket.destroyed) this.socket.resume(); return; }
    this.pauseAfterRead = false;
    if (this.readPaused && !this.socket.destroyed) {
      this.readPaused = false;
      this.socket._read(0);
    }
  }

  constructor(readonly pool: Http1Pool) {
    const host = pool.host;
    this.parser = new Http1Parser('response', this, {
      maxHeaderBytes: 96 * 1024,
      maxHeadersCount: pool.cluster.config.maxResponseHeadersCount ?? DEFAULT_MAX_RESPONSE_HEADERS,
    });
    // Reads land in a per-connection buffer (no allocation and no Readable machinery per read).
    // Whenever a piece of it may still be referenced after the read (a queued write), the
    // connection switches to a fresh buffer: see markReadRetained().
    const up = openUpstreamSocket(pool.cluster, host, { alpn: ['http/1.1'], onread: { buffer: this.nextReadBuffer, callback: this.onRead } });
    this.socket = up.socket;
    this.usesOnread = up.readyEvent === 'connect';
    this.socket.on(up.readyEvent, () => this.onConnect());
    this.socket.on('data', (d: Buffer) => this.onSocketData(d));
    this.socket.on('end', () => this.onSocketEnd());
    this.socket.on('error', (e) => this.onSocketError(e));
    this.socket.on('close', () => this.onSocketClose());
    this.socket.on('drain', () => this.handler?.onUpstreamDrain());
    if (pool.connectTimeoutMs > 0) {
      this.connectTimer = setTimeout(() => this.onConnectTimeout(), pool.connectTimeoutMs);
    }
  }

  // ───── socket events ─────

  private onConnect(): void {
    this.connected = true;
    if (this.connectTimer) { clearTimeout(this.connectTimer); this.connectTimer = null; }
    this.pool.onConnected(this);
  }

  private onConnectTimeout(): void {
    this.connectTimer = null;
    if (this.connected || this.closed) return;
    this.pool.cluster.stats.upstream_cx_connect_timeout.inc();
    this.pool.onConnectFailed(this, 'connect-timeout', 'connect timeout');
    this.destroy();
  }

  private onSocketData(d: Buffer): void {
    this.pool.cluster.stats.upstream_cx_rx_bytes_total.add(d.length);
    if (this.upgraded) return; // the tunnel owner has taken the socket over
    if (this.handler === null) {
      // Bytes with no request outstanding: the server is misbehaving; drop the connection.
      this.destroy();
      return;
    }
    const h = this.handler;
    this.parser.execute(d);
    h.onUpstreamReadEnd();
  }

  private onSocketEnd(): void {
    if (this.upgraded) return;
    if (this.handler !== null) this.parser.finish();
    if (!this.closed) this.destroy();
  }

  private onSocketError(e: Error): void {
    if (!this.connected && !this.closed) {
      this.pool.cluster.stats.upstream_cx_connect_fail.inc();
      this.pool.host.stats.cxConnectFail++;
      this.pool.onConnectFailed(this, 'connect-failure', (e as NodeJS.ErrnoException).code ?? e.message);
    }
    // 'close' follows and does the rest.
  }

  private onSocketClose(): void {
    const wasClosed = this.closed;
    this.closed = true;
    if (this.connectTimer) { clearTimeout(this.connectTimer); this.connectTimer = null; }
    if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = null; }
    if (this.upgraded) return;
    const h = this.handler;
    this.handler = null;
    if (!wasClosed) this.pool.onClosed(this);
    else this.pool.forget(this);
    if (h !== null && this.connected) h.onResponseReset('reset', 'connection termination');
  }

  // ───── parser callbacks ─────

  onHead(head: MessageHead): boolean {
    this.responseKeepAlive = head.keepAlive;
    const h = this.handler;
    if (h === null) return true;
    if (head.statusCode === 101 && !this.upgradeRequest) {
      // RFC 9110 §15.2.2: a 101 only answers an Upgrade. What follows is not HTTP/1.1: a protocol
      // error (Envoy: 502, the connection closed), never a reusable connection.
      this.protocolError(h, 'unexpected 101 Switching Protocols (the request asked for no upgrade)');
      return true;
    }
    return h.onResponseHead(head) || NO_BODY_STATUS(head.statusCode);
  }
  onInformational(_head: MessageHead): void { /* 100 Continue and friends are answered locally */ }
  onData(chunk: Buffer): void { this.handler?.onResponseData(chunk); }
  onComplete(trailers: string[] | null): void {
    const h = this.handler;
    this.handler = null;
    if (h === null) return;
    if (!this.upgraded) {
      // Release before telling the stream, so a pipelined request can reuse this connection.
      if (this.responseKeepAlive && this.requestDone && !this.closed) this.pool.release(this);
      else this.destroy();
    }
    h.onResponseComplete(trailers);
  }
  onError(err: Http1ParseError): void {
    const h = this.handler;
    if (h === null) { this.destroy(); return; }
    this.protocolError(h, err.message);
  }

  /** The upstream broke HTTP/1.1: drop the connection and fail the exchange (502 UPE). */
  private protocolError(h: UpstreamResponseHandler, detail: string): void {
    this.handler = null;
    this.parser.discard();
    this.destroy();
    h.onResponseReset('protocol', detail);
  }

  // ───── used by the request attempt ─────

  /** Starts a request on this (idle, connected) connection. */
  begin(handler: UpstreamResponseHandler): void {
    this.handler = handler;
    this.requests++;
    this.requestDone = false;
    this.responseKeepAlive = true;
    // The idle timer stays armed; when it fires on a busy connection it re-arms (onIdleTimer).
  }

  /** Writes request bytes; returns false when the socket buffer is full (wait for onUpstreamDrain). */
  write(data: string | Buffer): boolean {
    const n = typeof data === 'string' ? data.length : data.length;
    this.pool.cluster.stats.upstream_cx_tx_bytes_total.add(n);
    return typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data);
  }

  /** The request has been written completely. */
  endRequest(): void {
    this.requestDone = true;
  }

  // ───── UpstreamRequest ─────

  sendHead(src: UpstreamRequestSource, endStream: boolean): void {
    this.chunkedRequest = src.requestChunked;
    this.upgradeRequest = src.upgrade != null;
    this.write(src.upstreamHead);
    if (endStream) this.requestDone = true;
  }

  sendData(chunk: Buffer): boolean {
    if (!this.chunkedRequest) return this.write(chunk);
    const sock = this.socket;
    sock.cork();
    this.write(chunkHeader(chunk.length));
    this.write(chunk);
    const ok = this.write('\r\n');
    sock.uncork();
    return ok;
  }

  sendEnd(trailers: string[] | null): void {
    if (this.chunkedRequest) this.write(trailers !== null && trailers.length > 0 ? trailersBlock(trailers) : LAST_CHUNK);
    this.requestDone = true;
  }

  cork(): void { this.socket.cork(); }
  uncork(): void { this.socket.uncork(); }

  /** Abandons the current request (timeout, downstream reset): the connection cannot be reused. */
  abort(): void {
    this.handler = null;
    this.destroy();
  }

  /** Hands the socket to a tunnel after a 101 response. The connection leaves the pool for good. */
  detachForUpgrade(): { socket: net.Socket; remaining: Buffer | null; connection: UpstreamConnection } {
    this.upgraded = true;
    this.handler = null;
    this.pool.forget(this);
    const remaining = this.parser.takeRemaining();
    if (remaining !== null) this.markReadRetained();
    return { socket: this.socket, remaining, connection: this };
  }

  /** Routes upstream bytes to a tunnel after an upgrade (reads no longer reach the parser). */
  setTunnelSink(sink: (d: Buffer) => void): void {
    this.tunnelSink = sink;
    // Plaintext reads reach the sink from onRead; a TLS socket has no onread, so it gets a 'data'
    // listener of its own (the tunnel owner removes the connection's listeners).
    if (!this.usesOnread) this.socket.on('data', sink);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.pool.onClosed(this);
    this.socket.destroy();
  }

  /** Marks the connection idle and arms its idle timer (lazily re-armed when it fires early). */
  markIdle(now: number): void {
    this.idleSince = now;
    const ms = this.pool.idleTimeoutMs;
    if (ms > 0 && this.idleTimer === null) {
      this.idleTimer = setTimeout(() => this.onIdleTimer(), ms);
      this.idleTimer.unref();
    }
  }

  private onIdleTimer(): void {
    this.idleTimer = null;
    if (this.closed) return;
    const ms = this.pool.idleTimeoutMs;
    const left = this.handler !== null ? ms : this.idleSince + ms - performance.now();
    if (left > 1) {
      this.idleTimer = setTimeout(() => this.onIdleTimer(), left);
      this.idleTimer.unref();
      return;
    }
    this.pool.cluster.stats.upstream_cx_idle_timeout.inc();
    this.destroy();
  }
}

/**
 * The connections to one host. Requests acquire an idle connection (most recently used first),
 * or wait while a new one connects, within the cluster's circuit-breaker limits.
 */
export class Http1Pool implements UpstreamPool {
  private readonly idle: UpstreamConnection[] = [];
  private readonly all = new Set<UpstreamConnection>();
  private readonly waiting: PoolWaiter[] = [];
  private connecting = 0;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  private readonly maxRequestsPerConnection: number;
  private draining = false;

  constructor(readonly cluster: Cluster, readonly host: Host) {
    const cfg = cluster.config;
    this.connectTimeoutMs = cfg.connectTimeoutMs;
    this.idleTimeoutMs = cfg.connectionPool.idleTimeoutMs;
    this.maxRequestsPerConnection = cfg.connectionPool.maxRequestsPerConnection;
  }

  /**
   * Returns an idle connection at once, or null after queueing the waiter (which then hears
   * onPoolReady or onPoolFailure). Overflow of the pending queue fails the waiter synchronously.
   */
  acquire(waiter: PoolWaiter): UpstreamConnection | null {
    const idle = this.idle;
    while (idle.length > 0) {
      const c = idle.pop()!;
      if (!c.closed) return c;
    }
    const stats = this.cluster.stats;
    const limits = this.cluster.config.connectionPool;
    if (stats.upstream_rq_pending_active.value >= limits.maxPendingRequests) {
      stats.upstream_rq_pending_overflow.inc();
      waiter.onPoolFailure('overflow', 'pending requests overflow');
      return null;
    }
    // Open a connection for this waiter unless enough are already on their way, within the
    // cluster's connection limit (upstream_cx_active counts connecting sockets too).
    if (this.connecting <= this.waiting.length) {
      if (stats.upstream_cx_active.value < limits.maxConnections) this.open();
      else stats.upstream_cx_overflow.inc();
    }
    stats.upstream_rq_pending_total.inc();
    stats.upstream_rq_pending_active.inc();
    this.waiting.push(waiter);
    return null;
  }

  /** Removes a waiter that gave up (timeout or downstream reset). */
  cancel(waiter: PoolWaiter): void {
    const i = this.waiting.indexOf(waiter);
    if (i >= 0) {
      this.waiting.splice(i, 1);
      this.cluster.stats.upstream_rq_pending_active.dec();
      // As Envoy's router cancels (CancelPolicy::CloseExcess): a connection still connecting
      // for a waiter that gave up is closed, so clients that vanish leave no connections behind.
      if (this.connecting > this.waiting.length) this.closeOneConnecting();
    }
  }

  private closeOneConnecting(): void {
    for (const c of this.all) {
      if (c.connected || c.closed) continue;
      this.doneConnecting();
      c.destroy();
      return;
    }
  }

  private open(): void {
    this.connecting++;
    const c = new UpstreamConnection(this);
    this.all.add(c);
    const stats = this.cluster.stats;
    stats.upstream_cx_total.inc();
    stats.upstream_cx_active.inc();
    this.host.stats.cxTotal++;
    this.host.stats.cxActive++;
  }

  private doneConnecting(): void {
    this.connecting--;
  }

  onConnected(c: UpstreamConnection): void {
    this.doneConnecting();
    this.release(c);
  }

  onConnectFailed(c: UpstreamConnection, reason: PoolFailure, detail: string): void {
    if (c.connected) return;
    this.doneConnecting();
    c.connected = true; // so later socket events do not count the failure twice
    c.closed = true;
    this.removeFromAll(c);
    c.socket.destroy();
    // Every waiter beyond what the remaining connecting sockets can serve fails.
    while (this.waiting.length > this.connecting) {
      const w = this.waiting.shift()!;
      this.cluster.stats.upstream_rq_pending_active.dec();
      w.onPoolFailure(reason, detail);
    }
  }

  /** A connection finished a request (or connected) and can serve the next one. */
  release(req: UpstreamRequest): void {
    const c = req as UpstreamConnection;
    if (c.closed) return;
    const spent = this.maxRequestsPerConnection > 0 && c.requests >= this.maxRequestsPerConnection;
    // A draining pool (its host left the cluster) still serves the requests already waiting for
    // it: they would otherwise wait forever; it closes each connection once nobody waits.
    if (spent || (this.draining && this.waiting.length === 0)) {
      if (spent && !this.draining) this.cluster.stats.upstream_cx_max_requests.inc();
      c.destroy();
      return;
    }
    const w = this.waiting.shift();
    if (w !== undefined) {
      this.cluster.stats.upstream_rq_pending_active.dec();
      w.onPoolReady(c);
      return;
    }
    this.idle.push(c);
    c.markIdle(performance.now());
  }

  onClosed(c: UpstreamConnection): void {
    if (!this.removeFromAll(c)) return;
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    const stats = this.cluster.stats;
    stats.upstream_cx_destroy.inc();
    // A waiter whose connection died before use gets a new attempt at connecting.
    if (this.waiting.length > this.connecting && !this.draining) {
      const limits = this.cluster.config.connectionPool;
      if (stats.upstream_cx_active.value < limits.maxConnections) this.open();
    }
    // Draining: no new connection; the waiters no connection is left for fail (and may be retried elsewhere).
    if (this.draining) {
      let usable = this.connecting;
      for (const o of this.all) if (o.connected && !o.closed) usable++;
      while (this.waiting.length > usable) {
        const w = this.waiting.shift()!;
        stats.upstream_rq_pending_active.dec();
        w.onPoolFailure('connect-failure', 'host removed from the cluster');
      }
    }
  }

  /** Stops tracking a connection without closing it (handed to a tunnel). */
  forget(c: UpstreamConnection): void {
    this.removeFromAll(c);
  }

  private removeFromAll(c: UpstreamConnection): boolean {
    if (!this.all.delete(c)) return false;
    this.cluster.stats.upstream_cx_active.dec();
    this.host.stats.cxActive--;
    return true;
  }

  /** Closes idle connections now and busy ones as they finish. */
  drain(): void {
    this.draining = true;
    for (const c of this.idle.splice(0)) c.destroy();
  }

  /** Closes everything at once; pending waiters fail. */
  close(): void {
    this.draining = true;
    for (const w of this.waiting.splice(0)) {
      this.cluster.stats.upstream_rq_pending_active.dec();
      w.onPoolFailure('connect-failure', 'pool closed');
    }
    for (const c of [...this.all]) c.destroy();
  }

  get size(): number { return this.all.size; }
  get idleCount(): number { return this.idle.length; }
}

const watched = new WeakSet<Cluster>();

/** The pool of a host, created on first use. Hosts that leave the cluster get their pool drained. */
export function poolFor(cluster: Cluster, host: Host): Http1Pool {
  let p = host.pool as Http1Pool | null;
  if (p === null || p.cluster !== cluster) {
    p = new Http1Pool(cluster, host);
    host.pool = p;
    if (!watched.has(cluster)) {
      watched.add(cluster);
      cluster.onHostsChanged((_added, removed) => { for (const h of removed) (h.pool as Http1Pool | null)?.drain(); });
    }
  }
  return p;
}
