// What each proxy costs per unit of work in `npm run bench` (bench/run.ts): CPU microseconds per
// request (per handshake for TLS handshakes, per MB for the TCP proxy) computed from the proxy's
// process-tree CPU time (/proc utime+stime, as ../shared/bench/peers.sh does) and the rate the load
// generator measured, next to that rate and the peak RSS; one summary table of every scenario,
// nginx, HAProxy and Weft side by side. Each scenario section of bench/RESULTS.md carries its figures
// as a one-line HTML comment, so a partial run (--only) rebuilds the summary from the sections it kept.

export type Role = 'direct' | 'nginx' | 'haproxy' | 'candidate';

/** One target of one scenario: its rate, CPU per unit and memory (undefined when not measured). */
export interface CostRow {
  readonly role: Role;
  /** Rate in the scenario's unit per second (req/s, handshakes/s, MB/s). */
  readonly rate: number | undefined;
  /** CPU microseconds of the target's process tree per unit (request, handshake, MB). */
  readonly cpuUs: number | undefined;
  /** Peak RSS of the target's process tree, KiB. */
  readonly rssKiB: number | undefined;
  readonly errors: number;
}

export interface ScenarioCost {
  /** Scenario key as shown, e.g. "a (64 B)", "d", "j". */
  readonly key: string;
  /** Short name, e.g. "HTTP/1.1 keep-alive, 64 B". */
  readonly name: string;
  /** What one unit is: "req", "handshake", "MB". */
  readonly unit: string;
  readonly rows: CostRow[];
  /** Set on figures kept from an earlier report (the date of that run). */
  readonly keptFrom?: string;
  /** Whether the run was a --quick smoke run. */
  readonly quick?: boolean;
}

export const median = (xs: readonly number[]): number | undefined => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * CPU microseconds per unit from a run's CPU use (in cores: CPU seconds per wall second) and its
 * rate (units per second); undefined when either is missing or the rate is zero.
 */
export function cpuUsPerUnit(cores: number | undefined, rate: number | undefined): number | undefined {
  if (cores === undefined || rate === undefined || !Number.isFinite(cores) || !(rate > 0)) return undefined;
  return (cores / rate) * 1e6;
}

/** The median over rounds of CPU µs per unit, each round's CPU divided by that round's rate. */
export function medianCpuUs(cores: readonly number[], rates: readonly (number | undefined)[]): number | undefined {
  return median(cores.map((c, i) => cpuUsPerUnit(c, rates[i]) ?? NaN));
}

/** peers.sh's line "cpu_us_per_req direct=0.00 nginx=39.31 haproxy=37.62 candidate=46.97" (0 = not measured). */
export function parseCpuLine(stdout: string): Partial<Record<Role, number>> {
  const line = stdout.split('\n').find((l) => l.startsWith('cpu_us_per_req '));
  const out: Partial<Record<Role, number>> = {};
  if (!line) return out;
  for (const m of line.matchAll(/\b(direct|nginx|haproxy|candidate)=([\d.]+)/g)) {
    const v = Number(m[2]);
    if (v > 0) out[m[1] as Role] = v;
  }
  return out;
}

const MARK = 'weft-bench-cost';

/** The one-line HTML comment that carries a scenario's figures inside its report section. */
export function costComment(c: ScenarioCost): string {
  const rows = c.rows.map((r) => ({
    role: r.role,
    rate: round(r.rate, 2),
    cpuUs: round(r.cpuUs, 3),
    rssKiB: r.rssKiB,
    errors: r.errors,
  }));
  return `<!-- ${MARK} ${JSON.stringify({ key: c.key, name: c.name, unit: c.unit, ...(c.quick ? { quick: true } : {}), rows })} -->`;
}

function round(v: number | undefined, decimals: number): number | undefined {
  return v === undefined || !Number.isFinite(v) ? undefined : Number(v.toFixed(decimals));
}

/** Every figure comment in a report text (or one section of it), in order; malformed ones are skipped. */
export function parseCostComments(text: string, keptFrom?: string): ScenarioCost[] {
  const out: ScenarioCost[] = [];
  for (const m of text.matchAll(new RegExp(`<!-- ${MARK} (\\{.*?\\}) -->`, 'g'))) {
    try {
      const j = JSON.parse(m[1]!) as ScenarioCost;
      if (typeof j.key !== 'string' || !Array.isArray(j.rows)) continue;
      out.push({ ...j, ...(keptFrom ? { keptFrom } : {}) });
    } catch {
      // not ours, or hand-edited: leave it out of the summary
    }
  }
  return out;
}

const PROXIES: readonly { role: Role; name: string }[] = [
  { role: 'nginx', name: 'nginx' },
  { role: 'haproxy', name: 'HAProxy' },
  { role: 'candidate', name: 'Weft' },
];

function num(v: number | undefined, decimals: number): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  return v.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** Decimals for a CPU-µs figure: 1 below 1,000, none above. */
const usDecimals = (v: number | undefined): number => (v !== undefined && v >= 1000 ? 0 : 1);

/**
 * The rows of the summary table: per scenario, each proxy's rate, CPU µs per unit and peak RSS
 * side by side, and Weft's CPU per unit relative to nginx and HAProxy (< 1: cheaper).
 */
export function summaryRows(costs: readonly ScenarioCost[]): string[][] {
  return costs.map((c) => {
    const by = (role: Role): CostRow | undefined => c.rows.find((r) => r.role === role);
    const cand = by('candidate')?.cpuUs;
    const ratio = (role: Role): string => {
      const ref = by(role)?.cpuUs;
      return cand !== undefined && ref ? num(cand / ref, 2) : '–';
    };
    const cells = PROXIES.flatMap(({ role }) => {
      const r = by(role);
      return [num(r?.rate, 0), num(r?.cpuUs, usDecimals(r?.cpuUs)), r?.rssKiB === undefined ? '–' : (r.rssKiB / 1024).toFixed(1)];
    });
    const note = [c.quick ? 'quick' : '', c.keptFrom ? `kept from ${c.keptFrom}` : ''].filter((x) => x).join(', ');
    return [`${c.key.charAt(0)}. ${c.name}${note ? ` (${note})` : ''}`, `µs/${c.unit}`, ...cells, ratio('nginx'), ratio('haproxy')];
  });
}

export const SUMMARY_HEADER: readonly string[] = [
  'scenario',
  'unit',
  ...PROXIES.flatMap(({ name }) => [`${name} rate/s`, `${name} CPU µs`, `${name} RSS MiB`]),
  'Weft CPU vs nginx',
  'Weft CPU vs HAProxy',
];

/** The same table as plain text for the terminal (fixed-width columns). */
export function summaryText(costs: readonly ScenarioCost[]): string {
  const rows = [SUMMARY_HEADER.map((h) => h.replace(' rate/s', ' /s')), ...summaryRows(costs)];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
}
