// Ties a long-running weft process (control, demo, sidecar, proxy) to whoever started it, so that
// none is left running as an orphan holding its ports:
// - started by another weft process (the demo): the child has an IPC channel and WEFT_PARENT_PID;
//   the channel's 'disconnect' (the parent exited, however it died, SIGKILL included) stops it,
//   and a parent-pid check covers a parent that died before the channel was set up;
// - started through npm (`npx weft ...`, `npm exec`): npm does not pass SIGTERM on to the command,
//   and may run it through `sh -c`; the launcher chain (shell, npm) is recorded at startup and
//   watched: when one of them goes away (or is re-parented), the process shuts down cleanly;
// - started from a shell or a service manager: nothing is watched (`nohup weft proxy &` keeps running).
// Also tells a weft parent when the process is ready (notifyParent), over the same IPC channel.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Parent pid and state of `pid` (Linux /proc; `ps` elsewhere); null when it does not exist. */
function procInfo(pid: number): { ppid: number; zombie: boolean; cmd: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let cmd = '';
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim(); } catch { /* gone meanwhile */ }
    return { ppid: Number(rest[1]), zombie: rest[0] === 'Z' || rest[0] === 'X', cmd };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || process.platform === 'linux') return null;
  }
  try {
    const out = execFileSync('ps', ['-o', 'ppid=,stat=,args=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const m = /^(\d+)\s+(\S+)\s+(.*)$/.exec(out);
    return m === null ? null : { ppid: Number(m[1]), zombie: m[2]!.startsWith('Z'), cmd: m[3]! };
  } catch { return null; }
}

function alive(pid: number, expectedPpid: number): boolean {
  if (process.platform === 'linux') {
    const i = procInfo(pid);
    return i !== null && !i.zombie && i.ppid === expectedPpid;
  }
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** The processes between us and the npm process that launched us (the shell, npm itself), nearest first. */
function npmLauncherChain(): { pid: number; ppid: number }[] {
  const chain: { pid: number; ppid: number }[] = [];
  let pid = process.ppid;
  for (let depth = 0; depth < 4 && pid > 1; depth++) {
    const i = procInfo(pid);
    if (i === null) break;
    chain.push({ pid, ppid: i.ppid });
    if (/(^|[\s/])(npm|npx)(\s|$)|npm-cli\.js|npx-cli\.js/.test(i.cmd)) return chain;
    pid = i.ppid;
  }
  // No npm process found above us: watch our direct parent only.
  return chain.slice(0, 1);
}

/**
 * Calls `onGone(why)` once when the process that started this one goes away (see the file
 * comment for when that is watched). Returns a function that stops watching.
 */
export function followParent(onGone: (why: string) => void, intervalMs = 500): () => void {
  let done = false;
  const gone = (why: string): void => {
    if (done) return;
    done = true;
    stop();
    onGone(why);
  };
  const cleanups: (() => void)[] = [];
  const stop = (): void => { for (const c of cleanups.splice(0)) c(); };

  const parentPid = Number(process.env.WEFT_PARENT_PID ?? '');
  delete process.env.WEFT_PARENT_PID; // not inherited by this process's own children
  const byWeft = Number.isInteger(parentPid) && parentPid > 0;
  if (process.channel) {
    const onDisconnect = (): void => gone('the parent process exited (IPC channel closed)');
    process.once('disconnect', onDisconnect);
    cleanups.push(() => process.off('disconnect', onDisconnect));
  }
  const ppid = process.ppid;
  let watched: { pid: number; ppid: number }[] = [];
  if (byWeft) {
    if (ppid !== parentPid) { queueMicrotask(() => gone(`the parent process ${parentPid} exited before this one started`)); return stop; }
  } else if (process.env.npm_command !== undefined) {
    watched = npmLauncherChain();
  }
  if (byWeft || watched.length > 0) {
    const timer = setInterval(() => {
      if (process.ppid !== ppid) { gone(`the parent process ${ppid} exited`); return; }
      for (const w of watched) if (!alive(w.pid, w.ppid)) { gone(`the launcher (pid ${w.pid}) exited`); return; }
    }, intervalMs);
    timer.unref();
    cleanups.push(() => clearInterval(timer));
  }
  return stop;
}

/** Tells a weft parent (over the IPC channel, if there is one) a message such as `{ weft: 'ready', ... }`. */
export function notifyParent(msg: Record<string, unknown>): void {
  if (process.send === undefined || !process.connected) return;
  try { process.send(msg); } catch { /* the parent is gone: followParent sees it */ }
}

/** Environment a weft process gives a child it starts, so that the child can follow it. */
export function childEnv(): Record<string, string> {
  return { WEFT_PARENT_PID: String(process.pid) };
}
