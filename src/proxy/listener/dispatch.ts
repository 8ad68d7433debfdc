// Hands a connection to its filter chain's terminal network filter.

import type net from 'node:net';
import { serveHttp } from '../http/serve.js';
import type { ChainSlot, ConnectionClosed, ConnectionFacts, DownstreamConnectionHandle } from './chain.js';

export function serveConnection(socket: net.Socket, slot: ChainSlot, facts: ConnectionFacts, bufferLimit: number, onClose: ConnectionClosed): DownstreamConnectionHandle {
  return slot.kind === 'http'
    ? serveHttp(socket, slot, facts, bufferLimit, onClose)
    : slot.tcp.serve(socket, slot, facts, bufferLimit, onClose);
}
