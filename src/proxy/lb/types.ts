// The one contract every load balancer implements: built once per host set (when membership or
// health changes), then `choose` per request with no allocation. Envoy: arch_overview/upstream/load_balancing.
import type { Host } from '../cluster/host.js';

export interface LoadBalancer {
  /**
   * Picks a host from the set this balancer was built for; null only when the set is empty.
   * @param hash the request hash (uint32) for RING_HASH / MAGLEV; other policies ignore it; null → random.
   */
  choose(hash: number | null): Host | null;
}

/** Uniform random in [0, 1), like Math.random; injectable so tests can use a fixed seed. */
export type RandomFn = () => number;

/** What a balancer needs besides its hosts: the policy knobs of the cluster and a random source. */
export interface LbOptions {
  readonly random: RandomFn;
  readonly leastRequest: { readonly choiceCount: number };
  readonly ringHash: { readonly minimumRingSize: number; readonly maximumRingSize: number };
  readonly maglev: { readonly tableSize: number };
}

/** A balancer that never returns a host (empty host set). */
export const EMPTY_LB: LoadBalancer = { choose: () => null };

/** Random uint32 from a RandomFn (for hash-based balancers when the request carries no hash). */
export function randomHash(random: RandomFn): number {
  return (random() * 4294967296) >>> 0;
}
