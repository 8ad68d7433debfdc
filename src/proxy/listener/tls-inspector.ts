// envoy.filters.listener.tls_inspector: reads the first bytes of a connection without consuming
// them, tells TLS from anything else (at once, from the first byte) and, for TLS, reads SNI and
// ALPN from the ClientHello. The bytes are put back on the socket (socket.unshift) for whoever
// takes the connection next: the TLS handshake, a plaintext codec, or a TCP proxy passing TLS through.

import type net from 'node:net';
import { parseClientHello } from '../tls/client-hello.js';

export interface InspectedTls {
  /** 'tls' or 'raw_buffer'. */
  readonly transportProtocol: string;
  readonly serverName: string | null;
  readonly applicationProtocols: readonly string[];
}

const RAW: InspectedTls = Object.freeze({ transportProtocol: 'raw_buffer', serverName: null, applicationProtocols: [] });

export interface InspectOptions {
  /** listener_filters_timeout; 0 = none. */
  readonly timeoutMs: number;
  /** continue_on_listener_filters_timeout: on timeout, go on as raw_buffer instead of closing. */
  readonly continueOnTimeout: boolean;
}

/**
 * Peeks at `socket`. `done` gets what was found, or null when the connection went away (or timed
 * out without continue_on_listener_filters_timeout) — the socket is then already destroyed.
 * On success the socket is paused with every peeked byte unshifted, and flows again as soon as
 * its next owner listens for 'data' (or pipes it).
 */
export function inspectTls(socket: net.Socket, opts: InspectOptions, done: (r: InspectedTls | null) => void): void {
  const chunks: Buffer[] = [];
  let timer: NodeJS.Timeout | null = null;
  let finished = false;
  const finish = (r: InspectedTls | null): void => {
    if (finished) return;
    finished = true;
    if (timer !== null) clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onGone);
    socket.off('close', onGone);
    if (r === null) {
      socket.destroy();
      done(null);
      return;
    }
    socket.pause();
    if (chunks.length > 0) socket.unshift(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    // Back to "no consumer yet": the next 'data' listener (or pipe) starts the flow again.
    (socket as { readableFlowing: boolean | null }).readableFlowing = null;
    done(r);
  };
  const onData = (d: Buffer): void => {
    chunks.push(d);
    const data = chunks.length === 1 ? d : Buffer.concat(chunks);
    const res = parseClientHello(data);
    if (res.state === 'more') return;
    if (res.state === 'not-tls') { finish(RAW); return; }
    finish({ transportProtocol: 'tls', serverName: res.serverName, applicationProtocols: res.alpn });
  };
  const onGone = (): void => finish(null);
  socket.on('error', () => { /* 'close' follows */ });
  socket.on('data', onData);
  socket.once('end', onGone);
  socket.once('close', onGone);
  if (opts.timeoutMs > 0) {
    timer = setTimeout(() => finish(opts.continueOnTimeout ? RAW : null), opts.timeoutMs);
  }
}
