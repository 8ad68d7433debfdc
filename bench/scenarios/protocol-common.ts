// What the protocol scenarios of `npm run bench` (d–k: bench/scenarios/protocols.ts and
// bench/scenarios/h2-streams.ts) share: ports and CPU pinning, the result model, one measured run
// of a load generator with the target's CPU time (/proc utime+stime of its process tree, over the
// measured window only) and peak RSS, interleaved rounds, starting the Weft candidate (one proxy or
// a chain of two sidecars), readiness probes, and the per-scenario temp-dir stack.
import type { LoadResult, LoadRun } from '../lib/loadgen.js';
import { httpGet } from '../lib/peers.js';
import { grpcFrame, h2Request, httpsGet, protoString } from '../lib/probes.js';
import { cpuSeconds, processTree, rssKiB } from '../lib/procfs.js';
import { Stack, waitFor } from '../lib/stack.js';
import type { Role } from '../lib/cost.js';

/** Scenario letters of the protocol scenarios and their names (`--only` takes either). */
export const PROTOCOL_SCENARIOS = {
  d: 'h2c',
  e: 'grpc',
  f: 'tls',
  g: 'https',
  h: 'tcp',
  i: 'multicore',
  j: 'grpc-sidecars',
  k: 'mixed',
  l: 'mtls-sidecars',
} as const;
export type ProtocolScenario = keyof typeof PROTOCOL_SCENARIOS;

/** CPUs: the proxies on PROXY_CPU, the load generator and the upstream on LOAD_CPU. */
export const PROXY_CPU = 0;
export const LOAD_CPU = 1;
/** The stack's ports (bench/lib/stack.ts STACK_PORTS); the *2 ones are the second sidecar of scenario j. */
export const PORT = {
  upstream: 18001,
  nginx: 18002,
  haproxy: 18003,
  candidate: 18004,
  upstream2: 18005,
  candidate2: 18006,
  nginx2: 18007,
  haproxy2: 18008,
} as const;
/** Where scenarios f/g put the generated certificate; bench/envoy/tls.yaml names these files. */
export const TLS_DIR = '/tmp/weft-bench-tls';
export const BODY_BYTES = 64;
export const GRPC_PATH = '/pkg.Svc/Method';
export const GRPC_REQUEST = grpcFrame(protoString('weft-bench request'));
export const GRPC_RESPONSE = grpcFrame(protoString('weft-bench response'));

export interface ProtocolOptions {
  readonly cwd: string;
  readonly nginx: string;
  readonly haproxy: string;
  /** Command that starts Weft without its `proxy` arguments, e.g. `node dist/src/cli/main.js`. */
  readonly weft: string | undefined;
  /** Why there is no candidate at all (--no-candidate, not built). */
  readonly candidateSkipped: string | undefined;
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
}

export interface Target {
  readonly role: Role;
  /** What the row is, e.g. "nginx grpc_pass". */
  readonly label: string;
  readonly port: number;
  readonly roots: () => number[];
}

export interface Row {
  readonly target: Target;
  readonly results: LoadResult[];
  /** Share of one core used by the target's process tree during each run (1 = one full core). */
  readonly cpu: number[];
  /** Peak RSS of the target's process tree during each run, KiB. */
  readonly rssKiB: number[];
}

export interface ProtocolResult {
  readonly id: ProtocolScenario;
  readonly title: string;
  /** Short name for the summary table, e.g. "h2c → HTTP/1.1". */
  readonly short: string;
  /** What one unit of `metric` is, for CPU per unit: "req", "handshake", "MB". */
  readonly unit: string;
  readonly intro: string;
  readonly metric: string;
  readonly decimals: number;
  readonly latency: 'percentiles' | 'mean' | 'none';
  /** Whether the proxies are pinned to one core (all but scenario i). */
  readonly pinned: boolean;
  /** Whether a target is a chain of two proxies (scenario j): CPU and RSS are then both hops together. */
  readonly chain?: boolean;
  readonly rows: Row[];
  /** The candidate row that could not be measured, and why. */
  readonly candidateError: string | undefined;
  readonly goal: Goal | undefined;
  readonly notes: string[];
  readonly setup: string[];
  readonly load: { readonly label: string; readonly commands: string[] }[];
  readonly configs: Record<string, string>;
  readonly candidateCmd: string | undefined;
}

/** Per role: the median value, and the value per second of the target's own CPU. */
export type ByRole = (role: Role, per?: 'cpu') => number | undefined;

export interface Goal {
  readonly text: string;
  readonly check: (by: ByRole) => boolean | undefined;
}

/** CPU seconds per process of the target's tree now (processes that appear later count from zero). */
function cpuSnapshot(target: Target): Map<number, number> {
  return new Map(processTree(target.roots()).map((p) => [p, cpuSeconds([p])]));
}

/**
 * One measured run: the target's CPU use in cores over the tool's measured window (from
 * `run.measureFromS` after the start, e.g. after h2load's own warm-up, to the tool's exit) and the
 * peak RSS of its process tree over the whole run.
 */
export async function measureOnce(target: Target, run: LoadRun): Promise<{ result: LoadResult; cpu: number; rssKiB: number }> {
  let before = cpuSnapshot(target);
  let t0 = process.hrtime.bigint();
  const delayMs = (run.measureFromS ?? 0) * 1000;
  const startWindow = delayMs > 0
    ? setTimeout(() => {
        before = cpuSnapshot(target);
        t0 = process.hrtime.bigint();
      }, delayMs)
    : undefined;
  let rss = 0;
  const sample = (): void => void (rss = Math.max(rss, rssKiB(processTree(target.roots()))));
  const timer = setInterval(sample, 250);
  const result = await run.exec();
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  clearTimeout(startWindow);
  clearInterval(timer);
  sample();
  let used = 0;
  for (const p of processTree(target.roots())) used += cpuSeconds([p]) - (before.get(p) ?? 0);
  return { result, cpu: used / wallS, rssKiB: rss };
}

/** Rounds × targets, interleaved (round 1: every target, round 2: every target, ...). */
export async function rounds(
  id: string,
  targets: Target[],
  n: number,
  load: (t: Target) => LoadRun,
): Promise<Row[]> {
  const rows = targets.map((target) => ({ target, results: [] as LoadResult[], cpu: [] as number[], rssKiB: [] as number[] }));
  for (let r = 1; r <= n; r++) {
    for (const row of rows) {
      process.stderr.write(`  ${id}: round ${r}/${n}, ${row.target.label}\n`);
      const run = load(row.target);
      await run.warmup?.();
      const { result, cpu, rssKiB } = await measureOnce(row.target, run);
      if (result.error) process.stderr.write(`    ${result.error}\n`);
      row.results.push(result);
      row.cpu.push(cpu);
      row.rssKiB.push(rssKiB);
    }
  }
  return rows;
}

export function candidateCommand(o: ProtocolOptions, config: string, extra = ''): string | undefined {
  return o.weft ? `${o.weft} proxy -c ${config} --log-level warning${extra}` : undefined;
}

/** One Weft process of the candidate: its command and the port that says it is ready. */
export interface Hop {
  readonly cmd: string;
  readonly port: number;
}

/** Starts the candidate (if any) and adds it to the targets, or returns why it is absent. */
export async function addCandidate(
  stack: Stack,
  o: ProtocolOptions,
  cmd: string | undefined,
  cpu: number | undefined,
  targets: Target[],
  label: string,
  ready: (port: number) => Promise<void>,
): Promise<string | undefined> {
  return addCandidateChain(stack, o, cmd === undefined ? undefined : [{ cmd, port: PORT.candidate }], cpu, targets, label, ready);
}

/**
 * Starts the candidate's processes in order (a chain is started from the upstream side, so each
 * hop can be probed end to end) and adds one target for all of them: the last hop's port, CPU and
 * RSS summed over every hop's process tree. Returns why the candidate is absent, if it is.
 */
export async function addCandidateChain(
  stack: Stack,
  o: ProtocolOptions,
  hops: readonly Hop[] | undefined,
  cpu: number | undefined,
  targets: Target[],
  label: string,
  ready: (port: number) => Promise<void>,
): Promise<string | undefined> {
  if (!hops || hops.length === 0) return o.candidateSkipped ?? 'candidate not available: no candidate command';
  const roots: (() => number[])[] = [];
  for (const [i, hop] of hops.entries()) {
    const name = hops.length === 1 ? 'candidate' : `candidate${i + 1}`;
    const started = await stack.candidate(hop.cmd, { cpu }, o.cwd, () => ready(hop.port), name);
    if ('error' in started) return hops.length === 1 ? started.error : `${started.error} (hop ${i + 1}: ${hop.cmd})`;
    roots.push(started.roots);
  }
  targets.push({ role: 'candidate', label, port: hops[hops.length - 1]!.port, roots: () => roots.flatMap((r) => r()) });
  return undefined;
}

/** Checks each peer once before measuring; a peer that fails is an error of the whole scenario. */
export async function ready(targets: Target[], probe: (port: number) => Promise<void>): Promise<void> {
  for (const t of targets) await waitFor(`${t.label} on 127.0.0.1:${t.port}`, () => probe(t.port));
}

export const h2cGetProbe = async (port: number): Promise<void> => {
  const r = await h2Request(port, { path: '/' });
  if (r.status !== 200 || r.body.length !== BODY_BYTES) throw new Error(`h2c GET: status ${r.status}, ${r.body.length} bytes`);
};

export const grpcProbe = async (port: number): Promise<void> => {
  const r = await h2Request(port, {
    method: 'POST',
    path: GRPC_PATH,
    headers: { 'content-type': 'application/grpc', te: 'trailers' },
    body: GRPC_REQUEST,
  });
  const status = r.trailers['grpc-status'] ?? r.headers['grpc-status'];
  if (r.status !== 200 || status !== '0' || !r.body.equals(GRPC_RESPONSE)) {
    throw new Error(`gRPC call: :status ${r.status}, grpc-status ${status ?? 'none'}, ${r.body.length} bytes`);
  }
};

export const httpsProbe = async (port: number): Promise<void> => {
  const r = await httpsGet(port);
  if (r.status !== 200 || r.body.length !== BODY_BYTES) throw new Error(`HTTPS GET: status ${r.status}, ${r.body.length} bytes`);
};

export const http1Probe = async (port: number): Promise<void> => {
  const r = await httpGet(port);
  if (r.status !== 200 || r.body.length !== BODY_BYTES) throw new Error(`GET: status ${r.status}, ${r.body.length} bytes`);
};

export function nginxServer(dir: string, name: string, workers: number | 'auto', http: string): string {
  return `worker_processes ${workers}; daemon on; pid ${dir}/${name}.pid; error_log ${dir}/${name}.err;
events { worker_connections 8192; }
http { access_log off; default_type text/plain;
${http}
}
`;
}

/**
 * The gRPC upstream of scenarios e and j on CPU LOAD_CPU, 127.0.0.1:PORT.upstream2: an nginx h2c
 * server answering every call with GRPC_RESPONSE and a `grpc-status: 0` trailer (a static file;
 * `error_page 405 =200` lets it answer POST). Also writes the request body file h2load sends.
 */
export function grpcUpstream(stack: Stack, o: ProtocolOptions): { up: () => number[]; reqFile: string } {
  const d = stack.dir;
  stack.write('grpc-response', GRPC_RESPONSE, false);
  const reqFile = stack.write('grpc-request', GRPC_REQUEST, false);
  const up = stack.nginx(
    o.nginx,
    'grpcup',
    nginxServer(d, 'grpcup', 1, `  server { listen 127.0.0.1:${PORT.upstream2} http2; keepalive_requests 10000000; etag off;
    location / { root ${d}; default_type application/grpc; try_files /grpc-response =404;
      error_page 405 =200 $uri; add_trailer grpc-status 0; } }`),
    { cpu: LOAD_CPU },
  );
  return { up, reqFile };
}

/** Runs one scenario with its own stack; a failure to set the peers up becomes a note, not a crash. */
export async function withStack(
  fallback: Omit<ProtocolResult, 'rows' | 'candidateError' | 'notes' | 'setup' | 'load' | 'configs'>,
  body: (stack: Stack) => Promise<ProtocolResult[]>,
): Promise<ProtocolResult[]> {
  let stack: Stack | undefined;
  try {
    stack = await Stack.create();
    const dir = stack.dir;
    return (await body(stack)).map((r) => withTempDirAsVar(r, dir));
  } catch (err) {
    const failed: ProtocolResult = {
      ...fallback,
      rows: [],
      candidateError: undefined,
      notes: [`Not measured: ${(err as Error).message}`],
      setup: stack?.commands() ?? [],
      load: [],
      configs: stack?.configs() ?? {},
    };
    return [withTempDirAsVar(failed, stack?.dir)];
  } finally {
    await stack?.close();
  }
}

/** The load commands per target, for the report. */
export function loads(targets: Target[], load: (t: Target) => LoadRun): { label: string; commands: string[] }[] {
  return targets.map((t) => ({ label: t.label, commands: load(t).commands }));
}

/** Replaces the temp dir in commands and configs with `$D`, so the report reads the same every run. */
function withTempDirAsVar(r: ProtocolResult, dir: string | undefined): ProtocolResult {
  if (!dir) return r;
  const sub = (s: string): string => s.split(dir).join('$D');
  return {
    ...r,
    setup: r.setup.map(sub),
    load: r.load.map((l) => ({ label: l.label, commands: l.commands.map(sub) })),
    configs: Object.fromEntries(Object.entries(r.configs).map(([k, v]) => [k, sub(v)])),
  };
}

