// The machine a benchmark ran on (CPU, kernel, tool versions) and the one install step the
// benchmarks need: nginx-light, haproxy, wrk and curl from Debian packages when any is missing.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';

export interface Machine {
  readonly date: string;
  readonly nproc: number;
  readonly cpuModel: string;
  readonly kernel: string;
  readonly os: string;
  readonly node: string;
  readonly nginx: string;
  readonly haproxy: string;
  readonly wrk: string;
  readonly h2load: string;
  readonly openssl: string;
  readonly iperf3: string;
  /** 1-minute load average when the run started: other work on the machine skews every number. */
  readonly loadAvg1m: number;
}

/** Path of an executable on PATH (or in /usr/sbin, where Debian puts nginx and haproxy). */
export function which(cmd: string): string | undefined {
  const r = spawnSync('bash', ['-c', `PATH="$PATH:/usr/sbin:/sbin" command -v ${cmd}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return r.status === 0 && path !== '' ? path : undefined;
}

/** Output (stdout + stderr) of a version command, first line only. */
function versionOf(cmd: string | undefined, args: string[]): string {
  if (!cmd) return 'not installed';
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? 'unknown';
}

/** Installs the peers and load tools with apt-get when missing; returns what it did. */
export function ensureTools(): string {
  const missing = ['nginx', 'haproxy', 'wrk', 'curl', 'taskset'].filter((c) => !which(c));
  if (missing.length === 0) return 'nginx, haproxy, wrk, curl, taskset already installed';
  if (process.getuid?.() !== 0) {
    throw new Error(`missing ${missing.join(', ')}; run as root or: apt-get install -y nginx-light haproxy wrk curl`);
  }
  process.stderr.write(`installing nginx-light haproxy wrk curl (missing: ${missing.join(', ')})...\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', 'nginx-light', 'haproxy', 'wrk', 'curl', 'util-linux'], {
    stdio: 'inherit',
    env,
  });
  return `installed with apt-get: nginx-light haproxy wrk curl (were missing: ${missing.join(', ')})`;
}

/**
 * Installs the load generators of the protocol scenarios (bench/scenarios/protocols.ts) with
 * apt-get when missing: [command, Debian package] pairs. Returns what it did ('' when nothing).
 */
export function ensureProtocolTools(tools: readonly [string, string][]): string {
  const missing = tools.filter(([cmd]) => !which(cmd));
  if (missing.length === 0) return '';
  const pkgs = [...new Set(missing.map(([, pkg]) => pkg))];
  if (process.getuid?.() !== 0) throw new Error(`missing ${missing.map(([c]) => c).join(', ')}; run as root or: apt-get install -y ${pkgs.join(' ')}`);
  process.stderr.write(`installing ${pkgs.join(' ')}...\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env });
  return `installed with apt-get: ${pkgs.join(' ')}`;
}

export function describeMachine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown';
  let os = 'unknown';
  try {
    os = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch {
    // not Linux-standard
  }
  return {
    date: new Date().toISOString(),
    nproc: availableParallelism(),
    cpuModel: model.trim(),
    kernel: release(),
    os,
    node: process.version,
    nginx: versionOf(which('nginx'), ['-v']),
    haproxy: versionOf(which('haproxy'), ['-v']),
    wrk: versionOf(which('wrk'), ['-v']),
    h2load: versionOf(which('h2load'), ['--version']),
    openssl: versionOf(which('openssl'), ['version']),
    iperf3: versionOf(which('iperf3'), ['--version']),
    loadAvg1m: loadavg()[0] ?? 0,
  };
}
