// Inbound frame processing of Weft's HTTP/2 session: one function per frame type (RFC 9113 §6),
// the frame-size and stream-id rules of each (§4.2, §5.1 stream states, §5.1.1 stream ids), the
// header block assembly with CONTINUATION (§6.10, bounded), stream opening with
// SETTINGS_MAX_CONCURRENT_STREAMS enforced by refusing (§5.1.2), inbound flow control (§6.9),
// SETTINGS validation (§6.5.2), and the counters behind Envoy's inbound flood limits.

import { DEFAULT_MAX_FRAME_SIZE, ErrorCode, Flag, FrameType, MAX_MAX_FRAME_SIZE, MAX_WINDOW_SIZE, SettingId } from './constants.js';
import { Closed, type Session } from './session.js';
import { H2StreamImpl } from './stream.js';
import { HpackError, type H2RemoteSettings } from './types.js';
import { checkRequest, checkResponse, checkTrailers } from './validate.js';

/** One complete frame: payload at b[p..p+len). */
export function onFrame(s: Session, b: Buffer, p: number, len: number, type: number, flags: number, id: number): void {
  if (s.contId !== 0 && type !== FrameType.CONTINUATION) {
    s.connError(ErrorCode.PROTOCOL_ERROR, 'frame interleaved in a header block (CONTINUATION expected)');
    return;
  }
  if (s.awaitingSettings && (type !== FrameType.SETTINGS || (flags & Flag.ACK) !== 0)) {
    s.connError(ErrorCode.PROTOCOL_ERROR, 'the first frame of the peer must be SETTINGS');
    return;
  }
  switch (type) {
    case FrameType.DATA: onData(s, b, p, len, flags, id); break;
    case FrameType.HEADERS: onHeaders(s, b, p, len, flags, id); break;
    case FrameType.PRIORITY: onPriority(s, b, p, len, id); break;
    case FrameType.RST_STREAM: onRstStream(s, b, p, len, id); break;
    case FrameType.SETTINGS: onSettings(s, b, p, len, flags, id); break;
    case FrameType.PUSH_PROMISE: s.connError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE received (push is disabled)'); break;
    case FrameType.PING: onPing(s, b, p, len, flags, id); break;
    case FrameType.GOAWAY: onGoaway(s, b, p, len, id); break;
    case FrameType.WINDOW_UPDATE: onWindowUpdate(s, b, p, len, id); break;
    case FrameType.CONTINUATION: onContinuation(s, b, p, len, flags, id); break;
    default: break; // unknown frame types are ignored (§4.1, §5.5)
  }
}

function onData(s: Session, b: Buffer, p: number, len: number, flags: number, id: number): void {
  if (id === 0) { s.connError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0'); return; }
  let off = p, n = len;
  if ((flags & Flag.PADDED) !== 0) {
    const pad = len > 0 ? b[p]! : 0;
    if (len === 0 || pad >= len) { s.connError(ErrorCode.PROTOCOL_ERROR, 'DATA padding longer than the payload'); return; }
    off = p + 1;
    n = len - 1 - pad;
  }
  const end = (flags & Flag.END_STREAM) !== 0;
  s.trackEmpty(n === 0 && !end);
  if (s.closed) return;
  if (len > s.connRecvAvail) { s.connError(ErrorCode.FLOW_CONTROL_ERROR, 'DATA beyond the connection window'); return; }
  s.connRecvAvail -= len;
  const st = s.streams.get(id);
  if (st === undefined) {
    if (s.isIdle(id)) { s.connError(ErrorCode.PROTOCOL_ERROR, 'DATA on an idle stream'); return; }
    s.connConsumed(len);
    onClosedStream(s, id, false);
    return;
  }
  s.connConsumed(len);
  if (st.remoteEnded) { s.streamError(st, ErrorCode.STREAM_CLOSED); return; }
  if (len > st.recvWindow) { s.streamError(st, ErrorCode.FLOW_CONTROL_ERROR); return; }
  st.recvWindow -= len;
  if (!st.gotHead) { s.streamError(st, ErrorCode.PROTOCOL_ERROR); return; } // DATA before the (final) response head
  st.received += n;
  if (st.contentLength >= 0 && (st.received > st.contentLength || (end && st.received !== st.contentLength))) {
    s.streamError(st, ErrorCode.PROTOCOL_ERROR);
    return;
  }
  st.recvConsumed += len;
  if (end) st.remoteEnded = true;
  st.handler?.onData(b.subarray(off, off + n), end);
  if (st.closed) return;
  if (end) s.maybeClose(st);
  else s.grantStream(st);
}

function onHeaders(s: Session, b: Buffer, p: number, len: number, flags: number, id: number): void {
  if (id === 0) { s.connError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0'); return; }
  let q = p, pad = 0, selfDep = false;
  const stop = p + len;
  if ((flags & Flag.PADDED) !== 0) {
    if (len < 1) { s.connError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS too short for its padding'); return; }
    pad = b[q++]!;
  }
  if ((flags & Flag.PRIORITY) !== 0) {
    if (stop - q < 5) { s.connError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS too short for its priority'); return; }
    selfDep = (b.readUInt32BE(q) & MAX_WINDOW_SIZE) === id;
    q += 5;
  }
  if (pad > stop - q) { s.connError(ErrorCode.PROTOCOL_ERROR, 'HEADERS padding longer than the payload'); return; }
  const fragment = b.subarray(q, stop - pad);
  const endStream = (flags & Flag.END_STREAM) !== 0;
  s.trackEmpty(fragment.length === 0 && !endStream);
  if (s.closed) return;
  if ((flags & Flag.END_HEADERS) !== 0) {
    s.inboundStreams++;
    onHeaderBlock(s, id, fragment, endStream, selfDep);
    return;
  }
  if (fragment.length > s.maxHeaderBlock) { s.connError(ErrorCode.ENHANCE_YOUR_CALM, 'header block too large'); return; }
  s.contId = id;
  s.contParts.push(fragment);
  s.contLen = fragment.length;
  s.contEnd = endStream;
  s.contSelfDep = selfDep;
}

function onContinuation(s: Session, b: Buffer, p: number, len: number, flags: number, id: number): void {
  if (s.contId === 0 || id !== s.contId) { s.connError(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without a header block in progress on its stream'); return; }
  s.trackEmpty(len === 0 && (flags & Flag.END_STREAM) === 0);
  if (s.closed) return;
  s.contLen += len;
  if (s.contLen > s.maxHeaderBlock) { s.connError(ErrorCode.ENHANCE_YOUR_CALM, 'header block too large'); return; }
  s.contParts.push(b.subarray(p, p + len));
  if ((flags & Flag.END_HEADERS) === 0) return;
  const block = s.contParts.length === 1 ? s.contParts[0]! : Buffer.concat(s.contParts, s.contLen);
  s.contParts.length = 0;
  s.contId = 0;
  s.inboundStreams++;
  onHeaderBlock(s, id, block, s.contEnd, s.contSelfDep);
}

/**
 * DATA or a header block on a stream no longer in the table (§5.1 closed): ignored after we reset
 * it (frames in flight), a connection error STREAM_CLOSED after it closed normally (both
 * END_STREAMs), a stream error STREAM_CLOSED after the peer reset it. A HEADERS with a peer's
 * stream id below the highest it used that was never opened is a new stream with a lower id:
 * PROTOCOL_ERROR (§5.1.1).
 */
function onClosedStream(s: Session, id: number, newStreamAttempt: boolean): void {
  switch (s.howClosed(id)) {
    case Closed.ResetByUs: return;
    case Closed.Normally: s.connError(ErrorCode.STREAM_CLOSED, `frame on closed stream ${id}`); return;
    case Closed.ResetByPeer: s.refuse(id, ErrorCode.STREAM_CLOSED, null); return;
    default:
      if (newStreamAttempt && s.role === 'server') s.connError(ErrorCode.PROTOCOL_ERROR, `stream id ${id} lower than one already used`);
      else if (s.role === 'server') s.refuse(id, ErrorCode.STREAM_CLOSED, null);
      // client: frames on our own long-closed streams are ignored
  }
}

/** Decodes a header block; false after a connection error (COMPRESSION_ERROR). `ok` tells whether the list fit maxHeaderListSize. */
function decode(s: Session, block: Buffer, out: string[]): 0 | 1 | 2 {
  try {
    return s.decoder.decode(block, out, s.settings.maxHeaderListSize) ? 1 : 2;
  } catch (err) {
    if (!(err instanceof HpackError)) throw err;
    s.connError(ErrorCode.COMPRESSION_ERROR, `HPACK: ${err.message}`);
    return 0;
  }
}

const DECODE_FAILED = 0, DECODE_OK = 1, DECODE_TOO_LARGE = 2;

function onHeaderBlock(s: Session, id: number, block: Buffer, endStream: boolean, selfDep: boolean): void {
  const out: string[] = [];
  let st = s.streams.get(id);
  if (st === undefined) {
    const peers = (id & 1) === s.peerParity;
    if (peers && s.role === 'server' && id > s.lastPeerStreamId) { openStream(s, id, block, endStream, selfDep); return; }
    if (s.isIdle(id)) { s.connError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on an idle stream the peer may not open'); return; }
    // A closed stream: decode to keep the HPACK tables in sync first.
    if (decode(s, block, out) === DECODE_FAILED) return;
    onClosedStream(s, id, peers);
    return;
  }
  const r = decode(s, block, out);
  if (r === DECODE_FAILED) return;
  if (st.remoteEnded) { s.streamError(st, ErrorCode.STREAM_CLOSED); return; }
  if (r === DECODE_TOO_LARGE || selfDep) { s.streamError(st, ErrorCode.PROTOCOL_ERROR); return; }
  if (s.role === 'client' && !st.gotHead) {
    if (checkResponse(out, st) !== null) { s.streamError(st, ErrorCode.PROTOCOL_ERROR); return; }
    if (st.status < 200) {
      if (endStream) { s.streamError(st, ErrorCode.PROTOCOL_ERROR); return; }
      st.contentLength = -1;
      st.handler?.onHeaders(out, false, false);
      return;
    }
    st.gotHead = true;
    if (st.head || st.status === 204 || st.status === 304) st.contentLength = -1;
    if (endStream && st.contentLength > 0) { s.streamError(st, ErrorCode.PROTOCOL_ERROR); return; }
    if (endStream) st.remoteEnded = true;
    st.handler?.onHeaders(out, endStream, false);
    if (endStream && !st.closed) s.maybeClose(st);
    return;
  }
  // Trailers: END_STREAM, no pseudo-headers, and the body matched its content-length.
  if (!endStream || checkTrailers(out) !== null || (st.contentLength >= 0 && st.received !== st.contentLength)) {
    s.streamError(st, ErrorCode.PROTOCOL_ERROR);
    return;
  }
  st.remoteEnded = true;
  st.handler?.onHeaders(out, true, true);
  if (!st.closed) s.maybeClose(st);
}

/** Server: a HEADERS opening stream `id` (above every stream the peer opened before). */
function openStream(s: Session, id: number, block: Buffer, endStream: boolean, selfDep: boolean): void {
  s.lastPeerStreamId = id;
  const out: string[] = [];
  const r = decode(s, block, out);
  if (r === DECODE_FAILED) return;
  if (id > s.goawayLastId) { s.refuse(id, ErrorCode.REFUSED_STREAM, 'draining'); return; }
  if (s.peerStreams >= s.settings.maxConcurrentStreams) { s.refuse(id, ErrorCode.REFUSED_STREAM, 'max_concurrent_streams'); return; }
  if (r === DECODE_TOO_LARGE) { s.refuse(id, ErrorCode.PROTOCOL_ERROR, 'header_list_size'); return; }
  const st = new H2StreamImpl(id, s, s.remote.initialWindowSize, s.recvWindowForNewStream(), false);
  if (selfDep || checkRequest(out, s.settings.enableConnectProtocol, st) !== null || (endStream && st.contentLength > 0)) {
    s.refuse(id, ErrorCode.PROTOCOL_ERROR, 'malformed');
    return;
  }
  st.gotHead = true;
  st.remoteEnded = endStream;
  s.addPeerStream(st);
  if (s.h.onStream !== undefined) s.h.onStream(st, out, endStream);
  if (!st.closed && st.handler === null) s.resetStream(st, ErrorCode.REFUSED_STREAM, false);
}

function onPriority(s: Session, b: Buffer, p: number, len: number, id: number): void {
  if (id === 0) { s.connError(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0'); return; }
  s.priorityFrames++;
  s.checkInboundFlood();
  if (s.closed) return;
  s.h.onPriority?.();
  if (len !== 5) { streamErrorById(s, id, ErrorCode.FRAME_SIZE_ERROR); return; }
  if ((b.readUInt32BE(p) & MAX_WINDOW_SIZE) === id) streamErrorById(s, id, ErrorCode.PROTOCOL_ERROR);
}

/** A stream error on a stream that may not exist (PRIORITY can name idle or closed streams). */
function streamErrorById(s: Session, id: number, code: number): void {
  const st = s.streams.get(id);
  if (st !== undefined) s.streamError(st, code);
  else s.refuse(id, code, null);
}

function onRstStream(s: Session, b: Buffer, p: number, len: number, id: number): void {
  if (len !== 4) { s.connError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM length other than 4'); return; }
  if (id === 0) { s.connError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0'); return; }
  const st = s.streams.get(id);
  if (st === undefined) {
    if (s.isIdle(id)) s.connError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
    return;
  }
  s.remoteReset(st, b.readUInt32BE(p));
}

function onSettings(s: Session, b: Buffer, p: number, len: number, flags: number, id: number): void {
  if (id !== 0) { s.connError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream'); return; }
  if ((flags & Flag.ACK) !== 0) {
    if (len !== 0) { s.connError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload'); return; }
    s.onSettingsAck();
    return;
  }
  if (len % 6 !== 0) { s.connError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS length not a multiple of 6'); return; }
  const r = s.remote;
  let headerTableSize = r.headerTableSize, enablePush = r.enablePush, maxConcurrentStreams = r.maxConcurrentStreams;
  let initialWindowSize = r.initialWindowSize, maxFrameSize = r.maxFrameSize, maxHeaderListSize = r.maxHeaderListSize;
  let enableConnectProtocol = r.enableConnectProtocol;
  for (let o = p; o < p + len; o += 6) {
    const v = b.readUInt32BE(o + 2);
    switch (b.readUInt16BE(o)) {
      case SettingId.HEADER_TABLE_SIZE: headerTableSize = v; break;
      case SettingId.ENABLE_PUSH:
        if (v > 1 || (v === 1 && s.role === 'client')) { s.connError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${v}`); return; }
        enablePush = v === 1; break;
      case SettingId.MAX_CONCURRENT_STREAMS: maxConcurrentStreams = v; break;
      case SettingId.INITIAL_WINDOW_SIZE:
        if (v > MAX_WINDOW_SIZE) { s.connError(ErrorCode.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${v}`); return; }
        initialWindowSize = v; break;
      case SettingId.MAX_FRAME_SIZE:
        if (v < DEFAULT_MAX_FRAME_SIZE || v > MAX_MAX_FRAME_SIZE) { s.connError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${v}`); return; }
        maxFrameSize = v; break;
      case SettingId.MAX_HEADER_LIST_SIZE: maxHeaderListSize = v; break;
      case SettingId.ENABLE_CONNECT_PROTOCOL:
        if (v > 1) { s.connError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_ENABLE_CONNECT_PROTOCOL ${v}`); return; }
        enableConnectProtocol = v === 1; break;
      default: break; // unknown settings are ignored (§6.5.2)
    }
  }
  // §6.9.2: a new initial window size shifts every open stream's send window.
  const delta = initialWindowSize - r.initialWindowSize;
  if (delta !== 0) {
    for (const st of s.streams.values()) {
      st.sendWindow += delta;
      if (st.sendWindow > MAX_WINDOW_SIZE) { s.connError(ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window'); return; }
      if (delta > 0) s.windowOpened(st);
    }
  }
  const next: H2RemoteSettings = {
    headerTableSize, enablePush, maxConcurrentStreams, initialWindowSize, maxFrameSize, maxHeaderListSize, enableConnectProtocol,
  };
  s.applyRemoteSettings(next);
}

function onPing(s: Session, b: Buffer, p: number, len: number, flags: number, id: number): void {
  if (len !== 8) { s.connError(ErrorCode.FRAME_SIZE_ERROR, 'PING length other than 8'); return; }
  if (id !== 0) { s.connError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream'); return; }
  if ((flags & Flag.ACK) !== 0) s.onPingAck(b.readUInt32BE(p), b.readUInt32BE(p + 4));
  else s.writer.pingAck(b, p);
}

function onGoaway(s: Session, b: Buffer, p: number, len: number, id: number): void {
  if (id !== 0) { s.connError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream'); return; }
  if (len < 8) { s.connError(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY shorter than 8 bytes'); return; }
  s.onGoaway(b.readUInt32BE(p) & MAX_WINDOW_SIZE, b.readUInt32BE(p + 4));
}

function onWindowUpdate(s: Session, b: Buffer, p: number, len: number, id: number): void {
  if (len !== 4) { s.connError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE length other than 4'); return; }
  s.windowUpdateFrames++;
  s.checkInboundFlood();
  if (s.closed) return;
  const inc = b.readUInt32BE(p) & MAX_WINDOW_SIZE;
  if (id === 0) {
    if (inc === 0) { s.connError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0 on the connection'); return; }
    s.connSendWindow += inc;
    if (s.connSendWindow > MAX_WINDOW_SIZE) { s.connError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window above 2^31-1'); return; }
    s.windowOpened(null);
    return;
  }
  const st = s.streams.get(id);
  if (st === undefined) {
    if (s.isIdle(id)) s.connError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
    return;
  }
  if (inc === 0) { s.streamError(st, ErrorCode.PROTOCOL_ERROR); return; }
  st.sendWindow += inc;
  if (st.sendWindow > MAX_WINDOW_SIZE) { s.streamError(st, ErrorCode.FLOW_CONTROL_ERROR); return; }
  s.windowOpened(st);
}
