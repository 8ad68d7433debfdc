// The HTTP connection manager network filter,
// envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.

import type { HttpConnectionManagerConfig, HttpFilterConfig, UpgradeConfig } from '../proxy/config/types.js';
import { accessLog } from './access-log.js';
import { adsConfigSource } from './config-source.js';
import type { Ctx } from './decode/context.js';
import {
  asList, bool, defineMessage, duration, enumeration, integer, list, message, nonEmptyString, string, supportedValue,
  itemCtx, uint32, wrapped, type Reader,
} from './decode/readers.js';
import { typedConfig, type Extension } from './decode/typed.js';
import { commonHttpProtocolOptions, downstreamHttp1ProtocolOptions, downstreamHttp2ProtocolOptions, HTTP2_DEFAULTS } from './protocol-options.js';
import { routeConfiguration, upgradeConfigFields } from './route.js';

/** `{ [key]: value }`, or nothing when the value is absent (optional config fields stay out of dumps). */
function optional<K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } {
  return value === undefined ? {} : { [key]: value } as { [k in K]?: V };
}

const DEFAULTS = {
  serverName: 'weft',
  idleTimeoutMs: 3_600_000,
  streamIdleTimeoutMs: 300_000,
  requestHeadersTimeoutMs: 0,
  maxRequestHeadersKb: 60,
  maxHeadersCount: 100,
};

const HTTP_FILTER = defineMessage({
  name: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter',
  fields: ['name', 'typed_config'],
  unsupported: ['config_discovery', 'is_optional', 'disabled'],
});

const httpFilter: Reader<HttpFilterConfig> = message(HTTP_FILTER, (m) => {
  const name = m.req('name', nonEmptyString) ?? '';
  const which = m.oneof(['typed_config'], { required: true, others: ['config_discovery'] });
  return which === undefined ? undefined : m.opt('typed_config', typedConfig('http_filter', { name }));
});

/** A non-empty filter list must end with the router, and have it only there (it is terminal). */
function checkRouterLast(ctx: Ctx, raw: unknown, filters: readonly HttpFilterConfig[]): void {
  const items = asList(raw);
  if (filters.length !== items.length) return; // item errors already reported
  filters.forEach((f, i) => {
    if (f.kind === 'router' && i !== filters.length - 1) {
      itemCtx(ctx, raw, i).expected('the router filter only as the last HTTP filter', items[i]);
    }
  });
  if (filters.at(-1)?.kind !== 'router') {
    ctx.expected('a list of HTTP filters ending with the router (envoy.extensions.filters.http.router.v3.Router)', raw);
  }
}

/**
 * The filters when http_filters is absent or empty: the router alone. Envoy accepts such an HTTP
 * connection manager too (the field has no minimum), but then has no terminal filter and never
 * answers; routing is the only useful reading of it.
 */
const IMPLICIT_FILTERS: readonly HttpFilterConfig[] = [{ kind: 'router', name: 'envoy.filters.http.router' }];

const UPGRADE_CONFIG = defineMessage({
  name: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.UpgradeConfig',
  fields: ['upgrade_type', 'enabled'],
  unsupported: ['filters'],
});

const upgradeConfig: Reader<UpgradeConfig> = message(UPGRADE_CONFIG, upgradeConfigFields);

const codecTypeEnum = enumeration({ AUTO: 0, HTTP1: 1, HTTP2: 2, HTTP3: 3 });

const HCM = defineMessage({
  name: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  fields: [
    'codec_type', 'stat_prefix', 'route_config', 'http_filters', 'common_http_protocol_options', 'http_protocol_options',
    'server_name', 'max_request_headers_kb', 'stream_idle_timeout', 'request_headers_timeout', 'drain_timeout', 'access_log',
    'use_remote_address', 'xff_num_trusted_hops', 'generate_request_id', 'upgrade_configs', 'http2_protocol_options',
    'rds',
  ],
  unsupported: [
    'scoped_routes', 'add_user_agent', 'tracing', 'http1_safe_max_connection_duration',
    'http3_protocol_options', 'server_header_transformation', 'scheme_header_transformation', 'stream_flush_timeout',
    'request_timeout', 'delayed_close_timeout', 'access_log_flush_interval',
    'flush_access_log_on_new_request', 'access_log_options', 'original_ip_detection_extensions',
    'early_header_mutation_extensions', 'internal_address_config', 'skip_xff_append', 'via',
    'preserve_external_request_id', 'always_set_request_id_in_response', 'forward_client_cert_details',
    'set_current_client_cert_details', 'forward_client_cert_matcher', 'proxy_100_continue',
    'represent_ipv4_remote_address_as_ipv4_mapped_ipv6', 'normalize_path', 'merge_slashes',
    'path_with_escaped_slashes_action', 'request_id_extension', 'local_reply_config', 'strip_matching_host_port',
    'strip_any_host_port', 'stream_error_on_invalid_http_message', 'path_normalization_options',
    'strip_trailing_host_dot', 'proxy_status_config', 'typed_header_validation_config', 'append_x_forwarded_port',
    'append_local_overload', 'add_proxy_protocol_connection_state', 'forward_proto_config',
  ],
});

const RDS = defineMessage({
  name: 'envoy.extensions.filters.network.http_connection_manager.v3.Rds',
  fields: ['config_source', 'route_config_name'],
});

/** HCM `rds`: the route configuration named route_config_name, over ADS. */
const rds = message(RDS, (m) => {
  const configSource = m.req('config_source', adsConfigSource);
  const routeConfigName = m.req('route_config_name', nonEmptyString);
  return configSource === undefined || routeConfigName === undefined ? undefined : { routeConfigName, configSource };
});

const hcmCommonOptions = commonHttpProtocolOptions(['idle_timeout', 'max_headers_count', 'headers_with_underscores_action', 'max_connection_duration', 'max_requests_per_connection']);
/** Inline route configs are validated against the static clusters by default, as in Envoy. */
const inlineRouteConfiguration = routeConfiguration(true);

export const httpConnectionManagerExtension: Extension<'network_filter'> = {
  category: 'network_filter',
  typeUrl: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  spec: HCM,
  decode(m): HttpConnectionManagerConfig | undefined {
    const statPrefix = m.req('stat_prefix', nonEmptyString);
    const codecType = supportedValue(m.at('codec_type'), m.get('codec_type', codecTypeEnum, 'AUTO'), ['AUTO', 'HTTP1', 'HTTP2']);
    const which = m.oneof(['route_config', 'rds'], { required: true, others: ['scoped_routes'] });
    const routeConfig = which === 'route_config' ? m.opt('route_config', inlineRouteConfiguration) : undefined;
    const rdsConfig = which === 'rds' ? m.opt('rds', rds) : undefined;
    const common = m.opt('common_http_protocol_options', hcmCommonOptions);
    m.opt('http_protocol_options', downstreamHttp1ProtocolOptions);
    let httpFilters: readonly HttpFilterConfig[] = IMPLICIT_FILTERS;
    if (asList(m.raw('http_filters')).length > 0) {
      httpFilters = m.opt('http_filters', list(httpFilter)) ?? [];
      checkRouterLast(m.at('http_filters'), m.raw('http_filters'), httpFilters);
    }
    const config: HttpConnectionManagerConfig = {
      kind: 'http_connection_manager',
      statPrefix: statPrefix ?? '',
      codecType: codecType ?? 'AUTO',
      routeConfig: routeConfig ?? { name: rdsConfig?.routeConfigName ?? '', virtualHosts: [], requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [] },
      accessLogs: m.get('access_log', list(accessLog), []),
      serverName: m.get('server_name', string, DEFAULTS.serverName) || DEFAULTS.serverName,
      useRemoteAddress: m.get('use_remote_address', wrapped(bool), false),
      xffNumTrustedHops: m.get('xff_num_trusted_hops', uint32, 0),
      generateRequestId: m.get('generate_request_id', wrapped(bool), true),
      idleTimeoutMs: common?.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
      requestHeadersTimeoutMs: m.get('request_headers_timeout', duration, DEFAULTS.requestHeadersTimeoutMs),
      streamIdleTimeoutMs: m.get('stream_idle_timeout', duration, DEFAULTS.streamIdleTimeoutMs),
      maxRequestHeadersKb: m.get('max_request_headers_kb', wrapped(integer(1, 8192)), DEFAULTS.maxRequestHeadersKb),
      maxHeadersCount: common?.maxHeadersCount ?? DEFAULTS.maxHeadersCount,
      headersWithUnderscoresAction: common?.headersWithUnderscoresAction ?? 'ALLOW',
      maxConnectionDurationMs: common?.maxConnectionDurationMs ?? 0,
      maxRequestsPerConnection: common?.maxRequestsPerConnection ?? 0,
      upgradeConfigs: m.get('upgrade_configs', list(upgradeConfig), []),
      http2: m.get('http2_protocol_options', downstreamHttp2ProtocolOptions, HTTP2_DEFAULTS),
      // HTTP/2 only (as in Envoy): between the first GOAWAY of a graceful close and the final one.
      ...optional('drainTimeoutMs', m.opt('drain_timeout', duration)),
      httpFilters,
      ...(rdsConfig === undefined ? {} : { rds: rdsConfig }),
    };
    return config;
  },
};
