// The HTTP connection manager (envoy.filters.network.http_connection_manager), compiled once per
// config version: route table, access loggers, timeouts, limits and the `http.<stat_prefix>.*`
// stats. Connections hold a reference to one compiled version; a reload makes a new one.

import type { HttpConnectionManagerConfig } from '../config/types.js';
import type { ClusterManager } from '../cluster/manager.js';
import { compileRouteTable, type RouteTable } from '../router/route-table.js';
import { createAccessLogger, type AccessLogger } from '../../observe/access-log/logger.js';
import type { Counter, Gauge, Histogram, StatsStore } from '../../observe/stats.js';
import { buildHttpFilters } from '../filters/http/chain.js';
import type { HttpFilterFactory } from '../filters/http/filter.js';

export class HcmStats {
  readonly downstream_cx_total: Counter;
  readonly downstream_cx_active: Gauge;
  readonly downstream_cx_http1_total: Counter;
  readonly downstream_cx_http1_active: Gauge;
  readonly downstream_cx_http2_total: Counter;
  readonly downstream_cx_http2_active: Gauge;
  readonly downstream_cx_destroy: Counter;
  readonly downstream_cx_destroy_remote_active_rq: Counter;
  readonly downstream_cx_protocol_error: Counter;
  readonly downstream_cx_idle_timeout: Counter;
  readonly downstream_cx_max_duration_reached: Counter;
  readonly downstream_cx_max_requests_reached: Counter;
  readonly downstream_cx_rx_bytes_total: Counter;
  readonly downstream_cx_tx_bytes_total: Counter;
  readonly downstream_cx_upgrades_total: Counter;
  readonly downstream_cx_upgrades_active: Gauge;
  readonly downstream_rq_total: Counter;
  readonly downstream_rq_http1_total: Counter;
  readonly downstream_rq_http2_total: Counter;
  readonly downstream_rq_active: Gauge;
  readonly downstream_rq_completed: Counter;
  readonly downstream_rq_xx: readonly Counter[]; // index 1..5
  readonly downstream_rq_time: Histogram;
  readonly downstream_rq_timeout: Counter;
  readonly downstream_rq_max_duration_reached: Counter;
  readonly downstream_rq_idle_timeout: Counter;
  readonly downstream_rq_header_timeout: Counter;
  readonly downstream_rq_rx_reset: Counter;
  readonly downstream_rq_tx_reset: Counter;
  readonly downstream_rq_too_large: Counter;
  readonly downstream_rq_ws_on_non_ws_route: Counter;
  /** Overload manager actions (src/proxy/overload/). */
  readonly downstream_rq_overload_close: Counter;
  readonly downstream_cx_overload_disable_keepalive: Counter;
  /** Connections told to close by a drain sequence (src/proxy/overload/drain.ts). */
  readonly downstream_cx_drain_close: Counter;
  readonly no_route: Counter;
  readonly no_cluster: Counter;
  readonly rq_redirect: Counter;
  readonly rq_direct_response: Counter;
  /** Envoy's downstream HTTP/1 codec stats, rooted at `http1.` (not per connection manager). */
  readonly http1_dropped_headers_with_underscores: Counter;
  readonly http1_requests_rejected_with_underscores_in_headers: Counter;

  constructor(store: StatsStore, prefix: string) {
    const labels = { envoy_http_conn_manager_prefix: prefix };
    const c = (n: string) => store.counter(`http.${prefix}.${n}`, `http_${n}`, labels);
    const g = (n: string) => store.gauge(`http.${prefix}.${n}`, `http_${n}`, labels);
    this.downstream_cx_total = c('downstream_cx_total');
    this.downstream_cx_active = g('downstream_cx_active');
    this.downstream_cx_http1_total = c('downstream_cx_http1_total');
    this.downstream_cx_http1_active = g('downstream_cx_http1_active');
    this.downstream_cx_http2_total = c('downstream_cx_http2_total');
    this.downstream_cx_http2_active = g('downstream_cx_http2_active');
    this.downstream_cx_destroy = c('downstream_cx_destroy');
    this.downstream_cx_destroy_remote_active_rq = c('downstream_cx_destroy_remote_active_rq');
    this.downstream_cx_protocol_error = c('downstream_cx_protocol_error');
    this.downstream_cx_idle_timeout = c('downstream_cx_idle_timeout');
    this.downstream_cx_max_duration_reached = c('downstream_cx_max_duration_reached');
    this.downstream_cx_max_requests_reached = c('downstream_cx_max_requests_reached');
    this.downstream_cx_rx_bytes_total = c('downstream_cx_rx_bytes_total');
    this.downstream_cx_tx_bytes_total = c('downstream_cx_tx_bytes_total');
    this.downstream_cx_upgrades_total = c('downstream_cx_upgrades_total');
    this.downstream_cx_upgrades_active = g('downstream_cx_upgrades_active');
    this.downstream_rq_total = c('downstream_rq_total');
    this.downstream_rq_http1_total = c('downstream_rq_http1_total');
    this.downstream_rq_http2_total = c('downstream_rq_http2_total');
    this.downstream_rq_active = g('downstream_rq_active');
    this.downstream_rq_completed = c('downstream_rq_completed');
    const xx: Counter[] = [];
    for (let k = 1; k <= 5; k++) {
      xx[k] = store.counter(`http.${prefix}.downstream_rq_${k}xx`, 'http_downstream_rq_xx',
        { envoy_response_code_class: String(k), envoy_http_conn_manager_prefix: prefix });
    }
    this.downstream_rq_xx = xx;
    this.downstream_rq_time = store.histogram(`http.${prefix}.downstream_rq_time`, 'http_downstream_rq_time', labels);
    this.downstream_rq_timeout = c('downstream_rq_timeout');
    this.downstream_rq_max_duration_reached = c('downstream_rq_max_duration_reached');
    this.downstream_rq_idle_timeout = c('downstream_rq_idle_timeout');
    this.downstream_rq_header_timeout = c('downstream_rq_header_timeout');
    this.downstream_rq_rx_reset = c('downstream_rq_rx_reset');
    this.downstream_rq_tx_reset = c('downstream_rq_tx_reset');
    this.downstream_rq_too_large = c('downstream_rq_too_large');
    this.downstream_rq_ws_on_non_ws_route = c('downstream_rq_ws_on_non_ws_route');
    this.downstream_rq_overload_close = c('downstream_rq_overload_close');
    this.downstream_cx_overload_disable_keepalive = c('downstream_cx_overload_disable_keepalive');
    this.downstream_cx_drain_close = c('downstream_cx_drain_close');
    this.no_route = c('no_route');
    this.no_cluster = c('no_cluster');
    this.rq_redirect = c('rq_redirect');
    this.rq_direct_response = c('rq_direct_response');
    this.http1_dropped_headers_with_underscores = store.counter('http1.dropped_headers_with_underscores');
    this.http1_requests_rejected_with_underscores_in_headers = store.counter('http1.requests_rejected_with_underscores_in_headers');
  }
}

/** Listener-level stats (`listener.<address>.*`). */
export class ListenerStats {
  readonly downstream_cx_total: Counter;
  readonly downstream_cx_active: Gauge;
  readonly downstream_cx_destroy: Counter;
  readonly no_filter_chain_match: Counter;
  constructor(store: StatsStore, statName: string) {
    const labels = { envoy_listener_address: statName };
    this.downstream_cx_total = store.counter(`listener.${statName}.downstream_cx_total`, 'listener_downstream_cx_total', labels);
    this.downstream_cx_active = store.gauge(`listener.${statName}.downstream_cx_active`, 'listener_downstream_cx_active', labels);
    this.downstream_cx_destroy = store.counter(`listener.${statName}.downstream_cx_destroy`, 'listener_downstream_cx_destroy', labels);
    this.no_filter_chain_match = store.counter(`listener.${statName}.no_filter_chain_match`, 'listener_no_filter_chain_match', labels);
  }
}

/** A compiled HTTP connection manager: everything a connection needs, built once. */
export class CompiledHcm {
  readonly routes: RouteTable;
  readonly accessLoggers: readonly AccessLogger[];
  readonly stats: HcmStats;
  readonly maxHeaderBytes: number;
  /** Lower-cased upgrade types enabled at the connection manager level. */
  readonly upgrades: ReadonlySet<string>;
  /** HTTP filters before the router, in order (empty: the stream runs no filter code at all). */
  readonly filters: readonly HttpFilterFactory[];

  constructor(readonly config: HttpConnectionManagerConfig, readonly clusters: ClusterManager, readonly store: StatsStore,
              loggers?: readonly AccessLogger[]) {
    this.routes = compileRouteTable(config.routeConfig);
    this.accessLoggers = loggers ?? config.accessLogs.map(createAccessLogger);
    this.stats = new HcmStats(store, config.statPrefix);
    this.maxHeaderBytes = config.maxRequestHeadersKb * 1024;
    this.upgrades = new Set(config.upgradeConfigs.filter((u) => u.enabled).map((u) => u.upgradeType));
    this.filters = buildHttpFilters(config.httpFilters, this.routes, store, config.statPrefix, { clusters });
  }

  /** Flushes and closes the access loggers this version owns. */
  async close(): Promise<void> {
    await Promise.all(this.accessLoggers.map((l) => l.close()));
  }
}
