// Host lists and options for load-balancer tests.
import { Host } from '../../../src/proxy/cluster/host.js';
import type { LbOptions, RandomFn } from '../../../src/proxy/lb/types.js';
import { seededRandom } from '../../../src/proxy/lb/rng.js';

export function makeHosts(n: number, weights?: readonly number[]): Host[] {
  return Array.from({ length: n }, (_, i) => new Host({
    address: `10.0.${i >> 8}.${(i & 255) + 1}`, port: 80, hostname: '', weight: weights?.[i] ?? 1, priority: 0,
    locality: { region: '', zone: '', subZone: '' }, localityWeight: null, healthy: true,
  }));
}

export function lbOptions(random: RandomFn = seededRandom(42), over: Partial<LbOptions> = {}): LbOptions {
  return {
    random,
    leastRequest: { choiceCount: 2 },
    ringHash: { minimumRingSize: 1024, maximumRingSize: 8388608 },
    maglev: { tableSize: 65537 },
    ...over,
  };
}

/** Counts picks per host key. */
export function tally(pick: () => Host | null, n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const h = pick();
    const k = h === null ? 'null' : h.key;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}
