// One stream of Weft's HTTP/2 session (RFC 9113 §5.1 states, §5.2/§6.9 flow control): the
// H2Stream the adapters use. Outbound DATA is queued here (views, no copies) and moved into the
// session's frame writer one frame at a time as the stream window, the connection window and the
// peer's SETTINGS_MAX_FRAME_SIZE allow (the session round-robins over streams with queued data).
// Inbound flow control: the receive window is replenished in batches (half the initial window)
// as DATA is delivered, withheld while the stream is paused.

import { ErrorCode } from './constants.js';
import type { H2Stream, H2StreamHandler } from './types.js';
import type { MessageInfo } from './validate.js';
import type { Session } from './session.js';

/** What `sendOne` tells the session's scheduler. */
export const enum SendResult {
  /** Nothing more to send now (queue empty, stream window closed, or stream closed): leave the ready list. */
  Done = 0,
  /** Sent a frame, more is queued and the stream window is open: stay in the ready list. */
  More = 1,
  /** Blocked on the connection window: stay in the ready list, stop this round. */
  ConnBlocked = 2,
}

export class H2StreamImpl implements H2Stream, MessageInfo {
  handler: H2StreamHandler | null = null;
  user: unknown = null;

  remoteEnded = false;
  localEnded = false;
  closed = false;
  /** Opened by this endpoint (a client's request). */
  readonly local: boolean;

  // Outbound.
  sendWindow: number;
  private queue: Buffer[] = [];
  private qHead = 0;
  /** Bytes of queue[qHead] already sent. */
  private qOff = 0;
  queuedBytes = 0;
  /** END_STREAM goes with the last queued byte (or trailers follow). */
  private endQueued = false;
  private trailers: readonly string[] | null = null;
  private needDrain = false;
  /** In the session's ready list. */
  inReady = false;

  // Inbound.
  recvWindow: number;
  /** Delivered bytes not yet granted back with WINDOW_UPDATE. */
  recvConsumed = 0;
  paused = false;
  /** DATA bytes received, for the content-length check. */
  received = 0;

  // MessageInfo (validation results).
  contentLength = -1;
  status = 0;
  head = false;
  /** Client: the final (non-1xx) response head arrived. Server: the request head (always true). */
  gotHead = false;

  constructor(
    readonly id: number,
    private readonly session: Session,
    sendWindow: number,
    recvWindow: number,
    local: boolean,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
    this.local = local;
  }

  sendHeaders(fields: readonly string[], endStream: boolean): void {
    if (this.localEnded) return;
    this.session.writeHeaders(this, fields, endStream);
    if (endStream) {
      this.localEnded = true;
      this.session.streamLocalEnded(this);
    }
  }

  sendData(chunk: Buffer, endStream: boolean): boolean {
    if (this.localEnded || this.endQueued) return true;
    if (chunk.length > 0) {
      this.queue.push(chunk);
      this.queuedBytes += chunk.length;
    }
    if (endStream) this.endQueued = true;
    this.session.dataQueued(this);
    if (this.queuedBytes > this.session.streamBufferLimit) {
      this.needDrain = true;
      return false;
    }
    return true;
  }

  sendTrailers(fields: readonly string[]): void {
    if (this.localEnded || this.endQueued) return;
    this.endQueued = true;
    this.trailers = fields;
    this.session.dataQueued(this);
  }

  reset(code: number): void {
    if (this.closed) return;
    this.session.resetStream(this, code, false);
  }

  pause(): void { this.paused = true; }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.closed) this.session.grantStream(this);
  }

  /** Drops what was queued (reset / connection closed). */
  dropQueue(): void {
    this.queue.length = 0;
    this.qHead = this.qOff = 0;
    this.queuedBytes = 0;
    this.trailers = null;
    this.needDrain = false;
  }

  /** Whether anything can go out (bytes, or a bare END_STREAM / trailers). */
  get hasPending(): boolean {
    return this.queuedBytes > 0 || (this.endQueued && !this.localEnded);
  }

  /**
   * Moves at most one DATA frame (plus the trailers when the queue empties) into the writer.
   * `connWindow` is the connection's send window; the session subtracts what this returns in `sent`.
   */
  sendOne(connWindow: number, maxFrameSize: number): SendResult {
    if (this.closed || this.localEnded) return SendResult.Done;
    const s = this.session;
    let n = this.queuedBytes;
    if (n === 0 && !this.endQueued) return SendResult.Done;
    if (n > 0) {
      if (this.sendWindow <= 0) return SendResult.Done;
      if (connWindow <= 0) return SendResult.ConnBlocked;
      if (n > this.sendWindow) n = this.sendWindow;
      if (n > connWindow) n = connWindow;
      if (n > maxFrameSize) n = maxFrameSize;
    }
    const end = n === this.queuedBytes && this.endQueued && this.trailers === null;
    if (n > 0 || end) {
      s.writer.dataHeader(this.id, n, end);
      s.dataFrameSent(n);
    }
    let left = n;
    const q = this.queue;
    while (left > 0) {
      const c = q[this.qHead]!;
      const avail = c.length - this.qOff;
      if (avail <= left) {
        s.writer.payload(this.qOff === 0 ? c : c.subarray(this.qOff));
        left -= avail;
        q[this.qHead++] = undefined as unknown as Buffer;
        this.qOff = 0;
      } else {
        s.writer.payload(c.subarray(this.qOff, this.qOff + left));
        this.qOff += left;
        left = 0;
      }
    }
    if (this.qHead === q.length) { q.length = 0; this.qHead = 0; }
    else if (this.qHead > 64) { q.splice(0, this.qHead); this.qHead = 0; }
    this.queuedBytes -= n;
    this.sendWindow -= n;
    if (this.needDrain && this.queuedBytes <= s.streamBufferLimit / 2) {
      this.needDrain = false;
      s.drainLater(this);
    }
    if (this.queuedBytes === 0 && this.endQueued) {
      if (this.trailers !== null) {
        const t = this.trailers;
        this.trailers = null;
        s.writeHeaders(this, t, true);
      }
      this.localEnded = true;
      s.streamLocalEnded(this);
      return SendResult.Done;
    }
    if (this.queuedBytes === 0) return SendResult.Done;
    return this.sendWindow > 0 ? SendResult.More : SendResult.Done;
  }
}

/** The code a stream gets in onReset when its connection goes away without a code of its own. */
export const CONNECTION_LOST = ErrorCode.CANCEL;
