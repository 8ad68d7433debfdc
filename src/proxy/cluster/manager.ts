// The cluster manager (Envoy arch_overview/upstream/cluster_manager): applies full cluster lists, keeping
// unchanged clusters and warming new/changed ones (first discovery round) before swapping them in.
import { isDeepStrictEqual } from 'node:util';
import type { StatsStore } from '../../observe/stats.js';
import type { ClusterConfig } from '../config/types.js';
import type { RandomFn } from '../lb/types.js';
import { Cluster } from './cluster.js';
import type { DnsResolver } from './dns.js';

export interface ClusterManagerOptions {
  readonly resolver?: DnsResolver;
  /** Random source for the balancers (tests); defaults to Math.random. */
  readonly random?: RandomFn;
}

export interface ClusterUpdateResult {
  /** Names that did not exist before. */
  readonly added: string[];
  /** Names whose config changed: a new Cluster replaced the old one. */
  readonly modified: string[];
  /** Names no longer present. */
  readonly removed: string[];
  /**
   * Names whose config is deep-equal, or (EDS) differs only in its endpoints: the same Cluster
   * object stays (with its host set updated in place).
   */
  readonly kept: string[];
}

/** Two EDS cluster configs equal but for their endpoints. */
function onlyEndpointsDiffer(a: ClusterConfig, b: ClusterConfig): boolean {
  return a.type === 'EDS' && b.type === 'EDS' &&
    isDeepStrictEqual({ ...a, loadAssignment: null }, { ...b, loadAssignment: null });
}

export class ClusterManager {
  private clusters = new Map<string, Cluster>();
  private readonly removedCallbacks: ((c: Cluster) => void)[] = [];
  /** Clusters built by an update still warming; closed by close(). */
  private readonly warming = new Set<Cluster>();
  /** Updates are applied one at a time, in call order. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly stats: StatsStore, private readonly opts: ClusterManagerOptions = {}) {}

  /**
   * Applies a full cluster list. Unchanged clusters are kept as they are; new and changed ones are
   * built and started, and swapped in together once all have started; removed and replaced ones
   * are then passed to `onClusterRemoved` callbacks and closed. A config that cannot be built
   * (e.g. a non-prime Maglev table size) rejects the whole update and leaves the current set.
   */
  update(configs: readonly ClusterConfig[]): Promise<ClusterUpdateResult> {
    const run = this.queue.then(() => this.apply(configs));
    this.queue = run.catch(() => undefined);
    return run;
  }

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  all(): Cluster[] {
    return [...this.clusters.values()];
  }

  /** Called with the old Cluster object when it is removed or replaced by a changed config. */
  onClusterRemoved(cb: (c: Cluster) => void): void {
    this.removedCallbacks.push(cb);
  }

  close(): void {
    this.closed = true;
    for (const c of this.clusters.values()) c.close();
    for (const c of this.warming) c.close();
    this.clusters.clear();
    this.warming.clear();
  }

  private async apply(configs: readonly ClusterConfig[]): Promise<ClusterUpdateResult> {
    if (this.closed) throw new Error('cluster manager is closed');
    const result: ClusterUpdateResult = { added: [], modified: [], removed: [], kept: [] };
    const next = new Map<string, Cluster>();
    const built: Cluster[] = [];
    const endpointUpdates: [Cluster, ClusterConfig][] = [];
    try {
      for (const cfg of configs) {
        if (next.has(cfg.name)) throw new Error(`duplicate cluster name ${cfg.name}`);
        const cur = this.clusters.get(cfg.name);
        if (cur !== undefined && isDeepStrictEqual(cur.config, cfg)) {
          next.set(cfg.name, cur);
          result.kept.push(cfg.name);
          continue;
        }
        if (cur !== undefined && !cur.isClosed && onlyEndpointsDiffer(cur.config, cfg)) {
          // EDS: the host set is updated in place; pools to surviving hosts stay (Envoy does the same).
          endpointUpdates.push([cur, cfg]);
          next.set(cfg.name, cur);
          result.kept.push(cfg.name);
          continue;
        }
        const c = new Cluster(cfg, this.stats, { resolver: this.opts.resolver, random: this.opts.random });
        built.push(c);
        this.warming.add(c);
        next.set(cfg.name, c);
        (cur === undefined ? result.added : result.modified).push(cfg.name);
      }
    } catch (err) {
      for (const c of built) { c.close(); this.warming.delete(c); }
      throw err;
    }
    await Promise.all(built.map((c) => c.start()));
    for (const c of built) this.warming.delete(c);
    if (this.closed) {
      for (const c of built) c.close();
      throw new Error('cluster manager is closed');
    }
    const old = this.clusters;
    this.clusters = next;
    for (const [c, cfg] of endpointUpdates) c.updateLoadAssignment(cfg);
    for (const [name, c] of old) {
      if (next.get(name) === c) continue;
      if (!next.has(name)) result.removed.push(name);
      for (const cb of this.removedCallbacks) cb(c);
      c.close();
    }
    return result;
  }
}
