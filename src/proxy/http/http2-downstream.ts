// One downstream HTTP/2 connection (RFC 9113) on Weft's own HTTP/2 session
// (src/proxy/codec/http2/session.ts); each stream is an Http2StreamCodec (http2-stream.ts)
// presenting the request to an ActiveStream as the MessageHead the HTTP/1.1 parser produces
// (http2-headers.ts). Settings come from http2_protocol_options, with the edge defaults
// (100 streams, 64 KiB / 1 MiB windows). Envoy's protections: the session enforces
// max_concurrent_streams by refusing (http2.stream_refused_errors) and Envoy's flood limits with
// their configured values (http2.outbound_flood, outbound_control_flood, inbound_empty_frames_flood,
// inbound_priority_frames_flood, inbound_window_update_frames_flood); a client that goes away
// (FIN or reset, no GOAWAY) tears the session down with its streams and their upstream requests;
// premature resets (overload.premature_reset_*: a stream reset by the client within 1 s and
// before its response started) close the connection once at least 500 streams were seen and half
// were premature; a stream reset in the same read as its HEADERS never reaches the router (streams
// start when the session has processed the whole read: onReadEnd, as Envoy defers request
// processing to the end of the I/O event); the stream idle timeout also covers a response stuck
// behind a closed flow-control window (http2.tx_flush_timeout).

import type net from 'node:net';
import { scaledTimers, type ScaledTimerUser } from '../overload/scaled-timers.js';
import { overloadState, shed } from '../overload/state.js';
import type { CompiledHcm } from './hcm.js';
import { formatAddress } from './http1-downstream.js';
import type { DownstreamConnectionHandle, HcmSlot } from '../listener/chain.js';
import type { RequestLimits } from './http2-headers.js';
import { Http2StreamCodec } from './http2-stream.js';
import { http2CodecStats, prematureResetCounter, type Http2CodecStats } from './http2-stats.js';
import { createH2Session } from '../codec/http2/session.js';
import { ErrorCode, PREFACE, DEFAULT_MAX_FRAME_SIZE } from '../codec/http2/constants.js';
import type { H2FloodKind, H2Session, H2SessionHandler, H2SessionOptions, H2Stream, H2StreamRefusal } from '../codec/http2/types.js';

/** The client connection preface (RFC 9113 §3.4). */
export const H2_PREFACE = PREFACE;

/** The most response bytes one stream queues in the session (see h2Config). */
const STREAM_BUFFER_CAP = 64 * 1024;

/** Envoy's overload.premature_reset_total_stream_count default. */
const PREMATURE_RESET_TOTAL_STREAMS = 500;

// ─────────────────────────── per connection manager ───────────────────────────

/** What every connection of one compiled connection manager shares: the session options and the request limits. */
interface H2Config {
  readonly options: H2SessionOptions;
  readonly limits: RequestLimits;
}

const configs = new WeakMap<CompiledHcm, Map<number, H2Config>>();

/** The session options of a connection manager (per buffer limit), built once. */
function h2Config(hcm: CompiledHcm, bufferLimit: number): H2Config {
  let byLimit = configs.get(hcm);
  if (byLimit === undefined) { byLimit = new Map(); configs.set(hcm, byLimit); }
  let c = byLimit.get(bufferLimit);
  if (c === undefined) {
    const o = hcm.config.http2;
    const options: H2SessionOptions = {
      role: 'server',
      settings: {
        headerTableSize: o.hpackTableSize,
        maxConcurrentStreams: o.maxConcurrentStreams,
        initialWindowSize: o.initialStreamWindowSize,
        maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
        maxHeaderListSize: hcm.maxHeaderBytes,
        // Extended CONNECT (RFC 8441) when websocket over HTTP/2 may be proxied.
        enableConnectProtocol: o.allowConnect || hcm.upgrades.has('websocket'),
      },
      connectionWindowSize: o.initialConnectionWindowSize,
      limits: {
        maxOutboundFrames: o.maxOutboundFrames,
        maxOutboundControlFrames: o.maxOutboundControlFrames,
        maxConsecutiveInboundFramesWithEmptyPayload: o.maxConsecutiveInboundFramesWithEmptyPayload,
        maxInboundPriorityFramesPerStream: o.maxInboundPriorityFramesPerStream,
        maxInboundWindowUpdateFramesPerDataFrameSent: o.maxInboundWindowUpdateFramesPerDataFrameSent,
      },
      // Response bytes a stream may hold while the client does not take them (its window closed,
      // the socket full): Envoy's per-stream high watermark is the connection buffer limit; capped
      // at 64 KiB (about a stream window) so that a zero-window client pins at most
      // max_concurrent_streams × 64 KiB per connection (the upstream waits meanwhile, and the
      // stream idle timeout frees both: http2.tx_flush_timeout).
      streamBufferLimit: Math.min(bufferLimit, STREAM_BUFFER_CAP),
      drainTimeoutMs: hcm.config.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
    };
    c = { options, limits: { maxHeadersCount: hcm.config.maxHeadersCount, underscores: hcm.config.headersWithUnderscoresAction } };
    byLimit.set(bufferLimit, c);
  }
  return c;
}

/** HCM drain_timeout's default (Envoy: 5 s). */
const DEFAULT_DRAIN_TIMEOUT_MS = 5000;

// ─────────────────────────── the connection ───────────────────────────

export class Http2DownstreamConnection implements DownstreamConnectionHandle, H2SessionHandler, ScaledTimerUser {
  readonly session: H2Session;
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
  /** Premature-reset accounting (Envoy's ConnectionManagerImpl): streams closed, and those reset early by the client. */
  private closedStreams = 0;
  private prematureResets = 0;
  private prematureCounted = false;
  /** Streams with a request in flight that the session reset when the connection went away. */
  private abandonedActive = false;

  constructor(readonly socket: net.Socket, readonly slot: HcmSlot, readonly scheme: 'http' | 'https',
              readonly bufferLimit: number, private readonly onCloseCb: (c: Http2DownstreamConnection) => void) {
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
    const cfg = h2Config(hcm, bufferLimit);
    this.limits = cfg.limits;
    // The session reads the socket (bytes already read by protocol detection were unshifted onto
    // it); a FIN, an error or a close ends it with its streams (onClose).
    this.session = createH2Session(socket, cfg.options, this);
    // Protocol detection may have paused the socket (and unshifted what it read).
    socket.resume();
    scaledTimers.register(this);
    this.markIdle();
  }

  /** envoy.overload_actions.reduce_timeouts changed its scale: armed idle timers take the new value. */
  onTimerScaleChange(): void {
    if (this.closed) return;
    for (const c of this.streams) c.rescaleIdleTimer();
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
      this.onIdleTimer();
    }
  }

  // ─────────────── H2SessionHandler ───────────────

  onStream(h2s: H2Stream, headers: string[], endStream: boolean): void {
    if (this.closed) return; // no handler: the session refuses it
    const codec = new Http2StreamCodec(this, h2s, this.slot.hcm, headers, endStream);
    h2s.handler = codec;
    h2s.user = codec;
    this.streams.add(codec);
    this.codecStats.streams_active.inc();
    this.pending.push(codec);
    // Overload manager: envoy.overload_actions.disable_http_keepalive drains the connection (GOAWAY).
    if (overloadState.disableHttpKeepalive !== 0 && !this.draining && shed(overloadState.disableHttpKeepalive)) {
      this.slot.hcm.stats.downstream_cx_overload_disable_keepalive.inc();
      this.drain();
    }
  }

  /** The whole read was processed: start the streams it opened, but not those the client reset meanwhile. */
  onReadEnd(): void {
    const list = this.pending;
    if (list.length === 0) return;
    this.pending = [];
    for (let i = 0; i < list.length; i++) {
      if (this.closed) return;
      list[i]!.start();
    }
  }

  onStreamRefused(reason: H2StreamRefusal): void {
    const s = this.codecStats;
    switch (reason) {
      case 'max_concurrent_streams': s.stream_refused_errors.inc(); break;
      case 'header_list_size': s.header_overflow.inc(); break;
      case 'malformed': s.rx_messaging_error.inc(); break;
      default: break; // 'draining': opened after our GOAWAY
    }
  }

  onFlood(kind: H2FloodKind): void {
    const s = this.codecStats;
    switch (kind) {
      case 'outbound': s.outbound_flood.inc(); break;
      case 'outbound_control': s.outbound_control_flood.inc(); break;
      case 'inbound_empty': s.inbound_empty_frames_flood.inc(); break;
      case 'inbound_priority': s.inbound_priority_frames_flood.inc(); break;
      case 'inbound_window_update': s.inbound_window_update_frames_flood.inc(); break;
    }
    this.cxHcm.stats.downstream_cx_protocol_error.inc();
  }

  onProtocolError(_code: number, _detail: string): void {
    this.cxHcm.stats.downstream_cx_protocol_error.inc();
  }

  onClose(): void {
    this.onClosed();
  }

  // ─────────────── streams ───────────────

  /** Whether the session is going away (a stream reset by the session is then abandoned, not failed). */
  get sessionClosed(): boolean { return this.closed || this.session.closed; }

  /** A stream with a request in flight was abandoned as the connection went away. */
  streamAbandoned(): void { this.abandonedActive = true; }

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
      this.closeWith(ErrorCode.ENHANCE_YOUR_CALM);
      return;
    }
    if (this.streams.size === 0) this.markIdle();
  }

  private countPremature(): void {
    if (this.prematureCounted) return;
    this.prematureCounted = true;
    prematureResetCounter(this.cxHcm).inc();
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    const stats = this.cxHcm.stats;
    stats.downstream_cx_active.dec();
    stats.downstream_cx_http2_active.dec();
    stats.downstream_cx_destroy.inc();
    scaledTimers.unregister(this);
    if (this.idleTimer !== null) { clearTimeout(this.idleTimer); this.idleTimer = null; }
    let active = this.abandonedActive;
    for (const c of this.streams) if (c.abandon()) active = true;
    this.codecStats.streams_active.add(-this.streams.size);
    this.streams.clear();
    this.pending = [];
    if (active) stats.downstream_cx_destroy_remote_active_rq.inc();
    // As Envoy, the premature-reset check runs once more when the connection goes away.
    if (this.closedStreams >= PREMATURE_RESET_TOTAL_STREAMS && this.prematureResets * 2 >= this.closedStreams) this.countPremature();
    this.onCloseCb(this);
  }

  // ─────────────── idle timeout (no stream open for idle_timeout) ───────────────

  private markIdle(): void {
    // envoy.overload_actions.reduce_timeouts (HTTP_DOWNSTREAM_CONNECTION_IDLE) scales it.
    const ms = scaledTimers.connectionIdleMs(this.cxHcm.config.idleTimeoutMs);
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
    const ms = scaledTimers.connectionIdleMs(this.cxHcm.config.idleTimeoutMs);
    if (ms <= 0) return;
    const left = this.idleSince + ms - performance.now();
    if (this.streams.size > 0 || left > 1) {
      this.idleTimer = setTimeout(() => this.onIdleTimer(), this.streams.size > 0 ? ms : left);
      this.idleTimer.unref();
      return;
    }
    this.cxHcm.stats.downstream_cx_idle_timeout.inc();
    this.session.close(ErrorCode.NO_ERROR);
  }

  // ─────────────── DownstreamConnectionHandle ───────────────

  /** Graceful: GOAWAY (Envoy's two phases); streams in flight finish, then the connection closes. */
  drain(): void {
    if (this.draining || this.closed) return;
    this.draining = true;
    this.session.shutdown();
  }

  /** Closes at once; streams are reset (their upstream requests abandoned). */
  destroy(): void {
    if (this.closed) return;
    // Streams first (abandoned, so the session's resets that follow are no news to them).
    this.onClosed();
    this.session.destroy();
  }

  /** GOAWAY(code) and close; streams are reset. The session gives the socket a moment to flush the GOAWAY. */
  private closeWith(code: number): void {
    if (this.closed) return;
    this.onClosed();
    this.session.close(code);
  }

  get idle(): boolean { return this.streams.size === 0; }
}

export { Http2StreamCodec };
