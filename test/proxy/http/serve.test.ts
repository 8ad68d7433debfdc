// serveHttp picks the codec: HTTP/2 when TLS negotiated h2, HTTP/1.1 for http/1.1 (both with
// scheme https over TLS), and with AUTO on plaintext the client preface decides (detectProtocol).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import tls from 'node:tls';
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { parseBootstrapText } from '../../../src/envoy/text.js';
import { CompiledHcm } from '../../../src/proxy/http/hcm.js';
import { ClusterManager } from '../../../src/proxy/cluster/manager.js';
import { StatsStore } from '../../../src/observe/stats.js';
import { detectProtocol, serveHttp } from '../../../src/proxy/http/serve.js';
import type { HttpConnectionManagerConfig } from '../../../src/proxy/config/types.js';
import type { DownstreamConnectionHandle, HcmSlot } from '../../../src/proxy/listener/chain.js';
import { H2_PREFACE } from '../../../src/proxy/http/http2-downstream.js';
import { bootstrap, direct, hcm, listener } from '../../helpers/bootstrap.js';

test('detectProtocol: the full preface is HTTP/2, a partial one is undecided, anything else HTTP/1.1', () => {
  assert.equal(detectProtocol(H2_PREFACE), 'h2');
  assert.equal(detectProtocol(Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 0, 4])])), 'h2');
  assert.equal(detectProtocol(H2_PREFACE.subarray(0, 1)), null);
  assert.equal(detectProtocol(H2_PREFACE.subarray(0, 23)), null);
  assert.equal(detectProtocol(Buffer.from('GET / HTTP/1.1\r\n')), 'h1');
  assert.equal(detectProtocol(Buffer.from('PRI / HTTP/1.1\r\n')), 'h1');
  assert.equal(detectProtocol(Buffer.from('P')), null);
});

function compiled(): { slot: HcmSlot; stats: StatsStore } {
  const yaml = bootstrap({ listeners: [listener({ filter: hcm({ routes: [
    { match: { prefix: '/go' }, redirect: { path_redirect: '/gone' } },
    direct({ prefix: '/' }, 'over tls'),
  ] }) })] });
  const r = parseBootstrapText(yaml, 't.yaml', { baseDir: process.cwd() });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  const cfg = r.value.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerConfig;
  const stats = new StatsStore();
  return { slot: { kind: 'http', hcm: new CompiledHcm(cfg, new ClusterManager(stats), stats) }, stats };
}

test('HTTP/2 over TLS when ALPN chose h2: the scheme is https', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost']);
  const { slot, stats } = compiled();
  const conns = new Set<DownstreamConnectionHandle>();
  const server = tls.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')), ALPNProtocols: ['h2', 'http/1.1'] }, (socket) => {
    const alpn = socket.alpnProtocol || null;
    conns.add(serveHttp(socket, slot, { tls: true, serverName: null, alpn, transportProtocol: 'tls', applicationProtocols: [] }, 1 << 20,
      (c) => conns.delete(c)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { for (const c of conns) c.destroy(); server.close(() => r()); }));
  const port = (server.address() as AddressInfo).port;

  const session = http2.connect(`https://localhost:${port}`, { rejectUnauthorized: false });
  t.after(() => session.close());
  const get = (path: string) => new Promise<{ status: number; location: unknown; body: string }>((resolve, reject) => {
    const req = session.request({ ':path': path });
    let status = 0, location: unknown;
    let body = '';
    req.on('response', (h) => { status = Number(h[':status']); location = h.location; });
    req.setEncoding('utf8');
    req.on('data', (d: string) => { body += d; });
    req.on('end', () => resolve({ status, location, body }));
    req.on('error', reject);
  });
  const a = await get('/');
  assert.deepEqual([a.status, a.body], [200, 'over tls']);
  const b = await get('/go');
  assert.equal(b.status, 301);
  assert.equal(b.location, `https://localhost:${port}/gone`);
  assert.equal(stats.counter('http.ingress.downstream_cx_http2_total', 'http_downstream_cx_http2_total', { envoy_http_conn_manager_prefix: 'ingress' }).value, 1);

  // An HTTP/1.1 client on the same TLS listener gets the HTTP/1.1 codec.
  const h1 = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
  t.after(() => h1.destroy());
  await once(h1, 'secureConnect');
  assert.equal(h1.alpnProtocol, 'http/1.1');
  h1.end('GET /go HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  let text = '';
  h1.on('data', (d: Buffer) => { text += d.toString(); });
  await once(h1, 'end');
  assert.match(text, /^HTTP\/1\.1 301 Moved Permanently\r\n/);
  assert.match(text, /\r\nlocation: https:\/\/x\/gone\r\n/i, 'the HTTP/1.1 codec takes the scheme from the facts too');
});
