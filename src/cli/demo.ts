// `weft demo`: the mesh on one machine. Starts the control plane, the sample services in
// examples/demo (a web frontend calling a backend that runs as v1 and v2), each behind its own
// sidecar, applies the example DestinationRule and a VirtualService sending everything to v1,
// then prints what to open and what to try. Ctrl-C (or SIGTERM) stops every process it started.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const USAGE = `Usage: weft demo [options]

Runs the control plane, a frontend and a backend in two versions, each behind a sidecar.

Options:
      --port-offset N   add N to every port the demo uses (default 0)
      --keep-data       keep the control plane's data directory (printed) after exit
  -h, --help            this text`;

/** The package root (where examples/ is), from dist/src/cli or src/cli. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (dirname(dir) !== dir) {
    try {
      JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      return dir;
    } catch { dir = dirname(dir); }
  }
  throw new Error('cannot find the weft package root');
}

interface Ports {
  xds: number; http: number;
  frontendApp: number; frontendIn: number; frontendOut: number; frontendAdmin: number;
  v1App: number; v1In: number; v1Out: number; v1Admin: number;
  v2App: number; v2In: number; v2Out: number; v2Admin: number;
  backendService: number;
}

function ports(offset: number): Ports {
  const p = {
    xds: 15010, http: 15014,
    frontendApp: 9090, frontendIn: 8000, frontendOut: 15001, frontendAdmin: 15000,
    v1App: 9081, v1In: 15106, v1Out: 15101, v1Admin: 15100,
    v2App: 9082, v2In: 15206, v2Out: 15201, v2Admin: 15200,
    backendService: 9080,
  };
  for (const k of Object.keys(p) as (keyof Ports)[]) p[k] += offset;
  return p;
}

/** Polls until fn() resolves true (the processes are ours but outside this one: no event to wait on). */
async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number, stopped: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 50;
  for (;;) {
    if (stopped()) throw new Error('stopped');
    if (await fn().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
  }
}

async function ok(url: string): Promise<boolean> {
  const r = await fetch(url);
  await r.arrayBuffer();
  return r.ok;
}

export async function runDemo(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        'port-offset': { type: 'string', default: '0' },
        'keep-data': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`weft demo: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) { console.log(USAGE); return 0; }
  const offset = Number(values['port-offset']);
  if (!Number.isInteger(offset) || offset < 0 || offset > 40000) {
    console.error(`weft demo: --port-offset: expected a whole number 0..40000, got '${values['port-offset']}'`);
    return 2;
  }
  const P = ports(offset);
  const root = packageRoot();
  const weft = join(root, 'dist', 'src', 'cli', 'main.js');
  const examples = join(root, 'examples', 'demo');
  const dataDir = mkdtempSync(join(tmpdir(), 'weft-demo-'));
  const control = `127.0.0.1:${P.http}`;

  const children: { name: string; proc: ChildProcess }[] = [];
  let stopping = false;
  let failed: string | null = null;
  const start = (name: string, file: string, argv: string[], env: Record<string, string> = {}): void => {
    const proc = spawn(process.execPath, ['--no-memory-reducer', file, ...argv], {
      env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tag = `[${name}] `;
    const relay = (chunk: Buffer, out: NodeJS.WriteStream) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') out.write(tag + line + '\n');
    };
    // Proxies log every request; show only warnings and errors from them once the demo is up.
    proc.stdout!.on('data', (c: Buffer) => { if (!ready || !name.includes('sidecar')) relay(c, process.stdout); });
    proc.stderr!.on('data', (c: Buffer) => relay(c, process.stderr));
    proc.on('exit', (code, signal) => {
      if (!stopping) {
        failed = `${name} exited (${signal ?? code})`;
        void stop(failed);
      }
    });
    children.push({ name, proc });
  };

  let ready = false;
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((r) => { finish = r; });
  async function stop(why: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    console.log(`\nweft demo: ${why}; stopping ${children.length} processes`);
    await Promise.all(children.reverse().map(({ proc }) => new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) { resolve(); return; }
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
      setTimeout(() => proc.kill('SIGKILL'), 8000).unref();
    })));
    if (!values!['keep-data']) rmSync(dataDir, { recursive: true, force: true });
    else console.log(`weft demo: control-plane data kept in ${dataDir}`);
    finish(failed === null ? 0 : 1);
  }
  const onSignal = (sig: string) => () => { void stop(sig); };
  const onInt = onSignal('SIGINT');
  const onTerm = onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);

  try {
    start('control', weft, ['control', '--xds-port', String(P.xds), '--http-port', String(P.http), '--host', '127.0.0.1', '--data-dir', dataDir]);
    await until('the control plane', () => ok(`http://${control}/ready`), 20000, () => stopping);
    for (const f of ['destination-rule.yaml', 'all-v1.yaml']) {
      const r = await fetch(`http://${control}/v1/apply`, { method: 'POST', body: readFileSync(join(examples, 'mesh', f), 'utf8') });
      if (!r.ok) throw new Error(`applying ${f}: ${await r.text()}`);
      await r.arrayBuffer().catch(() => undefined);
    }
    const sidecar = (name: string, svc: string, labels: string, appPort: number, servicePort: number, inP: number, outP: number, adminP: number) =>
      start(`${name}-sidecar`, weft, ['sidecar', '--service', svc, '--labels', labels, '--app-port', String(appPort), '--service-port', String(servicePort),
        '--inbound-port', String(inP), '--outbound-port', String(outP), '--admin-port', String(adminP), '--control', `127.0.0.1:${P.xds}`, '-l', 'warning']);
    start('backend-v1', join(examples, 'backend.mjs'), [], { VERSION: 'v1', PORT: String(P.v1App) });
    start('backend-v2', join(examples, 'backend.mjs'), [], { VERSION: 'v2', PORT: String(P.v2App) });
    start('frontend', join(examples, 'frontend.mjs'), [], {
      PORT: String(P.frontendApp), OUTBOUND: `127.0.0.1:${P.frontendOut}`, BACKEND_URL: `http://backend:${P.backendService}/`,
    });
    sidecar('backend-v1', 'backend', 'version=v1', P.v1App, P.backendService, P.v1In, P.v1Out, P.v1Admin);
    sidecar('backend-v2', 'backend', 'version=v2', P.v2App, P.backendService, P.v2In, P.v2Out, P.v2Admin);
    sidecar('frontend', 'frontend', 'version=v1', P.frontendApp, P.frontendApp, P.frontendIn, P.frontendOut, P.frontendAdmin);
    const front = `http://127.0.0.1:${P.frontendIn}`;
    await until('the frontend to reach the backend through the mesh', async () => {
      const r = await fetch(`${front}/api/backend`);
      const body = await r.json() as { version?: string };
      return r.ok && body.version === 'v1';
    }, 30000, () => stopping);
  } catch (e) {
    if (!stopping) {
      failed = (e as Error).message;
      console.error(`weft demo: ${failed}`);
      void stop('startup failed');
    }
    const code = await finished;
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    return code;
  }
  ready = true;
  const rel = relative(process.cwd(), examples) || '.';
  console.log(`
weft demo is running: frontend → backend (v1 and v2), each behind a sidecar, with the control
plane on 127.0.0.1:${P.xds} (xDS) and 127.0.0.1:${P.http} (HTTP API).

  Open   http://127.0.0.1:${P.frontendIn}/            the frontend (through its sidecar); the bar shows which
                                          backend version answers. Now: everything goes to v1.
  Try    npx weft apply -f ${rel}/mesh/split-90-10.yaml   canary: 90% v1, 10% v2
         npx weft apply -f ${rel}/mesh/user-pin.yaml      end-user: jason → v2 (open /?user=jason)
         npx weft apply -f ${rel}/mesh/all-v1.yaml        back to v1
         npx weft proxy-status                            each sidecar's xDS state
         npx weft get virtualservices                     what is applied
         npx weft analyze                                 checks on the applied config
         curl http://127.0.0.1:${P.frontendAdmin}/stats/prometheus   the frontend sidecar's metrics
${offset === 0 ? '' : `  (ports are offset by ${offset}: pass --control 127.0.0.1:${P.http} to the weft commands)\n`}
Ctrl-C stops everything.
weft demo: ready`);
  const code = await finished;
  process.off('SIGINT', onInt);
  process.off('SIGTERM', onTerm);
  return code;
}
