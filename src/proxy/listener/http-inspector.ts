// envoy.filters.listener.http_inspector (with tls_inspector when the listener has both): peeks at
// the first bytes of a connection without consuming them. TLS is told from anything else by the
// first byte (a TLS connection is not sniffed for HTTP, as in Envoy); on raw bytes sniffHttp
// decides between the HTTP/2 preface (`h2c`), an HTTP/1.x request line (`http/1.1`, `http/1.0`)
// and anything else, as soon as the bytes allow. The peeked bytes are put back on the socket
// (socket.unshift) for the filter chain that takes it.
//
// The inspection can be abandoned before a decision: the listener does so when a pre-connected
// TCP upstream speaks first while the client has said nothing (server-speaks-first protocols).

import type net from 'node:net';
import type { Counter, StatsStore } from '../../observe/stats.js';
import { parseClientHello } from '../tls/client-hello.js';
import { sniffHttp } from './http-sniff.js';

/** Envoy's http_inspector stats, under `listener.<address>.http_inspector.`. */
export class HttpInspectorStats {
  readonly read_error: Counter;
  readonly http10_found: Counter;
  readonly http11_found: Counter;
  readonly http2_found: Counter;
  readonly http_not_found: Counter;
  constructor(store: StatsStore, statName: string) {
    const labels = { envoy_listener_address: statName };
    const c = (n: string) => store.counter(`listener.${statName}.http_inspector.${n}`, `listener_http_inspector_${n}`, labels);
    this.read_error = c('read_error');
    this.http10_found = c('http10_found');
    this.http11_found = c('http11_found');
    this.http2_found = c('http2_found');
    this.http_not_found = c('http_not_found');
  }
}

/** What the listener filters found. */
export interface Inspected {
  /** 'tls' or 'raw_buffer'. */
  readonly transportProtocol: string;
  /** SNI (TLS only). */
  readonly serverName: string | null;
  /** ALPN from the ClientHello (TLS), or what HTTP inspection found: `http/1.1`, `http/1.0`, `h2c`, or none. */
  readonly applicationProtocols: readonly string[];
}

export interface ProtocolInspectionOptions {
  /** tls_inspector is configured too: look for a ClientHello first. */
  readonly tlsInspector: boolean;
  /** listener_filters_timeout; 0 = none. */
  readonly timeoutMs: number;
  /** continue_on_listener_filters_timeout: on timeout, go on with what is known instead of closing. */
  readonly continueOnTimeout: boolean;
  readonly stats: HttpInspectorStats;
}

/**
 * Peeks at `socket` until its protocol is known. `done` gets what was found, or null when the
 * connection went away or timed out without continue_on_listener_filters_timeout (the socket is
 * then already destroyed). `done` is not called after `abandon()`.
 * On success the socket is paused with every peeked byte unshifted, and flows again as soon as
 * its next owner listens for 'data' (or pipes it).
 */
export class ProtocolInspection {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  /** Set once the transport is known (always raw_buffer without tls_inspector). */
  private transport: 'raw_buffer' | null;
  private timer: NodeJS.Timeout | null = null;
  private finished = false;

  constructor(private readonly socket: net.Socket, private readonly opts: ProtocolInspectionOptions,
              private readonly done: (r: Inspected | null) => void) {
    this.transport = opts.tlsInspector ? null : 'raw_buffer';
    // Errors end in 'close'; one is counted as a read error while HTTP inspection runs.
    socket.on('error', this.onError);
    socket.on('data', this.onData);
    socket.once('end', this.onGone);
    socket.once('close', this.onGone);
    if (opts.timeoutMs > 0) this.timer = setTimeout(this.onTimeout, opts.timeoutMs);
  }

  /** The client has sent at least one byte. */
  get clientSpoke(): boolean { return this.size > 0; }

  /** Decided, gone or abandoned. */
  get isFinished(): boolean { return this.finished; }

  /** Stops inspecting without a decision; peeked bytes (if any) go back. The caller owns the socket. */
  abandon(): void {
    if (this.finished) return;
    this.stop();
    this.putBack();
  }

  private readonly onData = (d: Buffer): void => {
    this.chunks.push(d);
    this.size += d.length;
    const data = this.chunks.length === 1 ? d : Buffer.concat(this.chunks);
    if (this.transport === null) {
      const hello = parseClientHello(data);
      if (hello.state === 'more') return;
      if (hello.state === 'tls') {
        // TLS: no HTTP sniffing (the ALPN in the ClientHello is what chains match).
        this.finish({ transportProtocol: 'tls', serverName: hello.serverName, applicationProtocols: hello.alpn });
        return;
      }
      this.transport = 'raw_buffer';
    }
    const found = sniffHttp(data);
    if (found === 'more') return;
    const stats = this.opts.stats;
    switch (found) {
      case 'h2c': stats.http2_found.inc(); break;
      case 'http/1.1': stats.http11_found.inc(); break;
      case 'http/1.0': stats.http10_found.inc(); break;
      default: stats.http_not_found.inc(); break;
    }
    this.finish({ transportProtocol: 'raw_buffer', serverName: null, applicationProtocols: found === 'other' ? [] : [found] });
  };

  private readonly onError = (): void => {
    if (!this.finished && this.transport !== null) this.opts.stats.read_error.inc();
  };

  private readonly onGone = (): void => { this.finish(null); };

  private readonly onTimeout = (): void => {
    this.timer = null;
    // Envoy goes on with what the filters have set so far: the transport if known, no application protocol.
    this.finish(this.opts.continueOnTimeout
      ? { transportProtocol: this.transport ?? 'raw_buffer', serverName: null, applicationProtocols: [] }
      : null);
  };

  private stop(): void {
    this.finished = true;
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    const s = this.socket;
    s.off('data', this.onData);
    s.off('end', this.onGone);
    s.off('close', this.onGone);
    s.off('error', this.onError);
    // Whoever takes the socket adds its own handler; until then an error must not throw.
    s.on('error', () => { /* 'close' follows */ });
  }

  private putBack(): void {
    const s = this.socket;
    s.pause();
    if (this.chunks.length > 0) s.unshift(this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks));
    this.chunks.length = 0;
    // Back to "no consumer yet": the next 'data' listener (or pipe) starts the flow again.
    (s as { readableFlowing: boolean | null }).readableFlowing = null;
  }

  private finish(r: Inspected | null): void {
    if (this.finished) return;
    this.stop();
    if (r === null) {
      this.socket.destroy();
      this.done(null);
      return;
    }
    this.putBack();
    this.done(r);
  }
}
