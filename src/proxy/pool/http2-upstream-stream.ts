// One request on an upstream HTTP/2 session (RFC 9113 §8): the UpstreamRequest the router writes
// through and, under it, the handler of one stream of Weft's own HTTP/2 codec
// (src/proxy/codec/http2/). Translates the router's HTTP/1.1-shaped request into an HTTP/2 field
// list (pseudo-headers first, `host` → `:authority`, connection-specific fields dropped, RFC 9113
// §8.2.2 and §8.3.1) and the response into the HTTP/1.1-shaped head the router takes. The session
// already rejects malformed responses (RFC 9113 §8.1.1, src/proxy/codec/http2/validate.ts); this
// adds max_headers_count and DATA on a response without content (HEAD, 204, 304). Either way the
// stream is reset with PROTOCOL_ERROR and the router hears an upstream protocol error (502).

import type { MessageHead } from '../codec/http1/parser.js';
import { ErrorCode } from '../codec/http2/constants.js';
import type { H2Stream, H2StreamHandler } from '../codec/http2/types.js';
import type { Http2Session } from './http2-pool.js';
import type { UpstreamRequest, UpstreamRequestSource, UpstreamResponseHandler } from './upstream.js';

const EMPTY = Buffer.alloc(0);

/** Request fields that are connection-specific in HTTP/2 (RFC 9113 §8.2.2), or `host` (→ :authority): never sent as fields. */
function isConnectionSpecific(name: string): boolean {
  switch (name) {
    case 'connection': case 'keep-alive': case 'proxy-connection': case 'transfer-encoding': case 'upgrade':
    case 'http2-settings': case 'host':
      return true;
    default:
      return false;
  }
}

/**
 * The request head as an HTTP/2 field list: `:method`, `:scheme`, `:authority` (from `host`, when
 * there is one), `:path`, then the fields without connection-specific ones (`te` only as
 * `trailers`). CONNECT carries only `:method` and `:authority` (RFC 9113 §8.5).
 */
export function requestFields(src: UpstreamRequestSource, scheme: string): string[] {
  const hs = src.upstreamHeaders;
  const method = src.upstreamMethod;
  let authority = '';
  for (let i = 0; i < hs.length; i += 2) if (hs[i] === 'host') { authority = hs[i + 1]!; break; }
  const connect = method === 'CONNECT';
  const out = connect ? [':method', method] : [':method', method, ':scheme', scheme];
  if (authority !== '') out.push(':authority', authority);
  if (!connect) out.push(':path', src.upstreamPath);
  for (let i = 0; i < hs.length; i += 2) {
    const name = hs[i]!;
    if (isConnectionSpecific(name)) continue;
    const value = hs[i + 1]!;
    if (name === 'te' && value !== 'trailers') continue;
    out.push(name, value);
  }
  return out;
}

/** Request trailers without fields HTTP/2 must not carry there (connection-specific, framing, pseudo-headers). */
function trailerFields(t: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < t.length; i += 2) {
    const name = t[i]!;
    if (isConnectionSpecific(name) || name === 'content-length' || name.charCodeAt(0) === 58 /* : */) continue;
    out.push(name, t[i + 1]!);
  }
  return out;
}

/** One request on an HTTP/2 session: a reserved stream slot until sendHead opens the stream. */
export class Http2UpstreamStream implements UpstreamRequest, H2StreamHandler {
  readonly protocol = 'HTTP/2' as const;
  private stream: H2Stream | null = null;
  private handler: UpstreamResponseHandler | null = null;
  private slotHeld = true;
  private requestEnded = false;
  /** The final (non-1xx) response head arrived. */
  private responded = false;
  private headRequest = false;
  /** The response has no content (HEAD, 204, 304): DATA is malformed. */
  private noBody = false;
  /** In the session's list of streams to tell about the end of the current read. */
  touched = false;

  constructor(readonly session: Http2Session) {}

  get closed(): boolean { return this.session.closed || (this.stream !== null && this.stream.closed); }

  begin(handler: UpstreamResponseHandler): void { this.handler = handler; }

  sendHead(src: UpstreamRequestSource, endStream: boolean): void {
    const s = this.session;
    this.headRequest = src.upstreamMethod === 'HEAD';
    let st: H2Stream;
    try {
      st = s.h2!.request(requestFields(src, s.scheme), endStream, this);
    } catch (err) {
      // The session stopped taking streams (GOAWAY, closed) between acquire and now: nothing reached the upstream.
      this.releaseSlot();
      const h = this.handler;
      this.handler = null;
      queueMicrotask(() => h?.onResponseReset('refused', (err as Error).message));
      return;
    }
    st.user = this;
    this.stream = st;
    this.requestEnded = endStream;
    s.stats.streams_active.inc();
  }

  sendData(chunk: Buffer): boolean {
    const st = this.stream;
    if (st === null || st.closed || st.localEnded) return true;
    return st.sendData(chunk, false);
  }

  sendEnd(trailers: string[] | null): void {
    this.requestEnded = true;
    const st = this.stream;
    if (st === null || st.closed || st.localEnded) return;
    const t = trailers === null ? null : trailerFields(trailers);
    if (t !== null && t.length > 0) st.sendTrailers(t);
    else st.sendData(EMPTY, true);
  }

  abort(): void {
    this.handler = null;
    const st = this.stream;
    if (st !== null && !st.closed) {
      st.reset(ErrorCode.CANCEL);
      this.session.stats.tx_reset.inc();
    }
    this.releaseSlot();
  }

  pauseReading(): void { this.stream?.pause(); }
  resumeReading(): void { const st = this.stream; if (st !== null && !st.closed) st.resume(); }
  /** DATA payloads from the codec may be kept (a view of a read buffer that is not reused). */
  markReadRetained(): void { /* nothing to do */ }
  /** The session coalesces its writes. */
  cork(): void { /* nothing to do */ }
  uncork(): void { /* nothing to do */ }

  /** Gives the stream slot back to the session (once). */
  releaseSlot(): void {
    if (!this.slotHeld) return;
    this.slotHeld = false;
    if (this.stream !== null) this.session.stats.streams_active.dec();
    this.session.onStreamDone();
  }

  /** The session's read that delivered response bytes to this stream is over. */
  readEnd(): void { this.handler?.onUpstreamReadEnd(); }

  // ─────────────────────────── H2StreamHandler ───────────────────────────

  onHeaders(headers: string[], endStream: boolean, trailers: boolean): void {
    const hd = this.handler;
    if (hd === null) return;
    if (trailers) {
      this.session.stats.trailers.inc();
      this.complete(headers);
      return;
    }
    // The session checked the head (RFC 9113 §8.3.2): [':status', three digits, regular fields...].
    const v = headers[1]!;
    const status = (v.charCodeAt(0) - 48) * 100 + (v.charCodeAt(1) - 48) * 10 + (v.charCodeAt(2) - 48);
    if (status < 200) return; // informational: skipped (RFC 9113 §8.1)
    const n = headers.length;
    if ((n - 2) >> 1 > this.session.pool.maxResponseHeaders) { this.malformed('more response header fields than max_headers_count', true); return; }
    let cl = -1;
    for (let i = 2; i < n; i += 2) {
      const name = headers[i]!;
      if (name.length === 14 && name === 'content-length') { cl = Number(headers[i + 1]); break; }
    }
    headers.splice(0, 2);
    this.responded = true;
    this.noBody = this.headRequest || status === 204 || status === 304;
    const head: MessageHead = {
      method: '', url: '', statusCode: status, reason: '', versionMinor: 1, headers,
      contentLength: endStream ? 0 : cl, chunked: !endStream && cl < 0, keepAlive: true, upgrade: null,
      expectContinue: false, headBytes: 0,
    };
    hd.onResponseHead(head);
    // A head with END_STREAM (a gRPC trailers-only reply) is the whole response: complete it now,
    // so that the downstream can send it as one HEADERS frame with END_STREAM too.
    if (endStream) this.complete(null);
    else if (this.handler !== null) this.session.touch(this);
  }

  onData(chunk: Buffer, endStream: boolean): void {
    const hd = this.handler;
    if (hd === null) return;
    // The session checked that the head came first and that DATA matches content-length.
    if (chunk.length > 0) {
      if (this.noBody) { this.malformed('DATA in a response without content'); return; }
      hd.onResponseData(chunk);
    }
    if (endStream) this.complete(null);
    else if (this.handler !== null) this.session.touch(this);
  }

  onReset(code: number, remote: boolean): void {
    this.releaseSlot();
    const session = this.session;
    const st = session.stats;
    if (remote) st.rx_reset.inc();
    const hd = this.handler;
    if (hd === null) return;
    this.handler = null;
    if (remote) {
      if (!this.responded && code === ErrorCode.REFUSED_STREAM) {
        st.stream_refused_errors.inc();
        hd.onResponseReset('refused', 'remote refused stream reset');
      } else {
        hd.onResponseReset('reset', `remote reset (code ${code})`);
      }
    } else if (session.h2 !== null && !session.h2.closed) {
      // A stream error the session found (a malformed response, RFC 9113 §8.1.1; flow control): it sent RST_STREAM.
      st.rx_messaging_error.inc();
      st.tx_reset.inc();
      hd.onResponseReset('protocol', `upstream HTTP/2 stream error (code ${code})`);
    } else {
      hd.onResponseReset(session.protocolError ? 'protocol' : 'reset', session.protocolError ? 'upstream HTTP/2 protocol error' : 'connection termination');
    }
  }

  onDrain(): void { this.handler?.onUpstreamDrain(); }

  onClose(): void {
    this.releaseSlot();
    const hd = this.handler;
    if (hd === null) return;
    this.handler = null;
    hd.onResponseReset('protocol', 'stream closed without a complete response');
  }

  // ─────────────────────────── endings ───────────────────────────

  private complete(trailers: string[] | null): void {
    const hd = this.handler;
    if (hd === null) return;
    this.handler = null;
    // A complete response ends the exchange; a request still being sent is cut short cleanly (RFC 9113 §8.1).
    const st = this.stream;
    if (!this.requestEnded && st !== null && !st.closed) {
      st.reset(ErrorCode.NO_ERROR);
      this.session.stats.tx_reset.inc();
      this.releaseSlot();
    }
    hd.onResponseComplete(trailers);
  }

  /** A malformed response (RFC 9113 §8.1.1): RST_STREAM(PROTOCOL_ERROR), an upstream protocol error for the router. */
  private malformed(detail: string, overflow = false): void {
    const hd = this.handler;
    this.handler = null;
    const stats = this.session.stats;
    (overflow ? stats.header_overflow : stats.rx_messaging_error).inc();
    const st = this.stream;
    if (st !== null && !st.closed) {
      st.reset(ErrorCode.PROTOCOL_ERROR);
      stats.tx_reset.inc();
    }
    this.releaseSlot();
    hd?.onResponseReset('protocol', detail);
  }
}
