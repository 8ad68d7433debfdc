// Priority load and per-level panic, as Envoy computes them (arch_overview/upstream/load_balancing/
// priority, panic_threshold, overprovisioning).
import { OVERPROVISIONING_FACTOR } from '../lb/locality.js';

export interface PriorityState {
  /** Percent of traffic per priority level; sums to 100 (when any level exists). */
  readonly load: number[];
  /** Per level: balance over all hosts regardless of health. */
  readonly panic: boolean[];
  /** Per level health score, 0..100. */
  readonly health: number[];
  /** min(100, Σ health). */
  readonly normalizedTotalHealth: number;
}

/**
 * A level's health is min(100, 140 × healthy / total). Levels take load in priority order, each
 * its share health × 100 / normalized total (normalized total = min(100, Σ health)); rounding
 * leftovers go to the first level with health. When the normalized total is below 100, a level
 * whose healthy percentage is below the panic threshold is in panic (balances over all its hosts);
 * when every level is in panic, load follows host counts instead.
 * @param total hosts per priority level (index = priority).
 * @param healthy healthy hosts per priority level.
 * @param panicThresholdPercent healthy_panic_threshold; 0 disables panic.
 */
export function computePriorityState(total: readonly number[], healthy: readonly number[],
                                     panicThresholdPercent: number,
                                     factor = OVERPROVISIONING_FACTOR): PriorityState {
  const n = total.length;
  const health = new Array<number>(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    health[i] = total[i]! === 0 ? 0 : Math.min(100, Math.floor((factor * healthy[i]!) / total[i]!));
    sum += health[i]!;
  }
  const normalized = Math.min(100, sum);
  const load = new Array<number>(n).fill(0);
  if (n > 0) {
    if (normalized > 0) {
      let remaining = 100;
      let first = -1;
      for (let i = 0; i < n; i++) {
        if (first < 0 && health[i]! > 0) first = i;
        load[i] = Math.min(remaining, Math.floor((health[i]! * 100) / normalized));
        remaining -= load[i]!;
      }
      // Integer rounding leftovers go to the first level that has healthy hosts.
      if (remaining > 0) load[first]! += remaining;
    } else {
      load[0] = 100;
    }
  }
  const panic = new Array<boolean>(n).fill(false);
  if (normalized < 100 && panicThresholdPercent > 0) {
    for (let i = 0; i < n; i++) {
      const pct = total[i]! === 0 ? 0 : (100 * healthy[i]!) / total[i]!;
      panic[i] = pct < panicThresholdPercent;
    }
    if (n > 0 && panic.every((p) => p)) distributeByHostCount(total, load);
  }
  return { load, panic, health, normalizedTotalHealth: normalized };
}

/** Total panic: every level gets load in proportion to its host count (healthy or not). */
function distributeByHostCount(total: readonly number[], load: number[]): void {
  let hosts = 0;
  for (const t of total) hosts += t;
  load.fill(0);
  if (hosts === 0) { load[0] = 100; return; }
  let remaining = 100, first = -1;
  for (let i = 0; i < total.length; i++) {
    if (first < 0 && total[i]! > 0) first = i;
    load[i] = Math.floor((100 * total[i]!) / hosts);
    remaining -= load[i]!;
  }
  load[first]! += remaining;
}
