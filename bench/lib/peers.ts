// Starts and stops the side-by-side layout of ../shared/bench/peers.sh from Node, with the same
// generated nginx/HAProxy configs, in a temp dir that is removed on close, on exit and on SIGINT
// (bench/lib/cleanup.ts):
//   upstream  nginx        127.0.0.1:18001  (fixed body; CPU 1)
//   peer      nginx proxy  127.0.0.1:18002  (1 worker, upstream keepalive; CPU 0)
//   peer      haproxy      127.0.0.1:18003  (1 thread, http-reuse always; CPU 0)
//   candidate --proxy-cmd  127.0.0.1:18004  (CPU 0)
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, chmodSync, openSync, closeSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';
import { processTree } from './procfs.js';

export const PORTS = { direct: 18001, nginx: 18002, haproxy: 18003, candidate: 18004 } as const;
export type TargetName = keyof typeof PORTS;

/** CPU the proxies run on, and the CPU the upstream and the load generator share. */
export const PROXY_CPU = 0;
export const LOAD_CPU = 1;

export interface PeersOptions {
  /** Response body size of the upstream, in bytes. */
  readonly bodyBytes: number;
  /** Shell command of the candidate proxy (run from cwd), or undefined for peers only. */
  readonly candidateCmd?: string | undefined;
  /** Working directory of the candidate command (the repo root). */
  readonly cwd: string;
  readonly nginx: string;
  readonly haproxy: string;
}

export interface Target {
  readonly name: TargetName;
  readonly port: number;
  /** Root processes of the target (the nginx master, the haproxy daemon, the candidate). */
  readonly roots: () => number[];
}

export function nginxUpstreamConf(dir: string): string {
  return `worker_processes 1; daemon on; pid ${dir}/up.pid; error_log ${dir}/up.err;
events { worker_connections 8192; }
http { access_log off; default_type text/plain;
  server { listen 127.0.0.1:${PORTS.direct}; keepalive_requests 10000000;
    location / { root ${dir}; try_files /body =404; } } }
`;
}

export function nginxProxyConf(dir: string): string {
  return `worker_processes 1; daemon on; pid ${dir}/px.pid; error_log ${dir}/px.err;
events { worker_connections 8192; }
http { access_log off;
  upstream up { server 127.0.0.1:${PORTS.direct}; keepalive 128; }
  server { listen 127.0.0.1:${PORTS.nginx}; keepalive_requests 10000000;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
`;
}

/**
 * An HAProxy HTTP proxy config: one frontend bound as given, one backend server, connection reuse;
 * its pid goes to `${dir}/${name}.pid` (name defaults to "ha").
 */
export function haproxyHttp(dir: string, opts: { bind: string; server: string; nbthread?: number; name?: string }): string {
  return `global
  nbthread ${opts.nbthread ?? 1}
  maxconn 4000
  pidfile ${dir}/${opts.name ?? 'ha'}.pid
  daemon
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
frontend fe
  bind ${opts.bind}
  default_backend be
backend be
  http-reuse always
  server s1 ${opts.server}
`;
}

export function haproxyConf(dir: string): string {
  return haproxyHttp(dir, { bind: `127.0.0.1:${PORTS.haproxy}`, server: `127.0.0.1:${PORTS.direct}` });
}

/** One GET over a fresh connection; resolves with the status code and body, rejects on error. */
export function httpGet(port: number, timeoutMs = 2000): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`timeout on port ${port}`)));
    // write, not end: a half-closed client makes nginx abort a proxied request (499)
    sock.on('connect', () => sock.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => {
      const raw = Buffer.concat(chunks);
      const end = raw.indexOf('\r\n\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw.subarray(0, 16).toString('latin1'));
      if (end < 0 || !m) return reject(new Error(`no HTTP response on port ${port}`));
      resolve({ status: Number(m[1]), body: raw.subarray(end + 4) });
    });
  });
}

/** Waits until the port answers an HTTP GET with 200, or throws after timeoutMs. */
export async function waitForHttp(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const { status } = await httpGet(port, 1000);
      if (status === 200) return;
      last = new Error(`status ${status}`);
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} did not answer 200 within ${timeoutMs} ms: ${String(last)}`);
}

function portOpen(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}

/** Waits until nothing accepts connections on the port any more (a previous run has exited). */
export async function waitForPortFree(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await portOpen(port))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} is still in use after ${timeoutMs} ms`);
}

/**
 * Waits until all the benchmark ports are free: another benchmark (or a stray daemon) may hold
 * them, and two benchmarks at once would measure each other. Says so on stderr while it waits.
 */
export async function waitForBenchPorts(timeoutMs = 300_000): Promise<void> {
  const ports = Object.values(PORTS);
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    const busy: number[] = [];
    for (const port of ports) if (await portOpen(port)) busy.push(port);
    if (busy.length === 0) return;
    if (Date.now() > deadline) throw new Error(`ports ${busy.join(', ')} are still in use after ${timeoutMs / 1000} s`);
    if (!told) {
      process.stderr.write(`  waiting for ports ${busy.join(', ')} (another benchmark running?)\n`);
      told = true;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The running layout. close() stops every process it started and removes the temp dir. */
export class Peers {
  readonly dir: string;
  readonly targets: Target[] = [];
  /** Why the candidate is absent, when a candidate command was given but it did not come up. */
  candidateError: string | undefined;
  private candidate: ChildProcess | undefined;
  private closed = false;
  private readonly unregister: () => void;

  private constructor(private readonly opts: PeersOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'weft-peers.'));
    chmodSync(this.dir, 0o755); // nginx workers run as www-data and must read the body file
    this.unregister = onCleanup(() => this.closeSync());
  }

  /** Writes the configs, starts upstream, nginx, haproxy and the candidate, and waits for them. */
  static async start(opts: PeersOptions): Promise<Peers> {
    await waitForBenchPorts();
    const peers = new Peers(opts);
    try {
      await peers.launch();
      return peers;
    } catch (err) {
      peers.closeSync();
      throw err;
    }
  }

  /** The shell commands used, for the report. */
  commands(): string[] {
    const d = this.dir;
    const cmds = [
      `taskset -c ${LOAD_CPU} ${this.opts.nginx} -c ${d}/up.conf`,
      `taskset -c ${PROXY_CPU} ${this.opts.nginx} -c ${d}/px.conf`,
      `taskset -c ${PROXY_CPU} ${this.opts.haproxy} -f ${d}/ha.cfg`,
    ];
    if (this.opts.candidateCmd) cmds.push(`taskset -c ${PROXY_CPU} bash -c "exec ${this.opts.candidateCmd}"`);
    return cmds;
  }

  /** The generated config files, by name, for the report. */
  configs(): Record<string, string> {
    return {
      'up.conf': nginxUpstreamConf(this.dir),
      'px.conf': nginxProxyConf(this.dir),
      'ha.cfg': haproxyConf(this.dir),
    };
  }

  private async launch(): Promise<void> {
    const d = this.dir;
    writeFileSync(join(d, 'body'), Buffer.alloc(this.opts.bodyBytes, 'x'));
    for (const [name, text] of Object.entries(this.configs())) writeFileSync(join(d, name), text);
    const run = (cpu: number, cmd: string, args: string[]): void => {
      execFileSync('taskset', ['-c', String(cpu), cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    };
    run(LOAD_CPU, this.opts.nginx, ['-c', join(d, 'up.conf')]);
    run(PROXY_CPU, this.opts.nginx, ['-c', join(d, 'px.conf')]);
    run(PROXY_CPU, this.opts.haproxy, ['-f', join(d, 'ha.cfg')]);
    const pidOf = (file: string) => () => {
      const pid = readPid(join(d, file));
      return pid === undefined ? [] : [pid];
    };
    this.targets.push({ name: 'direct', port: PORTS.direct, roots: pidOf('up.pid') });
    this.targets.push({ name: 'nginx', port: PORTS.nginx, roots: pidOf('px.pid') });
    this.targets.push({ name: 'haproxy', port: PORTS.haproxy, roots: pidOf('ha.pid') });
    for (const t of this.targets) await waitForHttp(t.port);

    if (!this.opts.candidateCmd) return;
    const log = openSync(join(d, 'cand.log'), 'w');
    this.candidate = spawn('taskset', ['-c', String(PROXY_CPU), 'bash', '-c', `exec ${this.opts.candidateCmd}`], {
      cwd: this.opts.cwd,
      stdio: ['ignore', log, log],
      detached: true, // its own process group, so close() can stop it and anything it forked
    });
    closeSync(log);
    const exited = new Promise<string>((resolve) =>
      this.candidate!.once('exit', (code, sig) => resolve(`exited (${sig ?? code})`)),
    );
    try {
      const outcome = await Promise.race([waitForHttp(PORTS.candidate, 15_000).then(() => 'up'), exited]);
      if (outcome !== 'up') throw new Error(outcome);
      const { body } = await httpGet(PORTS.candidate);
      if (body.length !== this.opts.bodyBytes) throw new Error(`returned a wrong body (${body.length} bytes)`);
      const pid = this.candidate.pid!;
      this.targets.push({ name: 'candidate', port: PORTS.candidate, roots: () => [pid] });
    } catch (err) {
      const tail = this.candidateLog().split('\n').slice(-20).join('\n');
      this.candidateError = `candidate did not serve on 127.0.0.1:${PORTS.candidate}: ${(err as Error).message}\n${tail}`;
      this.stopCandidate();
    }
  }

  candidateLog(): string {
    try {
      return readFileSync(join(this.dir, 'cand.log'), 'utf8');
    } catch {
      return '';
    }
  }

  private stopCandidate(): void {
    const pid = this.candidate?.pid;
    if (pid === undefined || this.candidate!.exitCode !== null || this.candidate!.signalCode !== null) return;
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }

  /** Stops everything and waits until the ports are free. */
  async close(): Promise<void> {
    this.closeSync();
    for (const port of Object.values(PORTS)) await waitForPortFree(port).catch(() => undefined);
  }

  /** Synchronous stop, usable from an 'exit' handler: SIGTERM to every process, then rm -r. */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    this.unregister();
    this.stopCandidate();
    const roots = ['up.pid', 'px.pid', 'ha.pid'].map((f) => readPid(join(this.dir, f)));
    for (const pid of processTree(roots.filter((p): p is number => p !== undefined))) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
