// End-to-end benchmarks of the Weft proxy side by side with nginx and HAProxy, written to
// bench/RESULTS.md with the machine, the date and the exact commands behind every number.
//   a. HTTP/1.1 keep-alive saturation, 64 B and 16 KB bodies (../shared/bench/peers.sh)
//   b. fixed rate (1000 rps): added latency, CPU per request, RSS (bench/lib/fixed-rate.ts)
//   c. RSS under saturation load, from a
// Usage: npm run bench -- [--quick] [--only a,b] [--proxy-cmd CMD | --no-candidate] [--rate N] [--out FILE]
import { existsSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine, ensureTools, which, type Machine } from './lib/machine.js';
import { codeBlock, commandLine, mib, table } from './lib/markdown.js';
import { renderSaturation, runSaturation, type SaturationResult } from './scenarios/saturation.js';
import { renderFixedRate, runFixedRateScenario, type FixedRateScenarioResult } from './scenarios/fixed-rate.js';

// The same V8 flag the `weft` launcher (shebang) sets; spelled out because this runs node directly.
const DEFAULT_CANDIDATE = 'node --max-semi-space-size=2 dist/src/cli/main.js proxy -c bench/peers.yaml --log-level warning';
const USAGE = `usage: npm run bench -- [options]
  --quick            one short round of everything (a smoke run, not numbers to quote)
  --only a,b         scenarios to run: a (saturation, with c: RSS under load), b (fixed rate)
  --proxy-cmd CMD    candidate command, run from the repo root (default: ${DEFAULT_CANDIDATE})
  --no-candidate     measure only direct, nginx and haproxy
  --rate N           scenario b's rate in requests per second (default 1000)
  --out FILE         where to write the report (default bench/RESULTS.md)`;

interface Options {
  readonly quick: boolean;
  readonly scenarios: ReadonlySet<'a' | 'b'>;
  readonly candidateCmd: string | undefined;
  readonly rate: number;
  readonly out: string;
  readonly argv: string[];
}

function parseOptions(argv: string[], root: string): Options {
  let quick = false;
  let only = 'a,b';
  let candidateCmd: string | undefined = DEFAULT_CANDIDATE;
  let rate = 1000;
  let out = join(root, 'bench', 'RESULTS.md');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    switch (arg) {
      case '--quick':
        quick = true;
        break;
      case '--only':
        only = value();
        break;
      case '--proxy-cmd':
        candidateCmd = value();
        break;
      case '--no-candidate':
        candidateCmd = undefined;
        break;
      case '--rate':
        rate = Number(value());
        if (!(rate > 0)) throw new Error('--rate must be a positive number');
        break;
      case '--out':
        out = resolve(value());
        break;
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
      default:
        throw new Error(`unknown argument ${arg}\n${USAGE}`);
    }
  }
  const scenarios = new Set<'a' | 'b'>();
  for (const s of only.split(',').map((x) => x.trim().toLowerCase())) {
    if (s === 'a' || s === 'c') scenarios.add('a'); // c is measured during a
    else if (s === 'b') scenarios.add('b');
    else throw new Error(`--only: unknown scenario "${s}" (a, b or c)`);
  }
  return { quick, scenarios, candidateCmd, rate, out, argv };
}

/** The repo root: the nearest folder above this file that holds package.json. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repo root (package.json)');
    dir = up;
  }
  return dir;
}

function renderMachine(m: Machine, tools: string, loadAtEnd: number): string {
  const busy = m.loadAvg1m > 0.5 * m.nproc; // at the end the benchmark's own load is in the average
  const load = `${m.loadAvg1m.toFixed(2)} at the start, ${loadAtEnd.toFixed(2)} at the end (1-minute average, benchmark included)`;
  return table(
    ['what', 'value'],
    [
      ['date', m.date],
      ['CPU', `${m.cpuModel} × ${m.nproc} (nproc)`],
      ['OS / kernel', `${m.os} / ${m.kernel}`],
      ['node', m.node],
      ['nginx', m.nginx],
      ['haproxy', m.haproxy],
      ['wrk', m.wrk],
      ['tools', tools],
      ['load average', busy ? `${load} — **the machine was busy with other work when the run started: numbers may be skewed**` : load],
    ],
  );
}

function renderRss(results: SaturationResult[]): string {
  const names = ['direct', 'nginx', 'haproxy', 'candidate'] as const;
  const rows = names
    .filter((n) => results.some((r) => r.rows.some((row) => row.name === n)))
    .map((n) => [
      n === 'direct' ? 'direct (upstream nginx)' : n,
      ...results.map((r) => mib(r.rows.find((row) => row.name === n)?.rssPeakKiB)),
    ]);
  const candidateLine = results
    .map((r) => r.resultLine && /rss_mb=([\d.]+)/.exec(r.resultLine))
    .map((m, i) => (m ? `${results[i]!.opts.bodyBytes} B: ${m[1]} MiB` : undefined))
    .filter((x) => x !== undefined);
  const out = [
    'Peak RSS (VmRSS summed over the process tree that owns the listening port, sampled every 500 ms while ' +
      'peers.sh ran, so it includes the wrk rounds against that target):',
    table(['target', ...results.map((r) => `${r.opts.bodyBytes} B body, MiB`)], rows),
  ];
  if (candidateLine.length > 0) out.push(`peers.sh's own RESULT rss_mb for the candidate (read after the rounds): ${candidateLine.join(', ')}.`);
  return out.join('\n\n');
}

async function main(): Promise<void> {
  const root = repoRoot();
  const opts = parseOptions(process.argv.slice(2), root);
  const tools = ensureTools();
  const machine = describeMachine();
  const nginx = which('nginx')!;
  const haproxy = which('haproxy')!;
  const peersSh = resolve(root, '..', 'shared', 'bench', 'peers.sh');

  let candidateCmd = opts.candidateCmd;
  let candidateSkipped: string | undefined = candidateCmd ? undefined : 'No candidate (--no-candidate).';
  if (candidateCmd === DEFAULT_CANDIDATE && !existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) {
    candidateSkipped = 'No candidate: dist/src/cli/main.js does not exist (the proxy CLI is not built yet).';
    candidateCmd = undefined;
  }

  const sat = opts.quick ? { rounds: 1, durationS: 3 } : { rounds: 3, durationS: 8 };
  const fixed = opts.quick ? { durationS: 4, warmupS: 1 } : { durationS: 15, warmupS: 2 };

  const sections: string[] = [];
  const saturation: SaturationResult[] = [];
  if (opts.scenarios.has('a')) {
    for (const bodyBytes of [64, 16384]) {
      process.stderr.write(`a: saturation, ${bodyBytes} B body (${sat.rounds} round(s) × ${sat.durationS} s per target)\n`);
      saturation.push(
        await runSaturation({
          peersSh,
          cwd: root,
          bodyBytes,
          connections: 50,
          candidateCmd,
          candidateSkipped,
          ...sat,
        }),
      );
    }
    sections.push(
      '## a. HTTP/1.1 keep-alive saturation\n\n' +
        'wrk (1 thread, CPU 1) against each target in turn, rounds interleaved; every proxy has one core (CPU 0) ' +
        'and forwards to the same upstream nginx (CPU 1). `p99 added` is over `direct`.\n\n' +
        saturation.map(renderSaturation).join('\n\n'),
    );
  }
  let fixedRate: FixedRateScenarioResult | undefined;
  if (opts.scenarios.has('b')) {
    process.stderr.write(`b: fixed rate, ${opts.rate} rps\n`);
    try {
      fixedRate = await runFixedRateScenario({
        cwd: root,
        nginx,
        haproxy,
        candidateCmd,
        candidateSkipped,
        bodyBytes: 64,
        rate: opts.rate,
        connections: 16,
        generator: relative(root, fileURLToPath(new URL('./lib/fixed-rate.js', import.meta.url))),
        ...fixed,
      });
      sections.push(`## b. Fixed rate: added latency, CPU and memory\n\n${renderFixedRate(fixedRate)}`);
    } catch (err) {
      sections.push(`## b. Fixed rate: added latency, CPU and memory\n\nNot measured: ${(err as Error).message}`);
    }
  }
  if (saturation.some((r) => r.rows.length > 0)) {
    sections.push(`## c. Memory under saturation load\n\n${renderRss(saturation.filter((r) => r.rows.length > 0))}`);
  }

  const invocation = commandLine(['npm', 'run', 'bench', ...(opts.argv.length > 0 ? ['--', ...opts.argv] : [])]);
  const report = [
    '# Weft benchmark results',
    `Written by \`${invocation}\` (bench/run.ts) on ${machine.date}.` +
      (opts.quick ? ' **Quick smoke run: one short round, not numbers to quote.**' : ''),
    '## Machine',
    renderMachine(machine, tools, loadavg()[0] ?? 0),
    ...sections,
    '## Reproduce',
    codeBlock(`npm ci\n${invocation}`, 'sh'),
  ].join('\n\n');
  writeFileSync(opts.out, `${report}\n`);
  process.stderr.write(`wrote ${relative(process.cwd(), opts.out) || opts.out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
