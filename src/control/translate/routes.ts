// VirtualService HTTP routes → envoy.config.route.v3 Routes and VirtualHosts, with Istio's
// semantics (istio.io/latest/docs/reference/config/networking/virtual-service/): matches are ORed
// (one Envoy route each), weights, subsets, retries (Istio's default policy when none is given),
// rewrites, redirects, mirrors, header operations, fault and CORS as per-filter configs.

import type { ServiceDef } from '../model.js';
import type { Destination, Headers, HTTPMatchRequest, HTTPRoute, Percent, PresenceMatch, StringMatch } from '../api/types.js';
import { clusterName, effectivePolicy, ms, type Flavor } from './clusters.js';
import { labelsMatch, type MeshIndex, type VS } from './mesh-index.js';

export const FAULT_FILTER = 'envoy.filters.http.fault';
export const CORS_FILTER = 'envoy.filters.http.cors';
const FAULT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
const CORS_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';

/** Istio's retry policy when a route has no `retries`. */
export const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';

/** Who is asking: decides sourceLabels / sourceNamespace / gateways matches. */
export interface RouteContext {
  readonly index: MeshIndex;
  readonly proxyNs: string;
  readonly labels: Readonly<Record<string, string>>;
  /** `mesh` for sidecars and gRPC clients, `ns/name` of the Gateway for gateways. */
  readonly gateway: string;
  /** The port the virtual host serves (for `match.port` and port-less destinations). */
  readonly port: number;
  readonly flavor: Flavor;
  /** Whether the virtual host is served over TLS (a redirect's default scheme). */
  readonly tls?: boolean;
}

/** What a route list needs from its listener. */
export interface RouteUse {
  fault: boolean;
  cors: boolean;
  /** Cluster names the routes reach (gRPC clients get exactly these). */
  readonly clusters: Set<string>;
}

export function newUse(): RouteUse {
  return { fault: false, cors: false, clusters: new Set() };
}

function stringMatcher(m: StringMatch): object {
  if ('exact' in m) return { exact: m.exact };
  if ('prefix' in m) return { prefix: m.prefix };
  return { safe_regex: { regex: m.regex } };
}

const isPresence = (m: StringMatch | PresenceMatch): m is PresenceMatch => !('exact' in m) && !('prefix' in m) && !('regex' in m);

function headerMatcher(name: string, m: StringMatch | PresenceMatch, invert: boolean): object {
  const what = isPresence(m) ? { present_match: true } : { string_match: stringMatcher(m) };
  return { name, ...what, ...(invert ? { invert_match: true } : {}) };
}

function routeMatch(m: HTTPMatchRequest | undefined): object {
  const out: Record<string, unknown> = {};
  const uri = m?.uri;
  if (uri === undefined) out.prefix = '/';
  else if ('exact' in uri) out.path = uri.exact;
  else if ('prefix' in uri) out.prefix = uri.prefix;
  else out.safe_regex = { regex: uri.regex };
  if (m?.ignoreUriCase === true) out.case_sensitive = false;
  const headers: object[] = [];
  if (m?.method !== undefined) headers.push(headerMatcher(':method', m.method, false));
  if (m?.authority !== undefined) headers.push(headerMatcher(':authority', m.authority, false));
  if (m?.scheme !== undefined) headers.push(headerMatcher(':scheme', m.scheme, false));
  for (const [k, v] of Object.entries(m?.headers ?? {})) headers.push(headerMatcher(k, v, false));
  for (const [k, v] of Object.entries(m?.withoutHeaders ?? {})) headers.push(headerMatcher(k, v, true));
  if (headers.length > 0) out.headers = headers;
  const qp = Object.entries(m?.queryParams ?? {}).map(([name, v]) => (isPresence(v) ? { name, present_match: true } : { name, string_match: stringMatcher(v) }));
  if (qp.length > 0) out.query_parameters = qp;
  return out;
}

/** Whether a match applies to this proxy/gateway and port. */
function matchApplies(m: HTTPMatchRequest, vs: VS, ctx: RouteContext): boolean {
  if (m.port !== undefined && m.port !== ctx.port) return false;
  if (m.sourceLabels !== undefined && (ctx.gateway !== 'mesh' || !labelsMatch(m.sourceLabels, ctx.labels))) return false;
  if (m.sourceNamespace !== undefined && m.sourceNamespace !== ctx.proxyNs) return false;
  if (m.gateways !== undefined && m.gateways.length > 0) {
    if (!m.gateways.some((g) => ctx.index.gatewayRef(g, vs.metadata.namespace) === ctx.gateway)) return false;
  }
  return true;
}

/** Fraction of a million, Envoy's FractionalPercent for a 0..100 Istio percent. */
function fraction(p: Percent | undefined, dflt = 100): object {
  return { numerator: Math.round((p?.value ?? dflt) * 10_000), denominator: 'MILLION' };
}

/** Header operations of one or more Headers (the route's, then a lone destination's, as Istio appends them). */
function headerOps(...hs: (Headers | undefined)[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const dir of ['request', 'response'] as const) {
    const add: object[] = [];
    const remove: string[] = [];
    for (const h of hs) {
      const ops = h?.[dir];
      if (ops === undefined) continue;
      for (const [key, value] of Object.entries(ops.set ?? {})) add.push({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });
      for (const [key, value] of Object.entries(ops.add ?? {})) add.push({ header: { key, value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' });
      remove.push(...(ops.remove ?? []));
    }
    if (add.length > 0) out[`${dir}_headers_to_add`] = add;
    if (remove.length > 0) out[`${dir}_headers_to_remove`] = remove;
  }
  return out;
}

/** The cluster a destination names (the service's only port, else the virtual host's port, when none given). */
export function destinationCluster(d: Destination, ns: string, ctx: Pick<RouteContext, 'index' | 'port'>): string {
  const host = ctx.index.resolveHost(d.host, ns);
  const svc: ServiceDef | undefined = ctx.index.service(host);
  const port = d.port?.number ?? (svc !== undefined && svc.ports.length === 1 ? svc.ports[0]!.port : ctx.port);
  return clusterName('outbound', port, d.subset ?? '', host);
}

function retryPolicy(r: HTTPRoute): object | undefined {
  if (r.retries === undefined) {
    return { retry_on: DEFAULT_RETRY_ON, num_retries: 2, retriable_status_codes: [503] };
  }
  if (r.retries.attempts === 0) return undefined;
  const tokens = (r.retries.retryOn ?? DEFAULT_RETRY_ON).split(',').map((t) => t.trim()).filter((t) => t !== '');
  const codes = tokens.filter((t) => /^\d+$/.test(t)).map(Number);
  const on = tokens.filter((t) => !/^\d+$/.test(t));
  if (codes.length > 0 && !on.includes('retriable-status-codes')) on.push('retriable-status-codes');
  const out: Record<string, unknown> = { retry_on: on.join(','), num_retries: r.retries.attempts };
  if (r.retries.perTryTimeout !== undefined) out.per_try_timeout = ms(r.retries.perTryTimeout.ms);
  if (r.retries.backoff !== undefined) out.retry_back_off = { base_interval: ms(r.retries.backoff.ms) };
  if (codes.length > 0) out.retriable_status_codes = codes;
  else if (r.retries.retryOn === undefined) out.retriable_status_codes = [503];
  return out;
}

/** hash_policy for a consistentHash DestinationRule on the route's (first) destination. */
function hashPolicy(cluster: string, ctx: RouteContext): object[] | undefined {
  const parts = cluster.split('|');
  const host = parts[3]!;
  const dr = ctx.index.destinationRule(ctx.proxyNs, host);
  const ch = effectivePolicy(dr, Number(parts[1]), parts[2]!).loadBalancer?.consistentHash;
  if (ch === undefined) return undefined;
  if (ch.httpHeaderName !== undefined) return [{ header: { header_name: ch.httpHeaderName } }];
  if (ch.httpCookie !== undefined) {
    return [{ cookie: { name: ch.httpCookie.name, ...(ch.httpCookie.ttl !== undefined ? { ttl: ms(ch.httpCookie.ttl.ms) } : {}), ...(ch.httpCookie.path !== undefined ? { path: ch.httpCookie.path } : {}) } }];
  }
  if (ch.useSourceIp === true) return [{ connection_properties: { source_ip: true } }];
  return undefined;
}

/** The route action, and the lone destination's headers (they go on the route, as Istio puts them). */
function routeAction(r: HTTPRoute, vs: VS, ctx: RouteContext, use: RouteUse): { action: object; destHeaders: Headers | undefined } {
  const ns = vs.metadata.namespace;
  const a: Record<string, unknown> = {};
  const dests = r.route.map((d) => ({ d, cluster: destinationCluster(d.destination, ns, ctx) }));
  // Istio: a lone destination takes all traffic; otherwise a missing weight is 0 and 0-weight
  // destinations are dropped; if every weight is 0, traffic is split evenly.
  let weighted = dests.length === 1 ? [{ ...dests[0]!, weight: 100 }] : dests.map((x) => ({ ...x, weight: x.d.weight ?? 0 })).filter((x) => x.weight > 0);
  if (weighted.length === 0) weighted = dests.map((x) => ({ ...x, weight: 1 }));
  for (const w of weighted) use.clusters.add(w.cluster);
  let destHeaders: Headers | undefined;
  if (weighted.length === 1) {
    a.cluster = weighted[0]!.cluster;
    destHeaders = weighted[0]!.d.headers;
  } else {
    a.weighted_clusters = {
      clusters: weighted.map((w) => ({ name: w.cluster, weight: w.weight, ...headerOps(w.d.headers) })),
    };
  }
  // An exact-path match rewritten by prefix replaces the whole path, as a path rewrite would.
  if (r.rewrite?.uri !== undefined) {
    a.prefix_rewrite = r.rewrite.uri;
  } else if (r.rewrite?.uriRegexRewrite !== undefined) {
    a.regex_rewrite = { pattern: { regex: r.rewrite.uriRegexRewrite.match }, substitution: r.rewrite.uriRegexRewrite.rewrite };
  }
  if (r.rewrite?.authority !== undefined) a.host_rewrite_literal = r.rewrite.authority;
  a.timeout = r.timeout !== undefined ? ms(r.timeout.ms) : '0s';
  const retry = retryPolicy(r);
  if (retry !== undefined) a.retry_policy = retry;
  const mirrors: object[] = [];
  if (r.mirror !== undefined) {
    const c = destinationCluster(r.mirror, ns, ctx);
    use.clusters.add(c);
    mirrors.push({ cluster: c, runtime_fraction: { default_value: fraction(r.mirrorPercentage) } });
  }
  for (const m of r.mirrors ?? []) {
    const c = destinationCluster(m.destination, ns, ctx);
    use.clusters.add(c);
    mirrors.push({ cluster: c, runtime_fraction: { default_value: fraction(m.percentage) } });
  }
  if (mirrors.length > 0) a.request_mirror_policies = mirrors;
  const hash = hashPolicy(weighted[0]!.cluster, ctx);
  if (hash !== undefined) a.hash_policy = hash;
  return { action: a, destHeaders };
}

const REDIRECT_CODES: Record<number, string> = {
  301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT',
};

function perFilter(r: HTTPRoute, use: RouteUse, flavor: Flavor): Record<string, object> | undefined {
  if (flavor === 'grpc') return undefined; // gRPC clients reject per-route configs of filters they lack
  const out: Record<string, object> = {};
  if (r.fault !== undefined) {
    const f: Record<string, unknown> = { '@type': FAULT_TYPE };
    if (r.fault.delay !== undefined) f.delay = { fixed_delay: ms(r.fault.delay.fixedDelay.ms), percentage: fraction(r.fault.delay.percentage) };
    if (r.fault.abort !== undefined) {
      const ab = r.fault.abort;
      f.abort = { ...(ab.grpcStatus !== undefined ? { grpc_status: grpcCode(ab.grpcStatus) } : { http_status: ab.httpStatus ?? 503 }), percentage: fraction(ab.percentage) };
    }
    out[FAULT_FILTER] = f;
    use.fault = true;
  }
  if (r.corsPolicy !== undefined) {
    const c = r.corsPolicy;
    const p: Record<string, unknown> = { '@type': CORS_TYPE };
    if (c.allowOrigins !== undefined) p.allow_origin_string_match = c.allowOrigins.map(stringMatcher);
    if (c.allowMethods !== undefined) p.allow_methods = c.allowMethods.join(',');
    if (c.allowHeaders !== undefined) p.allow_headers = c.allowHeaders.join(',');
    if (c.exposeHeaders !== undefined) p.expose_headers = c.exposeHeaders.join(',');
    if (c.maxAge !== undefined) p.max_age = String(Math.floor(c.maxAge.ms / 1000));
    if (c.allowCredentials !== undefined) p.allow_credentials = c.allowCredentials;
    out[CORS_FILTER] = p;
    use.cors = true;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

const GRPC_CODES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE',
  'DATA_LOSS', 'UNAUTHENTICATED',
];

function grpcCode(s: string): number {
  const i = GRPC_CODES.indexOf(s.toUpperCase());
  return i >= 0 ? i : /^\d+$/.test(s) ? Number(s) : 2;
}

/** The Envoy routes of one VirtualService for one virtual host, in order. */
export function vsRoutes(vs: VS, ctx: RouteContext, use: RouteUse): object[] {
  const out: object[] = [];
  for (const r of vs.spec.http) {
    const matches: (HTTPMatchRequest | undefined)[] = r.match.length === 0 ? [undefined] : r.match.filter((m) => matchApplies(m, vs, ctx));
    for (const m of matches) {
      const action: Record<string, unknown> = {};
      if (r.redirect !== undefined) {
        if (ctx.flavor === 'grpc') continue; // gRPC clients take only route actions
        const rd = r.redirect;
        const red: Record<string, unknown> = {};
        if (rd.uri !== undefined) red.path_redirect = rd.uri;
        if (rd.prefixRewrite !== undefined) red.prefix_rewrite = rd.prefixRewrite;
        if (rd.authority !== undefined) red.host_redirect = rd.authority;
        // FROM_REQUEST_PORT: routes are built per port, so the request's port is the virtual host's
        // (as Istio does); FROM_PROTOCOL_DEFAULT is Envoy's behaviour without a port.
        const port = rd.port ?? (rd.derivePort === 'FROM_REQUEST_PORT' ? ctx.port : undefined);
        const scheme = rd.scheme ?? (ctx.tls ? 'https' : 'http');
        if (port !== undefined && !(port === 80 && scheme === 'http') && !(port === 443 && scheme === 'https')) red.port_redirect = port;
        if (rd.scheme !== undefined) red.scheme_redirect = rd.scheme;
        red.response_code = REDIRECT_CODES[rd.redirectCode ?? 301] ?? 'MOVED_PERMANENTLY';
        action.redirect = red;
      } else if (r.directResponse !== undefined) {
        if (ctx.flavor === 'grpc') continue;
        const body = r.directResponse.body;
        action.direct_response = {
          status: r.directResponse.status,
          ...(body === undefined ? {} : { body: 'string' in body ? { inline_string: body.string } : { inline_bytes: body.bytes } }),
        };
      }
      let destHeaders: Headers | undefined;
      if (action.redirect === undefined && action.direct_response === undefined) {
        const ra = routeAction(r, vs, ctx, use);
        action.route = ra.action;
        destHeaders = ra.destHeaders;
      }
      const name = [r.name, m?.name].filter((x) => x !== undefined && x !== '').join('.');
      const route: Record<string, unknown> = { ...(name !== '' ? { name } : {}), match: routeMatch(m), ...action, ...headerOps(r.headers, destHeaders) };
      const pf = perFilter(r, use, ctx.flavor);
      if (pf !== undefined) route.typed_per_filter_config = pf;
      out.push(route);
    }
  }
  return out;
}

/** The route when no VirtualService applies: everything to the service port's cluster. */
export function defaultRoute(cluster: string, use: RouteUse): object {
  use.clusters.add(cluster);
  return {
    name: 'default',
    match: { prefix: '/' },
    route: { cluster, timeout: '0s', retry_policy: { retry_on: DEFAULT_RETRY_ON, num_retries: 2, retriable_status_codes: [503] } },
  };
}
