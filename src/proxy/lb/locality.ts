// Locality weighted load balancing (Envoy arch_overview/upstream/load_balancing/locality_weight): pick a
// locality by EDF over weight × min(1, 1.4 × healthy share), then a host inside it by the policy.
import type { Host } from '../cluster/host.js';
import { EdfScheduler } from './edf.js';
import type { LoadBalancer } from './types.js';

/** Envoy's default overprovisioning factor, in percent. */
export const OVERPROVISIONING_FACTOR = 140;

/** weight × min(1, factor/100 × healthy/total): a locality keeps its full weight down to ~72% healthy. */
export function localityEffectiveWeight(weight: number, healthy: number, total: number,
                                        factor = OVERPROVISIONING_FACTOR): number {
  if (total === 0 || healthy === 0 || !(weight > 0)) return 0;
  return weight * Math.min(1, (factor / 100) * (healthy / total));
}

export class LocalityWeightedLb implements LoadBalancer {
  private readonly edf: EdfScheduler;
  private readonly weights: Float64Array;

  /**
   * @param children one balancer per locality (over its healthy hosts).
   * @param effectiveWeights per locality, from `localityEffectiveWeight`.
   * @param fallback used when no locality has a positive weight (healthy hosts only in unweighted localities).
   */
  constructor(private readonly children: readonly LoadBalancer[], effectiveWeights: ArrayLike<number>,
              private readonly fallback: LoadBalancer) {
    this.weights = Float64Array.from(effectiveWeights);
    this.edf = new EdfScheduler(this.weights);
  }

  choose(hash: number | null): Host | null {
    const i = this.edf.pick(this.weights);
    return i < 0 ? this.fallback.choose(hash) : this.children[i]!.choose(hash);
  }
}
