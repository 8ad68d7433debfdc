// A mesh on loopback for end-to-end tests: `weft control` and `weft sidecar` as real processes,
// apps as in-process HTTP servers on port 0, and helpers to apply config and wait for proxies to
// be in sync (events the control plane reports, not fixed sleeps).

import http from 'node:http';
import type { TestContext } from 'node:test';
import type { AddressInfo } from 'node:net';
import { deadPort } from './bootstrap.js';
import { startWeft, type WeftProcess } from './process.js';

export interface ControlProcess {
  proc: WeftProcess;
  xdsPort: number;
  httpPort: number;
  /** `127.0.0.1:<httpPort>`, for `weft ... --control`. */
  api: string;
  /** The CA port (Istio's CreateCertificate); sidecars get their certificates there. */
  caPort: number;
  /** Started with --insecure-xds (plaintext xDS): its sidecars then speak plaintext xDS too. */
  insecureXds: boolean;
  stop(): Promise<void>;
}

/**
 * Starts `weft control` on the ports given (a restart on the same ports) or, by default, on ports the kernel picks
 * (port 0), read from its start-up line: a port found free and handed over later can be taken in between.
 */
export async function startControl(extra: string[] = [], ports?: { xds: number; http: number }): Promise<ControlProcess> {
  // The secure default, as users run it: a CA (port from the kernel), mTLS xDS, sidecars on loopback
  // trusted without a token. `--insecure-xds` in `extra` for plaintext clients (proxyless gRPC).
  const proc = startWeft(['control', '--xds-port', String(ports?.xds ?? 0), '--http-port', String(ports?.http ?? 0), '--ca-port', '0', '--host', '127.0.0.1', ...extra]);
  let xdsPort: number, httpPort: number, caPort: number;
  try {
    const m = await proc.waitFor(/control plane started: HTTP API on [^\s]+:(\d+), xDS on [^\s]+:(\d+).*, CA on [^\s]+:(\d+)/, 0, 20_000);
    httpPort = Number(m[1]);
    xdsPort = Number(m[2]);
    caPort = Number(m[3]);
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
  const api = `127.0.0.1:${httpPort}`;
  await waitUntil(`control plane /ready on ${api}`, async () => (await fetch(`http://${api}/ready`)).ok, 20_000, proc);
  return {
    proc, xdsPort, httpPort, api, caPort, insecureXds: extra.includes('--insecure-xds'),
    stop: async () => { proc.kill('SIGTERM'); await proc.exited; },
  };
}

export interface SidecarProcess {
  proc: WeftProcess;
  inbound: number;
  outbound: number;
  admin: number;
  stop(): Promise<void>;
}

export async function startSidecar(control: Pick<ControlProcess, 'xdsPort' | 'httpPort' | 'caPort' | 'insecureXds'>, o: {
  service: string; appPort: number; servicePort?: number; labels?: string; namespace?: string; delta?: boolean;
  /** More `weft sidecar` flags. */
  extra?: string[];
}): Promise<SidecarProcess> {
  const inbound = await deadPort();
  const outbound = await deadPort();
  const admin = await deadPort();
  const args = ['sidecar', '--service', o.service, '--app-port', String(o.appPort), '--service-port', String(o.servicePort ?? o.appPort),
    '--inbound-port', String(inbound), '--outbound-port', String(outbound), '--admin-port', String(admin),
    '--control', `127.0.0.1:${control.xdsPort}`, '-l', 'warning',
    // Tests stop whole meshes: no graceful leave unless a test asks for one (`extra` comes later and wins).
    '--drain-duration', '0',
    '--ca-address', `127.0.0.1:${control.caPort}`, '--control-http', String(control.httpPort)];
  if (control.insecureXds) args.push('--insecure-xds');
  if (o.labels) args.push('--labels', o.labels);
  if (o.namespace) args.push('--namespace', o.namespace);
  if (o.delta) args.push('--delta');
  if (o.extra) args.push(...o.extra);
  const proc = startWeft(args);
  await waitUntil(`sidecar ${o.service} admin /ready`, async () => (await fetch(`http://127.0.0.1:${admin}/ready`)).ok, 20_000, proc);
  return { proc, inbound, outbound, admin, stop: async () => { proc.kill('SIGTERM'); await proc.exited; } };
}

/** An app answering `{"version": V}` on 127.0.0.1:0. */
export async function startVersionApp(version: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const body = JSON.stringify({ version, user: req.headers['end-user'] ?? null, path: req.url });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** POST /v1/apply with YAML; throws with the server's errors when rejected. */
export async function apply(api: string, yaml: string): Promise<unknown> {
  const r = await fetch(`http://${api}/v1/apply`, { method: 'POST', body: yaml, headers: { 'content-type': 'application/yaml' } });
  const body = await r.json() as unknown;
  if (!r.ok) throw new Error(`apply rejected (${r.status}): ${JSON.stringify(body)}`);
  return body;
}

interface StatusRow { id: string; types: Record<string, { state: string; sentVersion: string }> }

export async function proxyStatus(api: string): Promise<StatusRow[]> {
  const r = await fetch(`http://${api}/v1/proxy-status`);
  const body = await r.json() as StatusRow[] | { proxies: StatusRow[] };
  return Array.isArray(body) ? body : body.proxies;
}

/**
 * Polls until `fn` resolves true. Processes outside this one give no event to wait on, so this
 * polls with a growing interval; `proc` (if given) makes a crash fail fast with its output.
 */
export async function waitUntil(what: string, fn: () => Promise<boolean>, timeoutMs = 15_000, proc?: WeftProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  let exited = false;
  void proc?.exited.then(() => { exited = true; });
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (exited) throw new Error(`process exited while waiting for ${what}; output:\n${proc!.output()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${proc ? `; output:\n${proc.output()}` : ''}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 250);
  }
}

/** One GET through a sidecar's outbound listener, Host-routed. */
export function viaSidecar(outbound: number, host: string, path = '/', headers: http.OutgoingHttpHeaders = {}, agent?: http.Agent,
                           method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: outbound, path, method, headers: { host, ...headers }, agent: agent ?? false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The version the app behind the mesh answered with, or `status <n>` when it did not. */
export async function versionVia(outbound: number, host: string, headers: http.OutgoingHttpHeaders = {}, agent?: http.Agent): Promise<string> {
  const r = await viaSidecar(outbound, host, '/', headers, agent);
  if (r.status !== 200) return `status ${r.status}`;
  return (JSON.parse(r.body) as { version: string }).version;
}

/** Calls backend:9080 through `client` from `workers` loops until stop(); every answer recorded ('error …' for failures). */
export function hammer(t: TestContext, client: Pick<SidecarProcess, 'outbound'>, workers = 4): { results: string[]; stop(): Promise<void> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: workers });
  t.after(() => agent.destroy());
  let running = true;
  const results: string[] = [];
  const loops = Array.from({ length: workers }, async () => {
    while (running) results.push(await versionVia(client.outbound, 'backend:9080', {}, agent).catch((e: Error) => `error ${e.message}`));
  });
  const stop = async (): Promise<void> => { running = false; await Promise.all(loops); };
  t.after(stop);
  return { results, stop };
}
