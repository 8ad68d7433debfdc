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
