// Envoy's HTTP/2 codec stats for upstream connections, rooted at `cluster.<name>.http2.*`
// (Envoy's config/cluster_manager/cluster_stats "HTTP/2 codec statistics"; the same names as the
// downstream `http2.*` ones, src/proxy/http/http2-stats.ts). One set per cluster, created when its
// first HTTP/2 pool is, never on the request path.

import type { Cluster } from '../cluster/cluster.js';
import type { H2FloodKind } from '../codec/http2/types.js';
import type { Counter, Gauge } from '../../observe/stats.js';

export class Http2UpstreamStats {
  /** A response header block over max_headers_count (or the header list size limit): stream reset. */
  readonly header_overflow: Counter;
  /** A malformed response (RFC 9113 §8.1.1): stream reset with PROTOCOL_ERROR. */
  readonly rx_messaging_error: Counter;
  /** RST_STREAM received (and streams refused by a GOAWAY). */
  readonly rx_reset: Counter;
  /** RST_STREAM sent. */
  readonly tx_reset: Counter;
  /** Streams the upstream refused (REFUSED_STREAM, or above a GOAWAY's last-stream-id). */
  readonly stream_refused_errors: Counter;
  /** Responses that ended with trailers. */
  readonly trailers: Counter;
  readonly inbound_empty_frames_flood: Counter;
  readonly inbound_priority_frames_flood: Counter;
  readonly inbound_window_update_frames_flood: Counter;
  readonly outbound_flood: Counter;
  readonly outbound_control_flood: Counter;
  readonly streams_active: Gauge;

  constructor(cluster: Cluster) {
    const store = cluster.stats.store;
    const prefix = `cluster.${cluster.name}.http2.`;
    const labels = { envoy_cluster_name: cluster.name };
    const c = (n: string): Counter => store.counter(prefix + n, `cluster_http2_${n}`, labels);
    this.header_overflow = c('header_overflow');
    this.rx_messaging_error = c('rx_messaging_error');
    this.rx_reset = c('rx_reset');
    this.tx_reset = c('tx_reset');
    this.stream_refused_errors = c('stream_refused_errors');
    this.trailers = c('trailers');
    this.inbound_empty_frames_flood = c('inbound_empty_frames_flood');
    this.inbound_priority_frames_flood = c('inbound_priority_frames_flood');
    this.inbound_window_update_frames_flood = c('inbound_window_update_frames_flood');
    this.outbound_flood = c('outbound_flood');
    this.outbound_control_flood = c('outbound_control_flood');
    this.streams_active = store.gauge(`${prefix}streams_active`, 'cluster_http2_streams_active', labels);
  }

  /** The counter of one kind of flood. */
  flood(kind: H2FloodKind): Counter {
    switch (kind) {
      case 'outbound': return this.outbound_flood;
      case 'outbound_control': return this.outbound_control_flood;
      case 'inbound_empty': return this.inbound_empty_frames_flood;
      case 'inbound_priority': return this.inbound_priority_frames_flood;
      default: return this.inbound_window_update_frames_flood;
    }
  }
}

const byCluster = new WeakMap<Cluster, Http2UpstreamStats>();

/** The `cluster.<name>.http2.*` stats of a cluster. */
export function http2UpstreamStats(cluster: Cluster): Http2UpstreamStats {
  let s = byCluster.get(cluster);
  if (s === undefined) { s = new Http2UpstreamStats(cluster); byCluster.set(cluster, s); }
  return s;
}
