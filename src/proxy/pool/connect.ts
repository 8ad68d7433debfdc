// Opens the transport to an upstream host: plain TCP now; the cluster's transport_socket (TLS)
// decides later. Every upstream pool (HTTP/1.1, HTTP/2, TCP proxy) connects through here.

import net from 'node:net';
import type { Cluster } from '../cluster/cluster.js';
import type { Host } from '../cluster/host.js';

export interface UpstreamSocketOptions {
  /** ALPN protocols to offer when the cluster uses TLS (e.g. ['h2', 'http/1.1']). */
  readonly alpn?: readonly string[];
  /** net `onread` for plaintext sockets (the HTTP/1.1 pool's per-connection read buffer). */
  readonly onread?: net.OnReadOpts;
}

export interface UpstreamSocket {
  readonly socket: net.Socket;
  /** The event after which the socket is usable: 'connect', or 'secureConnect' once TLS is up. */
  readonly readyEvent: 'connect' | 'secureConnect';
}

/** A socket to `host`. */
export function openUpstreamSocket(_cluster: Cluster, host: Host, opts: UpstreamSocketOptions = {}): UpstreamSocket {
  const socket = net.connect({ host: host.address, port: host.port, noDelay: true, ...(opts.onread ? { onread: opts.onread } : {}) });
  return { socket, readyEvent: 'connect' };
}
