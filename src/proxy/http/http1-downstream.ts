// One downstream HTTP/1.1 connection (RFC 9112) on a raw socket: parses requests with the
// proxy's own codec, runs one ActiveStream at a time (pipelined requests wait their turn, so
// responses go out in order), writes response framing (Content-Length, chunked with trailers,
// close-delimited for HTTP/1.0), keep-alive and Connection: close, 100-continue, upgrades
// tunnelled after a 101, and the connection's timers (idle, request headers, stream idle, route).

import { overloadState, shed } from '../overload/state.js';
import type net from 'node:net';
import { Http1Parser, type Http1ParserHandler, type MessageHead } from '../codec/http1/parser.js';
import type { Http1ParseError } from '../codec/http1/errors.js';
import { chunkHeader, responseHead, STATUS_REASONS, trailersBlock } from '../codec/http1/serialize.js';
import { StreamInfo } from '../stream-info.js';
import type { CompiledHcm } from './hcm.js';
import type { UpstreamConnection } from '../pool/http1-pool.js';
import { ActiveStream, httpDate, type DownstreamCodec } from './stream.js';
import type { DownstreamConnectionHandle, HcmSlot } from '../listener/chain.js';


/** How the current response body is framed towards the client. */
const enum Framing { None, Length, Chunked, Close }

const CONTINUE_100 = 'HTTP/1.1 100 Continue\r\n\r\n';
const LAST_CHUNK_TEXT = '0\r\n\r\n';
/** Bodies up to this size are copied next to their head and written with it. */
const COALESCE_LIMIT = 16 * 1024;

export class Http1DownstreamConnection implements Http1ParserHandler, DownstreamCodec, DownstreamConnectionHandle {
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
  private activity = 0;
  private activitySeen = -1;

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
    this.parser = new Http1Parser('request', this, { maxHeaderBytes: this.hcm.maxHeaderBytes });
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
  }

  // ─────────────────────────── socket events ───────────────────────────

  private onSocketData(d: Buffer): void {
    this.hcm.stats.downstream_cx_rx_bytes_total.add(d.length);
    this.activity++;
    if (this.stream === null && this.headersTimer === null && this.hcm.config.requestHeadersTimeoutMs > 0) {
      this.headersTimer = setTimeout(() => this.onHeadersTimeout(), this.hcm.config.requestHeadersTimeoutMs);
    }
    this.parser.execute(d);
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
    this.hcm = this.slot.hcm;
    this.clientVersionMinor = head.versionMinor;
    if (!head.keepAlive) this.closeAfter = true;
    // Overload manager: envoy.overload_actions.disable_http_keepalive closes after this response.
    else if (overloadState.disableHttpKeepalive !== 0 && shed(overloadState.disableHttpKeepalive)) {
      this.closeAfter = true;
      this.hcm.stats.downstream_cx_overload_disable_keepalive.inc();
    }
    const stream = new ActiveStream(this, head, head.versionMinor === 1 ? 'HTTP/1.1' : 'HTTP/1.0');
    this.stream = stream;
    if (this.idleTimer !== null) this.idleSince = Infinity;
    // Every request starts with the connection manager's stream idle timeout (a previous route may have changed it).
    this.setStreamIdleTimeout(this.hcm.config.streamIdleTimeoutMs);
    if (head.expectContinue && head.versionMinor === 1) this.socket.write(CONTINUE_100, 'latin1');
    stream.start();
    if (head.upgrade !== null && stream.isDone) this.closeAfter = true; // refused upgrade: the rest is not HTTP
    return false;
  }

  onInformational(): void { /* requests have no 1xx */ }

  onData(chunk: Buffer): void {
    this.stream?.onRequestData(chunk);
  }

  onComplete(trailers: string[] | null): void {
    const s = this.stream;
    if (s === null) return;
    s.onRequestComplete(trailers);
    if (s.isDone) {
      if (this.stream === s) this.afterStream();
    } else {
      // Hold further pipelined requests until this response is out.
      this.parser.pause();
    }
  }

  onError(err: Http1ParseError): void {
    const stats = this.hcm.stats;
    stats.downstream_cx_protocol_error.inc();
    if (err.status === 431) stats.downstream_rq_too_large.inc();
    const s = this.stream;
    if (s !== null && !s.isDone) {
      // Malformed body framing mid-request: the exchange cannot continue.
      s.info.addResponseFlag('DPE');
      if (!s.responseStarted) { this.closeAfter = true; s.localReply(err.status, STATUS_REASONS[err.status] ?? 'Bad Request', 'DPE', 'http1.codec_error'); }
      else s.onDownstreamReset();
      this.socket.end();
      return;
    }
    // Error in a request head: answer and close; never forwarded.
    const info = new StreamInfo();
    info.startTime = Date.now();
    info.startMono = performance.now();
    info.downstreamRemoteAddress = info.downstreamDirectRemoteAddress = formatAddress(this.remoteAddress, this.remotePort);
    info.downstreamLocalAddress = this.localAddress;
    info.responseCode = err.status;
    info.addResponseFlag('DPE');
    info.responseCodeDetails = 'http1.codec_error:' + err.code;
    const body = STATUS_REASONS[err.status] ?? 'Bad Request';
    info.bytesSent = body.length;
    const headStr = responseHead(err.status, ['content-length', String(body.length), 'content-type', 'text/plain',
      'date', httpDate(), 'server', this.hcm.config.serverName, 'connection', 'close']);
    this.socket.end(headStr + body, 'latin1');
    stats.downstream_rq_total.inc();
    stats.downstream_rq_completed.inc();
    stats.downstream_rq_xx[4]!.inc();
    info.endMono = performance.now();
    for (const l of this.hcm.accessLoggers) l.log(info);
  }

  // ─────────────────────────── DownstreamCodec ───────────────────────────

  sendResponseHead(stream: ActiveStream, status: number, headers: string[], contentLength: number, noBody: boolean): void {
    // Answering before the request body is in: the connection closes after this response.
    if (!stream.requestComplete && (stream.head.chunked || stream.head.contentLength > 0)) this.closeAfter = true;
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

  pauseRequest(): void { this.socket.pause(); }
  resumeRequest(): void { if (!this.closed) this.socket.resume(); }

  onStreamDone(stream: ActiveStream): void {
    if (this.stream !== stream) return;
    if (this.tunnelled) return;
    if (!stream.requestComplete) {
      // Answered from within onHead (local reply) for a request without a body: the parser calls
      // onComplete right after, which goes on with the connection (keep-alive, pipelining).
      if (!stream.head.chunked && stream.head.contentLength <= 0) return;
      // Answered before the request finished: discard the rest of it, then close.
      this.closeAfter = true;
      this.endSocket();
      // Flow control may have paused reading: read (and drop) the rest so the client's close is
      // seen, and close at the latest after Envoy's default delayed_close_timeout (1 s); a paused
      // socket would otherwise stay open (with its request buffers) until the idle timeout.
      this.socket.resume();
      setTimeout(() => { if (!this.closed) this.socket.destroy(); }, 1000).unref();
      return;
    }
    this.afterStream();
  }

  /** The exchange is over: close, or go on with the next (maybe already pipelined) request. */
  private afterStream(): void {
    const ended = this.stream?.info.endMono ?? 0;
    this.stream = null;
    this.routeTimerStream = null;
    // Closing: parse nothing more (a pipelined request would reach the upstream with no way back).
    if (this.closeAfter || this.slotDraining) { this.parser.pause(); this.endSocket(); return; }
    this.markIdle(ended);
    if (this.parser.paused) this.parser.resume();
  }

  private endSocket(): void {
    this.flushPendingHead();
    if (!this.socket.destroyed) this.socket.end();
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

  /** Stream idle timeout: fires when neither side moved bytes for a whole period. */
  private armStreamIdle(ms: number): void {
    this.activitySeen = this.activity;
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
    if (ms > 0) { this.armStreamIdle(ms); return; }
    if (this.streamIdleTimer !== null) { clearInterval(this.streamIdleTimer); this.streamIdleTimer = null; }
  }

  private markIdle(now = 0): void {
    const ms = this.hcm.config.idleTimeoutMs;
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
    const ms = this.hcm.config.idleTimeoutMs;
    const left = this.idleSince + ms - performance.now();
    if (this.stream !== null || left > 1) {
      this.idleTimer = setTimeout(() => this.onIdleTimer(), this.stream !== null ? ms : left);
      this.idleTimer.unref();
      return;
    }
    this.hcm.stats.downstream_cx_idle_timeout.inc();
    this.endSocket();
  }

  private onHeadersTimeout(): void {
    this.headersTimer = null;
    if (this.stream !== null || this.closed) return;
    this.hcm.stats.downstream_rq_header_timeout.inc();
    this.socket.destroy();
  }

  // ─────────────────────────── drain and tunnels ───────────────────────────

  private slotDraining = false;

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
    if (downRemaining !== null && downRemaining.length > 0) { bytesIn += downRemaining.length; up.write(downRemaining); }
    down.on('data', (d: Buffer) => { bytesIn += d.length; stats.downstream_cx_rx_bytes_total.add(d.length); if (!up.write(d)) down.pause(); });
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
    up.on('close', () => { if (!down.destroyed) down.end(); closedOne(); });
    down.on('close', () => { up.destroy(); closedOne(); });
  }
}

export function formatAddress(ip: string, port: number): string {
  if (ip.startsWith('::ffff:')) ip = ip.slice(7);
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
