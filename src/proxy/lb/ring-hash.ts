// RING_HASH (Envoy load_balancers#ring-hash): weighted points on a hash ring sized between minimum and
// maximum_ring_size; a request goes to the first point >= its hash, found via a bucket index.
import type { Host } from '../cluster/host.js';
import { hash32 } from './hash.js';
import { randomHash, type LbOptions, type LoadBalancer, type RandomFn } from './types.js';

export class RingHashLb implements LoadBalancer {
  /** Sorted point hashes. */
  readonly points: Uint32Array;
  /** Host owning each point. */
  readonly owners: readonly Host[];
  private readonly random: RandomFn;
  /** bucket[b] = index of the first point whose hash >> shift is >= b (length 2^bits + 1). */
  private readonly bucket: Int32Array;
  private readonly shift: number;

  constructor(hosts: readonly Host[], opts: LbOptions, weights?: ArrayLike<number>) {
    this.random = opts.random;
    const n = hosts.length;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += weights ? weights[i]! : hosts[i]!.weight;
    let minNorm = 1;
    const norm = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      norm[i] = (weights ? weights[i]! : hosts[i]!.weight) / sum;
      if (norm[i]! > 0 && norm[i]! < minNorm) minNorm = norm[i]!;
    }
    const { minimumRingSize, maximumRingSize } = opts.ringHash;
    // The lightest host gets at least ceil(minNorm * min size) points; the ring never exceeds max size.
    const scale = n === 0 ? 0 : Math.min(Math.ceil(minNorm * minimumRingSize) / minNorm, maximumRingSize);
    const hashes: number[] = [];
    const owner: number[] = [];
    // Running sums keep the total close to `scale` while giving each host its share.
    let current = 0, target = 0;
    for (let i = 0; i < n; i++) {
      target += scale * norm[i]!;
      const key = hosts[i]!.key;
      for (let r = 0; current < target; r++, current++) {
        hashes.push(hash32(`${key}_${r}`));
        owner.push(i);
      }
    }
    const order = Array.from({ length: hashes.length }, (_, j) => j);
    order.sort((a, b) => hashes[a]! - hashes[b]! || owner[a]! - owner[b]!);
    this.points = new Uint32Array(order.length);
    const owners = new Array<Host>(order.length);
    this.owners = owners;
    for (let j = 0; j < order.length; j++) {
      this.points[j] = hashes[order[j]!]!;
      owners[j] = hosts[owner[order[j]!]!]!;
    }
    // About two buckets per point (at most 2^20 buckets), so a bucket rarely holds more than one.
    const bits = Math.max(1, Math.min(20, Math.ceil(Math.log2(Math.max(2, order.length))) + 1));
    this.shift = 32 - bits;
    const nb = 1 << bits;
    this.bucket = new Int32Array(nb + 1);
    let j = 0;
    for (let b = 0; b <= nb; b++) {
      while (j < order.length && this.points[j]! >>> this.shift < b) j++;
      this.bucket[b] = j;
    }
  }

  choose(hash: number | null): Host | null {
    const pts = this.points;
    const len = pts.length;
    if (len === 0) return null;
    const h = hash === null ? randomHash(this.random) : hash >>> 0;
    // Lower bound (first point >= h), searched only within h's bucket.
    const b = h >>> this.shift;
    let lo = this.bucket[b]!, hi = this.bucket[b + 1]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pts[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === len ? 0 : lo]!;
  }
}
