// The contracts of Weft's own HTTP/2 codec (RFC 9113) and HPACK (RFC 7541): what the HTTP
// connection manager (src/proxy/http/http2-*.ts, downstream) and the HTTP/2 session pool
// (src/proxy/pool/http2-pool.ts, upstream) use. Implementations: hpack/ (decoder, encoder,
// Huffman), frames.ts (frame reader/writer), session.ts (H2Session, H2Stream).
//
// Field lists everywhere are flat `[name, value, name, value, ...]` string arrays in wire order,
// pseudo-headers included (names lower case, values as latin1: one char per byte), the form the
// HTTP/1.1 codec and the rest of the proxy use. Nothing here allocates per frame on the hot path
// unless it must (a DATA payload is a view into the socket's read buffer).

import type { Duplex } from 'node:stream';

// ─────────────────────────── HPACK (RFC 7541) ───────────────────────────

/** Why a header block could not be decoded: a connection error COMPRESSION_ERROR (RFC 9113 §4.3). */
export class HpackError extends Error {}

export interface HpackDecoder {
  /**
   * Decodes one complete header block (HEADERS + CONTINUATION payloads joined) into `out`
   * (appended, flat). Names and values are latin1 strings. The dynamic table is always updated
   * for the whole block, even when the list is too large (the table must stay in sync with the
   * peer's encoder). Returns false when the decoded list passed `maxHeaderListSize` (RFC 9113
   * §6.5.2 size: name + value + 32 per field) — `out` is then incomplete and must not be used.
   * Throws HpackError on any decoding error (bad index, bad Huffman, integer overflow, a table
   * size update above the limit or not at the start of the block, a truncated block).
   */
  decode(block: Buffer, out: string[], maxHeaderListSize: number): boolean;
  /** SETTINGS_HEADER_TABLE_SIZE we advertised (the upper bound for the peer's size updates). */
  setMaxTableSize(size: number): void;
}

export interface HpackEncoder {
  /**
   * Encodes the flat field list `fields[start..]` (names already lower case) into one header
   * block. Uses the static table, the dynamic table (incremental indexing for fields that repeat,
   * never-indexed literals for `authorization` and short `cookie` values, as nghttp2 does) and Huffman coding when it is shorter. The returned Buffer may be a
   * view into a scratch buffer reused by the next call: copy it or write it out before encoding again.
   */
  encode(fields: readonly string[], start?: number): Buffer;
  /** The peer's SETTINGS_HEADER_TABLE_SIZE: the next block starts with a table size update when it changed. */
  setMaxTableSize(size: number): void;
}

// ─────────────────────────── the session ───────────────────────────

/** The SETTINGS this endpoint sends (RFC 9113 §6.5.2, RFC 8441). */
export interface H2LocalSettings {
  readonly headerTableSize: number;
  readonly maxConcurrentStreams: number;
  readonly initialWindowSize: number;
  readonly maxFrameSize: number;
  /** Bytes (RFC 9113 §6.5.2 size): a larger request/response header block resets its stream. */
  readonly maxHeaderListSize: number;
  /** RFC 8441 extended CONNECT (server only). */
  readonly enableConnectProtocol: boolean;
}

/** The peer's SETTINGS as they currently apply. */
export interface H2RemoteSettings {
  readonly headerTableSize: number;
  readonly enablePush: boolean;
  readonly maxConcurrentStreams: number;
  readonly initialWindowSize: number;
  readonly maxFrameSize: number;
  readonly maxHeaderListSize: number;
  readonly enableConnectProtocol: boolean;
}

/** Envoy's flood protections (envoy.config.core.v3.Http2ProtocolOptions), Envoy's semantics. */
export interface H2FloodLimits {
  /** Frames queued for the socket and not yet written (default 10000): over it → flood. */
  readonly maxOutboundFrames: number;
  /** Of those, PING/SETTINGS ACKs and RST_STREAM (default 1000). */
  readonly maxOutboundControlFrames: number;
  /** Consecutive inbound frames with an empty payload and no END_STREAM (default 1). */
  readonly maxConsecutiveInboundFramesWithEmptyPayload: number;
  /** Envoy's formula over PRIORITY frames and streams opened (default 100). */
  readonly maxInboundPriorityFramesPerStream: number;
  /** Envoy's formula over WINDOW_UPDATE frames received and DATA frames sent (default 10). */
  readonly maxInboundWindowUpdateFramesPerDataFrameSent: number;
}

export type H2FloodKind = 'outbound' | 'outbound_control' | 'inbound_empty' | 'inbound_priority' | 'inbound_window_update';

/** Why the session refused a stream the peer opened (RST_STREAM sent, the session goes on). */
export type H2StreamRefusal =
  /** Above our SETTINGS_MAX_CONCURRENT_STREAMS: RST_STREAM(REFUSED_STREAM) (RFC 9113 §5.1.2). */
  | 'max_concurrent_streams'
  /** The header list passed maxHeaderListSize: RST_STREAM (Envoy: http2.header_overflow). */
  | 'header_list_size'
  /** Malformed (RFC 9113 §8.1.1: pseudo-header rules, upper-case or connection-specific names, te other than trailers): RST_STREAM(PROTOCOL_ERROR). */
  | 'malformed'
  /** Opened after our GOAWAY (above its last-stream-id): ignored / REFUSED_STREAM. */
  | 'draining';

export interface H2SessionOptions {
  readonly role: 'server' | 'client';
  readonly settings: H2LocalSettings;
  /** The connection-level receive window (a WINDOW_UPDATE on stream 0 right after our SETTINGS when above 65535). */
  readonly connectionWindowSize: number;
  readonly limits: H2FloodLimits;
  /**
   * Outbound bytes a stream may have queued (waiting for flow-control window or the socket)
   * before sendData returns false; onDrain follows when it falls below half of that.
   * Typically the connection manager's per_connection_buffer_limit_bytes.
   */
  readonly streamBufferLimit: number;
  /** Server graceful shutdown: time between the first GOAWAY (last-stream-id 2^31-1) and the final one (Envoy's drain_timeout, default 5000 ms). */
  readonly drainTimeoutMs?: number;
}

export interface H2SessionHandler {
  /**
   * Server: the peer opened a stream (its complete, decoded and validated header block). The
   * handler sets `stream.handler` before returning (else the stream is reset with REFUSED_STREAM).
   */
  onStream?(stream: H2Stream, headers: string[], endStream: boolean): void;
  /** The session refused a stream the peer opened (for stats). */
  onStreamRefused?(reason: H2StreamRefusal): void;
  /** Called once after all frames of one socket read were processed (streams opened and reset in the same read can then be told apart). */
  onReadEnd?(): void;
  /** The peer's SETTINGS were applied (`first`: the first SETTINGS frame; a client may now open streams). */
  onRemoteSettings?(settings: H2RemoteSettings, first: boolean): void;
  /** A GOAWAY arrived. Streams above lastStreamId were already reset with REFUSED_STREAM (remote = true). */
  onGoaway?(code: number, lastStreamId: number): void;
  /** A PRIORITY frame arrived (counted against the flood limit already; for stats/tests). */
  onPriority?(): void;
  /** A flood limit was crossed: GOAWAY(ENHANCE_YOUR_CALM) goes out and the session closes. */
  onFlood?(kind: H2FloodKind): void;
  /** A connection error (RFC 9113 §5.4.1) detected on our side: GOAWAY(code) goes out and the session closes. */
  onProtocolError?(code: number, detail: string): void;
  /** The session is over: every stream got onReset/onClose first. Called exactly once. */
  onClose(): void;
}

export interface H2StreamHandler {
  /**
   * A header block on the stream: the response head (client), a 1xx informational head (client;
   * `endStream` false, more heads follow), or trailers (`trailers` true, always `endStream`).
   */
  onHeaders(headers: string[], endStream: boolean, trailers: boolean): void;
  /** DATA (payload without padding; may be a view into the read buffer, safe to keep). `endStream` with the last. */
  onData(chunk: Buffer, endStream: boolean): void;
  /**
   * The stream ended abnormally: RST_STREAM from the peer (`remote` true), the peer's GOAWAY
   * refused it (REFUSED_STREAM, `remote` true), or the connection closed / we reset it (`remote` false).
   * Not called after onClose.
   */
  onReset(code: number, remote: boolean): void;
  /** Queued outbound bytes fell below the low-water mark after sendData returned false. */
  onDrain(): void;
  /** Both directions ended normally and everything queued was handed to the socket. */
  onClose?(): void;
  /**
   * Optional (added for the downstream adapter): our END_STREAM (the last DATA frame, an empty
   * one, or the trailers) was handed to the socket writer while the peer's side is still open.
   * Nothing of ours is queued on the stream any more, so a reset now drops nothing (RFC 9113
   * §8.1: a server that sent a complete response may end the request with RST_STREAM(NO_ERROR)).
   */
  onLocalEnd?(): void;
}

export interface H2Stream {
  readonly id: number;
  handler: H2StreamHandler | null;
  /** Free for the user (the adapter's per-stream object), so no Map lookup is needed. */
  user: unknown;
  /** HEADERS (+CONTINUATION): the request (client) or the response head / a 1xx (server). */
  sendHeaders(fields: readonly string[], endStream: boolean): void;
  /**
   * Queues DATA (split into frames of the peer's max frame size, sent as both windows allow).
   * `endStream` sets END_STREAM on the last frame (an empty chunk with `endStream` ends the stream).
   * Returns false when queued bytes passed the stream buffer limit: wait for onDrain.
   */
  sendData(chunk: Buffer, endStream: boolean): boolean;
  /** HEADERS with END_STREAM after everything queued. */
  sendTrailers(fields: readonly string[]): void;
  /** RST_STREAM(code); the stream is closed, queued data dropped; no callback follows. */
  reset(code: number): void;
  /** Withholds WINDOW_UPDATE for this stream (data inside the window already granted still arrives). */
  pause(): void;
  /** Grants the window consumed while paused. */
  resume(): void;
  /** Outbound bytes queued and not yet handed to the socket. */
  readonly queuedBytes: number;
  /** END_STREAM received. */
  readonly remoteEnded: boolean;
  /** END_STREAM (or RST_STREAM) sent. */
  readonly localEnded: boolean;
  readonly closed: boolean;
}

export interface H2Session {
  readonly role: 'server' | 'client';
  readonly remoteSettings: H2RemoteSettings;
  /** Streams open (not closed), either direction. */
  readonly activeStreams: number;
  /** Client: whether a new stream may be opened now (settings received, not draining, below the peer's limit). */
  readonly canOpenStream: boolean;
  /** GOAWAY sent or received. */
  readonly draining: boolean;
  readonly closed: boolean;
  /** Client: opens a stream with its HEADERS. Throws when !canOpenStream. */
  request(fields: readonly string[], endStream: boolean, handler: H2StreamHandler): H2Stream;
  /**
   * Graceful close. Server: Envoy's two phases (GOAWAY with last-stream-id 2^31-1 and a PING;
   * after the PING's ACK or drainTimeoutMs, GOAWAY with the last stream id processed); the socket
   * closes once the open streams are done. Client: GOAWAY(NO_ERROR), close when streams are done.
   */
  shutdown(): void;
  /** GOAWAY(code) now, every stream reset (onReset remote=false), socket closed after the GOAWAY is flushed (at most 1 s). */
  close(code: number): void;
  /** Closes the socket at once, no GOAWAY (the peer vanished). */
  destroy(): void;
  /** Sends a PING; `cb` gets the round-trip time in ms, or an error when the session closes first. */
  ping(cb: (err: Error | null, rttMs: number) => void): void;
}

/** Creates a session on a connected socket (net.Socket or tls.TLSSocket). Server: the client preface may already be unshifted onto the socket. */
export type CreateH2Session = (socket: Duplex, options: H2SessionOptions, handler: H2SessionHandler) => H2Session;
