// One downstream HTTP/2 stream (RFC 9113 §8) as a DownstreamCodec for an ActiveStream: request
// fields through http2-headers.ts (Envoy's request checks), the body with flow control (a paused
// stream withholds its WINDOW_UPDATEs), response heads (a bodiless head the upstream ended with
// END_STREAM, e.g. a gRPC trailers-only reply, stays one HEADERS frame with END_STREAM), trailers,
// the route and stream idle timers (the latter also while a finished response waits for the
// client's window: http2.tx_flush_timeout), and the RFC 8441 websocket tunnel.

import http2 from 'node:http2';
import type { UpstreamConnection } from '../pool/http1-pool.js';
import type { CompiledHcm } from './hcm.js';
import { ActiveStream, type DownstreamCodec } from './stream.js';
import { flattenHeaders, toHeaderObject, toMessageHead } from './http2-headers.js';
import type { Http2DownstreamConnection } from './http2-downstream.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR, NGHTTP2_PROTOCOL_ERROR } = http2.constants;

/** Envoy's overload.premature_reset_min_stream_lifetime_seconds default. */
const PREMATURE_RESET_MIN_LIFETIME_MS = 1000;

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
