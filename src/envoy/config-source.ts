// Where dynamic config comes from: envoy.config.core.v3.ConfigSource (only `{ads: {}}` for
// LDS/CDS/RDS/EDS; ADS, a file or a gRPC SDS server for secrets), and the bootstrap's
// envoy.config.bootstrap.v3.Bootstrap.DynamicResources with its ADS ApiConfigSource.

import { dirname, resolve } from 'node:path';
import type { AdsConfigSource, DynamicResourcesConfig, SdsSourceConfig } from '../proxy/config/types.js';
import { defineMessage, duration, enumeration, list, message, nonEmptyString, supportedValue, type Reader } from './decode/readers.js';

/** Envoy's default initial_fetch_timeout. */
export const DEFAULT_INITIAL_FETCH_TIMEOUT_MS = 15_000;

const AGGREGATED_CONFIG_SOURCE = defineMessage({ name: 'envoy.config.core.v3.AggregatedConfigSource', fields: [] });

const CONFIG_SOURCE = defineMessage({
  name: 'envoy.config.core.v3.ConfigSource',
  fields: ['ads', 'initial_fetch_timeout', 'resource_api_version'],
  unsupported: ['path', 'path_config_source', 'api_config_source', 'self', 'authorities'],
});

const apiVersionEnum = enumeration({ AUTO: 0, V2: 1, V3: 2 });

/** A ConfigSource; only ADS (`{ads: {}}`) is supported: path, api_config_source and self are errors. */
export const adsConfigSource: Reader<AdsConfigSource> = message(CONFIG_SOURCE, (m) => {
  const which = m.oneof(['ads'], { required: true, others: ['path', 'path_config_source', 'api_config_source', 'self'] });
  if (which !== undefined) m.opt('ads', message(AGGREGATED_CONFIG_SOURCE, () => ({})));
  supportedValue(m.at('resource_api_version'), m.opt('resource_api_version', apiVersionEnum), ['AUTO', 'V3']);
  const initialFetchTimeoutMs = m.get('initial_fetch_timeout', duration, DEFAULT_INITIAL_FETCH_TIMEOUT_MS);
  return which === undefined ? undefined : { initialFetchTimeoutMs };
});

const ENVOY_GRPC = defineMessage({
  name: 'envoy.config.core.v3.GrpcService.EnvoyGrpc',
  fields: ['cluster_name'],
  unsupported: ['authority', 'retry_policy', 'max_receive_message_length', 'skip_envoy_headers'],
});

const GOOGLE_GRPC = defineMessage({
  name: 'envoy.config.core.v3.GrpcService.GoogleGrpc',
  fields: ['target_uri'],
  // stat_prefix is required by Envoy; Weft accepts it and keeps one set of control-plane stats.
  informational: ['stat_prefix'],
  unsupported: [
    'channel_credentials', 'call_credentials', 'credentials_factory_name', 'config', 'per_stream_buffer_limit_bytes',
    'channel_args',
  ],
});

const GRPC_SERVICE = defineMessage({
  name: 'envoy.config.core.v3.GrpcService',
  fields: ['envoy_grpc', 'google_grpc'],
  informational: ['timeout'],
  unsupported: ['initial_metadata', 'retry_policy'],
});

type AdsTarget = NonNullable<DynamicResourcesConfig['ads']>['target'];

const grpcService: Reader<AdsTarget> = message(GRPC_SERVICE, (m) => {
  const which = m.oneof(['envoy_grpc', 'google_grpc'], { required: true });
  if (which === 'envoy_grpc') {
    const clusterName = m.opt('envoy_grpc', message(ENVOY_GRPC, (g) => g.req('cluster_name', nonEmptyString)));
    return clusterName === undefined ? undefined : { kind: 'envoy_grpc', clusterName };
  }
  if (which === 'google_grpc') {
    const targetUri = m.opt('google_grpc', message(GOOGLE_GRPC, (g) => g.req('target_uri', nonEmptyString)));
    return targetUri === undefined ? undefined : { kind: 'google_grpc', targetUri };
  }
  return undefined;
});

const API_CONFIG_SOURCE = defineMessage({
  name: 'envoy.config.core.v3.ApiConfigSource',
  fields: ['api_type', 'transport_api_version', 'grpc_services', 'set_node_on_first_message_only'],
  unsupported: ['cluster_names', 'refresh_delay', 'request_timeout', 'rate_limit_settings', 'config_validators'],
});

const apiTypeEnum = enumeration({
  DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE: 0, REST: 1, GRPC: 2, DELTA_GRPC: 3, AGGREGATED_GRPC: 5, AGGREGATED_DELTA_GRPC: 6,
});

const adsApiConfigSource = message(API_CONFIG_SOURCE, (m) => {
  const apiType = supportedValue(m.at('api_type'), m.req('api_type', apiTypeEnum),
    ['GRPC', 'DELTA_GRPC', 'AGGREGATED_GRPC', 'AGGREGATED_DELTA_GRPC'] as const);
  // V3 is the only transport version; AUTO (the default) means it too.
  supportedValue(m.at('transport_api_version'), m.opt('transport_api_version', apiVersionEnum), ['AUTO', 'V3']);
  const services = m.req('grpc_services', list(grpcService, { minItems: 1 }));
  if (services !== undefined && services.length > 1) {
    m.at('grpc_services').expected('exactly one gRPC service (Envoy uses only the first)', m.raw('grpc_services'));
  }
  if (apiType === undefined || services === undefined || services.length !== 1) return undefined;
  return {
    apiType: apiType === 'GRPC' || apiType === 'AGGREGATED_GRPC' ? 'GRPC' as const : 'DELTA_GRPC' as const,
    target: services[0]!,
  };
});

const DYNAMIC_RESOURCES = defineMessage({
  name: 'envoy.config.bootstrap.v3.Bootstrap.DynamicResources',
  fields: ['lds_config', 'cds_config', 'ads_config'],
  unsupported: ['lds_resources_locator', 'cds_resources_locator'],
});

/** Bootstrap.dynamic_resources. LDS and CDS over ADS need an ads_config. */
export const dynamicResources: Reader<DynamicResourcesConfig> = message(DYNAMIC_RESOURCES, (m) => {
  const lds = m.opt('lds_config', adsConfigSource) ?? null;
  const cds = m.opt('cds_config', adsConfigSource) ?? null;
  const ads = m.opt('ads_config', adsApiConfigSource) ?? null;
  // Only config sources that decoded (as ADS) need it; a rejected one (say, path_config_source) is
  // already reported and asks for nothing.
  if (!m.has('ads_config') && (lds !== null || cds !== null)) {
    m.at('ads_config').expected('an ApiConfigSource (lds_config/cds_config use ADS)', undefined);
  }
  return { ads, lds, cds };
});

// ───────────────────────────── SDS config sources ─────────────────────────────

const PATH_CONFIG_SOURCE = defineMessage({
  name: 'envoy.config.core.v3.PathConfigSource',
  fields: ['path', 'watched_directory'],
});

const WATCHED_DIRECTORY = defineMessage({ name: 'envoy.config.core.v3.WatchedDirectory', fields: ['path'] });

const SDS_CONFIG_SOURCE = defineMessage({
  name: 'envoy.config.core.v3.ConfigSource',
  fields: ['ads', 'path', 'path_config_source', 'api_config_source', 'initial_fetch_timeout', 'resource_api_version'],
  unsupported: ['self', 'authorities'],
});

const SDS_API_CONFIG_SOURCE = defineMessage({
  name: 'envoy.config.core.v3.ApiConfigSource',
  fields: ['api_type', 'transport_api_version', 'grpc_services'],
  // Weft sends the node on every request of its SDS streams (harmless either way).
  informational: ['set_node_on_first_message_only'],
  unsupported: ['cluster_names', 'refresh_delay', 'request_timeout', 'rate_limit_settings', 'config_validators'],
});

const SDS_GRPC_SERVICE = defineMessage({
  name: 'envoy.config.core.v3.GrpcService',
  fields: ['envoy_grpc'],
  informational: ['timeout'],
  unsupported: ['google_grpc', 'initial_metadata', 'retry_policy'],
});

/**
 * The ConfigSource of an SdsSecretConfig (`sds_config`): ADS, a file of Secret resources
 * (`path_config_source`, or the deprecated `path`), or a gRPC SDS server reached through a cluster
 * (`api_config_source` with api_type GRPC and one envoy_grpc service; state of the world only).
 * A relative file name is resolved against the bootstrap's directory.
 */
export const sdsConfigSource: Reader<SdsSourceConfig> = message(SDS_CONFIG_SOURCE, (m) => {
  const which = m.oneof(['ads', 'path', 'path_config_source', 'api_config_source'], { required: true, others: ['self'] });
  supportedValue(m.at('resource_api_version'), m.opt('resource_api_version', apiVersionEnum), ['AUTO', 'V3']);
  const initialFetchTimeoutMs = m.get('initial_fetch_timeout', duration, DEFAULT_INITIAL_FETCH_TIMEOUT_MS);
  switch (which) {
    case 'ads': {
      const ok = m.opt('ads', message(AGGREGATED_CONFIG_SOURCE, () => ({})));
      return ok === undefined ? undefined : { kind: 'ads', initialFetchTimeoutMs };
    }
    case 'path': {
      const p = m.opt('path', nonEmptyString);
      return p === undefined ? undefined : { kind: 'path', path: resolve(m.ctx.env.baseDir, p), initialFetchTimeoutMs };
    }
    case 'path_config_source': {
      const p = m.opt('path_config_source', message(PATH_CONFIG_SOURCE, (pm) => {
        // The file's directory is watched anyway (atomic replaces are seen); a watched_directory
        // only names where the change shows, and must be that directory.
        const file = pm.req('path', nonEmptyString);
        const dir = pm.opt('watched_directory', message(WATCHED_DIRECTORY, (w) => w.req('path', nonEmptyString)));
        if (file === undefined) return undefined;
        const abs = resolve(pm.ctx.env.baseDir, file);
        if (dir !== undefined && resolve(pm.ctx.env.baseDir, dir) !== dirname(abs)) {
          pm.at('watched_directory').field('path').expected(`the directory of path (${dirname(abs)})`, dir);
        }
        return abs;
      }));
      return p === undefined ? undefined : { kind: 'path', path: p, initialFetchTimeoutMs };
    }
    case 'api_config_source': {
      const clusterName = m.opt('api_config_source', message(SDS_API_CONFIG_SOURCE, (a) => {
        supportedValue(a.at('api_type'), a.req('api_type', apiTypeEnum), ['GRPC'] as const);
        supportedValue(a.at('transport_api_version'), a.opt('transport_api_version', apiVersionEnum), ['AUTO', 'V3']);
        const services = a.req('grpc_services', list(message(SDS_GRPC_SERVICE, (g) => {
          g.oneof(['envoy_grpc'], { required: true, others: ['google_grpc'] });
          return g.opt('envoy_grpc', message(ENVOY_GRPC, (e) => e.req('cluster_name', nonEmptyString)));
        }), { minItems: 1 }));
        if (services !== undefined && services.length > 1) {
          a.at('grpc_services').expected('exactly one gRPC service (Envoy uses only the first)', a.raw('grpc_services'));
          return undefined;
        }
        return services?.[0];
      }));
      return clusterName === undefined ? undefined : { kind: 'grpc', clusterName, initialFetchTimeoutMs };
    }
    default: return undefined;
  }
});
