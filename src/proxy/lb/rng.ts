// A small seeded PRNG (mulberry32) with Math.random's contract, for reproducible load-balancing
// tests and benchmarks. Not for anything security-related.
import type { RandomFn } from './types.js';

export function seededRandom(seed: number): RandomFn {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
