// LEAST_REQUEST (Envoy load_balancers#weighted-least-request): power of N choices with equal weights,
// else EDF over weight / (active_requests + 1)^bias with active_request_bias 1.0.
import type { Host } from '../cluster/host.js';
import { EdfScheduler } from './edf.js';
import type { LbOptions, LoadBalancer, RandomFn } from './types.js';

export class LeastRequestLb implements LoadBalancer {
  private readonly random: RandomFn;
  private readonly choiceCount: number;
  private readonly weights: Float64Array | null = null;
  private readonly edf: EdfScheduler | null = null;

  constructor(private readonly hosts: readonly Host[], opts: LbOptions, weights?: ArrayLike<number>) {
    this.random = opts.random;
    this.choiceCount = Math.max(1, opts.leastRequest.choiceCount | 0);
    const n = hosts.length;
    const w = new Float64Array(n);
    let equal = true;
    for (let i = 0; i < n; i++) {
      w[i] = weights ? weights[i]! : hosts[i]!.weight;
      if (w[i] !== w[0]) equal = false;
    }
    if (!equal) {
      this.weights = w;
      const initial = new Float64Array(n);
      for (let i = 0; i < n; i++) initial[i] = w[i]! / (hosts[i]!.activeRequests + 1);
      this.edf = new EdfScheduler(initial);
    }
  }

  choose(): Host | null {
    const hosts = this.hosts;
    const n = hosts.length;
    if (n === 0) return null;
    if (n === 1) return hosts[0]!;
    const edf = this.edf;
    if (edf !== null) {
      const i = edf.peek();
      if (i < 0) return null;
      const h = hosts[i]!;
      // Re-scheduled with its current load: bias 1.0 → weight / (active + 1).
      edf.advance(this.weights![i]! / (h.activeRequests + 1));
      return h;
    }
    let best = hosts[(this.random() * n) | 0]!;
    for (let c = 1; c < this.choiceCount; c++) {
      const h = hosts[(this.random() * n) | 0]!;
      if (h.activeRequests < best.activeRequests) best = h;
    }
    return best;
  }
}
