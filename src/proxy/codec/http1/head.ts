// HTTP/1.1 message heads on raw bytes: request-line, status-line and field section (RFC 9112
// §3-§5, RFC 9110 §5), with the framing-field checks of RFC 9112 §3.2 and §6. Used by parser.ts.
import { Http1ParseError } from './errors.js';
import type { MessageHead } from './parser.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function err(code: string, message: string, status = 400): Http1ParseError {
  return new Http1ParseError(code, message, status);
}

/** Node's Buffer has latin1Slice (what toString('latin1') calls) without the argument checks. */
export interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}

// ---- character classes ---------------------------------------------------------------------

/** tchar (RFC 9110 §5.6.2). */
const TCHAR = new Uint8Array(256);
/** field-value / reason-phrase characters: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5). */
const VCHAR = new Uint8Array(256);
/**
 * request-target characters: visible ASCII but "#" (no fragment, RFC 9112 §3.2). Bytes above 0x7F
 * are refused, as Envoy refuses them in :path (RFC 3986 has no place for them: they must be
 * percent-encoded), so no upstream gets to interpret them in its own way.
 */
const URLCHAR = new Uint8Array(256);
/** Characters of a Host value: unreserved / pct-encoded / sub-delims / ":" / "[" / "]". */
const HOSTCHAR = new Uint8Array(256);
{
  const alnum = (t: Uint8Array) => {
    for (let c = 48; c <= 57; c++) t[c] = 1;
    for (let c = 65; c <= 90; c++) t[c] = 1;
    for (let c = 97; c <= 122; c++) t[c] = 1;
  };
  alnum(TCHAR);
  for (let c = 33; c < 256; c++) VCHAR[c] = 1;
  for (let c = 33; c < 127; c++) URLCHAR[c] = 1;
  VCHAR[127] = 0;
  URLCHAR[35] = 0; // '#'
  VCHAR[32] = VCHAR[9] = 1;
  for (const ch of "!#$%&'*+-.^_`|~") TCHAR[ch.charCodeAt(0)] = 1;
  alnum(HOSTCHAR);
  for (const ch of "-._~%!$&'()*+,;=:[]") HOSTCHAR[ch.charCodeAt(0)] = 1;
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
const LIT_OPTIONS = Buffer.from('OPTIONS');
const LIT_CONNECT = Buffer.from('CONNECT');

/** b[a, e) is exactly the literal (case-sensitive). */
function sameBytes(b: Buffer, a: number, e: number, lit: Buffer): boolean {
  const n = lit.length;
  if (e - a !== n) return false;
  for (let k = 0; k < n; k++) if (b[a + k] !== lit[k]) return false;
  return true;
}

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

// ---- head parsing -----------------------------------------------------------------------------
//
// Two phases. scan*: validate and locate everything on the bytes, record offsets, interpret the
// framing fields, find the end of the head (or say the input ends first) — no strings. Then
// buildHead: one latin1 decoding of the head and slices of it. The scanning loops are written
// `while (TABLE[b[i]] === 1) i++`, the shape V8 runs fastest; a read past the input gives
// undefined, which stops every loop, and each loop exit checks for the end of the input.

/** scan*: the input ends before the head does. */
export const INCOMPLETE = -1;

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
  /** Content-Length must be rewritten as one plain value (repeated, a list, leading zeros). */
  clFix = false;
  hosts = 0;
  close = false;
  keepAlive = false;
  connUpgrade = false;
  expect = false;

  reset(): void {
    this.nFields = 0;
    this.contentLength = -1;
    this.clFix = false;
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
        if (this.contentLength !== -1) this.clFix = true;
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
        if (this.teOther !== 0) throw err('HPE_UNKNOWN_TRANSFER_ENCODING', 'transfer coding not supported', 501);
      }
    }
    if (isRequest) {
      if (this.hosts > 1) throw err('HPE_MULTIPLE_HOST', 'more than one Host');
      if (this.hosts === 0 && minor === 1) throw err('HPE_MISSING_HOST', 'HTTP/1.1 request without Host');
    }
  }
}

export const scan = new Scan();
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

/**
 * The input ends within the few bytes a fixed-length part of the start line needs: INCOMPLETE,
 * unless the line already ends too early (an error: the terminator may be in the input already).
 * A CR is first allowed at `crAt`; an LF there could only follow it beyond the input.
 */
function shortLine(b: Buffer, i: number, len: number, crAt: number): number {
  for (; i < len; i++) {
    if (b[i] === 10) throw err('HPE_BARE_LF', 'bare LF in start line');
    if (b[i] === 13 && i < crAt) throw err('HPE_INVALID_VERSION', 'start line too short');
  }
  return INCOMPLETE;
}

/** request-line = method SP request-target SP HTTP-version CRLF (RFC 9112 §3), then the fields. */
export function scanRequestHead(b: Buffer, i: number, len: number): number {
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
    throw err('HPE_INVALID_URL', c === 35 ? 'fragment in request-target' : 'invalid character in request-target');
  }
  if (i === u) throw err('HPE_INVALID_URL', 'empty request-target');
  // asterisk-form only for OPTIONS, authority-form for CONNECT (RFC 9112 §3.2.3, §3.2.4)
  const connect = sameBytes(b, base, scan.methodEnd, LIT_CONNECT);
  if (b[u] === 42 ? i - u !== 1 || !sameBytes(b, base, scan.methodEnd, LIT_OPTIONS) || connect : connect && b[u] === 47) {
    throw err('HPE_INVALID_URL', 'request-target form not allowed for this method');
  }
  // absolute-form (RFC 9112 §3.2.2): its authority replaces Host, so it is held to the same rules.
  if (b[u] !== 47 && b[u] !== 42 && !connect) checkAbsoluteAuthority(b, u, i);
  scan.urlStart = u;
  scan.urlEnd = i;
  if (len - ++i < 10) return shortLine(b, i, len, i + 8); // "HTTP/1.1" CRLF
  scan.minor = parseVersion(b, i);
  i += 8;
  if (b[i] !== 13) throw b[i] === 10 ? err('HPE_BARE_LF', 'bare LF in request line') : err('HPE_INVALID_VERSION', 'junk after HTTP-version');
  if (b[i + 1] !== 10) throw err('HPE_LF_EXPECTED', 'CR not followed by LF');
  return scanFields(b, i + 2, len, true);
}

/**
 * An absolute-form target `scheme "://" authority [ path-abempty ] [ "?" query ]` in b[u, e): the
 * authority must be non-empty and made of Host characters only (no userinfo). Targets of other
 * shapes are left to the router, which answers them with 400.
 */
function checkAbsoluteAuthority(b: Buffer, u: number, e: number): void {
  let i = u;
  while (i < e && TCHAR[b[i]!] === 1 && b[i] !== 58) i++; // scheme (a subset of tchar)
  if (i === u || i + 3 > e || b[i] !== 58 || b[i + 1] !== 47 || b[i + 2] !== 47) return;
  i += 3;
  const a = i;
  for (; i < e; i++) {
    const c = b[i]!;
    if (c === 47 || c === 63) break;
    if (HOSTCHAR[c] !== 1) throw err('HPE_INVALID_HOST', 'invalid authority in the request-target');
  }
  if (i === a) throw err('HPE_INVALID_HOST', 'empty authority in the request-target');
}

/** status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF (RFC 9112 §4), then the fields. */
export function scanResponseHead(b: Buffer, i: number, len: number): number {
  scan.reset();
  if (len - i < 13) return shortLine(b, i, len, i + 12); // "HTTP/1.1 200" and CR or SP
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
export function scanFields(b: Buffer, i: number, len: number, interpret: boolean): number {
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
export function fillFields(base: number, s: string, out: string[]): string | null {
  const o = scan.offs;
  let upgrade: string | null = null;
  let clFix = scan.clFix;
  for (let f = 0, k = 0; f < scan.nFields; f++, k += 5) {
    const slot = o[k]!;
    const vs = o[k + 3]!, ve = o[k + 4]!;
    const name = slot >= 0 ? NAME_TABLE[slot]! : s.slice(o[k + 1]! - base, o[k + 2]! - base).toLowerCase();
    let value = ve === vs ? '' : s.slice(vs - base, ve - base);
    if (slot >= 0 && scan.clFix && NAME_KIND[slot] === K_CONTENT_LENGTH) {
      if (!clFix) continue; // already written once
      clFix = false;
      value = String(scan.contentLength);
    }
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
export function buildHead(b: Buffer, base: number, end: number, isRequest: boolean): MessageHead {
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
    if (b[d0] === 48 && i - d0 > 1) scan.clFix = true; // leading zero
    while (i < ve && isOws(b[i]!)) i++;
    if (value !== -1 && x !== value) throw err('HPE_CONFLICTING_CONTENT_LENGTH', 'conflicting Content-Length values');
    value = x;
    if (i === ve) break;
    if (b[i] !== 44) throw err('HPE_INVALID_CONTENT_LENGTH', 'invalid Content-Length');
    scan.clFix = true; // a list
    i++;
  }
  if (prev !== -1 && prev !== value) throw err('HPE_CONFLICTING_CONTENT_LENGTH', 'conflicting Content-Length values');
  return value;
}

