// Envoy's HTTP/2 codec stats for downstream connections, rooted at `http2.*` (Envoy's
// config/http/http_conn_man/stats "HTTP/2 codec statistics"), plus the connection manager's
// premature-reset counter (`http.<stat_prefix>.downstream_rq_too_many_premature_resets`).
// Created once per stats store / connection manager, never on the request path.

import type { Counter, Gauge, StatsStore } from '../../observe/stats.js';
import type { CompiledHcm } from './hcm.js';

export class Http2CodecStats {
  readonly header_overflow: Counter;
  readonly requests_rejected_with_underscores_in_headers: Counter;
  readonly dropped_headers_with_underscores: Counter;
  readonly inbound_empty_frames_flood: Counter;
  readonly inbound_priority_frames_flood: Counter;
  readonly inbound_window_update_frames_flood: Counter;
  readonly outbound_flood: Counter;
  readonly outbound_control_flood: Counter;
  readonly rx_messaging_error: Counter;
  readonly rx_reset: Counter;
  readonly stream_refused_errors: Counter;
  readonly trailers: Counter;
  readonly tx_reset: Counter;
  readonly tx_flush_timeout: Counter;
  readonly streams_active: Gauge;

  constructor(store: StatsStore) {
    const c = (n: string) => store.counter(`http2.${n}`);
    this.header_overflow = c('header_overflow');
    this.requests_rejected_with_underscores_in_headers = c('requests_rejected_with_underscores_in_headers');
    this.dropped_headers_with_underscores = c('dropped_headers_with_underscores');
    this.inbound_empty_frames_flood = c('inbound_empty_frames_flood');
    this.inbound_priority_frames_flood = c('inbound_priority_frames_flood');
    this.inbound_window_update_frames_flood = c('inbound_window_update_frames_flood');
    this.outbound_flood = c('outbound_flood');
    this.outbound_control_flood = c('outbound_control_flood');
    this.rx_messaging_error = c('rx_messaging_error');
    this.rx_reset = c('rx_reset');
    this.stream_refused_errors = c('stream_refused_errors');
    this.trailers = c('trailers');
    this.tx_reset = c('tx_reset');
    this.tx_flush_timeout = c('tx_flush_timeout');
    this.streams_active = store.gauge('http2.streams_active');
  }
}

const byStore = new WeakMap<StatsStore, Http2CodecStats>();

/** The `http2.*` stats of the store a connection manager counts on. */
export function http2CodecStats(hcm: CompiledHcm): Http2CodecStats {
  let s = byStore.get(hcm.store);
  if (s === undefined) { s = new Http2CodecStats(hcm.store); byStore.set(hcm.store, s); }
  return s;
}

const premature = new WeakMap<CompiledHcm, Counter>();

/** `http.<stat_prefix>.downstream_rq_too_many_premature_resets`. */
export function prematureResetCounter(hcm: CompiledHcm): Counter {
  let c = premature.get(hcm);
  if (c === undefined) {
    const prefix = hcm.config.statPrefix;
    c = hcm.store.counter(`http.${prefix}.downstream_rq_too_many_premature_resets`, 'http_downstream_rq_too_many_premature_resets',
      { envoy_http_conn_manager_prefix: prefix });
    premature.set(hcm, c);
  }
  return c;
}
