// End-to-end benchmarks of the Weft proxy side by side with nginx and HAProxy, written to
// bench/RESULTS.md with the machine, the date and the exact commands behind every number.
//   a. HTTP/1.1 keep-alive saturation, 64 B and 16 KB bodies (../shared/bench/peers.sh)
//   b. fixed rate (1000 rps): added latency, CPU per request, RSS (bench/lib/fixed-rate.ts)
//   c. RSS under saturation load, from a
//   d–i. HTTP/2 h2c, gRPC unary, TLS handshakes, HTTPS keep-alive, TCP proxy, two workers
//        (bench/scenarios/protocols.ts; Weft bootstraps in bench/envoy/)
// Usage: npm run bench -- [--quick] [--only a,b,d,...] [--proxy-cmd CMD | --no-candidate] [--weft CMD]
//          [--rounds N] [--duration S] [--rate N] [--out FILE]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine, ensureProtocolTools, ensureTools, which, type Machine } from './lib/machine.js';
import { codeBlock, commandLine, mib, table } from './lib/markdown.js';
import { renderSaturation, runSaturation, type SaturationResult } from './scenarios/saturation.js';
import { renderFixedRate, runFixedRateScenario, type FixedRateScenarioResult } from './scenarios/fixed-rate.js';
import {
  PROTOCOL_SCENARIOS,
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

// The same V8 flags the `weft` launcher (shebang) sets (see src/cli/main.ts); spelled out because this runs node directly.
const DEFAULT_WEFT = 'node --max-semi-space-size=2 --no-memory-reducer dist/src/cli/main.js';
const DEFAULT_CANDIDATE = `${DEFAULT_WEFT} proxy -c bench/peers.yaml --log-level warning`;
type Scenario = 'a' | 'b' | ProtocolScenario;
const ALL_SCENARIOS: readonly Scenario[] = ['a', 'b', 'd', 'e', 'f', 'g', 'h', 'i'];
const USAGE = `usage: npm run bench -- [options]
  --quick            one short round of everything (a smoke run, not numbers to quote)
  --only a,b,...     scenarios to run (default: all), by letter or name:
                       a  saturation, HTTP/1.1 (with c: RSS under load)    b  fixed rate (1000 rps)
                       d  h2c: HTTP/2 cleartext rps (h2load)               e  grpc: gRPC unary rps (h2load)
                       f  tls: new TLS handshakes/s (openssl s_time)       g  https: HTTPS keep-alive rps (wrk)
                       h  tcp: TCP proxy MB/s (iperf3)                     i  multicore: HTTP/1.1, 2 workers, unpinned
  --proxy-cmd CMD    candidate of a and b, run from the repo root (default: ${DEFAULT_CANDIDATE})
  --weft CMD         how d–i start Weft, before "proxy -c bench/envoy/<scenario>.yaml ..." (default: ${DEFAULT_WEFT})
  --no-candidate     measure only direct, nginx and haproxy
  --rounds N         d–i: interleaved rounds per target (default 3; --quick 1)
  --duration S       d–i: seconds per measurement (default 8; --quick 2)
  --rate N           scenario b's rate in requests per second (default 1000)
  --out FILE         where to write the report (default bench/RESULTS.md); with --only, the sections of
                     FILE that were not re-run are kept, marked with the date of the run they come from`;

interface Options {
  readonly quick: boolean;
  readonly scenarios: ReadonlySet<Scenario>;
  /** Whether --only was given (then sections not re-run are kept from the existing report). */
  readonly partial: boolean;
  readonly candidateCmd: string | undefined;
  readonly weft: string | undefined;
  readonly rounds: number | undefined;
  readonly durationS: number | undefined;
  readonly rate: number;
  readonly out: string;
  readonly argv: string[];
}

function parseOptions(argv: string[], root: string): Options {
  let quick = false;
  let only: string | undefined;
  let candidateCmd: string | undefined = DEFAULT_CANDIDATE;
  let weft: string | undefined = DEFAULT_WEFT;
  let rounds: number | undefined;
  let durationS: number | undefined;
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
        weft = undefined;
        break;
      case '--weft':
        weft = value();
        break;
      case '--rounds':
        rounds = Number(value());
        if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
        break;
      case '--duration':
        durationS = Number(value());
        if (!Number.isInteger(durationS) || durationS < 1) throw new Error('--duration must be a positive whole number of seconds');
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
  const scenarios = new Set<Scenario>(only === undefined ? ALL_SCENARIOS : []);
  const byName = new Map(Object.entries(PROTOCOL_SCENARIOS).map(([k, v]) => [v as string, k as ProtocolScenario]));
  for (const s of (only ?? '').split(',').map((x) => x.trim().toLowerCase()).filter((x) => x !== '')) {
    if (s === 'a' || s === 'c' || s === 'saturation') scenarios.add('a'); // c is measured during a
    else if (s === 'b' || s === 'fixed-rate') scenarios.add('b');
    else if (s in PROTOCOL_SCENARIOS) scenarios.add(s as ProtocolScenario);
    else if (byName.has(s)) scenarios.add(byName.get(s)!);
    else throw new Error(`--only: unknown scenario "${s}"\n${USAGE}`);
  }
  return { quick, scenarios, partial: only !== undefined, candidateCmd, weft, rounds, durationS, rate, out, argv };
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
      warmupS: opts.quick ? 0 : 1,
    };
    const results: ProtocolResult[] = [];
    const has = (s: ProtocolScenario): boolean => opts.scenarios.has(s);
    if (has('d')) results.push(...(await step('d: HTTP/2 h2c', () => runH2c(popts))));
    if (has('e')) results.push(...(await step('e: gRPC unary', () => runGrpc(popts))));
    const tls = new Set((['f', 'g'] as const).filter(has));
    if (tls.size > 0) results.push(...(await step(`${[...tls].join(', ')}: TLS`, () => runTls(popts, tls))));
    if (has('h')) results.push(...(await step('h: TCP proxy', () => runTcp(popts))));
    if (has('i')) results.push(...(await step('i: two workers', () => runMulticore(popts))));
    for (const r of results) sections.push(renderProtocol(r, popts.rounds, popts.durationS, popts.warmupS));
  }

  const invocation = commandLine(['npm', 'run', 'bench', ...(opts.argv.length > 0 ? ['--', ...opts.argv] : [])]);
  if (opts.partial && existsSync(opts.out)) sections.splice(0, sections.length, ...keepOtherSections(readFileSync(opts.out, 'utf8'), sections));
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

function protocolScenarios(opts: Options): ProtocolScenario[] {
  return (['d', 'e', 'f', 'g', 'h', 'i'] as const).filter((s) => opts.scenarios.has(s));
}

/** The Debian packages the selected protocol scenarios need (their command, the package). */
function protocolTools(scenarios: readonly ProtocolScenario[]): [string, string][] {
  const tools: [string, string][] = [];
  if (scenarios.includes('d') || scenarios.includes('e')) tools.push(['h2load', 'nghttp2-client']);
  if (scenarios.includes('f') || scenarios.includes('g')) tools.push(['openssl', 'openssl']);
  if (scenarios.includes('h')) tools.push(['iperf3', 'iperf3']);
  return tools;
}

async function step(what: string, run: () => Promise<ProtocolResult[]>): Promise<ProtocolResult[]> {
  process.stderr.write(`${what}\n`);
  return run();
}

/**
 * The sections of the report about to be written, plus those of the existing report (by their
 * "## x." letter) that this run did not redo, in letter order; a kept section says where it is from.
 */
function keepOtherSections(old: string, fresh: readonly string[]): string[] {
  const letter = (section: string): string | undefined => /^## ([a-z])\. /.exec(section)?.[1];
  const origin = /^Written by `([^`]+)` \(bench\/run\.ts\) on (\S+?)\.?(?: |$)/m.exec(old);
  const from = origin ? `\`${origin[1]}\` on ${origin[2]}` : 'an earlier run';
  const have = new Set(fresh.map(letter));
  const kept = old
    .split(/\n(?=## )/)
    .filter((sec) => {
      const l = letter(sec);
      return l !== undefined && !have.has(l);
    })
    .map((sec) => {
      const text = sec.trimEnd();
      if (text.includes('\n_Kept from ')) return text;
      const nl = text.indexOf('\n');
      return `${text.slice(0, nl)}\n\n_Kept from the report written by ${from}; not re-run by this command._${text.slice(nl)}`;
    });
  return [...fresh, ...kept].sort((x, y) => (letter(x) ?? '').localeCompare(letter(y) ?? ''));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
