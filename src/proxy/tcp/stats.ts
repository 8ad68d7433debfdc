// The TCP proxy's own stats (Envoy config/listeners/network_filters/tcp_proxy_filter, "Statistics")
// under `tcp.<stat_prefix>.`; Prometheus names as Envoy's tag extraction gives them:
// `envoy_tcp_<stat>{envoy_tcp_prefix="<stat_prefix>"}`.

import type { Counter, Gauge, StatsStore } from '../../observe/stats.js';

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
