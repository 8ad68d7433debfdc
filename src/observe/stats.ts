// Stats store: counters, gauges and histograms under Envoy's dotted stat names
// (e.g. `cluster.web.upstream_rq_total`). Each stat is created once, at config time, with the
// Prometheus name and labels Envoy's tag extraction would give it, so the hot path only does
// `counter.value++` and exposition never parses names.

export type Labels = Readonly<Record<string, string>>;

interface StatBase {
  /** Envoy's dotted name, as /stats prints it. */
  readonly name: string;
  /** Name after tag extraction, without the `envoy_` prefix and with dots as underscores, e.g. `cluster_upstream_rq_total`. */
  readonly promName: string;
  readonly labels: Labels;
}

export class Counter implements StatBase {
  value = 0;
  constructor(readonly name: string, readonly promName: string, readonly labels: Labels) {}
  inc(): void { this.value++; }
  add(n: number): void { this.value += n; }
}

export class Gauge implements StatBase {
  value = 0;
  constructor(readonly name: string, readonly promName: string, readonly labels: Labels) {}
  inc(): void { this.value++; }
  dec(): void { this.value--; }
  set(v: number): void { this.value = v; }
  add(n: number): void { this.value += n; }
  sub(n: number): void { this.value -= n; }
}

/** Envoy's default histogram bucket bounds (milliseconds for *_time stats). */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];

export class Histogram implements StatBase {
  /** counts[i] = samples <= bounds[i] (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly name: string, readonly promName: string, readonly labels: Labels,
              readonly bounds: readonly number[] = DEFAULT_BUCKETS) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  record(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
  /** Approximate quantile (0..1) by linear interpolation inside the bucket. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const target = q * this.count;
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i]!;
      if (acc + c >= target && c > 0) {
        const lo = i === 0 ? 0 : this.bounds[i - 1]!;
        const hi = i < this.bounds.length ? this.bounds[i]! : lo;
        return lo + (hi - lo) * ((target - acc) / c);
      }
      acc += c;
    }
    return this.bounds[this.bounds.length - 1]!;
  }
}

export type Stat = Counter | Gauge | Histogram;

/**
 * Holds every stat of one process, by dotted name. `counter(...)` returns the existing stat when
 * the name is already known, so a config reload keeps counting where it was.
 */
export class StatsStore {
  private readonly stats = new Map<string, Stat>();

  /**
   * @param name Envoy dotted name, e.g. `cluster.web.upstream_rq_total`.
   * @param promName tag-extracted name without `envoy_`, e.g. `cluster_upstream_rq_total`; defaults to `name` with dots as underscores.
   * @param labels extracted tags, e.g. `{ envoy_cluster_name: 'web' }`.
   */
  counter(name: string, promName?: string, labels: Labels = {}): Counter {
    return this.getOrCreate(name, () => new Counter(name, promName ?? sanitize(name), labels), Counter);
  }
  gauge(name: string, promName?: string, labels: Labels = {}): Gauge {
    return this.getOrCreate(name, () => new Gauge(name, promName ?? sanitize(name), labels), Gauge);
  }
  histogram(name: string, promName?: string, labels: Labels = {}, bounds?: readonly number[]): Histogram {
    return this.getOrCreate(name, () => new Histogram(name, promName ?? sanitize(name), labels, bounds), Histogram);
  }
  get(name: string): Stat | undefined { return this.stats.get(name); }
  /** Value of a counter or gauge by dotted name; undefined when absent (or a histogram). */
  value(name: string): number | undefined {
    const s = this.stats.get(name);
    return s === undefined || s instanceof Histogram ? undefined : s.value;
  }
  /** Every stat, sorted by dotted name. */
  all(): Stat[] { return [...this.stats.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)); }

  private getOrCreate<T extends Stat>(name: string, make: () => T, kind: new (...a: any[]) => T): T {
    const s = this.stats.get(name);
    if (s !== undefined) {
      if (!(s instanceof kind)) throw new TypeError(`stat ${name} already exists with another type`);
      return s as T;
    }
    const made = make();
    this.stats.set(name, made);
    return made;
  }
}

/** Dots and other non-[a-zA-Z0-9_] characters become underscores (Prometheus metric-name rules). */
export function sanitize(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}
