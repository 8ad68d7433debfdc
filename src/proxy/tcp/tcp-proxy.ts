// envoy.filters.network.tcp_proxy, compiled once per config version: picks the cluster for each
// connection (`cluster`, or `weighted_clusters` by weight), then a TcpSession carries the bytes.
// `prepare()` lets the listener open the upstream connection before it knows whether the client
// speaks HTTP, so a server-speaks-first protocol is not held up by protocol sniffing.

import type net from 'node:net';
import type { TcpProxyConfig } from '../config/types.js';
import type { ClusterManager } from '../cluster/manager.js';
import type { StatsStore } from '../../observe/stats.js';
import type { AccessLogger } from '../../observe/access-log/logger.js';
import type { RandomFn } from '../lb/types.js';
import type { ConnectionClosed, ConnectionFacts, DownstreamConnectionHandle, TcpSlot } from '../listener/chain.js';
import { TcpProxyStats } from './stats.js';
import { TcpSession, type DownstreamAddresses, type UpstreamEarlyEvent } from './session.js';

export type { DownstreamAddresses, UpstreamEarlyEvent } from './session.js';

/**
 * An upstream connection opened ahead of the downstream's protocol decision. Bytes the server
 * sends before `serve()` are held and forwarded first.
 */
export interface PreparedUpstream {
  /** Closes the upstream connection (the downstream turned out to be HTTP). No access log, no tcp stats. */
  cancel(): void;
}

class PreparedTcpUpstream implements PreparedUpstream {
  constructor(readonly session: TcpSession) {}
  cancel(): void { this.session.cancel(); }
}

export interface CompiledTcpProxyOptions {
  /** Random source in [0, 1) for weighted_clusters; defaults to Math.random. */
  readonly random?: RandomFn;
}

export class CompiledTcpProxy {
  readonly stats: TcpProxyStats;
  private readonly random: RandomFn;

  constructor(readonly config: TcpProxyConfig, readonly clusters: ClusterManager, readonly store: StatsStore,
              readonly accessLoggers: readonly AccessLogger[], opts: CompiledTcpProxyOptions = {}) {
    this.stats = new TcpProxyStats(store, config.statPrefix);
    this.random = opts.random ?? Math.random;
  }

  /** The cluster a new connection goes to: `cluster`, or one of `weighted_clusters` by weight. */
  pickCluster(): string {
    const w = this.config.weightedClusters;
    if (w === null) return this.config.cluster!;
    let r = Math.floor(this.random() * w.totalWeight);
    for (const c of w.clusters) {
      if (r < c.weight) return c.name;
      r -= c.weight;
    }
    return w.clusters[w.clusters.length - 1]!.name;
  }

  /**
   * Picks the upstream host and starts connecting before the downstream is handed over.
   * `onServerSpoke` hears, once, the first thing the upstream does before `serve()`: it sent bytes
   * (`data`), closed its side (`end`), or could not be reached (`error`) — the listener can stop
   * waiting for the client to speak. Either pass the result to `serve()` or `cancel()` it.
   */
  prepare(downstream: DownstreamAddresses, onServerSpoke?: (event: UpstreamEarlyEvent) => void): PreparedUpstream {
    return new PreparedTcpUpstream(new TcpSession(this, this.pickCluster(), downstream, onServerSpoke ?? null));
  }

  /**
   * Proxies a downstream connection; with `prepared` (from any version of this filter) its
   * upstream connection is used, and what the server already sent goes out first.
   */
  serve(socket: net.Socket, slot: TcpSlot, _facts: ConnectionFacts, bufferLimit: number, onClose: ConnectionClosed,
        prepared?: PreparedUpstream): DownstreamConnectionHandle {
    const session = prepared instanceof PreparedTcpUpstream
      ? prepared.session
      : new TcpSession(this, this.pickCluster(), socket, null);
    session.attach(socket, slot, bufferLimit, onClose);
    return session;
  }
}
