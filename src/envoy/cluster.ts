// Decoders for envoy.config.cluster.v3.Cluster (cluster.proto, circuit_breaker.proto) and its
// ClusterLoadAssignment (envoy.config.endpoint.v3 endpoint.proto, endpoint_components.proto),
// including transport_socket_matches and the endpoint / locality metadata they match on
// (envoy.config.core.v3.Metadata.filter_metadata; typed_filter_metadata is refused).

import type {
  ClusterConfig, DiscoveryType, FilterMetadata, LbEndpointConfig, LbPolicy, LocalityLbEndpointsConfig, SocketAddress,
  TransportSocketMatchConfig, UpstreamTlsConfig,
} from '../proxy/config/types.js';
import { adsConfigSource } from './config-source.js';
import { address, locality, percent } from './core.js';
import type { Ctx } from './decode/context.js';
import {
  defineMessage, enumeration, integer, isObject, list, mapOf, message, nonEmptyString, positiveDuration, reader,
  readMessage, string, struct, supportedValue, uint32, uint64, wrapped, type Reader,
} from './decode/readers.js';
import { typedConfig } from './decode/typed.js';
import { DEFAULT_BUFFER_LIMIT_BYTES } from './listener.js';
import { outlierDetection } from './outlier-detection.js';
import { DEFAULT_HTTP2_OPTIONS, http2ProtocolOptions } from './protocol-options.js';
import { transportSocket } from './tls.js';
import { UPSTREAM_HTTP_PROTOCOL_OPTIONS_KEY, type UpstreamHttpProtocolOptionsConfig } from './upstream-http.js';

const DEFAULTS = {
  connectTimeoutMs: 5_000,
  dnsRefreshRateMs: 5_000,
  healthyPanicThresholdPercent: 50,
  choiceCount: 2,
  minimumRingSize: 1024,
  maximumRingSize: 8_388_608,
  maglevTableSize: 65_537,
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
  maxRetries: 3,
  upstreamIdleTimeoutMs: 3_600_000,
};

const MAX_RING_SIZE = 8_388_608;
const MAX_MAGLEV_TABLE_SIZE = 5_000_011;
const MAX_PRIORITY = 128;

// ───────────────────────────── endpoints ─────────────────────────────

const ENDPOINT = defineMessage({
  name: 'envoy.config.endpoint.v3.Endpoint',
  fields: ['address'],
  unsupported: ['health_check_config', 'hostname', 'additional_addresses'],
});

const LB_ENDPOINT = defineMessage({
  name: 'envoy.config.endpoint.v3.LbEndpoint',
  fields: ['endpoint', 'health_status', 'load_balancing_weight', 'metadata'],
  unsupported: ['endpoint_name'],
});

const METADATA = defineMessage({
  name: 'envoy.config.core.v3.Metadata',
  fields: ['filter_metadata'],
  unsupported: ['typed_filter_metadata'],
});

/** envoy.config.core.v3.Metadata → its filter_metadata (filter name → Struct), frozen. */
const filterMetadata: Reader<FilterMetadata> = message(METADATA, (m) => {
  const map = m.get('filter_metadata', mapOf(struct), new Map<string, Record<string, unknown>>());
  return Object.freeze(Object.fromEntries(map));
});

const healthStatusEnum = enumeration({ UNKNOWN: 0, HEALTHY: 1, UNHEALTHY: 2, DRAINING: 3, TIMEOUT: 4, DEGRADED: 5 });

function lbEndpoint(endpointAddress: Reader<SocketAddress>): Reader<LbEndpointConfig> {
  const endpoint = message(ENDPOINT, (m) => m.req('address', endpointAddress));
  return message(LB_ENDPOINT, (m) => {
    const which = m.oneof(['endpoint'], { required: true, others: ['endpoint_name'] });
    const addr = which === undefined ? undefined : m.opt('endpoint', endpoint);
    const healthStatus = m.get('health_status', healthStatusEnum, 'UNKNOWN');
    const loadBalancingWeight = m.get('load_balancing_weight', wrapped(integer(1, 4294967295)), 1);
    const metadata = m.opt('metadata', filterMetadata);
    if (addr === undefined) return undefined;
    return { address: addr, loadBalancingWeight, healthStatus, ...(metadata === undefined ? {} : { metadata }) };
  });
}

const LOCALITY_LB_ENDPOINTS = defineMessage({
  name: 'envoy.config.endpoint.v3.LocalityLbEndpoints',
  fields: ['locality', 'lb_endpoints', 'load_balancing_weight', 'priority', 'metadata'],
  unsupported: ['load_balancer_endpoints', 'leds_cluster_locality_config', 'proximity'],
});

function localityLbEndpoints(endpointAddress: Reader<SocketAddress>): Reader<LocalityLbEndpointsConfig> {
  const endpoints = list(lbEndpoint(endpointAddress));
  return message(LOCALITY_LB_ENDPOINTS, (m) => {
    const metadata = m.opt('metadata', filterMetadata);
    return {
      locality: m.get('locality', locality, { region: '', zone: '', subZone: '' }),
      loadBalancingWeight: m.opt('load_balancing_weight', wrapped(integer(1, 4294967295))) ?? null,
      priority: m.get('priority', integer(0, MAX_PRIORITY), 0),
      lbEndpoints: m.get('lb_endpoints', endpoints, []),
      ...(metadata === undefined ? {} : { metadata }),
    };
  });
}

const CLUSTER_LOAD_ASSIGNMENT = defineMessage({
  name: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  fields: ['cluster_name', 'endpoints'],
  unsupported: ['named_endpoints', 'policy'],
});

/** Envoy requires priorities 0..N without gaps. */
function checkPriorities(ctx: Ctx, groups: readonly LocalityLbEndpointsConfig[]): void {
  const priorities = [...new Set(groups.map((g) => g.priority))].sort((a, b) => a - b);
  if (priorities.some((p, i) => p !== i)) ctx.expected('priorities contiguous from 0', priorities);
}

function loadAssignment(type: DiscoveryType): Reader<LocalityLbEndpointsConfig[]> {
  const endpointAddress = address({ host: type === 'STATIC' || type === 'EDS' ? 'ip' : 'host', allowPortZero: false, allowPipe: type === 'STATIC' });
  const groups = list(localityLbEndpoints(endpointAddress));
  return message(CLUSTER_LOAD_ASSIGNMENT, (m) => {
    m.req('cluster_name', nonEmptyString); // Envoy requires it; Weft uses the cluster's own name
    const endpoints = m.get('endpoints', groups, []);
    checkPriorities(m.at('endpoints'), endpoints);
    if (type === 'LOGICAL_DNS') {
      const count = endpoints.reduce((n, g) => n + g.lbEndpoints.length, 0);
      if (endpoints.length !== 1 || count !== 1) {
        m.at('endpoints').fail(`expected exactly one locality with one endpoint for a LOGICAL_DNS cluster, got ${count} endpoint${count === 1 ? '' : 's'} in ${endpoints.length} localit${endpoints.length === 1 ? 'y' : 'ies'}`);
      }
    }
    return endpoints;
  });
}

// ───────────────────────────── load balancing ─────────────────────────────

const LEAST_REQUEST_LB_CONFIG = defineMessage({
  name: 'envoy.config.cluster.v3.Cluster.LeastRequestLbConfig',
  fields: ['choice_count'],
  unsupported: ['active_request_bias', 'slow_start_config'],
});
const RING_HASH_LB_CONFIG = defineMessage({
  name: 'envoy.config.cluster.v3.Cluster.RingHashLbConfig',
  fields: ['minimum_ring_size', 'maximum_ring_size', 'hash_function'],
});
const MAGLEV_LB_CONFIG = defineMessage({
  name: 'envoy.config.cluster.v3.Cluster.MaglevLbConfig',
  fields: ['table_size'],
});
const ROUND_ROBIN_LB_CONFIG = defineMessage({
  name: 'envoy.config.cluster.v3.Cluster.RoundRobinLbConfig',
  fields: [],
  unsupported: ['slow_start_config'],
});

const hashFunctionEnum = enumeration({ XX_HASH: 0, MURMUR_HASH_2: 1 });

const leastRequestLbConfig = message(LEAST_REQUEST_LB_CONFIG, (m) => ({
  choiceCount: m.get('choice_count', wrapped(integer(2, 4294967295)), DEFAULTS.choiceCount),
}));

const ringHashLbConfig = message(RING_HASH_LB_CONFIG, (m) => {
  supportedValue(m.at('hash_function'), m.opt('hash_function', hashFunctionEnum), ['XX_HASH']);
  const minimumRingSize = m.get('minimum_ring_size', wrapped(integer(1, MAX_RING_SIZE)), DEFAULTS.minimumRingSize);
  const maximumRingSize = m.get('maximum_ring_size', wrapped(integer(1, MAX_RING_SIZE)), DEFAULTS.maximumRingSize);
  if (minimumRingSize > maximumRingSize) {
    m.at('minimum_ring_size').expected(`a size not above maximum_ring_size (${maximumRingSize})`, minimumRingSize);
  }
  return { minimumRingSize, maximumRingSize };
});

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

const primeTableSize: Reader<number> = reader(`a prime number up to ${MAX_MAGLEV_TABLE_SIZE}`, (ctx, v) => {
  const what = `a prime number up to ${MAX_MAGLEV_TABLE_SIZE}`;
  const n = wrapped(uint64)(ctx, v);
  if (n === undefined) return undefined;
  return n <= MAX_MAGLEV_TABLE_SIZE && isPrime(n) ? n : ctx.expected(what, v);
});

const maglevLbConfig = message(MAGLEV_LB_CONFIG, (m) => ({
  tableSize: m.get('table_size', primeTableSize, DEFAULTS.maglevTableSize),
}));

const roundRobinLbConfig = message(ROUND_ROBIN_LB_CONFIG, () => ({}));

/** Which lb_policy each *_lb_config belongs to. */
const LB_CONFIG_POLICY = {
  least_request_lb_config: 'LEAST_REQUEST',
  ring_hash_lb_config: 'RING_HASH',
  maglev_lb_config: 'MAGLEV',
  round_robin_lb_config: 'ROUND_ROBIN',
} as const;

const COMMON_LB_CONFIG = defineMessage({
  name: 'envoy.config.cluster.v3.Cluster.CommonLbConfig',
  fields: ['healthy_panic_threshold'],
  unsupported: [
    'zone_aware_lb_config', 'locality_weighted_lb_config', 'update_merge_window', 'ignore_new_hosts_until_first_hc',
    'close_connections_on_host_set_change', 'consistent_hashing_lb_config', 'override_host_status',
  ],
});

const commonLbConfig = message(COMMON_LB_CONFIG, (m) =>
  m.get('healthy_panic_threshold', percent, DEFAULTS.healthyPanicThresholdPercent));

// ───────────────────────────── circuit breakers ─────────────────────────────

const THRESHOLDS = defineMessage({
  name: 'envoy.config.cluster.v3.CircuitBreakers.Thresholds',
  fields: ['priority', 'max_connections', 'max_pending_requests', 'max_requests', 'max_retries'],
  unsupported: ['retry_budget', 'track_remaining', 'max_connection_pools'],
});

const CIRCUIT_BREAKERS = defineMessage({
  name: 'envoy.config.cluster.v3.CircuitBreakers',
  fields: ['thresholds'],
  unsupported: ['per_host_thresholds'],
});

const routingPriorityEnum = enumeration({ DEFAULT: 0, HIGH: 1 });

interface Thresholds {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
}

const DEFAULT_THRESHOLDS: Thresholds = {
  maxConnections: DEFAULTS.maxConnections,
  maxPendingRequests: DEFAULTS.maxPendingRequests,
  maxRequests: DEFAULTS.maxRequests,
  maxRetries: DEFAULTS.maxRetries,
};

const thresholds = message(THRESHOLDS, (m) => {
  supportedValue(m.at('priority'), m.get('priority', routingPriorityEnum, 'DEFAULT'), ['DEFAULT']);
  return {
    maxConnections: m.get('max_connections', wrapped(uint32), DEFAULTS.maxConnections),
    maxPendingRequests: m.get('max_pending_requests', wrapped(uint32), DEFAULTS.maxPendingRequests),
    maxRequests: m.get('max_requests', wrapped(uint32), DEFAULTS.maxRequests),
    maxRetries: m.get('max_retries', wrapped(uint32), DEFAULTS.maxRetries),
  };
});

const circuitBreakers: Reader<Thresholds> = message(CIRCUIT_BREAKERS, (m) => {
  const all = m.get('thresholds', list(thresholds), []);
  if (all.length > 1) m.at('thresholds').expected('at most one entry (for priority DEFAULT)', m.raw('thresholds'));
  return all[0] ?? DEFAULT_THRESHOLDS;
});

// ───────────────────────────── transport sockets ─────────────────────────────

const RAW_BUFFER_TYPE = 'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';
const RAW_BUFFER = defineMessage({ name: RAW_BUFFER_TYPE, fields: [] });
const RAW_TRANSPORT_SOCKET = defineMessage({
  name: 'envoy.config.core.v3.TransportSocket',
  fields: ['typed_config'],
  informational: ['name'],
});

/** raw_buffer's typed_config (no fields). */
const rawBuffer: Reader<'raw_buffer'> = reader(`a ${RAW_BUFFER_TYPE} object`, (ctx, v) =>
  readMessage(ctx, v, RAW_BUFFER, { allowTypeKey: true }) === undefined ? undefined : 'raw_buffer');

const rawTransportSocket = message(RAW_TRANSPORT_SOCKET, (m) => m.req('typed_config', rawBuffer));
const tlsTransportSocket = transportSocket('upstream_transport_socket');

function isRawBuffer(v: unknown): boolean {
  if (!isObject(v)) return false;
  const typed = v.typed_config ?? v.typedConfig;
  const url = isObject(typed) ? typed['@type'] : undefined;
  return typeof url === 'string' && url.slice(url.lastIndexOf('/') + 1) === RAW_BUFFER_TYPE;
}

/**
 * An upstream transport socket: envoy.transport_sockets.tls (an UpstreamTlsContext), or
 * envoy.transport_sockets.raw_buffer (plaintext: null, what Istio's `tlsMode-disabled` match uses).
 */
const upstreamTransportSocket: Reader<UpstreamTlsConfig | null> = reader(tlsTransportSocket.what, (ctx, v) => {
  if (!isRawBuffer(v)) return tlsTransportSocket(ctx, v);
  return rawTransportSocket(ctx, v) === undefined ? undefined : null;
});

const TRANSPORT_SOCKET_MATCH = defineMessage({
  name: 'envoy.config.cluster.v3.Cluster.TransportSocketMatch',
  fields: ['name', 'match', 'transport_socket'],
});

const transportSocketMatch: Reader<TransportSocketMatchConfig> = message(TRANSPORT_SOCKET_MATCH, (m) => {
  const name = m.req('name', nonEmptyString);
  const match = m.get('match', struct, {});
  // Envoy requires a transport socket factory for every match; an absent one is refused here.
  const socket = m.req('transport_socket', upstreamTransportSocket);
  if (name === undefined || socket === undefined) return undefined;
  return { name, match: Object.freeze(match), transportSocket: socket };
});

// ───────────────────────────── cluster ─────────────────────────────

const CLUSTER = defineMessage({
  name: 'envoy.config.cluster.v3.Cluster',
  fields: [
    'name', 'type', 'connect_timeout', 'per_connection_buffer_limit_bytes', 'lb_policy', 'load_assignment',
    'max_requests_per_connection', 'circuit_breakers', 'typed_extension_protocol_options', 'dns_refresh_rate',
    'dns_lookup_family', 'common_lb_config', 'least_request_lb_config', 'ring_hash_lb_config', 'maglev_lb_config',
    'round_robin_lb_config', 'http2_protocol_options', 'transport_socket', 'eds_cluster_config', 'outlier_detection',
    'transport_socket_matches',
  ],
  unsupported: [
    'transport_socket_matcher', 'alt_stat_name', 'cluster_type',
    'health_checks', 'upstream_http_protocol_options', 'common_http_protocol_options', 'http_protocol_options',
    'dns_jitter', 'dns_failure_refresh_rate', 'respect_dns_ttl', 'dns_resolvers',
    'use_tcp_for_dns_lookups', 'dns_resolution_config', 'typed_dns_resolver_config', 'wait_for_warm_on_init',
    'cleanup_interval', 'upstream_bind_config', 'lb_subset_config', 'original_dst_lb_config',
    'metadata', 'protocol_selection', 'upstream_connection_options',
    'close_connections_on_host_health_failure', 'ignore_health_on_host_removal', 'filters', 'load_balancing_policy',
    'lrs_server', 'lrs_report_endpoint_metrics', 'track_timeout_budgets', 'upstream_config', 'track_cluster_stats',
    'preconnect_policy', 'connection_pool_per_downstream_connection',
  ],
});

const discoveryTypeEnum = enumeration({ STATIC: 0, STRICT_DNS: 1, LOGICAL_DNS: 2, EDS: 3, ORIGINAL_DST: 4 });
const lbPolicyEnum = enumeration({
  ROUND_ROBIN: 0, LEAST_REQUEST: 1, RING_HASH: 2, RANDOM: 3, MAGLEV: 5, CLUSTER_PROVIDED: 6,
  LOAD_BALANCING_POLICY_CONFIG: 7,
});
const dnsLookupFamilyEnum = enumeration({ AUTO: 0, V4_ONLY: 1, V6_ONLY: 2, V4_PREFERRED: 3, ALL: 4 });

/** typed_extension_protocol_options: only the upstream HTTP protocol options are known. */
const typedExtensionProtocolOptions: Reader<UpstreamHttpProtocolOptionsConfig | null> = reader('an object', (ctx, v) => {
  if (!isObject(v)) return ctx.expected('an object', v);
  let found: UpstreamHttpProtocolOptionsConfig | null = null;
  const options = typedConfig('upstream_http_protocol_options', { name: UPSTREAM_HTTP_PROTOCOL_OPTIONS_KEY });
  for (const [key, value] of Object.entries(v)) {
    if (key !== UPSTREAM_HTTP_PROTOCOL_OPTIONS_KEY) {
      ctx.key(key).fail(`expected only the key ${JSON.stringify(UPSTREAM_HTTP_PROTOCOL_OPTIONS_KEY)}, got ${JSON.stringify(key)}`);
      continue;
    }
    found = options(ctx.key(key), value) ?? null;
  }
  return found;
});

/**
 * envoy.config.endpoint.v3.ClusterLoadAssignment as an EDS resource: IP endpoints, `cluster_name`
 * required (it is the resource name).
 */
export const edsLoadAssignment: Reader<LocalityLbEndpointsConfig[]> = loadAssignment('EDS');

const EDS_CLUSTER_CONFIG = defineMessage({
  name: 'envoy.config.cluster.v3.Cluster.EdsClusterConfig',
  fields: ['eds_config', 'service_name'],
});

const edsClusterConfig = message(EDS_CLUSTER_CONFIG, (m) => {
  const configSource = m.req('eds_config', adsConfigSource);
  const serviceName = m.get('service_name', string, '');
  return configSource === undefined ? undefined : { configSource, serviceName };
});

/** envoy.config.cluster.v3.Cluster (STATIC, STRICT_DNS, LOGICAL_DNS and EDS discovery). */
export const cluster: Reader<ClusterConfig> = message(CLUSTER, (m) => {
  const name = m.req('name', nonEmptyString);
  m.oneof(['type'], { required: false, others: ['cluster_type'] });
  // An invalid type or lb_policy is undefined here (not the default), so that the checks that depend
  // on it (endpoint address kinds, eds_cluster_config, the lb config) are skipped rather than run
  // against a default the config did not ask for.
  const type = supportedValue(m.at('type'), m.orDefault('type', discoveryTypeEnum, 'STATIC'), ['STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS'] as const);
  const lbPolicy: LbPolicy | undefined = supportedValue(
    m.at('lb_policy'), m.orDefault('lb_policy', lbPolicyEnum, 'ROUND_ROBIN'),
    ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH', 'MAGLEV'] as const,
  );

  const lbConfig = m.oneof(Object.keys(LB_CONFIG_POLICY) as (keyof typeof LB_CONFIG_POLICY)[], {
    required: false, others: ['original_dst_lb_config'],
  });
  if (lbConfig !== undefined && lbPolicy !== undefined && LB_CONFIG_POLICY[lbConfig] !== lbPolicy) {
    m.at(lbConfig).fail(`expected only with lb_policy ${LB_CONFIG_POLICY[lbConfig]}, got lb_policy ${lbPolicy}`);
  }
  const leastRequest = m.get('least_request_lb_config', leastRequestLbConfig, { choiceCount: DEFAULTS.choiceCount });
  const ringHash = m.get('ring_hash_lb_config', ringHashLbConfig, {
    minimumRingSize: DEFAULTS.minimumRingSize, maximumRingSize: DEFAULTS.maximumRingSize,
  });
  const maglev = m.get('maglev_lb_config', maglevLbConfig, { tableSize: DEFAULTS.maglevTableSize });
  m.opt('round_robin_lb_config', roundRobinLbConfig);

  // EDS: endpoints come over ADS (a load_assignment is ignored, as in Envoy); eds_cluster_config says from where.
  let eds: ClusterConfig['eds'];
  if (type === 'EDS') {
    const edsConfig = m.req('eds_cluster_config', edsClusterConfig);
    if (edsConfig !== undefined && name !== undefined) {
      eds = { serviceName: edsConfig.serviceName || name, configSource: edsConfig.configSource };
    }
  } else if (m.has('eds_cluster_config') && type !== undefined) {
    m.at('eds_cluster_config').fail(`expected only with type EDS, got type ${type}`);
  }
  const endpoints = type === undefined || type === 'EDS' ? [] : m.get('load_assignment', loadAssignment(type), []);
  const breakers = m.get('circuit_breakers', circuitBreakers, DEFAULT_THRESHOLDS);
  const http = m.opt('typed_extension_protocol_options', typedExtensionProtocolOptions) ?? null;
  // The deprecated Cluster.http2_protocol_options means explicit HTTP/2, as in Envoy.
  const legacyHttp2 = m.opt('http2_protocol_options', http2ProtocolOptions);
  if (legacyHttp2 !== undefined && http !== null) {
    m.at('http2_protocol_options').fail(`expected only one of http2_protocol_options and typed_extension_protocol_options["${UPSTREAM_HTTP_PROTOCOL_OPTIONS_KEY}"], got both`);
  }
  const topLevelMaxRequests = m.opt('max_requests_per_connection', wrapped(uint32));
  if (topLevelMaxRequests !== undefined && http?.maxRequestsPerConnection !== undefined) {
    m.at('max_requests_per_connection').fail(
      'expected only one of max_requests_per_connection and the HttpProtocolOptions one, got both',
    );
  }

  const connectTimeoutMs = m.get('connect_timeout', positiveDuration, DEFAULTS.connectTimeoutMs);
  const dnsRefreshRateMs = m.get('dns_refresh_rate', positiveDuration, DEFAULTS.dnsRefreshRateMs);
  const dnsLookupFamily = m.get('dns_lookup_family', dnsLookupFamilyEnum, 'AUTO');
  const healthyPanicThresholdPercent = m.get('common_lb_config', commonLbConfig, DEFAULTS.healthyPanicThresholdPercent);
  const perConnectionBufferLimitBytes = m.get('per_connection_buffer_limit_bytes', wrapped(uint32), DEFAULT_BUFFER_LIMIT_BYTES);
  const upstreamTls = m.opt('transport_socket', upstreamTransportSocket) ?? null;
  const socketMatches = m.get('transport_socket_matches', list(transportSocketMatch), []);

  const outlier = m.opt('outlier_detection', outlierDetection);

  if (name === undefined || type === undefined || lbPolicy === undefined) return undefined;
  if (type === 'EDS' && eds === undefined) return undefined;
  return {
    name,
    type,
    connectTimeoutMs,
    lbPolicy,
    ...(eds === undefined ? {} : { eds }),
    loadAssignment: { endpoints },
    dnsRefreshRateMs,
    dnsLookupFamily,
    healthyPanicThresholdPercent,
    leastRequest,
    ringHash,
    maglev,
    connectionPool: {
      ...breakers,
      idleTimeoutMs: http?.idleTimeoutMs ?? DEFAULTS.upstreamIdleTimeoutMs,
      maxRequestsPerConnection: http?.maxRequestsPerConnection ?? topLevelMaxRequests ?? 0,
    },
    perConnectionBufferLimitBytes,
    ...(http?.maxHeadersCount === undefined ? {} : { maxResponseHeadersCount: http.maxHeadersCount }),
    upstreamProtocol: http?.protocol ?? (legacyHttp2 !== undefined ? 'HTTP2' : 'HTTP1'),
    http2: http?.http2 ?? legacyHttp2 ?? DEFAULT_HTTP2_OPTIONS,
    transportSocket: upstreamTls,
    ...(socketMatches.length === 0 ? {} : { transportSocketMatches: socketMatches }),
    ...(outlier === undefined ? {} : { outlierDetection: outlier }),
  };
});

