// Scenario b: latency at a fixed, moderate rate (default 1000 rps, HTTP/1.1 keep-alive, 64 B body),
// where saturation numbers say nothing: p50/p99/p99.9 measured from the scheduled send time, for
// the upstream directly and through each proxy; the latency each proxy adds over direct; its CPU
// microseconds per request (utime+stime of its process tree) and its RSS under that load.
// The generator (bench/lib/fixed-rate.ts) runs in its own process on CPU 1, the proxies on CPU 0.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { onCleanup } from '../lib/cleanup.js';
import { cpuSeconds, processTree, rssKiB } from '../lib/procfs.js';
import { LOAD_CPU, Peers, type Target, type TargetName } from '../lib/peers.js';
import type { FixedRateResult } from '../lib/fixed-rate.js';
import { codeBlock, commandLine, fmt, mib, signed, table } from '../lib/markdown.js';
import { costComment, type ScenarioCost } from '../lib/cost.js';

export interface FixedRateScenarioOptions {
  readonly cwd: string;
  readonly nginx: string;
  readonly haproxy: string;
  readonly candidateCmd?: string | undefined;
  readonly candidateSkipped?: string | undefined;
  readonly bodyBytes: number;
  readonly rate: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly connections: number;
  /** Compiled generator script, e.g. dist/bench/lib/fixed-rate.js. */
  readonly generator: string;
}

export interface FixedRateRow {
  readonly name: TargetName;
  readonly command: string;
  readonly result: FixedRateResult | undefined;
  /** CPU seconds of the target's process tree during the measured window. */
  readonly cpuS: number | undefined;
  readonly rssPeakKiB: number | undefined;
  readonly error: string | undefined;
}

export interface FixedRateScenarioResult {
  readonly opts: FixedRateScenarioOptions;
  readonly peerCommands: string[];
  readonly configs: Record<string, string>;
  readonly rows: FixedRateRow[];
  readonly notes: string[];
}

async function measure(opts: FixedRateScenarioOptions, target: Target): Promise<FixedRateRow> {
  const argv = [
    'taskset',
    '-c',
    String(LOAD_CPU),
    process.execPath,
    opts.generator,
    '--port',
    String(target.port),
    '--rate',
    String(opts.rate),
    '--duration',
    String(opts.durationS),
    '--warmup',
    String(opts.warmupS),
    '--connections',
    String(opts.connections),
  ];
  const command = commandLine(['taskset', ...argv.slice(1, 3), 'node', ...argv.slice(4)]);
  const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const unregister = onCleanup(() => void child.kill('SIGTERM'));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));

  let cpuStart: Map<number, number> | undefined; // CPU seconds per pid at the window's start
  let cpuS: number | undefined;
  let rssPeak = 0;
  let pids: number[] = [];
  let rssTimer: NodeJS.Timeout | undefined;
  let result: FixedRateResult | undefined;
  const sampleRss = (): void => {
    rssPeak = Math.max(rssPeak, rssKiB(pids));
  };
  for await (const line of createInterface({ input: child.stdout })) {
    if (line === 'MEASURE_START') {
      pids = processTree(target.roots());
      cpuStart = new Map(pids.map((p) => [p, cpuSeconds([p])]));
      rssTimer = setInterval(sampleRss, 250);
    } else if (line === 'MEASURE_END') {
      if (rssTimer) clearInterval(rssTimer);
      sampleRss();
      // Processes that appeared during the window count from zero; reaped children are in their
      // parent's cutime/cstime, which cpuSeconds includes.
      if (cpuStart) {
        cpuS = 0;
        for (const p of processTree(target.roots())) cpuS += cpuSeconds([p]) - (cpuStart.get(p) ?? 0);
      }
    } else if (line.startsWith('RESULT ')) {
      result = JSON.parse(line.slice('RESULT '.length)) as FixedRateResult;
    }
  }
  if (rssTimer) clearInterval(rssTimer);
  const code = await new Promise<number | null>((resolve) =>
    child.exitCode !== null ? resolve(child.exitCode) : child.on('close', (c) => resolve(c)),
  );
  unregister();
  const error = result ? undefined : `generator exited with ${code}: ${stderr.trim() || '(no output)'}`;
  return { name: target.name, command, result, cpuS, rssPeakKiB: rssPeak || undefined, error };
}

export async function runFixedRateScenario(opts: FixedRateScenarioOptions): Promise<FixedRateScenarioResult> {
  const notes: string[] = [];
  if (opts.candidateSkipped) notes.push(opts.candidateSkipped);
  const peers = await Peers.start({
    bodyBytes: opts.bodyBytes,
    candidateCmd: opts.candidateCmd,
    cwd: opts.cwd,
    nginx: opts.nginx,
    haproxy: opts.haproxy,
  });
  try {
    if (peers.candidateError) notes.push(peers.candidateError);
    const rows: FixedRateRow[] = [];
    for (const target of peers.targets) {
      process.stderr.write(`  b: ${target.name} at ${opts.rate} rps for ${opts.warmupS}+${opts.durationS} s\n`);
      rows.push(await measure(opts, target));
    }
    return { opts, peerCommands: peers.commands(), configs: peers.configs(), rows, notes };
  } finally {
    await peers.close();
  }
}

/** CPU µs per completed request of one row, or undefined. */
function cpuUs(row: FixedRateRow): number | undefined {
  const x = row.result;
  return x && row.cpuS !== undefined && x.completed > 0 ? (row.cpuS / x.completed) * 1e6 : undefined;
}

/** The scenario's figures for the summary table (rate: the achieved rate). */
export function fixedRateCost(r: FixedRateScenarioResult, quick: boolean): ScenarioCost {
  return {
    key: 'b',
    name: `HTTP/1.1 at a fixed ${r.opts.rate} rps`,
    unit: 'req',
    rows: r.rows
      .filter((row) => row.result)
      .map((row) => ({
        role: row.name,
        rate: row.result!.achievedRps,
        cpuUs: cpuUs(row),
        rssKiB: row.rssPeakKiB,
        errors: row.result!.errors + row.result!.non2xx + row.result!.unanswered,
      })),
    ...(quick ? { quick } : {}),
  };
}

export function renderFixedRate(r: FixedRateScenarioResult, quick = false): string {
  const o = r.opts;
  const out: string[] = [];
  out.push(
    `${o.rate} rps for ${o.durationS} s (after ${o.warmupS} s of warm-up at the same rate), ${o.connections} keep-alive ` +
      `connections, ${o.bodyBytes} B body. Latency is from the scheduled send time to the last response byte.`,
  );
  const direct = r.rows.find((row) => row.name === 'direct')?.result;
  out.push(
    table(
      ['target', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'p50 added', 'p99 added', 'CPU µs/req', 'RSS MiB', 'done / scheduled', 'errors'],
      r.rows.map((row) => {
        const x = row.result;
        const l = x?.latencyMs;
        const isDirect = row.name === 'direct';
        return [
          row.name,
          fmt(l?.p50, 3),
          fmt(l?.p99, 3),
          fmt(l?.p999, 3),
          fmt(l?.max, 3),
          isDirect || !direct || !l ? '–' : signed(l.p50 - direct.latencyMs.p50),
          isDirect || !direct || !l ? '–' : signed(l.p99 - direct.latencyMs.p99),
          fmt(cpuUs(row), 1),
          mib(row.rssPeakKiB),
          x ? `${x.completed} / ${x.scheduled}` : '–',
          x ? String(x.errors + x.non2xx + x.unanswered) : '–',
        ];
      }),
    ),
  );
  out.push(
    'For `direct`, CPU and RSS are the upstream nginx itself (what a request costs with no proxy); for the proxies ' +
      'they are the proxy process tree only. CPU is utime+stime from /proc/<pid>/stat over the measured window ' +
      '(10 ms tick resolution) divided by the requests completed in it; at this moderate rate it includes the proxy\'s ' +
      'fixed costs (timers, GC) that saturation spreads over more requests; RSS is the peak VmRSS summed over the tree, sampled every 250 ms.',
  );
  out.push('Generator precision (service time = from the actual send; send lag = how late the send was):');
  out.push(
    table(
      ['target', 'service p50 ms', 'service p99 ms', 'send lag p50 ms', 'send lag p99 ms', 'achieved rps'],
      r.rows.map((row) => [
        row.name,
        fmt(row.result?.serviceMs.p50, 3),
        fmt(row.result?.serviceMs.p99, 3),
        fmt(row.result?.sendLagMs.p50, 3),
        fmt(row.result?.sendLagMs.p99, 3),
        fmt(row.result?.achievedRps, 0),
      ]),
    ),
  );
  for (const row of r.rows) if (row.error) out.push(`- ${row.name}: ${row.error}`);
  for (const n of r.notes) out.push(`- ${n.replace(/\n/g, '\n  ')}`);
  out.push('Commands (from the repo root; the peers first, then one generator run per target, in this order):');
  out.push(codeBlock([...r.peerCommands, ...r.rows.map((row) => row.command)].join('\n'), 'sh'));
  out.push('Generated configs (in a temp dir, the same as peers.sh writes):');
  out.push(Object.entries(r.configs).map(([name, text]) => `${name}:\n${codeBlock(text, name.endsWith('.cfg') ? '' : 'nginx')}`).join('\n\n'));
  if (r.rows.some((row) => row.result)) out.push(costComment(fixedRateCost(r, quick)));
  return out.join('\n\n');
}
