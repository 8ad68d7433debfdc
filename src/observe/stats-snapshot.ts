// Stats of one process as plain data (to cross a process boundary: `weft proxy --concurrency N`
// workers answer the primary's admin with snapshots), and the merge of several snapshots into one
// StatsStore: counters and gauges summed, histograms merged bucket by bucket.

import { Counter, Gauge, Histogram, StatsStore, type Labels } from './stats.js';

interface SampleBase {
  readonly name: string;
  readonly promName: string;
  readonly labels: Labels;
}

export type StatSample =
  | (SampleBase & { readonly kind: 'counter'; readonly value: number })
  | (SampleBase & { readonly kind: 'gauge'; readonly value: number })
  | (SampleBase & {
    readonly kind: 'histogram';
    readonly bounds: readonly number[];
    /** Per-bucket (not cumulative) counts, the last one +Inf, as Histogram.counts. */
    readonly counts: readonly number[];
    readonly sum: number;
    readonly count: number;
  });

/** Every stat of `store` as plain, structured-clone-safe data. */
export function snapshotStats(store: StatsStore): StatSample[] {
  return store.all().map((s): StatSample => {
    const base = { name: s.name, promName: s.promName, labels: s.labels };
    if (s instanceof Histogram) {
      return { ...base, kind: 'histogram', bounds: s.bounds, counts: Array.from(s.counts), sum: s.sum, count: s.count };
    }
    return s instanceof Counter ? { ...base, kind: 'counter', value: s.value } : { ...base, kind: 'gauge', value: s.value };
  });
}

/**
 * Adds a snapshot into `store`: counters and gauges add their values, histograms add bucket
 * counts, sum and count. A histogram whose bounds differ from the stored one's, or a name already
 * held by another kind of stat, is skipped (returned, so the caller can report it).
 */
export function mergeStats(store: StatsStore, samples: readonly StatSample[], skip?: (name: string) => boolean): string[] {
  const skipped: string[] = [];
  for (const s of samples) {
    if (skip?.(s.name)) continue;
    const existing = store.get(s.name);
    if (existing !== undefined && !sameKind(existing, s.kind)) { skipped.push(s.name); continue; }
    if (s.kind === 'counter') store.counter(s.name, s.promName, s.labels).add(s.value);
    else if (s.kind === 'gauge') store.gauge(s.name, s.promName, s.labels).add(s.value);
    else {
      const h = store.histogram(s.name, s.promName, s.labels, s.bounds);
      if (h.bounds.length !== s.bounds.length || h.bounds.some((b, i) => b !== s.bounds[i])) { skipped.push(s.name); continue; }
      for (let i = 0; i < h.counts.length; i++) h.counts[i]! += s.counts[i] ?? 0;
      h.sum += s.sum;
      h.count += s.count;
    }
  }
  return skipped;
}

function sameKind(stat: Counter | Gauge | Histogram, kind: StatSample['kind']): boolean {
  return kind === 'counter' ? stat instanceof Counter : kind === 'gauge' ? stat instanceof Gauge : stat instanceof Histogram;
}
