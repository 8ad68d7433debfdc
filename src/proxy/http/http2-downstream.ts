// One downstream HTTP/2 connection (RFC 9113) on node:http2; each stream is an Http2StreamCodec
// (http2-stream.ts) presenting the request to an ActiveStream as the MessageHead the HTTP/1.1
// parser produces (http2-headers.ts). Settings come from http2_protocol_options, with the edge
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
import { overloadState, shed } from '../overload/state.js';
import type { CompiledHcm } from './hcm.js';
import { formatAddress } from './http1-downstream.js';
import type { DownstreamConnectionHandle, HcmSlot } from '../listener/chain.js';
import { flattenHeaders, type RequestLimits } from './http2-headers.js';
import { Http2StreamCodec } from './http2-stream.js';
import { http2CodecStats, prematureResetCounter, type Http2CodecStats } from './http2-stats.js';
import { PriorityGuard, floodKind, invalidFrameBudget } from './http2-guard.js';

const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_FLAG_END_STREAM, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

/** The client connection preface (RFC 9113 §3.4). */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

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
    // Overload manager: envoy.overload_actions.disable_http_keepalive drains the connection (GOAWAY).
    if (overloadState.disableHttpKeepalive !== 0 && !this.draining && shed(overloadState.disableHttpKeepalive)) {
      this.slot.hcm.stats.downstream_cx_overload_disable_keepalive.inc();
      this.drain();
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

export { Http2StreamCodec };
