// The contract between a listener and the terminal network filter of a filter chain.
// A filter chain compiles to a slot; a reload swaps what the slot holds, and connections read it
// again at their next natural boundary (the next request for HTTP). Listener filters (TLS and HTTP
// inspection) run before the chain is chosen; what they learn travels in ConnectionFacts, and any
// bytes they peeked are put back on the socket (socket.unshift) before the chain takes it.

import type net from 'node:net';
import type { CompiledHcm } from '../http/hcm.js';
import type { CompiledTcpProxy } from '../tcp/tcp-proxy.js';
import type { DrainSequence } from '../overload/drain.js';

/** An HTTP connection manager chain: connections take `hcm` again for each request. */
export interface HcmSlot {
  readonly kind: 'http';
  hcm: CompiledHcm;
  /** The listener's drain sequence while one runs (codecs ask it whether to close after a response); null or absent otherwise. */
  drain?: DrainSequence | null;
}

/** A TCP proxy chain. */
export interface TcpSlot {
  readonly kind: 'tcp';
  tcp: CompiledTcpProxy;
}

export type ChainSlot = HcmSlot | TcpSlot;

/** What a listener knows about a connection when it hands it to a filter chain. */
export interface ConnectionFacts {
  /** TLS was terminated by the listener: the socket is a tls.TLSSocket. */
  readonly tls: boolean;
  /** SNI from the ClientHello (tls_inspector or termination); null when absent. */
  readonly serverName: string | null;
  /** Negotiated ALPN protocol after TLS termination (`h2`, `http/1.1`), or null. */
  readonly alpn: string | null;
  /** What the listener filters detected: `tls`, `raw_buffer`; HTTP inspection adds `http/1.1` or `h2c`. */
  readonly transportProtocol: string;
  readonly applicationProtocols: readonly string[];
}

export const PLAIN_FACTS: ConnectionFacts = Object.freeze({
  tls: false, serverName: null, alpn: null, transportProtocol: 'raw_buffer', applicationProtocols: [],
});

/** A downstream connection as its listener tracks it. */
export interface DownstreamConnectionHandle {
  readonly slot: ChainSlot;
  /** Finish what is in flight, then close (listener drain, chain removed). */
  drain(): void;
  /** Close now. */
  destroy(): void;
  /**
   * True when the connection asks its slot's drain sequence itself at each response (HTTP/1.1);
   * otherwise a draining listener calls drain() on it in a sweep (HTTP/2: GOAWAY).
   */
  readonly drainsPerResponse?: boolean;
}

export type ConnectionClosed = (c: DownstreamConnectionHandle) => void;

/** Compiled terminal network filter for a slot. */
export type CompiledNetworkFilter = { readonly kind: 'http'; readonly hcm: CompiledHcm } | { readonly kind: 'tcp'; readonly tcp: CompiledTcpProxy };

export type ServeConnection = (socket: net.Socket, slot: ChainSlot, facts: ConnectionFacts, bufferLimit: number, onClose: ConnectionClosed) => DownstreamConnectionHandle;
