// Runs `weft` as a child process (the compiled CLI) and waits for lines it logs.

import { spawn, type ChildProcess } from 'node:child_process';
import { fromRoot } from './paths.js';

export interface WeftProcess {
  child: ChildProcess;
  /** Everything written to stderr and stdout so far. */
  output(): string;
  /** Resolves with the first match of `re` in the output (waiting for it to appear). */
  waitFor(re: RegExp, fromIndex?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

export const CLI = fromRoot('dist', 'src', 'cli', 'main.js');

export function startWeft(args: string[]): WeftProcess {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: Array<() => void> = [];
  const onData = (d: Buffer) => { out += d.toString(); for (const w of waiters.splice(0)) w(); };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => { for (const w of waiters.splice(0)) w(); r(code); }));
  let done = false;
  void exited.then(() => { done = true; });
  return {
    child,
    output: () => out,
    exited,
    kill: (sig = 'SIGTERM') => { if (!done) child.kill(sig); },
    waitFor(re, fromIndex = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.slice(fromIndex).match(re);
          if (m) return resolve(m);
          if (done) return reject(new Error(`process exited before ${re}; output:\n${out}`));
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
