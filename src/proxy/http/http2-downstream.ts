// One downstream HTTP/2 connection (RFC 9113) on node:http2, and the per-stream codec that
// presents each HTTP/2 stream to an ActiveStream as the same MessageHead the HTTP/1.1 parser
// produces: :authority becomes Host, cookies are joined (§8.2.3), connection-specific fields are
// dropped both ways (§8.2.2), an extended CONNECT for websocket (RFC 8441) becomes an HTTP/1.1
// upgrade and its 101 a 200 with the stream tunnelled. Flow control: a paused stream withholds
// its WINDOW_UPDATEs (node:http2 consumes stream data only while the stream is read), and a full
// stream write buffer pushes back on the upstream. Settings come from http2_protocol_options.

import { overloadState, shed } from '../overload/state.js';
import http2 from 'node:http2';
import type net from 'node:net';
import { randomBytes } from 'node:crypto';
import type { MessageHead } from '../codec/http1/parser.js';
import type { UpstreamConnection } from '../pool/http1-pool.js';
import type { CompiledHcm } from './hcm.js';
import { ActiveStream, type DownstreamCodec } from './stream.js';
import { formatAddress } from './http1-downstream.js';
import type { DownstreamConnectionHandle, HcmSlot } from '../listener/chain.js';

const {
  NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR, NGHTTP2_PROTOCOL_ERROR, NGHTTP2_FLAG_END_STREAM,
} = http2.constants;

/** The client connection preface (RFC 9113 §3.4). */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Connection-specific fields (RFC 9113 §8.2.2) and HTTP/1 framing: never sent on an HTTP/2
 * stream (node:http2 refuses them), never taken from one.
 */
function isConnectionSpecific(name: string): boolean {
  switch (name) {
    case 'connection': case 'keep-alive': case 'proxy-connection': case 'transfer-encoding':
    case 'upgrade': case 'http2-settings':
      return true;
    default:
      return false;
  }
}

// ─────────────────────────── session factory ───────────────────────────

/**
 * An http2 server per compiled connection manager, only used to turn accepted sockets into
 * server sessions with that manager's SETTINGS (it never listens).
 */
const factories = new WeakMap<CompiledHcm, http2.Http2Server>();

function sessionFactory(hcm: CompiledHcm): http2.Http2Server {
  let f = factories.get(hcm);
  if (f === undefined) {
    const o = hcm.config.http2;
    f = http2.createServer({
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
      maxHeaderListPairs: 1024,
    });
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
  private closed = false;
  private draining = false;
  private idleTimer: NodeJS.Timeout | null = null;
  private idleSince = 0;

  constructor(readonly socket: net.Socket, readonly slot: HcmSlot, readonly scheme: 'http' | 'https',
              readonly bufferLimit: number, private readonly onClose: (c: Http2DownstreamConnection) => void) {
    const hcm = slot.hcm;
    this.cxHcm = hcm;
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

    const factory = sessionFactory(hcm);
    const made: { session?: http2.ServerHttp2Session } = {};
    const take = (x: http2.ServerHttp2Session) => { made.session = x; };
    factory.once('session', take);
    // Bytes already read off the socket (protocol detection) are handed to the session too.
    factory.emit('connection', socket);
    factory.off('session', take);
    const s = made.session;
    if (s === undefined) throw new Error('node:http2 did not create a session');
    this.session = s;
    const windowSize = hcm.config.http2.initialConnectionWindowSize;
    if (windowSize > 65535) s.setLocalWindowSize(windowSize);
    // node:http2 passes the raw field list (repeated fields apart, in order) as a fourth argument.
    s.on('stream', ((h2s: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders?: string[]) =>
      this.onStream(h2s, headers, flags, rawHeaders)) as (h2s: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => void);
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') this.cxHcm.stats.downstream_cx_protocol_error.inc();
    });
    s.on('frameError', () => { /* the stream is closed with an error */ });
    s.on('close', () => this.onClosed());
    this.markIdle();
  }

  private onStream(h2s: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, raw: string[] | undefined): void {
    if (this.closed) { h2s.close(NGHTTP2_INTERNAL_ERROR); return; }
    const codec = new Http2StreamCodec(this, h2s, this.slot.hcm);
    this.streams.add(codec);
    codec.start(raw ?? flattenHeaders(headers), (flags & NGHTTP2_FLAG_END_STREAM) !== 0);
    // Overload manager: envoy.overload_actions.disable_http_keepalive drains the connection (GOAWAY).
    if (overloadState.disableHttpKeepalive !== 0 && !this.draining && shed(overloadState.disableHttpKeepalive)) {
      this.slot.hcm.stats.downstream_cx_overload_disable_keepalive.inc();
      this.drain();
    }
  }

  /** A stream is over on the wire. */
  streamClosed(codec: Http2StreamCodec): void {
    this.streams.delete(codec);
    if (this.streams.size === 0) this.markIdle();
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    const stats = this.cxHcm.stats;
    stats.downstream_cx_active.dec();
    stats.downstream_cx_http2_active.dec();
    stats.downstream_cx_destroy.inc();
    if (this.idleTimer !== null) { clearTimeout(this.idleTimer); this.idleTimer = null; }
    let active = false;
    for (const c of this.streams) if (c.abandon()) active = true;
    this.streams.clear();
    if (active) stats.downstream_cx_destroy_remote_active_rq.inc();
    if (!this.session.destroyed) this.session.destroy();
    if (!this.socket.destroyed) this.socket.destroy();
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

  destroy(): void {
    this.session.destroy();
    this.socket.destroy();
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
  private responseTrailers: string[] | null = null;
  private tunnelled = false;
  /** Extended CONNECT for this upgrade type (RFC 8441), or null. */
  private upgrade: string | null = null;
  private routeTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private idleMs = 0;
  private activity = 0;
  private activitySeen = -1;

  constructor(private readonly conn: Http2DownstreamConnection, readonly h2s: http2.ServerHttp2Stream, readonly hcm: CompiledHcm) {
    this.remoteAddress = conn.remoteAddress;
    this.remotePort = conn.remotePort;
    this.remoteAddressPort = conn.remoteAddressPort;
    this.localAddress = conn.localAddress;
    this.scheme = conn.scheme;
    this.bufferLimit = conn.bufferLimit;
  }

  start(raw: readonly string[], endStream: boolean): void {
    const h2s = this.h2s;
    const head = toMessageHead(raw, endStream);
    h2s.on('error', () => { /* 'close' follows */ });
    h2s.on('close', () => this.onClose());
    if (head === null) { h2s.close(NGHTTP2_PROTOCOL_ERROR); return; }
    this.upgrade = head.upgrade;
    const active = new ActiveStream(this, head, 'HTTP/2');
    this.active = active;
    const stats = this.hcm.stats;
    let trailers: string[] | null = null;
    h2s.on('wantTrailers', () => {
      try { h2s.sendTrailers(toHeaderObject(this.responseTrailers ?? [], null)); } catch { h2s.close(NGHTTP2_INTERNAL_ERROR); }
    });
    h2s.on('drain', () => { this.activity++; if (!this.tunnelled) active.onDownstreamDrain(); });
    if (!endStream && head.upgrade === null) {
      h2s.on('data', (d: Buffer) => {
        this.activity++;
        stats.downstream_cx_rx_bytes_total.add(d.length);
        active.onRequestData(d);
      });
      h2s.on('trailers', (t: http2.IncomingHttpHeaders) => { trailers = flattenHeaders(t); });
      h2s.on('end', () => {
        this.requestEnded = true;
        active.onRequestComplete(trailers !== null && trailers.length > 0 ? trailers : null);
      });
    } else if (head.upgrade !== null) {
      // Nothing of the stream is read until the upstream agreed to the upgrade (startTunnel).
      h2s.pause();
    }
    this.setStreamIdleTimeout(this.hcm.config.streamIdleTimeoutMs);
    if (head.expectContinue) h2s.additionalHeaders({ ':status': 100 });
    // Known before start(): a local reply can finish the stream inside it, and onStreamDone must
    // not take a request that ended with its HEADERS for one still being sent (that would reset
    // the stream before its END_STREAM went out).
    this.requestEnded = endStream;
    active.start();
    if (endStream || head.upgrade !== null) active.onRequestComplete(null);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    const a = this.active;
    if (a !== null && !a.isDone && !this.tunnelled) a.onDownstreamReset();
    this.conn.streamClosed(this);
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

  flushPendingHead(): void { /* heads are written at once; node:http2 batches frames per tick */ }

  sendResponseHead(_stream: ActiveStream, status: number, headers: string[], contentLength: number, endStream: boolean): void {
    if (this.closed || this.h2s.destroyed) return;
    this.activity++;
    const upgraded = status === 101;
    const out = toHeaderObject(headers, upgraded ? 'sec-websocket-accept' : null);
    // RFC 8441 §5: the upgrade's success is a 2xx on the HTTP/2 stream.
    out[':status'] = upgraded ? 200 : status;
    if (!upgraded && contentLength >= 0 && status >= 200 && status !== 204 && status !== 304) out['content-length'] = String(contentLength);
    if (endStream) this.responseEnded = true;
    // sendDate: false, as the HTTP/1.1 codec: the upstream's Date is forwarded, none is made up.
    try {
      this.h2s.respond(out, { endStream, waitForTrailers: !endStream && !upgraded, sendDate: false } as http2.ServerStreamResponseOptions);
    } catch {
      // A field HTTP/2 cannot carry (node:http2 validates names and values): the stream fails.
      this.responseEnded = true;
      this.h2s.close(NGHTTP2_INTERNAL_ERROR);
    }
  }

  sendResponseData(_stream: ActiveStream, chunk: Buffer): boolean {
    this.activity++;
    if (this.closed || this.responseEnded || this.h2s.destroyed) return true;
    this.hcm.stats.downstream_cx_tx_bytes_total.add(chunk.length);
    return this.h2s.write(chunk);
  }

  sendResponseEnd(_stream: ActiveStream, trailers: string[] | null): void {
    if (this.closed || this.responseEnded || this.h2s.destroyed) return;
    this.responseEnded = true;
    this.responseTrailers = trailers;
    this.h2s.end(); // 'wantTrailers' sends them (or an empty DATA frame with END_STREAM)
  }

  resetStream(_stream: ActiveStream): void {
    if (this.closed || this.h2s.destroyed) return;
    this.h2s.close(NGHTTP2_INTERNAL_ERROR);
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
    if (this.responseEnded && !this.requestEnded) closeWhenFlushed(this.h2s);
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
        if (h2s.writableEnded) closeWhenFlushed(h2s);
        else h2s.close(NGHTTP2_INTERNAL_ERROR);
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

// ─────────────────────────── header conversion ───────────────────────────

/** A node:http2 header object as a flat [name, value, ...] list (repeated fields kept apart). */
function flattenHeaders(h: http2.IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const name of Object.keys(h)) {
    const v = h[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push(name, x);
    else out.push(name, String(v));
  }
  return out;
}

/** Flat fields → a node:http2 header object, without connection-specific fields (and `skip`). */
function toHeaderObject(fields: readonly string[], skip: string | null): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (isConnectionSpecific(name) || name === skip || name.charCodeAt(0) === 58 /* : */) continue;
    if (name === 'te') continue;
    const v = fields[i + 1]!;
    const prev = out[name];
    if (prev === undefined) out[name] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[name] = [String(prev), v];
  }
  return out;
}

/**
 * An HTTP/2 request's fields as the HTTP/1.1 parser would have produced them, or null when the
 * request is malformed (RFC 9113 §8.3: missing pseudo-headers, a bad content-length).
 */
export function toMessageHead(raw: readonly string[], endStream: boolean): MessageHead | null {
  let method = '', path = '', authority: string | null = null, protocol: string | null = null;
  let host: string | null = null;
  let cookies: string | null = null;
  let contentLength = -1;
  let expectContinue = false;
  let headBytes = 0;
  const headers: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    headBytes += name.length + value.length + 4;
    if (name.charCodeAt(0) === 58 /* : */) {
      switch (name) {
        case ':method': method = value; break;
        case ':path': path = value; break;
        case ':authority': authority = value; break;
        case ':protocol': protocol = value.toLowerCase(); break;
        default: break; // :scheme (the proxy sets x-forwarded-proto from the connection)
      }
      continue;
    }
    if (isConnectionSpecific(name)) continue;
    switch (name) {
      case 'host': host = value; continue;
      case 'cookie': cookies = cookies === null ? value : cookies + '; ' + value; continue;
      case 'content-length': {
        if (!/^\d+$/.test(value)) return null;
        const n = Number(value);
        if (contentLength >= 0 && n !== contentLength) return null;
        if (contentLength >= 0) continue;
        contentLength = n;
        break;
      }
      case 'expect':
        if (value.toLowerCase() === '100-continue') expectContinue = true;
        break;
    }
    headers.push(name, value);
  }
  let upgrade: string | null = null;
  if (method === 'CONNECT' && protocol !== null) {
    // Extended CONNECT (RFC 8441 §4, §5): an HTTP/1.1 upgrade request towards the upstream.
    upgrade = protocol;
    method = 'GET';
    headers.push('upgrade', protocol);
    if (protocol === 'websocket' && !headers.includes('sec-websocket-key')) {
      headers.push('sec-websocket-key', randomBytes(16).toString('base64'));
    }
    endStream = true; // no request body: the stream's bytes are the tunnel's
  } else if (method === 'CONNECT') {
    path = authority ?? '';
  } else if (method === '' || path === '') {
    return null;
  }
  const hostValue = authority ?? host;
  if (hostValue !== null) headers.unshift('host', hostValue);
  if (cookies !== null) headers.push('cookie', cookies);
  return {
    method,
    url: path,
    statusCode: 0,
    reason: '',
    versionMinor: 1,
    headers,
    contentLength,
    chunked: !endStream && contentLength < 0,
    keepAlive: true,
    upgrade,
    expectContinue,
    headBytes,
  };
}
