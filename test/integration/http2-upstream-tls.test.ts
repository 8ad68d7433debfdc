// HTTP/2 to upstreams over TLS (UpstreamTlsContext + HttpProtocolOptions): ALPN `h2` selects the
// HTTP/2 session pool (`:scheme` https), auto_config falls back to HTTP/1.1 for a host that
// negotiates only `http/1.1`, and explicit HTTP/2 over TLS multiplexes requests on one session.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type tls from 'node:tls';
import { makePki, type LeafFiles, type TestPki } from '../helpers/certs.js';
import { startProxy } from '../helpers/proxy.js';
import { cluster, parallel, request, simple, toCluster, UPSTREAM_HTTP_OPTIONS_KEY, type Obj } from '../helpers/bootstrap.js';

type T = { after(fn: () => Promise<void> | void): void };
const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

let pki: TestPki;
let backend: LeafFiles;
before(async () => {
  pki = await makePki();
  backend = await pki.issue('backend', { sans: ['DNS:backend.internal'] });
});
after(() => pki.close());

interface Seen { version: string; scheme: string | undefined; alpn: string | false; authority: string | undefined }

/** A TLS server offering h2 (unless `h1Only`) and http/1.1, answering with the protocol it saw. */
async function startTlsServer(t: T, h1Only = false): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const opts = { cert: readFileSync(backend.cert), key: readFileSync(backend.key) };
  const handler = (req: http2.Http2ServerRequest | import('node:http').IncomingMessage, res: http2.Http2ServerResponse | import('node:http').ServerResponse) => {
    const s = req.socket as tls.TLSSocket;
    seen.push({
      version: req.httpVersion, alpn: s.alpnProtocol ?? false,
      scheme: (req.headers as Record<string, string>)[':scheme'], authority: (req.headers as Record<string, string>)[':authority'],
    });
    (res as import('node:http').ServerResponse).writeHead(200, { 'content-type': 'text/plain' });
    res.end(`v${req.httpVersion}`);
  };
  const server = h1Only
    ? https.createServer(opts, handler)
    : http2.createSecureServer({ ...opts, allowHTTP1: true }, handler);
  const sockets = new Set<import('node:net').Socket>();
  server.on('secureConnection', (s: import('node:net').Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return { port: (server.address() as AddressInfo).port, seen };
}

function tlsCluster(port: number, protocol: Obj): Obj {
  return cluster('up', [port], {
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: { '@type': UPSTREAM_TLS, sni: 'backend.internal', common_tls_context: { validation_context: { trusted_ca: { filename: pki.cert } } } },
    },
    typed_extension_protocol_options: {
      [UPSTREAM_HTTP_OPTIONS_KEY]: { '@type': `type.googleapis.com/${UPSTREAM_HTTP_OPTIONS_KEY}`, ...protocol },
    },
  });
}

async function proxyTo(t: T, c: Obj) {
  const px = await startProxy(simple({ routes: [toCluster('/', 'up')], clusters: [c] }));
  t.after(() => px.close());
  return px;
}

test('auto_config over TLS: ALPN h2 selects HTTP/2 (:scheme https), requests share one session', async (t) => {
  const up = await startTlsServer(t);
  const px = await proxyTo(t, tlsCluster(up.port, { auto_config: { http2_protocol_options: {} } }));
  const replies = await parallel(6, 6, () => request(px.port, '/a', { headers: { host: 'svc.example' } }));
  assert.deepEqual(replies.map((r) => r.body), new Array(6).fill('v2.0'));
  assert.ok(up.seen.every((s) => s.alpn === 'h2' && s.scheme === 'https' && s.authority === 'svc.example'));
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_http2_total'), 1);
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_total'), 1);
});

test('auto_config over TLS: a host that negotiates only http/1.1 is served over HTTP/1.1', async (t) => {
  const up = await startTlsServer(t, true);
  const px = await proxyTo(t, tlsCluster(up.port, { auto_config: { http2_protocol_options: {} } }));
  for (let i = 0; i < 2; i++) assert.equal((await request(px.port, '/b')).body, 'v1.1');
  assert.ok(up.seen.every((s) => s.version === '1.1' && s.alpn === 'http/1.1'));
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_http2_total') ?? 0, 0);
});

test('explicit HTTP/2 over TLS: a POST body and the response come through the TLS session', async (t) => {
  const up = await startTlsServer(t);
  const px = await proxyTo(t, tlsCluster(up.port, { explicit_http_config: { http2_protocol_options: {} } }));
  const r = await request(px.port, '/c', { method: 'POST', body: 'x'.repeat(100_000) });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'v2.0');
  assert.equal(up.seen[0]!.alpn, 'h2');
});
