// An upstream cluster (envoy.config.cluster.v3.Cluster): hosts from discovery, stats, and chooseHost —
// priority load, panic threshold, locality weights, then the lb_policy (arch_overview/upstream/load_balancing).
// Everything chooseHost needs is precomputed when membership or health changes.
import type { StatsStore } from '../../observe/stats.js';
import type { ClusterConfig } from '../config/types.js';
import { createLoadBalancer, isHashPolicy } from '../lb/factory.js';
import { LocalityWeightedLb, localityEffectiveWeight } from '../lb/locality.js';
import { isPrime } from '../lb/maglev.js';
import { EMPTY_LB, type LbOptions, type LoadBalancer, type RandomFn } from '../lb/types.js';
import { DnsDiscovery, staticHostSpecs } from './discovery.js';
import { SystemDnsResolver, type DnsResolver } from './dns.js';
import { Host, type HostSpec } from './host.js';
import { OutlierDetector, type OutlierDetectorOptions } from './outlier.js';
import { computePriorityState } from './priority.js';
import { ClusterStats } from './stats.js';
import { TransportSocketMatcher } from './transport-match.js';

export interface ClusterOptions {
  /** DNS resolver for STRICT_DNS / LOGICAL_DNS; defaults to the system resolver (dns.lookup). */
  readonly resolver?: DnsResolver;
  /** Random source in [0, 1) for the balancers; defaults to Math.random. */
  readonly random?: RandomFn;
  /** Clock / random / timer overrides for outlier detection (tests). */
  readonly outlier?: OutlierDetectorOptions;
}

/** A host the balancers may pick: healthy (EDS health_status) and not ejected by outlier detection. */
const usable = (h: Host): boolean => h.healthy && !h.ejected;

export type HostsChangedCallback = (added: Host[], removed: Host[]) => void;

/** One priority level's precomputed balancing state. */
class Level {
  panic = false;
  private allLb: LoadBalancer | null = null;
  constructor(readonly hosts: readonly Host[], readonly healthy: readonly Host[],
              readonly healthyLb: LoadBalancer, private readonly makeAll: () => LoadBalancer) {}
  /** Balancer over every host of the level (panic mode), built on first use. */
  panicLb(): LoadBalancer {
    return (this.allLb ??= this.healthy.length === this.hosts.length ? this.healthyLb : this.makeAll());
  }
}

export class Cluster {
  readonly name: string;
  private cfg: ClusterConfig;
  readonly stats: ClusterStats;
  /** Retries waiting or running now (circuit_breakers max_retries); maintained by the router. */
  activeRetries = 0;
  /** Outlier detection (`outlier_detection`), null when the cluster has none; the router reports to it. */
  readonly outlier: OutlierDetector | null;
  /** transport_socket_matches: each host's transport socket, chosen when it joins. */
  readonly transportMatcher: TransportSocketMatcher;

  private currentHosts: Host[] = [];
  private identities: string[] = [];
  private byPriority: Host[][] = [];
  private levels: Level[] = [];
  /** Priority index for each percent 0..99 of the priority load. */
  private readonly priorityTable = new Uint16Array(100);
  /** Set when one non-panicking level carries 100% of the load: chooseHost goes straight to it. */
  private fast: LoadBalancer | null = EMPTY_LB;
  private healthSnapshot = new Uint8Array(0);
  private readonly listeners: HostsChangedCallback[] = [];
  private readonly lbOptions: LbOptions;
  private readonly random: RandomFn;
  private localityWeighted: boolean;
  private readonly hashPriority: boolean;
  private readonly discovery: DnsDiscovery | null = null;
  private closed = false;

  constructor(config: ClusterConfig, store: StatsStore, opts: ClusterOptions = {}) {
    this.name = config.name;
    this.cfg = config;
    if (config.lbPolicy === 'MAGLEV' && !isPrime(config.maglev.tableSize)) {
      throw new RangeError(`cluster ${config.name}: maglev table_size must be a prime number, got ${config.maglev.tableSize}`);
    }
    this.stats = new ClusterStats(store, config.name);
    this.transportMatcher = new TransportSocketMatcher(config, store);
    this.random = opts.random ?? Math.random;
    this.lbOptions = {
      random: this.random,
      leastRequest: config.leastRequest,
      ringHash: config.ringHash,
      maglev: config.maglev,
    };
    this.hashPriority = isHashPolicy(config.lbPolicy);
    this.localityWeighted = config.loadAssignment.endpoints.some((l) => l.loadBalancingWeight !== null);
    const od = config.outlierDetection;
    this.outlier = od == null ? null
      : new OutlierDetector(od, store, config.name, () => this.currentHosts, () => this.refreshHealth(), opts.outlier);
    if (config.type === 'STATIC' || config.type === 'EDS') {
      this.setHosts(staticHostSpecs(config));
    } else {
      this.discovery = new DnsDiscovery(config, opts.resolver ?? new SystemDnsResolver(), this.stats,
        (specs) => this.setHosts(specs));
    }
  }

  /** The config in effect (for EDS, with the endpoints last applied by updateLoadAssignment). */
  get config(): ClusterConfig { return this.cfg; }

  /**
   * EDS: installs a new load assignment in place, keeping the Host objects (and their pools) of
   * endpoints that are still there. `next` must differ from the current config only in its
   * loadAssignment (ClusterManager checks). Returns whether membership changed.
   */
  updateLoadAssignment(next: ClusterConfig): boolean {
    if (this.cfg.type !== 'EDS') throw new TypeError(`cluster ${this.name}: only EDS clusters take load assignments in place`);
    this.cfg = next;
    this.localityWeighted = next.loadAssignment.endpoints.some((l) => l.loadBalancingWeight !== null);
    const changed = this.setHosts(staticHostSpecs(next));
    // Locality weights may change without membership changing: rebuild the balancers anyway.
    if (!changed) this.rebuild();
    return changed;
  }

  /** All hosts, by priority then declaration (and DNS answer) order. Replaced, never mutated, on change. */
  get hosts(): readonly Host[] { return this.currentHosts; }

  /** Hosts per priority level (index = priority; empty arrays for unused levels). */
  hostsByPriority(): readonly (readonly Host[])[] { return this.byPriority; }

  /**
   * Picks a host: the priority level by priority load (hash % 100 for RING_HASH / MAGLEV, else
   * random), then — if that level
   * is in panic — any host of the level (counting lb_healthy_panic), else a healthy host by
   * locality weight and the lb_policy. `hash` feeds RING_HASH / MAGLEV; null means random.
   * Returns null when there is no host to pick (the caller answers 503 UH).
   */
  chooseHost(hash: number | null): Host | null {
    const fast = this.fast;
    if (fast !== null) return fast.choose(hash);
    // Like Envoy: hash-based policies pick the level from the hash too, the others at random.
    const r = hash !== null && this.hashPriority ? (hash >>> 0) % 100 : (this.random() * 100) | 0;
    const level = this.levels[this.priorityTable[r]!]!;
    if (level.panic) {
      this.stats.lb_healthy_panic.inc();
      return level.panicLb().choose(hash);
    }
    return level.healthyLb.choose(hash);
  }

  /** Resolves when the first discovery round is done (at once for STATIC). */
  start(): Promise<void> {
    return this.discovery === null ? Promise.resolve() : this.discovery.start();
  }

  /** Runs a DNS round now (no-op for STATIC); resolves when its result is applied. */
  resolveNow(): Promise<void> {
    return this.discovery === null ? Promise.resolve() : this.discovery.resolveNow();
  }

  /** Stops DNS refreshes. Hosts stay as they are for requests still holding this cluster. */
  close(): void {
    this.closed = true;
    this.discovery?.close();
    this.outlier?.close();
  }

  get isClosed(): boolean { return this.closed; }

  onHostsChanged(cb: HostsChangedCallback): void {
    this.listeners.push(cb);
  }

  /** Rebuilds balancing state after hosts' `healthy` / `ejected` flags changed (no-op when nothing changed). */
  refreshHealth(): void {
    const hosts = this.currentHosts;
    const snap = this.healthSnapshot;
    let same = snap.length === hosts.length;
    for (let i = 0; same && i < hosts.length; i++) same = snap[i] === (usable(hosts[i]!) ? 1 : 0);
    if (!same) this.rebuild();
  }

  /** Counts a response code: see ClusterStats.rqStatus. */
  rqStatus(code: number): void {
    this.stats.rqStatus(code);
  }

  /**
   * Installs a discovered host list, keeping the Host objects (pools, counters, health) of hosts
   * that are still there. Returns whether membership changed.
   */
  private setHosts(specs: readonly HostSpec[]): boolean {
    const old = new Map<string, Host[]>();
    for (let i = 0; i < this.currentHosts.length; i++) {
      const id = this.identities[i]!;
      const list = old.get(id);
      if (list) list.push(this.currentHosts[i]!);
      else old.set(id, [this.currentHosts[i]!]);
    }
    // Stable order: by priority, then as discovered.
    const ordered = specs.map((s, i) => ({ s, i }))
      .sort((a, b) => a.s.priority - b.s.priority || a.i - b.i);
    const hosts: Host[] = [];
    const ids: string[] = [];
    const added: Host[] = [];
    for (const { s } of ordered) {
      const id = Host.identity(s);
      const reuse = old.get(id)?.shift();
      let h = reuse;
      if (h === undefined) {
        h = new Host(s);
        h.transport = this.transportMatcher.resolve(h.metadata, h.localityMetadata);
        added.push(h);
      }
      hosts.push(h);
      ids.push(id);
    }
    const removed: Host[] = [];
    for (const list of old.values()) removed.push(...list);
    const sameOrder = added.length === 0 && removed.length === 0 &&
      hosts.every((h, i) => h === this.currentHosts[i]);
    if (sameOrder) return false;
    this.currentHosts = hosts;
    this.identities = ids;
    const byPriority: Host[][] = [];
    for (const h of hosts) (byPriority[h.priority] ??= []).push(h);
    for (let p = 0; p < byPriority.length; p++) byPriority[p] ??= [];
    this.byPriority = byPriority;
    if (this.outlier !== null && removed.length > 0) this.outlier.hostsRemoved(removed);
    this.rebuild();
    if (added.length > 0 || removed.length > 0) {
      this.stats.membership_change.inc();
      for (const cb of this.listeners) cb(added, removed);
    }
    return true;
  }

  /** Recomputes healthy lists, priority load, panic flags and balancers from the current hosts. */
  private rebuild(): void {
    const hosts = this.currentHosts;
    const snap = new Uint8Array(hosts.length);
    let healthyCount = 0;
    for (let i = 0; i < hosts.length; i++) {
      if (usable(hosts[i]!)) { snap[i] = 1; healthyCount++; }
    }
    this.healthSnapshot = snap;
    this.stats.membership_total.set(hosts.length);
    this.stats.membership_healthy.set(healthyCount);

    const levels: Level[] = [];
    const totals: number[] = [], healthies: number[] = [];
    for (const levelHosts of this.byPriority) {
      const healthy = levelHosts.filter(usable);
      levels.push(new Level(levelHosts, healthy, this.healthyBalancer(levelHosts, healthy),
        () => createLoadBalancer(this.config.lbPolicy, levelHosts, this.lbOptions)));
      totals.push(levelHosts.length);
      healthies.push(healthy.length);
    }
    this.levels = levels;
    if (hosts.length === 0) {
      this.fast = EMPTY_LB;
      return;
    }
    const state = computePriorityState(totals, healthies, this.config.healthyPanicThresholdPercent);
    let at = 0;
    this.fast = null;
    for (let p = 0; p < levels.length; p++) {
      const level = levels[p]!;
      level.panic = state.panic[p]!;
      const load = state.load[p]!;
      // Build the all-hosts balancer now rather than on the first request that needs it.
      if (level.panic && load > 0) level.panicLb();
      for (let k = 0; k < load; k++) this.priorityTable[at++] = p;
      if (load === 100 && !level.panic) this.fast = level.healthyLb;
    }
  }

  /** The balancer over a level's healthy hosts, honouring locality weights when they are set. */
  private healthyBalancer(levelHosts: readonly Host[], healthy: readonly Host[]): LoadBalancer {
    const policy = this.config.lbPolicy;
    const opts = this.lbOptions;
    const plain = (): LoadBalancer => createLoadBalancer(policy, healthy, opts);
    if (!this.localityWeighted || healthy.length === 0) return plain();

    // Group the level's hosts by locality, in order of first appearance.
    const groups = new Map<string, { weight: number; total: number; healthy: Host[] }>();
    for (const h of levelHosts) {
      const k = `${h.locality.region}\u0000${h.locality.zone}\u0000${h.locality.subZone}`;
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { weight: h.localityWeight ?? 0, total: 0, healthy: [] }));
      g.total++;
      if (usable(h)) g.healthy.push(h);
    }

    if (isHashPolicy(policy)) {
      // Ring hash / Maglev: host weight normalized within its locality × the locality's weight.
      const members: Host[] = [];
      const weights: number[] = [];
      for (const g of groups.values()) {
        if (!(g.weight > 0) || g.healthy.length === 0) continue;
        let sum = 0;
        for (const h of g.healthy) sum += h.weight;
        for (const h of g.healthy) { members.push(h); weights.push((h.weight / sum) * g.weight); }
      }
      return members.length === 0 ? plain() : createLoadBalancer(policy, members, opts, weights);
    }

    const children: LoadBalancer[] = [];
    const effective: number[] = [];
    for (const g of groups.values()) {
      children.push(createLoadBalancer(policy, g.healthy, opts));
      effective.push(localityEffectiveWeight(g.weight, g.healthy.length, g.total));
    }
    if (!effective.some((w) => w > 0)) return plain();
    return new LocalityWeightedLb(children, effective, plain());
  }
}
