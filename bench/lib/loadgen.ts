// The load generators of the protocol scenarios, each run to completion and its output parsed into
// one headline number: h2load (HTTP/2 h2c and gRPC, req/s), wrk (HTTP/1.1 and HTTPS, req/s and
// latency percentiles), openssl s_time -new in parallel (full TLS handshakes per second) and
// iperf3 (TCP bulk throughput, MB/s).
import { spawn } from 'node:child_process';
import { onCleanup } from './cleanup.js';
import { commandLine } from './markdown.js';

export interface LoadResult {
  /** The headline number (req/s, handshakes/s, MB/s), undefined when the run failed. */
  readonly value: number | undefined;
  readonly p50Ms?: number | undefined;
  readonly p99Ms?: number | undefined;
  readonly meanMs?: number | undefined;
  /** Failed requests, non-2xx responses, socket errors. */
  readonly errors: number;
  /** Why there is no value (the tool's own error, unparseable output). */
  readonly error?: string | undefined;
  /** What the errors were, as the tool reported them. */
  readonly errorDetail?: string | undefined;
}

export interface LoadRun {
  /** The shell commands that make up the run (several for parallel clients), for the report. */
  readonly commands: string[];
  readonly exec: () => Promise<LoadResult>;
  /** An unmeasured run of the same load before exec (for tools without a warm-up option of their own). */
  readonly warmup?: (() => Promise<void>) | undefined;
  /**
   * Seconds after exec starts at which the tool's measured window begins (its own warm-up: h2load
   * --warm-up-time, iperf3 -O); the target's CPU time is counted from there.
   */
  readonly measureFromS?: number | undefined;
}

interface ToolOutput {
  readonly code: number | null;
  readonly out: string;
}

/** Runs one command to completion (killed after timeoutMs), stdout and stderr together. */
export function runTool(argv: readonly string[], timeoutMs: number): Promise<ToolOutput> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const unregister = onCleanup(() => void child.kill('SIGTERM'));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => (out += `\n${err.message}`));
    child.on('close', (code) => {
      clearTimeout(timer);
      unregister();
      resolve({ code, out });
    });
  });
}

function pin(cpu: number | undefined, argv: string[]): string[] {
  return cpu === undefined ? argv : ['taskset', '-c', String(cpu), ...argv];
}

/** "12.3us", "4.5ms", "1.2s" → milliseconds. */
export function toMs(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : n * 1000;
}

function lastLines(out: string, n = 3): string {
  return out.trim().split('\n').slice(-n).join(' / ').slice(0, 300) || '(no output)';
}

export interface H2loadOptions {
  /** One URL, or several on the same host:port, which each client requests in turn (a mix). */
  readonly url: string | readonly string[];
  readonly clients: number;
  readonly streams: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly cpu: number | undefined;
  /** Request body file (makes it a POST), and extra headers. */
  readonly dataFile?: string;
  readonly headers?: readonly string[];
}

/** h2load over h2c (prior knowledge, as h2load does for http:// URLs) for a fixed duration. */
export function h2load(o: H2loadOptions): LoadRun {
  const argv = pin(o.cpu, [
    'h2load',
    '-c', String(o.clients),
    '-m', String(o.streams),
    '-t', '1',
    '-D', String(o.durationS),
    ...(o.warmupS > 0 ? [`--warm-up-time=${o.warmupS}`] : []),
    ...(o.dataFile ? ['-d', o.dataFile] : []),
    ...(o.headers ?? []).flatMap((h) => ['-H', h]),
    ...(typeof o.url === 'string' ? [o.url] : o.url),
  ]);
  return {
    commands: [commandLine(argv)],
    exec: async () => parseH2load(await runTool(argv, (o.durationS + o.warmupS + 30) * 1000)),
    measureFromS: o.warmupS,
  };
}

export function parseH2load({ code, out }: ToolOutput): LoadResult {
  const rps = /finished in [\d.]+s, ([\d.]+) req\/s/.exec(out);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const time = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
  if (code !== 0 || !rps || !req) return { value: undefined, errors: 0, error: `h2load exited with ${code}: ${lastLines(out)}` };
  // h2load's "failed" already holds the errored and timed-out requests and the 4xx/5xx responses
  // (it counts 3xx as succeeded, which a proxy benchmark must not).
  const errors = Number(req[5]) + (codes ? Number(codes[2]) : 0);
  if (Number(codes?.[1] ?? 0) === 0) return { value: undefined, errors, error: `h2load: no 2xx responses: ${lastLines(out)}` };
  const errorDetail = errors > 0 ? `${req[0]}; ${codes?.[0] ?? ''}` : undefined;
  return { value: Number(rps[1]), meanMs: toMs(time?.[3]), errors, errorDetail };
}

export interface WrkOptions {
  readonly url: string;
  readonly connections: number;
  readonly durationS: number;
  /** Seconds of unmeasured load before each measured run (0: none). */
  readonly warmupS: number;
  readonly cpu: number | undefined;
  readonly headers?: readonly string[];
}

/** wrk, one thread, with its latency distribution. */
export function wrk(o: WrkOptions): LoadRun {
  const argv = pin(o.cpu, [
    'wrk',
    '-t1',
    `-c${o.connections}`,
    `-d${o.durationS}s`,
    '--latency',
    ...(o.headers ?? []).flatMap((h) => ['-H', h]),
    o.url,
  ]);
  const warm = argv.map((a) => (a === `-d${o.durationS}s` ? `-d${o.warmupS}s` : a));
  return {
    commands: [...(o.warmupS > 0 ? [`${commandLine(warm)}  # warm-up, not measured`] : []), commandLine(argv)],
    exec: async () => parseWrk(await runTool(argv, (o.durationS + 30) * 1000)),
    warmup: o.warmupS > 0 ? async () => void (await runTool(warm, (o.warmupS + 30) * 1000)) : undefined,
  };
}

export function parseWrk({ code, out }: ToolOutput): LoadResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (code !== 0 || !rps) return { value: undefined, errors: 0, error: `wrk exited with ${code}: ${lastLines(out)}` };
  const pct = (p: string): number | undefined => toMs(new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out)?.[1]);
  let errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (sock) errors += Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]);
  const errorDetail = errors > 0 ? out.split('\n').filter((l) => /Non-2xx|Socket errors/.test(l)).map((l) => l.trim()).join('; ') : undefined;
  return { value: Number(rps[1]), p50Ms: pct('50'), p99Ms: pct('99'), errors, errorDetail };
}

export interface STimeOptions {
  readonly port: number;
  /** Parallel s_time processes (each is serial: connect, full handshake, GET /, close). */
  readonly clients: number;
  readonly durationS: number;
  /** Seconds of unmeasured load before each measured run (0: none). */
  readonly warmupS: number;
  readonly cpu: number | undefined;
}

/**
 * Full TLS handshakes per second: `openssl s_time -new` never offers a session, so every
 * connection is a full handshake whatever the server allows; each connection also sends
 * `GET / HTTP/1.0` and reads the proxied response to the end.
 */
export function sTime(o: STimeOptions): LoadRun {
  const argv = pin(o.cpu, [
    'openssl', 's_time', '-connect', `127.0.0.1:${o.port}`, '-new', '-time', String(o.durationS), '-www', '/',
  ]);
  const warm = argv.map((a, i) => (argv[i - 1] === '-time' ? String(o.warmupS) : a));
  const parallel = (cmd: string[]): string => `for i in $(seq ${o.clients}); do ${commandLine(cmd)} & done; wait`;
  return {
    commands: [...(o.warmupS > 0 ? [`${parallel(warm)}  # warm-up, not measured`] : []), parallel(argv)],
    warmup:
      o.warmupS > 0
        ? async () => void (await Promise.all(Array.from({ length: o.clients }, () => runTool(warm, (o.warmupS + 30) * 1000))))
        : undefined,
    exec: async () => {
      const outs = await Promise.all(Array.from({ length: o.clients }, () => runTool(argv, (o.durationS + 30) * 1000)));
      let conns = 0;
      let failed = 0;
      let bytes = 0;
      for (const { out } of outs) {
        const m = /(\d+) connections in (\d+) real seconds, (\d+) bytes read per connection/.exec(out);
        if (!m) {
          failed++;
          continue;
        }
        conns += Number(m[1]);
        bytes = Math.max(bytes, Number(m[3]));
      }
      if (failed === o.clients || conns === 0) {
        return { value: undefined, errors: failed, error: `openssl s_time: ${lastLines(outs[0]?.out ?? '')}` };
      }
      if (bytes === 0) return { value: undefined, errors: failed, error: 'openssl s_time read no response bytes' };
      return { value: conns / o.durationS, errors: failed };
    },
  };
}

export interface Iperf3Options {
  readonly port: number;
  readonly durationS: number;
  readonly omitS: number;
  readonly streams: number;
  readonly cpu: number | undefined;
}

/** iperf3 client (the server is the upstream), throughput received by the server in MB/s. */
export function iperf3(o: Iperf3Options): LoadRun {
  const argv = pin(o.cpu, [
    'iperf3', '-c', '127.0.0.1', '-p', String(o.port), '-t', String(o.durationS),
    ...(o.omitS > 0 ? ['-O', String(o.omitS)] : []),
    '-P', String(o.streams), '-J',
  ]);
  return {
    commands: [commandLine(argv)],
    exec: async () => parseIperf3(await runTool(argv, (o.durationS + o.omitS + 30) * 1000)),
    measureFromS: o.omitS,
  };
}

export function parseIperf3({ code, out }: ToolOutput): LoadResult {
  let json: { error?: string; end?: { sum_received?: { bits_per_second?: number } } };
  try {
    json = JSON.parse(out.slice(out.indexOf('{'))) as typeof json;
  } catch {
    return { value: undefined, errors: 0, error: `iperf3 exited with ${code}: ${lastLines(out)}` };
  }
  const bps = json.end?.sum_received?.bits_per_second;
  if (json.error || bps === undefined) return { value: undefined, errors: 0, error: `iperf3: ${json.error ?? 'no result'}` };
  return { value: bps / 8 / 1e6, errors: 0 };
}

/** A short iperf3 transfer (1 MB): passes when bytes flow end to end through the port. */
export async function iperf3Probe(port: number): Promise<void> {
  const r = parseIperf3(await runTool(['iperf3', '-c', '127.0.0.1', '-p', String(port), '-n', '1M', '-J', '--connect-timeout', '2000'], 10_000));
  if (r.value === undefined) throw new Error(r.error ?? 'iperf3 probe failed');
}
