// Incremental HTTP/1.1 message parser on raw bytes, for the proxy hot path: RFC 9112 framing
// (message body length §6, chunked coding §7) with RFC 9110 field syntax and smuggling defences.
import { Http1ParseError } from './errors.js';

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
  /** Flat [name, value, ...]; names lower-cased, values OWS-trimmed; order and duplicates kept. */
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
}

// ---- character classes ---------------------------------------------------------------------

/** tchar (RFC 9110 §5.6.2). */
const TCHAR = new Uint8Array(256);
/** field-value / reason-phrase characters: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5). */
const VCHAR = new Uint8Array(256);
/** request-target characters: anything visible, obs-text included (no SP, no CTL). */
const URLCHAR = new Uint8Array(256);
/** Characters of a Host value: unreserved / pct-encoded / sub-delims / ":" / "[" / "]". */
const HOSTCHAR = new Uint8Array(256);
/** Hex digit values, -1 otherwise. */
const HEX = new Int8Array(256).fill(-1);
{
  const alnum = (t: Uint8Array) => {
    for (let c = 48; c <= 57; c++) t[c] = 1;
    for (let c = 65; c <= 90; c++) t[c] = 1;
    for (let c = 97; c <= 122; c++) t[c] = 1;
  };
  alnum(TCHAR);
  for (let c = 33; c < 256; c++) URLCHAR[c] = VCHAR[c] = 1;
  URLCHAR[127] = VCHAR[127] = 0;
  VCHAR[32] = VCHAR[9] = 1;
  for (const ch of "!#$%&'*+-.^_`|~") TCHAR[ch.charCodeAt(0)] = 1;
  alnum(HOSTCHAR);
  for (const ch of "-._~%!$&'()*+,;=:[]") HOSTCHAR[ch.charCodeAt(0)] = 1;
  for (let c = 0; c < 10; c++) HEX[48 + c] = c;
  for (let c = 0; c < 6; c++) HEX[65 + c] = HEX[97 + c] = 10 + c;
}

/**
 * Common field names, found without allocating: the name scan computes a case-folded hash, the
 * table gives a candidate, and a byte compare confirms it (all candidates are [a-z0-9-], for
 * which `c | 0x20` folds exactly the upper-case letters among tchar).
 */
const COMMON_NAMES = [
  'host', 'user-agent', 'accept', 'accept-encoding', 'accept-language', 'accept-charset',
  'connection', 'keep-alive', 'content-type', 'content-length', 'content-encoding',
  'transfer-encoding', 'cookie', 'set-cookie', 'authorization', 'cache-control', 'pragma',
  'referer', 'origin', 'upgrade', 'expect', 'te', 'trailer', 'date', 'server', 'location',
  'etag', 'last-modified', 'if-modified-since', 'if-none-match', 'range', 'vary', 'via',
  'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-request-id',
  'x-real-ip', 'traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-sampled',
  'x-b3-parentspanid', 'x-b3-flags', 'sw8', 'x-envoy-attempt-count', 'x-envoy-original-path',
  'grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding', 'grpc-status', 'grpc-message',
  'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-accept', 'sec-websocket-protocol',
  'sec-websocket-extensions', 'dnt', 'upgrade-insecure-requests', 'sec-fetch-site',
  'sec-fetch-mode', 'sec-fetch-dest', 'sec-fetch-user', 'sec-ch-ua', 'sec-ch-ua-mobile',
  'sec-ch-ua-platform', 'accept-ranges', 'content-range', 'content-disposition', 'expires', 'age',
  'www-authenticate', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'forwarded',
  'access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-headers',
  'access-control-allow-methods', 'access-control-request-method', 'access-control-request-headers',
  'strict-transport-security', 'x-content-type-options', 'x-frame-options', 'content-security-policy',
  'if-match', 'if-unmodified-since', 'if-range', 'link', 'allow', 'retry-after', 'alt-svc',
  'x-powered-by', 'x-requested-with', 'x-csrf-token', 'x-api-key', 'priority', 'baggage',
];
const NAME_MASK = 2047; // with the hash below, no two COMMON_NAMES share a slot
const nameSlot = (h: number) => (h ^ (h >>> 5)) & NAME_MASK;
/** Per slot: the interned name, its bytes (offset and length in NAME_POOL), its kind. */
const NAME_TABLE: string[] = new Array<string>(NAME_MASK + 1).fill('');
const NAME_OFF = new Int32Array(NAME_MASK + 1);
const NAME_LEN = new Int32Array(NAME_MASK + 1);
const NAME_KIND = new Uint8Array(NAME_MASK + 1);
const NAME_POOL = Buffer.from(COMMON_NAMES.join(''), 'latin1');

// Fields whose values the parser interprets (RFC 9112 §3.2, §6; RFC 9110 §7.6.1, §7.8, §10.1.1).
const K_HOST = 1, K_CONTENT_LENGTH = 2, K_TRANSFER_ENCODING = 3, K_CONNECTION = 4, K_UPGRADE = 5, K_EXPECT = 6;
const KINDS: Record<string, number> = {
  host: K_HOST, 'content-length': K_CONTENT_LENGTH, 'transfer-encoding': K_TRANSFER_ENCODING,
  connection: K_CONNECTION, upgrade: K_UPGRADE, expect: K_EXPECT,
};
{
  let off = 0;
  for (const n of COMMON_NAMES) {
    let h = 0;
    for (let k = 0; k < n.length; k++) h = (Math.imul(h, 31) + (n.charCodeAt(k) | 0x20)) | 0;
    const slot = nameSlot(h);
    if (NAME_TABLE[slot] === '') {
      NAME_TABLE[slot] = n;
      NAME_OFF[slot] = off;
      NAME_LEN[slot] = n.length;
      NAME_KIND[slot] = KINDS[n] ?? 0;
    } else if (KINDS[n] !== undefined) {
      // The framing fields must always be recognised; other names just take the slow path.
      throw new Error(`http1 parser: field name table collision on ${n}`);
    }
    off += n.length;
  }
}

/** b[start, start + len) equals NAME_POOL[off, off + len) ignoring case (b holds tchar only). */
function sameName(b: Buffer, start: number, off: number, len: number): boolean {
  for (let k = 0; k < len; k++) if ((b[start + k]! | 0x20) !== NAME_POOL[off + k]) return false;
  return true;
}

/** Lower-case literals compared against value bytes. */
const LIT_CLOSE = Buffer.from('close');
const LIT_KEEP_ALIVE = Buffer.from('keep-alive');
const LIT_UPGRADE = Buffer.from('upgrade');
const LIT_CHUNKED = Buffer.from('chunked');
const LIT_100_CONTINUE = Buffer.from('100-continue');

/**
 * b[a, e) equals the literal ignoring ASCII case. b holds field-value bytes (no CTL but HTAB),
 * and the literals are [a-z0-9-], for which `c | 0x20` folds exactly the upper-case letters.
 */
function eqBytes(b: Buffer, a: number, e: number, lit: Buffer): boolean {
  const n = lit.length;
  if (e - a !== n) return false;
  for (let k = 0; k < n; k++) if ((b[a + k]! | 0x20) !== lit[k]) return false;
  return true;
}

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

/** Node's Buffer has latin1Slice (what toString('latin1') calls) without the argument checks. */
interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}

function err(code: string, message: string, status = 400): Http1ParseError {
  return new Http1ParseError(code, message, status);
}

/**
 * Incremental HTTP/1.1 parser for one direction of one connection.
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

  private state = S_HEAD;
  private _paused = false;
  private executing = false;
  private eofPending = false;
  /** Bumped by reset() so a running loop drops what it was parsing. */
  private gen = 0;
  /** Unparsed input queued while paused or re-entered, oldest first. */
  private pend: Buffer[] = [];
  /** Raw bytes after a protocol switch, oldest first. */
  private rest: Buffer[] = [];

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
  }

  get paused(): boolean {
    return this._paused;
  }

  /** Parses as much of `data` as possible (queues it when paused). Never throws on bad input. */
  execute(data: Buffer): void {
    if (this.state >= S_UPGRADED) {
      if (this.state === S_UPGRADED && data.length !== 0) this.rest.push(data);
      return;
    }
    if (this._paused || this.executing) {
      if (data.length !== 0) this.pend.push(data);
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
    for (const b of this.pend) parts.push(b);
    this.accLen = 0;
    this.rest = [];
    this.pend = [];
    if (this.state < S_UPGRADED) this.state = S_UPGRADED;
    if (parts.length === 0) return null;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** Back to the initial state, to parse a new stream with the same object. */
  reset(): void {
    this.gen++;
    this.state = S_HEAD;
    this._paused = false;
    this.eofPending = false;
    this.pend = [];
    this.rest = [];
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
        this.pend = [];
        return;
      }
      const d = this.pend.shift();
      if (d !== undefined) {
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
    this.acc = null;
    this.accLen = 0;
    this.handler.onError(e);
  }

  /** The main loop over one input buffer. */
  private run(data: Buffer): void {
    const len = data.length;
    const gen = this.gen;
    let pos = 0;
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
          this.handler.onData(chunk);
          break;
        }
        case S_COMPLETE:
          this.complete();
          break;
        default:
          pos = len; // unreachable: stopped states never enter run()
      }
      if (this._paused || this.state >= S_UPGRADED || this.gen !== gen) break;
    }
    if (pos < len && this.gen === gen) {
      const left = pos === 0 ? data : data.subarray(pos);
      if (this.state === S_UPGRADED) this.rest.push(left);
      else if (this.state < S_UPGRADED) this.pend.unshift(left); // paused
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
   * maxHeaderBytes, then hands it to onBlock. Returns the new position in `data`.
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
    fillFields(start, (b as unknown as Latin1Slicer).latin1Slice(start, end - 2), t);
    this.trailers = t.length === 0 ? null : t;
    this.state = S_COMPLETE;
  }

  /** A head b[start, end) that scanned and validated (the results are in `scan`): build and deliver it. */
  private onHeadBlock(b: Buffer, start: number, end: number): void {
    this.skipped = 0;
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

// ---- head parsing -----------------------------------------------------------------------------
//
// Two phases. scan*: validate and locate everything on the bytes, record offsets, interpret the
// framing fields, find the end of the head (or say the input ends first) — no strings. Then
// buildHead: one latin1 decoding of the head and slices of it. The scanning loops are written
// `while (TABLE[b[i]] === 1) i++`, the shape V8 runs fastest; a read past the input gives
// undefined, which stops every loop, and each loop exit checks for the end of the input.

/** scan*: the input ends before the head does. */
const INCOMPLETE = -1;

/** Results of the last scan. One instance: scanning is synchronous and calls no user code. */
class Scan {
  methodEnd = 0;
  urlStart = 0;
  urlEnd = 0;
  minor = 1;
  status = 0;
  reasonStart = 0;
  reasonEnd = 0;
  /** Per field: table slot or -1, name start, name end, value start, value end. */
  offs = new Int32Array(5 * 64);
  nFields = 0;
  // what the framing and connection fields say
  contentLength = -1;
  hasTE = false;
  teChunked = 0;
  teOther = 0;
  teLastChunked = false;
  hosts = 0;
  close = false;
  keepAlive = false;
  connUpgrade = false;
  expect = false;

  reset(): void {
    this.nFields = 0;
    this.contentLength = -1;
    this.hasTE = false;
    this.teChunked = 0;
    this.teOther = 0;
    this.teLastChunked = false;
    this.hosts = 0;
    this.close = false;
    this.keepAlive = false;
    this.connUpgrade = false;
    this.expect = false;
  }

  record(slot: number, ns: number, ne: number, vs: number, ve: number): void {
    let k = this.nFields * 5;
    if (k + 5 > this.offs.length) {
      const grown = new Int32Array(this.offs.length * 2);
      grown.set(this.offs);
      this.offs = grown;
    }
    const o = this.offs;
    o[k++] = slot;
    o[k++] = ns;
    o[k++] = ne;
    o[k++] = vs;
    o[k] = ve;
    this.nFields++;
  }

  field(kind: number, b: Buffer, vs: number, ve: number): void {
    switch (kind) {
      case K_HOST:
        this.hosts++;
        for (let k = vs; k < ve; k++) if (HOSTCHAR[b[k]!] !== 1) throw err('HPE_INVALID_HOST', 'invalid Host');
        break;
      case K_CONTENT_LENGTH:
        this.contentLength = parseContentLength(b, vs, ve, this.contentLength);
        break;
      case K_TRANSFER_ENCODING:
        this.hasTE = true;
        this.list(b, vs, ve, true);
        break;
      case K_CONNECTION:
        this.list(b, vs, ve, false);
        break;
      case K_EXPECT:
        if (eqBytes(b, vs, ve, LIT_100_CONTINUE)) this.expect = true;
        break;
    }
  }

  /** #element lists (RFC 9110 §5.6.1, empty elements allowed): transfer codings or connection options. */
  private list(b: Buffer, i: number, ve: number, te: boolean): void {
    while (i < ve) {
      const c = b[i]!;
      if (c === 44 || isOws(c)) {
        i++;
        continue;
      }
      const a = i;
      while (i < ve && b[i] !== 44) i++;
      let e = i;
      while (isOws(b[e - 1]!)) e--;
      if (te) {
        if (eqBytes(b, a, e, LIT_CHUNKED)) {
          this.teChunked++;
          this.teLastChunked = true;
        } else {
          this.teOther++;
          this.teLastChunked = false;
        }
      } else if (eqBytes(b, a, e, LIT_CLOSE)) this.close = true;
      else if (eqBytes(b, a, e, LIT_KEEP_ALIVE)) this.keepAlive = true;
      else if (eqBytes(b, a, e, LIT_UPGRADE)) this.connUpgrade = true;
    }
  }

  /** Rejects what RFC 9112 §6 (framing) and §3.2 (Host) forbid, for the head just scanned. */
  validate(isRequest: boolean): void {
    const minor = this.minor;
    if (this.hasTE) {
      if (this.contentLength !== -1) throw err('HPE_CL_AND_TE', 'both Content-Length and Transfer-Encoding');
      if (minor === 0) throw err('HPE_INVALID_TRANSFER_ENCODING', 'Transfer-Encoding in an HTTP/1.0 message');
      if (this.teChunked > 1) throw err('HPE_INVALID_TRANSFER_ENCODING', 'chunked applied more than once');
      if (this.teChunked === 0 && this.teOther === 0) throw err('HPE_INVALID_TRANSFER_ENCODING', 'empty Transfer-Encoding');
      if (isRequest) {
        if (!this.teLastChunked) throw err('HPE_INVALID_TRANSFER_ENCODING', 'final transfer coding is not chunked');
        if (this.teOther !== 0) throw err('HPE_UNKNOWN_TRANSFER_ENCODING', 'transfer coding not implemented', 501);
      }
    }
    if (isRequest) {
      if (this.hosts > 1) throw err('HPE_MULTIPLE_HOST', 'more than one Host');
      if (this.hosts === 0 && minor === 1) throw err('HPE_MISSING_HOST', 'HTTP/1.1 request without Host');
    }
  }
}

const scan = new Scan();
const isOws = (c: number) => c === 32 || c === 9;

function newHead(): MessageHead {
  return {
    method: '',
    url: '',
    statusCode: 0,
    reason: '',
    versionMinor: 1,
    headers: [],
    contentLength: -1,
    chunked: false,
    keepAlive: true,
    upgrade: null,
    expectContinue: false,
    headBytes: 0,
  };
}

/** "HTTP/1.x" at b[i] (all 8 bytes present); returns the minor version. */
function parseVersion(b: Buffer, i: number): number {
  if (b[i] !== 72 || b[i + 1] !== 84 || b[i + 2] !== 84 || b[i + 3] !== 80 || b[i + 4] !== 47 || b[i + 6] !== 46) {
    throw err('HPE_INVALID_VERSION', 'malformed HTTP-version');
  }
  const major = b[i + 5]! - 48;
  const minor = b[i + 7]! - 48;
  if (!(major >= 0 && major <= 9 && minor >= 0 && minor <= 9)) throw err('HPE_INVALID_VERSION', 'malformed HTTP-version');
  if (major !== 1 || minor > 1) throw err('HPE_UNSUPPORTED_VERSION', 'HTTP version not supported', 505);
  return minor;
}

/** request-line = method SP request-target SP HTTP-version CRLF (RFC 9112 §3), then the fields. */
function scanRequestHead(b: Buffer, i: number, len: number): number {
  scan.reset();
  const base = i;
  while (TCHAR[b[i]!] === 1) i++;
  let c = b[i];
  if (c !== 32) {
    if (i >= len) return INCOMPLETE;
    throw c === 10 ? err('HPE_BARE_LF', 'bare LF in request line') : err('HPE_INVALID_METHOD', 'invalid method');
  }
  if (i === base) throw err('HPE_INVALID_METHOD', 'empty method');
  scan.methodEnd = i;
  const u = ++i;
  while (URLCHAR[b[i]!] === 1) i++;
  c = b[i];
  if (c !== 32) {
    if (i >= len) return INCOMPLETE;
    if (c === 10) throw err('HPE_BARE_LF', 'bare LF in request line');
    if (c === 13) throw err('HPE_INVALID_VERSION', 'request line without HTTP-version');
    throw err('HPE_INVALID_URL', 'invalid character in request-target');
  }
  if (i === u) throw err('HPE_INVALID_URL', 'empty request-target');
  scan.urlStart = u;
  scan.urlEnd = i;
  if (len - ++i < 10) return INCOMPLETE; // "HTTP/1.1" CRLF
  scan.minor = parseVersion(b, i);
  i += 8;
  if (b[i] !== 13) throw b[i] === 10 ? err('HPE_BARE_LF', 'bare LF in request line') : err('HPE_INVALID_VERSION', 'junk after HTTP-version');
  if (b[i + 1] !== 10) throw err('HPE_LF_EXPECTED', 'CR not followed by LF');
  return scanFields(b, i + 2, len, true);
}

/** status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF (RFC 9112 §4), then the fields. */
function scanResponseHead(b: Buffer, i: number, len: number): number {
  scan.reset();
  if (len - i < 13) return INCOMPLETE; // "HTTP/1.1 200" and CR or SP
  scan.minor = parseVersion(b, i);
  if (b[i + 8] !== 32) throw err('HPE_INVALID_VERSION', 'malformed status line');
  const d0 = b[i + 9]! - 48, d1 = b[i + 10]! - 48, d2 = b[i + 11]! - 48;
  if (!(d0 >= 1 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9)) throw err('HPE_INVALID_STATUS', 'invalid status code');
  scan.status = d0 * 100 + d1 * 10 + d2;
  i += 12;
  let c = b[i];
  scan.reasonStart = scan.reasonEnd = i;
  if (c === 32) {
    scan.reasonStart = ++i;
    while (VCHAR[b[i]!] === 1) i++;
    c = b[i];
    scan.reasonEnd = i;
  }
  if (c !== 13) {
    if (i >= len) return INCOMPLETE;
    throw c === 10 ? err('HPE_BARE_LF', 'bare LF in status line') : err('HPE_INVALID_STATUS', 'invalid status line');
  }
  if (i + 1 >= len) return INCOMPLETE;
  if (b[i + 1] !== 10) throw err('HPE_LF_EXPECTED', 'CR not followed by LF');
  return scanFields(b, i + 2, len, true);
}

/**
 * *( field-line CRLF ) CRLF with field-line = field-name ":" OWS field-value OWS (RFC 9112 §5,
 * RFC 9110 §5.5), from b[i]. Returns the index after the final CRLF, or INCOMPLETE. With
 * `interpret`, also records the framing and connection fields (a head; not trailers).
 */
function scanFields(b: Buffer, i: number, len: number, interpret: boolean): number {
  for (;;) {
    let c = b[i];
    if (c === 13) {
      if (i + 1 >= len) return INCOMPLETE;
      if (b[i + 1] !== 10) throw err('HPE_LF_EXPECTED', 'CR not followed by LF');
      return i + 2;
    }
    if (i >= len) return INCOMPLETE;
    if (c === 32 || c === 9) throw err('HPE_OBS_FOLD', 'obsolete line folding');
    const start = i;
    let h = 0;
    for (;;) {
      c = b[i];
      if (TCHAR[c!] !== 1) break;
      h = (Math.imul(h, 31) + (c! | 0x20)) | 0;
      i++;
    }
    if (c !== 58) {
      if (i >= len) return INCOMPLETE;
      if (c === 32 || c === 9) throw err('HPE_INVALID_HEADER_TOKEN', 'whitespace between field name and colon');
      if (c === 10) throw err('HPE_BARE_LF', 'bare LF in field line');
      if (c === 13) throw err('HPE_INVALID_HEADER_TOKEN', 'field line without a colon');
      throw err('HPE_INVALID_HEADER_TOKEN', 'invalid character in field name');
    }
    const nameEnd = i;
    const nameLen = nameEnd - start;
    if (nameLen === 0) throw err('HPE_INVALID_HEADER_TOKEN', 'empty field name');
    let slot = nameSlot(h);
    if (NAME_LEN[slot] !== nameLen || !sameName(b, start, NAME_OFF[slot]!, nameLen)) slot = -1;
    i++;
    while ((c = b[i]) === 32 || c === 9) i++;
    const vs = i;
    while (VCHAR[b[i]!] === 1) i++;
    c = b[i];
    if (c !== 13) {
      if (i >= len) return INCOMPLETE;
      throw c === 10 ? err('HPE_BARE_LF', 'bare LF in field value') : err('HPE_INVALID_HEADER_VALUE', 'control character in field value');
    }
    if (i + 1 >= len) return INCOMPLETE;
    if (b[i + 1] !== 10) throw err('HPE_LF_EXPECTED', 'CR not followed by LF');
    let ve = i;
    while (ve > vs && isOws(b[ve - 1]!)) ve--;
    scan.record(slot, start, nameEnd, vs, ve);
    if (interpret && slot !== -1 && NAME_KIND[slot] !== 0) scan.field(NAME_KIND[slot]!, b, vs, ve);
    i += 2;
  }
}

/** Pushes the scanned fields as strings sliced from s (s[k] is b[base + k]); returns the joined Upgrade values. */
function fillFields(base: number, s: string, out: string[]): string | null {
  const o = scan.offs;
  let upgrade: string | null = null;
  for (let f = 0, k = 0; f < scan.nFields; f++, k += 5) {
    const slot = o[k]!;
    const vs = o[k + 3]!, ve = o[k + 4]!;
    const name = slot >= 0 ? NAME_TABLE[slot]! : s.slice(o[k + 1]! - base, o[k + 2]! - base).toLowerCase();
    const value = ve === vs ? '' : s.slice(vs - base, ve - base);
    out.push(name); // (one argument per push: V8 inlines only that form)
    out.push(value);
    if (slot >= 0 && NAME_KIND[slot] === K_UPGRADE && value !== '') upgrade = upgrade === null ? value : upgrade + ', ' + value;
  }
  return upgrade;
}

function internMethod(b: Buffer, i: number, n: number, s: string): string {
  const c = b[i];
  if (n === 3) {
    if (c === 71 && b[i + 1] === 69 && b[i + 2] === 84) return 'GET';
    if (c === 80 && b[i + 1] === 85 && b[i + 2] === 84) return 'PUT';
  } else if (n === 4) {
    if (c === 80 && s.startsWith('POST')) return 'POST';
    if (c === 72 && s.startsWith('HEAD')) return 'HEAD';
  } else if (n === 6) {
    if (c === 68 && s.startsWith('DELETE')) return 'DELETE';
  } else if (n === 7) {
    if (c === 79 && s.startsWith('OPTIONS')) return 'OPTIONS';
    if (c === 67 && s.startsWith('CONNECT')) return 'CONNECT';
  } else if (n === 5) {
    if (c === 80 && s.startsWith('PATCH')) return 'PATCH';
  }
  return s.slice(0, n);
}

/** Phase 2: the head b[base, end) that `scan` just scanned and validated, as a MessageHead. */
function buildHead(b: Buffer, base: number, end: number, isRequest: boolean): MessageHead {
  const s = (b as unknown as Latin1Slicer).latin1Slice(base, end - 2);
  const head = newHead();
  const minor = scan.minor;
  head.versionMinor = minor;
  if (isRequest) {
    head.method = internMethod(b, base, scan.methodEnd - base, s);
    head.url = s.slice(scan.urlStart - base, scan.urlEnd - base);
  } else {
    head.statusCode = scan.status;
    if (scan.reasonEnd > scan.reasonStart) head.reason = s.slice(scan.reasonStart - base, scan.reasonEnd - base);
  }
  const upgrade = fillFields(base, s, head.headers);
  if (scan.hasTE) head.chunked = scan.teLastChunked; // a response whose final coding is not chunked reads until close
  head.contentLength = scan.contentLength;
  head.keepAlive = minor === 1 ? !scan.close : scan.keepAlive && !scan.close;
  if (isRequest) {
    if (minor === 1) {
      // An Upgrade in HTTP/1.0 is ignored (RFC 9110 §7.8), so is 100-continue (§10.1.1).
      if (scan.connUpgrade && upgrade !== null) head.upgrade = upgrade.toLowerCase();
      head.expectContinue = scan.expect;
    }
  } else if (scan.status === 101 && scan.connUpgrade && upgrade !== null) {
    head.upgrade = upgrade.toLowerCase();
  }
  return head;
}

/** Content-Length = 1*DIGIT; a list of identical values is accepted (RFC 9110 §8.6). */
function parseContentLength(b: Buffer, i: number, ve: number, prev: number): number {
  let value = -1;
  for (;;) {
    while (i < ve && isOws(b[i]!)) i++;
    let x = 0;
    const d0 = i;
    for (; i < ve; i++) {
      const d = b[i]! - 48;
      if (!(d >= 0 && d <= 9)) break;
      x = x * 10 + d;
      if (x > MAX_SAFE) throw err('HPE_INVALID_CONTENT_LENGTH', 'Content-Length too large');
    }
    if (i === d0) throw err('HPE_INVALID_CONTENT_LENGTH', 'invalid Content-Length');
    while (i < ve && isOws(b[i]!)) i++;
    if (value !== -1 && x !== value) throw err('HPE_CONFLICTING_CONTENT_LENGTH', 'conflicting Content-Length values');
    value = x;
    if (i === ve) break;
    if (b[i] !== 44) throw err('HPE_INVALID_CONTENT_LENGTH', 'invalid Content-Length');
    i++;
  }
  if (prev !== -1 && prev !== value) throw err('HPE_CONFLICTING_CONTENT_LENGTH', 'conflicting Content-Length values');
  return value;
}
