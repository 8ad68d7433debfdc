// One downstream HTTP/1.1 connection (RFC 9112) on a raw socket: parses requests with the
// proxy's own codec, runs one ActiveStream at a time (pipelined requests wait their turn, so
// responses go out in order), writes response framing (Content-Length, chunked with trailers,
// close-delimited for HTTP/1.0), keep-alive and Connection: close, 100-continue, upgrades
// tunnelled after a 101 (a refused upgrade or CONNECT closes the connection, as Envoy does), the
// connection's timers (idle, request headers, stream idle, route, max_connection_duration), the
// HCM's common_http_protocol_options (max_headers_count, headers_with_underscores_action,
// max_requests_per_connection), and flow control: bytes read but not yet parsed (pipelined
// requests, bytes after an upgrade request) stay within per_connection_buffer_limit_bytes.

import { overloadState, shed } from '../overload/state.js';
import { scaledTimers, type ScaledTimerUser } from '../overload/scaled-timers.js';
import type net from 'node:net';
import { Http1Parser, type Http1ParserHandler, type MessageHead } from '../codec/http1/parser.js';
import type { Http1ParseError } from '../codec/http1/errors.js';
import { chunkHeader, responseHead, STATUS_REASONS, trailersBlock } from '../codec/http1/serialize.js';
import { StreamInfo } from '../stream-info.js';
import type { CompiledHcm } from './hcm.js';
import type { UpstreamConnection } from '../pool/http1-pool.js';
import { ActiveStream, httpDate, type DownstreamCodec } from './stream.js';
import type { DownstreamConnectionHandle, HcmSlot } from '../listener/chain.js';
import { dropUnderscoreNames, hasUnderscoreName } from './header-validation.js';


/** How the current response body is framed towards the client. */
const enum Framing { None, Length, Chunked, Close }

const CONTINUE_100 = 'HTTP/1.1 100 Continue\r\n\r\n';
const LAST_CHUNK_TEXT = '0\r\n\r\n';
/** Bodies up to this size are copied next to their head and written with it. */
const COALESCE_LIMIT = 16 * 1024;
/**
 * After the proxy has ended its side, how long the peer gets to close (restarted while queued
 * bytes still drain) before the socket is destroyed: Envoy's delayed_close_timeout default.
 */
const DELAYED_CLOSE_MS = 1000;

// Why the socket is not read (bits of readBlock); it is read again when none is left.
/** The upstream cannot take more request body (pauseRequest). */
const RB_BODY = 1;
/** The parser holds more unparsed bytes than the buffer limit (pipelined requests, bytes after an upgrade request). */
const RB_HELD = 2;

export class Http1DownstreamConnection implements Http1ParserHandler, DownstreamCodec, DownstreamConnectionHandle, ScaledTimerUser {
  hcm: CompiledHcm;
  readonly parser: Http1Parser;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteAddressPort: string;
  readonly localAddress: string;
  /** `https` when the listener terminated TLS (ConnectionFacts.tls). */
  readonly scheme: 'http' | 'https';
  private stream: ActiveStream | null = null;
  /** Close once the current response is written (client asked, draining, or framing needs it). */
  private closeAfter = false;
  private clientVersionMinor = 1;
  private framing = Framing.None;
  /** A response head not yet written: it goes out with the first body bytes, at the end, or at the end of this tick. */
  private pendingHead: string | null = null;
  private closed = false;
  private tunnelled = false;
  /** The current request switches protocols if accepted (an upgrade, a CONNECT): anything but a 101 ends the connection. */
  private upgradeRequest = false;
  /** RB_* bits: why the socket is paused. */
  private readBlock = 0;
  /** Requests started on this connection (counted only with max_requests_per_connection). */
  private requests = 0;
  /** The socket has been ended by the proxy (no more requests are parsed). */
  private ending = false;
  flushPendingHead(): void {
    const h = this.pendingHead;
    if (h !== null) { this.pendingHead = null; if (!this.socket.destroyed) this.socket.write(h, 'latin1'); }
  }

  // timers (lazily re-armed; see armRouteTimer)
  private routeTimer: NodeJS.Timeout | null = null;
  private routeTimerMs = 0;
  private routeTimerStream: ActiveStream | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private idleSince = 0;
  private headersTimer: NodeJS.Timeout | null = null;
  private streamIdleTimer: NodeJS.Timeout | null = null;
  private streamIdleMs = 0;
  /** The stream idle timeout as configured (streamIdleMs is it scaled by reduce_timeouts). */
  private streamIdleBaseMs = 0;
  private activity = 0;
  private activitySeen = -1;
  private durationTimer: NodeJS.Timeout | null = null;
  private closeTimer: NodeJS.Timeout | null = null;

  constructor(readonly socket: net.Socket, readonly slot: HcmSlot, readonly bufferLimit: number,
              private readonly onClose: (c: Http1DownstreamConnection) => void, tls = false) {
    this.hcm = slot.hcm;
    this.scheme = tls ? 'https' : 'http';
    const remote = socket.remoteAddress ?? '';
    // An IPv4 client of a dual-stack (::) listener is an IPv4 address, as Envoy reports it.
    this.remoteAddress = remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote;
    this.remotePort = socket.remotePort ?? 0;
    this.remoteAddressPort = formatAddress(this.remoteAddress, this.remotePort);
    this.localAddress = formatAddress(socket.localAddress ?? '', socket.localPort ?? 0);
    const cfg = this.hcm.config;
    this.parser = new Http1Parser('request', this, { maxHeaderBytes: this.hcm.maxHeaderBytes, maxHeadersCount: cfg.maxHeadersCount });
    const stats = this.hcm.stats;
    stats.downstream_cx_total.inc();
    stats.downstream_cx_active.inc();
    stats.downstream_cx_http1_total.inc();
    stats.downstream_cx_http1_active.inc();
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onSocketData(d));
    socket.on('end', () => this.onSocketEnd());
    socket.on('error', () => { /* 'close' follows */ });
    socket.on('close', () => this.onSocketClose());
    socket.on('drain', () => this.stream?.onDownstreamDrain());
    this.markIdle();
    scaledTimers.register(this);
    if (cfg.maxConnectionDurationMs > 0) {
      this.durationTimer = setTimeout(() => this.onMaxConnectionDuration(), cfg.maxConnectionDurationMs);
      this.durationTimer.unref();
    }
  }

  // ─────────────────────────── socket events ───────────────────────────

  private onSocketData(d: Buffer): void {
    this.hcm.stats.downstream_cx_rx_bytes_total.add(d.length);
    this.activity++;
    if (this.stream === null && this.headersTimer === null && this.hcm.config.requestHeadersTimeoutMs > 0) {
      this.headersTimer = setTimeout(() => this.onHeadersTimeout(), this.hcm.config.requestHeadersTimeoutMs);
    }
    const parser = this.parser;
    parser.execute(d);
    if (parser.held > this.bufferLimit) this.blockRead(RB_HELD);
  }

  private blockRead(bit: number): void {
    if (this.readBlock === 0) this.socket.pause();
    this.readBlock |= bit;
  }

  private unblockRead(bit: number): void {
    if ((this.readBlock & bit) === 0) return;
    this.readBlock &= ~bit;
    if (this.readBlock === 0 && !this.closed) this.socket.resume();
  }

  private onSocketEnd(): void {
    // The client will send nothing more. Finish the response in progress, then close.
    const s = this.stream;
    if (s === null || s.isDone) { this.socket.end(); return; }
    if (!s.requestComplete) {
      s.onDownstreamReset();
      this.socket.destroy();
      return;
    }
    this.closeAfter = true;
  }

  private onSocketClose(): void {
    if (this.closed) return;
    this.closed = true;
    const stats = this.hcm.stats;
    stats.downstream_cx_active.dec();
    stats.downstream_cx_http1_active.dec();
    stats.downstream_cx_destroy.inc();
    if (this.routeTimer) clearTimeout(this.routeTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.headersTimer) clearTimeout(this.headersTimer);
    if (this.streamIdleTimer) clearTimeout(this.streamIdleTimer);
    if (this.durationTimer) clearTimeout(this.durationTimer);
    if (this.closeTimer) clearTimeout(this.closeTimer);
    scaledTimers.unregister(this);
    this.parser.discard();
    const s = this.stream;
    if (s !== null && !s.isDone && !this.tunnelled) {
      stats.downstream_cx_destroy_remote_active_rq.inc();
      s.onDownstreamReset();
    }
    this.onClose(this);
  }

  // ─────────────────────────── parser callbacks ───────────────────────────

  onHead(head: MessageHead): boolean {
    if (this.headersTimer !== null) { clearTimeout(this.headersTimer); this.headersTimer = null; }
    const hcm = this.hcm = this.slot.hcm;
    const cfg = hcm.config;
    if (cfg.headersWithUnderscoresAction !== 'ALLOW' && !this.checkUnderscores(head.headers)) return false;
    this.clientVersionMinor = head.versionMinor;
    if (!head.keepAlive) this.closeAfter = true;
    // Not HTTP after this request unless the upstream switches protocols (then it is a tunnel).
    this.upgradeRequest = this.parser.switching;
    if (cfg.maxRequestsPerConnection > 0 && ++this.requests === cfg.maxRequestsPerConnection) {
      // As Envoy: this response says Connection: close and the connection ends after it.
      hcm.stats.downstream_cx_max_requests_reached.inc();
      this.closeAfter = true;
    } else if (!this.closeAfter && overloadState.disableHttpKeepalive !== 0 && shed(overloadState.disableHttpKeepalive)) {
      // Overload manager: envoy.overload_actions.disable_http_keepalive closes after this response.
      this.closeAfter = true;
      hcm.stats.downstream_cx_overload_disable_keepalive.inc();
    }
    const stream = new ActiveStream(this, head, head.versionMinor === 1 ? 'HTTP/1.1' : 'HTTP/1.0');
    this.stream = stream;
    if (this.idleTimer !== null) this.idleSince = Infinity;
    // Every stream starts its own stream idle period, with the connection manager's timeout (a
    // previous route may have changed it).
    this.setStreamIdleTimeout(cfg.streamIdleTimeoutMs);
    if (head.expectContinue && head.versionMinor === 1) this.socket.write(CONTINUE_100, 'latin1');
    stream.start();
    return false;
  }

  /**
   * headers_with_underscores_action (not ALLOW): drops the fields whose names have an underscore
   * (http1.dropped_headers_with_underscores), or rejects the request with 400 as Envoy's codec does
   * (http1.requests_rejected_with_underscores_in_headers). False when rejected.
   */
  private checkUnderscores(headers: string[]): boolean {
    if (!hasUnderscoreName(headers)) return true;
    const stats = this.hcm.stats;
    if (this.hcm.config.headersWithUnderscoresAction === 'DROP_HEADER') {
      stats.http1_dropped_headers_with_underscores.add(dropUnderscoreNames(headers));
      return true;
    }
    stats.http1_requests_rejected_with_underscores_in_headers.inc();
    stats.downstream_cx_protocol_error.inc();
    this.rejectHead(400, 'http1.unexpected_underscore');
    return false;
  }

  onInformational(): void { /* requests have no 1xx */ }

  onData(chunk: Buffer): void {
    this.stream?.onRequestData(chunk);
  }

  onComplete(trailers: string[] | null): void {
    const s = this.stream;
    if (s === null) return;
    if (trailers !== null && this.hcm.config.headersWithUnderscoresAction !== 'ALLOW' && hasUnderscoreName(trailers)) {
      const stats = this.hcm.stats;
      if (this.hcm.config.headersWithUnderscoresAction === 'DROP_HEADER') {
        stats.http1_dropped_headers_with_underscores.add(dropUnderscoreNames(trailers));
      } else if (!s.isDone) {
        stats.http1_requests_rejected_with_underscores_in_headers.inc();
        stats.downstream_cx_protocol_error.inc();
        this.failStream(s, 400, 'http1.unexpected_underscore');
        return;
      }
    }
    s.onRequestComplete(trailers);
    if (s.isDone) {
      if (this.stream === s) this.afterStream();
    } else {
      // Hold further pipelined requests until this response is out.
      this.parser.pause();
    }
  }

  onError(err: Http1ParseError): void {
    this.hcm.stats.downstream_cx_protocol_error.inc();
    // Envoy's response code details for the limits; the parser's code for the rest.
    const details = err.code === 'HPE_TOO_MANY_HEADERS' ? 'http1.too_many_headers'
      : err.code === 'HPE_HEADER_OVERFLOW' ? 'http1.headers_too_large' : 'http1.codec_error:' + err.code;
    const s = this.stream;
    if (s !== null && !s.isDone) {
      // Malformed body framing (or trailers) mid-request: the exchange cannot continue.
      this.failStream(s, err.status, details);
      return;
    }
    // Error in a request head: answer and close; never forwarded.
    this.rejectHead(err.status, details);
  }

  /** The request in progress is broken: answer it (or reset it when the response has started) and close. */
  private failStream(s: ActiveStream, status: number, details: string): void {
    s.info.addResponseFlag('DPE');
    this.closeAfter = true;
    if (!s.responseStarted) s.localReply(status, STATUS_REASONS[status] ?? 'Bad Request', 'DPE', details);
    else s.onDownstreamReset();
    this.endSocket();
  }

  /** Answers a request head that is not forwarded (no stream: nothing was routed), then closes. */
  private rejectHead(status: number, details: string): void {
    const stats = this.hcm.stats;
    const info = new StreamInfo();
    info.startTime = Date.now();
    info.startMono = performance.now();
    info.downstreamRemoteAddress = info.downstreamDirectRemoteAddress = formatAddress(this.remoteAddress, this.remotePort);
    info.downstreamLocalAddress = this.localAddress;
    info.responseCode = status;
    info.addResponseFlag('DPE');
    info.responseCodeDetails = details;
    const body = STATUS_REASONS[status] ?? 'Bad Request';
    info.bytesSent = body.length;
    const headStr = responseHead(status, ['content-length', String(body.length), 'content-type', 'text/plain',
      'date', httpDate(), 'server', this.hcm.config.serverName, 'connection', 'close']);
    this.socket.write(headStr + body, 'latin1');
    this.closeAfter = true;
    this.endSocket();
    stats.downstream_rq_total.inc();
    stats.downstream_rq_completed.inc();
    stats.downstream_rq_xx[4]!.inc();
    info.endMono = performance.now();
    for (const l of this.hcm.accessLoggers) l.log(info);
  }

  // ─────────────────────────── DownstreamCodec ───────────────────────────

  sendResponseHead(stream: ActiveStream, status: number, headers: string[], contentLength: number, noBody: boolean): void {
    this.activity++;
    // Answering before the request body is in: the connection closes after this response.
    if (!stream.requestComplete && (stream.head.chunked || stream.head.contentLength > 0)) this.closeAfter = true;
    // An upgrade or CONNECT not accepted: what the client sends next is not HTTP (Envoy closes too).
    if (this.upgradeRequest && status !== 101) this.closeAfter = true;
    // Framing and connection fields are the codec's own; they go last.
    if (status === 101) {
      this.framing = Framing.None;
    } else if (noBody) {
      this.framing = Framing.None;
      if (contentLength >= 0 && status !== 204 && status !== 304 && status >= 200) headers.push('content-length', String(contentLength));
    } else if (contentLength >= 0) {
      this.framing = Framing.Length;
      headers.push('content-length', String(contentLength));
    } else if (this.clientVersionMinor === 1) {
      this.framing = Framing.Chunked;
      headers.push('transfer-encoding', 'chunked');
    } else {
      this.framing = Framing.Close;
      this.closeAfter = true;
    }
    if (!this.closeAfter && status !== 101) {
      // A drain sequence on the listener: this response may be the connection's last.
      const drain = this.slot.drain;
      if (drain != null && drain.drainClose()) {
        this.closeAfter = true;
        this.hcm.stats.downstream_cx_drain_close.inc();
      }
    }
    if (status !== 101) {
      if (this.closeAfter) headers.push('connection', 'close');
      else if (this.clientVersionMinor === 0) headers.push('connection', 'keep-alive');
    }
    const head = responseHead(status, headers);
    this.hcm.stats.downstream_cx_tx_bytes_total.add(head.length);
    // Held back so that head and body usually leave in one write (one syscall, no writev); the
    // stream flushes it at the end of the upstream read at the latest (flushPendingHead).
    this.pendingHead = head;
  }

  /** True when the last sendResponseData left `chunk` itself referenced by a queued write. */
  retainedLastWrite = false;

  sendResponseData(_stream: ActiveStream, chunk: Buffer): boolean {
    this.activity++;
    this.retainedLastWrite = false;
    const len = chunk.length;
    if (len === 0) return true;
    this.hcm.stats.downstream_cx_tx_bytes_total.add(len);
    const sock = this.socket;
    const chunked = this.framing === Framing.Chunked;
    let prefix = this.pendingHead;
    if (prefix !== null) this.pendingHead = null;
    if (chunked) prefix = prefix === null ? chunkHeader(len) : prefix + chunkHeader(len);
    if (prefix === null) return this.writeBorrowed(chunk);
    const suffix = chunked ? 2 : 0;
    if (len <= COALESCE_LIMIT) {
      // One buffer: head (or chunk size line), body, and the chunk's CRLF.
      const buf = Buffer.allocUnsafe(prefix.length + len + suffix);
      buf.write(prefix, 0, 'latin1');
      chunk.copy(buf, prefix.length);
      if (chunked) { buf[buf.length - 2] = 13; buf[buf.length - 1] = 10; }
      return sock.write(buf);
    }
    sock.write(prefix, 'latin1');
    const ok = this.writeBorrowed(chunk);
    return chunked ? sock.write('\r\n', 'latin1') : ok;
  }

  /** Writes a buffer the caller may reuse; notes whether the socket kept a reference to it. */
  private writeBorrowed(chunk: Buffer): boolean {
    const ok = this.socket.write(chunk);
    if (this.socket.writableLength > 0) this.retainedLastWrite = true;
    return ok;
  }

  sendResponseEnd(_stream: ActiveStream, trailers: string[] | null): void {
    let tail = this.pendingHead ?? '';
    this.pendingHead = null;
    if (this.framing === Framing.Chunked) {
      tail += trailers !== null && trailers.length > 0 ? trailersBlock(trailers) : LAST_CHUNK_TEXT;
    }
    this.framing = Framing.None;
    if (tail !== '') this.socket.write(tail, 'latin1');
  }

  resetStream(_stream: ActiveStream): void {
    this.socket.destroy();
  }

  /** Buffer accounting: what the socket has queued (one stream at a time, so all of it is the current stream's). */
  queuedResponseBytes(): number { return this.socket.writableLength; }

  pauseRequest(): void { this.blockRead(RB_BODY); }
  resumeRequest(): void { this.unblockRead(RB_BODY); }

  onStreamDone(stream: ActiveStream): void {
    if (this.stream !== stream) return;
    if (this.tunnelled) return;
    if (!stream.requestComplete) {
      // Answered from within onHead (local reply) for a request without a body: the parser calls
      // onComplete right after, which goes on with the connection (keep-alive, pipelining).
      if (!stream.head.chunked && stream.head.contentLength <= 0) return;
      // Answered before the request finished: discard the rest of it, then close.
      // endSocket reads (and drops) the rest even where flow control had paused reading, so the
      // client's close is seen, and closes after the delayed-close period at the latest.
      this.closeAfter = true;
      this.endSocket();
      return;
    }
    this.afterStream();
  }

  /** The exchange is over: close, or go on with the next (maybe already pipelined) request. */
  private afterStream(): void {
    const ended = this.stream?.info.endMono ?? 0;
    this.stream = null;
    this.routeTimerStream = null;
    this.upgradeRequest = false;
    // Closing: parse nothing more (a pipelined request would reach the upstream with no way back).
    if (this.closeAfter || this.slotDraining) { this.endSocket(); return; }
    this.markIdle(ended);
    const parser = this.parser;
    if (parser.paused) parser.resume();
    if (this.readBlock !== 0 && parser.held <= this.bufferLimit) this.unblockRead(RB_HELD);
    // A request head begun while the previous exchange ran: its headers timeout starts now.
    if (this.stream === null && this.headersTimer === null && parser.inHead && this.hcm.config.requestHeadersTimeoutMs > 0) {
      this.headersTimer = setTimeout(() => this.onHeadersTimeout(), this.hcm.config.requestHeadersTimeoutMs);
    }
  }

  /**
   * Ends the connection after what was written: nothing more is parsed or kept (later bytes are
   * read and dropped), and the peer gets DELAYED_CLOSE_MS to close once the proxy's bytes have
   * stopped moving out.
   */
  private endSocket(): void {
    this.flushPendingHead();
    if (this.ending) return;
    this.ending = true;
    this.parser.discard();
    const sock = this.socket;
    if (sock.destroyed) return;
    if (!this.tunnelled && this.readBlock !== 0) { this.readBlock = 0; sock.resume(); }
    sock.end();
    // As Envoy's delayed_close_timeout: the period restarts while queued bytes still make progress.
    let queued = sock.writableLength;
    const check = (): void => {
      this.closeTimer = null;
      if (this.closed) return;
      const now = sock.writableLength;
      if (now < queued) {
        queued = now;
        this.closeTimer = setTimeout(check, DELAYED_CLOSE_MS);
        this.closeTimer.unref();
        return;
      }
      sock.destroy();
    };
    this.closeTimer = setTimeout(check, DELAYED_CLOSE_MS);
    this.closeTimer.unref();
  }

  // ─────────────────────────── timers ───────────────────────────

  /** Route timeout for the current stream; one Timeout per connection, refreshed per request. */
  armRouteTimer(ms: number): void {
    this.routeTimerStream = this.stream;
    if (this.routeTimer !== null && this.routeTimerMs === ms) { this.routeTimer.refresh(); return; }
    if (this.routeTimer !== null) clearTimeout(this.routeTimer);
    this.routeTimerMs = ms;
    this.routeTimer = setTimeout(() => this.onRouteTimer(), ms);
    this.routeTimer.unref();
  }

  clearRouteTimer(): void { this.routeTimerStream = null; }

  private onRouteTimer(): void {
    const s = this.routeTimerStream;
    this.routeTimerStream = null;
    if (s !== null && s === this.stream && !s.isDone) {
      this.hcm.stats.downstream_rq_timeout.inc();
      s.onRouteTimeout();
    }
  }

  /**
   * Stream idle timeout: fires when neither side moved bytes for a whole period between two ticks
   * of one interval per connection. A new stream counts as activity for the tick that follows its
   * start (activitySeen -1 never equals the counter), so however far into its period the
   * connection's interval was, the stream gets at least one whole period: no timer is re-armed
   * per request.
   */
  private armStreamIdle(ms: number): void {
    this.activitySeen = -1;
    if (this.streamIdleTimer !== null && this.streamIdleMs === ms) return;
    if (this.streamIdleTimer !== null) clearTimeout(this.streamIdleTimer);
    this.streamIdleMs = ms;
    this.streamIdleTimer = setInterval(() => this.onStreamIdleTick(), ms);
    this.streamIdleTimer.unref();
  }

  private onStreamIdleTick(): void {
    const s = this.stream;
    if (s === null || s.isDone || this.tunnelled) { this.activitySeen = this.activity; return; }
    if (this.activity !== this.activitySeen) { this.activitySeen = this.activity; return; }
    this.hcm.stats.downstream_rq_idle_timeout.inc();
    // As Envoy: 504 once the whole request was received, else 408 (and the connection cannot be reused).
    if (!s.requestComplete) this.closeAfter = true;
    s.info.addResponseFlag('SI');
    s.localReply(s.requestComplete ? 504 : 408, 'stream timeout', 'SI', 'stream_idle_timeout');
  }

  setStreamIdleTimeout(ms: number): void {
    this.streamIdleBaseMs = ms;
    if (ms > 0) { this.armStreamIdle(scaledTimers.streamIdleMs(ms)); return; }
    if (this.streamIdleTimer !== null) { clearInterval(this.streamIdleTimer); this.streamIdleTimer = null; }
  }

  private markIdle(now = 0): void {
    const ms = scaledTimers.connectionIdleMs(this.hcm.config.idleTimeoutMs);
    if (ms <= 0) return;
    this.idleSince = now || performance.now();
    if (this.idleTimer === null) {
      this.idleTimer = setTimeout(() => this.onIdleTimer(), ms);
      this.idleTimer.unref();
    }
  }

  private onIdleTimer(): void {
    this.idleTimer = null;
    if (this.closed) return;
    const ms = scaledTimers.connectionIdleMs(this.hcm.config.idleTimeoutMs);
    const left = this.idleSince + ms - performance.now();
    if (this.stream !== null || left > 1) {
      this.idleTimer = setTimeout(() => this.onIdleTimer(), this.stream !== null ? ms : left);
      this.idleTimer.unref();
      return;
    }
    this.hcm.stats.downstream_cx_idle_timeout.inc();
    this.endSocket();
  }

  /** reduce_timeouts changed its state: the armed idle timers run with the newly scaled values. */
  onTimerScaleChange(): void {
    if (this.closed || this.tunnelled) return;
    if (this.idleTimer !== null && this.stream === null) {
      clearTimeout(this.idleTimer);
      const left = this.idleSince + scaledTimers.connectionIdleMs(this.hcm.config.idleTimeoutMs) - performance.now();
      this.idleTimer = setTimeout(() => this.onIdleTimer(), Math.max(0, left));
      this.idleTimer.unref();
    }
    if (this.streamIdleTimer !== null && this.streamIdleBaseMs > 0) this.armStreamIdle(scaledTimers.streamIdleMs(this.streamIdleBaseMs));
  }

  /** max_connection_duration: as Envoy, drain: close now when idle, else Connection: close on the response in progress. */
  private onMaxConnectionDuration(): void {
    this.durationTimer = null;
    if (this.closed) return;
    this.hcm.stats.downstream_cx_max_duration_reached.inc();
    this.closeAfter = true;
    if (this.stream === null) this.endSocket();
  }

  private onHeadersTimeout(): void {
    this.headersTimer = null;
    if (this.stream !== null || this.closed) return;
    this.hcm.stats.downstream_rq_header_timeout.inc();
    this.socket.destroy();
  }

  // ─────────────────────────── drain and tunnels ───────────────────────────

  private slotDraining = false;
  /** DownstreamConnectionHandle: a drain sequence is applied per response (sendResponseHead). */
  readonly drainsPerResponse = true;

  /** Stop keeping the connection alive: close now if idle, else after the current response. */
  destroy(): void {
    this.socket.destroy();
  }

  drain(): void {
    this.slotDraining = true;
    this.closeAfter = true;
    if (this.stream === null) this.endSocket();
  }

  get idle(): boolean { return this.stream === null; }

  startTunnel(stream: ActiveStream, upConn: UpstreamConnection, upRemaining: Buffer | null): void {
    const up = upConn.socket;
    this.tunnelled = true;
    this.flushPendingHead();
    const down = this.socket;
    const stats = this.hcm.stats;
    stats.downstream_cx_upgrades_active.inc();
    const downRemaining = this.parser.takeRemaining();
    // The tunnel does its own flow control from here on (bytes held so far were bounded above).
    this.readBlock = 0;
    let downPaused = false;
    down.removeAllListeners('data');
    down.removeAllListeners('end');
    down.removeAllListeners('drain');
    up.removeAllListeners('data');
    up.removeAllListeners('end');
    up.removeAllListeners('drain');
    up.removeAllListeners('close');
    up.on('error', () => { /* close follows */ });
    if (this.routeTimer) clearTimeout(this.routeTimer);
    if (this.streamIdleTimer) { clearInterval(this.streamIdleTimer); this.streamIdleTimer = null; }
    let bytesIn = 0, bytesOut = 0, open = 2;
    const closedOne = () => {
      if (--open === 0) {
        stats.downstream_cx_upgrades_active.dec();
        stream.finishTunnel(bytesIn, bytesOut);
      }
    };
    if (upRemaining !== null && upRemaining.length > 0) { bytesOut += upRemaining.length; down.write(upRemaining); }
    if (downRemaining !== null && downRemaining.length > 0) { bytesIn += downRemaining.length; downPaused = !up.write(downRemaining); }
    down.on('data', (d: Buffer) => { bytesIn += d.length; stats.downstream_cx_rx_bytes_total.add(d.length); if (!up.write(d)) down.pause(); });
    if (downPaused) down.pause(); else down.resume();
    // Upstream bytes arrive through the connection's read buffer (not 'data' events).
    upConn.setTunnelSink((d: Buffer) => {
      bytesOut += d.length;
      stats.downstream_cx_tx_bytes_total.add(d.length);
      const more = down.write(d);
      if (down.writableLength > 0) upConn.markReadRetained();
      if (!more) upConn.pauseReading();
    });
    up.on('drain', () => down.resume());
    down.on('drain', () => upConn.resumeReading());
    down.on('end', () => up.end());
    up.on('end', () => down.end());
    up.on('close', () => {
      // Flush what is queued for the client, but not forever (a client that stopped reading, or a
      // paused socket that did not see its peer go): Envoy's delayed close.
      if (!down.destroyed) {
        down.end();
        const t = setTimeout(() => down.destroy(), DELAYED_CLOSE_MS);
        t.unref();
        down.once('close', () => clearTimeout(t));
      }
      closedOne();
    });
    down.on('close', () => { up.destroy(); closedOne(); });
  }
}

export function formatAddress(ip: string, port: number): string {
  if (ip.startsWith('::ffff:')) ip = ip.slice(7);
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
