// Certificate signing rate of `weft control`'s CA: CreateCertificate (Istio's certificate API over
// TLS) from a few concurrent grpc-js clients against a real `weft control` child process, with
// pre-made CSRs (the clients' key generation is not measured). Reports CSRs per second and the
// control plane's CPU milliseconds per CSR, for loopback-trusted callers and for token callers
// (one ES256 verification more per call). Target (issue 10): at least 500 CSRs/s.
//
// Usage: node dist/bench/scenarios/ca.js [--seconds N] [--clients N] [--inflight N]

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { credentials, makeGenericClientConstructor, Metadata, type Client } from '@grpc/grpc-js';
import { caServiceDefinition, type IstioCertificateRequest, type IstioCertificateResponse } from '../../src/security/ca-service.js';
import { createCsrSync, generateKeyPair } from '../../src/security/x509.js';
import { cpuSeconds } from '../lib/procfs.js';
import { packageRoot } from '../xds/control.js';

export interface CaBenchResult { mode: string; csrs: number; seconds: number; perSecond: number; cpuMsPerCsr: number; errors: number }

const Ctor = makeGenericClientConstructor(caServiceDefinition, 'ca');

async function drive(port: number, bundle: string, o: { seconds: number; clients: number; inflight: number; token?: string }, pid: number, mode: string): Promise<CaBenchResult> {
  const csrs = Array.from({ length: 64 }, (_, i) => createCsrSync(generateKeyPair(), `spiffe://cluster.local/ns/bench/sa/sa-${o.token === undefined ? i % 8 : 0}`));
  const clients: Client[] = Array.from({ length: o.clients }, () => new Ctor(`127.0.0.1:${port}`, credentials.createSsl(Buffer.from(bundle)), { 'grpc.ssl_target_name_override': 'weft-control', 'grpc.default_authority': 'weft-control' }));
  const md = new Metadata();
  if (o.token !== undefined) md.set('authorization', `Bearer ${o.token}`);
  const call = (c: Client, csr: string) => new Promise<void>((resolve, reject) => {
    (c as unknown as { CreateCertificate(r: IstioCertificateRequest, m: Metadata, cb: (e: Error | null, r?: IstioCertificateResponse) => void): void })
      .CreateCertificate({ csr }, md, (e) => (e === null ? resolve() : reject(e)));
  });
  // Warm-up: connections, JIT.
  await Promise.all(clients.flatMap((c) => csrs.slice(0, 8).map((csr) => call(c, csr))));
  let done = 0, errors = 0, running = true, n = 0;
  const cpu0 = cpuSeconds([pid]);
  const t0 = performance.now();
  const loop = async (c: Client) => { while (running) { try { await call(c, csrs[n++ % csrs.length]!); done++; } catch { errors++; } } };
  const loops = clients.flatMap((c) => Array.from({ length: o.inflight }, () => loop(c)));
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  running = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds([pid]) - cpu0;
  await Promise.all(loops);
  for (const c of clients) c.close();
  return { mode, csrs: done, seconds, perSecond: done / seconds, cpuMsPerCsr: (cpu * 1000) / Math.max(1, done), errors };
}

export async function runCaBench(o: { seconds: number; clients: number; inflight: number }): Promise<CaBenchResult[]> {
  const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
  const child = spawn(process.execPath, [...(process.env.WEFT_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), cli, 'control', '--xds-port', '0', '--http-port', '0', '--ca-port', '0', '--insecure-xds', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  try {
    const m = await new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setInterval(() => {
        const mm = /HTTP API on 127\.0\.0\.1:(\d+).*CA on 127\.0\.0\.1:(\d+)/.exec(out);
        if (mm !== null) { clearInterval(timer); resolve(mm); }
        if (child.exitCode !== null) { clearInterval(timer); reject(new Error(`weft control exited:\n${out}`)); }
      }, 50);
    });
    const http = `http://127.0.0.1:${m[1]}`;
    const caPort = Number(m[2]);
    const bundle = await (await fetch(`${http}/api/v1/ca/root`)).text();
    const { token } = await (await fetch(`${http}/v1/tokens`, { method: 'POST', body: JSON.stringify({ namespace: 'bench', serviceAccount: 'sa-0' }) })).json() as { token: string };
    const results = [await drive(caPort, bundle, o, child.pid!, 'loopback (no token)')];
    // With a token: every CSR must name the token's identity.
    const tokenO = { ...o, token };
    const r = await drive(caPort, bundle, tokenO, child.pid!, 'token (ES256 verify per call)');
    results.push(r);
    return results;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

const isMain = process.argv[1]?.endsWith('/bench/scenarios/ca.js');
if (isMain) {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, clients: { type: 'string', default: '4' }, inflight: { type: 'string', default: '8' } } });
  const results = await runCaBench({ seconds: Number(values.seconds), clients: Number(values.clients), inflight: Number(values.inflight) });
  console.log('| callers | CSRs | CSRs/s | control CPU ms/CSR | errors |\n|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.mode} | ${r.csrs} | ${r.perSecond.toFixed(0)} | ${r.cpuMsPerCsr.toFixed(3)} | ${r.errors} |`);
}
