// The connection limit network filter (envoy.filters.network.connection_limit, Envoy's
// configuration/listeners/network_filters/connection_limit_filter) as the listener runs it: when a
// filter chain is chosen, each of its connection_limit filters admits the connection while fewer
// than max_connections of that chain's connections are open, counting it in
// `connection_limit.<stat_prefix>.active_connections` until it closes; otherwise the connection is
// refused (`limited_connections`): not read, and closed at once or after `delay`. The limit is per
// filter chain (as in Envoy) and per process: with `--concurrency N` each worker admits up to
// max_connections on its own. A reload keeps a chain's count when its filter keeps its stat prefix.

import type net from 'node:net';
import type { ConnectionLimitConfig } from '../config/types.js';
import type { Counter, Gauge, StatsStore } from '../../observe/stats.js';

export class ConnectionLimiter {
  private readonly active: Gauge;
  private readonly limited: Counter;
  /** Connections this limiter admitted that are still open. */
  private open = 0;

  constructor(public config: ConnectionLimitConfig, store: StatsStore) {
    const labels = { envoy_connection_limit_prefix: config.statPrefix };
    this.active = store.gauge(`connection_limit.${config.statPrefix}.active_connections`, 'connection_limit_active_connections', labels);
    this.limited = store.counter(`connection_limit.${config.statPrefix}.limited_connections`, 'connection_limit_limited_connections', labels);
  }

  /**
   * Admits `socket` (counted until it closes) or refuses it: then the socket is paused and
   * destroyed, after the configured delay when there is one. Returns whether it was admitted.
   */
  admit(socket: net.Socket): boolean {
    const cfg = this.config;
    if (!cfg.enabled) return true;
    if (this.open < cfg.maxConnections) {
      this.open++;
      this.active.inc();
      socket.once('close', () => { this.open--; this.active.dec(); });
      return true;
    }
    this.limited.inc();
    socket.pause();
    socket.on('error', () => { /* 'close' follows */ });
    if (cfg.delayMs <= 0) { socket.destroy(); return false; }
    const timer = setTimeout(() => socket.destroy(), cfg.delayMs);
    socket.once('close', () => clearTimeout(timer));
    return false;
  }
}
