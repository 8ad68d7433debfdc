// HTTP/1.1 serialization helpers for the proxy hot path: request/status lines and field blocks
// (RFC 9112 §3, §4, §5), chunk framing (§7.1) and hop-by-hop field removal (RFC 9110 §7.6.1).
//
// The builders do not validate: names and values must already be valid (the parser's output is;
// configuration and filter-set values should be checked once with isValidFieldName/Value).

/** Standard reason phrases (RFC 9110 §15 and the IANA status code registry). */
export const STATUS_REASONS: Record<number, string> = {
  100: 'Continue', 101: 'Switching Protocols', 102: 'Processing', 103: 'Early Hints',
  200: 'OK', 201: 'Created', 202: 'Accepted', 203: 'Non-Authoritative Information',
  204: 'No Content', 205: 'Reset Content', 206: 'Partial Content', 207: 'Multi-Status',
  208: 'Already Reported', 226: 'IM Used',
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Found', 303: 'See Other',
  304: 'Not Modified', 305: 'Use Proxy', 307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden',
  404: 'Not Found', 405: 'Method Not Allowed', 406: 'Not Acceptable',
  407: 'Proxy Authentication Required', 408: 'Request Timeout', 409: 'Conflict', 410: 'Gone',
  411: 'Length Required', 412: 'Precondition Failed', 413: 'Content Too Large',
  414: 'URI Too Long', 415: 'Unsupported Media Type', 416: 'Range Not Satisfiable',
  417: 'Expectation Failed', 418: "I'm a teapot", 421: 'Misdirected Request',
  422: 'Unprocessable Content', 423: 'Locked', 424: 'Failed Dependency', 425: 'Too Early',
  426: 'Upgrade Required', 428: 'Precondition Required', 429: 'Too Many Requests',
  431: 'Request Header Fields Too Large', 451: 'Unavailable For Legal Reasons',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout', 505: 'HTTP Version Not Supported',
  506: 'Variant Also Negotiates', 507: 'Insufficient Storage', 508: 'Loop Detected',
  510: 'Not Extended', 511: 'Network Authentication Required',
};

/** Pre-built "HTTP/1.1 <code> <reason>\r\n" lines for the standard codes. */
const STATUS_LINE_11 = new Map<number, string>();
const STATUS_LINE_10 = new Map<number, string>();
for (const [code, reason] of Object.entries(STATUS_REASONS)) {
  STATUS_LINE_11.set(Number(code), `HTTP/1.1 ${code} ${reason}\r\n`);
  STATUS_LINE_10.set(Number(code), `HTTP/1.0 ${code} ${reason}\r\n`);
}

function fieldBlock(line: string, headers: readonly string[]): string {
  let s = line;
  for (let i = 0; i < headers.length; i += 2) s += headers[i] + ': ' + headers[i + 1] + '\r\n';
  return s + '\r\n';
}

/**
 * "METHOD target HTTP/1.1\r\nname: value\r\n...\r\n\r\n" from the final, flat header list.
 * @example requestHead('GET', '/', ['host', 'a.example']) // 'GET / HTTP/1.1\r\nhost: a.example\r\n\r\n'
 */
export function requestHead(method: string, target: string, headers: readonly string[], versionMinor = 1): string {
  return fieldBlock(method + ' ' + target + (versionMinor === 0 ? ' HTTP/1.0\r\n' : ' HTTP/1.1\r\n'), headers);
}

/**
 * "HTTP/1.1 status reason\r\n" + fields + "\r\n". The reason defaults to the standard phrase
 * (empty for unknown codes; the SP before it is always written, RFC 9112 §4).
 */
export function responseHead(status: number, headers: readonly string[], versionMinor = 1, reason?: string): string {
  let line: string | undefined;
  if (reason === undefined) line = (versionMinor === 0 ? STATUS_LINE_10 : STATUS_LINE_11).get(status);
  if (line === undefined) {
    line = (versionMinor === 0 ? 'HTTP/1.0 ' : 'HTTP/1.1 ') + status + ' ' + (reason ?? STATUS_REASONS[status] ?? '') + '\r\n';
  }
  return fieldBlock(line, headers);
}

/** Chunk-size line: hex size + CRLF. */
export function chunkHeader(size: number): string {
  return size.toString(16) + '\r\n';
}

/** The last chunk with an empty trailer section: "0\r\n\r\n". */
export const LAST_CHUNK: Buffer = Buffer.from('0\r\n\r\n', 'latin1');

/** The last chunk followed by a trailer section: "0\r\n" + fields + "\r\n". */
export function trailersBlock(trailers: readonly string[]): string {
  return fieldBlock('0\r\n', trailers);
}

/** Fields that describe one connection and never travel past a proxy (RFC 9110 §7.6.1). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer',
  'upgrade', 'proxy-authenticate', 'proxy-authorization',
]);

/** Lengths of the HOP_BY_HOP names, to skip the set lookup for most fields. */
const HOP_LENGTHS = new Uint8Array(32);
for (const n of HOP_BY_HOP) HOP_LENGTHS[n.length] = 1;

/**
 * Copy of a flat, lower-cased header list without hop-by-hop fields and without the fields
 * named by Connection tokens. With keepUpgrade (forwarding an upgrade request or a 101), the
 * Upgrade fields are kept and the Connection fields become one `connection: upgrade`.
 * Call it before the proxy adds its own fields: a client can name any field in Connection
 * (except content-length and host, which are always kept).
 */
export function stripHopByHop(headers: readonly string[], keepUpgrade: boolean): string[] {
  let named: string[] | null = null;
  let hop = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length < 32 && HOP_LENGTHS[name.length] === 1 && HOP_BY_HOP.has(name)) {
      hop = true;
      if (name === 'connection') named = connectionTokens(headers[i + 1]!, named);
    }
  }
  if (!hop) return headers.slice();
  const out: string[] = [];
  let connectionDone = false;
  let upgradeKept = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length < 32 && HOP_LENGTHS[name.length] === 1 && HOP_BY_HOP.has(name)) {
      if (keepUpgrade) {
        if (name === 'upgrade') {
          upgradeKept = true;
          out.push(name, headers[i + 1]!);
        }
        else if (name === 'connection' && !connectionDone) {
          connectionDone = true;
          out.push('connection', 'upgrade');
        }
      }
      continue;
    }
    if (named !== null && named.includes(name)) continue;
    out.push(name, headers[i + 1]!);
  }
  if (upgradeKept && !connectionDone) out.push('connection', 'upgrade');
  return out;
}

/**
 * Fields a Connection option never removes: the proxy frames and routes the forwarded message
 * with them, so dropping them would desynchronise the next hop (a client sending
 * `Connection: content-length` must not turn its body into a second request).
 */
const NEVER_NOMINATED: ReadonlySet<string> = new Set(['content-length', 'host']);

/** Lower-cased field names a Connection value nominates, appended to `into`. */
function connectionTokens(v: string, into: string[] | null): string[] | null {
  // the usual values name no field
  if (v === 'keep-alive' || v === 'close' || v === 'Keep-Alive' || v === 'Close' || v === 'upgrade' || v === 'Upgrade') return into;
  let out = into;
  for (const part of v.split(',')) {
    const t = part.trim().toLowerCase();
    if (t !== '' && t !== 'close' && t !== 'keep-alive' && t !== 'upgrade' && !NEVER_NOMINATED.has(t)) (out ??= []).push(t);
  }
  return out;
}

const TCHAR = new Uint8Array(256);
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;
for (const ch of "!#$%&'*+-.^_`|~") TCHAR[ch.charCodeAt(0)] = 1;

/** field-name = token (RFC 9110 §5.1). */
export function isValidFieldName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 255 || TCHAR[c] !== 1) return false;
  }
  return true;
}

/** field-value without CR, LF, NUL or other CTLs (HTAB allowed), latin1 range, no edge whitespace (RFC 9110 §5.5). */
export function isValidFieldValue(value: string): boolean {
  const n = value.length;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127 || c > 255) return false;
  }
  return n === 0 || (value.charCodeAt(0) !== 32 && value.charCodeAt(0) !== 9 && value.charCodeAt(n - 1) !== 32 && value.charCodeAt(n - 1) !== 9);
}
