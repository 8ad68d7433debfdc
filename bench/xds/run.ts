// The control-plane benchmark (`npm run bench:xds`): N simulated sidecars on ADS (SotW and delta)
// against `weft control`; time from a change until every proxy ACKed it (an endpoint change, a route
// change), control-plane memory per connected proxy, bytes pushed per change, with and without a
// Sidecar scoping egress to 2 services. Writes bench/RESULTS-xds.md.
// Usage: npm run bench:xds -- [--quick] [--n 100,1000] [--variants sotw,delta] [--services 50] [--out FILE]

import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onCleanup } from '../lib/cleanup.js';
import { describeMachine, type Machine } from '../lib/machine.js';
import { cpuSeconds } from '../lib/procfs.js';
import { codeBlock, commandLine, fmt, table } from '../lib/markdown.js';
import { ControlPlane, packageRoot } from './control.js';
import { configYaml, extraWorkload, hostname, registryYaml, sidecarYaml, virtualService } from './mesh.js';
import type { SimCommand, SimMessage } from './sim-proxies.js';
import { nowMs, type ShortType, type SimCounters, type Variant } from './sim-proxy.js';

const USAGE = `usage: npm run bench:xds -- [options]
  --quick              N=100 only (a smoke run; prints the report, writes it only with --out)
  --n 100,1000         numbers of simulated proxies (default 100,1000)
  --variants sotw,delta  ADS variants (default both)
  --services S         services in the mesh (default 50)
  --no-scoped          skip the runs with a Sidecar scoping egress to 2 services
  --out FILE           where to write the report (default bench/RESULTS-xds.md)
  --note TEXT          a paragraph for the report (e.g. which build of the control plane ran)`;

// The V8 flags the `weft` launcher sets (src/cli/main.ts shebang): the control plane runs as users run it.
const CONTROL_NODE_ARGS = ['--max-semi-space-size=2', '--no-memory-reducer'];
const SIM_PROCESSES = 2;
/** Proxies syncing at once per sim process while connecting (a rollout, not a thundering herd). */
const CONNECT_CONCURRENCY = 50;
const CHANGE_TIMEOUT_MS = 60_000;
/** The service whose endpoints and route change (inside the Sidecar's scope). */
const CHANGED_SERVICE = 0;
const SCOPE = [0, 1];

interface Options {
  readonly ns: readonly number[];
  readonly variants: readonly Variant[];
  readonly services: number;
  readonly scoped: boolean;
  readonly out: string | undefined;
  readonly note: string | undefined;
}

function parseOptions(argv: readonly string[], root: string): Options {
  let quick = false;
  let ns: number[] | undefined;
  let variants: Variant[] = ['sotw', 'delta'];
  let services = 50;
  let scoped = true;
  let out: string | undefined;
  let note: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg}: expected a value\n${USAGE}`);
      return v;
    };
    const ints = (v: string): number[] => v.split(',').map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < 2) throw new Error(`${arg}: expected integers >= 2, got ${JSON.stringify(x)}`);
      return n;
    });
    switch (arg) {
      case '--quick': quick = true; break;
      case '--n': ns = ints(value()); break;
      case '--variants':
        variants = value().split(',').map((v) => {
          if (v !== 'sotw' && v !== 'delta') throw new Error(`--variants: expected sotw or delta, got ${JSON.stringify(v)}`);
          return v;
        });
        break;
      case '--services': services = ints(value())[0]!; break;
      case '--no-scoped': scoped = false; break;
      case '--out': out = value(); break;
      case '--note': note = value(); break;
      case '-h': case '--help': console.log(USAGE); process.exit(0); break;
      default: throw new Error(`unknown option ${arg}\n${USAGE}`);
    }
  }
  return {
    ns: ns ?? (quick ? [100] : [100, 1000]),
    variants,
    services,
    scoped,
    out: out ?? (quick ? undefined : join(root, 'bench', 'RESULTS-xds.md')),
    note,
  };
}

// ───────────────────────────── simulated proxies in child processes ─────────────────────────────

/** One sim-proxies.ts child and its messages. */
class SimProcess {
  private readonly child: ChildProcess;
  private readonly waiters: { pred: (m: SimMessage) => boolean; resolve: (m: SimMessage) => void }[] = [];
  private readonly exited: Promise<void>;
  private readonly unregister: () => void;
  readonly errors: string[] = [];
  readonly warnings = new Set<string>();

  constructor(private readonly onMessage: (m: SimMessage) => void) {
    const entry = fileURLToPath(new URL('./sim-proxies.js', import.meta.url));
    this.child = fork(entry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.exited = new Promise((r) => this.child.on('exit', () => r()));
    this.unregister = onCleanup(() => this.child.kill('SIGKILL'));
    this.child.on('message', (m: SimMessage) => {
      if (m.ev === 'error') this.errors.push(m.proxy < 0 ? m.message : `sim-${m.proxy}: ${m.message}`);
      if (m.ev === 'warn') this.warnings.add(m.message);
      this.onMessage(m);
      for (const w of [...this.waiters]) {
        if (w.pred(m)) { this.waiters.splice(this.waiters.indexOf(w), 1); w.resolve(m); }
      }
    });
  }

  /** Sends a command and resolves with the first message matching `reply`. */
  request<T extends SimMessage['ev']>(cmd: SimCommand, reply: T, timeoutMs = 600_000): Promise<Extract<SimMessage, { ev: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sim process: no ${reply} within ${timeoutMs} ms (errors: ${this.errors.slice(0, 3).join('; ') || 'none'})`)), timeoutMs);
      this.waiters.push({ pred: (m) => m.ev === reply, resolve: (m) => { clearTimeout(timer); resolve(m as Extract<SimMessage, { ev: T }>); } });
      this.child.send(cmd);
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  async close(): Promise<void> {
    if (this.child.connected) {
      await this.request({ cmd: 'close' }, 'closed', 5000).catch(() => undefined);
      if (this.child.connected) this.child.disconnect();
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
    this.unregister();
  }
}

/** The first ACK of one type per proxy since the mark, collected from every sim process. */
class AckWaiter {
  private readonly acks = new Map<number, number>();
  private wake: (() => void) | undefined;
  constructor(readonly type: ShortType, readonly n: number) {}

  add(m: SimMessage): void {
    if (m.ev !== 'ack' || m.type !== this.type || this.acks.has(m.proxy)) return;
    this.acks.set(m.proxy, m.atMs);
    if (this.acks.size >= this.n) this.wake?.();
  }

  /** Resolves with every ACK time when all n proxies have ACKed, or with what came by the timeout. */
  async all(timeoutMs: number): Promise<number[]> {
    if (this.acks.size < this.n) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.wake = () => { clearTimeout(timer); resolve(); };
      });
    }
    return [...this.acks.values()];
  }
}

// ───────────────────────────── one run ─────────────────────────────

interface ChangeResult {
  readonly acked: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Time for the HTTP call that made the change. */
  readonly apiMs: number;
  /** Control-plane CPU seconds from the change until the pushes stopped. */
  readonly cpuS: number;
  /** The same for the processes hosting the simulated proxies (receiving, decoding, ACKing). */
  readonly simCpuS: number;
  readonly bytes: Record<ShortType, number>;
  readonly responses: Record<ShortType, number>;
}

interface RunResult {
  readonly n: number;
  readonly variant: Variant;
  readonly scoped: boolean;
  readonly connectS: number;
  /** The machine's 1-minute load average when the run started (other work skews every number). */
  readonly load1m: number;
  readonly rssBeforeKiB: number;
  readonly rssAfterKiB: number;
  /** Bytes of the initial configuration, summed over proxies. */
  readonly initialBytes: Record<ShortType, number>;
  readonly endpoint: ChangeResult;
  readonly route: ChangeResult;
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const sum = (r: Record<ShortType, number>): number => r.CDS + r.EDS + r.LDS + r.RDS;

function addCounters(list: readonly SimCounters[]): SimCounters {
  const bytes = { CDS: 0, EDS: 0, LDS: 0, RDS: 0 };
  const responses = { CDS: 0, EDS: 0, LDS: 0, RDS: 0 };
  for (const c of list) {
    for (const k of Object.keys(bytes) as ShortType[]) { bytes[k] += c.bytes[k]; responses[k] += c.responses[k]; }
  }
  return { bytes, responses };
}

async function runOne(n: number, variant: Variant, scoped: boolean, services: number): Promise<RunResult> {
  const label = `N=${n} ${variant}${scoped ? ' scoped' : ''}`;
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-xds-'));
  const cleanDir = onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const load1m = loadavg()[0] ?? 0;
  const registryFile = join(dir, 'registry.yaml');
  writeFileSync(registryFile, registryYaml(services));
  const control = new ControlPlane({ dataDir: join(dir, 'data'), registryFile, nodeArgs: CONTROL_NODE_ARGS });
  let waiter: AckWaiter | undefined;
  const sims: SimProcess[] = [];
  try {
    await control.start();
    await control.apply(configYaml(services) + (scoped ? `---\n${sidecarYaml(SCOPE)}` : ''));
    for (let i = 0; i < SIM_PROCESSES; i++) sims.push(new SimProcess((m) => waiter?.add(m)));
    const rssBeforeKiB = control.rssKiB();

    // Connect: counters marked first, so the stats after are the initial configuration's bytes.
    await Promise.all(sims.map((s) => s.request({ cmd: 'mark' }, 'marked')));
    const c0 = nowMs();
    const per = Math.ceil(n / SIM_PROCESSES);
    await Promise.all(sims.map((s, i) => s.request({
      cmd: 'connect', target: `127.0.0.1:${control.xdsPort}`, variant,
      first: i * per, n: Math.min(per, n - i * per), concurrency: CONNECT_CONCURRENCY,
    }, 'connected')));
    const connectS = (nowMs() - c0) / 1000;
    const initial = addCounters(await Promise.all(sims.map((s) => s.request({ cmd: 'stats' }, 'stats'))));
    const rssAfterKiB = control.rssKiB();
    process.stderr.write(`  ${label}: ${n} proxies synced in ${connectS.toFixed(1)} s, RSS ${(rssBeforeKiB / 1024).toFixed(0)} → ${(rssAfterKiB / 1024).toFixed(0)} MB\n`);

    const change = async (type: ShortType, act: () => Promise<unknown>): Promise<ChangeResult> => {
      await Promise.all(sims.map((s) => s.request({ cmd: 'mark' }, 'marked')));
      waiter = new AckWaiter(type, n);
      const cpu0 = cpuSeconds([control.pid]);
      const simCpu0 = cpuSeconds(sims.map((x) => x.pid));
      const t0 = nowMs();
      await act();
      const apiMs = nowMs() - t0;
      const times = (await waiter.all(CHANGE_TIMEOUT_MS)).map((at) => at - t0).sort((a, b) => a - b);
      waiter = undefined;
      // Whatever else the change pushes (other types, late responses) arrives around the last ACK:
      // read the counters until they stop moving for 300 ms.
      let last = -1;
      let stats = addCounters(await Promise.all(sims.map((s) => s.request({ cmd: 'stats' }, 'stats'))));
      while (sum(stats.bytes) !== last) {
        last = sum(stats.bytes);
        await new Promise((r) => setTimeout(r, 300));
        stats = addCounters(await Promise.all(sims.map((s) => s.request({ cmd: 'stats' }, 'stats'))));
      }
      return {
        acked: times.length, p50Ms: percentile(times, 50), p99Ms: percentile(times, 99), maxMs: times.at(-1) ?? NaN,
        apiMs, cpuS: cpuSeconds([control.pid]) - cpu0, simCpuS: cpuSeconds(sims.map((x) => x.pid)) - simCpu0, bytes: stats.bytes, responses: stats.responses,
      };
    };
    const endpoint = await change('EDS', () => control.register(extraWorkload(CHANGED_SERVICE, 0)));
    process.stderr.write(`  ${label}: endpoint change ACKed by ${endpoint.acked}/${n}, p99 ${endpoint.p99Ms.toFixed(0)} ms, ${sum(endpoint.bytes)} B\n`);
    const route = await change('RDS', () => control.apply(virtualService(CHANGED_SERVICE, 80)));
    process.stderr.write(`  ${label}: route change ACKed by ${route.acked}/${n}, p99 ${route.p99Ms.toFixed(0)} ms, ${sum(route.bytes)} B\n`);
    return {
      n, variant, scoped, connectS, load1m, rssBeforeKiB, rssAfterKiB, initialBytes: initial.bytes, endpoint, route,
      errors: sims.flatMap((s) => s.errors), warnings: [...new Set(sims.flatMap((s) => [...s.warnings]))],
    };
  } catch (e) {
    throw new Error(`${label}: ${(e as Error).message}\ncontrol plane output (tail):\n${control.tail()}`);
  } finally {
    await Promise.all(sims.map((s) => s.close()));
    await control.close();
    rmSync(dir, { recursive: true, force: true });
    cleanDir();
  }
}

// ───────────────────────────── report ─────────────────────────────

const ms = (v: number): string => fmt(v, 0);
const kb = (b: number): string => fmt(b / 1024, 1);

function render(results: readonly RunResult[], machine: Machine, invocation: string, services: number, note: string | undefined): string {
  const lines: string[] = [
    '# Control-plane benchmark (`weft control`, xDS)',
    '',
    `Written by \`${invocation}\` (bench/xds/run.ts) on ${machine.date}.`,
    '',
    `Machine: ${machine.cpuModel}, ${machine.nproc} CPUs, ${machine.os}, Linux ${machine.kernel}, Node ${machine.node}; ` +
      `load average at start ${machine.loadAvg1m.toFixed(2)}. The control plane and the ${SIM_PROCESSES} processes hosting the ` +
      'simulated proxies share these CPUs, so ACK times include the simulators\' own work.',
    '',
    ...(note !== undefined ? [note, ''] : []),
    '## Setup',
    '',
    `- Mesh: ${services} services (\`svc-0\`..\`svc-${services - 1}\`, port 9080 \`http\`) with 2–4 endpoints each from a registry file, ` +
      'a DestinationRule (subsets v1, v2) and a 90/10 VirtualService per service (bench/xds/mesh.ts).',
    `- N simulated sidecars (bench/xds/sim-proxy.ts) in ${SIM_PROCESSES} child processes, each on its own HTTP/2 connection, ` +
      'subscribing as Envoy does (CDS and LDS wildcard, EDS and RDS by name) and ACKing every response; ' +
      `they connect ${CONNECT_CONCURRENCY} at a time per process.`,
    `- Endpoint change: one more v1 workload of \`svc-${CHANGED_SERVICE}\` registered (\`POST /v1/registry/workloads\`). ` +
      `Route change: \`svc-${CHANGED_SERVICE}\`'s VirtualService applied at 80/20 (\`POST /v1/apply\`).`,
    '- ACK time: from just before the HTTP call to the moment each proxy wrote its first ACK of the changed type (EDS, RDS); ' +
      'clocks are `performance.timeOrigin + performance.now()` in each process. It includes the control plane\'s deliberate ' +
      'coalescing of changes (when this was written: 100 ms mesh-snapshot debounce, then 100 ms xDS push debounce).',
    '- Bytes: protobuf DiscoveryResponse / DeltaDiscoveryResponse message bytes received by all proxies (gRPC and HTTP/2 framing excluded), ' +
      'every type, until the counters stopped moving for 300 ms after the last ACK.',
    `- Scoped: a \`Sidecar\` in \`default\` with egress hosts ${SCOPE.map((i) => `\`./${hostname(i)}\``).join(', ')} only (${SCOPE.length} of ${services} services).`,
    '- RSS: VmRSS of the control-plane process before the proxies connect and after all synced. Control CPU: its user + system time ' +
      'from the change until the byte counters stopped.',
    '',
  ];
  for (const n of [...new Set(results.map((r) => r.n))]) {
    lines.push(`## N = ${n.toLocaleString('en-US')} proxies`, '');
    const rs = results.filter((r) => r.n === n);
    const name = (r: RunResult): string => `${r.variant}${r.scoped ? ', scoped' : ''}`;
    lines.push(table(
      ['variant', 'change', 'ACKed', 'p50 ms', 'p99 ms', 'max ms', 'API call ms', 'control CPU s', 'sims CPU s', 'bytes total', 'KB per proxy', 'responses'],
      rs.flatMap((r) => (['endpoint', 'route'] as const).map((k) => {
        const c = r[k];
        return [name(r), k, `${c.acked}/${r.n}`, ms(c.p50Ms), ms(c.p99Ms), ms(c.maxMs), ms(c.apiMs), fmt(c.cpuS, 2), fmt(c.simCpuS, 2),
          fmt(sum(c.bytes)), kb(sum(c.bytes) / r.n), (['CDS', 'EDS', 'LDS', 'RDS'] as const).filter((t) => c.responses[t] > 0).map((t) => `${t} ${c.responses[t]}`).join(', ') || '–'];
      })),
    ), '');
    lines.push(table(
      ['variant', 'load avg at start', 'connect + sync s', 'initial config KB per proxy', 'RSS before MB', 'RSS after MB', 'MB per proxy'],
      rs.map((r) => [name(r), fmt(r.load1m, 1), fmt(r.connectS, 1), kb(sum(r.initialBytes) / r.n), fmt(r.rssBeforeKiB / 1024, 0),
        fmt(r.rssAfterKiB / 1024, 0), fmt((r.rssAfterKiB - r.rssBeforeKiB) / 1024 / r.n, 3)]),
    ), '');
  }
  lines.push('## Targets', '', ...targets(results), '');
  const problems = results.flatMap((r) => [...r.errors.slice(0, 5), ...r.warnings].map((e) => `- N=${r.n} ${r.variant}${r.scoped ? ' scoped' : ''}: ${e}`));
  if (problems.length > 0) lines.push('## Errors and warnings seen', '', ...problems, '');
  lines.push('## Command', '', codeBlock(invocation, 'sh'), '');
  return lines.join('\n');
}

function targets(results: readonly RunResult[]): string[] {
  const out: string[] = [];
  const verdict = (ok: boolean): string => (ok ? '**met**' : '**missed**');
  const unscoped = results.filter((r) => !r.scoped);

  const big = unscoped.filter((r) => r.n >= 1000);
  out.push(`- 1,000 proxies all ACK an endpoint change within 1 s at p99: ${big.length === 0 ? 'not measured (no run with N ≥ 1,000)' : big.map((r) =>
    `${r.variant} ${verdict(r.endpoint.acked === r.n && r.endpoint.p99Ms <= 1000)} (p99 ${ms(r.endpoint.p99Ms)} ms, ${r.endpoint.acked}/${r.n} ACKed)`).join('; ')}`);

  const perProxy = (r: RunResult): number => (r.rssAfterKiB - r.rssBeforeKiB) / 1024 / r.n;
  out.push(`- ≤ 0.5 MB control-plane memory per connected proxy: ${unscoped.length === 0 ? 'not measured' : unscoped.map((r) =>
    `N=${r.n} ${r.variant} ${verdict(perProxy(r) <= 0.5)} (${fmt(perProxy(r), 3)} MB)`).join('; ')}` +
    (unscoped.some((r) => r.n < 1000) && unscoped.some((r) => r.n >= 1000)
      ? '. At small N the fixed cost of the first connections (code paths compiled, caches filled) weighs on the per-proxy figure; the largest N is the representative one.'
      : ''));

  const ratios: string[] = [];
  for (const d of unscoped.filter((x) => x.variant === 'delta')) {
    const s = unscoped.find((x) => x.variant === 'sotw' && x.n === d.n);
    if (s === undefined) continue;
    const ofPush = sum(d.endpoint.bytes) / sum(s.endpoint.bytes);
    const ofConfig = sum(d.endpoint.bytes) / sum(s.initialBytes);
    ratios.push(`N=${d.n}: delta ${fmt(sum(d.endpoint.bytes))} B is ${fmt(ofPush * 100, 2)}% of the SotW push for the same change ` +
      `(${fmt(sum(s.endpoint.bytes))} B): ${verdict(ofPush <= 0.01)}; and ${fmt(ofConfig * 100, 2)}% of a full SotW configuration ` +
      `(${fmt(sum(s.initialBytes))} B): ${verdict(ofConfig <= 0.01)}`);
  }
  out.push(`- A delta push for one changed endpoint ≤ 1% of the SotW bytes (unscoped runs): ${ratios.length === 0 ? 'not measured (needs both variants)' : ratios.join('; ')}. ` +
    'Weft\'s SotW server sends only the changed ClusterLoadAssignments on an EDS push (EDS is not a wildcard type, ' +
    'so the spec allows it and Istio does the same), so a SotW endpoint push is about as small as a delta one ' +
    '(delta adds a name and version per resource); the state-of-the-world figure the target means is the full configuration.');
  return out;
}

async function main(): Promise<number> {
  const root = packageRoot();
  let o: Options;
  try {
    o = parseOptions(process.argv.slice(2), root);
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  const machine = describeMachine();
  const invocation = commandLine(['npm', 'run', 'bench:xds', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])]);
  const results: RunResult[] = [];
  for (const n of o.ns) {
    for (const scoped of o.scoped ? [false, true] : [false]) {
      for (const variant of o.variants) {
        process.stderr.write(`bench:xds: N=${n} ${variant}${scoped ? ' scoped' : ''}\n`);
        results.push(await runOne(n, variant, scoped, o.services));
      }
    }
  }
  const report = render(results, machine, invocation, o.services, o.note);
  if (o.out !== undefined) {
    writeFileSync(o.out, report);
    process.stderr.write(`bench:xds: wrote ${relative(process.cwd(), o.out) || o.out}\n`);
  } else {
    process.stdout.write(report);
  }
  return 0;
}

main().then((code) => process.exit(code), (e: Error) => {
  console.error(`bench:xds: ${e.message}`);
  process.exit(1);
});
