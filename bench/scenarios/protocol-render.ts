// The report section of one protocol scenario (d–k) of `npm run bench`, for bench/RESULTS.md: the
// table (rate, latency, CPU in cores, CPU µs per unit, ratios to nginx and HAProxy, peak RSS,
// errors), the target when there is one, notes, the exact commands and generated configs,
// and the scenario's figures for the summary table (bench/lib/cost.ts).
import { costComment, median, medianCpuUs, type CostRow, type ScenarioCost } from '../lib/cost.js';
import { codeBlock, fmt, mib, table } from '../lib/markdown.js';
import { LOAD_CPU, type ByRole, type ProtocolResult, type Row } from './protocol-common.js';

const value = (row: Row): number | undefined => median(row.results.map((x) => x.value ?? NaN));
const cpuUs = (row: Row): number | undefined => medianCpuUs(row.cpu, row.results.map((x) => x.value));
const peakRss = (row: Row): number | undefined => (row.rssKiB.length > 0 ? Math.max(...row.rssKiB) : undefined);
const errors = (row: Row): number => row.results.reduce((s, x) => s + x.errors, 0);

/** The scenario's figures for the summary: one row per target that was measured. */
export function protocolCost(r: ProtocolResult, quick: boolean): ScenarioCost {
  const rows: CostRow[] = r.rows.map((row) => ({
    role: row.target.role,
    rate: value(row),
    cpuUs: cpuUs(row),
    rssKiB: peakRss(row),
    errors: errors(row),
  }));
  return { key: r.id, name: r.short, unit: r.unit, rows, ...(quick ? { quick } : {}) };
}

export function renderProtocol(r: ProtocolResult, rounds: number, durationS: number, warmupS: number, quick = false): string {
  const out: string[] = [`## ${r.title}`, r.intro];
  const perCpu = (row: Row): number | undefined => {
    const us = cpuUs(row);
    return us ? 1e6 / us : undefined;
  };
  const by: ByRole = (role, per) => {
    const row = r.rows.find((x) => x.target.role === role);
    return row ? (per === 'cpu' ? perCpu(row) : value(row)) : undefined;
  };
  const nginx = by('nginx');
  const haproxy = by('haproxy');
  const usOf = (role: 'nginx' | 'haproxy'): number | undefined => {
    const row = r.rows.find((x) => x.target.role === role);
    return row ? cpuUs(row) : undefined;
  };
  const nginxUs = usOf('nginx');
  const haproxyUs = usOf('haproxy');
  const unit = r.unit;
  if (r.rows.length > 0) {
    const latencyCols = r.latency === 'percentiles' ? ['p50 ms', 'p99 ms'] : r.latency === 'mean' ? ['mean ms'] : [];
    const rows = r.rows.map((row) => {
      const v = value(row);
      const us = cpuUs(row);
      const lat =
        r.latency === 'percentiles'
          ? [fmt(median(row.results.map((x) => x.p50Ms ?? NaN)), 3), fmt(median(row.results.map((x) => x.p99Ms ?? NaN)), 3)]
          : r.latency === 'mean'
            ? [fmt(median(row.results.map((x) => x.meanMs ?? NaN)), 3)]
            : [];
      return [
        row.target.label,
        fmt(v, r.decimals),
        ...lat,
        fmt(median(row.cpu), 2),
        fmt(us, us !== undefined && us >= 1000 ? 0 : 1),
        us !== undefined && nginxUs ? fmt(us / nginxUs, 2) : '–',
        us !== undefined && haproxyUs ? fmt(us / haproxyUs, 2) : '–',
        v !== undefined && nginx ? fmt(v / nginx, 2) : '–',
        v !== undefined && haproxy ? fmt(v / haproxy, 2) : '–',
        mib(peakRss(row)),
        String(errors(row)),
      ];
    });
    if (r.candidateError) rows.push([r.candidateError.replace(/\|/g, '\\|'), '–', ...latencyCols.map(() => '–'), '–', '–', '–', '–', '–', '–', '–', '–']);
    out.push(
      `Median of ${rounds} round(s) × ${durationS} s per target` +
        (warmupS > 0
          ? `, each measured run after ${warmupS} s of the same load unmeasured (h2load \`--warm-up-time\`, iperf3 \`-O\`, or a separate wrk / s_time run).`
          : ', no warm-up (a cold JIT costs a Node proxy a lot in the first seconds).') +
        ` \`CPU\` is the target process tree's utime+stime over the measured window (/proc, 10 ms ticks) in cores; ` +
        `\`CPU µs/${unit}\` is that CPU time per ${unit} (the median over rounds of CPU ÷ rate, the figure to compare when the load generator, ` +
        `not the proxy, limits the rate; \`vs nginx\`/\`vs haproxy\` < 1 means cheaper); peak RSS is VmRSS summed over the tree, sampled every 250 ms.` +
        (r.chain ? ' Each proxy row is **two proxies in a chain** (two processes): CPU and RSS are both hops together.' : ''),
      table(
        ['target', r.metric, ...latencyCols, 'CPU', `CPU µs/${unit}`, 'CPU vs nginx', 'CPU vs haproxy', `${r.metric} vs nginx`, `${r.metric} vs haproxy`, 'peak RSS MiB', 'errors'],
        rows,
      ),
    );
  }
  if (r.goal) {
    const cand = by('candidate');
    const met = cand === undefined ? undefined : r.goal.check(by);
    const verdict =
      cand === undefined ? 'not measured (no candidate)' : met === undefined ? 'cannot tell (peer missing)' : met ? '**met**' : '**not met**';
    out.push(`Target (issue): ${r.goal.text} — ${verdict}.`);
  }
  for (const row of r.rows) {
    const errs = [...new Set(row.results.map((x) => x.error).filter((e): e is string => e !== undefined))];
    for (const e of errs) out.push(`- ${row.target.label}: ${e}`);
    const detail = row.results.find((x) => x.errorDetail)?.errorDetail;
    if (detail) out.push(`- ${row.target.label} errors (first round that had any): ${detail}`);
  }
  if (r.pinned) {
    // a chain's two proxies share the one core too, so "saturated" means the same for every row
    const full = 0.9;
    const slack = r.rows.filter((row) => row.target.role !== 'direct' && (median(row.cpu) ?? 1) < full);
    if (slack.length > 0) {
      out.push(
        `- CPU below ${full} for ${slack.map((row) => row.target.label).join(', ')}: that proxy's core was not saturated, so ` +
          `CPU ${LOAD_CPU} (load generator and upstream) or the machine's other load set the pace; \`CPU µs/${unit}\` is the fairer comparison there.`,
      );
    }
  }
  for (const n of r.notes) out.push(`- ${n}`);
  if (r.setup.length > 0 || r.load.length > 0) {
    const cand = r.candidateCmd ? `# candidate: ${r.candidateCmd}\n` : '';
    out.push('Commands (from the repo root; `$D` is the run\'s temp dir; the load command per target, run once per round):');
    out.push(
      codeBlock(
        cand +
          r.setup.join('\n') +
          '\n' +
          r.load.map((l) => `# ${l.label}\n${l.commands.join('\n')}`).join('\n'),
        'sh',
      ),
    );
  }
  const configs = Object.entries(r.configs);
  if (configs.length > 0) {
    out.push(
      '<details><summary>Generated peer configs</summary>\n\n' +
        configs.map(([name, text]) => `${name}:\n${codeBlock(text, name.endsWith('.cfg') ? '' : 'nginx')}`).join('\n\n') +
        '\n\n</details>',
    );
  }
  if (r.rows.length > 0) out.push(costComment(protocolCost(r, quick)));
  return out.join('\n\n');
}
