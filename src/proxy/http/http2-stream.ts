// One downstream HTTP/2 stream (RFC 9113 §8) on Weft's own session, as a DownstreamCodec for an
// ActiveStream and the H2StreamHandler of its H2Stream: request fields through http2-headers.ts
// (Envoy's request checks), the body with flow control (a paused stream withholds its
// WINDOW_UPDATEs), response heads (a bodiless head the upstream ended with END_STREAM, e.g. a gRPC
// trailers-only reply, stays one HEADERS frame with END_STREAM; the last DATA chunk of an upstream
// read is held so that an end in the same read rides on it as END_STREAM), 100-continue, trailers,
// the route and stream idle timers (the latter also while a finished response waits for the
// client's window: http2.tx_flush_timeout), and the RFC 8441 websocket tunnel.

import type net from 'node:net';
import type { UpstreamConnection } from '../pool/http1-pool.js';
import type { CompiledHcm } from './hcm.js';
import { ActiveStream, type DownstreamCodec } from './stream.js';
import { responseFields, trailerFields, toMessageHead } from './http2-headers.js';
import { scaledTimers } from '../overload/scaled-timers.js';
import type { Http2DownstreamConnection } from './http2-downstream.js';
import { ErrorCode } from '../codec/http2/constants.js';
import type { H2Stream, H2StreamHandler } from '../codec/http2/types.js';

/** Envoy's overload.premature_reset_min_stream_lifetime_seconds default. */
const PREMATURE_RESET_MIN_LIFETIME_MS = 1000;

const EMPTY = Buffer.alloc(0);
const CONTINUE: readonly string[] = Object.freeze([':status', '100']);

/** The DownstreamCodec of one HTTP/2 stream: its own timers, flow control and tunnel. */
export class Http2StreamCodec implements DownstreamCodec, H2StreamHandler {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteAddressPort: string;
  readonly localAddress: string;
  readonly scheme: 'http' | 'https';
  readonly bufferLimit: number;
  /** DATA payloads are queued without a copy: the buffer stays referenced until it is sent. */
  readonly retainedLastWrite = true;
  /** The connection's socket (DownstreamCodec). */
  get socket(): net.Socket { return this.conn.socket; }
  private active: ActiveStream | null = null;
  /** The stream is closed on the wire (or abandoned with its connection). */
  private closed = false;
  private requestEnded = false;
  private responseEnded = false;
  /** Response HEADERS sent (a reset after that is not premature). */
  private headSent = false;
  /**
   * A response head without a body yet (content-length 0): held until the end is known, so that
   * a head the upstream ended with END_STREAM (a gRPC trailers-only reply) stays trailers-only.
   */
  private heldHead: string[] | null = null;
  /** The last response chunk of the current upstream read: an end in the same read goes out on it as END_STREAM. */
  private heldData: Buffer | null = null;
  private requestTrailers: string[] | null = null;
  /**
   * Request DATA arriving before the stream started (same read as its HEADERS) or, for an
   * upgrade, before the tunnel is up: delivered (or forwarded) then. `holding` while so.
   */
  private holding = true;
  private early: Buffer[] | null = null;
  private earlyEnd = false;
  /** RST_STREAM(NO_ERROR) once the complete response has left (RFC 9113 §8.1: the request is not wanted). */
  private rstOnFlush = false;
  /** The response is complete but still queued: the idle interval watches it (tx_flush_timeout). */
  private flushWait = false;
  private flushSeen = -1;
  /** The session's stream buffer is over its limit (sendData said so) until onDrain. */
  private blocked = false;
  /** The upstream's FIN was forwarded as END_STREAM (tunnel). */
  private tunnelFin = false;
  private tunnelled = false;
  private tunnelUp: net.Socket | null = null;
  private tunnelConn: UpstreamConnection | null = null;
  private tunnelOpen = 0;
  private tunnelIn = 0;
  private tunnelOut = 0;
  private routeTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private idleMs = 0;
  private activity = 0;
  private activitySeen = -1;
  private readonly openedAt = performance.now();

  constructor(private readonly conn: Http2DownstreamConnection, readonly h2s: H2Stream, readonly hcm: CompiledHcm,
              private readonly raw: readonly string[], private readonly endStream: boolean) {
    this.remoteAddress = conn.remoteAddress;
    this.remotePort = conn.remotePort;
    this.remoteAddressPort = conn.remoteAddressPort;
    this.localAddress = conn.localAddress;
    this.scheme = conn.scheme;
    this.bufferLimit = conn.bufferLimit;
    this.requestEnded = endStream;
  }

  /** Runs once the read that opened the stream has been processed (not at all if the stream is gone by then). */
  start(): void {
    if (this.closed) return;
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
      else conn.codecStats.rx_messaging_error.inc();
      this.closeStream(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    const active = new ActiveStream(this, head, 'HTTP/2');
    this.active = active;
    if (parsed.rejected === 'invalid_path') {
      // Envoy answers a fragment or an invalid character in the path with 400.
      this.dropEarly();
      active.reject(400, 'Bad Request', 'DPE', 'invalid_path');
      return;
    }
    if (head.upgrade !== null) {
      // Nothing of the stream is read until the upstream agreed to the upgrade (startTunnel):
      // what arrives within the window granted so far is kept for the tunnel.
      endStream = true;
      this.h2s.pause();
    }
    this.setStreamIdleTimeout(this.hcm.config.streamIdleTimeoutMs);
    if (head.expectContinue) this.h2s.sendHeaders(CONTINUE, false);
    active.start();
    if (endStream) active.onRequestComplete(null);
    if (head.upgrade !== null || this.closed) return;
    // The request body that came with the HEADERS.
    this.holding = false;
    const early = this.early;
    this.early = null;
    if (early !== null) for (let i = 0; i < early.length; i++) this.deliver(early[i]!);
    if (this.earlyEnd) this.remoteEnd();
  }

  private dropEarly(): void {
    this.holding = false;
    this.early = null;
  }

  // ─────────────── H2StreamHandler ───────────────

  /** Request trailers (a server stream gets no other header block after its HEADERS). */
  onHeaders(headers: string[], endStream: boolean, trailers: boolean): void {
    if (!trailers) return;
    this.conn.codecStats.trailers.inc();
    this.requestTrailers = headers;
    if (endStream) this.onData(EMPTY, true);
  }

  onData(chunk: Buffer, endStream: boolean): void {
    this.activity++;
    if (this.rstOnFlush) { this.onLocalEndCheck(); return; } // the request is not wanted
    if (this.holding) {
      if (chunk.length > 0) (this.early ??= []).push(chunk);
      if (endStream) this.earlyEnd = true;
      return;
    }
    const up = this.tunnelUp;
    if (up !== null) {
      if (chunk.length > 0 && !up.destroyed) {
        this.tunnelIn += chunk.length;
        this.hcm.stats.downstream_cx_rx_bytes_total.add(chunk.length);
        if (!up.write(chunk)) this.h2s.pause();
      }
      if (endStream) up.end();
      return;
    }
    if (chunk.length > 0) this.deliver(chunk);
    if (endStream) this.remoteEnd();
  }

  private deliver(chunk: Buffer): void {
    const a = this.active;
    if (a === null) return;
    this.hcm.stats.downstream_cx_rx_bytes_total.add(chunk.length);
    a.onRequestData(chunk);
  }

  private remoteEnd(): void {
    this.requestEnded = true;
    const a = this.active;
    if (a === null) return;
    const t = this.requestTrailers;
    a.onRequestComplete(t !== null && t.length > 0 ? t : null);
  }

  onReset(code: number, remote: boolean): void {
    if (this.closed) return;
    // The connection is going away: it abandons its streams itself (and counts the active ones).
    if (!remote && this.conn.sessionClosed) return;
    this.wireClosed(remote && code !== ErrorCode.NO_ERROR, true);
  }

  onDrain(): void {
    this.activity++;
    this.blocked = false;
    if (this.closed) return;
    if (this.rstOnFlush) {
      if (this.h2s.localEnded) this.closeStream(ErrorCode.NO_ERROR);
      return;
    }
    if (this.tunnelled) { this.tunnelConn?.resumeReading(); return; }
    this.active?.onDownstreamDrain();
  }

  /**
   * Both directions ended and our END_STREAM went out (possibly from inside sendResponseHead or
   * sendResponseEnd: the ActiveStream is finishing, it is no reset).
   */
  onClose(): void {
    if (this.closed) return;
    this.wireClosed(false, false);
  }

  /** The stream is over on the wire. `reset`: by the client or the session (the ActiveStream is told), not by us. */
  private wireClosed(remoteReset: boolean, reset: boolean): void {
    this.closed = true;
    this.clearTimers();
    this.heldHead = null;
    this.heldData = null;
    const a = this.active;
    if (reset && a !== null && !a.isDone && !this.tunnelled) a.onDownstreamReset();
    const early = !this.headSent && performance.now() - this.openedAt < PREMATURE_RESET_MIN_LIFETIME_MS;
    this.conn.streamClosed(this, remoteReset, early);
    if (this.tunnelled) this.tunnelStreamGone();
  }

  /** RST_STREAM(code) from our side. */
  private closeStream(code: number): void {
    if (this.closed) return;
    if (code !== ErrorCode.NO_ERROR) this.conn.codecStats.tx_reset.inc();
    this.h2s.reset(code);
    this.wireClosed(false, false);
  }

  /** The connection went away under the stream; true when it was still active. */
  abandon(): boolean {
    if (this.closed) return false;
    const a = this.active;
    this.closed = true;
    this.clearTimers();
    if (this.tunnelled) { this.tunnelStreamGone(); return false; }
    if (a === null || a.isDone) return false;
    a.onDownstreamReset();
    return true;
  }

  private clearTimers(): void {
    if (this.routeTimer !== null) { clearTimeout(this.routeTimer); this.routeTimer = null; }
    if (this.idleTimer !== null) { clearInterval(this.idleTimer); this.idleTimer = null; }
  }

  // ─────────────── DownstreamCodec ───────────────

  /** End of an upstream read: a held head goes out without END_STREAM, a held chunk without it too. */
  flushPendingHead(): void {
    const held = this.heldHead;
    if (held !== null) {
      this.heldHead = null;
      this.respond(held, false);
    }
    const d = this.heldData;
    if (d !== null) {
      this.heldData = null;
      // Over the stream's buffer limit: the next sendResponseData says so (the upstream then waits for onDrain).
      if (!this.closed && !this.h2s.sendData(d, false)) this.blocked = true;
    }
  }

  sendResponseHead(_stream: ActiveStream, status: number, headers: string[], contentLength: number, endStream: boolean): void {
    if (this.closed) return;
    this.activity++;
    const upgraded = status === 101;
    // RFC 8441 §5: the upgrade's success is a 2xx on the HTTP/2 stream.
    const fields = upgraded
      ? responseFields(200, headers, -1, 'sec-websocket-accept')
      : responseFields(status, headers, contentLength >= 0 && status >= 200 && status !== 204 && status !== 304 ? contentLength : -1, null);
    if (endStream) this.responseEnded = true;
    if (!endStream && contentLength === 0 && status >= 200) {
      // No body: if the end comes with it (sendResponseEnd before flushPendingHead), one HEADERS
      // frame with END_STREAM carries it all: a gRPC trailers-only reply stays trailers-only.
      this.heldHead = fields;
      return;
    }
    this.respond(fields, endStream);
  }

  private respond(fields: string[], endStream: boolean): void {
    this.headSent = true;
    this.h2s.sendHeaders(fields, endStream);
  }

  sendResponseData(_stream: ActiveStream, chunk: Buffer): boolean {
    this.activity++;
    if (this.closed || this.responseEnded || chunk.length === 0) return true;
    if (this.heldHead !== null) { this.respond(this.heldHead, false); this.heldHead = null; }
    this.hcm.stats.downstream_cx_tx_bytes_total.add(chunk.length);
    const prev = this.heldData;
    this.heldData = chunk;
    if (prev !== null && !this.h2s.sendData(prev, false)) this.blocked = true;
    return !this.blocked;
  }

  sendResponseEnd(_stream: ActiveStream, trailers: string[] | null): void {
    if (this.closed || this.responseEnded) return;
    this.responseEnded = true;
    const h2s = this.h2s;
    const hasTrailers = trailers !== null && trailers.length > 0;
    const held = this.heldHead;
    if (held !== null) {
      this.heldHead = null;
      if (!hasTrailers) { this.respond(held, true); return; }
      this.respond(held, false);
    }
    const d = this.heldData;
    this.heldData = null;
    if (hasTrailers) {
      if (d !== null) h2s.sendData(d, false);
      h2s.sendTrailers(trailerFields(trailers));
    } else {
      h2s.sendData(d ?? EMPTY, true);
    }
  }

  resetStream(_stream: ActiveStream): void {
    this.closeStream(ErrorCode.INTERNAL_ERROR);
  }

  pauseRequest(): void { if (!this.closed) this.h2s.pause(); }
  resumeRequest(): void { if (!this.closed) this.h2s.resume(); }

  armRouteTimer(ms: number): void {
    if (this.routeTimer !== null) clearTimeout(this.routeTimer);
    this.routeTimer = setTimeout(routeTimeoutOf, ms, this);
    this.routeTimer.unref();
  }

  /** The route timeout fired. */
  onRouteTimer(): void {
    this.routeTimer = null;
    const a = this.active;
    if (a !== null && !a.isDone) {
      this.hcm.stats.downstream_rq_timeout.inc();
      a.onRouteTimeout();
    }
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
    // envoy.overload_actions.reduce_timeouts (HTTP_DOWNSTREAM_STREAM_IDLE) scales the period.
    this.idleTimer = setInterval(idleTickOf, scaledTimers.streamIdleMs(ms), this);
    this.idleTimer.unref();
  }

  /** The reduce_timeouts scale changed: an armed stream idle timer runs with the new period. */
  rescaleIdleTimer(): void {
    if (this.idleTimer === null || this.idleMs <= 0 || this.closed) return;
    clearInterval(this.idleTimer);
    this.idleTimer = setInterval(idleTickOf, scaledTimers.streamIdleMs(this.idleMs), this);
    this.idleTimer.unref();
  }

  /** Response bytes queued towards the client (overload reset_high_memory_stream accounting). */
  queuedResponseBytes(): number { return this.closed ? 0 : this.h2s.queuedBytes; }

  /** A stream idle period passed (or, once the response is complete, a flush-watch period). */
  onIdleTick(): void {
    if (this.flushWait) { this.onFlushTick(); return; }
    const a = this.active;
    if (a === null || a.isDone || this.tunnelled) { this.setStreamIdleTimeout(0); return; }
    if (this.activity !== this.activitySeen) { this.activitySeen = this.activity; return; }
    this.hcm.stats.downstream_rq_idle_timeout.inc();
    // As Envoy: 504 once the whole request was received, else 408.
    a.info.addResponseFlag('SI');
    a.localReply(a.requestComplete ? 504 : 408, 'stream timeout', 'SI', 'stream_idle_timeout');
  }

  onStreamDone(_stream: ActiveStream): void {
    this.clearRouteTimer();
    if (this.closed || this.tunnelled) { this.clearTimers(); return; }
    // The response is complete but the client is still sending: once the response is flushed,
    // end the stream with RST_STREAM(NO_ERROR) (RFC 9113 §8.1).
    // (A refused upgrade is the same: the stream's bytes are for no one.)
    if (this.responseEnded && !this.requestEnded && !this.earlyEnd) this.resetWhenFlushed();
    if (this.closed || this.h2s.localEnded || this.idleTimer === null) { this.clearTimers(); return; }
    // The response is queued but not all sent (usually until the session's next flush; or the
    // client's flow-control window is closed): as Envoy, the stream idle timeout keeps running
    // (the same interval, no new timer); when nothing moves for a whole period the stream is reset
    // (http2.tx_flush_timeout) and its buffered bytes are freed.
    this.flushWait = true;
    this.flushSeen = -1;
  }

  private onFlushTick(): void {
    const h2s = this.h2s;
    if (this.closed) { this.clearTimers(); return; }
    if (h2s.localEnded) {
      this.clearTimers();
      if (this.rstOnFlush) this.closeStream(ErrorCode.NO_ERROR);
      return;
    }
    const now = h2s.queuedBytes;
    if (now !== this.flushSeen) { this.flushSeen = now; return; }
    this.clearTimers();
    this.conn.codecStats.tx_flush_timeout.inc();
    this.closeStream(ErrorCode.INTERNAL_ERROR);
  }

  /** RST_STREAM(NO_ERROR) once our END_STREAM went out (nothing of the response queued); until then the request gets no more window. */
  private resetWhenFlushed(): void {
    if (this.closed) return;
    this.dropEarly();
    if (this.h2s.localEnded) { this.closeStream(ErrorCode.NO_ERROR); return; }
    this.rstOnFlush = true;
    this.h2s.pause();
    // Usually the session's next flush (a setImmediate already queued) sends the end: look after it.
    setImmediate(resetIfFlushed, this);
  }

  /** Our END_STREAM was handed to the writer while the request is still open. */
  onLocalEnd(): void {
    if (this.rstOnFlush && !this.closed) this.closeStream(ErrorCode.NO_ERROR);
  }

  /** After the session's flush: the reset resetWhenFlushed waits for, if the end is out. */
  onLocalEndCheck(): void {
    if (this.h2s.localEnded) this.onLocalEnd();
  }

  // ─────────────── RFC 8441 tunnel ───────────────

  /** After the upstream's 101: bytes of the HTTP/2 stream go to the upstream socket and back. */
  startTunnel(_stream: ActiveStream, upConn: UpstreamConnection, upRemaining: Buffer | null): void {
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
    this.tunnelOpen = 2;
    if (this.closed) {
      // The client went away between the 101 and now.
      this.tunnelConn = upConn;
      this.tunnelUp = up;
      up.destroy();
      this.tunnelClosedOne();
      this.tunnelClosedOne();
      return;
    }
    if (upRemaining !== null && upRemaining.length > 0) { this.tunnelOut += upRemaining.length; h2s.sendData(upRemaining, false); }
    upConn.setTunnelSink((d: Buffer) => {
      this.tunnelOut += d.length;
      stats.downstream_cx_tx_bytes_total.add(d.length);
      upConn.markReadRetained();
      if (!this.closed && !h2s.sendData(d, false)) upConn.pauseReading();
    });
    up.on('drain', () => { if (!this.closed) h2s.resume(); });
    up.on('end', () => {
      if (this.closed) return;
      this.tunnelFin = true;
      h2s.sendData(EMPTY, true);
    });
    up.on('close', () => {
      // The upstream went away. After its FIN our side has ended: once that is flushed the stream
      // is over (RST_STREAM NO_ERROR if the client still sends). Without a FIN it is a reset.
      if (!this.closed) {
        if (this.tunnelFin) { if (!h2s.remoteEnded) this.resetWhenFlushed(); }
        else this.closeStream(ErrorCode.INTERNAL_ERROR);
      }
      this.tunnelClosedOne();
    });
    this.tunnelConn = upConn;
    this.tunnelUp = up;
    // What the client sent before the upstream agreed.
    this.holding = false;
    const early = this.early;
    this.early = null;
    if (early !== null) for (let i = 0; i < early.length; i++) this.onData(early[i]!, false);
    if (this.earlyEnd) up.end();
    h2s.resume();
  }

  /** The HTTP/2 side of the tunnel is over: the upstream goes too. */
  private tunnelStreamGone(): void {
    const up = this.tunnelUp;
    if (up === null) return;
    up.destroy();
    this.tunnelClosedOne();
  }

  private tunnelClosedOne(): void {
    if (--this.tunnelOpen !== 0) return;
    this.hcm.stats.downstream_cx_upgrades_active.dec();
    this.active?.finishTunnel(this.tunnelIn, this.tunnelOut);
  }
}

/** setImmediate target (no closure per stream): the reset resetWhenFlushed waits for, if the end went out meanwhile. */
function resetIfFlushed(c: Http2StreamCodec): void {
  c.onLocalEndCheck();
}

/** Timer targets (no closure per stream). */
function routeTimeoutOf(c: Http2StreamCodec): void { c.onRouteTimer(); }
function idleTickOf(c: Http2StreamCodec): void { c.onIdleTick(); }
