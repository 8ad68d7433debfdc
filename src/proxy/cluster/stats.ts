// Envoy's per-cluster stats (config/upstream/cluster_manager/cluster_stats) under `cluster.<name>.`, with
// the Prometheus names and labels of Envoy's default tag extraction.
import type { Counter, Gauge, Histogram, Labels, StatsStore } from '../../observe/stats.js';

export class ClusterStats {
  readonly upstream_cx_total: Counter;
  readonly upstream_cx_active: Gauge;
  readonly upstream_cx_http1_total: Counter;
  readonly upstream_cx_http2_total: Counter;
  readonly upstream_cx_connect_fail: Counter;
  readonly upstream_cx_connect_timeout: Counter;
  readonly upstream_cx_idle_timeout: Counter;
  readonly upstream_cx_max_requests: Counter;
  readonly upstream_cx_overflow: Counter;
  readonly upstream_cx_none_healthy: Counter;
  readonly upstream_cx_destroy: Counter;
  readonly upstream_cx_destroy_local: Counter;
  readonly upstream_cx_destroy_remote: Counter;
  readonly upstream_cx_destroy_with_active_rq: Counter;
  readonly upstream_cx_protocol_error: Counter;
  readonly upstream_cx_rx_bytes_total: Counter;
  readonly upstream_cx_tx_bytes_total: Counter;
  readonly upstream_cx_connect_ms: Histogram;
  readonly upstream_cx_length_ms: Histogram;
  readonly upstream_rq_total: Counter;
  readonly upstream_rq_active: Gauge;
  readonly upstream_rq_completed: Counter;
  readonly upstream_rq_pending_total: Counter;
  readonly upstream_rq_pending_active: Gauge;
  readonly upstream_rq_pending_overflow: Counter;
  readonly upstream_rq_cancelled: Counter;
  readonly upstream_rq_timeout: Counter;
  readonly upstream_rq_per_try_timeout: Counter;
  readonly upstream_rq_rx_reset: Counter;
  readonly upstream_rq_tx_reset: Counter;
  readonly upstream_rq_retry: Counter;
  readonly upstream_rq_retry_success: Counter;
  readonly upstream_rq_retry_overflow: Counter;
  readonly upstream_rq_retry_limit_exceeded: Counter;
  readonly upstream_rq_time: Histogram;
  readonly lb_healthy_panic: Counter;
  readonly membership_healthy: Gauge;
  readonly membership_total: Gauge;
  readonly membership_change: Counter;
  readonly update_attempt: Counter;
  readonly update_success: Counter;
  readonly update_failure: Counter;
  readonly update_no_rebuild: Counter;

  private grpcByName: Map<string, Counter> | null = null;
  private readonly byCode: (Counter | undefined)[] = new Array(600);
  private readonly byClass: (Counter | undefined)[] = new Array(6);
  private readonly prefix: string;

  constructor(readonly store: StatsStore, readonly clusterName: string) {
    const prefix = (this.prefix = `cluster.${clusterName}.`);
    const labels: Labels = { envoy_cluster_name: clusterName };
    const c = (s: string): Counter => store.counter(prefix + s, `cluster_${s}`, labels);
    const g = (s: string): Gauge => store.gauge(prefix + s, `cluster_${s}`, labels);
    const h = (s: string): Histogram => store.histogram(prefix + s, `cluster_${s}`, labels);
    this.upstream_cx_total = c('upstream_cx_total');
    this.upstream_cx_active = g('upstream_cx_active');
    this.upstream_cx_http1_total = c('upstream_cx_http1_total');
    this.upstream_cx_http2_total = c('upstream_cx_http2_total');
    this.upstream_cx_connect_fail = c('upstream_cx_connect_fail');
    this.upstream_cx_connect_timeout = c('upstream_cx_connect_timeout');
    this.upstream_cx_idle_timeout = c('upstream_cx_idle_timeout');
    this.upstream_cx_max_requests = c('upstream_cx_max_requests');
    this.upstream_cx_overflow = c('upstream_cx_overflow');
    this.upstream_cx_none_healthy = c('upstream_cx_none_healthy');
    this.upstream_cx_destroy = c('upstream_cx_destroy');
    this.upstream_cx_destroy_local = c('upstream_cx_destroy_local');
    this.upstream_cx_destroy_remote = c('upstream_cx_destroy_remote');
    this.upstream_cx_destroy_with_active_rq = c('upstream_cx_destroy_with_active_rq');
    this.upstream_cx_protocol_error = c('upstream_cx_protocol_error');
    this.upstream_cx_rx_bytes_total = c('upstream_cx_rx_bytes_total');
    this.upstream_cx_tx_bytes_total = c('upstream_cx_tx_bytes_total');
    this.upstream_cx_connect_ms = h('upstream_cx_connect_ms');
    this.upstream_cx_length_ms = h('upstream_cx_length_ms');
    this.upstream_rq_total = c('upstream_rq_total');
    this.upstream_rq_active = g('upstream_rq_active');
    this.upstream_rq_completed = c('upstream_rq_completed');
    this.upstream_rq_pending_total = c('upstream_rq_pending_total');
    this.upstream_rq_pending_active = g('upstream_rq_pending_active');
    this.upstream_rq_pending_overflow = c('upstream_rq_pending_overflow');
    this.upstream_rq_cancelled = c('upstream_rq_cancelled');
    this.upstream_rq_timeout = c('upstream_rq_timeout');
    this.upstream_rq_per_try_timeout = c('upstream_rq_per_try_timeout');
    this.upstream_rq_rx_reset = c('upstream_rq_rx_reset');
    this.upstream_rq_tx_reset = c('upstream_rq_tx_reset');
    this.upstream_rq_retry = c('upstream_rq_retry');
    this.upstream_rq_retry_success = c('upstream_rq_retry_success');
    this.upstream_rq_retry_overflow = c('upstream_rq_retry_overflow');
    this.upstream_rq_retry_limit_exceeded = c('upstream_rq_retry_limit_exceeded');
    this.upstream_rq_time = h('upstream_rq_time');
    this.lb_healthy_panic = c('lb_healthy_panic');
    this.membership_healthy = g('membership_healthy');
    this.membership_total = g('membership_total');
    this.membership_change = c('membership_change');
    this.update_attempt = c('update_attempt');
    this.update_success = c('update_success');
    this.update_failure = c('update_failure');
    this.update_no_rebuild = c('update_no_rebuild');
  }

  /**
   * Counts one upstream response: `upstream_rq_<code>` (Prometheus `cluster_upstream_rq` with
   * envoy_response_code) and `upstream_rq_<N>xx` (`cluster_upstream_rq_xx` with
   * envoy_response_code_class). Counters are created on first use of a code, then reused.
   */
  rqStatus(code: number): void {
    if (!(code >= 100 && code <= 599)) return;
    code |= 0;
    let exact = this.byCode[code];
    if (exact === undefined) {
      exact = this.byCode[code] = this.store.counter(`${this.prefix}upstream_rq_${code}`, 'cluster_upstream_rq',
        { envoy_response_code: String(code), envoy_cluster_name: this.clusterName });
    }
    exact.value++;
    const cls = (code / 100) | 0;
    let klass = this.byClass[cls];
    if (klass === undefined) {
      klass = this.byClass[cls] = this.store.counter(`${this.prefix}upstream_rq_${cls}xx`, 'cluster_upstream_rq_xx',
        { envoy_response_code_class: String(cls), envoy_cluster_name: this.clusterName });
    }
    klass.value++;
  }

  /**
   * Counts one gRPC response as Envoy's grpc_stats filter names it:
   * `cluster.<name>.grpc.<service>.<method>.<status>`, `.total`, and `.success` (status 0) or
   * `.failure`; Prometheus `cluster_grpc_<status|total|success|failure>` with envoy_grpc_bridge_service
   * and envoy_grpc_bridge_method labels (Envoy's default tag extraction).
   */
  grpcStatus(service: string, method: string, status: number): void {
    const map = (this.grpcByName ??= new Map());
    const base = `${this.prefix}grpc.${service}.${method}.`;
    const labels: Labels = { envoy_cluster_name: this.clusterName, envoy_grpc_bridge_service: service, envoy_grpc_bridge_method: method };
    for (const suffix of [String(status), 'total', status === 0 ? 'success' : 'failure']) {
      const name = base + suffix;
      let c = map.get(name);
      if (c === undefined) map.set(name, (c = this.store.counter(name, `cluster_grpc_${suffix}`, labels)));
      c.value++;
    }
  }
}
