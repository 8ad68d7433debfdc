// Scenario a (+ c): HTTP/1.1 keep-alive saturation through ../shared/bench/peers.sh — wrk with 50
// connections on CPU 1 against the upstream directly, nginx, HAProxy and the candidate (CPU 0),
// median of interleaved rounds; rps and p50/p99 per target, CPU µs per request (peers.sh's
// cpu_us_per_req: the proxy's process-tree CPU time over the requests it served), ratios against nginx
// and HAProxy, and (scenario c) the peak RSS of each target's process tree while it is under load.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { onCleanup } from '../lib/cleanup.js';
import { PeakRssSampler } from '../lib/procfs.js';
import { PORTS, waitForBenchPorts, type TargetName } from '../lib/peers.js';
import { codeBlock, commandLine, fmt, mib, signed, table } from '../lib/markdown.js';
import { costComment, parseCpuLine, type ScenarioCost } from '../lib/cost.js';

export interface SaturationOptions {
  readonly peersSh: string;
  readonly cwd: string;
  readonly bodyBytes: number;
  readonly rounds: number;
  readonly durationS: number;
  readonly connections: number;
  readonly candidateCmd?: string | undefined;
  /** Why no candidate is measured, when candidateCmd is undefined on purpose. */
  readonly candidateSkipped?: string | undefined;
}

export interface SaturationRow {
  readonly name: TargetName;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly rssPeakKiB: number | undefined;
  /** CPU µs of the target's process tree per request (median over rounds); undefined for direct. */
  readonly cpuUsPerReq: number | undefined;
}

export interface SaturationResult {
  readonly opts: SaturationOptions;
  /** The peers.sh invocations, in order (a second one when the candidate failed). */
  readonly commands: string[];
  readonly rows: SaturationRow[];
  /** peers.sh's table and RESULT line, verbatim. */
  readonly output: string;
  readonly resultLine: string | undefined;
  /** Notes: peers.sh stderr lines (errors, non-2xx), a missing harness, a failed candidate. */
  readonly notes: string[];
}

interface PeersShRun {
  readonly argv: string[];
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly sampler: PeakRssSampler;
}

async function runPeersSh(opts: SaturationOptions, candidateCmd: string | undefined): Promise<PeersShRun> {
  const argv = [
    'bash',
    opts.peersSh,
    ...(candidateCmd ? ['--proxy-cmd', candidateCmd] : []),
    '--rounds',
    String(opts.rounds),
    '--duration',
    String(opts.durationS),
    '--connections',
    String(opts.connections),
    '--body',
    String(opts.bodyBytes),
  ];
  await waitForBenchPorts();
  const sampler = new PeakRssSampler(Object.values(PORTS), 500);
  sampler.start();
  // Its own process group (detached), so an interrupt can stop wrk and the candidate with it.
  const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    process.stderr.write(`    peers.sh: ${d}`);
  });
  // On an interrupt, SIGTERM the group: peers.sh's own EXIT trap then stops its daemons.
  const unregister = onCleanup(() => {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  unregister();
  sampler.close();
  return { argv, code, stdout, stderr, sampler };
}

/**
 * Parses peers.sh's table ("<target> <rps> <p50_ms> <p99_ms>" lines) and its cpu_us_per_req line;
 * peak RSS per target comes from `rssOf` (the sampler of the run).
 */
export function parseTable(stdout: string, rssOf: (name: TargetName) => number | undefined): SaturationRow[] {
  const cpu = parseCpuLine(stdout);
  const rows: SaturationRow[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^(direct|nginx|haproxy|candidate)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$/.exec(line);
    if (!m) continue;
    const name = m[1] as TargetName;
    rows.push({
      name,
      rps: Number(m[2]),
      p50Ms: Number(m[3]),
      p99Ms: Number(m[4]),
      rssPeakKiB: rssOf(name),
      cpuUsPerReq: cpu[name],
    });
  }
  return rows;
}

export async function runSaturation(opts: SaturationOptions): Promise<SaturationResult> {
  const notes: string[] = [];
  if (!existsSync(opts.peersSh)) {
    notes.push(`The side-by-side harness ${opts.peersSh} is missing, so this scenario was not run.`);
    return { opts, commands: [], rows: [], output: '', resultLine: undefined, notes };
  }
  if (opts.candidateSkipped) notes.push(opts.candidateSkipped);
  let run = await runPeersSh(opts, opts.candidateCmd);
  const commands = [commandLine(run.argv)];
  if (run.code !== 0 && opts.candidateCmd) {
    notes.push(`peers.sh with the candidate exited with ${run.code}: ${run.stderr.trim() || '(no output)'}`);
    notes.push('It was run again without --proxy-cmd, so the peers are still measured.');
    run = await runPeersSh(opts, undefined);
    commands.push(commandLine(run.argv));
  }
  if (run.code !== 0) notes.push(`peers.sh exited with ${run.code}: ${run.stderr.trim() || '(no output)'}`);
  else if (run.stderr.trim()) notes.push(`peers.sh reported: ${run.stderr.trim()}`);
  const rows = parseTable(run.stdout, (name) => run.sampler.peakKiB(PORTS[name]));
  const resultLine = run.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  return { opts, commands, rows, output: run.stdout.trim(), resultLine, notes };
}

/** The figures of one body size for the summary table. */
export function saturationCost(r: SaturationResult, quick: boolean): ScenarioCost {
  const body = r.opts.bodyBytes >= 1024 ? `${r.opts.bodyBytes / 1024} KiB` : `${r.opts.bodyBytes} B`;
  return {
    key: `a (${body})`,
    name: `HTTP/1.1 keep-alive, ${body} body`,
    unit: 'req',
    rows: r.rows.map((row) => ({ role: row.name, rate: row.rps, cpuUs: row.cpuUsPerReq, rssKiB: row.rssPeakKiB, errors: 0 })),
    ...(quick ? { quick } : {}),
  };
}

export function renderSaturation(r: SaturationResult, quick = false): string {
  const o = r.opts;
  const out: string[] = [];
  out.push(
    `### ${o.bodyBytes} B body — ${o.connections} connections, median of ${o.rounds} round(s) × ${o.durationS} s`,
  );
  if (r.rows.length > 0) {
    const by = new Map(r.rows.map((row) => [row.name, row]));
    const direct = by.get('direct');
    const nginx = by.get('nginx');
    const haproxy = by.get('haproxy');
    out.push(
      table(
        ['target', 'rps', 'p50 ms', 'p99 ms', 'p99 added ms', 'CPU µs/req', 'CPU vs nginx', 'CPU vs haproxy', 'rps vs nginx', 'rps vs haproxy', 'peak RSS MiB'],
        r.rows.map((row) => [
          row.name,
          fmt(row.rps),
          fmt(row.p50Ms, 3),
          fmt(row.p99Ms, 3),
          row.name === 'direct' || !direct ? '–' : signed(row.p99Ms - direct.p99Ms),
          fmt(row.cpuUsPerReq, 1),
          row.cpuUsPerReq !== undefined && nginx?.cpuUsPerReq ? fmt(row.cpuUsPerReq / nginx.cpuUsPerReq, 2) : '–',
          row.cpuUsPerReq !== undefined && haproxy?.cpuUsPerReq ? fmt(row.cpuUsPerReq / haproxy.cpuUsPerReq, 2) : '–',
          nginx ? fmt(row.rps / nginx.rps, 2) : '–',
          haproxy ? fmt(row.rps / haproxy.rps, 2) : '–',
          mib(row.rssPeakKiB),
        ]),
      ),
    );
    out.push(
      '`CPU µs/req` is peers.sh\'s `cpu_us_per_req`: the target\'s process-tree utime+stime over each wrk round divided by the ' +
        'requests wrk counted, median over rounds (not measured for `direct`); at saturation wrk and the upstream share CPU 1, ' +
        'so this, not rps, is the figure that separates the proxies.',
    );
    out.push('peers.sh output:');
    out.push(codeBlock(r.output));
  }
  for (const n of r.notes) out.push(`- ${n.replace(/\n/g, '\n  ')}`);
  if (r.commands.length > 0) {
    out.push(`Command (from the repo root):`);
    out.push(codeBlock(r.commands.join('\n'), 'sh'));
  }
  if (r.rows.length > 0) out.push(costComment(saturationCost(r, quick)));
  return out.join('\n\n');
}
