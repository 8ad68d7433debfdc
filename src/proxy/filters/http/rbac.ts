// The RBAC HTTP filter, envoy.filters.http.rbac (envoy.extensions.filters.http.rbac.v3.RBAC, Envoy's
// configuration/http/http_filters/rbac_filter): shadow rules are evaluated and counted, then the
// enforced rules; a denied request gets 403 `RBAC: access denied` with response code details
// `rbac_access_denied_matched_policy[<policy>|none]` (no response flag, as Envoy). RBACPerRoute in
// typed_per_filter_config (most specific level wins) replaces both rule sets on a route; without
// `rbac` it turns enforcement off there. Stats, as Envoy names them:
// http.<prefix>.rbac.<rules_stat_prefix>{allowed,denied,logged,not_logged} and
// http.<prefix>.rbac.<shadow_rules_stat_prefix>{shadow_allowed,shadow_denied}. With shadow rules,
// the result goes to dynamic metadata `envoy.filters.http.rbac` as Envoy writes it.
// Engines are compiled once per connection-manager version; a route's filter object is shared by
// all its streams (evaluation is synchronous and keeps no per-stream state).

import type net from 'node:net';
import type { HttpRbacConfig, PerFilterConfig } from '../../config/types.js';
import type { Counter, StatsStore } from '../../../observe/stats.js';
import { ipBytes } from '../../listener/cidr.js';
import type { HeaderSource } from '../../router/matchers.js';
import type { CompiledRoute, RouteTable } from '../../router/route-table.js';
import { RbacConnection, RbacEngine, type RbacSubject } from '../../rbac/engine.js';
import type { DynamicMetadata } from '../../rbac/metadata.js';
import { CONTINUE, DISABLED, resolvePerRoute, STOP, type FilterStatus, type FilterStream, type HttpFilter, type HttpFilterFactory } from './filter.js';

export const RBAC_DENIED_BODY = 'RBAC: access denied';
/** The dynamic metadata namespace the filter writes (its canonical name, whatever the filter is called). */
export const RBAC_METADATA_NAMESPACE = 'envoy.filters.http.rbac';

export class HttpRbacStats {
  readonly allowed: Counter;
  readonly denied: Counter;
  readonly logged: Counter;
  readonly not_logged: Counter;
  readonly shadow_allowed: Counter;
  readonly shadow_denied: Counter;
  constructor(store: StatsStore, prefix: string, rulesPrefix: string, shadowPrefix: string) {
    const labels = { envoy_http_conn_manager_prefix: prefix };
    const c = (p: string, n: string): Counter => store.counter(`http.${prefix}.rbac.${p}${n}`, `http_rbac_${p}${n}`.replace(/[^a-zA-Z0-9_]/g, '_'), labels);
    this.allowed = c(rulesPrefix, 'allowed');
    this.denied = c(rulesPrefix, 'denied');
    this.logged = c(rulesPrefix, 'logged');
    this.not_logged = c(rulesPrefix, 'not_logged');
    this.shadow_allowed = c(shadowPrefix, 'shadow_allowed');
    this.shadow_denied = c(shadowPrefix, 'shadow_denied');
  }
}

/** Per-connection facts, computed on a connection's first evaluated request. */
const connections = new WeakMap<object, RbacConnection>();

function connectionOf(socket: net.Socket | null, sni: string | null): RbacConnection | null {
  if (socket === null) return null;
  let c = connections.get(socket);
  if (c === undefined) {
    c = new RbacConnection(socket, sni);
    connections.set(socket, c);
  }
  return c;
}

/** The subject of one evaluation, reused (evaluation is synchronous). */
class HttpSubject implements RbacSubject, HeaderSource {
  conn: RbacConnection = null!;
  /** Set for the duration of one evaluation (then cleared, so no stream is kept alive). */
  private stream: FilterStream = null!;
  /** pathOnly() of the current evaluation, computed on first use. */
  private pathNoQuery: string | null = null;

  begin(conn: RbacConnection, stream: FilterStream): void {
    this.conn = conn;
    this.stream = stream;
    this.pathNoQuery = null;
  }

  end(): void {
    this.conn = null!;
    this.stream = null!;
    this.pathNoQuery = null;
  }

  get request(): HeaderSource { return this; }
  get authority(): string { return this.stream.info.authority; }
  get path(): string { return this.stream.info.path; }
  get method(): string { return this.stream.info.method; }
  get headers(): readonly string[] { return this.stream.info.requestHeaders; }

  pathOnly(): string {
    if (this.pathNoQuery !== null) return this.pathNoQuery;
    const p = this.stream.info.path;
    let end = p.indexOf('?');
    const hash = p.indexOf('#');
    if (hash >= 0 && (end < 0 || hash < end)) end = hash;
    this.pathNoQuery = end < 0 ? p : p.slice(0, end);
    return this.pathNoQuery;
  }

  dynamicMetadata(): DynamicMetadata {
    return this.stream.info.dynamicMetadata;
  }

  remoteIp(): Uint8Array | null {
    const a = this.stream.info.downstreamRemoteAddress;
    if (a === this.stream.info.downstreamDirectRemoteAddress) return this.conn.remoteIp();
    const ip = a.startsWith('[') ? a.slice(1, a.indexOf(']')) : a.slice(0, a.lastIndexOf(':'));
    return ipBytes(ip);
  }
}

/** The engines that apply on a route (or without one). */
class RbacRouteFilter implements HttpFilter {
  constructor(private readonly owner: RbacFilterFactory, readonly engine: RbacEngine | null, readonly shadow: RbacEngine | null) {}

  onRequestHeaders(stream: FilterStream): FilterStatus {
    const conn = connectionOf(stream.downstreamSocket(), null);
    if (conn === null) {
      // Never expected (every stream has a connection); fail closed rather than skip the rules.
      stream.sendLocalReply(403, RBAC_DENIED_BODY, '', 'rbac_access_denied_no_connection');
      return STOP;
    }
    const stats = this.owner.stats;
    const subject = this.owner.subject;
    subject.begin(conn, stream);
    const shadow = this.shadow;
    if (shadow !== null) {
      const m = shadow.match(subject);
      const allowed = shadow.allows(m);
      if (allowed) stats.shadow_allowed.inc();
      else stats.shadow_denied.inc();
      this.owner.writeShadowMetadata(stream, allowed, m >= 0 ? shadow.names[m]! : null);
    }
    const engine = this.engine;
    const matched = engine === null ? 0 : engine.match(subject);
    subject.end();
    if (engine === null) return CONTINUE;
    if (engine.action === 'LOG') (matched >= 0 ? stats.logged : stats.not_logged).inc();
    if (engine.allows(matched)) {
      stats.allowed.inc();
      return CONTINUE;
    }
    stats.denied.inc();
    stream.sendLocalReply(403, RBAC_DENIED_BODY, '', engine.deniedDetails(matched));
    return STOP;
  }

  onResponseHeaders(): void { /* nothing */ }
  onDestroy(): void { /* nothing */ }
}

function engineOf(cfg: HttpRbacConfig | null, which: 'rules' | 'shadowRules'): RbacEngine | null {
  const rules = cfg?.[which] ?? null;
  return rules === null ? null : new RbacEngine(rules);
}

export class RbacFilterFactory implements HttpFilterFactory {
  readonly stats: HttpRbacStats;
  /** Dynamic metadata keys Envoy writes for shadow rules: `<shadow_rules_stat_prefix>shadow_{effective_policy_id,engine_result}`. */
  private readonly shadowPolicyKey: string;
  private readonly shadowResultKey: string;
  readonly subject = new HttpSubject();
  private readonly base: RbacRouteFilter | null;
  /** 'off': RBACPerRoute without `rbac` (nothing enforced nor counted on the route). */
  private readonly perRoute: Map<CompiledRoute, RbacRouteFilter | 'off' | typeof DISABLED>;

  constructor(readonly name: string, config: HttpRbacConfig, routes: RouteTable, store: StatsStore, statPrefix: string) {
    this.stats = new HttpRbacStats(store, statPrefix, config.rulesStatPrefix, config.shadowRulesStatPrefix);
    this.shadowPolicyKey = `${config.shadowRulesStatPrefix}shadow_effective_policy_id`;
    this.shadowResultKey = `${config.shadowRulesStatPrefix}shadow_engine_result`;
    this.base = this.filterFor(config);
    this.perRoute = resolvePerRoute(routes, name, (levels: readonly PerFilterConfig[]) => {
      const top = levels[0];
      return top === undefined || top.kind !== 'rbac' ? null : this.filterFor(top.config) ?? 'off';
    });
  }

  /**
   * Envoy's shadow-rule dynamic metadata under `envoy.filters.http.rbac`: the engine result
   * (`allowed` / `denied`) and, when a policy matched, its name (Istio's CUSTOM action reads it to
   * decide whether ext_authz runs). Only written when shadow rules are configured.
   */
  writeShadowMetadata(stream: FilterStream, allowed: boolean, policy: string | null): void {
    const info = stream.info;
    const md = info.dynamicMetadata ?? (info.dynamicMetadata = {});
    const ns = md[RBAC_METADATA_NAMESPACE] ?? (md[RBAC_METADATA_NAMESPACE] = {});
    ns[this.shadowResultKey] = allowed ? 'allowed' : 'denied';
    if (policy !== null) ns[this.shadowPolicyKey] = policy;
  }

  private filterFor(cfg: HttpRbacConfig | null): RbacRouteFilter | null {
    const engine = engineOf(cfg, 'rules');
    const shadow = engineOf(cfg, 'shadowRules');
    return engine === null && shadow === null ? null : new RbacRouteFilter(this, engine, shadow);
  }

  create(route: CompiledRoute | null): HttpFilter | null {
    if (route === null) return this.base;
    const f = this.perRoute.get(route);
    if (f === undefined) return this.base;
    return f === DISABLED || f === 'off' ? null : f;
  }
}
