// Incremental HTTP/1.1 message parser on raw bytes, for the proxy hot path: RFC 9112 framing
// (message body length §6, chunked coding §7) with RFC 9110 field syntax and smuggling defences.
import { Http1ParseError } from './errors.js';
import { buildHead, fillFields, INCOMPLETE, scan, scanFields, scanRequestHead, scanResponseHead, type Latin1Slicer } from './head.js';

export interface MessageHead {
  /** Requests: as sent (case-sensitive token); '' for responses. */
  method: string;
  /** Request-target as sent; '' for responses. */
  url: string;
  /** Responses; 0 for requests. */
  statusCode: number;
  /** Responses; '' for requests. */
  reason: string;
  /** 0 or 1 (only HTTP/1.0 and HTTP/1.1 are accepted). */
  versionMinor: number;
  /**
   * Flat [name, value, ...]; names lower-cased, values OWS-trimmed; order and duplicates kept.
   * One exception: repeated or list-valued Content-Length fields (all equal, else rejected) and
   * leading zeros are normalized to one `content-length` field with the plain decimal value, in
   * the place of the first (RFC 9110 §8.6), so what is forwarded is unambiguous.
   */
  headers: string[];
  /** -1 when absent (repeated identical values collapse to one). */
  contentLength: number;
  chunked: boolean;
  /**
   * From the version and the Connection tokens (`close`, `keep-alive`). Also false for a
   * response delimited by the connection close (no Content-Length, not chunked, a status with a
   * body); when onHead then returns true (no body) it is set back to the Connection value.
   */
  keepAlive: boolean;
  /**
   * Requests: lower-cased Upgrade value when Connection has the `upgrade` token (HTTP/1.1 only),
   * else null. Responses: the same, for a 101 only.
   */
  upgrade: string | null;
  /** The request (HTTP/1.1) had `Expect: 100-continue`. */
  expectContinue: boolean;
  /** Byte length of the head including the final CRLFCRLF (leading empty lines excluded). */
  headBytes: number;
}

export interface Http1ParserHandler {
  /**
   * Return true to say this message has no body whatever its headers say (response to HEAD,
   * 204, 304). Honoured for responses only: a request's framing is never overridden.
   */
  onHead(head: MessageHead): boolean | void;
  /** Informational 1xx responses other than 101; parsing continues with the next head. */
  onInformational(head: MessageHead): void;
  /** Body bytes, de-chunked; subarrays of the input (no copy). */
  onData(chunk: Buffer): void;
  /** Trailer fields (flat, lower-cased names) of a chunked message that had any, else null. */
  onComplete(trailers: string[] | null): void;
  /** The parser is dead after this. */
  onError(err: Http1ParseError): void;
}

export interface Http1ParserOptions {
  /** Limit on the head (request/status line + fields + CRLFCRLF) and on a trailer section. */
  maxHeaderBytes: number;
  /**
   * Limit on the number of field lines of a head, and of a trailer section (Envoy's
   * max_headers_count, which counts both): more is a 431 `HPE_TOO_MANY_HEADERS`. Default: none.
   */
  maxHeadersCount?: number;
}

/** Hex digit values, -1 otherwise. */
const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) HEX[65 + c] = HEX[97 + c] = 10 + c;

const TERM = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** Bound on a chunk-size line: size digits, extensions and the CR. */
const MAX_CHUNK_LINE = 4096;
/** An accumulation buffer larger than this is dropped after use instead of kept. */
const KEEP_ACC = 16 * 1024;

// ---- parser states -------------------------------------------------------------------------

const S_HEAD = 0; // waiting for / collecting a head
const S_BODY = 1; // Content-Length body, `remaining` bytes left
const S_CHUNK_SIZE = 2;
const S_CHUNK_EXT = 3;
const S_CHUNK_LF = 4; // CR of the chunk-size line seen
const S_CHUNK_DATA = 5;
const S_CHUNK_DATA_CR = 6;
const S_CHUNK_DATA_LF = 7;
const S_TRAILERS = 8; // collecting the trailer section
const S_EOF_BODY = 9; // response delimited by connection close
const S_COMPLETE = 10; // message done, onComplete not yet called (paused before it)
// states >= S_UPGRADED stop parsing
const S_UPGRADED = 11; // protocol switched (or takeRemaining() called): bytes are kept raw
const S_CLOSED = 12; // after a non-keep-alive message or EOF: bytes are ignored
const S_DEAD = 13; // after an error

function err(code: string, message: string, status = 400): Http1ParseError {
  return new Http1ParseError(code, message, status);
}

/**
 * Incremental HTTP/1.1 parser for one direction of one connection.
 *
 * - Keep-alive: after onComplete it goes on with the next message in the same input
 *   (pipelining) unless paused. After a message whose keepAlive is false, later bytes are ignored.
 * - An upgrade request (head.upgrade !== null) or CONNECT, once complete, and a 101 response stop
 *   the parser: later bytes are kept for takeRemaining(). CONNECT has no body (RFC 9110 §9.3.6).
 * - Body length (RFC 9112 §6.3): chunked, else Content-Length, else 0 for a request and
 *   "until close" (finish()) for a response, unless it is 1xx/204/304 or onHead returned true.
 * - Rejected with onError (the head is not delivered): the smuggling vectors of RFC 9112 — CL
 *   with TE, a request TE other than exactly `chunked` (501 for a coding before chunked, 400
 *   otherwise), chunked twice, TE in HTTP/1.0, differing or malformed CLs, obs-fold, bare LF or
 *   CR, whitespace before a colon, invalid tokens or CTLs, HTTP/1.1 without exactly one Host,
 *   versions other than 1.0/1.1 (505), heads over maxHeaderBytes or with more than
 *   maxHeadersCount fields (431), non-ASCII in the request-target, an absolute-form target whose
 *   authority is not a valid Host. Codes: errors.ts.
 *
 * Input buffers are retained by reference (bodies are delivered as subarrays; bytes that arrive
 * while paused are queued without copying), so callers must not reuse a buffer they passed in.
 *
 * @example
 * const p = new Http1Parser('request', handler, { maxHeaderBytes: 64 * 1024 });
 * socket.on('data', (b) => p.execute(b));
 * socket.on('end', () => p.finish());
 */
export class Http1Parser {
  private readonly isRequest: boolean;
  private readonly handler: Http1ParserHandler;
  private readonly maxHeaderBytes: number;
  private readonly maxHeadersCount: number;

  private state = S_HEAD;
  /** Bytes in `pend` and `rest`: input received but not parsed (see `held`). */
  private heldBytes = 0;
  private _paused = false;
  private executing = false;
  private eofPending = false;
  /** Bumped by reset() so a running loop drops what it was parsing. */
  private gen = 0;
  /** Unparsed input queued while paused or re-entered, oldest first. */
  private pend: Buffer[] = [];
  /** Raw bytes after a protocol switch, oldest first. */
  private rest: Buffer[] = [];
  /** The input run() is on, and where it resumes after the current callback (for takeRemaining). */
  private cur: Buffer = EMPTY;
  private curPos = 0;

  // block (head / trailer section) collection
  private acc: Buffer | null = null;
  private accLen = 0;
  /** A CR seen at the start of a block, LF expected next (empty line). */
  private blockCR = false;
  /** Bytes of empty lines skipped before the current request line. */
  private skipped = 0;

  // body
  private remaining = 0;
  private chunkSize = 0;
  private chunkDigits = 0;
  private chunkLine = 0;
  private extSemi = false;
  private trailers: string[] | null = null;
  private upgradeAfter = false;
  private closeAfter = false;

  constructor(kind: 'request' | 'response', handler: Http1ParserHandler, opts: Http1ParserOptions) {
    this.isRequest = kind === 'request';
    this.handler = handler;
    this.maxHeaderBytes = opts.maxHeaderBytes;
    this.maxHeadersCount = opts.maxHeadersCount ?? 0x7fffffff;
  }

  get paused(): boolean {
    return this._paused;
  }

  /**
   * Bytes received but not parsed: queued while paused, or kept raw after a protocol switch.
   * The caller bounds it (stops reading its socket) since the parser itself never refuses input.
   */
  get held(): number {
    return this.heldBytes;
  }

  /**
   * The message being parsed (or the last one) switches protocols once complete: an upgrade
   * request, a CONNECT, a 101. From then on later bytes are held raw (see takeRemaining()).
   */
  get switching(): boolean {
    return this.upgradeAfter || this.state === S_UPGRADED;
  }

  /** Part of a message head has arrived and is waiting for the rest. */
  get inHead(): boolean {
    return this.state === S_HEAD && (this.accLen !== 0 || this.blockCR);
  }

  /** Stops for good: everything held is dropped and later input is ignored (the connection is closing). */
  discard(): void {
    if (this.state < S_CLOSED) this.state = S_CLOSED;
    this.gen++;
    this.pend = [];
    this.rest = [];
    this.heldBytes = 0;
    this.acc = null;
    this.accLen = 0;
  }

  /** Parses as much of `data` as possible (queues it when paused). Never throws on bad input. */
  execute(data: Buffer): void {
    if (this.state >= S_UPGRADED) {
      if (this.state === S_UPGRADED && data.length !== 0) {
        this.rest.push(data);
        this.heldBytes += data.length;
      }
      return;
    }
    if (this._paused || this.executing) {
      if (data.length !== 0) {
        this.pend.push(data);
        this.heldBytes += data.length;
      }
      return;
    }
    this.executing = true;
    try {
      this.run(data);
      this.drain();
    } finally {
      this.executing = false;
    }
  }

  /** Stops parsing right after the current callback; later input is queued. */
  pause(): void {
    this._paused = true;
  }

  /** Continues synchronously with the queued input. */
  resume(): void {
    if (!this._paused) return;
    this._paused = false;
    if (this.executing) return; // called from a callback: the running loop goes on
    this.executing = true;
    try {
      this.drain();
    } finally {
      this.executing = false;
    }
  }

  /**
   * Peer closed. Completes a response delimited by the close; an error when a message is
   * partly received; nothing between messages. Deferred while paused.
   */
  finish(): void {
    if (this.state >= S_UPGRADED) return;
    this.eofPending = true;
    if (this._paused || this.executing) return;
    this.executing = true;
    try {
      this.drain();
    } finally {
      this.executing = false;
    }
  }

  /**
   * Returns and clears every byte held but not parsed: after an upgrade (an upgrade or CONNECT
   * request once complete, a 101 response) that is everything beyond the message. The parser
   * stops parsing: later execute() input is kept for the next call. reset() to parse again.
   */
  takeRemaining(): Buffer | null {
    const parts: Buffer[] = [];
    if (this.accLen !== 0 && this.acc !== null) parts.push(Buffer.from(this.acc.subarray(0, this.accLen)));
    for (const b of this.rest) parts.push(b);
    // Called from a callback: the rest of the input being parsed, which run() then drops.
    if (this.cur.length > this.curPos) parts.push(this.cur.subarray(this.curPos));
    for (const b of this.pend) parts.push(b);
    this.accLen = 0;
    this.rest = [];
    this.pend = [];
    this.heldBytes = 0;
    this.cur = EMPTY;
    this.gen++;
    if (this.state < S_UPGRADED) this.state = S_UPGRADED;
    if (parts.length === 0) return null;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** Back to the initial state, to parse a new stream with the same object. */
  reset(): void {
    this.gen++;
    this.cur = EMPTY;
    this.state = S_HEAD;
    this._paused = false;
    this.eofPending = false;
    this.pend = [];
    this.rest = [];
    this.heldBytes = 0;
    this.acc = null;
    this.accLen = 0;
    this.blockCR = false;
    this.skipped = 0;
    this.resetMessage();
  }

  private resetMessage(): void {
    this.remaining = 0;
    this.chunkSize = 0;
    this.chunkDigits = 0;
    this.chunkLine = 0;
    this.extSemi = false;
    this.trailers = null;
    this.upgradeAfter = false;
    this.closeAfter = false;
  }

  /** Runs queued input, a pending completion and a pending EOF, until paused or stopped. */
  private drain(): void {
    for (;;) {
      if (this._paused) return;
      if (this.state >= S_UPGRADED) {
        if (this.state === S_UPGRADED) for (const b of this.pend) this.rest.push(b);
        else this.heldBytes = 0;
        this.pend = [];
        return;
      }
      const d = this.pend.shift();
      if (d !== undefined) {
        this.heldBytes -= d.length;
        this.run(d);
      } else if (this.state === S_COMPLETE) {
        this.run(EMPTY);
      } else {
        if (this.eofPending) {
          this.eofPending = false;
          this.eof();
        }
        return;
      }
    }
  }

  private eof(): void {
    switch (this.state) {
      case S_HEAD:
        if (this.accLen !== 0 || this.blockCR) {
          this.fail(err('HPE_INVALID_EOF_STATE', 'connection closed inside a message head'));
        } else {
          this.state = S_CLOSED;
        }
        return;
      case S_EOF_BODY:
        this.closeAfter = true;
        this.complete();
        return;
      default:
        this.fail(err('HPE_INVALID_EOF_STATE', 'connection closed inside a message body'));
    }
  }

  private fail(e: Http1ParseError): void {
    this.state = S_DEAD;
    this.pend = [];
    this.rest = [];
    this.heldBytes = 0;
    this.acc = null;
    this.accLen = 0;
    this.handler.onError(e);
  }

  /** The main loop over one input buffer. */
  private run(data: Buffer): void {
    const len = data.length;
    const gen = this.gen;
    let pos = 0;
    this.cur = data;
    while (pos < len || this.state === S_COMPLETE) {
      switch (this.state) {
        case S_HEAD:
        case S_TRAILERS:
          pos = this.block(data, pos);
          break;
        case S_BODY: {
          const n = Math.min(this.remaining, len - pos);
          const chunk = n === len ? data : data.subarray(pos, pos + n);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = S_COMPLETE;
          this.curPos = pos;
          this.handler.onData(chunk);
          break;
        }
        case S_CHUNK_SIZE:
          pos = this.chunkSizeLine(data, pos);
          break;
        case S_CHUNK_EXT:
          pos = this.chunkExt(data, pos);
          break;
        case S_CHUNK_LF:
          if (data[pos] !== 10) {
            this.fail(err('HPE_LF_EXPECTED', 'CR not followed by LF in chunk-size line'));
            break;
          }
          pos++;
          if (this.chunkSize === 0) {
            this.state = S_TRAILERS;
          } else {
            this.remaining = this.chunkSize;
            this.state = S_CHUNK_DATA;
          }
          this.chunkSize = 0;
          this.chunkDigits = 0;
          this.chunkLine = 0;
          this.extSemi = false;
          break;
        case S_CHUNK_DATA: {
          const n = Math.min(this.remaining, len - pos);
          const chunk = n === len ? data : data.subarray(pos, pos + n);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = S_CHUNK_DATA_CR;
          this.curPos = pos;
          this.handler.onData(chunk);
          break;
        }
        case S_CHUNK_DATA_CR: {
          const b = data[pos];
          if (b === 13) {
            pos++;
            this.state = S_CHUNK_DATA_LF;
          } else if (b === 10) {
            this.fail(err('HPE_BARE_LF', 'bare LF after chunk data'));
          } else {
            this.fail(err('HPE_INVALID_CHUNK_DATA', 'chunk data not followed by CRLF'));
          }
          break;
        }
        case S_CHUNK_DATA_LF:
          if (data[pos] !== 10) {
            this.fail(err('HPE_INVALID_CHUNK_DATA', 'chunk data not followed by CRLF'));
            break;
          }
          pos++;
          this.state = S_CHUNK_SIZE;
          break;
        case S_EOF_BODY: {
          const chunk = pos === 0 ? data : data.subarray(pos);
          pos = len;
          this.curPos = pos;
          this.handler.onData(chunk);
          break;
        }
        case S_COMPLETE:
          this.curPos = pos;
          this.complete();
          break;
        default:
          pos = len; // unreachable: stopped states never enter run()
      }
      if (this._paused || this.state >= S_UPGRADED || this.gen !== gen) break;
    }
    this.cur = EMPTY;
    if (pos < len && this.gen === gen) {
      const left = pos === 0 ? data : data.subarray(pos);
      if (this.state === S_UPGRADED) {
        this.rest.push(left);
        this.heldBytes += left.length;
      } else if (this.state < S_UPGRADED) {
        this.pend.unshift(left); // paused
        this.heldBytes += left.length;
      }
    }
  }

  private complete(): void {
    const t = this.trailers;
    this.state = this.upgradeAfter ? S_UPGRADED : this.closeAfter ? S_CLOSED : S_HEAD;
    this.resetMessage();
    this.handler.onComplete(t);
  }

  // ---- heads and trailer sections ------------------------------------------------------------

  /**
   * Collects a head (S_HEAD) or trailer section (S_TRAILERS) up to its empty line, bounded by
   * maxHeaderBytes, and hands it on. A head that is complete in `data` is parsed in place; an
   * incomplete one is copied into `acc` until its CRLFCRLF arrives. Returns the new position.
   */
  private block(data: Buffer, pos: number): number {
    const len = data.length;
    const max = this.maxHeaderBytes;
    if (this.accLen === 0) {
      // Empty lines at the start: ignored before a request/status line (RFC 9112 §2.2), the end
      // of an empty trailer section.
      for (;;) {
        if (this.blockCR) {
          if (data[pos] !== 10) {
            this.fail(err('HPE_LF_EXPECTED', 'CR not followed by LF'));
            return len;
          }
          this.blockCR = false;
          pos++;
          if (this.state === S_TRAILERS) {
            this.state = S_COMPLETE;
            return pos;
          }
          this.skipped += 2;
          if (this.skipped > max) {
            this.fail(err('HPE_HEADER_OVERFLOW', 'too many empty lines before the request line', 431));
            return len;
          }
          if (pos === len) return pos;
          continue;
        }
        const b = data[pos];
        if (b === 13) {
          this.blockCR = true;
          if (++pos === len) return pos;
          continue;
        }
        if (b === 10) {
          this.fail(err('HPE_BARE_LF', 'bare LF'));
          return len;
        }
        break;
      }
      if (this.state === S_HEAD) {
        // Parse in place; only a head that is not complete in this input gets copied.
        let end: number;
        try {
          end = this.isRequest ? scanRequestHead(data, pos, len) : scanResponseHead(data, pos, len);
          if (end !== INCOMPLETE && end - pos + this.skipped <= max) scan.validate(this.isRequest);
        } catch (e) {
          this.fail(e as Http1ParseError);
          return len;
        }
        if (end !== INCOMPLETE) {
          if (end - pos + this.skipped > max) {
            this.overflow();
            return len;
          }
          this.curPos = end;
          this.onHeadBlock(data, pos, end);
          return end;
        }
      } else {
        const e = data.indexOf(TERM, pos);
        if (e !== -1) {
          const size = e + 4 - pos;
          if (size + this.skipped > max) {
            this.overflow();
            return len;
          }
          this.onTrailerBlock(data, pos, e + 4);
          return e + 4;
        }
      }
    } else {
      // Continue a block: a terminator may straddle the previous input and this one.
      const acc = this.acc!;
      const al = this.accLen;
      let k = 0; // how much of CRLFCRLF the collected bytes end with
      if (acc[al - 1] === 13) k = al >= 3 && acc[al - 2] === 10 && acc[al - 3] === 13 ? 3 : 1;
      else if (acc[al - 1] === 10 && al >= 2 && acc[al - 2] === 13) k = 2;
      let end = -1;
      const lim = Math.min(len, pos + 3);
      for (let j = pos; j < lim; j++) {
        const b = data[j];
        if (b === TERM[k]) {
          if (++k === 4) {
            end = j + 1;
            break;
          }
        } else {
          k = b === 13 ? 1 : 0;
        }
      }
      if (end === -1) {
        const e = data.indexOf(TERM, pos);
        if (e !== -1) end = e + 4;
      }
      if (end !== -1) {
        const size = al + end - pos;
        if (size + this.skipped > max) {
          this.overflow();
          return len;
        }
        this.append(data, pos, end);
        const buf = this.acc!;
        this.accLen = 0;
        if (buf.length > KEEP_ACC) this.acc = null;
        if (this.state === S_TRAILERS) {
          this.onTrailerBlock(buf, 0, size);
          return end;
        }
        try {
          // The block ends with the first CRLFCRLF, so the scan either fails or ends exactly there.
          if ((this.isRequest ? scanRequestHead(buf, 0, size) : scanResponseHead(buf, 0, size)) !== size) {
            throw err('HPE_INVALID_HEADER_TOKEN', 'malformed message head');
          }
          scan.validate(this.isRequest);
        } catch (e) {
          this.fail(e as Http1ParseError);
          return len;
        }
        this.curPos = end;
        this.onHeadBlock(buf, 0, size);
        return end;
      }
    }
    // No terminator yet: keep the bytes (bounded), rejecting a bare LF early.
    if (this.accLen + len - pos + this.skipped >= max) {
      this.overflow();
      return len;
    }
    for (let j = data.indexOf(10, pos); j !== -1; j = data.indexOf(10, j + 1)) {
      const prev = j > pos ? data[j - 1] : this.accLen !== 0 ? this.acc![this.accLen - 1] : -1;
      if (prev !== 13) {
        this.fail(err('HPE_BARE_LF', 'bare LF'));
        return len;
      }
    }
    this.append(data, pos, len);
    return len;
  }

  private overflow(): void {
    this.fail(
      this.state === S_TRAILERS
        ? err('HPE_HEADER_OVERFLOW', 'trailer section larger than the limit', 431)
        : err('HPE_HEADER_OVERFLOW', 'message head larger than the limit', 431),
    );
  }

  private append(data: Buffer, from: number, to: number): void {
    const need = this.accLen + (to - from);
    let acc = this.acc;
    if (acc === null || acc.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, Math.min(this.maxHeaderBytes, need * 2), 256));
      if (acc !== null && this.accLen !== 0) acc.copy(grown, 0, 0, this.accLen);
      this.acc = acc = grown;
    }
    data.copy(acc, this.accLen, from, to);
    this.accLen = need;
  }

  /** A complete trailer section b[start, end) (ending with CRLFCRLF). */
  private onTrailerBlock(b: Buffer, start: number, end: number): void {
    const t: string[] = [];
    try {
      scan.reset();
      if (scanFields(b, start, end, false) !== end) throw err('HPE_INVALID_HEADER_TOKEN', 'malformed trailer section');
    } catch (e) {
      this.fail(e as Http1ParseError);
      return;
    }
    if (scan.nFields > this.maxHeadersCount) {
      this.fail(err('HPE_TOO_MANY_HEADERS', 'more trailer fields than the limit', 431));
      return;
    }
    fillFields(start, (b as unknown as Latin1Slicer).latin1Slice(start, end - 2), t);
    this.trailers = t.length === 0 ? null : t;
    this.state = S_COMPLETE;
  }

  /** A head b[start, end) that scanned and validated (the results are in `scan`): build and deliver it. */
  private onHeadBlock(b: Buffer, start: number, end: number): void {
    this.skipped = 0;
    if (scan.nFields > this.maxHeadersCount) {
      this.fail(err('HPE_TOO_MANY_HEADERS', 'more header fields than the limit', 431));
      return;
    }
    const head = buildHead(b, start, end, this.isRequest);
    head.headBytes = end - start;
    if (this.isRequest) {
      const connect = head.method === 'CONNECT';
      // CONNECT: the bytes after the head belong to the tunnel (RFC 9110 §9.3.6).
      this.state = connect
        ? S_COMPLETE
        : head.chunked
          ? S_CHUNK_SIZE
          : head.contentLength > 0
            ? S_BODY
            : S_COMPLETE;
      this.remaining = head.contentLength > 0 ? head.contentLength : 0;
      this.upgradeAfter = connect || head.upgrade !== null;
      this.closeAfter = !head.keepAlive;
      this.handler.onHead(head);
      return;
    }
    const status = head.statusCode;
    if (status < 200 && status !== 101) {
      this.state = S_HEAD;
      this.handler.onInformational(head);
      return;
    }
    const keepAlive = head.keepAlive;
    // Delimited by the connection close (RFC 9112 §6.3 rule 8) unless onHead says there is no body.
    const closeDelimited = status >= 200 && status !== 204 && status !== 304 && !head.chunked && head.contentLength === -1;
    if (closeDelimited) head.keepAlive = false;
    this.upgradeAfter = status === 101;
    this.closeAfter = !head.keepAlive;
    this.state = S_COMPLETE; // until onHead says otherwise
    const noBody = this.handler.onHead(head) === true;
    if (this.state !== S_COMPLETE || this.upgradeAfter || status === 204 || status === 304) return;
    if (noBody) {
      if (closeDelimited) {
        head.keepAlive = keepAlive;
        this.closeAfter = !keepAlive;
      }
      return;
    }
    if (head.chunked) {
      this.state = S_CHUNK_SIZE;
    } else if (head.contentLength > 0) {
      this.state = S_BODY;
      this.remaining = head.contentLength;
    } else if (head.contentLength < 0) {
      this.state = S_EOF_BODY;
    }
  }

  // ---- chunk framing (RFC 9112 §7.1) ---------------------------------------------------------

  private chunkSizeLine(data: Buffer, pos: number): number {
    const len = data.length;
    while (pos < len) {
      const b = data[pos]!;
      const h = HEX[b]!;
      if (++this.chunkLine > MAX_CHUNK_LINE) {
        this.fail(err('HPE_CHUNK_EXTENSIONS_OVERFLOW', 'chunk-size line too long'));
        return len;
      }
      if (h >= 0) {
        const v = this.chunkSize * 16 + h;
        if (v > MAX_SAFE) {
          this.fail(err('HPE_INVALID_CHUNK_SIZE', 'chunk size too large'));
          return len;
        }
        this.chunkSize = v;
        this.chunkDigits++;
        pos++;
        continue;
      }
      if (this.chunkDigits === 0) {
        this.fail(b === 10 ? err('HPE_BARE_LF', 'bare LF in chunk framing') : err('HPE_INVALID_CHUNK_SIZE', 'chunk size is not hex'));
        return len;
      }
      if (b === 13) {
        this.state = S_CHUNK_LF;
        return pos + 1;
      }
      if (b === 59 || b === 32 || b === 9) {
        // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), ignored
        this.state = S_CHUNK_EXT;
        return pos;
      }
      this.fail(b === 10 ? err('HPE_BARE_LF', 'bare LF in chunk framing') : err('HPE_INVALID_CHUNK_SIZE', 'invalid character after chunk size'));
      return len;
    }
    return pos;
  }

  private chunkExt(data: Buffer, pos: number): number {
    const len = data.length;
    while (pos < len) {
      const b = data[pos]!;
      if (++this.chunkLine > MAX_CHUNK_LINE) {
        this.fail(err('HPE_CHUNK_EXTENSIONS_OVERFLOW', 'chunk extensions too long'));
        return len;
      }
      if (b === 13) {
        if (!this.extSemi) {
          this.fail(err('HPE_INVALID_CHUNK_SIZE', 'whitespace after chunk size'));
          return len;
        }
        this.state = S_CHUNK_LF;
        return pos + 1;
      }
      if (!this.extSemi) {
        if (b === 59) this.extSemi = true;
        else if (b !== 32 && b !== 9) {
          this.fail(b === 10 ? err('HPE_BARE_LF', 'bare LF in chunk framing') : err('HPE_INVALID_CHUNK_SIZE', 'invalid character after chunk size'));
          return len;
        }
      } else if ((b < 32 && b !== 9) || b === 127) {
        this.fail(b === 10 ? err('HPE_BARE_LF', 'bare LF in chunk framing') : err('HPE_INVALID_CHUNK_SIZE', 'control character in chunk extension'));
        return len;
      }
      pos++;
    }
    return pos;
  }
}
