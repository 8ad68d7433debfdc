// The TCP proxy network filter, envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
// (api/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto).
// Cluster names are not checked against the static clusters: as in Envoy, a missing cluster is
// found per connection (downstream_cx_no_route), so clusters may arrive later.

import type { TcpProxyConfig } from '../proxy/config/types.js';
import { accessLog } from './access-log.js';
import {
  defineMessage, duration, integer, list, message, nonEmptyString, UINT32_MAX, wrapped, type Reader,
} from './decode/readers.js';
import type { Extension } from './decode/typed.js';

/** Envoy's default idle_timeout for the TCP proxy: 1 hour. */
export const DEFAULT_TCP_IDLE_TIMEOUT_MS = 3_600_000;

type WeightedClusters = NonNullable<TcpProxyConfig['weightedClusters']>;

const CLUSTER_WEIGHT = defineMessage({
  name: 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight',
  fields: ['name', 'weight'],
  unsupported: ['metadata_match'],
});

const clusterWeight: Reader<WeightedClusters['clusters'][number]> = message(CLUSTER_WEIGHT, (m) => {
  const name = m.req('name', nonEmptyString);
  const weight = m.req('weight', integer(1, UINT32_MAX));
  return name === undefined || weight === undefined ? undefined : { name, weight };
});

const WEIGHTED_CLUSTER = defineMessage({
  name: 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster',
  fields: ['clusters'],
});

const weightedClusters: Reader<WeightedClusters> = message(WEIGHTED_CLUSTER, (m) => {
  const clusters = m.req('clusters', list(clusterWeight, { minItems: 1 }));
  if (clusters === undefined) return undefined;
  const total = clusters.reduce((sum, c) => sum + c.weight, 0);
  if (total > UINT32_MAX) m.at('clusters').expected(`weights summing to at most ${UINT32_MAX}`, clusters.map((c) => c.weight));
  return { clusters, totalWeight: total };
});

const TCP_PROXY = defineMessage({
  name: 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  fields: ['stat_prefix', 'cluster', 'weighted_clusters', 'idle_timeout', 'access_log', 'max_connect_attempts'],
  unsupported: [
    'on_demand', 'metadata_match', 'downstream_idle_timeout', 'upstream_idle_timeout', 'backoff_options',
    'hash_policy', 'tunneling_config', 'max_downstream_connection_duration',
    'max_downstream_connection_duration_jitter_percentage', 'access_log_flush_interval',
    'flush_access_log_on_connected', 'access_log_options', 'proxy_protocol_tlvs', 'upstream_connect_mode',
    'max_early_data_bytes', 'proxy_protocol_tlv_merge_policy',
  ],
});

export const tcpProxyExtension: Extension<'network_filter'> = {
  category: 'network_filter',
  typeUrl: 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  spec: TCP_PROXY,
  decode(m): TcpProxyConfig | undefined {
    const statPrefix = m.req('stat_prefix', nonEmptyString);
    const which = m.oneof(['cluster', 'weighted_clusters'], { required: true });
    const cluster = which === 'cluster' ? m.opt('cluster', nonEmptyString) : undefined;
    const weighted = which === 'weighted_clusters' ? m.opt('weighted_clusters', weightedClusters) : undefined;
    const config: TcpProxyConfig = {
      kind: 'tcp_proxy',
      statPrefix: statPrefix ?? '',
      cluster: cluster ?? null,
      weightedClusters: weighted ?? null,
      idleTimeoutMs: m.get('idle_timeout', duration, DEFAULT_TCP_IDLE_TIMEOUT_MS),
      maxConnectAttempts: m.get('max_connect_attempts', wrapped(integer(1, UINT32_MAX)), 1),
      accessLogs: m.get('access_log', list(accessLog), []),
    };
    return config;
  },
};
