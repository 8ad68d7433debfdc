// One downstream HTTP/2 connection (RFC 9113) on node:http2, and the per-stream codec that
// presents each HTTP/2 stream to an ActiveStream as the same MessageHead the HTTP/1.1 parser
// produces (http2-headers.ts). Flow control: a paused stream withholds its WINDOW_UPDATEs
// (node:http2 consumes stream data only while the stream is read), and a full stream write
// buffer pushes back on the upstream. Settings come from http2_protocol_options, with the edge
// defaults (100 streams, 64 KiB / 1 MiB windows). Envoy's protections: a client that goes away
// (FIN or reset, no GOAWAY) tears the session down with its streams and their upstream requests;
// premature resets (overload.premature_reset_*: a stream reset by the client within 1 s and before
// its response started) close the connection once at least 500 streams were seen and half were
// premature; a stream reset in the same read as its HEADERS never reaches the router (streams
// start on the next turn of the loop, as Envoy defers request processing to the next I/O cycle);
// the flood limits of http2-guard.ts; the stream idle timeout also covers a response stuck
// behind a closed flow-control window (http2.tx_flush_timeout).

import http2 from 'node:http2';
import type net from 'node:net';
import type { UpstreamConnection } from '../pool/http1-pool.js';
import type { CompiledHcm } from './hcm.js';
import { ActiveStream, type DownstreamCodec } from './stream.js';
import { formatAddress } from './http1-downstream.js';
import type { DownstreamConnectionHandle, HcmSlot } from '../listener/chain.js';
import { flattenHeaders, toHeaderObject, toMessageHead, type RequestLimits } from './http2-headers.js';
import { http2CodecStats, prematureResetCounter, type Http2CodecStats } from './http2-stats.js';
import { PriorityGuard, floodKind, invalidFrameBudget } from './http2-guard.js';

const {
  NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR, NGHTTP2_PROTOCOL_ERROR, NGHTTP2_FLAG_END_STREAM,
  NGHTTP2_ENHANCE_YOUR_CALM,
} = http2.constants;

/** The client connection preface (RFC 9113 §3.4). */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Envoy's overload.premature_reset_min_stream_lifetime_seconds default. */
const PREMATURE_RESET_MIN_LIFETIME_MS = 1000;
/** Envoy's overload.premature_reset_total_stream_count default. */
const PREMATURE_RESET_TOTAL_STREAMS = 500;

// ─────────────────────────── session factory ───────────────────────────

/** Per compiled connection manager: a never-listening http2 server that turns sockets into sessions, and the request limits. */
interface SessionFactory {
  readonly server: http2.Http2Server;
  readonly limits: RequestLimits;
}

const factories = new WeakMap<CompiledHcm, SessionFactory>();

function sessionFactory(hcm: CompiledHcm): SessionFactory {
  let f = factories.get(hcm);
  if (f === undefined) {
    const o = hcm.config.http2;
    const maxHeadersCount = hcm.config.maxHeadersCount;
    const server = http2.createServer({
      settings: {
        headerTableSize: o.hpackTableSize,
        enablePush: false,
        maxConcurrentStreams: o.maxConcurrentStreams,
        initialWindowSize: o.initialStreamWindowSize,
        maxHeaderListSize: hcm.maxHeaderBytes,
        // Extended CONNECT (RFC 8441) when websocket over HTTP/2 may be proxied.
        enableConnectProtocol: o.allowConnect || hcm.upgrades.has('websocket'),
      },
      // Request streams are bounded by their flow-control windows; the session's own
      // bookkeeping (HPACK tables, queued frames) by this many MB.
      maxSessionMemory: 64,
      // No pair limit of node:http2's own (maxHeaderListSize bounds the block): every oversized
      // request reaches the codec and is counted (http2.header_overflow).
      maxHeaderListPairs: 65535,
      // Streams refused for want of session memory before the connection is closed.
      maxSessionRejectedStreams: 100,
      // node:http2 counts empty DATA frames without END_STREAM as invalid frames (http2-guard.ts).
      maxSessionInvalidFrames: invalidFrameBudget(o),
    });
    f = { server, limits: { maxHeadersCount, underscores: hcm.config.headersWithUnderscoresAction } };
    factories.set(hcm, f);
  }
  return f;
}

// ─────────────────────────── the connection ───────────────────────────

export class Http2DownstreamConnection implements DownstreamConnectionHandle {
  readonly session: http2.ServerHttp2Session;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteAddressPort: string;
  readonly localAddress: string;
  readonly streams = new Set<Http2StreamCodec>();
  /** The connection manager the connection-level stats were counted on. */
  private readonly cxHcm: CompiledHcm;
  readonly codecStats: Http2CodecStats;
  readonly limits: RequestLimits;
  private closed = false;
  private draining = false;
  private idleTimer: NodeJS.Timeout | null = null;
  private idleSince = 0;
  /** Streams whose start waits for the end of the current read (a reset in the same read cancels it). */
  private pending: Http2StreamCodec[] = [];
  private startScheduled = false;
  /** Premature-reset accounting (Envoy's ConnectionManagerImpl): streams closed, and those reset early by the client. */
  private closedStreams = 0;
  private prematureResets = 0;
  private prematureCounted = false;
  private readonly priority: PriorityGuard;

  constructor(readonly socket: net.Socket, readonly slot: HcmSlot, readonly scheme: 'http' | 'https',
              readonly bufferLimit: number, private readonly onClose: (c: Http2DownstreamConnection) => void) {
    const hcm = slot.hcm;
    this.cxHcm = hcm;
    this.codecStats = http2CodecStats(hcm);
    const remote = socket.remoteAddress ?? '';
    this.remoteAddress = remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote;
    this.remotePort = socket.remotePort ?? 0;
    this.remoteAddressPort = formatAddress(this.remoteAddress, this.remotePort);
    this.localAddress = formatAddress(socket.localAddress ?? '', socket.localPort ?? 0);
    const stats = hcm.stats;
    stats.downstream_cx_total.inc();
    stats.downstream_cx_active.inc();
    stats.downstream_cx_http2_total.inc();
    stats.downstream_cx_http2_active.inc();
    socket.setNoDelay(true);
    socket.on('error', () => { /* the session closes */ });
    socket.on('close', () => this.onClosed());
    // The listener keeps sockets half-open (for the TCP proxy). An HTTP/2 client has nothing to
    // say after its FIN (no WINDOW_UPDATE, no GOAWAY): it is gone, and so are its streams.
    socket.on('end', () => this.destroy());

    const factory = sessionFactory(hcm);
    this.limits = factory.limits;
    this.priority = new PriorityGuard(hcm.config.http2.maxInboundPriorityFramesPerStream, this.codecStats, () => this.floodClose());
    const made: { session?: http2.ServerHttp2Session } = {};
    const take = (x: http2.ServerHttp2Session) => { made.session = x; };
    factory.server.once('session', take);
    // Bytes already read off the socket (protocol detection) are handed to the session too.
    factory.server.emit('connection', socket);
    factory.server.off('session', take);
    const s = made.session;
    if (s === undefined) throw new Error('node:http2 did not create a session');
    this.session = s;
    const windowSize = hcm.config.http2.initialConnectionWindowSize;
    if (windowSize > 65535) s.setLocalWindowSize(windowSize);
    // node:http2 passes the raw field list (repeated fields apart, in order) as a fourth argument.
    s.on('stream', ((h2s: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders?: string[]) =>
      this.onStream(h2s, headers, flags, rawHeaders)) as (h2s: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => void);
    s.on('error', (err: NodeJS.ErrnoException) => {
      const flood = floodKind(err);
      if (flood === 'outbound_control') this.codecStats.outbound_control_flood.inc();
      else if (flood === 'inbound_empty') this.codecStats.inbound_empty_frames_flood.inc();
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') this.cxHcm.stats.downstream_cx_protocol_error.inc();
    });
    s.on('frameError', () => { /* the stream is closed with an error */ });
    s.on('priority', this.priority.onPriority);
    s.on('close', () => this.onClosed());
    this.markIdle();
  }

  private onStream(h2s: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, raw: string[] | undefined): void {
    if (this.closed) { h2s.close(NGHTTP2_INTERNAL_ERROR); return; }
    const codec = new Http2StreamCodec(this, h2s, this.slot.hcm, raw ?? flattenHeaders(headers), (flags & NGHTTP2_FLAG_END_STREAM) !== 0);
    this.streams.add(codec);
    this.codecStats.streams_active.inc();
    this.priority.onStream();
    h2s.on('priority', this.priority.onPriority);
    this.pending.push(codec);
    if (!this.startScheduled) {
      this.startScheduled = true;
      setImmediate(this.startPending);
    }
  }

  /** Starts the streams opened during the last read, but not those the client reset meanwhile. */
  private readonly startPending = (): void => {
    this.startScheduled = false;
    const list = this.pending;
    this.pending = [];
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      if (!this.closed) c.start();
    }
  };

  /** A stream is over on the wire. `remoteReset`: the client reset it; `early`: within the premature-reset lifetime, before its response started. */
  streamClosed(codec: Http2StreamCodec, remoteReset: boolean, early: boolean): void {
    if (!this.streams.delete(codec)) return;
    this.codecStats.streams_active.dec();
    if (remoteReset) this.codecStats.rx_reset.inc();
    this.closedStreams++;
    if (remoteReset && early) this.prematureResets++;
    if (this.closedStreams >= PREMATURE_RESET_TOTAL_STREAMS && this.prematureResets * 2 >= this.closedStreams && !this.closed) {
      // Envoy's rapid-reset protection: GOAWAY and close.
      this.countPremature();
      this.closeWith(NGHTTP2_ENHANCE_YOUR_CALM);
      return;
    }
    if (this.streams.size === 0) this.markIdle();
  }

  private countPremature(): void {
    if (this.prematureCounted) return;
    this.prematureCounted = true;
    prematureResetCounter(this.cxHcm).inc();
  }

  /** A flood limit was crossed (http2-guard.ts counted which): GOAWAY and close. */
  private floodClose(): void {
    this.cxHcm.stats.downstream_cx_protocol_error.inc();
    this.closeWith(NGHTTP2_ENHANCE_YOUR_CALM);
  }

  private onClosed(destroySocket = true): void {
    if (this.closed) return;
    this.closed = true;
    const stats = this.cxHcm.stats;
    stats.downstream_cx_active.dec();
    stats.downstream_cx_http2_active.dec();
    stats.downstream_cx_destroy.inc();
    if (this.idleTimer !== null) { clearTimeout(this.idleTimer); this.idleTimer = null; }
    let active = false;
    for (const c of this.streams) if (c.abandon()) active = true;
    this.codecStats.streams_active.add(-this.streams.size);
    this.streams.clear();
    this.pending = [];
    if (active) stats.downstream_cx_destroy_remote_active_rq.inc();
    // As Envoy, the premature-reset check runs once more when the connection goes away.
    if (this.closedStreams >= PREMATURE_RESET_TOTAL_STREAMS && this.prematureResets * 2 >= this.closedStreams) this.countPremature();
    if (!this.session.destroyed) this.session.destroy();
    if (destroySocket && !this.socket.destroyed) this.socket.destroy();
    this.onClose(this);
  }

  // ─────────────── idle timeout (no stream open for idle_timeout) ───────────────

  private markIdle(): void {
    const ms = this.cxHcm.config.idleTimeoutMs;
    if (ms <= 0 || this.closed) return;
    this.idleSince = performance.now();
    if (this.idleTimer === null) {
      this.idleTimer = setTimeout(() => this.onIdleTimer(), ms);
      this.idleTimer.unref();
    }
  }

  private onIdleTimer(): void {
    this.idleTimer = null;
    if (this.closed) return;
    const ms = this.cxHcm.config.idleTimeoutMs;
    const left = this.idleSince + ms - performance.now();
    if (this.streams.size > 0 || left > 1) {
      this.idleTimer = setTimeout(() => this.onIdleTimer(), this.streams.size > 0 ? ms : left);
      this.idleTimer.unref();
      return;
    }
    this.cxHcm.stats.downstream_cx_idle_timeout.inc();
    this.session.close();
  }

  // ─────────────── DownstreamConnectionHandle ───────────────

  /** GOAWAY now; streams in flight finish, then the connection closes. */
  drain(): void {
    if (this.draining || this.closed) return;
    this.draining = true;
    this.session.close();
  }

  /** Closes at once; streams are reset (their upstream requests abandoned). */
  destroy(): void {
    this.session.destroy();
    this.socket.destroy();
    this.onClosed();
  }

  /** GOAWAY(code) and close; streams are reset. The socket gets a moment to flush the GOAWAY. */
  private closeWith(code: number): void {
    if (this.closed) return;
    try { this.session.goaway(code); } catch { /* already closing */ }
    this.session.destroy();
    if (!this.socket.destroyed) setTimeout(() => this.socket.destroy(), 1000).unref();
    this.onClosed(false);
  }

  get idle(): boolean { return this.streams.size === 0; }
}

// ─────────────────────────── one stream ───────────────────────────

/** The DownstreamCodec of one HTTP/2 stream: its own timers, flow control and tunnel. */
export class Http2StreamCodec implements DownstreamCodec {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteAddressPort: string;
  readonly localAddress: string;
  readonly scheme: 'http' | 'https';
  readonly bufferLimit: number;
  /** Writes to an HTTP/2 stream keep a reference to the buffer until it is sent. */
  readonly retainedLastWrite = true;
  private active: ActiveStream | null = null;
  /** The stream is closed on the wire. */
  private closed = false;
  private requestEnded = false;
  private responseEnded = false;
  /** Response HEADERS sent (a reset after that is not premature). */
  private headSent = false;
  /** We reset or closed the stream ourselves (a close is then not the client's reset). */
  private localClose = false;
  /**
   * A response head without a body yet (content-length 0): held until the end is known, so that
   * a head the upstream ended with END_STREAM (a gRPC trailers-only reply) stays trailers-only.
   */
  private heldHead: http2.OutgoingHttpHeaders | null = null;
  private responseTrailers: string[] | null = null;
  private requestTrailers: string[] | null = null;
  private tunnelled = false;
  /** Extended CONNECT for this upgrade type (RFC 8441), or null. */
  private upgrade: string | null = null;
  private routeTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private idleMs = 0;
  private activity = 0;
  private activitySeen = -1;
  private readonly openedAt = performance.now();

  constructor(private readonly conn: Http2DownstreamConnection, readonly h2s: http2.ServerHttp2Stream, readonly hcm: CompiledHcm,
              private readonly raw: readonly string[], private readonly endStream: boolean) {
    this.remoteAddress = conn.remoteAddress;
    this.remotePort = conn.remotePort;
    this.remoteAddressPort = conn.remoteAddressPort;
    this.localAddress = conn.localAddress;
    this.scheme = conn.scheme;
    this.bufferLimit = conn.bufferLimit;
    // Listeners that must not miss events arriving in the same read as the HEADERS.
    h2s.on('error', () => { /* 'close' follows */ });
    h2s.on('close', () => this.onClose());
    if (!endStream) h2s.on('trailers', (t: http2.IncomingHttpHeaders) => { this.requestTrailers = flattenHeaders(t); });
  }

  /** Runs once the read that opened the stream has been processed (not at all if the stream is gone by then). */
  start(): void {
    const h2s = this.h2s;
    if (this.closed || h2s.destroyed) return;
    let endStream = this.endStream;
    const conn = this.conn;
    const parsed = toMessageHead(this.raw, endStream, conn.limits);
    const head = parsed.head;
    if (parsed.dropped > 0) conn.codecStats.dropped_headers_with_underscores.add(parsed.dropped);
    if (head === null) {
      // As Envoy's HTTP/2 codec: the stream is reset (malformed, too many fields, an underscore).
      const r = parsed.rejected;
      if (r === 'too_many_headers') conn.codecStats.header_overflow.inc();
      else if (r === 'underscore') conn.codecStats.requests_rejected_with_underscores_in_headers.inc();
      this.closeStream(NGHTTP2_PROTOCOL_ERROR);
      return;
    }
    this.upgrade = head.upgrade;
    const active = new ActiveStream(this, head, 'HTTP/2');
    this.active = active;
    if (parsed.rejected === 'invalid_path') {
      // Envoy answers a fragment or an invalid character in the path with 400.
      this.requestEnded = endStream;
      active.reject(400, 'Bad Request', 'DPE', 'invalid_path');
      return;
    }
    const stats = this.hcm.stats;
    h2s.on('wantTrailers', () => {
      try { h2s.sendTrailers(toHeaderObject(this.responseTrailers ?? [], null)); } catch { this.closeStream(NGHTTP2_INTERNAL_ERROR); }
    });
    h2s.on('drain', () => { this.activity++; if (!this.tunnelled) active.onDownstreamDrain(); });
    if (head.upgrade !== null) {
      // Nothing of the stream is read until the upstream agreed to the upgrade (startTunnel).
      endStream = true;
      h2s.pause();
    } else if (!endStream) {
      h2s.on('data', (d: Buffer) => {
        this.activity++;
        stats.downstream_cx_rx_bytes_total.add(d.length);
        active.onRequestData(d);
      });
      h2s.on('end', () => {
        this.requestEnded = true;
        const t = this.requestTrailers;
        active.onRequestComplete(t !== null && t.length > 0 ? t : null);
      });
    }
    this.setStreamIdleTimeout(this.hcm.config.streamIdleTimeoutMs);
    if (head.expectContinue) h2s.additionalHeaders({ ':status': 100 });
    // Known before start(): a local reply can finish the stream inside it, and onStreamDone must
    // not take a request that ended with its HEADERS for one still being sent (that would reset
    // the stream before its END_STREAM went out).
    this.requestEnded = this.endStream;
    active.start();
    if (endStream) active.onRequestComplete(null);
  }

  /** RST_STREAM(code) from our side. */
  private closeStream(code: number): void {
    if (this.h2s.destroyed || this.h2s.closed) return;
    this.localClose = true;
    if (code !== NGHTTP2_NO_ERROR) this.conn.codecStats.tx_reset.inc();
    this.h2s.close(code);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    const a = this.active;
    if (a !== null && !a.isDone && !this.tunnelled) a.onDownstreamReset();
    const code = this.h2s.rstCode;
    const remoteReset = !this.localClose && code !== undefined && code !== NGHTTP2_NO_ERROR;
    const early = !this.headSent && performance.now() - this.openedAt < PREMATURE_RESET_MIN_LIFETIME_MS;
    this.conn.streamClosed(this, remoteReset, early);
  }

  /** The connection went away under the stream; true when it was still active. */
  abandon(): boolean {
    const a = this.active;
    this.closed = true;
    this.clearTimers();
    if (a === null || a.isDone || this.tunnelled) return false;
    a.onDownstreamReset();
    return true;
  }

  private clearTimers(): void {
    if (this.routeTimer !== null) { clearTimeout(this.routeTimer); this.routeTimer = null; }
    if (this.idleTimer !== null) { clearInterval(this.idleTimer); this.idleTimer = null; }
  }

  // ─────────────── DownstreamCodec ───────────────

  /** A held (bodiless so far) head goes out without END_STREAM: the end did not follow in the same upstream read. */
  flushPendingHead(): void {
    const held = this.heldHead;
    if (held === null) return;
    this.heldHead = null;
    this.respond(held, false, true);
  }

  sendResponseHead(_stream: ActiveStream, status: number, headers: string[], contentLength: number, endStream: boolean): void {
    if (this.closed || this.h2s.destroyed) return;
    this.activity++;
    const upgraded = status === 101;
    const out = toHeaderObject(headers, upgraded ? 'sec-websocket-accept' : null);
    // RFC 8441 §5: the upgrade's success is a 2xx on the HTTP/2 stream.
    out[':status'] = upgraded ? 200 : status;
    if (!upgraded && contentLength >= 0 && status >= 200 && status !== 204 && status !== 304) out['content-length'] = String(contentLength);
    if (endStream) this.responseEnded = true;
    if (!endStream && contentLength === 0 && status >= 200) {
      // No body: if the end comes with it (sendResponseEnd before flushPendingHead), one HEADERS
      // frame with END_STREAM carries it all: a gRPC trailers-only reply stays trailers-only.
      this.heldHead = out;
      return;
    }
    this.respond(out, endStream, !endStream && !upgraded);
  }

  private respond(out: http2.OutgoingHttpHeaders, endStream: boolean, waitForTrailers: boolean): void {
    this.headSent = true;
    // sendDate: false, as the HTTP/1.1 codec: the upstream's Date is forwarded, none is made up.
    try {
      this.h2s.respond(out, { endStream, waitForTrailers, sendDate: false } as http2.ServerStreamResponseOptions);
    } catch {
      // A field HTTP/2 cannot carry (node:http2 validates names and values): the stream fails.
      this.responseEnded = true;
      this.closeStream(NGHTTP2_INTERNAL_ERROR);
    }
  }

  sendResponseData(_stream: ActiveStream, chunk: Buffer): boolean {
    this.activity++;
    if (this.closed || this.responseEnded || this.h2s.destroyed) return true;
    if (this.heldHead !== null) this.flushPendingHead();
    this.hcm.stats.downstream_cx_tx_bytes_total.add(chunk.length);
    return this.h2s.write(chunk);
  }

  sendResponseEnd(_stream: ActiveStream, trailers: string[] | null): void {
    if (this.closed || this.responseEnded || this.h2s.destroyed) return;
    this.responseEnded = true;
    const held = this.heldHead;
    if (held !== null) {
      this.heldHead = null;
      if (trailers === null || trailers.length === 0) { this.respond(held, true, false); return; }
      this.respond(held, false, true);
    }
    this.responseTrailers = trailers;
    this.h2s.end(); // 'wantTrailers' sends them (or an empty DATA frame with END_STREAM)
  }

  resetStream(_stream: ActiveStream): void {
    if (this.closed || this.h2s.destroyed) return;
    this.closeStream(NGHTTP2_INTERNAL_ERROR);
  }

  pauseRequest(): void { if (!this.closed) this.h2s.pause(); }
  resumeRequest(): void { if (!this.closed) this.h2s.resume(); }

  armRouteTimer(ms: number): void {
    if (this.routeTimer !== null) clearTimeout(this.routeTimer);
    this.routeTimer = setTimeout(() => {
      this.routeTimer = null;
      const a = this.active;
      if (a !== null && !a.isDone) {
        this.hcm.stats.downstream_rq_timeout.inc();
        a.onRouteTimeout();
      }
    }, ms);
    this.routeTimer.unref();
  }

  clearRouteTimer(): void {
    if (this.routeTimer !== null) { clearTimeout(this.routeTimer); this.routeTimer = null; }
  }

  /** Stream idle timeout: fires when the stream moved no bytes either way for a whole period. */
  setStreamIdleTimeout(ms: number): void {
    if (this.idleTimer !== null) { clearInterval(this.idleTimer); this.idleTimer = null; }
    this.idleMs = ms;
    if (ms <= 0 || this.closed) return;
    this.activitySeen = this.activity;
    this.idleTimer = setInterval(() => this.onIdleTick(), ms);
    this.idleTimer.unref();
  }

  private onIdleTick(): void {
    const a = this.active;
    if (a === null || a.isDone || this.tunnelled) { this.setStreamIdleTimeout(0); return; }
    if (this.activity !== this.activitySeen) { this.activitySeen = this.activity; return; }
    this.hcm.stats.downstream_rq_idle_timeout.inc();
    // As Envoy: 504 once the whole request was received, else 408.
    a.info.addResponseFlag('SI');
    a.localReply(a.requestComplete ? 504 : 408, 'stream timeout', 'SI', 'stream_idle_timeout');
  }

  onStreamDone(_stream: ActiveStream): void {
    this.clearTimers();
    if (this.closed || this.tunnelled) return;
    // The response is complete but the client is still sending: once the response is flushed,
    // end the stream with RST_STREAM(NO_ERROR) (RFC 9113 §8.1).
    // (A refused upgrade is the same: the stream's bytes are for no one.)
    if (this.responseEnded && !this.requestEnded) { this.localClose = true; closeWhenFlushed(this.h2s); }
    if (!this.h2s.writableFinished) this.armFlushTimer();
  }

  /**
   * The response is complete but not yet sent (the client's flow-control window is closed): as
   * Envoy, the stream idle timeout keeps running; when nothing moves for a whole period the
   * stream is reset (http2.tx_flush_timeout) and its buffered bytes are freed.
   */
  private armFlushTimer(): void {
    const ms = this.idleMs;
    if (ms <= 0) return;
    const h2s = this.h2s;
    let seen = h2s.writableLength;
    this.idleTimer = setInterval(() => {
      if (this.closed || h2s.destroyed || h2s.writableFinished) { this.clearTimers(); return; }
      const now = h2s.writableLength;
      if (now !== seen) { seen = now; return; }
      this.clearTimers();
      this.conn.codecStats.tx_flush_timeout.inc();
      this.closeStream(NGHTTP2_INTERNAL_ERROR);
    }, ms);
    this.idleTimer.unref();
  }

  /** After the upstream's 101: bytes of the HTTP/2 stream go to the upstream socket and back. */
  startTunnel(stream: ActiveStream, upConn: UpstreamConnection, upRemaining: Buffer | null): void {
    const h2s = this.h2s;
    const up = upConn.socket;
    const stats = this.hcm.stats;
    this.tunnelled = true;
    this.clearTimers();
    stats.downstream_cx_upgrades_active.inc();
    up.removeAllListeners('data');
    up.removeAllListeners('end');
    up.removeAllListeners('drain');
    up.removeAllListeners('close');
    up.on('error', () => { /* close follows */ });
    let bytesIn = 0, bytesOut = 0, open = 2;
    const closedOne = () => {
      if (--open === 0) {
        stats.downstream_cx_upgrades_active.dec();
        stream.finishTunnel(bytesIn, bytesOut);
      }
    };
    if (upRemaining !== null && upRemaining.length > 0) { bytesOut += upRemaining.length; h2s.write(upRemaining); }
    upConn.setTunnelSink((d: Buffer) => {
      bytesOut += d.length;
      stats.downstream_cx_tx_bytes_total.add(d.length);
      upConn.markReadRetained();
      if (!h2s.destroyed && !h2s.write(d)) upConn.pauseReading();
    });
    h2s.on('drain', () => upConn.resumeReading());
    h2s.on('data', (d: Buffer) => {
      if (up.destroyed) return;
      bytesIn += d.length;
      stats.downstream_cx_rx_bytes_total.add(d.length);
      if (!up.write(d)) h2s.pause();
    });
    up.on('drain', () => h2s.resume());
    h2s.on('end', () => up.end());
    up.on('end', () => { if (!h2s.destroyed) h2s.end(); });
    up.on('close', () => {
      // The upstream went away. After its FIN our side has ended: once that is flushed the stream
      // is over (RST_STREAM NO_ERROR if the client still sends). Without a FIN it is a reset.
      if (!h2s.closed && !h2s.destroyed) {
        this.localClose = true;
        if (h2s.writableEnded) closeWhenFlushed(h2s);
        else this.closeStream(NGHTTP2_INTERNAL_ERROR);
      }
      closedOne();
    });
    h2s.on('close', () => { up.destroy(); closedOne(); });
    h2s.resume();
  }
}

/** RST_STREAM(NO_ERROR) once everything written to the stream has gone out. */
function closeWhenFlushed(h2s: http2.ServerHttp2Stream): void {
  const close = () => { if (!h2s.destroyed && !h2s.closed) h2s.close(NGHTTP2_NO_ERROR); };
  if (h2s.writableFinished) close();
  else h2s.once('finish', close);
}
