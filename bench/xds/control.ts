// `weft control` as a child process for the control-plane benchmark, driven only through its
// process interface: flags, GET /ready, the HTTP API (/v1/apply, /v1/registry/workloads,
// /v1/proxy-status) and its resident memory read from /proc.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onCleanup } from '../lib/cleanup.js';
import { rssKiB } from '../lib/procfs.js';

/** The package root (where package.json is), from dist/bench/xds or bench/xds. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** A free loopback TCP port (bound and released: another process could take it meanwhile, rarely). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface ControlOptions {
  readonly dataDir: string;
  readonly registryFile?: string;
  /** Extra V8 or Node flags for the control plane's node process. */
  readonly nodeArgs?: readonly string[];
}

export class ControlPlane {
  private child: ChildProcess | undefined;
  private output = '';
  private exited: Promise<number | null> = Promise.resolve(null);
  private unregister: () => void = () => undefined;
  xdsPort = 0;
  httpPort = 0;

  constructor(private readonly o: ControlOptions) {}

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  /** What the process wrote (the tail, for error messages). */
  tail(chars = 2000): string {
    return this.output.slice(-chars);
  }

  async start(timeoutMs = 30_000): Promise<void> {
    this.xdsPort = await freePort();
    this.httpPort = await freePort();
    const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
    const args = [
      ...(this.o.nodeArgs ?? []), cli, 'control',
      '--xds-port', String(this.xdsPort), '--http-port', String(this.httpPort), '--ca-port', '0', '--insecure-xds', '--host', '127.0.0.1',
      '--data-dir', this.o.dataDir, '-l', 'warning',
      ...(this.o.registryFile !== undefined ? ['--registry-file', this.o.registryFile] : []),
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (d: Buffer) => { this.output = (this.output + d.toString()).slice(-20_000); };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((r) => child.on('exit', (code) => r(code)));
    this.unregister = onCleanup(() => child.kill('SIGKILL'));
    const deadline = Date.now() + timeoutMs;
    let delay = 25;
    let gone = false;
    void this.exited.then(() => { gone = true; });
    // The control plane is another process: its readiness is polled (backing off), not awaited.
    for (;;) {
      if (gone) throw new Error(`weft control exited before it was ready:\n${this.tail()}`);
      if (await this.get('/ready').then((r) => r.status === 200, () => false)) return;
      if (Date.now() > deadline) throw new Error(`weft control not ready within ${timeoutMs} ms:\n${this.tail()}`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 250);
    }
  }

  /** Resident memory of the control-plane process, KiB. */
  rssKiB(): number {
    return rssKiB([this.pid]);
  }

  /** POST /v1/apply with multi-document YAML; throws with the server's answer when not 2xx. */
  async apply(yaml: string): Promise<void> {
    const r = await fetch(this.url('/v1/apply'), { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: yaml });
    const text = await r.text();
    if (!r.ok) throw new Error(`apply: HTTP ${r.status}: ${text}`);
  }

  /** POST /v1/registry/workloads; returns the workload id. */
  async register(workload: Record<string, unknown>): Promise<string> {
    const r = await fetch(this.url('/v1/registry/workloads'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(workload) });
    const text = await r.text();
    if (!r.ok) throw new Error(`register: HTTP ${r.status}: ${text}`);
    return (JSON.parse(text) as { id: string }).id;
  }

  async deregister(id: string): Promise<void> {
    const r = await fetch(this.url(`/v1/registry/workloads/${encodeURIComponent(id)}`), { method: 'DELETE' });
    const text = await r.text();
    if (!r.ok) throw new Error(`deregister: HTTP ${r.status}: ${text}`);
  }

  async proxyStatus(): Promise<unknown> {
    const r = await this.get('/v1/proxy-status');
    if (r.status !== 200) throw new Error(`proxy-status: HTTP ${r.status}`);
    return JSON.parse(r.body) as unknown;
  }

  async close(): Promise<void> {
    if (this.child === undefined) return;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
    this.unregister();
  }

  private url(path: string): string {
    return `http://127.0.0.1:${this.httpPort}${path}`;
  }

  private async get(path: string): Promise<{ status: number; body: string }> {
    const r = await fetch(this.url(path));
    return { status: r.status, body: await r.text() };
  }
}
