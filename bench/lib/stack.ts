// The processes of one protocol scenario (bench/scenarios/protocols.ts): daemons started from
// generated configs in a temp dir (nginx, HAProxy), plain background processes (iperf3 -s), and the
// Weft candidate, each pinned to a CPU with taskset or left unpinned; every process is stopped and
// the temp dir removed on close, on exit and on SIGINT (bench/lib/cleanup.ts). The stack also keeps
// the exact commands and config texts it used, for bench/RESULTS.md.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';
import { commandLine } from './markdown.js';
import { processTree } from './procfs.js';

/**
 * Every port a scenario may use: upstream, nginx, HAProxy, candidate, second upstream, and the
 * second sidecars of the two-hop scenario (candidate, nginx, HAProxy).
 */
export const STACK_PORTS = [18001, 18002, 18003, 18004, 18005, 18006, 18007, 18008] as const;

export function portOpen(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until no port of the stack accepts connections (another benchmark, a stray daemon). */
export async function waitForStackPorts(timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    const busy: number[] = [];
    for (const port of STACK_PORTS) if (await portOpen(port)) busy.push(port);
    if (busy.length === 0) return;
    if (Date.now() > deadline) throw new Error(`ports ${busy.join(', ')} are still in use after ${timeoutMs / 1000} s`);
    if (!told) process.stderr.write(`  waiting for ports ${busy.join(', ')} (another benchmark running?)\n`);
    told = true;
    await sleep(500);
  }
}

/** Retries a probe until it resolves, or throws its last error after timeoutMs. */
export async function waitFor(what: string, probe: () => Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      await probe();
      return;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`${what} not ready within ${timeoutMs} ms: ${last instanceof Error ? last.message : String(last)}`);
}

/**
 * The line that says why a proxy refused to run: the first listed error of a rejected config
 * ("FILE: 2 errors:" then indented lines), else the first line that looks like an error, else the
 * first non-empty line.
 */
export function firstErrorLine(output: string): string {
  const lines = output.split('\n').map((l) => l.trimEnd());
  const header = lines.findIndex((l) => /: \d+ errors?:$/.test(l));
  if (header >= 0 && lines[header + 1]?.trim()) return lines[header + 1]!.trim();
  const err = lines.find((l) => /error|unknown|unsupported|not implemented|cannot|failed|EADDRINUSE|ENOENT/i.test(l));
  return (err ?? lines.find((l) => l.trim() !== '') ?? '(no output)').trim();
}

export interface Pinning {
  /** CPU to pin with taskset, or undefined to leave the process unpinned. */
  readonly cpu: number | undefined;
}

function pinned(cpu: number | undefined, argv: readonly string[]): string[] {
  return cpu === undefined ? [...argv] : ['taskset', '-c', String(cpu), ...argv];
}

interface Daemon {
  readonly name: string;
  readonly pidFile?: string;
  readonly child?: ChildProcess;
}

/** A running stack; close() stops everything it started. */
export class Stack {
  readonly dir: string;
  private readonly daemons: Daemon[] = [];
  private readonly cmds: string[] = [];
  private readonly files = new Map<string, string>();
  private readonly candidateChildren: ChildProcess[] = [];
  private closed = false;
  private readonly unregister: () => void;

  private constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'weft-bench.'));
    chmodSync(this.dir, 0o755); // nginx workers run as www-data and must read the files here
    this.unregister = onCleanup(() => this.closeSync());
  }

  static async create(): Promise<Stack> {
    await waitForStackPorts();
    return new Stack();
  }

  /** Commands as run (from the repo root), in order, with the temp dir spelled out. */
  commands(): string[] {
    return [...this.cmds];
  }

  /** Generated config files, by name (their text as written). */
  configs(): Record<string, string> {
    return Object.fromEntries(this.files);
  }

  /** Records a command that the report should show (e.g. cert generation). */
  note(command: string): void {
    this.cmds.push(command);
  }

  /** Writes a file into the temp dir; `config` files are shown in the report. */
  write(name: string, data: string | Buffer, config = true): string {
    const path = join(this.dir, name);
    writeFileSync(path, data);
    if (config && typeof data === 'string') this.files.set(name, data);
    return path;
  }

  /** Starts nginx (daemon on) from config text; the config must write its pid to `${dir}/${name}.pid`. */
  nginx(nginxBin: string, name: string, conf: string, pin: Pinning): () => number[] {
    const file = this.write(`${name}.conf`, conf);
    const argv = pinned(pin.cpu, [nginxBin, '-c', file]);
    this.cmds.push(commandLine(argv));
    this.daemons.push({ name, pidFile: join(this.dir, `${name}.pid`) });
    execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    return this.pidOf(`${name}.pid`);
  }

  /** Starts HAProxy (daemon mode) from config text; the config must write `${dir}/${name}.pid`. */
  haproxy(haproxyBin: string, name: string, cfg: string, pin: Pinning): () => number[] {
    const file = this.write(`${name}.cfg`, cfg);
    const argv = pinned(pin.cpu, [haproxyBin, '-f', file]);
    this.cmds.push(commandLine(argv));
    this.daemons.push({ name, pidFile: join(this.dir, `${name}.pid`) });
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`haproxy ${name} did not start: ${firstErrorLine(`${r.stderr}${r.stdout}`)}`);
    return this.pidOf(`${name}.pid`);
  }

  /** Starts a foreground process in the background (its own process group), output to ${name}.log. */
  process(name: string, argv: readonly string[], pin: Pinning, cwd?: string): () => number[] {
    const full = pinned(pin.cpu, argv);
    this.cmds.push(`${commandLine(full)} &`);
    const log = openSync(join(this.dir, `${name}.log`), 'w');
    const child = spawn(full[0]!, full.slice(1), { cwd, stdio: ['ignore', log, log], detached: true });
    closeSync(log);
    this.daemons.push({ name, child });
    return () => (child.exitCode === null && child.signalCode === null && child.pid ? [child.pid] : []);
  }

  /**
   * Starts the Weft candidate: first `CMD --validate` (a rejected config means the feature is not
   * there yet), then CMD itself, then `ready` until it passes. Resolves with the roots of its
   * process tree, or with an error string "candidate not available: <first error line>". Several
   * candidates may run at once (a chain of sidecars), each with its own `name` (log file).
   */
  async candidate(
    shellCmd: string,
    pin: Pinning,
    cwd: string,
    ready: () => Promise<void>,
    name = 'candidate',
  ): Promise<{ roots: () => number[] } | { error: string }> {
    const validate = spawnSync('bash', ['-c', `exec ${shellCmd} --validate`], { cwd, encoding: 'utf8', timeout: 60_000 });
    if (validate.status !== 0) {
      return { error: `candidate not available: ${firstErrorLine(`${validate.stderr ?? ''}\n${validate.stdout ?? ''}`)}` };
    }
    const argv = pinned(pin.cpu, ['bash', '-c', `exec ${shellCmd}`]);
    this.cmds.push(`${commandLine(argv)} &`);
    const logFile = join(this.dir, `${name}.log`);
    const log = openSync(logFile, 'w');
    const child = spawn(argv[0]!, argv.slice(1), { cwd, stdio: ['ignore', log, log], detached: true });
    closeSync(log);
    this.candidateChildren.push(child);
    const exited = new Promise<string>((resolve) => child.once('exit', (code, sig) => resolve(`exited (${sig ?? code})`)));
    try {
      const outcome = await Promise.race([waitFor('candidate', ready, 15_000).then(() => 'up'), exited]);
      if (outcome !== 'up') throw new Error(outcome);
    } catch (err) {
      let text = '';
      try {
        text = readFileSync(logFile, 'utf8');
      } catch {
        // no log
      }
      this.stopCandidate(child);
      const why = text.trim() ? firstErrorLine(text) : (err as Error).message;
      return { error: `candidate not available: ${why}` };
    }
    const pid = child.pid!;
    return { roots: () => [pid] };
  }

  private pidOf(file: string): () => number[] {
    return () => {
      try {
        const n = Number(readFileSync(join(this.dir, file), 'utf8').trim());
        return Number.isInteger(n) && n > 0 ? [n] : [];
      } catch {
        return [];
      }
    };
  }

  private stopCandidate(c: ChildProcess): void {
    if (!c.pid || c.exitCode !== null || c.signalCode !== null) return;
    try {
      process.kill(-c.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }

  /** Stops everything and waits until the ports are free. */
  async close(): Promise<void> {
    this.closeSync();
    const deadline = Date.now() + 10_000;
    for (const port of STACK_PORTS) while ((await portOpen(port)) && Date.now() < deadline) await sleep(100);
  }

  /** Synchronous stop, usable from an 'exit' handler: SIGTERM to every process, then rm -r. */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    this.unregister();
    for (const c of this.candidateChildren) this.stopCandidate(c);
    for (const d of this.daemons) {
      if (d.child?.pid && d.child.exitCode === null && d.child.signalCode === null) {
        try {
          process.kill(-d.child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      if (d.pidFile) {
        let pid: number | undefined;
        try {
          pid = Number(readFileSync(d.pidFile, 'utf8').trim()) || undefined;
        } catch {
          pid = undefined;
        }
        if (pid) {
          for (const p of processTree([pid])) {
            try {
              process.kill(p, 'SIGTERM');
            } catch {
              // already gone
            }
          }
        }
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
