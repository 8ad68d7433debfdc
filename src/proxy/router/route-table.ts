// The HTTP route table, compiled once per RouteConfiguration and used per request on the hot path:
// virtual host selection by :authority, first matching route, and the route actions (cluster
// choice, path rewrites, redirects, hash policies, retries). Implements Envoy's
// config.route.v3 (route.proto, route_components.proto) as documented in "HTTP route management".
import type {
  DirectResponseActionConfig, MaxStreamDurationConfig, RedirectActionConfig, RequestMirrorPolicyConfig, RouteActionConfig, RouteConfig,
  RouteConfiguration, UpgradeConfig, VirtualHostConfig,
} from '../config/types.js';
import type { StreamInfo } from '../stream-info.js';
import { getHeader } from '../stream-info.js';
import { hash32 } from '../lb/hash.js';
import { CompiledHeaderMutations, compileHeaderMutationsInto } from './header-mutations.js';
import { CompiledHeaderMatcher, CompiledQueryMatcher, parseQuery } from './matchers.js';
import { compileFullMatch, compileGlobal, compileSubstitution } from './regex.js';
import { CompiledRetryPolicy } from './retry-policy.js';
import { RouteConfigError } from './errors.js';

export { CompiledRetryPolicy } from './retry-policy.js';
export type { RetryOutcome } from './retry-policy.js';
export { CompiledHeaderMutations } from './header-mutations.js';
export { RouteConfigError } from './errors.js';

/** What routing looks at in a request. */
export interface RouteRequest {
  /** Host / :authority as received (may include :port). */
  readonly authority: string;
  /** Request target path including the query string. */
  readonly path: string;
  readonly method: string;
  /** Flat [name, value, ...] list, names lower-cased. */
  readonly headers: readonly string[];
}

export interface MatchedRoute {
  readonly virtualHost: CompiledVirtualHost;
  readonly route: CompiledRoute;
}

/** The upstream cluster chosen for one request, with a weighted entry's own header mutations. */
export interface SelectedCluster {
  readonly name: string;
  readonly headers: CompiledHeaderMutations | null;
}

// ───────────────────────────── per-request scratch ─────────────────────────────

/**
 * What one match() call derives from the request, computed at most once and only when a route
 * needs it. One instance per table: match() is synchronous and never re-entered. @internal
 */
export class MatchState {
  req: RouteRequest = EMPTY_REQUEST;
  /** Length of the path without query string and fragment (what path matchers compare). */
  pathEnd = 0;
  private only: string | null = null;
  private lowered: string | null = null;
  private query: ReadonlyMap<string, string> | null = null;

  reset(req: RouteRequest): void {
    this.req = req;
    this.pathEnd = pathOnlyLength(req.path);
    this.only = null;
    this.lowered = null;
    this.query = null;
  }

  /** The path without query and fragment (sliced only when a regex route needs it). */
  pathOnly(): string {
    return this.only ??= this.req.path.slice(0, this.pathEnd);
  }

  /** pathOnly lower-cased (case_sensitive: false). */
  lower(): string {
    return this.lowered ??= this.pathOnly().toLowerCase();
  }

  queryParams(): ReadonlyMap<string, string> {
    return this.query ??= parseQuery(this.req.path);
  }

  release(): void {
    this.req = EMPTY_REQUEST;
    this.only = this.lowered = null;
    this.query = null;
  }
}

const EMPTY_REQUEST: RouteRequest = Object.freeze({ authority: '', path: '', method: '', headers: [] });

/** Length of the path before its query or fragment (Envoy's PathUtil::removeQueryAndFragment). */
function pathOnlyLength(path: string): number {
  const q = path.indexOf('?');
  const h = path.indexOf('#');
  if (h >= 0 && (q < 0 || h < q)) return h;
  return q >= 0 ? q : path.length;
}

function pathWithoutQuery(path: string): string {
  const end = pathOnlyLength(path);
  return end === path.length ? path : path.slice(0, end);
}

/** Lower-cases ASCII only when needed (hosts are almost always lower-case already). */
function lowerAscii(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.toLowerCase();
  }
  return s;
}

/** Offset of the ':port' of a host (Envoy's HeaderUtility::getPortStart), or -1. */
export function portStart(host: string): number {
  const colon = host.lastIndexOf(':');
  if (colon < 0 || colon === host.length - 1) return -1;
  if (host.lastIndexOf(']') > colon) return -1; // inside an IPv6 literal
  for (let i = colon + 1; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  return colon;
}

// ───────────────────────────── path rewrites ─────────────────────────────

/** prefix_rewrite or regex_rewrite (RouteAction and RedirectAction share the semantics). */
class PathRewrite {
  constructor(
    readonly prefix: string | null,
    readonly re: RegExp | null,
    readonly replacement: string,
  ) {}

  /**
   * prefix_rewrite swaps the first `matchedLength` characters (the matched prefix or path) for
   * the new prefix, keeping the rest including the query; regex_rewrite replaces every match in
   * the path without query/fragment and keeps the query. An empty regex result means no rewrite.
   */
  apply(path: string, matchedLength: number): string {
    if (this.prefix !== null) return this.prefix + path.slice(Math.min(matchedLength, path.length));
    const only = pathWithoutQuery(path);
    const replaced = only.replace(this.re!, this.replacement);
    if (replaced === '') return path;
    return only.length === path.length ? replaced : replaced + path.slice(only.length);
  }
}

function compilePathRewrite(
  prefix: string | null, regex: { readonly regex: string; readonly substitution: string } | null,
  path: string, errors: string[],
): PathRewrite | null {
  if (prefix !== null && prefix !== '' && regex !== null) {
    errors.push(`${path}: only one of prefixRewrite and regexRewrite may be set`);
    return null;
  }
  if (prefix !== null && prefix !== '') return new PathRewrite(prefix, null, '');
  if (regex === null) return null;
  try {
    const { re, groups } = compileGlobal(regex.regex);
    try {
      return new PathRewrite(null, re, compileSubstitution(regex.substitution, groups));
    } catch (err) {
      errors.push(`${path}.regexRewrite.substitution: ${(err as Error).message}`);
    }
  } catch (err) {
    errors.push(`${path}.regexRewrite.regex: ${(err as Error).message}`);
  }
  return null;
}

// ───────────────────────────── hash policies ─────────────────────────────

const HASH_HEADER = 0;
const HASH_COOKIE = 1;
const HASH_SOURCE_IP = 2;

function cookieValue(headers: readonly string[], name: string): string | null {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'cookie') continue;
    const s = headers[i + 1]!;
    let start = 0;
    while (start < s.length) {
      let end = s.indexOf(';', start);
      if (end < 0) end = s.length;
      let k = start;
      while (k < end && s.charCodeAt(k) === 32) k++;
      const eq = s.indexOf('=', k);
      if (eq >= 0 && eq < end && eq - k === name.length && s.startsWith(name, k)) {
        let v = s.slice(eq + 1, end);
        if (v.length >= 2 && v.charCodeAt(0) === 34 && v.charCodeAt(v.length - 1) === 34) v = v.slice(1, -1);
        return v;
      }
      start = end + 1;
    }
  }
  return null;
}

function headerHash(headers: readonly string[], name: string): number | null {
  let first: string | null = null;
  let all: string[] | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== name) continue;
    const v = headers[i + 1]!;
    if (first === null) first = v;
    else (all ??= [first]).push(v);
  }
  if (first === null) return null;
  if (all === null) return hash32(first);
  // Repeated header: the same hash whatever the order of the values (as Envoy does).
  all.sort();
  let h = hash32(all[0]!);
  for (let i = 1; i < all.length; i++) h = hash32(all[i]!, h);
  return h;
}

// ───────────────────────────── routes ─────────────────────────────

const P_PREFIX = 0;
const P_PATH = 1;
const P_REGEX = 2;
const P_SEPARATED_PREFIX = 3;

const C_FIXED = 0;
const C_HEADER = 1;
const C_WEIGHTED = 2;

export class CompiledRoute {
  readonly name: string;
  readonly kind: 'route' | 'redirect' | 'direct_response';
  readonly config: RouteConfig;
  readonly virtualHost: CompiledVirtualHost;
  /** The route's own header mutations (see finalizeRequestHeaders for the whole chain). */
  readonly headers: CompiledHeaderMutations;
  /** The pre-built answer of RouteTable.match for this route. */
  readonly matched: MatchedRoute;

  // kind 'route'
  readonly hostRewriteLiteral: string | null;
  readonly autoHostRewrite: boolean;
  /** Upstream timeout; Envoy default 15 s; 0 disables. */
  readonly timeoutMs: number;
  /** null = not set (the HCM stream idle timeout applies); 0 disables. */
  readonly idleTimeoutMs: number | null;
  /** The route's retry policy, else the virtual host's, else null. */
  readonly retry: CompiledRetryPolicy | null;
  readonly mirrors: readonly RequestMirrorPolicyConfig[];
  readonly upgradeConfigs: readonly UpgradeConfig[];
  /** True when hash() can produce a value (the route has hash policies). */
  readonly hasHashPolicy: boolean;
  /** max_stream_duration (stream duration limit, grpc-timeout handling); null when not set. */
  readonly maxStreamDuration: MaxStreamDurationConfig | null;
  /** Deprecated max_grpc_timeout (0 = no cap); null when not set. */
  readonly maxGrpcTimeoutMs: number | null;
  readonly grpcTimeoutOffsetMs: number;
  /** Whether the stream timeouts depend on more than timeoutMs (see grpc.ts streamTimeouts). */
  readonly hasStreamTimeouts: boolean;

  // kind 'direct_response'
  readonly directResponse: { readonly status: number; readonly body: string | null } | null;

  // matching
  private readonly pathKind: number;
  private readonly pathValue: string;
  private readonly pathLength: number;
  private readonly pathRe: RegExp | null;
  private readonly caseSensitive: boolean;
  private readonly headerMatchers: readonly CompiledHeaderMatcher[];
  private readonly queryMatchers: readonly CompiledQueryMatcher[];

  // cluster selection
  private readonly clusterMode: number;
  private readonly fixedCluster: SelectedCluster | null;
  private readonly clusterHeader: string;
  private readonly weightedEnds: readonly number[];
  private readonly weightedClusters: readonly SelectedCluster[];
  private readonly totalWeight: number;

  private readonly rewrite: PathRewrite | null;
  private readonly redirectAction: RedirectActionConfig | null;
  private readonly redirectRewrite: PathRewrite | null;

  private readonly hashKinds: readonly number[];
  private readonly hashNames: readonly string[];
  private readonly hashTerminal: readonly boolean[];

  private readonly requestChain: readonly CompiledHeaderMutations[];
  private readonly responseChain: readonly CompiledHeaderMutations[];

  /** @internal Built by compileRouteTable. */
  constructor(
    cfg: RouteConfig, vhost: CompiledVirtualHost, vhostRetry: CompiledRetryPolicy | null,
    tableHeaders: CompiledHeaderMutations, path: string, errors: string[],
  ) {
    this.name = cfg.name;
    this.config = cfg;
    this.virtualHost = vhost;
    this.matched = Object.freeze({ virtualHost: vhost, route: this });
    this.headers = compileHeaderMutationsInto(cfg, path, errors);
    this.requestChain = [this.headers, vhost.headers, tableHeaders].filter((m) => m.hasRequest);
    this.responseChain = [this.headers, vhost.headers, tableHeaders].filter((m) => m.hasResponse);

    // ── match ──
    const m = cfg.match;
    this.caseSensitive = m.caseSensitive;
    this.pathRe = null;
    this.pathValue = '';
    this.pathLength = 0;
    switch (m.path.kind) {
      case 'safe_regex':
        this.pathKind = P_REGEX;
        try { this.pathRe = compileFullMatch(m.path.regex); } catch (err) {
          errors.push(`${path}.match.path.regex: ${(err as Error).message}`);
        }
        break;
      case 'prefix': case 'path': case 'path_separated_prefix': {
        this.pathKind = m.path.kind === 'prefix' ? P_PREFIX : m.path.kind === 'path' ? P_PATH : P_SEPARATED_PREFIX;
        this.pathLength = m.path.value.length;
        this.pathValue = m.caseSensitive ? m.path.value : m.path.value.toLowerCase();
        if (m.path.kind === 'path_separated_prefix' && /[?#]|\/$/.test(m.path.value)) {
          errors.push(`${path}.match.path.value: a path_separated_prefix may not contain '?' or '#' nor end in '/'`);
        }
        break;
      }
      default:
        this.pathKind = P_PREFIX;
        errors.push(`${path}.match.path: unsupported path specifier`);
    }
    const headerMatchers: CompiledHeaderMatcher[] = [];
    m.headers.forEach((h, k) => {
      try { headerMatchers.push(new CompiledHeaderMatcher(h)); } catch (err) {
        errors.push(`${path}.match.headers[${k}]: ${(err as Error).message}`);
      }
    });
    this.headerMatchers = headerMatchers;
    const queryMatchers: CompiledQueryMatcher[] = [];
    m.queryParameters.forEach((q, k) => {
      try { queryMatchers.push(new CompiledQueryMatcher(q)); } catch (err) {
        errors.push(`${path}.match.queryParameters[${k}]: ${(err as Error).message}`);
      }
    });
    this.queryMatchers = queryMatchers;

    // ── action ──
    const action = cfg.action;
    this.kind = action.kind;
    const route: RouteActionConfig | null = action.kind === 'route' ? action : null;
    this.hostRewriteLiteral = route?.hostRewriteLiteral || null;
    this.autoHostRewrite = route?.autoHostRewrite ?? false;
    this.timeoutMs = route?.timeoutMs ?? 0;
    this.idleTimeoutMs = route?.idleTimeoutMs ?? null;
    this.retry = route === null ? null : route.retryPolicy !== null ? new CompiledRetryPolicy(route.retryPolicy) : vhostRetry;
    this.mirrors = route?.requestMirrorPolicies ?? [];
    this.upgradeConfigs = route?.upgradeConfigs ?? [];
    this.maxStreamDuration = route?.maxStreamDuration ?? null;
    this.maxGrpcTimeoutMs = route?.maxGrpcTimeoutMs ?? null;
    this.grpcTimeoutOffsetMs = route?.grpcTimeoutOffsetMs ?? 0;
    this.hasStreamTimeouts = this.maxStreamDuration !== null || this.maxGrpcTimeoutMs !== null;
    const direct: DirectResponseActionConfig | null = action.kind === 'direct_response' ? action : null;
    this.directResponse = direct === null ? null : Object.freeze({ status: direct.status, body: direct.body });
    this.redirectAction = action.kind === 'redirect' ? action : null;

    this.clusterMode = C_FIXED;
    this.fixedCluster = null;
    this.clusterHeader = '';
    this.totalWeight = 0;
    const ends: number[] = [];
    const weighted: SelectedCluster[] = [];
    if (route !== null) {
      if (route.cluster !== null && route.cluster !== '') {
        this.fixedCluster = Object.freeze({ name: route.cluster, headers: null });
      } else if (route.clusterHeader !== null && route.clusterHeader !== '') {
        this.clusterMode = C_HEADER;
        this.clusterHeader = route.clusterHeader.toLowerCase();
      } else if (route.weightedClusters !== null) {
        this.clusterMode = C_WEIGHTED;
        const wc = route.weightedClusters;
        let sum = 0;
        wc.clusters.forEach((c, k) => {
          const headers = compileHeaderMutationsInto(c, `${path}.action.weightedClusters.clusters[${k}]`, errors);
          sum += c.weight;
          ends.push(sum);
          weighted.push(Object.freeze({ name: c.name, headers: headers.isEmpty ? null : headers }));
        });
        this.totalWeight = wc.totalWeight > 0 ? wc.totalWeight : sum;
        if (wc.clusters.length === 0 || sum === 0) {
          errors.push(`${path}.action.weightedClusters: needs at least one cluster with a weight above 0`);
        } else if (sum !== this.totalWeight) {
          errors.push(`${path}.action.weightedClusters: weights add up to ${sum}, totalWeight is ${this.totalWeight}`);
        }
      } else {
        errors.push(`${path}.action: one of cluster, clusterHeader or weightedClusters is required`);
      }
    }
    this.weightedEnds = ends;
    this.weightedClusters = weighted;

    this.rewrite = route === null ? null
      : compilePathRewrite(route.prefixRewrite, route.regexRewrite, `${path}.action`, errors);
    this.redirectRewrite = this.redirectAction === null ? null
      : compilePathRewrite(this.redirectAction.prefixRewrite, this.redirectAction.regexRewrite, `${path}.action`, errors);

    const kinds: number[] = [];
    const names: string[] = [];
    const terminal: boolean[] = [];
    for (const h of route?.hashPolicy ?? []) {
      kinds.push(h.kind === 'header' ? HASH_HEADER : h.kind === 'cookie' ? HASH_COOKIE : HASH_SOURCE_IP);
      names.push(h.kind === 'header' ? h.headerName.toLowerCase() : h.kind === 'cookie' ? h.name : '');
      terminal.push(h.terminal);
    }
    this.hashKinds = kinds;
    this.hashNames = names;
    this.hashTerminal = terminal;
    this.hasHashPolicy = kinds.length > 0;
  }

  /** @internal Does the request (already past virtual host selection) match this route? */
  matches(st: MatchState): boolean {
    const v = this.pathValue;
    const n = v.length;
    switch (this.pathKind) {
      case P_PREFIX:
        if (this.caseSensitive ? n > st.pathEnd || !st.req.path.startsWith(v) : !st.lower().startsWith(v)) return false;
        break;
      case P_PATH:
        if (this.caseSensitive ? n !== st.pathEnd || !st.req.path.startsWith(v) : st.lower() !== v) return false;
        break;
      case P_SEPARATED_PREFIX: {
        const p = this.caseSensitive ? st.req.path : st.lower();
        const end = st.pathEnd;
        if (n > end || !p.startsWith(v) || (n !== end && p.charCodeAt(n) !== 47 /* / */)) return false;
        break;
      }
      default:
        if (this.pathRe === null || !this.pathRe.test(st.pathOnly())) return false;
    }
    const hm = this.headerMatchers;
    for (let i = 0; i < hm.length; i++) if (!hm[i]!.matches(st.req)) return false;
    const qm = this.queryMatchers;
    if (qm.length > 0) {
      const params = st.queryParams();
      for (let i = 0; i < qm.length; i++) if (!qm[i]!.matches(params)) return false;
    }
    return true;
  }

  /**
   * Chooses the upstream cluster: `cluster`; the first value of `cluster_header` (null when the
   * header is absent or empty — Envoy then answers with cluster_not_found_response_code); or a
   * weighted pick with `random` in [0, 1): floor(random × total_weight) falls in one entry's
   * weight range, in configuration order. null for redirect / direct_response routes.
   */
  selectCluster(headers: readonly string[], random: number): SelectedCluster | null {
    switch (this.clusterMode) {
      case C_FIXED: return this.fixedCluster;
      case C_HEADER: {
        const v = getHeader(headers, this.clusterHeader);
        return v === undefined || v === '' ? null : { name: v, headers: null };
      }
      default: {
        const ends = this.weightedEnds;
        const pick = Math.floor((random < 0 ? 0 : random >= 1 ? 0.9999999999999999 : random) * this.totalWeight);
        for (let i = 0; i < ends.length; i++) if (pick < ends[i]!) return this.weightedClusters[i]!;
        return this.weightedClusters[this.weightedClusters.length - 1] ?? null;
      }
    }
  }

  /**
   * The path for the upstream request: prefix_rewrite replaces the matched prefix (for `path`
   * matches the whole matched path; for safe_regex matches the whole path without query), keeping
   * the rest and the query; regex_rewrite replaces every match in the path without query and
   * keeps the query. The input string itself when nothing is rewritten.
   */
  rewritePath(path: string): string {
    const rw = this.rewrite;
    if (rw === null) return path;
    return rw.apply(path, this.matchedLength(path));
  }

  /** True when rewritePath may change the path (for x-envoy-original-path bookkeeping). */
  get hasPathRewrite(): boolean {
    return this.rewrite !== null;
  }

  private matchedLength(path: string): number {
    return this.pathKind === P_REGEX ? pathWithoutQuery(path).length : this.pathLength;
  }

  /**
   * Hash for ring-hash / Maglev from hash_policy, combined as Envoy does: each produced value is
   * XORed into the previous result rotated left by one; a terminal policy that produced a hash
   * ends the list. header: all values of the header (sorted when repeated); cookie: the named
   * cookie from the `cookie` header(s) (empty or absent produces nothing; cookies are not
   * generated); source_ip: `sourceIp` as given. null when nothing produced a value.
   */
  hash(headers: readonly string[], sourceIp: string): number | null {
    const kinds = this.hashKinds;
    let acc = 0;
    let has = false;
    for (let i = 0; i < kinds.length; i++) {
      let h: number | null = null;
      switch (kinds[i]) {
        case HASH_HEADER: h = headerHash(headers, this.hashNames[i]!); break;
        case HASH_COOKIE: {
          const v = cookieValue(headers, this.hashNames[i]!);
          if (v !== null && v !== '') h = hash32(v);
          break;
        }
        default: if (sourceIp !== '') h = hash32(sourceIp);
      }
      if (h !== null) {
        acc = has ? (((acc << 1) | (acc >>> 31)) ^ h) >>> 0 : h;
        has = true;
      }
      if (has && this.hashTerminal[i]) break;
    }
    return has ? acc : null;
  }

  /**
   * Location and status of a redirect route, for a request with this scheme ('http' / 'https',
   * as x-forwarded-proto), authority and path. As Envoy's RedirectAction: scheme_redirect /
   * https_redirect; port_redirect replaces the port; without host_redirect the request host is
   * kept, dropping its port when a port is redirected or the scheme changes from a default port
   * (http:80, https:443); path_redirect keeps the request's query unless it has its own;
   * prefix_rewrite / regex_rewrite as for routes; strip_query drops the query.
   */
  redirect(scheme: string, authority: string, path: string): { status: number; location: string } {
    const rd = this.redirectAction;
    if (rd === null) throw new Error(`route '${this.name}' is not a redirect route`);
    const finalScheme = rd.schemeRedirect || scheme;
    const finalPort = rd.portRedirect ? ':' + rd.portRedirect : '';
    const finalHost = rd.hostRedirect || requestHost(authority, scheme, finalScheme, finalPort);
    let finalPath: string;
    const pathRedirect = rd.pathRedirect || null;
    const pathRedirectHasQuery = pathRedirect !== null && pathRedirect.includes('?');
    if (pathRedirect !== null) {
      const q = pathRedirectHasQuery ? -1 : path.indexOf('?');
      finalPath = q < 0 ? pathRedirect : pathRedirect + path.slice(q);
    } else if (this.redirectRewrite !== null) {
      finalPath = this.redirectRewrite.apply(path, this.matchedLength(path));
    } else {
      finalPath = path;
    }
    if (!finalPath.startsWith('/')) finalPath = '/' + finalPath;
    if (rd.stripQuery && !pathRedirectHasQuery) {
      const q = finalPath.indexOf('?');
      if (q >= 0) finalPath = finalPath.slice(0, q);
    }
    return { status: rd.responseCode, location: `${finalScheme}://${finalHost}${finalPort}${finalPath}` };
  }

  /**
   * All request header mutations for this route, in Envoy's default order (later levels win an
   * overwrite): the selected weighted cluster entry's, the route's, the virtual host's, then the
   * route configuration's (most_specific_header_mutations_wins: false).
   */
  finalizeRequestHeaders(headers: string[], info: StreamInfo, cluster: SelectedCluster | null): void {
    if (cluster !== null && cluster.headers !== null) cluster.headers.applyRequest(headers, info);
    const chain = this.requestChain;
    for (let i = 0; i < chain.length; i++) chain[i]!.applyRequest(headers, info);
  }

  /** All response header mutations for this route, in the same order as the request ones. */
  finalizeResponseHeaders(headers: string[], info: StreamInfo, cluster: SelectedCluster | null): void {
    if (cluster !== null && cluster.headers !== null) cluster.headers.applyResponse(headers, info);
    const chain = this.responseChain;
    for (let i = 0; i < chain.length; i++) chain[i]!.applyResponse(headers, info);
  }
}

/** The request's host for a redirect (Envoy's processRequestHost). */
function requestHost(host: string, requestScheme: string, newScheme: string, newPort: string): string {
  if (host === '') return host;
  let end: number;
  if (host.charCodeAt(0) === 91 /* [ */) {
    end = host.lastIndexOf(']:');
    if (end >= 0) end += 1;
  } else {
    end = host.lastIndexOf(':');
  }
  if (end < 0) return host;
  const port = host.slice(end);
  let remove = newPort !== '';
  if (newScheme !== requestScheme) {
    remove ||= (requestScheme === 'https' && port === ':443') || (requestScheme === 'http' && port === ':80');
  }
  return remove ? host.slice(0, end) : host;
}

// ───────────────────────────── virtual hosts ─────────────────────────────

export class CompiledVirtualHost {
  readonly name: string;
  readonly config: VirtualHostConfig;
  readonly domains: readonly string[];
  readonly headers: CompiledHeaderMutations;
  /** The virtual host's retry policy (routes without their own use it). */
  readonly retry: CompiledRetryPolicy | null;
  readonly routes: readonly CompiledRoute[];

  /** @internal Built by compileRouteTable. */
  constructor(cfg: VirtualHostConfig, tableHeaders: CompiledHeaderMutations, path: string, errors: string[]) {
    this.name = cfg.name;
    this.config = cfg;
    this.domains = cfg.domains.map((d) => d.toLowerCase());
    this.headers = compileHeaderMutationsInto(cfg, path, errors);
    this.retry = cfg.retryPolicy === null ? null : new CompiledRetryPolicy(cfg.retryPolicy);
    this.routes = cfg.routes.map((r, i) => new CompiledRoute(r, this, this.retry, tableHeaders, `${path}.routes[${i}]`, errors));
  }
}

/**
 * Wildcard domains of one length. A few keys are compared in place (no allocation); more go
 * through a map keyed by the host's slice (Envoy's measured break-even is about 4 entries).
 */
class WildcardLevel {
  readonly keys: string[] = [];
  readonly hosts: CompiledVirtualHost[] = [];
  private map: Map<string, CompiledVirtualHost> | null = null;

  constructor(readonly length: number, private readonly suffix: boolean) {}

  add(key: string, vh: CompiledVirtualHost): void {
    this.keys.push(key);
    this.hosts.push(vh);
    if (this.keys.length > SMALL_LEVEL) this.map = new Map(this.keys.map((k, i) => [k, this.hosts[i]!]));
  }

  /** The virtual host whose key is this host's suffix (or prefix) of this level's length. */
  find(host: string): CompiledVirtualHost | null {
    const map = this.map;
    if (map !== null) {
      const n = host.length;
      return map.get(this.suffix ? host.slice(n - this.length) : host.slice(0, this.length)) ?? null;
    }
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) {
      if (this.suffix ? host.endsWith(keys[i]!) : host.startsWith(keys[i]!)) return this.hosts[i]!;
    }
    return null;
  }
}

const SMALL_LEVEL = 4;

function addWildcard(levels: WildcardLevel[], key: string, vh: CompiledVirtualHost, suffix: boolean): void {
  let level = levels.find((l) => l.length === key.length);
  if (level === undefined) {
    level = new WildcardLevel(key.length, suffix);
    levels.push(level);
    levels.sort((a, b) => b.length - a.length); // longest first
  }
  level.add(key, vh);
}

// ───────────────────────────── the table ─────────────────────────────

export class RouteTable {
  readonly config: RouteConfiguration;
  /** Route-configuration-level header mutations. */
  readonly headers: CompiledHeaderMutations;
  readonly virtualHosts: readonly CompiledVirtualHost[];

  private readonly exact = new Map<string, CompiledVirtualHost>();
  private readonly suffixes: WildcardLevel[] = [];
  private readonly prefixes: WildcardLevel[] = [];
  private star: CompiledVirtualHost | null = null;
  private readonly onlyStar: boolean;
  private readonly state = new MatchState();

  /** @internal Use compileRouteTable. */
  constructor(cfg: RouteConfiguration, errors: string[]) {
    this.config = cfg;
    this.headers = compileHeaderMutationsInto(cfg, '', errors);
    this.virtualHosts = cfg.virtualHosts.map((v, i) => new CompiledVirtualHost(v, this.headers, `virtualHosts[${i}]`, errors));
    const owner = new Map<string, string>();
    this.virtualHosts.forEach((vh, i) => {
      vh.domains.forEach((d, j) => {
        const previous = owner.get(d);
        if (previous !== undefined) {
          errors.push(`virtualHosts[${i}].domains[${j}]: duplicate domain '${d}' (already in virtual host '${previous}')`);
          return;
        }
        owner.set(d, vh.name);
        if (d === '*') this.star = vh;
        else if (d.startsWith('*')) addWildcard(this.suffixes, d.slice(1), vh, true);
        else if (d.endsWith('*')) addWildcard(this.prefixes, d.slice(0, -1), vh, false);
        else this.exact.set(d, vh);
      });
    });
    this.onlyStar = this.exact.size === 0 && this.suffixes.length === 0 && this.prefixes.length === 0;
  }

  /**
   * Virtual host for an authority, case-insensitively: exact domain, then suffix wildcards
   * (`*.example.com`) longest first, then prefix wildcards (`example.*`) longest first — a
   * wildcard never matches an empty string. The authority is tried as received (with its port,
   * as Envoy does); when nothing matches and it has a port, it is tried again without the port
   * (Envoy needs ignore_port_in_host_matching for that); last comes the `*` virtual host.
   */
  findVirtualHost(authority: string): CompiledVirtualHost | null {
    if (this.onlyStar) return this.star;
    // Most authorities arrive lower-case: an exact hit needs no lower-casing scan.
    const direct = this.exact.get(authority);
    if (direct !== undefined) return direct;
    const host = lowerAscii(authority);
    const vh = host === authority ? this.wildcards(host) : this.lookup(host);
    if (vh !== null) return vh;
    const p = portStart(host);
    if (p >= 0) {
      const bare = this.lookup(host.slice(0, p));
      if (bare !== null) return bare;
    }
    return this.star;
  }

  private lookup(host: string): CompiledVirtualHost | null {
    return this.exact.get(host) ?? this.wildcards(host);
  }

  /** Suffix wildcards longest first, then prefix wildcards longest first. */
  private wildcards(host: string): CompiledVirtualHost | null {
    const n = host.length;
    const suffixes = this.suffixes;
    for (let i = 0; i < suffixes.length; i++) {
      const level = suffixes[i]!;
      if (level.length >= n) continue; // a wildcard never matches an empty string
      const vh = level.find(host);
      if (vh !== null) return vh;
    }
    const prefixes = this.prefixes;
    for (let i = 0; i < prefixes.length; i++) {
      const level = prefixes[i]!;
      if (level.length >= n) continue;
      const vh = level.find(host);
      if (vh !== null) return vh;
    }
    return null;
  }

  /** Virtual host by authority, then the first matching route in order. null = 404 (NR). */
  match(req: RouteRequest): MatchedRoute | null {
    const vh = this.findVirtualHost(req.authority);
    if (vh === null) return null;
    const st = this.state;
    st.reset(req);
    const routes = vh.routes;
    let found: MatchedRoute | null = null;
    for (let i = 0; i < routes.length; i++) {
      if (routes[i]!.matches(st)) { found = routes[i]!.matched; break; }
    }
    st.release();
    return found;
  }
}

/**
 * Compiles a RouteConfiguration once (domains indexed, matchers and regexes built, header values
 * parsed). Throws RouteConfigError listing every problem with the path of the bad field.
 * @example compileRouteTable(hcm.routeConfig).match({ authority, path, method, headers })
 */
export function compileRouteTable(cfg: RouteConfiguration): RouteTable {
  const errors: string[] = [];
  const table = new RouteTable(cfg, errors);
  if (errors.length > 0) throw new RouteConfigError(cfg.name, errors);
  return table;
}
