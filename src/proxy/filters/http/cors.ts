// The CORS filter, envoy.filters.http.cors (envoy.extensions.filters.http.cors.v3.Cors), driven by
// CorsPolicy in typed_per_filter_config (route, then virtual host, then route configuration; each
// field from the most specific level that sets it). Preflights with an allowed origin are answered
// here with 200; other requests from an allowed origin get the CORS response headers. Stats
// http.<prefix>.cors.{origin_valid,origin_invalid}.

import type { CorsPolicyConfig, PerFilterConfig } from '../../config/types.js';
import type { Counter, StatsStore } from '../../../observe/stats.js';
import { CompiledStringMatcher } from '../../router/matchers.js';
import type { CompiledRoute, RouteTable } from '../../router/route-table.js';
import { getHeader } from '../../stream-info.js';
import { CONTINUE, DISABLED, resolvePerRoute, STOP, type FilterStatus, type FilterStream, type HttpFilter, type HttpFilterFactory } from './filter.js';

export class CorsStats {
  readonly origin_valid: Counter;
  readonly origin_invalid: Counter;
  constructor(store: StatsStore, prefix: string) {
    const labels = { envoy_http_conn_manager_prefix: prefix };
    this.origin_valid = store.counter(`http.${prefix}.cors.origin_valid`, 'http_cors_origin_valid', labels);
    this.origin_invalid = store.counter(`http.${prefix}.cors.origin_invalid`, 'http_cors_origin_invalid', labels);
  }
}

/** The effective policy of one route, merged across levels and compiled. */
class CompiledCorsPolicy {
  readonly origins: readonly CompiledStringMatcher[];
  readonly allowMethods: string | null;
  readonly allowHeaders: string | null;
  readonly exposeHeaders: string | null;
  readonly maxAge: string | null;
  readonly allowCredentials: boolean;
  readonly allowPrivateNetworkAccess: boolean;
  /** Fractions 0..1. */
  readonly enabled: number;
  readonly shadow: number;

  /** `levels`: CorsPolicy configs, most specific first. */
  constructor(levels: readonly CorsPolicyConfig[]) {
    const pick = <K extends keyof CorsPolicyConfig>(k: K): CorsPolicyConfig[K] | null => {
      for (const l of levels) if (l[k] !== null) return l[k];
      return null;
    };
    this.origins = (pick('allowOriginStringMatch') ?? []).map((m) => new CompiledStringMatcher(m));
    this.allowMethods = pick('allowMethods');
    this.allowHeaders = pick('allowHeaders');
    this.exposeHeaders = pick('exposeHeaders');
    this.maxAge = pick('maxAge');
    this.allowCredentials = pick('allowCredentials') ?? false;
    this.allowPrivateNetworkAccess = pick('allowPrivateNetworkAccess') ?? false;
    this.enabled = pick('filterEnabled') ?? 1;
    this.shadow = pick('shadowEnabled') ?? 0;
  }

  /** Envoy: an origin is allowed when a matcher matches it, or matches "*". */
  allows(origin: string): boolean {
    for (const m of this.origins) if (m.match('*') || m.match(origin)) return true;
    return false;
  }
}

function on(fraction: number): boolean {
  return fraction >= 1 || (fraction > 0 && Math.random() < fraction);
}

export class CorsFilterFactory implements HttpFilterFactory {
  readonly stats: CorsStats;
  private readonly perRoute: Map<CompiledRoute, CompiledCorsPolicy | typeof DISABLED>;

  constructor(readonly name: string, routes: RouteTable, store: StatsStore, statPrefix: string) {
    this.stats = new CorsStats(store, statPrefix);
    this.perRoute = resolvePerRoute(routes, name, (levels: readonly PerFilterConfig[]) => {
      const policies = levels.filter((l): l is CorsPolicyConfig => l.kind === 'cors_policy');
      return policies.length === 0 ? null : new CompiledCorsPolicy(policies);
    });
  }

  create(route: CompiledRoute | null): HttpFilter | null {
    if (route === null) return null;
    const policy = this.perRoute.get(route);
    return policy === undefined || policy === DISABLED ? null : new CorsFilter(this.stats, policy);
  }
}

class CorsFilter implements HttpFilter {
  /** The request's Origin when the response must carry CORS headers; null otherwise. */
  private origin: string | null = null;

  constructor(private readonly stats: CorsStats, private readonly policy: CompiledCorsPolicy) {}

  onRequestHeaders(stream: FilterStream): FilterStatus {
    const p = this.policy;
    const enabled = on(p.enabled);
    const shadow = on(p.shadow);
    if (!enabled && !shadow) return CONTINUE;
    const headers = stream.info.requestHeaders;
    const origin = getHeader(headers, 'origin');
    if (origin === undefined || origin === '') return CONTINUE;
    if (!p.allows(origin)) { this.stats.origin_invalid.inc(); return CONTINUE; }
    this.stats.origin_valid.inc();
    if (!enabled) return CONTINUE; // shadow mode: stats only
    this.origin = origin;
    if (stream.info.method !== 'OPTIONS') return CONTINUE;
    const requestMethod = getHeader(headers, 'access-control-request-method');
    if (requestMethod === undefined || requestMethod === '') return CONTINUE;
    // A preflight: answered here.
    const out: string[] = ['access-control-allow-origin', origin];
    if (p.allowCredentials) out.push('access-control-allow-credentials', 'true');
    if (p.allowMethods !== null) out.push('access-control-allow-methods', p.allowMethods);
    if (p.allowHeaders !== null) out.push('access-control-allow-headers', p.allowHeaders);
    if (p.maxAge !== null) out.push('access-control-max-age', p.maxAge);
    if (p.allowPrivateNetworkAccess && getHeader(headers, 'access-control-request-private-network') === 'true') {
      out.push('access-control-allow-private-network', 'true');
    }
    this.origin = null; // the reply already carries the headers
    stream.sendLocalReply(200, '', '', 'cors_response', undefined, out);
    return STOP;
  }

  onResponseHeaders(_status: number, headers: string[]): void {
    const origin = this.origin;
    if (origin === null) return;
    setHeader(headers, 'access-control-allow-origin', origin);
    if (this.policy.allowCredentials) setHeader(headers, 'access-control-allow-credentials', 'true');
    if (this.policy.exposeHeaders !== null) setHeader(headers, 'access-control-expose-headers', this.policy.exposeHeaders);
  }

  onDestroy(): void { /* nothing held */ }
}

/** Sets a header in a flat list, replacing an existing value (as Envoy's setAccessControl* do). */
function setHeader(headers: string[], name: string, value: string): void {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === name) { headers[i + 1] = value; return; }
  }
  headers.push(name, value);
}
