// MAGLEV (Eisenbud et al., NSDI 2016 §3.4; Envoy load_balancers#maglev): a lookup table filled by each host's
// permutation (offset/skip from two seeded hashes), weighted by turn frequency; lookup table[hash % M].
import type { Host } from '../cluster/host.js';
import { hash32 } from './hash.js';
import { randomHash, type LbOptions, type LoadBalancer, type RandomFn } from './types.js';

const OFFSET_SEED = 0x4d61676c; // 'Magl'
const SKIP_SEED = 0x65763031;   // 'ev01'

export class MaglevLb implements LoadBalancer {
  /** Host index per slot (Uint16 below 65535 hosts, to keep the table cache-friendly); `empty` marks a free slot. */
  readonly table: Uint16Array | Int32Array;
  private readonly emptySlot: number;
  private readonly size: number;
  private readonly random: RandomFn;
  private readonly hosts: readonly Host[];

  constructor(hosts: readonly Host[], opts: LbOptions, weights?: ArrayLike<number>) {
    const m = opts.maglev.tableSize;
    if (!isPrime(m)) throw new RangeError(`maglev table_size must be a prime number, got ${m}`);
    this.size = m;
    this.random = opts.random;
    this.hosts = hosts;
    const n = hosts.length;
    this.emptySlot = n < 65535 ? 65535 : -1;
    this.table = n < 65535 ? new Uint16Array(m).fill(65535) : new Int32Array(m).fill(-1);
    const empty = this.emptySlot;
    const w = new Float64Array(n);
    let maxW = 0;
    for (let i = 0; i < n; i++) {
      w[i] = weights ? weights[i]! : hosts[i]!.weight;
      if (w[i]! > maxW) maxW = w[i]!;
    }
    if (n === 0 || !(maxW > 0)) return;
    // pos[i] walks host i's permutation: offset, offset + skip, offset + 2·skip, ... (mod m).
    const pos = new Int32Array(n), skip = new Int32Array(n);
    const target = new Float64Array(n).fill(maxW);
    for (let i = 0; i < n; i++) {
      const key = hosts[i]!.key;
      pos[i] = hash32(key, OFFSET_SEED) % m;
      skip[i] = (hash32(key, SKIP_SEED) % (m - 1)) + 1;
    }
    const table = this.table;
    let filled = 0;
    for (let round = 1; filled < m; round++) {
      for (let i = 0; i < n && filled < m; i++) {
        // A host of weight maxW takes a turn every round; one of maxW/k every k-th round.
        if (round * w[i]! < target[i]!) continue;
        target[i] += maxW;
        const s = skip[i]!;
        let c = pos[i]!;
        while (table[c] !== empty) {
          c += s;
          if (c >= m) c -= m;
        }
        table[c] = i;
        c += s;
        pos[i] = c >= m ? c - m : c;
        filled++;
      }
    }
  }

  choose(hash: number | null): Host | null {
    const h = hash === null ? randomHash(this.random) : hash >>> 0;
    const i = this.table[h % this.size]!;
    return i === this.emptySlot ? null : this.hosts[i]!;
  }
}

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}
