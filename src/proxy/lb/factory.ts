// Builds the load balancer of a cluster's lb_policy for one host set (envoy.config.cluster.v3.Cluster.LbPolicy).
import type { Host } from '../cluster/host.js';
import type { LbPolicy } from '../config/types.js';
import { LeastRequestLb } from './least-request.js';
import { MaglevLb } from './maglev.js';
import { RandomLb } from './random.js';
import { RingHashLb } from './ring-hash.js';
import { RoundRobinLb } from './round-robin.js';
import { EMPTY_LB, type LbOptions, type LoadBalancer } from './types.js';

/** RING_HASH and MAGLEV consume the request hash and fold locality weights into host weights. */
export function isHashPolicy(policy: LbPolicy): boolean {
  return policy === 'RING_HASH' || policy === 'MAGLEV';
}

/** @param weights per-host weights overriding `host.weight` (same order as `hosts`). */
export function createLoadBalancer(policy: LbPolicy, hosts: readonly Host[], opts: LbOptions,
                                   weights?: ArrayLike<number>): LoadBalancer {
  if (hosts.length === 0) return EMPTY_LB;
  switch (policy) {
    case 'ROUND_ROBIN': return new RoundRobinLb(hosts, opts, weights);
    case 'LEAST_REQUEST': return new LeastRequestLb(hosts, opts, weights);
    case 'RANDOM': return new RandomLb(hosts, opts);
    case 'RING_HASH': return new RingHashLb(hosts, opts, weights);
    case 'MAGLEV': return new MaglevLb(hosts, opts, weights);
  }
}
