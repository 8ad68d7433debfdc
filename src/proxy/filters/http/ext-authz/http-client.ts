// The ext_authz HTTP transport (Envoy's ext_authz_http_impl): the check is the client's request
// replayed to the authorization cluster — same method, path_prefix + path, the allowed headers
// (by default only Host, :method, :path, Authorization; more with allowed_headers), headers_to_add,
// the buffered body with its Content-Length (0 without one). The reply: 200 → allowed, with the
// allowed_upstream_headers set on the request (allowed_upstream_headers_to_append appended,
// x-envoy-auth-headers-to-remove removed) and allowed_client_headers_on_success added to the
// response; 5xx → error; anything else → denied with its status, body and the allowed client
// headers (all but Host by default).

import type { AsyncRequest, AsyncResponse } from '../../../http/async-client.js';
import type { ExtAuthzHttpService } from './config.js';
import {
  ERROR_RESULT, HeaderNameMatcher, exact, mutable, result, type AuthzResult, type CheckAttributes, type HeaderOp,
} from './check.js';

/** Request headers every HTTP check carries (Envoy's defaults), besides allowed_headers. */
export const HTTP_DEFAULT_REQUEST_HEADERS = ['authorization', ':method', ':path', ':authority'];

/** Fields of the authorization server's reply never passed on (framing, hop-by-hop, the proxy's own). */
const NOT_FORWARDED = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'proxy-connection', 'te', 'trailer', 'date', 'server']);

const HEADERS_TO_REMOVE = 'x-envoy-auth-headers-to-remove';

/** The reply matchers, compiled once per filter config. */
export class HttpServiceMatchers {
  readonly upstream: HeaderNameMatcher;
  readonly upstreamAppend: HeaderNameMatcher;
  readonly client: HeaderNameMatcher;
  readonly clientOnSuccess: HeaderNameMatcher;
  constructor(svc: ExtAuthzHttpService) {
    this.upstream = new HeaderNameMatcher(svc.allowedUpstreamHeaders);
    this.upstreamAppend = new HeaderNameMatcher(svc.allowedUpstreamHeadersToAppend);
    this.client = svc.allowedClientHeaders === null
      ? new HeaderNameMatcher([exact('host')], true)
      : new HeaderNameMatcher([...svc.allowedClientHeaders, ...['content-length', 'www-authenticate', 'location'].map(exact)]);
    this.clientOnSuccess = new HeaderNameMatcher(svc.allowedClientHeadersOnSuccess);
  }
}

/** The async request of one HTTP check (the attributes' headers are already filtered). */
export function httpCheckRequest(svc: ExtAuthzHttpService, a: CheckAttributes): AsyncRequest {
  const headers: string[] = [];
  let method = a.method;
  let path = a.path;
  let authority = a.host;
  for (const [name, value] of a.headers) {
    switch (name) {
      case ':method': method = value; break;
      case ':path': path = svc.pathPrefix + value; break;
      case ':authority': authority = value; break;
      case ':scheme': case 'content-length': case 'transfer-encoding': case 'connection': case 'keep-alive': case 'te': case 'upgrade': break;
      default: if (name.charCodeAt(0) !== 58) headers.push(name, value);
    }
  }
  if (!a.headers.has(':path')) path = svc.pathPrefix + a.path;
  for (const h of svc.headersToAdd) {
    if (h.key === ':authority' || h.key === 'host') { authority = h.value; continue; }
    if (h.key === ':path') { path = h.value; continue; }
    if (h.key === ':method') { method = h.value; continue; }
    for (let i = headers.length - 2; i >= 0; i -= 2) if (headers[i] === h.key) headers.splice(i, 2);
    headers.push(h.key, h.value);
  }
  const body = a.body === null || a.body.length === 0 ? undefined : a.body;
  if (body === undefined) headers.push('content-length', '0');
  return { method, path, authority, headers, body, timeoutMs: svc.timeoutMs };
}

/** Reads the authorization server's reply. */
export function parseHttpCheckResponse(m: HttpServiceMatchers, res: AsyncResponse): AuthzResult {
  const status = res.status;
  if (status >= 500 && status <= 599) return ERROR_RESULT;
  const hs = res.headers;
  if (status === 200) {
    const requestOps: HeaderOp[] = [];
    const removals: HeaderOp[] = [];
    const responseOps: HeaderOp[] = [];
    for (let i = 0; i < hs.length; i += 2) {
      const name = hs[i]!;
      const value = hs[i + 1]!;
      if (name === HEADERS_TO_REMOVE) {
        for (const h of value.split(',')) {
          const key = h.trim().toLowerCase();
          if (mutable(key)) removals.push({ op: 'remove', key, value: '' });
        }
        continue;
      }
      if (NOT_FORWARDED.has(name)) continue;
      if (m.upstream.matches(name) && mutable(name)) requestOps.push({ op: 'set', key: name, value });
      if (m.upstreamAppend.matches(name) && mutable(name)) requestOps.push({ op: 'add', key: name, value });
      if (m.clientOnSuccess.matches(name)) responseOps.push({ op: 'add', key: name, value });
    }
    // Envoy's order: sets and appends, then removals.
    return result({ status: 'ok', requestOps: [...requestOps, ...removals], responseOps });
  }
  const deniedHeaders: string[] = [];
  for (let i = 0; i < hs.length; i += 2) {
    const name = hs[i]!;
    if (name === HEADERS_TO_REMOVE || NOT_FORWARDED.has(name) || !m.client.matches(name)) continue;
    deniedHeaders.push(name, hs[i + 1]!);
  }
  return result({ status: 'denied', httpStatus: status, body: res.body.toString('utf8'), deniedHeaders });
}

