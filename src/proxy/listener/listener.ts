// A listener (envoy.config.listener.v3.Listener): a TCP server on one address. Per connection:
// listener filters (tls_inspector, http_inspector), then a filter chain chosen
// by filter_chain_match in Envoy's order (destination_port, server_names, transport_protocol,
// application_protocols, source_prefix_ranges; default_filter_chain otherwise), then TLS
// termination when the chain has a transport socket, then the chain's network filter. A reload
// swaps the chains in place; open connections pick up the new connection-manager version with
// their next request.
//
// Before anything reads a new connection, admission.ts decides whether the listener takes it
// (descriptor guard, the runtime listener connection limit, global_downstream_max_connections,
// overload actions); once a filter chain is chosen, its connection_limit filters decide
// (connection-limit.ts), before TLS termination; its rbac filters decide after TLS termination,
// before the terminal filter (rbac.ts).
//
// Protocol detection (http_inspector) never stalls a server-speaks-first protocol: while the
// client has sent nothing, the TCP proxy chain a silent client would get is pre-connected; if its
// upstream speaks (or closes) first, the connection goes there at once. Envoy instead
// waits for client bytes up to listener_filters_timeout.

import net from 'node:net';
import type tls from 'node:tls';
import type { FilterChainConfig, ListenerConfig } from '../config/types.js';
import type { StatsStore } from '../../observe/stats.js';
import { ListenerStats } from '../http/hcm.js';
import { DownstreamTls, DownstreamTlsStats } from '../tls/downstream.js';
import { Cidr, ipBytes } from './cidr.js';
import { PLAIN_FACTS, type ChainSlot, type CompiledNetworkFilter, type ConnectionFacts, type DownstreamConnectionHandle } from './chain.js';
import { serveConnection } from './dispatch.js';
import { inspectTls } from './tls-inspector.js';
import { HttpInspectorStats, ProtocolInspection, type Inspected } from './http-inspector.js';
import type { PreparedUpstream } from '../tcp/tcp-proxy.js';
import { ListenerAdmission } from './admission.js';
import { ConnectionLimiter } from './connection-limit.js';
import { NetworkRbac } from './rbac.js';
import type { DrainSequence } from '../overload/drain.js';

/** A TCP upstream opened during protocol detection for the chain in `slot`. */
interface Preconnect {
  readonly slot: ChainSlot;
  readonly upstream: PreparedUpstream;
}

/** What a client that has said nothing (yet) looks like to filter chain matching. */
const SILENT_FACTS: ConnectionFacts = PLAIN_FACTS;

/** Builds the compiled terminal network filter of a filter chain (the server owns the dependencies). */
export type ChainBuilder = (chain: FilterChainConfig) => CompiledNetworkFilter;

interface ChainRuntime {
  readonly name: string;
  readonly port: number | null;
  /** Exact server names (lower-cased). */
  readonly serverNames: ReadonlySet<string>;
  /** `*.suffix` wildcards as their suffix with the leading dot (`.example.com`). */
  readonly wildcardSuffixes: readonly string[];
  readonly anyServerName: boolean;
  readonly transportProtocol: string;
  readonly applicationProtocols: readonly string[];
  readonly ranges: readonly Cidr[];
  readonly slot: ChainSlot;
  /** TLS termination (transport_socket), or null for raw bytes. */
  readonly tls: DownstreamTls | null;
  /** The chain's connection_limit filters, in order (usually none). */
  readonly limits: readonly ConnectionLimiter[];
  /** The chain's rbac filters, in order (usually none): evaluated at hand-over, after TLS. */
  readonly rbac: readonly NetworkRbac[];
}

/** Narrows `chains` on one criterion: those matching specifically when any does, else those that accept anything. */
function narrow(chains: readonly ChainRuntime[], specific: (c: ChainRuntime) => boolean, any: (c: ChainRuntime) => boolean): ChainRuntime[] {
  const hit = chains.filter(specific);
  return hit.length > 0 ? hit : chains.filter(any);
}

/** server_names: an exact name first, then the longest matching `*.` wildcard, then chains without server_names. */
function narrowByServerName(chains: readonly ChainRuntime[], sni: string | null): ChainRuntime[] {
  if (sni !== null && sni !== '') {
    const exact = chains.filter((c) => c.serverNames.has(sni));
    if (exact.length > 0) return exact;
    for (let dot = sni.indexOf('.'); dot >= 0; dot = sni.indexOf('.', dot + 1)) {
      const suffix = sni.slice(dot);
      const wild = chains.filter((c) => c.wildcardSuffixes.includes(suffix));
      if (wild.length > 0) return wild;
    }
  }
  return chains.filter((c) => c.anyServerName);
}

function newSlot(f: CompiledNetworkFilter): ChainSlot {
  return f.kind === 'http' ? { kind: 'http', hcm: f.hcm, drain: null } : { kind: 'tcp', tcp: f.tcp };
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
  private readonly tlsStats: DownstreamTlsStats;
  private readonly admission: ListenerAdmission;
  /** connection_limit filters by chain name, position and stat prefix (kept across reloads). */
  private limiters = new Map<string, ConnectionLimiter>();
  private httpInspectorStats: HttpInspectorStats | null = null;
  private readonly statName: string;
  /** Sockets between accept and their hand-over (listener filters, TLS handshake). */
  private readonly pending = new Set<net.Socket>();
  private draining = false;
  /** The port actually bound (differs from the config when it asks for port 0). */
  port = 0;

  constructor(public config: ListenerConfig, private readonly store: StatsStore, build: ChainBuilder) {
    const a = config.address;
    // Envoy's scope is `listener.<address>.` with ':' sanitized: `127.0.0.1_10000`, `[__1]_10000`.
    const statName = `${a.address.includes(':') ? `[${a.address}]` : a.address}_${a.port}`.replace(/:/g, '_');
    this.statName = statName;
    this.stats = new ListenerStats(store, statName);
    this.tlsStats = new DownstreamTlsStats(store, statName);
    this.admission = new ListenerAdmission(store, statName, config.name);
    this.install(config, build);
  }

  /** Compiles the filter chains of a config; existing connections see the new versions. */
  private install(config: ListenerConfig, build: ChainBuilder): void {
    const old = new Map(this.chains.map((c) => [c.name, c] as const));
    if (this.defaultChain) old.set(this.defaultChain.name, this.defaultChain);
    const limiters = new Map<string, ConnectionLimiter>();
    const limitsOf = (fc: FilterChainConfig): ConnectionLimiter[] => {
      const out: ConnectionLimiter[] = [];
      fc.filters.forEach((f, i) => {
        if (f.kind !== 'connection_limit') return;
        const key = `${fc.name}\n${i}\n${f.statPrefix}`;
        let lim = this.limiters.get(key);
        if (lim === undefined) lim = new ConnectionLimiter(f, this.store);
        else lim.config = f;
        limiters.set(key, lim);
        out.push(lim);
      });
      return out;
    };
    const make = (fc: FilterChainConfig): ChainRuntime => {
      const filter = build(fc);
      let prev = old.get(fc.name);
      if (prev !== undefined && swapInto(prev.slot, filter)) old.delete(fc.name);
      else prev = undefined;
      const m = fc.match;
      return {
        name: fc.name,
        port: m.destinationPort,
        serverNames: new Set(m.serverNames.filter((n) => !n.startsWith('*.'))),
        wildcardSuffixes: m.serverNames.filter((n) => n.startsWith('*.')).map((n) => n.slice(1)),
        anyServerName: m.serverNames.length === 0,
        transportProtocol: m.transportProtocol,
        applicationProtocols: m.applicationProtocols,
        ranges: m.sourcePrefixRanges.map((r) => new Cidr(r.addressPrefix, r.prefixLen)),
        slot: prev?.slot ?? newSlot(filter),
        tls: fc.transportSocket === null ? null : new DownstreamTls(fc.transportSocket, this.tlsStats),
        limits: limitsOf(fc),
        rbac: fc.filters.flatMap((f) => (f.kind === 'rbac' ? [new NetworkRbac(f, this.store)] : [])),
      };
    };
    const oldTls = [...this.chains, ...(this.defaultChain ? [this.defaultChain] : [])].map((c) => c.tls);
    this.chains = config.filterChains.map(make);
    this.defaultChain = config.defaultFilterChain ? make(config.defaultFilterChain) : null;
    if (this.drainSequence !== null) this.setSlotsDrain(this.drainSequence);
    this.limiters = limiters;
    this.config = config;
    if (this.httpInspectorStats === null && config.listenerFilters.some((f) => f.kind === 'http_inspector')) {
      this.httpInspectorStats = new HttpInspectorStats(this.store, this.statName);
    }
    // The previous TLS contexts stop watching files; connections using them are unaffected.
    for (const t of oldTls) t?.close();
    // Connections on chains that no longer exist finish what they are doing and close.
    if (old.size > 0) {
      const gone = new Set([...old.values()].map((c) => c.slot));
      for (const c of this.connections) if (gone.has(c.slot)) c.drain();
    }
  }

  /** The runtime limit on this listener's open connections (envoy.resource_limits.listener.<name>.connection_limit); null = none. */
  setConnectionLimit(limit: number | null): void {
    this.admission.limit = limit ?? Infinity;
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
    if (!this.admission.admit(socket)) return;
    const cfg = this.config;
    if (cfg.listenerFilters.some((f) => f.kind === 'http_inspector')) {
      this.detect(socket);
      return;
    }
    if (!cfg.listenerFilters.some((f) => f.kind === 'tls_inspector')) {
      this.afterListenerFilters(socket, PLAIN_FACTS);
      return;
    }
    this.pending.add(socket);
    inspectTls(socket, { timeoutMs: cfg.listenerFiltersTimeoutMs, continueOnTimeout: cfg.continueOnListenerFiltersTimeout }, (found) => {
      this.pending.delete(socket);
      if (found === null || this.draining) { socket.destroy(); return; }
      this.afterListenerFilters(socket, {
        tls: false, serverName: found.serverName, alpn: null,
        transportProtocol: found.transportProtocol, applicationProtocols: found.applicationProtocols,
      });
    });
  }

  /**
   * Listener filters with http_inspector (and tls_inspector when configured): peeks until the
   * protocol is known. Meanwhile, when a silent client would get a TCP proxy chain, its upstream is
   * pre-connected: should it speak or close before the client sends a byte, the connection
   * goes to that chain at once; otherwise the detected protocol picks the chain, which uses the
   * pre-connected upstream if it is that same chain, and the upstream is closed if not.
   */
  private detect(socket: net.Socket): void {
    const cfg = this.config;
    this.pending.add(socket);
    let pre: Preconnect | null = null;
    const inspection = new ProtocolInspection(socket, {
      tlsInspector: cfg.listenerFilters.some((f) => f.kind === 'tls_inspector'),
      timeoutMs: cfg.listenerFiltersTimeoutMs,
      continueOnTimeout: cfg.continueOnListenerFiltersTimeout,
      stats: this.httpInspectorStats!,
    }, (found: Inspected | null) => {
      this.pending.delete(socket);
      if (found === null || this.draining) {
        pre?.upstream.cancel();
        socket.destroy();
        return;
      }
      this.afterListenerFilters(socket, {
        tls: false, serverName: found.serverName, alpn: null,
        transportProtocol: found.transportProtocol, applicationProtocols: found.applicationProtocols,
      }, pre);
    });
    const fallback = this.selectChain(socket, SILENT_FACTS);
    if (fallback === null || fallback.slot.kind !== 'tcp' || fallback.tls !== null) return;
    const slot = fallback.slot;
    // The callback may come before prepare() returns (no healthy host): it is handled a tick later.
    const upstream = slot.tcp.prepare(socket, (event) => queueMicrotask(() => {
      // Once the client has spoken, its bytes decide (the upstream's greeting is held meanwhile).
      if (inspection.isFinished || inspection.clientSpoke) return;
      // An unreachable fallback upstream says nothing about the client: it may still speak HTTP,
      // and an HTTP chain must not fail because the TCP one would. Wait for the client (bounded
      // by listener_filters_timeout); if it turns out not to be HTTP, the TCP chain closes it.
      if (event === 'error') return;
      inspection.abandon();
      this.pending.delete(socket);
      if (this.draining || socket.destroyed) {
        upstream.cancel();
        socket.destroy();
        return;
      }
      this.afterListenerFilters(socket, SILENT_FACTS, pre);
    }));
    pre = { slot, upstream };
  }

  /** `pre`: an upstream pre-connected during detection; used if the chosen chain is its chain, else closed. */
  private afterListenerFilters(socket: net.Socket, facts: ConnectionFacts, pre: Preconnect | null = null): void {
    const chain = this.selectChain(socket, facts);
    if (pre !== null && chain?.slot !== pre.slot) {
      pre.upstream.cancel();
      pre = null;
    }
    if (chain === null) {
      this.stats.no_filter_chain_match.inc();
      socket.destroy();
      return;
    }
    this.stats.downstream_cx_total.inc();
    this.stats.downstream_cx_active.inc();
    for (const limit of chain.limits) {
      if (limit.admit(socket)) continue;
      pre?.upstream.cancel();
      socket.once('close', () => {
        this.stats.downstream_cx_active.dec();
        this.stats.downstream_cx_destroy.inc();
        if (this.draining && this.connections.size === 0 && this.pending.size === 0) this.onIdle?.();
      });
      return;
    }
    const prepared = pre?.upstream;
    if (chain.tls === null) {
      this.handOver(socket, chain, facts, prepared);
      return;
    }
    this.pending.add(socket);
    chain.tls.terminate(socket, (t: tls.TLSSocket | null) => {
      this.pending.delete(socket);
      if (t === null || this.draining) {
        prepared?.cancel();
        t?.destroy();
        this.stats.downstream_cx_active.dec();
        this.stats.downstream_cx_destroy.inc();
        if (this.draining && this.connections.size === 0 && this.pending.size === 0) this.onIdle?.();
        return;
      }
      const alpn = typeof t.alpnProtocol === 'string' ? t.alpnProtocol : null;
      const sni = typeof t.servername === 'string' && t.servername !== '' ? t.servername.toLowerCase() : facts.serverName;
      this.handOver(t, chain, {
        tls: true, serverName: sni, alpn, transportProtocol: facts.transportProtocol, applicationProtocols: facts.applicationProtocols,
      }, prepared);
    });
  }

  private handOver(socket: net.Socket, chain: ChainRuntime, facts: ConnectionFacts, prepared?: PreparedUpstream): void {
    for (const rbac of chain.rbac) {
      if (rbac.admit(socket, facts.serverName)) continue;
      prepared?.cancel();
      socket.once('close', () => {
        this.stats.downstream_cx_active.dec();
        this.stats.downstream_cx_destroy.inc();
        if (this.draining && this.connections.size === 0 && this.pending.size === 0) this.onIdle?.();
      });
      return;
    }
    const conn = serveConnection(socket, chain.slot, facts, this.config.perConnectionBufferLimitBytes, (c) => {
      this.connections.delete(c);
      this.stats.downstream_cx_active.dec();
      this.stats.downstream_cx_destroy.inc();
      if (this.draining && this.connections.size === 0 && this.pending.size === 0) this.onIdle?.();
    }, prepared);
    this.connections.add(conn);
  }

  /**
   * filter_chain_match in Envoy's order, each step narrowing the candidates without going back:
   * destination port, server name, transport protocol, application protocols, then the longest
   * matching source prefix.
   */
  private selectChain(socket: net.Socket, facts: ConnectionFacts): ChainRuntime | null {
    const chains = this.chains;
    if (chains.length === 1) {
      const c = chains[0]!;
      if (c.port === null && c.ranges.length === 0 && c.anyServerName && c.transportProtocol === '' && c.applicationProtocols.length === 0) return c;
    }
    const localPort = socket.localPort ?? 0;
    let candidates = narrow(chains, (c) => c.port === localPort, (c) => c.port === null);
    candidates = narrowByServerName(candidates, facts.serverName);
    candidates = narrow(candidates, (c) => c.transportProtocol !== '' && c.transportProtocol === facts.transportProtocol, (c) => c.transportProtocol === '');
    const apps = facts.applicationProtocols;
    candidates = narrow(candidates, (c) => c.applicationProtocols.some((p) => apps.includes(p)), (c) => c.applicationProtocols.length === 0);
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

  // ─────────────────────────── drain sequence ───────────────────────────

  private drainSequence: DrainSequence | null = null;
  private drainSweep: NodeJS.Timeout | null = null;

  /** Whether a drain sequence runs (or ran) on this listener. */
  get drainSequenceStarted(): boolean { return this.drainSequence !== null; }

  private setSlotsDrain(seq: DrainSequence | null): void {
    for (const c of [...this.chains, ...(this.defaultChain ? [this.defaultChain] : [])]) if (c.slot.kind === 'http') c.slot.drain = seq;
  }

  /**
   * Envoy's drain sequence (overload/drain.ts): the listener keeps accepting; HTTP/1.1 connections
   * close after a response (the codec asks the sequence per response); the others (HTTP/2) are
   * drained (GOAWAY) by a sweep, a growing share of them as the drain time goes by. A second call
   * while one runs is ignored (the first sequence's schedule stands).
   */
  startDrainSequence(seq: DrainSequence): void {
    if (this.drainSequence !== null || this.draining) return;
    this.drainSequence = seq;
    this.setSlotsDrain(seq);
    const asked = new WeakSet<DownstreamConnectionHandle>();
    let prev = 0;
    const sweep = (): void => {
      const chance = seq.sweepChance(prev);
      prev = seq.elapsedMs;
      for (const c of this.connections) {
        if (c.drainsPerResponse === true || c.slot.kind !== 'http' || asked.has(c)) continue;
        if (chance >= 1 || Math.random() < chance) {
          asked.add(c);
          c.slot.hcm.stats.downstream_cx_drain_close.inc();
          c.drain();
        }
      }
    };
    sweep();
    this.drainSweep = setInterval(sweep, Math.max(50, Math.min(1000, seq.durationMs / 20)));
    this.drainSweep.unref();
  }

  private stopDrainSweep(): void {
    if (this.drainSweep !== null) { clearInterval(this.drainSweep); this.drainSweep = null; }
  }

  /** Stops accepting; open connections close after their current response. Resolves when none is left. */
  drain(): Promise<void> {
    this.stopDrainSweep();
    this.draining = true;
    this.server?.close();
    // Connections not handed over yet (listener filters, TLS handshake) have no request in flight.
    for (const s of [...this.pending]) s.destroy();
    for (const c of this.connections) c.drain();
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => { this.onIdle = resolve; });
  }

  /** Closes everything now. */
  close(): void {
    this.stopDrainSweep();
    this.draining = true;
    this.server?.close();
    for (const s of [...this.pending]) s.destroy();
    for (const c of this.connections) c.destroy();
    for (const c of [...this.chains, ...(this.defaultChain ? [this.defaultChain] : [])]) c.tls?.close();
  }

  get connectionCount(): number { return this.connections.size; }
}
