// envoy.filters.network.tcp_proxy: placeholder for the compiled TCP proxy.

import type net from 'node:net';
import type { TcpProxyConfig } from '../config/types.js';
import type { ClusterManager } from '../cluster/manager.js';
import type { StatsStore } from '../../observe/stats.js';
import type { AccessLogger } from '../../observe/access-log/logger.js';
import type { ConnectionClosed, ConnectionFacts, DownstreamConnectionHandle, TcpSlot } from '../listener/chain.js';

export class CompiledTcpProxy {
  constructor(readonly config: TcpProxyConfig, readonly clusters: ClusterManager, readonly store: StatsStore,
              readonly accessLoggers: readonly AccessLogger[]) {}

  serve(socket: net.Socket, _slot: TcpSlot, _facts: ConnectionFacts, _bufferLimit: number, _onClose: ConnectionClosed): DownstreamConnectionHandle {
    socket.destroy();
    throw new Error('tcp_proxy is not implemented yet');
  }
}
