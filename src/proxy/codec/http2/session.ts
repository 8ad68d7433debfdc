// Weft's HTTP/2 session (RFC 9113) on a raw socket, client or server: the connection state, the
// write path (coalesced: one socket write per read-processing turn or per tick, DATA payloads as
// views), outbound flow control (round-robin over streams with queued data, §5.2, §6.9), the
// connection lifecycle (§6.8 GOAWAY, Envoy's two-phase graceful drain on the server, connection
// errors §5.4.1), PING with round-trip times, and Envoy's flood limits
// (protocol_constraints.cc formulas). Frame parsing and the per-frame rules live in inbound.ts,
// header validation in validate.ts, the stream in stream.ts, frame serialization in frames.ts.

import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import {
  DEFAULT_HEADER_TABLE_SIZE, DEFAULT_INITIAL_WINDOW_SIZE, DEFAULT_MAX_FRAME_SIZE, ErrorCode, FRAME_HEADER_LENGTH,
  MAX_STREAM_ID, PREFACE, SettingId,
} from './constants.js';
import { FrameWriter } from './frames.js';
import { createHpackDecoder, createHpackEncoder } from './hpack/index.js';
import { onFrame } from './inbound.js';
import { CONNECTION_LOST, H2StreamImpl, SendResult } from './stream.js';
import type {
  H2FloodKind, H2RemoteSettings, H2Session, H2SessionHandler, H2SessionOptions, H2Stream, H2StreamHandler,
  H2StreamRefusal, HpackDecoder, HpackEncoder,
} from './types.js';

const enum State { Open = 0, Closing = 1, Closed = 2 }

/** The largest dynamic table our encoder uses, whatever the peer allows (memory per connection). */
const ENCODER_TABLE_CAP = 16 * 1024;
/** How long a closing session waits for its last frames to be written before destroying the socket. */
const CLOSE_LINGER_MS = 1000;
/** First 4 payload bytes of PINGs: user pings and the drain ping are told apart. */
const PING_USER = 0x57656674; // 'Weft'
const PING_DRAIN = 0x44524149; // 'DRAI'
/** How many closed streams the session remembers (how they closed decides what frames on them mean, §5.1). */
const CLOSED_RING = 128;

/** How a remembered stream closed. */
export const enum Closed { Unknown = 0, ResetByUs = 1, ResetByPeer = 2, Normally = 3 }

interface PendingPing { readonly lo: number; readonly t: number; readonly cb: (err: Error | null, rttMs: number) => void }

export function createH2Session(socket: Duplex, options: H2SessionOptions, handler: H2SessionHandler): H2Session {
  return new Session(socket, options, handler);
}

/** The session. Members not in H2Session are internal (used by inbound.ts and stream.ts). */
export class Session implements H2Session {
  readonly role: 'server' | 'client';
  readonly socket: Duplex;
  readonly h: H2SessionHandler;
  readonly opts: H2SessionOptions;
  readonly settings: H2SessionOptions['settings'];
  readonly limits: H2SessionOptions['limits'];
  readonly streamBufferLimit: number;
  readonly writer: FrameWriter;
  readonly decoder: HpackDecoder;
  readonly encoder: HpackEncoder;

  readonly streams = new Map<number, H2StreamImpl>();
  localStreams = 0;
  peerStreams = 0;
  /** Client: the id of the next request. */
  nextStreamId: number;
  /** Highest stream id the peer opened (processed or refused). */
  lastPeerStreamId = 0;
  /** Stream ids are the peer's when (id & 1) equals this. */
  readonly peerParity: number;

  remote: H2RemoteSettings = {
    headerTableSize: DEFAULT_HEADER_TABLE_SIZE, enablePush: true, maxConcurrentStreams: Infinity,
    initialWindowSize: DEFAULT_INITIAL_WINDOW_SIZE, maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
    maxHeaderListSize: Infinity, enableConnectProtocol: false,
  };
  remoteSettingsReceived = false;
  localSettingsAcked = false;

  // Flow control.
  connSendWindow = DEFAULT_INITIAL_WINDOW_SIZE;
  connRecvAvail = DEFAULT_INITIAL_WINDOW_SIZE;
  readonly connRecvSize: number;
  private connRecvConsumed = 0;
  private readonly streamGrantThreshold: number;
  private readonly ready: H2StreamImpl[] = [];
  private readonly drains: H2StreamImpl[] = [];

  // Reading.
  private prefaceLeft: number;
  awaitingSettings = true;
  private parts: Buffer[] = [];
  private partLen = 0;
  private partNeed = 0;
  private inRead = false;
  // Header block being continued (CONTINUATION, §6.10): stream id or 0.
  contId = 0;
  contParts: Buffer[] = [];
  contLen = 0;
  contEnd = false;
  contSelfDep = false;
  /** A header block larger than this closes the connection (bounded CONTINUATION). */
  readonly maxHeaderBlock: number;

  // Flood accounting (Envoy's ProtocolConstraints).
  emptyFrames = 0;
  inboundStreams = 0;
  priorityFrames = 0;
  windowUpdateFrames = 0;
  outboundDataFrames = 0;

  // Lifecycle.
  private state = State.Open;
  /** Server drain: 0 none, 1 first GOAWAY + PING sent, 2 final GOAWAY sent. */
  private drainPhase = 0;
  /** Last-stream-id of the final GOAWAY we sent (streams above it are refused). */
  goawayLastId = MAX_STREAM_ID;
  private goawaySent = false;
  private goawayReceived = false;
  private flushScheduled = false;
  private flushing = false;
  /** The socket is to be ended once the current flush has written. */
  private endPending = false;
  private pings: PendingPing[] = [];
  private pingSeq = 0;
  private readonly closedIds = new Int32Array(CLOSED_RING);
  private readonly closedHow = new Uint8Array(CLOSED_RING);
  private closedAt = 0;
  private lingerTimer: NodeJS.Timeout | null = null;
  private drainTimer: NodeJS.Timeout | null = null;

  private readonly onSocketData = (chunk: Buffer): void => this.read(chunk);
  private readonly onSocketDrain = (): void => this.flush();
  private readonly onSocketGone = (): void => this.finish();
  private readonly onSocketError = (): void => this.finish();
  private readonly flushCb = (): void => this.flush();

  constructor(socket: Duplex, options: H2SessionOptions, handler: H2SessionHandler) {
    this.role = options.role;
    this.socket = socket;
    this.h = handler;
    this.opts = options;
    this.settings = options.settings;
    this.limits = options.limits;
    this.streamBufferLimit = options.streamBufferLimit;
    this.peerParity = this.role === 'server' ? 1 : 0;
    this.nextStreamId = this.role === 'client' ? 1 : 2;
    this.prefaceLeft = this.role === 'server' ? PREFACE.length : 0;
    this.connRecvSize = Math.max(options.connectionWindowSize, DEFAULT_INITIAL_WINDOW_SIZE);
    this.streamGrantThreshold = Math.max(1, Math.floor(this.settings.initialWindowSize / 2));
    this.maxHeaderBlock = 2 * this.settings.maxHeaderListSize + 16 * 1024;
    this.writer = new FrameWriter(socket, this.limits.maxOutboundFrames, this.limits.maxOutboundControlFrames, (k) => this.flood(k));
    this.decoder = createHpackDecoder(Math.max(this.settings.headerTableSize, DEFAULT_HEADER_TABLE_SIZE));
    this.encoder = createHpackEncoder();

    const s = socket as Duplex & { setNoDelay?: (v: boolean) => void };
    if (typeof s.setNoDelay === 'function') s.setNoDelay(true);
    socket.on('data', this.onSocketData);
    socket.on('drain', this.onSocketDrain);
    socket.on('end', this.onSocketGone);
    socket.on('close', this.onSocketGone);
    socket.on('error', this.onSocketError);

    // Our preface (§3.4): the client's magic, then SETTINGS, then the connection window.
    if (this.role === 'client') this.writer.payload(PREFACE);
    const st = this.settings;
    const pairs: number[] = [SettingId.ENABLE_PUSH, 0];
    if (st.headerTableSize !== DEFAULT_HEADER_TABLE_SIZE) pairs.push(SettingId.HEADER_TABLE_SIZE, st.headerTableSize);
    pairs.push(SettingId.MAX_CONCURRENT_STREAMS, st.maxConcurrentStreams);
    if (st.initialWindowSize !== DEFAULT_INITIAL_WINDOW_SIZE) pairs.push(SettingId.INITIAL_WINDOW_SIZE, st.initialWindowSize);
    if (st.maxFrameSize !== DEFAULT_MAX_FRAME_SIZE) pairs.push(SettingId.MAX_FRAME_SIZE, st.maxFrameSize);
    pairs.push(SettingId.MAX_HEADER_LIST_SIZE, st.maxHeaderListSize);
    if (st.enableConnectProtocol && this.role === 'server') pairs.push(SettingId.ENABLE_CONNECT_PROTOCOL, 1);
    this.writer.settings(pairs);
    if (this.connRecvSize > DEFAULT_INITIAL_WINDOW_SIZE) {
      this.writer.windowUpdate(0, this.connRecvSize - DEFAULT_INITIAL_WINDOW_SIZE);
      this.connRecvAvail = this.connRecvSize;
    }
    if (socket.destroyed) { queueMicrotask(this.onSocketGone); return; }
    this.writer.flush();
  }

  // ─────────────────────────── H2Session ───────────────────────────

  get remoteSettings(): H2RemoteSettings { return this.remote; }
  get activeStreams(): number { return this.streams.size; }
  get draining(): boolean { return this.drainPhase > 0 || this.goawaySent || this.goawayReceived; }
  get closed(): boolean { return this.state !== State.Open; }
  get canOpenStream(): boolean {
    return this.role === 'client' && this.state === State.Open && this.remoteSettingsReceived && !this.draining &&
      this.localStreams < this.remote.maxConcurrentStreams && this.nextStreamId <= MAX_STREAM_ID;
  }
  /** Frames queued towards the socket and not yet written (Envoy's outbound frame accounting). */
  get outboundFrames(): number { return this.writer.outboundFrames; }

  request(fields: readonly string[], endStream: boolean, handler: H2StreamHandler): H2Stream {
    if (!this.canOpenStream) throw new Error('HTTP/2 session cannot open a stream now');
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const st = new H2StreamImpl(id, this, this.remote.initialWindowSize, this.recvWindowForNewStream(), true);
    st.handler = handler;
    for (let i = 0; i < fields.length && fields[i]!.charCodeAt(0) === 0x3a; i += 2) {
      if (fields[i] === ':method') { st.head = fields[i + 1] === 'HEAD'; break; }
    }
    this.streams.set(id, st);
    this.localStreams++;
    this.writeHeaders(st, fields, endStream);
    if (endStream) st.localEnded = true;
    return st;
  }

  shutdown(): void {
    if (this.state !== State.Open) return;
    if (this.role === 'server') {
      if (this.drainPhase > 0) return;
      this.drainPhase = 1;
      this.writer.goaway(MAX_STREAM_ID, ErrorCode.NO_ERROR);
      this.writer.ping(false, PING_DRAIN, 0);
      this.drainTimer = setTimeout(() => this.finalGoaway(), this.opts.drainTimeoutMs ?? 5000);
      this.drainTimer.unref();
      this.scheduleFlush();
    } else {
      if (this.goawaySent) return;
      this.goawaySent = true;
      this.writer.goaway(this.lastPeerStreamId, ErrorCode.NO_ERROR);
      this.scheduleFlush();
      this.checkDrained();
    }
  }

  close(code: number): void { this.terminate(code); }

  destroy(): void {
    if (this.state === State.Closed) return;
    this.socket.destroy();
    this.finish();
  }

  ping(cb: (err: Error | null, rttMs: number) => void): void {
    if (this.state !== State.Open) { queueMicrotask(() => cb(new Error('HTTP/2 session closed'), 0)); return; }
    const lo = ++this.pingSeq >>> 0;
    this.pings.push({ lo, t: performance.now(), cb });
    this.writer.ping(false, PING_USER, lo);
    this.scheduleFlush();
  }

  // ─────────────────────────── reading ───────────────────────────

  private read(chunk: Buffer): void {
    if (this.state !== State.Open) return;
    let buf = chunk;
    if (this.partLen > 0) {
      this.parts.push(chunk);
      this.partLen += chunk.length;
      if (this.partLen < this.partNeed) return;
      buf = Buffer.concat(this.parts, this.partLen);
      this.parts.length = 0;
      this.partLen = 0;
    }
    const len = buf.length;
    let off = 0;
    if (this.prefaceLeft > 0) {
      const at = PREFACE.length - this.prefaceLeft;
      const n = Math.min(this.prefaceLeft, len);
      if (buf.compare(PREFACE, at, at + n, 0, n) !== 0) { this.connError(ErrorCode.PROTOCOL_ERROR, 'invalid connection preface'); return; }
      this.prefaceLeft -= n;
      off = n;
      if (this.prefaceLeft > 0) return;
    }
    this.inRead = true;
    try {
      const max = this.settings.maxFrameSize;
      while (len - off >= FRAME_HEADER_LENGTH) {
        const flen = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
        if (flen > max) { this.connError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${flen} bytes above SETTINGS_MAX_FRAME_SIZE`); break; }
        if (len - off - FRAME_HEADER_LENGTH < flen) break;
        onFrame(this, buf, off + FRAME_HEADER_LENGTH, flen, buf[off + 3]!, buf[off + 4]!, buf.readUInt32BE(off + 5) & MAX_STREAM_ID);
        off += FRAME_HEADER_LENGTH + flen;
        if (this.state !== State.Open) break;
      }
    } catch (err) {
      this.connError(ErrorCode.INTERNAL_ERROR, `internal error: ${(err as Error)?.message ?? String(err)}`);
    }
    this.inRead = false;
    if (this.state === State.Open && off < len) {
      const rest = off === 0 ? buf : buf.subarray(off);
      this.parts.push(rest);
      this.partLen = rest.length;
      this.partNeed = rest.length >= FRAME_HEADER_LENGTH ? FRAME_HEADER_LENGTH + ((rest[0]! << 16) | (rest[1]! << 8) | rest[2]!) : FRAME_HEADER_LENGTH;
    }
    if ((this.state as State) === State.Closed) return;
    this.h.onReadEnd?.();
    this.flush();
  }

  // ─────────────────────────── inbound helpers (inbound.ts) ───────────────────────────

  /** Whether `id` names a stream that was never opened (§5.1 idle). */
  isIdle(id: number): boolean {
    return (id & 1) === this.peerParity ? id > this.lastPeerStreamId : id >= this.nextStreamId;
  }

  recvWindowForNewStream(): number {
    return this.localSettingsAcked ? this.settings.initialWindowSize : DEFAULT_INITIAL_WINDOW_SIZE;
  }

  /** Counts an inbound DATA/HEADERS/CONTINUATION frame; `empty`: empty payload without END_STREAM. */
  trackEmpty(empty: boolean): void {
    if (!empty) { this.emptyFrames = 0; return; }
    if (++this.emptyFrames > this.limits.maxConsecutiveInboundFramesWithEmptyPayload) this.flood('inbound_empty');
  }

  /** Envoy's PRIORITY and WINDOW_UPDATE formulas. */
  checkInboundFlood(): void {
    if (this.priorityFrames > this.limits.maxInboundPriorityFramesPerStream * (1 + this.inboundStreams)) this.flood('inbound_priority');
    else if (this.windowUpdateFrames > 1 + 2 * (this.inboundStreams + this.limits.maxInboundWindowUpdateFramesPerDataFrameSent * this.outboundDataFrames)) {
      this.flood('inbound_window_update');
    }
  }

  /** DATA bytes (padding included) that left the connection window were delivered: batch the connection WINDOW_UPDATE. */
  connConsumed(n: number): void {
    this.connRecvConsumed += n;
    if (this.connRecvConsumed >= this.connRecvSize >>> 1) {
      this.writer.windowUpdate(0, this.connRecvConsumed);
      this.connRecvAvail += this.connRecvConsumed;
      this.connRecvConsumed = 0;
      this.scheduleFlush();
    }
  }

  /** Grants a stream's consumed window back once it reaches the batch threshold (not while paused). */
  grantStream(st: H2StreamImpl): void {
    if (st.paused || st.remoteEnded || st.closed || st.recvConsumed < this.streamGrantThreshold) return;
    this.writer.windowUpdate(st.id, st.recvConsumed);
    st.recvWindow += st.recvConsumed;
    st.recvConsumed = 0;
    this.scheduleFlush();
  }

  onSettingsAck(): void {
    if (this.localSettingsAcked) return;
    this.localSettingsAcked = true;
    const delta = this.settings.initialWindowSize - DEFAULT_INITIAL_WINDOW_SIZE;
    if (delta !== 0) for (const st of this.streams.values()) st.recvWindow += delta;
    if (this.settings.headerTableSize < DEFAULT_HEADER_TABLE_SIZE) this.decoder.setMaxTableSize(this.settings.headerTableSize);
  }

  applyRemoteSettings(next: H2RemoteSettings): void {
    const first = !this.remoteSettingsReceived;
    const prev = this.remote;
    this.remote = next;
    this.remoteSettingsReceived = true;
    this.awaitingSettings = false;
    if (next.headerTableSize !== prev.headerTableSize) this.encoder.setMaxTableSize(Math.min(next.headerTableSize, ENCODER_TABLE_CAP));
    this.writer.settingsAck();
    this.h.onRemoteSettings?.(next, first);
  }

  /** Adds a stream with queued data to the round-robin list. */
  dataQueued(st: H2StreamImpl): void {
    if (st.closed) return;
    if (!st.inReady && st.hasPending) { st.inReady = true; this.ready.push(st); }
    this.scheduleFlush();
  }

  /** Connection send window grew or a stream's did: make it eligible again. */
  windowOpened(st: H2StreamImpl | null): void {
    if (st !== null && !st.inReady && st.hasPending && !st.closed) { st.inReady = true; this.ready.push(st); }
    this.scheduleFlush();
  }

  dataFrameSent(n: number): void {
    this.connSendWindow -= n;
    this.outboundDataFrames++;
  }

  drainLater(st: H2StreamImpl): void { this.drains.push(st); }

  writeHeaders(st: H2StreamImpl, fields: readonly string[], endStream: boolean): void {
    if (st.closed || this.state !== State.Open) return;
    this.writer.headers(st.id, this.encoder.encode(fields), endStream, this.remote.maxFrameSize);
    this.scheduleFlush();
  }

  /** A new stream the peer opened and we accepted. */
  addPeerStream(st: H2StreamImpl): void {
    this.streams.set(st.id, st);
    this.peerStreams++;
  }

  /** Sends RST_STREAM for a stream that is not (or no longer) in the table; frames that follow on it are ignored. */
  refuse(id: number, code: number, reason: H2StreamRefusal | null): void {
    this.writer.rstStream(id, code);
    this.rememberClosed(id, Closed.ResetByUs);
    if (reason !== null) this.h.onStreamRefused?.(reason);
  }

  rememberClosed(id: number, how: Closed): void {
    this.closedIds[this.closedAt] = id;
    this.closedHow[this.closedAt] = how;
    this.closedAt = (this.closedAt + 1) % CLOSED_RING;
  }

  /** How a recently closed stream closed (Unknown when it is no longer remembered or was never opened). */
  howClosed(id: number): Closed {
    const r = this.closedIds;
    for (let i = 0; i < CLOSED_RING; i++) if (r[i] === id) return this.closedHow[i] as Closed;
    return Closed.Unknown;
  }

  /** RST_STREAM(code) from our side; `notify`: the handler hears onReset(code, false) (a stream error we detected). */
  resetStream(st: H2StreamImpl, code: number, notify: boolean): void {
    if (st.closed) return;
    if (this.state === State.Open) {
      this.writer.rstStream(st.id, code);
    }
    st.localEnded = true;
    this.closeStream(st, Closed.ResetByUs);
    if (notify) st.handler?.onReset(code, false);
    this.scheduleFlush();
  }

  /** The peer reset the stream (RST_STREAM, or its GOAWAY refused it). */
  remoteReset(st: H2StreamImpl, code: number): void {
    if (st.closed) return;
    this.closeStream(st, Closed.ResetByPeer);
    st.handler?.onReset(code, true);
  }

  /** Takes the stream out of the table (no callback). */
  private closeStream(st: H2StreamImpl, how: Closed): void {
    this.rememberClosed(st.id, how);
    st.closed = true;
    st.dropQueue();
    this.streams.delete(st.id);
    if (st.local) this.localStreams--; else this.peerStreams--;
    this.checkDrained();
  }

  /** END_STREAM went out (handed to the writer). */
  streamLocalEnded(st: H2StreamImpl): void { this.maybeClose(st); }

  /** Closes a stream whose both directions ended. */
  maybeClose(st: H2StreamImpl): void {
    if (!st.localEnded || !st.remoteEnded || st.closed) return;
    this.closeStream(st, Closed.Normally);
    st.handler?.onClose?.();
  }

  onPingAck(hi: number, lo: number): void {
    if (hi === PING_DRAIN) { this.finalGoaway(); return; }
    if (hi !== PING_USER) return;
    const i = this.pings.findIndex((p) => p.lo === lo);
    if (i < 0) return;
    const p = this.pings[i]!;
    this.pings.splice(i, 1);
    p.cb(null, performance.now() - p.t);
  }

  onGoaway(lastStreamId: number, code: number): void {
    this.goawayReceived = true;
    let refused: H2StreamImpl[] | null = null;
    for (const st of this.streams.values()) {
      if (st.local && st.id > lastStreamId) (refused ??= []).push(st);
    }
    if (refused !== null) for (const st of refused) this.remoteReset(st, ErrorCode.REFUSED_STREAM);
    this.h.onGoaway?.(code, lastStreamId);
    this.checkDrained();
  }

  // ─────────────────────────── writing ───────────────────────────

  scheduleFlush(): void {
    if (this.inRead || this.flushScheduled || this.flushing || this.state === State.Closed) return;
    this.flushScheduled = true;
    setImmediate(this.flushCb);
  }

  /** Moves queued DATA into the writer (as windows and the socket allow) and writes everything out. */
  flush(): void {
    this.flushScheduled = false;
    if (this.flushing) return;
    if (this.state === State.Closed) { this.endPending = false; return; }
    this.flushing = true;
    try {
      for (let turns = 0; turns < 64; turns++) {
        if (this.ready.length > 0 && this.state === State.Open) this.moveData();
        while (this.drains.length > 0) {
          const st = this.drains.shift()!;
          if (!st.closed) st.handler?.onDrain();
          if (this.ready.length > 0 && this.state === State.Open) this.moveData();
        }
        if (this.writer.pendingBytes === 0) break;
        if ((this.state as State) === State.Closed) { this.writer.drop(); break; }
        if (!this.writer.flush()) break;
        if (this.ready.length === 0 || this.connSendWindow <= 0) break;
      }
    } finally {
      this.flushing = false;
    }
    if (this.endPending) {
      this.endPending = false;
      const s = this.socket;
      if (!s.destroyed && !s.writableEnded) s.end();
    }
  }

  /** Round-robin: one frame per ready stream per round, until windows, the queue or the socket budget run out. */
  private moveData(): void {
    const rr = this.ready;
    const sock = this.socket as Duplex & { writableLength: number; writableHighWaterMark: number };
    const budget = Math.max(sock.writableHighWaterMark, 65536);
    while (rr.length > 0) {
      if (this.writer.pendingBytes + sock.writableLength >= budget) return;
      const before = this.writer.pendingBytes;
      let w = 0;
      for (let i = 0; i < rr.length; i++) {
        const st = rr[i]!;
        const r = st.sendOne(this.connSendWindow, this.remote.maxFrameSize);
        if (r === SendResult.Done) st.inReady = false;
        else rr[w++] = st;
      }
      rr.length = w;
      if (this.writer.pendingBytes === before) return;
    }
  }

  // ─────────────────────────── errors and closing ───────────────────────────

  /** A connection error (§5.4.1) we detected. */
  connError(code: number, detail: string): void {
    if (this.state !== State.Open) return;
    this.h.onProtocolError?.(code, detail);
    this.terminate(code);
  }

  /** A stream error (§5.4.2) we detected: RST_STREAM(code), the handler hears onReset(code, false). */
  streamError(st: H2StreamImpl, code: number): void { this.resetStream(st, code, true); }

  flood(kind: H2FloodKind): void {
    if (this.state !== State.Open) return;
    this.h.onFlood?.(kind);
    this.terminate(ErrorCode.ENHANCE_YOUR_CALM);
  }

  /** GOAWAY(code) with the last stream we processed, every stream reset, socket closed once flushed (at most 1 s). */
  private terminate(code: number): void {
    if (this.state !== State.Open) return;
    this.writer.counting = false;
    this.writer.goaway(this.lastPeerStreamId, code);
    this.state = State.Closing;
    this.resetAll(code === ErrorCode.NO_ERROR ? CONNECTION_LOST : code);
    this.failPings();
    this.endSocket();
  }

  /** Draining and no stream left: close gracefully. */
  private checkDrained(): void {
    if (this.state !== State.Open || this.streams.size > 0) return;
    if (this.drainPhase === 2 || this.goawayReceived || this.goawaySent) {
      this.state = State.Closing;
      this.failPings();
      this.endSocket();
    }
  }

  private finalGoaway(): void {
    if (this.drainTimer !== null) { clearTimeout(this.drainTimer); this.drainTimer = null; }
    if (this.state !== State.Open || this.drainPhase !== 1) return;
    this.drainPhase = 2;
    this.goawayLastId = this.lastPeerStreamId;
    this.writer.goaway(this.lastPeerStreamId, ErrorCode.NO_ERROR);
    this.scheduleFlush();
    this.checkDrained();
  }

  /** Writes what is queued, then FIN; destroys the socket if that takes longer than CLOSE_LINGER_MS. */
  private endSocket(): void {
    this.endPending = true;
    if (!this.flushing) this.flush(); // else the flush in progress ends the socket after its write
    const s = this.socket;
    this.lingerTimer = setTimeout(() => { if (!s.destroyed) s.destroy(); this.finish(); }, CLOSE_LINGER_MS);
    this.lingerTimer.unref();
  }

  private resetAll(code: number): void {
    if (this.streams.size === 0) return;
    const all = [...this.streams.values()];
    for (const st of all) {
      if (st.closed) continue;
      st.localEnded = true;
      st.closed = true;
      st.dropQueue();
      this.streams.delete(st.id);
      if (st.local) this.localStreams--; else this.peerStreams--;
      st.handler?.onReset(code, false);
    }
  }

  private failPings(): void {
    if (this.pings.length === 0) return;
    const ps = this.pings;
    this.pings = [];
    const err = new Error('HTTP/2 session closed before the PING was acknowledged');
    for (const p of ps) p.cb(err, 0);
  }

  /** The socket is gone (or we destroyed it): reset what is left, onClose once. */
  private finish(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    if (this.lingerTimer !== null) { clearTimeout(this.lingerTimer); this.lingerTimer = null; }
    if (this.drainTimer !== null) { clearTimeout(this.drainTimer); this.drainTimer = null; }
    this.writer.drop();
    this.resetAll(CONNECTION_LOST);
    this.failPings();
    const s = this.socket;
    s.off('data', this.onSocketData);
    s.off('drain', this.onSocketDrain);
    s.off('end', this.onSocketGone);
    s.off('close', this.onSocketGone);
    if (!s.destroyed) s.destroy();
    this.h.onClose();
  }
}
