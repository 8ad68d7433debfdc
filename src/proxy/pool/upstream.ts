// The upstream side of one request attempt, whatever the protocol: a pool hands out an
// UpstreamRequest (an HTTP/1.1 connection for the length of one exchange, or one HTTP/2 stream
// of a multiplexed session), the router writes the request through it and hears the response
// through an UpstreamResponseHandler. ActiveStream and Mirror see only these contracts.

import type { MessageHead } from '../codec/http1/parser.js';

/** What a request attempt hears back from upstream. */
export interface UpstreamResponseHandler {
  /**
   * The response head (HTTP/2 responses are presented as an HTTP/1.1 head: `headers` without
   * pseudo-headers, `chunked` when the length is unknown). Return true when the response can
   * have no body (the request was HEAD).
   */
  onResponseHead(head: MessageHead): boolean;
  onResponseData(chunk: Buffer): void;
  onResponseComplete(trailers: string[] | null): void;
  /**
   * The exchange failed before the response completed: `protocol` = malformed response,
   * `refused` = the upstream refused the stream before processing it (HTTP/2 REFUSED_STREAM, or a
   * stream above a GOAWAY's last-stream-id), `reset` = anything else.
   */
  onResponseReset(kind: 'reset' | 'protocol' | 'refused', detail: string): void;
  /** The upstream can take more request bytes again. */
  onUpstreamDrain(): void;
  /** One upstream read has been fully processed (a response head held for coalescing can go out). */
  onUpstreamReadEnd(): void;
}

/** The request as it goes upstream, built once per stream (retries reuse it). */
export interface UpstreamRequestSource {
  /** The HTTP/1.1 request head, serialized ('' when the cluster speaks only HTTP/2). */
  readonly upstreamHead: string;
  readonly upstreamMethod: string;
  readonly upstreamPath: string;
  /** Flat [name, value, ...], names lower-cased, hop-by-hop fields already removed (`host` present). */
  readonly upstreamHeaders: readonly string[];
  /** The body length is unknown (HTTP/1.1: chunked framing upstream). */
  readonly requestChunked: boolean;
  /** The Upgrade protocol the request asks for (lower-cased), if any: only then may a 101 answer it. */
  readonly upgrade?: string | null;
}

/** One request/response exchange with an upstream, on some protocol. */
export interface UpstreamRequest {
  readonly protocol: 'HTTP/1.1' | 'HTTP/2';
  /** The transport under this exchange has closed. */
  readonly closed: boolean;
  /** Binds the response handler; call first. */
  begin(handler: UpstreamResponseHandler): void;
  /** Sends the request head; `endStream` = there is no body (HTTP/1.1: one write). */
  sendHead(src: UpstreamRequestSource, endStream: boolean): void;
  /** Sends body bytes; false = buffers are full, wait for onUpstreamDrain. */
  sendData(chunk: Buffer): boolean;
  /** Ends the request, with trailers when given (framing fields already removed). */
  sendEnd(trailers: string[] | null): void;
  /** Abandons the exchange (timeout, downstream reset, retry): HTTP/1.1 closes the connection, HTTP/2 resets the stream. */
  abort(): void;
  /** Stops delivering response data after the current read (downstream backpressure). */
  pauseReading(): void;
  resumeReading(): void;
  /** The last delivered chunk may still be referenced (a queued downstream write): do not reuse its buffer. */
  markReadRetained(): void;
  /** Batch several writes into one (HTTP/1.1 socket cork; no-op for HTTP/2). */
  cork(): void;
  uncork(): void;
}

export type PoolFailure = 'connect-failure' | 'connect-timeout' | 'overflow';

/** A request waiting for an UpstreamRequest. */
export interface PoolWaiter {
  onPoolReady(req: UpstreamRequest): void;
  onPoolFailure(reason: PoolFailure, detail: string): void;
}

/** The per-host pool contract shared by the HTTP/1.1 and HTTP/2 pools. */
export interface UpstreamPool {
  /**
   * Returns a request slot at once, or null after queueing the waiter (which then hears
   * onPoolReady or onPoolFailure). Overflow of the pending queue fails the waiter synchronously.
   */
  acquire(waiter: PoolWaiter): UpstreamRequest | null;
  /** Removes a waiter that gave up. */
  cancel(waiter: PoolWaiter): void;
  /** Gives back a request slot that was handed out but not used. */
  release(req: UpstreamRequest): void;
}
