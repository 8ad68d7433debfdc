// Decoders for envoy.config.route.v3 (route.proto, route_components.proto): RouteConfiguration,
// VirtualHost, Route and the route / redirect / direct-response actions (RouteMatch: route-match.ts).

import type {
  DirectResponseActionConfig, HashPolicyConfig,
  MaxStreamDurationConfig, RedirectActionConfig, RequestMirrorPolicyConfig, RetryPolicyConfig,
  PerFilterConfig, RouteActionConfig, RouteConfig, RouteConfiguration, TypedPerFilterConfig, UpgradeConfig,
  VirtualHostConfig, WeightedClusterEntry,
} from '../proxy/config/types.js';
import {
  dataSource, fractionalPercent, HEADER_MUTATION_FIELDS, headerMutations, headerName, mustBeTrue,
  regexMatchAndSubstitute,
} from './core.js';
import type { Ctx } from './decode/context.js';
import {
  asList, bool, defineMessage, duration, enumeration, integer, isObject, itemCtx, list, message, nonEmptyString, positiveDuration,
  reader, string,
  readMessage, UINT32_MAX, uint32, wrapped, type Msg, type Reader,
} from './decode/readers.js';
import { typedConfig } from './decode/typed.js';

/** Envoy refuses direct response bodies above max_direct_response_body_size_bytes (default 4 KiB). */
export const MAX_DIRECT_RESPONSE_BODY_BYTES = 4096;

/** Envoy's route timeout default. */
const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

export { headerMatcher, queryParameterMatcher, routeMatch } from './route-match.js';
import { routeMatch } from './route-match.js';

// ───────────────────────────── retries ─────────────────────────────

/** retry_on conditions Weft implements. */
export const RETRY_ON_CONDITIONS = [
  '5xx', 'gateway-error', 'reset', 'connect-failure', 'retriable-4xx', 'refused-stream', 'retriable-status-codes',
  'cancelled', 'deadline-exceeded', 'resource-exhausted', 'unavailable', 'internal',
] as const;

const retryOn: Reader<string[]> = reader('a comma-separated list of retry conditions', (ctx, v) => {
  if (typeof v !== 'string') return ctx.expected('a comma-separated list of retry conditions', v);
  const tokens = v.split(',').map((t) => t.trim()).filter((t) => t !== '');
  const bad = tokens.filter((t) => !(RETRY_ON_CONDITIONS as readonly string[]).includes(t));
  if (bad.length > 0) {
    return ctx.expected(`retry conditions among ${RETRY_ON_CONDITIONS.join(', ')} (${bad.map((b) => JSON.stringify(b)).join(', ')} not supported)`, v);
  }
  return [...new Set(tokens)];
});

const RETRY_BACK_OFF = defineMessage({
  name: 'envoy.config.route.v3.RetryPolicy.RetryBackOff',
  fields: ['base_interval', 'max_interval'],
});

const DEFAULT_BACK_OFF = { baseIntervalMs: 25, maxIntervalMs: 250 };

const retryBackOff: Reader<RetryPolicyConfig['backOff']> = message(RETRY_BACK_OFF, (m) => {
  const base = m.req('base_interval', positiveDuration);
  const max = m.opt('max_interval', positiveDuration);
  if (base === undefined) return undefined;
  if (max !== undefined && max < base) {
    m.at('max_interval').expected(`a duration not below base_interval (${base / 1000}s)`, m.raw('max_interval'));
  }
  return { baseIntervalMs: base, maxIntervalMs: max ?? base * 10 };
});

const RETRY_POLICY = defineMessage({
  name: 'envoy.config.route.v3.RetryPolicy',
  fields: ['retry_on', 'num_retries', 'per_try_timeout', 'retriable_status_codes', 'retry_back_off'],
  unsupported: [
    'per_try_idle_timeout', 'retry_priority', 'retry_host_predicate', 'retry_options_predicates',
    'host_selection_retry_max_attempts', 'rate_limited_retry_back_off', 'retriable_headers',
    'retriable_request_headers',
  ],
});

/** envoy.config.route.v3.RetryPolicy. */
export const retryPolicy: Reader<RetryPolicyConfig> = message(RETRY_POLICY, (m) => ({
  retryOn: m.get('retry_on', retryOn, []),
  numRetries: m.get('num_retries', wrapped(uint32), 1),
  perTryTimeoutMs: m.get('per_try_timeout', duration, 0),
  retriableStatusCodes: m.get('retriable_status_codes', list(integer(100, 599)), []),
  backOff: m.get('retry_back_off', retryBackOff, DEFAULT_BACK_OFF),
}));

// ───────────────────────────── route action ─────────────────────────────

/** Records a cluster name for the caller's existence check. */
function referenceCluster(ctx: Ctx, name: string): void {
  ctx.env.clusterRefs.push({ path: ctx.path, name });
}

const clusterName: Reader<string> = reader('a cluster name', (ctx, v) => {
  const name = nonEmptyString(ctx, v);
  if (name !== undefined) referenceCluster(ctx, name);
  return name;
});

const CLUSTER_WEIGHT = defineMessage({
  name: 'envoy.config.route.v3.WeightedCluster.ClusterWeight',
  fields: ['name', 'weight', ...HEADER_MUTATION_FIELDS],
  unsupported: ['cluster_header', 'metadata_match', 'typed_per_filter_config', 'host_rewrite_literal'],
});

const clusterWeight: Reader<WeightedClusterEntry> = message(CLUSTER_WEIGHT, (m) => {
  const name = m.req('name', clusterName);
  const weight = m.get('weight', wrapped(uint32), 0);
  const mutations = headerMutations(m);
  return name === undefined ? undefined : { name, weight, ...mutations };
});

const WEIGHTED_CLUSTER = defineMessage({
  name: 'envoy.config.route.v3.WeightedCluster',
  fields: ['clusters'],
  unsupported: ['runtime_key_prefix', 'header_name', 'use_hash_policy'],
  // Deprecated: clients use the sum of the weights.
  informational: ['total_weight'],
});

const weightedCluster: Reader<NonNullable<RouteActionConfig['weightedClusters']>> = message(WEIGHTED_CLUSTER, (m) => {
  const clusters = m.req('clusters', list(clusterWeight, { minItems: 1 }));
  m.opt('total_weight', wrapped(uint32));
  if (clusters === undefined) return undefined;
  const total = clusters.reduce((sum, c) => sum + c.weight, 0);
  if (total <= 0 || total > UINT32_MAX) {
    m.at('clusters').expected(`weights summing to 1..${UINT32_MAX}`, clusters.map((c) => c.weight));
  }
  return { clusters, totalWeight: total };
});

const RUNTIME_FRACTIONAL_PERCENT = defineMessage({
  name: 'envoy.config.core.v3.RuntimeFractionalPercent',
  fields: ['default_value'],
  unsupported: ['runtime_key'],
});

/** RuntimeFractionalPercent's default_value as a fraction 0..1 (no runtime: runtime_key is refused). */
export const runtimeFraction: Reader<number> = message(RUNTIME_FRACTIONAL_PERCENT, (m) => m.req('default_value', fractionalPercent));

const REQUEST_MIRROR_POLICY = defineMessage({
  name: 'envoy.config.route.v3.RouteAction.RequestMirrorPolicy',
  fields: ['cluster', 'runtime_fraction'],
  unsupported: [
    'cluster_header', 'trace_sampled', 'disable_shadow_host_suffix_append', 'request_headers_mutations',
    'host_rewrite_literal',
  ],
});

const requestMirrorPolicy: Reader<RequestMirrorPolicyConfig> = message(REQUEST_MIRROR_POLICY, (m) => {
  const which = m.oneof(['cluster'], { required: true, others: ['cluster_header'] });
  const cluster = which === undefined ? undefined : m.opt('cluster', clusterName);
  const fraction = m.get('runtime_fraction', runtimeFraction, 1);
  return cluster === undefined ? undefined : { cluster, fraction };
});

const HASH_HEADER = defineMessage({
  name: 'envoy.config.route.v3.RouteAction.HashPolicy.Header',
  fields: ['header_name'],
  unsupported: ['regex_rewrite'],
});
const HASH_COOKIE = defineMessage({
  name: 'envoy.config.route.v3.RouteAction.HashPolicy.Cookie',
  fields: ['name', 'ttl', 'path'],
  unsupported: ['attributes'],
});
const HASH_CONNECTION_PROPERTIES = defineMessage({
  name: 'envoy.config.route.v3.RouteAction.HashPolicy.ConnectionProperties',
  fields: ['source_ip'],
});
const HASH_POLICY = defineMessage({
  name: 'envoy.config.route.v3.RouteAction.HashPolicy',
  fields: ['header', 'cookie', 'connection_properties', 'terminal'],
  unsupported: ['query_parameter', 'filter_state'],
});

const hashHeader = message(HASH_HEADER, (m) => m.req('header_name', headerName));
const hashCookie = message(HASH_COOKIE, (m) => {
  const name = m.req('name', nonEmptyString);
  const ttl = m.opt('ttl', duration);
  const path = m.get('path', string, '');
  return name === undefined ? undefined : { name, ttlMs: ttl ?? null, path };
});
const hashConnection = message(HASH_CONNECTION_PROPERTIES, (m) =>
  mustBeTrue(m.at('source_ip'), m.req('source_ip', bool), 'the only connection property'));

/** envoy.config.route.v3.RouteAction.HashPolicy: header, cookie or connection_properties.source_ip. */
export const hashPolicy: Reader<HashPolicyConfig> = message(HASH_POLICY, (m) => {
  const terminal = m.get('terminal', bool, false);
  switch (m.oneof(['header', 'cookie', 'connection_properties'], { required: true, others: ['query_parameter', 'filter_state'] })) {
    case 'header': {
      const headerName = m.opt('header', hashHeader);
      return headerName === undefined ? undefined : { kind: 'header', headerName, terminal };
    }
    case 'cookie': {
      const c = m.opt('cookie', hashCookie);
      return c === undefined ? undefined : { kind: 'cookie', ...c, terminal };
    }
    case 'connection_properties':
      return m.opt('connection_properties', hashConnection) ? { kind: 'source_ip', terminal } : undefined;
    default:
      return undefined;
  }
});

const ROUTE_UPGRADE_CONFIG = defineMessage({
  name: 'envoy.config.route.v3.RouteAction.UpgradeConfig',
  fields: ['upgrade_type', 'enabled'],
  unsupported: ['connect_config'],
});

const upgradeType: Reader<string> = reader('an upgrade protocol name', (ctx, v) =>
  typeof v === 'string' && /^[!#$%&'*+\-.^_`|~0-9A-Za-z/]+$/.test(v) ? v.toLowerCase() : ctx.expected('an upgrade protocol name', v));

/** Reads an UpgradeConfig-shaped message (route- or HCM-level). */
export function upgradeConfigFields(m: Msg): UpgradeConfig | undefined {
  const type = m.req('upgrade_type', upgradeType);
  const enabled = m.get('enabled', wrapped(bool), true);
  return type === undefined ? undefined : { upgradeType: type, enabled };
}

const routeUpgradeConfig: Reader<UpgradeConfig> = message(ROUTE_UPGRADE_CONFIG, upgradeConfigFields);

const ROUTE_ACTION = defineMessage({
  name: 'envoy.config.route.v3.RouteAction',
  fields: [
    'cluster', 'cluster_header', 'weighted_clusters', 'prefix_rewrite', 'regex_rewrite', 'host_rewrite_literal',
    'auto_host_rewrite', 'timeout', 'idle_timeout', 'retry_policy', 'request_mirror_policies', 'hash_policy',
    'upgrade_configs', 'max_stream_duration', 'max_grpc_timeout', 'grpc_timeout_offset',
  ],
  unsupported: [
    'cluster_specifier_plugin', 'inline_cluster_specifier_plugin', 'cluster_not_found_response_code', 'metadata_match',
    'path_rewrite_policy', 'path_rewrite', 'host_rewrite_header', 'host_rewrite_path_regex', 'host_rewrite',
    'append_x_forwarded_host', 'flush_timeout', 'early_data_policy', 'retry_policy_typed_config', 'priority',
    'rate_limits', 'include_vh_rate_limits', 'cors',
    'internal_redirect_policy', 'internal_redirect_action', 'max_internal_redirects', 'hedge_policy',
  ],
});

const MAX_STREAM_DURATION = defineMessage({
  name: 'envoy.config.route.v3.RouteAction.MaxStreamDuration',
  fields: ['max_stream_duration', 'grpc_timeout_header_max', 'grpc_timeout_header_offset'],
});

/** RouteAction.MaxStreamDuration: a stream duration limit, and whether grpc-timeout sets it. */
const maxStreamDuration: Reader<MaxStreamDurationConfig> = message(MAX_STREAM_DURATION, (m) => ({
  maxStreamDurationMs: m.opt('max_stream_duration', duration) ?? null,
  grpcTimeoutHeaderMaxMs: m.opt('grpc_timeout_header_max', duration) ?? null,
  grpcTimeoutHeaderOffsetMs: m.get('grpc_timeout_header_offset', duration, 0),
}));

const hostHeaderValue: Reader<string> = reader('a host name', (ctx, v) =>
  typeof v === 'string' && v !== '' && !/[\0\r\n\s/]/.test(v) ? v : ctx.expected('a host name', v));

/** envoy.config.route.v3.RouteAction. */
export const routeAction: Reader<RouteActionConfig> = message(ROUTE_ACTION, (m) => {
  const target = m.oneof(['cluster', 'cluster_header', 'weighted_clusters'], {
    required: true, others: ['cluster_specifier_plugin', 'inline_cluster_specifier_plugin'],
  });
  const cluster = target === 'cluster' ? m.opt('cluster', clusterName) : undefined;
  const clusterHeader = target === 'cluster_header' ? m.opt('cluster_header', headerName) : undefined;
  const weighted = target === 'weighted_clusters' ? m.opt('weighted_clusters', weightedCluster) : undefined;

  const prefixRewrite = m.opt('prefix_rewrite', string);
  const regexRewrite = m.opt('regex_rewrite', regexMatchAndSubstitute);
  if (m.has('prefix_rewrite') && m.has('regex_rewrite')) {
    m.ctx.expected('at most one of prefix_rewrite, regex_rewrite', ['prefix_rewrite', 'regex_rewrite']);
  }
  const hostRewrite = m.oneof(['host_rewrite_literal', 'auto_host_rewrite'], {
    required: false, others: ['host_rewrite_header', 'host_rewrite_path_regex', 'host_rewrite'],
  });
  const hostRewriteLiteral = hostRewrite === 'host_rewrite_literal' ? m.opt('host_rewrite_literal', hostHeaderValue) : undefined;
  const autoHostRewrite = hostRewrite === 'auto_host_rewrite' ? m.get('auto_host_rewrite', wrapped(bool), false) : false;

  const action: RouteActionConfig = {
    kind: 'route',
    cluster: cluster ?? null,
    clusterHeader: clusterHeader ?? null,
    weightedClusters: weighted ?? null,
    prefixRewrite: prefixRewrite ?? null,
    regexRewrite: regexRewrite ?? null,
    hostRewriteLiteral: hostRewriteLiteral ?? null,
    autoHostRewrite,
    timeoutMs: m.get('timeout', duration, DEFAULT_ROUTE_TIMEOUT_MS),
    idleTimeoutMs: m.opt('idle_timeout', duration) ?? null,
    retryPolicy: m.opt('retry_policy', retryPolicy) ?? null,
    requestMirrorPolicies: m.get('request_mirror_policies', list(requestMirrorPolicy), []),
    hashPolicy: m.get('hash_policy', list(hashPolicy), []),
    upgradeConfigs: m.get('upgrade_configs', list(routeUpgradeConfig), []),
    maxStreamDuration: m.opt('max_stream_duration', maxStreamDuration) ?? null,
    maxGrpcTimeoutMs: m.opt('max_grpc_timeout', duration) ?? null,
    grpcTimeoutOffsetMs: m.get('grpc_timeout_offset', duration, 0),
  };
  return action.cluster === null && action.clusterHeader === null && action.weightedClusters === null ? undefined : action;
});

// ───────────────────────────── redirect & direct response ─────────────────────────────

const REDIRECT_ACTION = defineMessage({
  name: 'envoy.config.route.v3.RedirectAction',
  fields: [
    'https_redirect', 'scheme_redirect', 'host_redirect', 'port_redirect', 'path_redirect', 'prefix_rewrite',
    'regex_rewrite', 'response_code', 'strip_query',
  ],
});

const REDIRECT_CODES = {
  MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308,
} as const;
const redirectCodeEnum = enumeration({
  MOVED_PERMANENTLY: 0, FOUND: 1, SEE_OTHER: 2, TEMPORARY_REDIRECT: 3, PERMANENT_REDIRECT: 4,
});

const scheme: Reader<string> = reader('a URL scheme', (ctx, v) =>
  typeof v === 'string' && /^[A-Za-z][A-Za-z0-9+.-]*$/.test(v) ? v.toLowerCase() : ctx.expected('a URL scheme', v));

/** envoy.config.route.v3.RedirectAction. */
export const redirectAction: Reader<RedirectActionConfig> = message(REDIRECT_ACTION, (m) => {
  let schemeRedirect: string | null = null;
  switch (m.oneof(['https_redirect', 'scheme_redirect'], { required: false })) {
    case 'https_redirect':
      if (m.get('https_redirect', bool, false)) schemeRedirect = 'https';
      break;
    case 'scheme_redirect':
      schemeRedirect = m.opt('scheme_redirect', scheme) ?? null;
      break;
  }
  const pathKind = m.oneof(['path_redirect', 'prefix_rewrite', 'regex_rewrite'], { required: false });
  const port = m.get('port_redirect', integer(0, 65535), 0);
  return {
    kind: 'redirect',
    schemeRedirect,
    hostRedirect: m.opt('host_redirect', hostHeaderValue) ?? null,
    portRedirect: port === 0 ? null : port,
    pathRedirect: pathKind === 'path_redirect' ? m.opt('path_redirect', string) ?? null : null,
    prefixRewrite: pathKind === 'prefix_rewrite' ? m.opt('prefix_rewrite', string) ?? null : null,
    regexRewrite: pathKind === 'regex_rewrite' ? m.opt('regex_rewrite', regexMatchAndSubstitute) ?? null : null,
    responseCode: REDIRECT_CODES[m.get('response_code', redirectCodeEnum, 'MOVED_PERMANENTLY')],
    stripQuery: m.get('strip_query', bool, false),
  };
});

const DIRECT_RESPONSE_ACTION = defineMessage({
  name: 'envoy.config.route.v3.DirectResponseAction',
  fields: ['status', 'body'],
  unsupported: ['body_format'],
});

const directBody: Reader<string> = reader(`a DataSource of at most ${MAX_DIRECT_RESPONSE_BODY_BYTES} bytes`, (ctx, v) => {
  const body = dataSource(ctx, v);
  if (body === undefined) return undefined;
  const size = Buffer.byteLength(body);
  if (size > MAX_DIRECT_RESPONSE_BODY_BYTES) {
    return ctx.fail(`expected a body of at most ${MAX_DIRECT_RESPONSE_BODY_BYTES} bytes (Envoy's limit), got ${size} bytes`);
  }
  return body;
});

/** envoy.config.route.v3.DirectResponseAction (status 200..599, as Envoy validates). */
export const directResponseAction: Reader<DirectResponseActionConfig> = message(DIRECT_RESPONSE_ACTION, (m) => {
  const status = m.req('status', integer(200, 599));
  const body = m.opt('body', directBody);
  return status === undefined ? undefined : { kind: 'direct_response', status, body: body ?? null };
});

// ───────────────────────────── typed_per_filter_config ─────────────────────────────

const FILTER_CONFIG = defineMessage({
  name: 'envoy.config.route.v3.FilterConfig',
  fields: ['config', 'is_optional', 'disabled'],
});

/**
 * One typed_per_filter_config value: a filter's per-route type (looked up by type URL in the
 * registry), or envoy.config.route.v3.FilterConfig wrapping one (`disabled: true` turns the filter
 * off at that level; `is_optional` lets an unknown type be ignored). null = ignored.
 */
function perFilterValue(name: string): Reader<PerFilterConfig | null> {
  const inner = typedConfig('http_filter_per_route', { name });
  return reader('an object with "@type"', (ctx, v) => {
    const url = isObject(v) ? v['@type'] : undefined;
    if (typeof url !== 'string' || !url.endsWith('/' + FILTER_CONFIG.name)) return inner(ctx, v);
    const m = readMessage(ctx, v, FILTER_CONFIG, { allowTypeKey: true });
    if (m === undefined) return undefined;
    const disabled = m.get('disabled', bool, false);
    const optional = m.get('is_optional', bool, false);
    if (disabled) return { kind: 'disabled' };
    if (!m.has('config')) return m.at('config').expected('a per-route filter config (or disabled: true)', undefined);
    const config = m.raw('config');
    const type = isObject(config) ? config['@type'] : undefined;
    if (optional && typeof type === 'string' && ctx.env.extensions.find(type, 'http_filter_per_route') === undefined) return null;
    return m.opt('config', inner);
  });
}

/** typed_per_filter_config: HTTP filter name → its config at this level. */
export const typedPerFilterConfig: Reader<TypedPerFilterConfig> = reader('an object keyed by HTTP filter name', (ctx, v) => {
  if (!isObject(v)) return ctx.expected('an object keyed by HTTP filter name', v);
  const out: Record<string, PerFilterConfig> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === '') { ctx.key(k).expected('a filter name', k); continue; }
    const r = perFilterValue(k)(ctx.key(k), x);
    if (r !== undefined && r !== null) out[k] = r;
  }
  return out;
});

/** Adds `typedPerFilterConfig` to a decoded config only when it has entries (absent otherwise). */
function withPerFilter(p: TypedPerFilterConfig | undefined): { typedPerFilterConfig?: TypedPerFilterConfig } {
  return p === undefined || Object.keys(p).length === 0 ? {} : { typedPerFilterConfig: p };
}

// ───────────────────────────── route, virtual host, route configuration ─────────────────────────────

const ROUTE = defineMessage({
  name: 'envoy.config.route.v3.Route',
  fields: ['name', 'match', 'route', 'redirect', 'direct_response', 'typed_per_filter_config', ...HEADER_MUTATION_FIELDS],
  unsupported: [
    'filter_action', 'non_forwarding_action', 'metadata', 'decorator', 'tracing',
    'per_request_buffer_limit_bytes', 'stat_prefix', 'request_body_buffer_limit',
  ],
});

/** envoy.config.route.v3.Route: a match and exactly one of route / redirect / direct_response. */
export const route: Reader<RouteConfig> = message(ROUTE, (m) => {
  const name = m.get('name', string, '');
  const match = m.req('match', routeMatch);
  let action: RouteConfig['action'] | undefined;
  switch (m.oneof(['route', 'redirect', 'direct_response'], { required: true, others: ['filter_action', 'non_forwarding_action'] })) {
    case 'route': action = m.opt('route', routeAction); break;
    case 'redirect': action = m.opt('redirect', redirectAction); break;
    case 'direct_response': action = m.opt('direct_response', directResponseAction); break;
  }
  const mutations = headerMutations(m);
  const perFilter = m.opt('typed_per_filter_config', typedPerFilterConfig);
  if (match === undefined || action === undefined) return undefined;
  return { name, match, action, ...mutations, ...withPerFilter(perFilter) };
});

const VIRTUAL_HOST = defineMessage({
  name: 'envoy.config.route.v3.VirtualHost',
  fields: ['name', 'domains', 'routes', 'retry_policy', 'typed_per_filter_config', ...HEADER_MUTATION_FIELDS],
  unsupported: [
    'matcher', 'require_tls', 'virtual_clusters', 'rate_limits', 'cors',
    'include_request_attempt_count', 'include_attempt_count_in_response', 'retry_policy_typed_config', 'hedge_policy',
    'include_is_timeout_retry_header', 'per_request_buffer_limit_bytes', 'request_body_buffer_limit',
    'request_mirror_policies', 'metadata',
  ],
});

const DOMAIN_WHAT = 'a domain with at most one wildcard, leading ("*.example.com", "*-bar.example.com") or trailing ("example.*")';

/** A virtual host domain: `*`, or a host (optionally `:port`) with a `*` only at its start or end. */
const domain: Reader<string> = reader(DOMAIN_WHAT, (ctx, v) => {
  if (typeof v !== 'string' || v === '' || /[\s\0/]/.test(v)) return ctx.expected(DOMAIN_WHAT, v);
  const stars = v.split('*').length - 1;
  if (stars === 0 || v === '*') return v;
  if (stars === 1 && v.length > 1 && (v.startsWith('*') || v.endsWith('*'))) return v;
  return ctx.expected(DOMAIN_WHAT, v);
});

/** envoy.config.route.v3.VirtualHost. */
export const virtualHost: Reader<VirtualHostConfig> = message(VIRTUAL_HOST, (m) => {
  const name = m.req('name', nonEmptyString);
  const domains = m.req('domains', list(domain, { minItems: 1 }));
  const routes = m.get('routes', list(route), []);
  const retry = m.opt('retry_policy', retryPolicy);
  const mutations = headerMutations(m);
  const perFilter = m.opt('typed_per_filter_config', typedPerFilterConfig);
  if (name === undefined || domains === undefined) return undefined;
  return { name, domains, routes, retryPolicy: retry ?? null, ...mutations, ...withPerFilter(perFilter) };
});

/**
 * Envoy rejects a domain (compared case-insensitively) that appears twice in one route
 * configuration, including a second `*`.
 */
function checkUniqueDomains(ctx: Ctx, rawHosts: unknown): void {
  const seen = new Map<string, string>();
  const hostsCtx = ctx.field('virtual_hosts');
  asList(rawHosts).forEach((vh: unknown, i) => {
    const rawDomains = isObject(vh) ? vh.domains : undefined;
    const domainsCtx = itemCtx(hostsCtx, rawHosts, i).field('domains');
    asList(rawDomains).forEach((d, j) => {
      if (typeof d !== 'string') return;
      const key = d.toLowerCase();
      const first = seen.get(key);
      const at = itemCtx(domainsCtx, rawDomains, j);
      if (first === undefined) seen.set(key, at.path.slice(ctx.path === '' ? 0 : ctx.path.length + 1));
      else at.expected(`a domain not already used (by ${first})`, d);
    });
  });
}

const ROUTE_CONFIGURATION = defineMessage({
  name: 'envoy.config.route.v3.RouteConfiguration',
  fields: ['name', 'virtual_hosts', 'validate_clusters', 'typed_per_filter_config', ...HEADER_MUTATION_FIELDS],
  unsupported: [
    'vhds', 'internal_only_headers', 'most_specific_header_mutations_wins', 'max_direct_response_body_size_bytes',
    'cluster_specifier_plugins', 'request_mirror_policies', 'ignore_port_in_host_matching', 'vhost_header',
    'ignore_path_parameters_in_path_matching', 'metadata',
  ],
});

/**
 * envoy.config.route.v3.RouteConfiguration. Cluster names used by its routes go to
 * `ctx.env.clusterRefs` unless `validate_clusters` is false (`validateClustersDefault` is
 * Envoy's default for where the config came from: true inline, false over RDS).
 */
export function routeConfiguration(validateClustersDefault: boolean): Reader<RouteConfiguration> {
  return message(ROUTE_CONFIGURATION, (m) => {
    const validate = m.get('validate_clusters', wrapped(bool), validateClustersDefault);
    const name = m.get('name', string, '');
    const hostsCtx = m.at('virtual_hosts');
    const scoped = validate ? hostsCtx : hostsCtx.withEnv({ ...hostsCtx.env, clusterRefs: [] });
    const hosts = m.has('virtual_hosts') ? list(virtualHost)(scoped, m.raw('virtual_hosts')) ?? [] : [];
    checkUniqueDomains(m.ctx, m.raw('virtual_hosts'));
    const perFilter = m.opt('typed_per_filter_config', typedPerFilterConfig);
    return { name, virtualHosts: hosts, ...headerMutations(m), ...withPerFilter(perFilter) };
  });
}
