// Header conversion for downstream HTTP/2 streams (RFC 9113 §8.2, §8.3): an HTTP/2 request's
// field list becomes the MessageHead the HTTP/1.1 parser produces (:authority → Host, cookies
// joined per §8.2.3, connection-specific fields dropped per §8.2.2), with the request checks Envoy
// makes on HTTP/2: max_headers_count (codec stat http2.header_overflow, stream reset),
// headers_with_underscores_action (http2.requests_rejected_with_underscores_in_headers, stream
// reset / http2.dropped_headers_with_underscores), and :path validation (a fragment or bytes
// above 0x7e are answered 400, as Envoy's http_reject_path_with_fragment and its header
// validation do; control characters and spaces make the request malformed: stream reset).
// Response fields go the other way as the flat lists the session sends.

import { randomBytes } from 'node:crypto';
import type { MessageHead } from '../codec/http1/parser.js';

/**
 * Connection-specific fields (RFC 9113 §8.2.2) and HTTP/1 framing: never sent on an HTTP/2
 * stream (RFC 9113 §8.2.2: the peer would see a malformed message), never taken from one.
 */
export function isConnectionSpecific(name: string): boolean {
  switch (name) {
    case 'connection': case 'keep-alive': case 'proxy-connection': case 'transfer-encoding':
    case 'upgrade': case 'http2-settings':
      return true;
    default:
      return false;
  }
}

/** `:status` values as strings, made once per code. */
const STATUS_TEXT: string[] = [];

function statusText(status: number): string {
  if (status >= 0 && status < 1000) return STATUS_TEXT[status] ??= String(status);
  return String(status);
}

/**
 * A response head as the session sends it: `:status`, the fields without connection-specific
 * ones (RFC 9113 §8.2.2), `te`, pseudo-headers or `skip`, then `content-length` when
 * `contentLength` ≥ 0 (the codec's own framing, as the HTTP/1.1 codec adds it).
 */
export function responseFields(status: number, fields: readonly string[], contentLength: number, skip: string | null): string[] {
  const out: string[] = [':status', statusText(status)];
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (isConnectionSpecific(name) || name === 'te' || name === skip || name === 'content-length' || name.charCodeAt(0) === 58 /* : */) continue;
    out.push(name, fields[i + 1]!);
  }
  if (contentLength >= 0) out.push('content-length', String(contentLength));
  return out;
}

/** Trailer fields for the session: no pseudo-headers, nothing connection-specific. */
export function trailerFields(fields: readonly string[]): string[] {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (isConnectionSpecific(name) || name === 'te' || name.charCodeAt(0) === 58) {
      const out: string[] = [];
      for (let j = 0; j < fields.length; j += 2) {
        const n = fields[j]!;
        if (!(isConnectionSpecific(n) || n === 'te' || n.charCodeAt(0) === 58)) out.push(n, fields[j + 1]!);
      }
      return out;
    }
  }
  return fields as string[];
}

/** What the connection manager's request checks need (from hcm.config, resolved once). */
export interface RequestLimits {
  /** common_http_protocol_options.max_headers_count: fields (pseudo-headers included, as Envoy counts). */
  readonly maxHeadersCount: number;
  readonly underscores: 'ALLOW' | 'REJECT_REQUEST' | 'DROP_HEADER';
}

/** Why a request was not turned into a MessageHead. */
export type RequestRejection =
  /** Malformed (RFC 9113 §8.1.1; a control character or space in :path): RST_STREAM(PROTOCOL_ERROR), http2.rx_messaging_error. */
  | 'malformed'
  /** More fields than max_headers_count: stream reset, http2.header_overflow. */
  | 'too_many_headers'
  /** A field name with '_' under REJECT_REQUEST: stream reset, http2.requests_rejected_with_underscores_in_headers. */
  | 'underscore'
  /** :path with a fragment or a byte above 0x7e: 400. */
  | 'invalid_path';

export interface ParsedRequest {
  readonly head: MessageHead | null;
  readonly rejected: RequestRejection | null;
  /** Fields dropped for DROP_HEADER (counted as http2.dropped_headers_with_underscores). */
  readonly dropped: number;
}

const MALFORMED: ParsedRequest = Object.freeze({ head: null, rejected: 'malformed', dropped: 0 });
const TOO_MANY: ParsedRequest = Object.freeze({ head: null, rejected: 'too_many_headers', dropped: 0 });
const UNDERSCORE: ParsedRequest = Object.freeze({ head: null, rejected: 'underscore', dropped: 0 });

/** What checkPath says about a :path. */
export const enum PathCheck {
  Ok = 0,
  /** A fragment or a byte above 0x7e: answered 400 (Envoy). */
  Invalid = 1,
  /** A control character, a space or DEL: the stream is malformed (RST_STREAM PROTOCOL_ERROR, as nghttp2 under Envoy). */
  Malformed = 2,
}

/** Whether a :path may be forwarded (values are latin1, one char per byte). */
export function checkPath(path: string): PathCheck {
  let r = PathCheck.Ok;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return PathCheck.Malformed;
    if (c > 0x7f || c === 35 /* # */) r = PathCheck.Invalid;
  }
  return r;
}

/**
 * An HTTP/2 request's fields as the HTTP/1.1 parser would have produced them, or why it cannot
 * be forwarded (RFC 9113 §8.3: missing pseudo-headers, a bad content-length; Envoy's limits).
 */
export function toMessageHead(raw: readonly string[], endStream: boolean, limits: RequestLimits): ParsedRequest {
  if (raw.length > limits.maxHeadersCount * 2) return TOO_MANY;
  let method = '', path = '', authority: string | null = null, protocol: string | null = null;
  let host: string | null = null;
  let cookies: string | null = null;
  let contentLength = -1;
  let expectContinue = false;
  let headBytes = 0;
  let dropped = 0;
  const underscores = limits.underscores;
  const headers: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    headBytes += name.length + value.length + 4;
    if (name.charCodeAt(0) === 58 /* : */) {
      switch (name) {
        case ':method': method = value; break;
        case ':path': path = value; break;
        case ':authority': authority = value; break;
        case ':protocol': protocol = value.toLowerCase(); break;
        default: break; // :scheme (the proxy sets x-forwarded-proto from the connection)
      }
      continue;
    }
    if (underscores !== 'ALLOW' && name.includes('_')) {
      if (underscores === 'REJECT_REQUEST') return UNDERSCORE;
      dropped++;
      continue;
    }
    if (isConnectionSpecific(name)) continue;
    switch (name) {
      case 'host': host = value; continue;
      case 'cookie': cookies = cookies === null ? value : cookies + '; ' + value; continue;
      case 'content-length': {
        if (!/^\d+$/.test(value)) return MALFORMED;
        const n = Number(value);
        if (contentLength >= 0 && n !== contentLength) return MALFORMED;
        if (contentLength >= 0) continue;
        contentLength = n;
        break;
      }
      case 'expect':
        if (value.toLowerCase() === '100-continue') expectContinue = true;
        break;
    }
    headers.push(name, value);
  }
  let upgrade: string | null = null;
  if (method === 'CONNECT' && protocol !== null) {
    // Extended CONNECT (RFC 8441 §4, §5): an HTTP/1.1 upgrade request towards the upstream.
    upgrade = protocol;
    method = 'GET';
    headers.push('upgrade', protocol);
    if (protocol === 'websocket' && !headers.includes('sec-websocket-key')) {
      headers.push('sec-websocket-key', randomBytes(16).toString('base64'));
    }
    endStream = true; // no request body: the stream's bytes are the tunnel's
  } else if (method === 'CONNECT') {
    path = authority ?? '';
  } else if (method === '' || path === '') {
    return MALFORMED;
  }
  const pathCheck = method === 'CONNECT' ? PathCheck.Ok : checkPath(path);
  if (pathCheck === PathCheck.Malformed) return MALFORMED;
  const hostValue = authority ?? host;
  if (hostValue !== null) headers.unshift('host', hostValue);
  if (cookies !== null) headers.push('cookie', cookies);
  const head: MessageHead = {
    method,
    url: path,
    statusCode: 0,
    reason: '',
    versionMinor: 1,
    headers,
    contentLength,
    chunked: !endStream && contentLength < 0,
    keepAlive: true,
    upgrade,
    expectContinue,
    headBytes,
  };
  const rejected = pathCheck === PathCheck.Invalid ? 'invalid_path' : null;
  return { head, rejected, dropped };
}
