// `weft demo`: the mesh on one machine. Starts the control plane, the sample services in
// examples/demo (a web frontend calling a backend that runs as v1 and v2), each behind its own
// sidecar, applies the example DestinationRule and a VirtualService sending everything to v1,
// then prints what to open and what to try. Ctrl-C (or SIGTERM) stops every process it started;
// they also exit on their own when the demo dies (IPC channel, src/cli/parent-watch.ts).

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { childEnv, followParent } from './parent-watch.js';

const USAGE = `Usage: weft demo [options]

Runs the control plane, a frontend and a backend in two versions, each behind a sidecar.

Options:
      --port-offset N       add N to every port the demo uses (default 0: the frontend on 8000, the
                            control plane on 15010/15014, ...)
      --ports-from-kernel   let the kernel pick every port (for scripts and tests that run beside other
                            programs): the banner lists them, and a line \`weft demo: ports {JSON}\` gives
                            them to scripts. The control plane and the apps bind port 0 and report what
                            they got; the sidecars' ports, which the control plane must know before they
                            start, are taken from the kernel just before each sidecar starts.
      --keep-data           keep the control plane's data directory (printed) after exit
  -h, --help                this text

Before starting anything the demo checks that every port it needs is free, and stops with the busy
port's name if one is not (another demo running?). Every process it starts exits with it, also
when the demo itself is killed.`;

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
  xds: number; http: number; ca: number;
  frontendApp: number; frontendIn: number; frontendOut: number; frontendAdmin: number;
  v1App: number; v1In: number; v1Out: number; v1Admin: number;
  v2App: number; v2In: number; v2Out: number; v2Admin: number;
}

const DEFAULT_PORTS: Readonly<Ports> = Object.freeze({
  xds: 15010, http: 15014, ca: 15012,
  frontendApp: 9090, frontendIn: 8000, frontendOut: 15001, frontendAdmin: 15000,
  v1App: 9081, v1In: 15106, v1Out: 15101, v1Admin: 15100,
  v2App: 9082, v2In: 15206, v2Out: 15201, v2Admin: 15200,
});

/** What each port is, for the message naming a busy one. */
const PORT_ROLE: Record<keyof Ports, string> = {
  xds: 'control plane xDS', http: 'control plane HTTP API', ca: 'control plane CA',
  frontendApp: 'frontend app', frontendIn: 'frontend sidecar inbound', frontendOut: 'frontend sidecar outbound', frontendAdmin: 'frontend sidecar admin',
  v1App: 'backend v1 app', v1In: 'backend v1 sidecar inbound', v1Out: 'backend v1 sidecar outbound', v1Admin: 'backend v1 sidecar admin',
  v2App: 'backend v2 app', v2In: 'backend v2 sidecar inbound', v2Out: 'backend v2 sidecar outbound', v2Admin: 'backend v2 sidecar admin',
};

/** The port callers use for the backend service (a name in the Host header, not a bound port). */
const BACKEND_SERVICE_PORT = 9080;

/** Binds 127.0.0.1:port (0: the kernel picks) and releases it; resolves with the port, or null when it is in use. */
function probePort(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(null));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const got = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(got));
    });
  });
}

/** Every fixed port the demo needs that is in use, in start order. */
async function busyPorts(p: Ports): Promise<(keyof Ports)[]> {
  const keys = Object.keys(p) as (keyof Ports)[];
  const free = await Promise.all(keys.map((k) => probePort(p[k])));
  return keys.filter((_, i) => free[i] === null);
}

async function getJson(url: string): Promise<unknown> {
  const r = await fetch(url);
  const body = await r.json() as unknown;
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return body;
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

export async function runDemo(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        'port-offset': { type: 'string', default: '0' },
        'ports-from-kernel': { type: 'boolean', default: false },
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
  const maxOffset = 65535 - Math.max(...Object.values(DEFAULT_PORTS));
  if (!Number.isInteger(offset) || offset < 0 || offset > maxOffset) {
    console.error(`weft demo: --port-offset: expected a whole number 0..${maxOffset}, got '${values['port-offset']}'`);
    return 2;
  }
  const fromKernel = values['ports-from-kernel']!;
  if (fromKernel && offset !== 0) { console.error('weft demo: --port-offset and --ports-from-kernel exclude each other'); return 2; }
  const P: Ports = { ...DEFAULT_PORTS };
  for (const k of Object.keys(P) as (keyof Ports)[]) P[k] = fromKernel ? 0 : P[k] + offset;
  if (!fromKernel) {
    // Before anything starts: a second demo must not talk to the first one's processes.
    const busy = await busyPorts(P);
    if (busy.length > 0) {
      const list = busy.map((k) => `${P[k]} (${PORT_ROLE[k]})`).join(', ');
      console.error(`weft demo: port${busy.length > 1 ? 's' : ''} ${list} already in use; is another weft demo running? ` +
        `Stop it, or start this one with --port-offset N or --ports-from-kernel.`);
      return 1;
    }
  }
  const root = packageRoot();
  const weft = join(root, 'dist', 'src', 'cli', 'main.js');
  const examples = join(root, 'examples', 'demo');
  const dataDir = mkdtempSync(join(tmpdir(), 'weft-demo-'));
  // This run's processes answer with this token, so the readiness check knows it reached them.
  const instance = randomBytes(8).toString('hex');

  const children: { name: string; proc: ChildProcess }[] = [];
  let stopping = false;
  let failed: string | null = null;
  /** Starts a child with an IPC channel: it exits when the channel closes (this process died), and reports ready over it. */
  const start = (name: string, file: string, argv: string[], env: Record<string, string> = {}): ChildProcess => {
    const proc = spawn(process.execPath, ['--no-memory-reducer', file, ...argv], {
      env: { ...process.env, ...childEnv(), DEMO_INSTANCE: instance, ...env }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const tag = `[${name}] `;
    const relay = (chunk: Buffer, out: NodeJS.WriteStream) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') out.write(tag + line + '\n');
    };
    // Proxies log every request; show only warnings and errors from them once the demo is up.
    proc.stdout!.on('data', (c: Buffer) => { if (!ready || !name.includes('sidecar')) relay(c, process.stdout); });
    proc.stderr!.on('data', (c: Buffer) => relay(c, process.stderr));
    proc.on('error', (e) => { if (!stopping) { failed = `${name}: ${e.message}`; void stop(failed); } });
    proc.on('exit', (code, signal) => {
      if (!stopping) {
        failed = `${name} exited (${signal ?? code})`;
        void stop(failed);
      }
    });
    children.push({ name, proc });
    return proc;
  };
  /** The child's `{weft: 'ready', ...}` message; rejects if it exits first. */
  const readyMessage = <T>(name: string, proc: ChildProcess, timeoutMs = 20000): Promise<T> => new Promise((resolve, reject) => {
    const timer = setTimeout(() => { done(); reject(new Error(`timed out waiting for ${name} to start`)); }, timeoutMs);
    const onMessage = (m: unknown) => {
      if (typeof m === 'object' && m !== null && (m as { weft?: unknown }).weft === 'ready') { done(); resolve(m as T); }
    };
    const onExit = () => { done(); reject(new Error(`${name} exited during startup`)); };
    const done = () => { clearTimeout(timer); proc.off('message', onMessage); proc.off('exit', onExit); };
    proc.on('message', onMessage);
    proc.once('exit', onExit);
  });

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
  // Through npx the launcher may die without passing SIGTERM on: follow it.
  const unwatch = followParent((why) => { void stop(why); });
  const cleanup = (): void => { process.off('SIGINT', onInt); process.off('SIGTERM', onTerm); unwatch(); };

  /** The sidecar's three listener ports: the fixed ones, or fresh ones from the kernel. */
  const sidecarPorts = async (fixed: [number, number, number]): Promise<[number, number, number]> => {
    if (!fromKernel) return fixed;
    const got = await Promise.all([0, 0, 0].map(() => probePort(0)));
    if (got.includes(null)) throw new Error('the kernel gave no free port');
    return got as [number, number, number];
  };
  try {
    const controlProc = start('control', weft, ['control', '--xds-port', String(P.xds), '--http-port', String(P.http), '--ca-port', String(P.ca),
      '--host', '127.0.0.1', '--data-dir', dataDir]);
    ({ xdsPort: P.xds, httpPort: P.http, caPort: P.ca } = await readyMessage<{ xdsPort: number; httpPort: number; caPort: number }>('the control plane', controlProc));
    const control = `127.0.0.1:${P.http}`;
    // Routing, and security: mTLS is on between sidecars without any config (auto mTLS); the backend
    // refuses plaintext (STRICT); the frontend checks JWTs and /api/profile needs one.
    for (const f of ['mesh/destination-rule.yaml', 'mesh/all-v1.yaml', 'security/backend-strict.yaml', 'security/jwt.yaml']) {
      const r = await fetch(`http://${control}/v1/apply`, { method: 'POST', body: readFileSync(join(examples, f), 'utf8') });
      if (!r.ok) throw new Error(`applying ${f}: ${await r.text()}`);
      await r.arrayBuffer().catch(() => undefined);
    }
    const sidecar = (name: string, svc: string, labels: string, appPort: number, servicePort: number, inP: number, outP: number, adminP: number) =>
      start(`${name}-sidecar`, weft, ['sidecar', '--service', svc, '--labels', labels, '--app-port', String(appPort), '--service-port', String(servicePort),
        '--inbound-port', String(inP), '--outbound-port', String(outP), '--admin-port', String(adminP), '--control', `127.0.0.1:${P.xds}`,
        '--ca-address', `127.0.0.1:${P.ca}`, '--control-http', String(P.http),
        // The whole mesh stops at once: no caller is left to drain for.
        '--drain-duration', '0', '--drain-time-s', '1', '-l', 'warning']);
    const app = async (name: string, file: string, port: number, env: Record<string, string>): Promise<number> =>
      (await readyMessage<{ port: number }>(name, start(name, join(examples, file), [], { PORT: String(port), ...env }))).port;
    [P.v1App, P.v2App] = await Promise.all([
      app('backend-v1', 'backend.mjs', P.v1App, { VERSION: 'v1' }),
      app('backend-v2', 'backend.mjs', P.v2App, { VERSION: 'v2' }),
    ]);
    [P.frontendIn, P.frontendOut, P.frontendAdmin] = await sidecarPorts([P.frontendIn, P.frontendOut, P.frontendAdmin]);
    P.frontendApp = await app('frontend', 'frontend.mjs', P.frontendApp, {
      OUTBOUND: `127.0.0.1:${P.frontendOut}`, BACKEND_URL: `http://backend:${BACKEND_SERVICE_PORT}/`,
    });
    [P.v1In, P.v1Out, P.v1Admin] = await sidecarPorts([P.v1In, P.v1Out, P.v1Admin]);
    sidecar('backend-v1', 'backend', 'version=v1', P.v1App, BACKEND_SERVICE_PORT, P.v1In, P.v1Out, P.v1Admin);
    [P.v2In, P.v2Out, P.v2Admin] = await sidecarPorts([P.v2In, P.v2Out, P.v2Admin]);
    sidecar('backend-v2', 'backend', 'version=v2', P.v2App, BACKEND_SERVICE_PORT, P.v2In, P.v2Out, P.v2Admin);
    sidecar('frontend', 'frontend', 'version=v1', P.frontendApp, P.frontendApp, P.frontendIn, P.frontendOut, P.frontendAdmin);
    const front = `http://127.0.0.1:${P.frontendIn}`;
    // The whole chain, and that it is this run's: the backend's answer carries our token.
    await until('the frontend to reach the backend through the mesh', async () => {
      const body = await getJson(`${front}/api/backend`) as { version?: string; instance?: string };
      return body.version === 'v1' && body.instance === instance;
    }, 30000, () => stopping);
  } catch (e) {
    if (!stopping) {
      failed = (e as Error).message;
      console.error(`weft demo: ${failed}`);
      void stop('startup failed');
    }
    const code = await finished;
    cleanup();
    return code;
  }
  ready = true;
  const rel = relative(process.cwd(), examples) || '.';
  const custom = fromKernel || offset !== 0;
  console.log(`
weft demo is running: frontend → backend (v1 and v2), each behind a sidecar, with the control
plane on 127.0.0.1:${P.xds} (xDS, mTLS), 127.0.0.1:${P.http} (HTTP API) and 127.0.0.1:${P.ca} (CA). Every
call between sidecars is mutual TLS with SPIFFE identities; the backend accepts nothing else.

  Open   http://127.0.0.1:${P.frontendIn}/            the frontend (through its sidecar); the bar shows which
                                          backend version answers. Now: everything goes to v1.
  Try    npx weft apply -f ${rel}/mesh/split-90-10.yaml   canary: 90% v1, 10% v2
         npx weft apply -f ${rel}/mesh/user-pin.yaml      end-user: jason → v2 (open /?user=jason)
         npx weft apply -f ${rel}/mesh/all-v1.yaml        back to v1
         npx weft apply -f ${rel}/security/deny-frontend.yaml   deny the frontend's calls by its identity (403);
                                                          undo with npx weft delete -f (same file)
         curl http://127.0.0.1:${P.frontendIn}/api/profile     403: this path needs a JWT
         curl -H "Authorization: Bearer $(cat ${rel}/security/demo.jwt)" http://127.0.0.1:${P.frontendIn}/api/profile
                                                          200, as user alice
         npx weft proxy-status                            each sidecar's xDS state, identity, certificate expiry
         npx weft get virtualservices                     what is applied
         npx weft analyze                                 checks on the applied config
         curl http://127.0.0.1:${P.frontendAdmin}/stats/prometheus   the frontend sidecar's metrics
${custom ? `  (ports are not the defaults: pass --control 127.0.0.1:${P.http} to the weft commands)\n` : ''}
Ctrl-C stops everything.
weft demo: ports ${JSON.stringify(P)}
weft demo: ready`);
  const code = await finished;
  cleanup();
  return code;
}
