// The TCP proxy's own stats (Envoy config/listeners/network_filters/tcp_proxy_filter, "Statistics")
// under `tcp.<stat_prefix>.`; Prometheus names as Envoy's tag extraction gives them:
// `envoy_tcp_<stat>{envoy_tcp_prefix="<stat_prefix>"}`.

import type { Counter, Gauge, StatsStore } from '../../observe/stats.js';
import type { ClusterStats } from '../cluster/stats.js';

export class TcpProxyStats {
  readonly downstream_cx_total: Counter;
  readonly downstream_cx_no_route: Counter;
  readonly downstream_cx_tx_bytes_total: Counter;
  readonly downstream_cx_rx_bytes_total: Counter;
  readonly downstream_flow_control_paused_reading_total: Counter;
  readonly downstream_flow_control_resumed_reading_total: Counter;
  readonly idle_timeout: Counter;
  readonly upstream_flush_total: Counter;
  readonly upstream_flush_active: Gauge;

  constructor(store: StatsStore, statPrefix: string) {
    const labels = { envoy_tcp_prefix: statPrefix };
    const c = (s: string): Counter => store.counter(`tcp.${statPrefix}.${s}`, `tcp_${s}`, labels);
    this.downstream_cx_total = c('downstream_cx_total');
    this.downstream_cx_no_route = c('downstream_cx_no_route');
    this.downstream_cx_tx_bytes_total = c('downstream_cx_tx_bytes_total');
    this.downstream_cx_rx_bytes_total = c('downstream_cx_rx_bytes_total');
    this.downstream_flow_control_paused_reading_total = c('downstream_flow_control_paused_reading_total');
    this.downstream_flow_control_resumed_reading_total = c('downstream_flow_control_resumed_reading_total');
    this.idle_timeout = c('idle_timeout');
    this.upstream_flush_total = c('upstream_flush_total');
    this.upstream_flush_active = store.gauge(`tcp.${statPrefix}.upstream_flush_active`, 'tcp_upstream_flush_active', labels);
  }
}

/** Envoy's cluster flow-control counters (`cluster.<name>.upstream_flow_control_*`), as the TCP proxy counts them. */
export class ClusterFlowStats {
  /** Reading from the upstream stopped: the downstream had not drained what it sent. */
  readonly upstream_flow_control_paused_reading_total: Counter;
  readonly upstream_flow_control_resumed_reading_total: Counter;
  /** Writing to the upstream reached the cluster's buffer limit (the downstream is paused meanwhile). */
  readonly upstream_flow_control_backed_up_total: Counter;
  readonly upstream_flow_control_drained_total: Counter;
  constructor(store: StatsStore, clusterName: string) {
    const labels = { envoy_cluster_name: clusterName };
    const c = (s: string): Counter => store.counter(`cluster.${clusterName}.${s}`, `cluster_${s}`, labels);
    this.upstream_flow_control_paused_reading_total = c('upstream_flow_control_paused_reading_total');
    this.upstream_flow_control_resumed_reading_total = c('upstream_flow_control_resumed_reading_total');
    this.upstream_flow_control_backed_up_total = c('upstream_flow_control_backed_up_total');
    this.upstream_flow_control_drained_total = c('upstream_flow_control_drained_total');
  }
}

const flowStats = new WeakMap<ClusterStats, ClusterFlowStats>();

/** The flow-control counters of a cluster, created on first use. */
export function clusterFlowStats(stats: ClusterStats): ClusterFlowStats {
  let f = flowStats.get(stats);
  if (f === undefined) flowStats.set(stats, (f = new ClusterFlowStats(stats.store, stats.clusterName)));
  return f;
}
