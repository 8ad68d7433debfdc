// ROUND_ROBIN (Envoy load_balancers#weighted-round-robin): plain rotation for equal weights, else a
// precomputed cycle where each host appears weight times, spread by deadline (live EDF for huge cycles).
import type { Host } from '../cluster/host.js';
import { EdfScheduler } from './edf.js';
import type { LbOptions, LoadBalancer } from './types.js';

/** Cycles longer than this are not precomputed; the live EDF scheduler is used instead. */
const MAX_SCHEDULE = 65536;

export class RoundRobinLb implements LoadBalancer {
  private readonly hosts: readonly Host[];
  /** Host index per slot of one weighted cycle; null for plain rotation or live EDF. */
  private readonly schedule: Int32Array | null = null;
  private readonly edf: EdfScheduler | null = null;
  private readonly weights: Float64Array | null = null;
  private readonly len: number;
  private next: number;

  /** @param weights per-host weights overriding `host.weight` (same order as hosts). */
  constructor(hosts: readonly Host[], opts: LbOptions, weights?: ArrayLike<number>) {
    this.hosts = hosts;
    const n = hosts.length;
    const w = new Float64Array(n);
    let equal = true, integral = true;
    for (let i = 0; i < n; i++) {
      w[i] = weights ? weights[i]! : hosts[i]!.weight;
      if (w[i] !== w[0]) equal = false;
      if (!Number.isInteger(w[i]) || w[i]! <= 0) integral = false;
    }
    if (equal || n <= 1) {
      this.len = n;
    } else {
      const sched = integral ? buildSchedule(w) : null;
      if (sched !== null) {
        this.schedule = sched;
        this.len = sched.length;
      } else {
        this.edf = new EdfScheduler(w);
        this.weights = w;
        this.len = n;
      }
    }
    // A random starting point so that many proxies (or reloads) do not all begin with host 0.
    this.next = this.len > 0 ? Math.floor(opts.random() * this.len) : 0;
  }

  choose(): Host | null {
    const len = this.len;
    if (len === 0) return null;
    if (this.edf !== null) {
      const i = this.edf.pick(this.weights!);
      return i < 0 ? null : this.hosts[i]!;
    }
    const at = this.next;
    this.next = at + 1 === len ? 0 : at + 1;
    return this.schedule === null ? this.hosts[at]! : this.hosts[this.schedule[at]!]!;
  }
}

/**
 * One weighted cycle (weights divided by their gcd): host i appears w[i] times, at the
 * deadlines (2k+1)/(2w[i]) for k = 0..w[i]-1, ordered by deadline then host index. Returns null
 * when the cycle would be longer than MAX_SCHEDULE.
 */
export function buildSchedule(w: ArrayLike<number>): Int32Array | null {
  const n = w.length;
  let g = 0;
  for (let i = 0; i < n; i++) g = gcd(g, w[i]!);
  let total = 0;
  for (let i = 0; i < n; i++) total += w[i]! / g;
  if (total > MAX_SCHEDULE) return null;
  const key = new Float64Array(total);
  const host = new Int32Array(total);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const wi = w[i]! / g;
    for (let k = 0; k < wi; k++) {
      key[at] = (2 * k + 1) / (2 * wi);
      host[at++] = i;
    }
  }
  const order = Array.from({ length: total }, (_, j) => j);
  order.sort((a, b) => key[a]! - key[b]! || host[a]! - host[b]!);
  const out = new Int32Array(total);
  for (let j = 0; j < total; j++) out[j] = host[order[j]!]!;
  return out;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}
