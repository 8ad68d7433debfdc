// Runs `weft` as a child process (the compiled CLI) and waits for lines it logs.

import { spawn, type ChildProcess } from 'node:child_process';
import { fromRoot } from './paths.js';

export interface WeftProcess {
  child: ChildProcess;
  /** Everything written to stderr and stdout so far. */
  output(): string;
  /** Resolves with the first match of `re` in the output (waiting for it to appear, up to `timeoutMs`, default 30 s). */
  waitFor(re: RegExp, fromIndex?: number, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

export const CLI = fromRoot('dist', 'src', 'cli', 'main.js');

export function startWeft(args: string[]): WeftProcess {
  return watch(spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Reads a child's output and exit for the WeftProcess contract. */
function watch(child: ChildProcess): WeftProcess {
  let out = '';
  const waiters: Array<() => void> = [];
  const onData = (d: Buffer) => { out += d.toString(); for (const w of waiters.splice(0)) w(); };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  let done = false;
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => { done = true; for (const w of waiters.splice(0)) w(); r(code); }));
  return {
    child,
    output: () => out,
    exited,
    kill: (sig = 'SIGTERM') => { if (!done) child.kill(sig); },
    waitFor(re, fromIndex = 0, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${re} within ${timeoutMs} ms; output:\n${out}`)), timeoutMs);
        const check = () => {
          const m = out.slice(fromIndex).match(re);
          if (m) { clearTimeout(timer); return resolve(m); }
          if (done) { clearTimeout(timer); return reject(new Error(`process exited before ${re}; output:\n${out}`)); }
          waiters.push(check);
        };
        check();
      });
    },
  };
}

/** Runs weft to completion; returns exit code and output. */
export async function runWeft(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  return { code, stdout, stderr };
}

/**
 * Like startWeft, but the process runs with at most `fdLimit` open file descriptors (soft and
 * hard RLIMIT_NOFILE, set by the shell's `ulimit -n` before it execs node).
 */
export function startWeftWithFdLimit(args: string[], fdLimit: number): WeftProcess {
  return watch(spawn('/bin/sh', ['-c', `ulimit -n ${fdLimit} && exec "$0" "$@"`, process.execPath, CLI, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] }));
}
