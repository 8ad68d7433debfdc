// End-to-end benchmarks of the Weft proxy side by side with nginx and HAProxy, written to
// bench/RESULTS.md with the machine, the date and the exact commands behind every number.
//   a. HTTP/1.1 keep-alive saturation, 64 B and 16 KB bodies (../shared/bench/peers.sh)
//   b. fixed rate (1000 rps): added latency, CPU per request, RSS (bench/lib/fixed-rate.ts)
//   c. RSS under saturation load, from a
//   d–i. HTTP/2 h2c, gRPC unary, TLS handshakes, HTTPS keep-alive, TCP proxy, two workers
//        (bench/scenarios/protocols.ts; Weft bootstraps in bench/envoy/)
//   j, k. gRPC through two sidecars (h2c → h2c), 1,000 concurrent streams with mixed sizes
//        (bench/scenarios/h2-streams.ts)
//   l. HTTP/1.1 keep-alive through two Weft sidecars, mesh mTLS vs plaintext (bench/scenarios/mtls.ts)
// Every scenario gives each target's rate, CPU µs per request (per handshake, per MB) and peak RSS;
// the report opens with a summary table of those figures (bench/lib/cost.ts), also printed at the end.
// Usage: npm run bench -- [--quick] [--only a,b,d,...] [--proxy-cmd CMD | --no-candidate] [--weft CMD]
//          [--rounds N] [--duration S] [--rate N] [--out FILE]   (bench/lib/options.ts)
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine, ensureProtocolTools, ensureTools, which, type Machine } from './lib/machine.js';
import { codeBlock, commandLine, mib, table } from './lib/markdown.js';
import { parseCostComments, summaryText, type ScenarioCost } from './lib/cost.js';
import { handWrittenSections, keepOtherSections, renderSummary } from './lib/report.js';
import { DEFAULT_CANDIDATE, DEFAULT_WEFT, parseOptions, USAGE, type Options } from './lib/options.js';
import { renderSaturation, runSaturation, type SaturationResult } from './scenarios/saturation.js';
import { renderFixedRate, runFixedRateScenario, type FixedRateScenarioResult } from './scenarios/fixed-rate.js';
import { runGrpcSidecars, runMixed } from './scenarios/h2-streams.js';
import { runMtlsSidecars } from './scenarios/mtls.js';
import {
  renderProtocol,
  runGrpc,
  runH2c,
  runMulticore,
  runTcp,
  runTls,
  type ProtocolOptions,
  type ProtocolResult,
  type ProtocolScenario,
} from './scenarios/protocols.js';

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
      ['h2load', m.h2load],
      ['openssl', m.openssl],
      ['iperf3', m.iperf3],
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
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const tools = [ensureTools(), ensureProtocolTools(protocolTools(protocolScenarios(opts)))].filter((t) => t).join('; ');
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
        saturation.map((r) => renderSaturation(r, opts.quick)).join('\n\n'),
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
      sections.push(`## b. Fixed rate: added latency, CPU and memory\n\n${renderFixedRate(fixedRate, opts.quick)}`);
    } catch (err) {
      sections.push(`## b. Fixed rate: added latency, CPU and memory\n\nNot measured: ${(err as Error).message}`);
    }
  }
  if (saturation.some((r) => r.rows.length > 0)) {
    sections.push(`## c. Memory under saturation load\n\n${renderRss(saturation.filter((r) => r.rows.length > 0))}`);
  }

  const protocol = protocolScenarios(opts);
  if (protocol.length > 0) {
    const weft = opts.weft === DEFAULT_WEFT && !existsSync(join(root, 'dist', 'src', 'cli', 'main.js')) ? undefined : opts.weft;
    const popts: ProtocolOptions = {
      cwd: root,
      nginx,
      haproxy,
      weft,
      candidateSkipped: !opts.weft
        ? 'candidate not available: --no-candidate'
        : !weft
          ? 'candidate not available: dist/src/cli/main.js does not exist (the proxy CLI is not built yet)'
          : undefined,
      rounds: opts.rounds ?? (opts.quick ? 1 : 3),
      durationS: opts.durationS ?? (opts.quick ? 2 : 8),
      // quick runs keep a 1 s warm-up too: a cold JIT makes a Node proxy's first seconds meaningless
      warmupS: 1,
    };
    const results: ProtocolResult[] = [];
    const has = (s: ProtocolScenario): boolean => opts.scenarios.has(s);
    if (has('d')) results.push(...(await step('d: HTTP/2 h2c', () => runH2c(popts))));
    if (has('e')) results.push(...(await step('e: gRPC unary', () => runGrpc(popts))));
    const tls = new Set((['f', 'g'] as const).filter(has));
    if (tls.size > 0) results.push(...(await step(`${[...tls].join(', ')}: TLS`, () => runTls(popts, tls))));
    if (has('h')) results.push(...(await step('h: TCP proxy', () => runTcp(popts))));
    if (has('i')) results.push(...(await step('i: two workers', () => runMulticore(popts))));
    if (has('j')) results.push(...(await step('j: gRPC through two sidecars', () => runGrpcSidecars(popts))));
    if (has('k')) results.push(...(await step('k: 1,000 streams, mixed sizes', () => runMixed(popts))));
    if (has('l')) results.push(...(await step('l: two sidecars, mTLS vs plaintext', () => runMtlsSidecars(popts))));
    for (const r of results) sections.push(renderProtocol(r, popts.rounds, popts.durationS, popts.warmupS, opts.quick));
  }

  const invocation = commandLine(['npm', 'run', 'bench', ...(opts.argv.length > 0 ? ['--', ...opts.argv] : [])]);
  const fresh = sections.flatMap((sec) => parseCostComments(sec));
  const old = existsSync(opts.out) ? readFileSync(opts.out, 'utf8') : undefined;
  const kept = opts.partial && old !== undefined ? keepOtherSections(old, sections) : { sections, costs: [] as ScenarioCost[] };
  const extra = old !== undefined ? handWrittenSections(old) : [];
  const costs = [...fresh, ...kept.costs].sort((x, y) => x.key.charAt(0).localeCompare(y.key.charAt(0)));
  const report = [
    '# Weft benchmark results',
    `Written by \`${invocation}\` (bench/run.ts) on ${machine.date}.` +
      (opts.quick ? ' **Quick smoke run: one short round, not numbers to quote.**' : ''),
    '## Machine',
    renderMachine(machine, tools, loadavg()[0] ?? 0),
    ...(costs.length > 0 ? [renderSummary(costs)] : []),
    ...kept.sections,
    '## Reproduce',
    codeBlock(`npm ci\n${invocation}`, 'sh'),
    ...extra,
  ].join('\n\n');
  writeFileSync(opts.out, `${report}\n`);
  process.stderr.write(`wrote ${relative(process.cwd(), opts.out) || opts.out}\n`);
  if (costs.length > 0) process.stdout.write(`\n${summaryText(costs)}\n`);
}

function protocolScenarios(opts: Options): ProtocolScenario[] {
  return (['d', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'] as const).filter((s) => opts.scenarios.has(s));
}

/** The Debian packages the selected protocol scenarios need (their command, the package). */
function protocolTools(scenarios: readonly ProtocolScenario[]): [string, string][] {
  const tools: [string, string][] = [];
  if (scenarios.some((s) => s === 'd' || s === 'e' || s === 'j' || s === 'k')) tools.push(['h2load', 'nghttp2-client']);
  if (scenarios.includes('f') || scenarios.includes('g')) tools.push(['openssl', 'openssl']);
  if (scenarios.includes('h')) tools.push(['iperf3', 'iperf3']);
  return tools;
}

async function step(what: string, run: () => Promise<ProtocolResult[]>): Promise<ProtocolResult[]> {
  process.stderr.write(`${what}\n`);
  return run();
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
