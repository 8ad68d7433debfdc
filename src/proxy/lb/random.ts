// RANDOM: a uniformly random host of the set, ignoring weights, as Envoy's random load balancer
// does (arch_overview/upstream/load_balancing/load_balancers#random).
import type { Host } from '../cluster/host.js';
import type { LbOptions, LoadBalancer, RandomFn } from './types.js';

export class RandomLb implements LoadBalancer {
  private readonly random: RandomFn;
  constructor(private readonly hosts: readonly Host[], opts: LbOptions) {
    this.random = opts.random;
  }
  choose(): Host | null {
    const n = this.hosts.length;
    if (n === 0) return null;
    return this.hosts[(this.random() * n) | 0]!;
  }
}
