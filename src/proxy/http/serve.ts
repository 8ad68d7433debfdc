// Serves a downstream connection with the HTTP connection manager: picks the codec (HTTP/1.1 now).

import type net from 'node:net';
import type { ConnectionClosed, ConnectionFacts, DownstreamConnectionHandle, HcmSlot } from '../listener/chain.js';
import { Http1DownstreamConnection } from './http1-downstream.js';

export function serveHttp(socket: net.Socket, slot: HcmSlot, _facts: ConnectionFacts, bufferLimit: number, onClose: ConnectionClosed): DownstreamConnectionHandle {
  return new Http1DownstreamConnection(socket, slot, bufferLimit, onClose);
}
