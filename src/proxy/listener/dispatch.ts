// Hands a connection to its filter chain's terminal network filter.

import type net from 'node:net';
import { serveHttp } from '../http/serve.js';
import type { PreparedUpstream } from '../tcp/tcp-proxy.js';
import type { ChainSlot, ConnectionClosed, ConnectionFacts, DownstreamConnectionHandle } from './chain.js';

/** `prepared`: a TCP upstream pre-connected during protocol detection (TCP proxy chains only). */
export function serveConnection(socket: net.Socket, slot: ChainSlot, facts: ConnectionFacts, bufferLimit: number, onClose: ConnectionClosed,
                                prepared?: PreparedUpstream): DownstreamConnectionHandle {
  return slot.kind === 'http'
    ? serveHttp(socket, slot, facts, bufferLimit, onClose)
    : slot.tcp.serve(socket, slot, facts, bufferLimit, onClose, prepared);
}
