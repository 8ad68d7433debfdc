// Protocol sniffing over the first bytes a client sends, with the semantics of Envoy's
// http_inspector listener filter (envoy.extensions.filters.listener.http_inspector.v3): the HTTP/2
// connection preface (RFC 9113 §3.4, prior knowledge) means `h2c`; an HTTP/1.x request line
// (RFC 9112 §3: method SP request-target SP HTTP-version CRLF) means `http/1.1` or `http/1.0`;
// anything else is `other`. Decides as early as the bytes allow and never looks past the first line.

/** What the bytes seen so far say about the client's protocol. `more`: not decidable yet. */
export type SniffResult = 'h2c' | 'http/1.1' | 'http/1.0' | 'other' | 'more';

/** The HTTP/2 client connection preface. */
export const H2_PREFACE: Buffer = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Request methods recognised in an HTTP/1.x request line: RFC 9110's, WebDAV's and the other
 * registered ones an HTTP/1 parser knows. `PRI` is left out: it only starts the HTTP/2 preface.
 */
export const HTTP1_METHODS: readonly string[] = Object.freeze([
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH',
  'COPY', 'LOCK', 'MKCOL', 'MOVE', 'PROPFIND', 'PROPPATCH', 'SEARCH', 'UNLOCK', 'BIND', 'REBIND', 'UNBIND',
  'ACL', 'REPORT', 'MKACTIVITY', 'CHECKOUT', 'MERGE', 'M-SEARCH', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE',
  'PURGE', 'MKCALENDAR', 'LINK', 'UNLINK', 'SOURCE', 'QUERY',
]);

/** Every prefix of every known method (a method token in progress must be one of these). */
const METHOD_PREFIXES: ReadonlySet<string> = new Set(HTTP1_METHODS.flatMap((m) => [...m].map((_, i) => m.slice(0, i + 1))));
const METHODS: ReadonlySet<string> = new Set(HTTP1_METHODS);
const MAX_METHOD = Math.max(...HTTP1_METHODS.map((m) => m.length));

/** Envoy's http_inspector reads at most this much before giving up on finding a request line. */
export const DEFAULT_MAX_SNIFF_BYTES = 8192;

const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;
const VERSION_PREFIX = 'HTTP/1.';

export interface SniffOptions {
  /** Undecided after this many bytes means `other` (default 8192, as Envoy's inspector). */
  readonly maxBytes?: number;
}

/**
 * Classifies the first bytes of a connection (everything received so far, in order; call again
 * with the longer buffer after each read). `more` only while every byte seen could still start
 * the HTTP/2 preface or an HTTP/1.0 / HTTP/1.1 request line, and fewer than `maxBytes` were seen.
 *
 * @example
 * sniffHttp(Buffer.from('GET / HT'))                 // 'more'
 * sniffHttp(Buffer.from('GET / HTTP/1.1\r\n'))       // 'http/1.1'
 * sniffHttp(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM')) // 'more' (a prefix of the preface)
 * sniffHttp(Buffer.from('\x16\x03\x01'))             // 'other' (a TLS record)
 */
export function sniffHttp(bytes: Uint8Array, opts: SniffOptions = {}): SniffResult {
  const n = bytes.length;
  if (n === 0) return 'more';
  // The preface first: `PRI` is no HTTP/1 method, so a divergence from it is not HTTP at all.
  if (bytes[0] === 0x50 /* P */) {
    const k = Math.min(n, H2_PREFACE.length);
    for (let i = 0; i < k; i++) if (bytes[i] !== H2_PREFACE[i]) return http1(bytes, opts);
    return n >= H2_PREFACE.length ? 'h2c' : 'more';
  }
  return http1(bytes, opts);
}

function http1(bytes: Uint8Array, opts: SniffOptions): SniffResult {
  const n = bytes.length;
  const max = opts.maxBytes ?? DEFAULT_MAX_SNIFF_BYTES;
  // method: a known token, then exactly one SP
  let i = 0;
  let method = '';
  for (; i < n && bytes[i] !== SP; i++) {
    const c = bytes[i]!;
    if (!((c >= 0x41 && c <= 0x5a) || c === 0x2d)) return 'other'; // A-Z and '-'
    method += String.fromCharCode(c);
    if (method.length > MAX_METHOD || !METHOD_PREFIXES.has(method)) return 'other';
  }
  if (i === n) return undecided(n, max);
  if (!METHODS.has(method)) return 'other';
  i++;
  // request-target: visible ASCII, at least one character, ended by SP
  const targetStart = i;
  for (; i < n && bytes[i] !== SP; i++) {
    const c = bytes[i]!;
    if (c <= 0x20 || c >= 0x7f) return 'other';
  }
  if (i === n) return undecided(n, max);
  if (i === targetStart) return 'other';
  i++;
  // HTTP-version: `HTTP/1.0` or `HTTP/1.1`, then CRLF
  for (let k = 0; k < VERSION_PREFIX.length; k++, i++) {
    if (i === n) return undecided(n, max);
    if (bytes[i] !== VERSION_PREFIX.charCodeAt(k)) return 'other';
  }
  if (i === n) return undecided(n, max);
  const minor = bytes[i++];
  if (minor !== 0x30 && minor !== 0x31) return 'other';
  if (i === n) return undecided(n, max);
  if (bytes[i++] !== CR) return 'other';
  if (i === n) return undecided(n, max);
  if (bytes[i] !== LF) return 'other';
  return minor === 0x31 ? 'http/1.1' : 'http/1.0';
}

function undecided(n: number, max: number): SniffResult {
  return n >= max ? 'other' : 'more';
}
