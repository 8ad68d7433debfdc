// Renders a StatsStore for Envoy's admin /stats (text and ?format=json) and /stats/prometheus,
// the latter in the Prometheus text exposition format 0.0.4 with Envoy's `envoy_` name prefix.
import { Counter, Gauge, Histogram, type Labels, type Stat, type StatsStore } from './stats.js';

/** Percentiles /stats reports for each histogram, as Envoy's supported_quantiles. */
export const SUPPORTED_QUANTILES: readonly number[] = [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100];

/** Content type of prometheusText() output. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A stat counts as used once it has been written: nonzero counter/gauge, or a recorded sample. */
function isUsed(s: Stat): boolean {
  return s instanceof Histogram ? s.count > 0 : s.value !== 0;
}

function select(store: StatsStore, filter: RegExp | undefined, usedOnly: boolean | undefined): Stat[] {
  const all = store.all();
  if (filter === undefined && !usedOnly) return all;
  return all.filter((s) => {
    if (usedOnly && !isUsed(s)) return false;
    if (filter !== undefined) {
      filter.lastIndex = 0; // tolerate /g and /y regexes
      if (!filter.test(s.name)) return false;
    }
    return true;
  });
}

/** A quantile value as /stats prints it: integers bare, others to 6 significant digits. */
function num(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(6)));
}

/**
 * Envoy's plain /stats body: `name: value` for counters and gauges sorted by name, then one line per
 * histogram with `P<q>(interval,cumulative)` pairs (interval is `nan`: only cumulative data is kept)
 * or `No recorded values`.
 */
export function statsText(store: StatsStore, filter?: RegExp, usedOnly?: boolean): string {
  const stats = select(store, filter, usedOnly);
  let out = '';
  const histograms: Histogram[] = [];
  for (const s of stats) {
    if (s instanceof Histogram) histograms.push(s);
    else out += `${s.name}: ${s.value}\n`;
  }
  for (const h of histograms) {
    if (h.count === 0) {
      out += `${h.name}: No recorded values\n`;
      continue;
    }
    out += `${h.name}:`;
    for (const q of SUPPORTED_QUANTILES) out += ` P${q}(nan,${num(h.quantile(q / 100))})`;
    out += '\n';
  }
  return out;
}

/** /stats?format=json: `{stats: [{name, value}…, {histograms: {supported_quantiles, computed_quantiles}}]}`. */
export function statsJson(store: StatsStore, filter?: RegExp, usedOnly?: boolean): unknown {
  const stats = select(store, filter, usedOnly);
  const out: unknown[] = [];
  const computed: unknown[] = [];
  for (const s of stats) {
    if (s instanceof Histogram) {
      computed.push({
        name: s.name,
        values: SUPPORTED_QUANTILES.map((q) => ({
          interval: null,
          cumulative: s.count === 0 ? null : Number(s.quantile(q / 100).toPrecision(6)),
        })),
      });
    } else {
      out.push({ name: s.name, value: s.value });
    }
  }
  if (computed.length > 0) {
    out.push({ histograms: { supported_quantiles: SUPPORTED_QUANTILES, computed_quantiles: computed } });
  }
  return { stats: out };
}

// ───────────────────────────── Prometheus ─────────────────────────────

const METRIC_BAD = /[^a-zA-Z0-9_:]/g;
const LABEL_BAD = /[^a-zA-Z0-9_]/g;

function metricName(promName: string): string {
  return 'envoy_' + promName.replace(METRIC_BAD, '_');
}

function labelName(name: string): string {
  const n = name.replace(LABEL_BAD, '_');
  return /^[0-9]/.test(n) ? '_' + n : n;
}

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

/** `k="v",k2="v2"` with names sorted (no braces), '' for no labels. */
function labelPairs(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  keys.sort();
  let s = '';
  for (const k of keys) s += `${s === '' ? '' : ','}${labelName(k)}="${escapeLabelValue(labels[k]!)}"`;
  return s;
}

/** A sample value: Go-style special values, plain decimal otherwise. */
function sampleValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

type PromType = 'counter' | 'gauge' | 'histogram';

interface Family {
  readonly type: PromType;
  /** Sample block per label set (a histogram's block holds its buckets, sum and count). */
  readonly blocks: Map<string, string>;
}

function typeOf(s: Stat): PromType {
  return s instanceof Counter ? 'counter' : s instanceof Gauge ? 'gauge' : 'histogram';
}

function histogramBlock(name: string, pairs: string, h: Histogram): string {
  const sep = pairs === '' ? '' : ',';
  const plain = pairs === '' ? '' : `{${pairs}}`;
  let out = '';
  let cumulative = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    cumulative += h.counts[i]!;
    out += `${name}_bucket{${pairs}${sep}le="${sampleValue(h.bounds[i]!)}"} ${cumulative}\n`;
  }
  out += `${name}_bucket{${pairs}${sep}le="+Inf"} ${h.count}\n`;
  out += `${name}_sum${plain} ${sampleValue(h.sum)}\n`;
  out += `${name}_count${plain} ${h.count}\n`;
  return out;
}

/**
 * The Prometheus text exposition of the store, as Envoy's /stats/prometheus: every metric named
 * `envoy_<promName>`, one `# TYPE` line per family followed by all its samples (families and label
 * sets sorted), histograms as cumulative `_bucket{le=…}` (ending with `+Inf`), `_sum` and `_count`.
 * A stat whose promName is already a family of another type, or whose label set repeats within its
 * family, is left out so the output stays valid.
 */
export function prometheusText(store: StatsStore, filter?: RegExp, usedOnly?: boolean): string {
  const families = new Map<string, Family>();
  for (const s of select(store, filter, usedOnly)) {
    const name = metricName(s.promName);
    const type = typeOf(s);
    let fam = families.get(name);
    if (fam === undefined) {
      fam = { type, blocks: new Map() };
      families.set(name, fam);
    } else if (fam.type !== type) {
      continue;
    }
    const pairs = labelPairs(s.labels);
    if (fam.blocks.has(pairs)) continue;
    fam.blocks.set(pairs, s instanceof Histogram
      ? histogramBlock(name, pairs, s)
      : `${name}${pairs === '' ? '' : `{${pairs}}`} ${sampleValue(s.value)}\n`);
  }
  const names = [...families.keys()].sort();
  let out = '';
  for (const name of names) {
    const fam = families.get(name)!;
    out += `# TYPE ${name} ${fam.type}\n`;
    const keys = [...fam.blocks.keys()].sort();
    for (const k of keys) out += fam.blocks.get(k)!;
  }
  return out;
}
