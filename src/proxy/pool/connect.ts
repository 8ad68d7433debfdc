// Opens the transport to an upstream host: plain TCP, or TLS (src/proxy/tls/upstream.ts) when the
// host's transport socket is an UpstreamTlsContext: the one transport_socket_matches chose for the
// host (src/proxy/cluster/transport-match.ts), else the cluster's transport_socket. Every upstream
// pool (HTTP/1.1, HTTP/2, TCP proxy) connects through here; pools are per host, so a pool never
// mixes transports.

import net from 'node:net';
import type { Cluster } from '../cluster/cluster.js';
import type { Host } from '../cluster/host.js';
import { upstreamTlsFor, upstreamTlsStats } from '../tls/upstream.js';
import { secretManagerOf } from '../secrets/manager.js';

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

/**
 * A socket to `host`. With TLS, `onread` does not apply (reads arrive as 'data' events) and a
 * failed handshake or verification is an 'error' before 'secureConnect' (a connect failure).
 */
export function openUpstreamSocket(cluster: Cluster, host: Host, opts: UpstreamSocketOptions = {}): UpstreamSocket {
  const choice = host.transport;
  let tlsConfig = cluster.config.transportSocket;
  if (choice !== null) {
    tlsConfig = choice.tls;
    choice.counter?.inc();
  }
  if (tlsConfig !== null) {
    const stats = upstreamTlsStats(cluster.stats.store, cluster.name);
    return { socket: upstreamTlsFor(tlsConfig, secretManagerOf(cluster.stats.store)).connect(host, opts.alpn, stats, cluster.name), readyEvent: 'secureConnect' };
  }
  // Port 0: a Unix socket (`pipe` address of a STATIC cluster, see src/envoy/core.ts).
  const where = host.port === 0 ? { path: host.address } : { host: host.address, port: host.port };
  const socket = net.connect({ ...where, noDelay: true, ...(opts.onread ? { onread: opts.onread } : {}) });
  return { socket, readyEvent: 'connect' };
}
