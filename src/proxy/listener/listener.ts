// A listener (envoy.config.listener.v3.Listener): a TCP server on one address that picks a
// filter chain per connection (filter_chain_match on destination_port, then the most specific
// source_prefix_ranges; default_filter_chain otherwise) and hands the socket to the chain's
// network filter. A reload swaps the chains in place; open connections pick up the new
// connection-manager version with their next request.

import net from 'node:net';
import type { FilterChainConfig, ListenerConfig } from '../config/types.js';
import type { StatsStore } from '../../observe/stats.js';
import { ListenerStats } from '../http/hcm.js';
import { Cidr, ipBytes } from './cidr.js';
import { PLAIN_FACTS, type ChainSlot, type CompiledNetworkFilter, type DownstreamConnectionHandle } from './chain.js';
import { serveConnection } from './dispatch.js';

/** Builds the compiled terminal network filter of a filter chain (the server owns the dependencies). */
export type ChainBuilder = (chain: FilterChainConfig) => CompiledNetworkFilter;

interface ChainRuntime {
  readonly name: string;
  readonly port: number | null;
  readonly ranges: readonly Cidr[];
  readonly slot: ChainSlot;
}

function newSlot(f: CompiledNetworkFilter): ChainSlot {
  return f.kind === 'http' ? { kind: 'http', hcm: f.hcm } : { kind: 'tcp', tcp: f.tcp };
}

/** Puts a new compiled filter into an existing slot of the same kind; false when the kind changed. */
function swapInto(slot: ChainSlot, f: CompiledNetworkFilter): boolean {
  if (slot.kind === 'http' && f.kind === 'http') { slot.hcm = f.hcm; return true; }
  if (slot.kind === 'tcp' && f.kind === 'tcp') { slot.tcp = f.tcp; return true; }
  return false;
}

export class ListenerRuntime {
  private server: net.Server | null = null;
  private chains: ChainRuntime[] = [];
  private defaultChain: ChainRuntime | null = null;
  private readonly connections = new Set<DownstreamConnectionHandle>();
  private readonly stats: ListenerStats;
  private draining = false;
  /** The port actually bound (differs from the config when it asks for port 0). */
  port = 0;

  constructor(public config: ListenerConfig, store: StatsStore, build: ChainBuilder) {
    const a = config.address;
    // Envoy's scope is `listener.<address>.` with ':' sanitized: `127.0.0.1_10000`, `[__1]_10000`.
    this.stats = new ListenerStats(store, `${a.address.includes(':') ? `[${a.address}]` : a.address}_${a.port}`.replace(/:/g, '_'));
    this.install(config, build);
  }

  /** Compiles the filter chains of a config; existing connections see the new versions. */
  private install(config: ListenerConfig, build: ChainBuilder): void {
    const old = new Map(this.chains.map((c) => [c.name, c] as const));
    if (this.defaultChain) old.set(this.defaultChain.name, this.defaultChain);
    const make = (fc: FilterChainConfig): ChainRuntime => {
      const filter = build(fc);
      let prev = old.get(fc.name);
      if (prev !== undefined && swapInto(prev.slot, filter)) old.delete(fc.name);
      else prev = undefined;
      return {
        name: fc.name,
        port: fc.match.destinationPort,
        ranges: fc.match.sourcePrefixRanges.map((r) => new Cidr(r.addressPrefix, r.prefixLen)),
        slot: prev?.slot ?? newSlot(filter),
      };
    };
    this.chains = config.filterChains.map(make);
    this.defaultChain = config.defaultFilterChain ? make(config.defaultFilterChain) : null;
    this.config = config;
    // Connections on chains that no longer exist finish what they are doing and close.
    if (old.size > 0) {
      const gone = new Set([...old.values()].map((c) => c.slot));
      for (const c of this.connections) if (gone.has(c.slot)) c.drain();
    }
  }

  /** Applies a new version of this listener's config (same address). */
  update(config: ListenerConfig, build: ChainBuilder): void {
    this.install(config, build);
  }

  start(): Promise<void> {
    const { address, port } = this.config.address;
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.onConnection(s));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address, port, backlog: 4096 }, () => {
        server.off('error', reject);
        this.port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }

  private onConnection(socket: net.Socket): void {
    if (this.draining) { socket.destroy(); return; }
    const chain = this.selectChain(socket);
    if (chain === null) {
      this.stats.no_filter_chain_match.inc();
      socket.destroy();
      return;
    }
    this.stats.downstream_cx_total.inc();
    this.stats.downstream_cx_active.inc();
    const conn = serveConnection(socket, chain.slot, PLAIN_FACTS, this.config.perConnectionBufferLimitBytes, (c) => {
      this.connections.delete(c);
      this.stats.downstream_cx_active.dec();
      this.stats.downstream_cx_destroy.inc();
      if (this.draining && this.connections.size === 0) this.onIdle?.();
    });
    this.connections.add(conn);
  }

  /** filter_chain_match: destination port first, then the longest matching source prefix. */
  private selectChain(socket: net.Socket): ChainRuntime | null {
    const chains = this.chains;
    if (chains.length === 1 && chains[0]!.port === null && chains[0]!.ranges.length === 0) return chains[0]!;
    const localPort = socket.localPort ?? 0;
    let candidates = chains.filter((c) => c.port === localPort);
    if (candidates.length === 0) candidates = chains.filter((c) => c.port === null);
    const src = ipBytes(socket.remoteAddress ?? '');
    let best: ChainRuntime | null = null;
    let bestBits = -1;
    for (const c of candidates) {
      if (c.ranges.length === 0) {
        if (bestBits < 0) { best = c; bestBits = 0; }
        continue;
      }
      if (src === null) continue;
      for (const r of c.ranges) {
        if (r.bits + 1 > bestBits && r.contains(src)) { best = c; bestBits = r.bits + 1; }
      }
    }
    return best ?? this.defaultChain;
  }

  private onIdle: (() => void) | null = null;

  /** Stops accepting; open connections close after their current response. Resolves when none is left. */
  drain(): Promise<void> {
    this.draining = true;
    this.server?.close();
    for (const c of this.connections) c.drain();
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => { this.onIdle = resolve; });
  }

  /** Closes everything now. */
  close(): void {
    this.draining = true;
    this.server?.close();
    for (const c of this.connections) c.destroy();
  }

  get connectionCount(): number { return this.connections.size; }
}
