// Header section validation of Weft's HTTP/2 codec: the rules that make a request, a response or
// trailers malformed (RFC 9113 §8.1.1, §8.2 field names and values, §8.2.2 connection-specific
// fields, §8.3 pseudo-headers, §8.6 no 101, RFC 8441 §4 :protocol). A malformed message is a
// stream error of type PROTOCOL_ERROR; the session resets the stream. Each function walks the
// flat [name, value, ...] list once and returns null when it is well-formed, else a short reason.

/** What validation learns about a message, written into the stream (no allocation). */
export interface MessageInfo {
  /** content-length, or -1 when absent. */
  contentLength: number;
  /** :status of a response (0 for requests). */
  status: number;
  /** The request's :method is HEAD (its response carries no body). */
  head: boolean;
}

// Field values: no NUL, CR or LF, no leading or trailing SP / HTAB (§8.2.1).
const BAD_VALUE = /[\0\r\n]|^[ \t]|[ \t]$/;
const DIGITS = /^[0-9]+$/;

/** §8.2.1: a name is non-empty, has no upper case, no control characters, no SP, no DEL or octets above 0x7e, no ':' (pseudo-headers are checked apart). */
function badName(name: string): boolean {
  const n = name.length;
  if (n === 0) return true;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || (c >= 0x41 && c <= 0x5a) || c === 0x3a) return true;
  }
  return false;
}

/** Checks a regular (non-pseudo) field shared by requests, responses and trailers; updates info.contentLength. */
function badRegular(name: string, value: string, info: MessageInfo | null): string | null {
  if (badName(name)) return 'invalid field name';
  if (BAD_VALUE.test(value)) return 'invalid field value';
  switch (name) {
    case 'connection': case 'keep-alive': case 'proxy-connection': case 'transfer-encoding': case 'upgrade':
      return 'connection-specific field ' + name;
    case 'te':
      return value === 'trailers' ? null : 'te other than trailers';
    case 'content-length': {
      if (info === null) return null;
      if (!DIGITS.test(value)) return 'invalid content-length';
      const n = Number(value);
      if (info.contentLength !== -1 && info.contentLength !== n) return 'conflicting content-length';
      info.contentLength = n;
      return null;
    }
    default:
      return null;
  }
}

/** A request head (server side). `connectProtocol`: we advertised SETTINGS_ENABLE_CONNECT_PROTOCOL. */
export function checkRequest(h: readonly string[], connectProtocol: boolean, info: MessageInfo): string | null {
  let method: string | undefined, scheme: string | undefined, path: string | undefined;
  let authority: string | undefined, protocol: string | undefined;
  let regular = false;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!, value = h[i + 1]!;
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return 'pseudo-header after a regular field';
      if (BAD_VALUE.test(value)) return 'invalid pseudo-header value';
      switch (name) {
        case ':method': if (method !== undefined) return 'duplicate :method'; method = value; break;
        case ':scheme': if (scheme !== undefined) return 'duplicate :scheme'; scheme = value; break;
        case ':path': if (path !== undefined) return 'duplicate :path'; path = value; break;
        case ':authority': if (authority !== undefined) return 'duplicate :authority'; authority = value; break;
        case ':protocol':
          if (!connectProtocol) return ':protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL';
          if (protocol !== undefined) return 'duplicate :protocol';
          protocol = value; break;
        default: return 'unknown pseudo-header ' + name;
      }
    } else {
      regular = true;
      const bad = badRegular(name, value, info);
      if (bad !== null) return bad;
    }
  }
  if (method === undefined || method.length === 0) return 'missing :method';
  if (method === 'CONNECT') {
    if (protocol === undefined) {
      // §8.5: only :method and :authority.
      if (authority === undefined || authority.length === 0) return 'CONNECT without :authority';
      if (scheme !== undefined || path !== undefined) return 'CONNECT with :scheme or :path';
      return null;
    }
  } else if (protocol !== undefined) {
    return ':protocol on a method other than CONNECT';
  }
  if (scheme === undefined || scheme.length === 0) return 'missing :scheme';
  if (path === undefined || path.length === 0) return 'missing :path';
  info.head = method === 'HEAD';
  return null;
}

/** A response head (client side): :status only, three digits, not 101 (§8.6). 1xx heads are informational. */
export function checkResponse(h: readonly string[], info: MessageInfo): string | null {
  let status = -1;
  let regular = false;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!, value = h[i + 1]!;
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return 'pseudo-header after a regular field';
      if (name !== ':status') return 'unknown pseudo-header ' + name;
      if (status !== -1) return 'duplicate :status';
      if (value.length !== 3 || !DIGITS.test(value)) return 'invalid :status';
      status = Number(value);
    } else {
      regular = true;
      const bad = badRegular(name, value, info);
      if (bad !== null) return bad;
    }
  }
  if (status === -1) return 'missing :status';
  if (status < 100 || status === 101) return 'invalid :status ' + status;
  info.status = status;
  return null;
}

/** Trailers: no pseudo-headers (§8.1). */
export function checkTrailers(h: readonly string[]): string | null {
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (name.charCodeAt(0) === 0x3a) return 'pseudo-header in trailers';
    const bad = badRegular(name, h[i + 1]!, null);
    if (bad !== null) return bad;
  }
  return null;
}
