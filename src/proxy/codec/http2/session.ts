// Weft's HTTP/2 session (RFC 9113) on a raw socket, client or server. STUB until the
// implementation lands: see types.ts for the contract.

import type { Duplex } from 'node:stream';
import type { H2Session, H2SessionHandler, H2SessionOptions } from './types.js';

export function createH2Session(socket: Duplex, options: H2SessionOptions, handler: H2SessionHandler): H2Session {
  void socket; void options; void handler;
  throw new Error('HTTP/2 session not implemented yet');
}
