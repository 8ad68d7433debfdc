// TLS to upstreams end to end (UpstreamTlsContext on a cluster's transport_socket): SNI and SAN
// verification (a mismatch is a connect failure: 503 UF), no verification without a validation
// context (as in Envoy), a client certificate for an upstream that requires one (mTLS), and
// session resumption on the next connection to the same host.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { createServer as tlsCreateServer } from 'node:tls';
import type tls from 'node:tls';
import { makePki, type LeafFiles, type TestCa, type TestPki } from '../helpers/certs.js';
import { startProxy } from '../helpers/proxy.js';
import { cluster, eventually, settled, FILE_LOG_TYPE, request, simple, toCluster, waitForLines, type Obj } from '../helpers/bootstrap.js';

const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

let pki: TestPki;
let rogue: TestCa;
let backendCert: LeafFiles;
let rogueBackend: LeafFiles;
let proxyClient: LeafFiles;

before(async () => {
  pki = await makePki();
  backendCert = await pki.issue('backend', { sans: ['DNS:backend.internal', 'URI:spiffe://weft.test/ns/default/sa/backend'] });
  proxyClient = await pki.issue('proxy-client', { sans: ['URI:spiffe://weft.test/ns/default/sa/proxy'] });
  rogue = await pki.otherCa('rogue-ca');
  rogueBackend = await rogue.issue('rogue-backend', { sans: ['DNS:backend.internal'] });
});
after(() => pki.close());

interface Seen { servername: string | false; peerCn: string | null; reused: boolean; alpn: string | false }

/** An HTTPS upstream answering `ok` and recording what each TLS connection looked like. */
async function startTlsUpstream(t: { after(fn: () => Promise<void> | void): void }, cert: LeafFiles, opts: https.ServerOptions = {}): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = https.createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key), ...opts }, (req, res) => {
    const s = req.socket as tls.TLSSocket;
    const peer = s.getPeerCertificate();
    seen.push({ servername: (s as unknown as { servername: string | false }).servername, peerCn: peer && peer.subject ? String(peer.subject.CN ?? '') || null : null, reused: s.isSessionReused(), alpn: s.alpnProtocol ?? false });
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { port: (server.address() as AddressInfo).port, seen };
}

function upstreamTls(ctx: Obj): Obj {
  return { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': UPSTREAM_TLS, ...ctx } } };
}

test('verifies the upstream against trusted_ca and its SANs, sending the configured SNI', async (t) => {
  const up = await startTlsUpstream(t, backendCert);
  const px = await startProxy(simple({
    routes: [toCluster('/', 'backend')],
    clusters: [cluster('backend', [up.port], upstreamTls({
      sni: 'backend.internal',
      common_tls_context: {
        alpn_protocols: ['http/1.1'],
        validation_context: {
          trusted_ca: { filename: pki.cert },
          match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://weft.test/ns/default/sa/backend' } }],
        },
      },
    }))],
  }));
  t.after(() => px.close());
  const r = await request(px.port, '/hello');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'ok');
  assert.equal(up.seen[0]?.servername, 'backend.internal');
  assert.equal(up.seen[0]?.alpn, 'http/1.1');
});

test('an upstream whose certificate fails verification (SAN mismatch, untrusted CA) is a connect failure: 503 UF', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-tls-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logPath = join(dir, 'access.log');
  const good = await startTlsUpstream(t, backendCert);
  const untrusted = await startTlsUpstream(t, rogueBackend);
  const verify = (sans: Obj[]): Obj => upstreamTls({
    common_tls_context: { validation_context: { trusted_ca: { filename: pki.cert }, match_typed_subject_alt_names: sans } },
  });
  const px = await startProxy(simple({
    routes: [toCluster('/san', 'wrong-san'), toCluster('/ca', 'wrong-ca')],
    extra: { access_log: [{ name: 'file', typed_config: { '@type': FILE_LOG_TYPE, path: logPath, log_format: { text_format: '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\n' } } }] },
    clusters: [
      cluster('wrong-san', [good.port], verify([{ san_type: 'DNS', matcher: { exact: 'someone-else.internal' } }])),
      cluster('wrong-ca', [untrusted.port], verify([])),
    ],
  }));
  t.after(() => px.close());
  assert.equal((await request(px.port, '/san')).status, 503);
  assert.equal((await request(px.port, '/ca')).status, 503);
  const lines = await waitForLines(logPath, 2);
  assert.deepEqual(lines, ['/san 503 UF', '/ca 503 UF']);
  assert.equal(good.seen.length, 0);
  assert.ok((px.server.stats.value('cluster.wrong-san.upstream_cx_connect_fail') ?? 0) >= 1);
});

test('without a validation_context the upstream certificate is not verified (as in Envoy)', async (t) => {
  const up = await startTlsUpstream(t, rogueBackend);
  const px = await startProxy(simple({
    routes: [toCluster('/', 'backend')],
    clusters: [cluster('backend', [up.port], upstreamTls({}))],
  }));
  t.after(() => px.close());
  const r = await request(px.port, '/');
  assert.equal(r.status, 200);
  assert.equal(up.seen[0]?.servername, false, 'no sni configured: none sent');
});

test('mTLS origination: the client certificate satisfies an upstream that requires one; sessions are resumed', async (t) => {
  const up = await startTlsUpstream(t, backendCert, { requestCert: true, rejectUnauthorized: true, ca: readFileSync(pki.cert) });
  const cfg = (withCert: boolean): Obj => upstreamTls({
    sni: 'backend.internal',
    common_tls_context: {
      ...(withCert ? { tls_certificates: [{ certificate_chain: { filename: proxyClient.cert }, private_key: { filename: proxyClient.key } }] } : {}),
      validation_context: { trusted_ca: { filename: pki.cert } },
    },
  });
  const px = await startProxy(simple({
    routes: [toCluster('/without', 'without-cert'), toCluster('/with', 'with-cert')],
    clusters: [
      // One request per connection, so the second request makes a new (resumed) TLS connection.
      cluster('with-cert', [up.port], { ...cfg(true), max_requests_per_connection: 1 }),
      cluster('without-cert', [up.port], cfg(false)),
    ],
  }));
  t.after(() => px.close());
  assert.equal((await request(px.port, '/with')).status, 200);
  assert.equal((await request(px.port, '/with')).status, 200);
  assert.equal(up.seen.length, 2);
  assert.equal(up.seen[0]!.peerCn, 'proxy-client');
  assert.equal(up.seen[0]!.reused, false);
  assert.equal(up.seen[1]!.reused, true, 'the second connection resumes the first session');
  const refused = await request(px.port, '/without');
  assert.equal(refused.status, 503, JSON.stringify(up.seen));
  assert.equal(up.seen.length, 2);
});


test('a slow client stops a TLS upstream: the proxy pauses its reads (no onread on TLS sockets)', async (t) => {
  const total = 32 * 1024 * 1024;
  const block = Buffer.alloc(64 * 1024, 0x61);
  let written = 0;
  const server = https.createServer({ cert: readFileSync(backendCert.cert), key: readFileSync(backendCert.key) }, (_req, res) => {
    res.writeHead(200, { 'content-length': String(total) });
    const pump = (): void => {
      while (written < total) {
        written += block.length;
        if (!res.write(block)) { res.once('drain', pump); return; }
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const port = (server.address() as AddressInfo).port;
  const px = await startProxy(simple({ routes: [toCluster('/', 'backend')], clusters: [cluster('backend', [port], upstreamTls({}))] }));
  t.after(() => px.close());
  const client = net.connect(px.port, '127.0.0.1');
  t.after(() => client.destroy());
  await once(client, 'connect');
  client.write('GET /big HTTP/1.1\r\nhost: x\r\n\r\n');
  client.pause(); // read nothing: the proxy's socket buffer to us fills
  const stalledAt = await settled(() => written, 'the upstream to stall');
  assert.ok(stalledAt < total / 2, `the proxy held a bounded amount: the upstream wrote ${stalledAt} of ${total}`);
  let got = 0;
  client.on('data', (c: Buffer) => { got += c.length; });
  client.resume();
  await eventually(() => got >= total, 'the whole body', 30_000);
  assert.ok(got >= total);
});

test('an upgrade (WebSocket-style 101) through a TLS upstream is tunnelled both ways', async (t) => {
  const sockets = new Set<tls.TLSSocket>();
  const server = tlsCreateServer({ cert: readFileSync(backendCert.cert), key: readFileSync(backendCert.key) }, (s) => {
    sockets.add(s);
    s.once('data', () => {
      s.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n');
      s.on('data', (d: Buffer) => s.write(Buffer.from(d.toString().toUpperCase())));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  const port = (server.address() as AddressInfo).port;
  const px = await startProxy(simple({ routes: [toCluster('/', 'backend')], clusters: [cluster('backend', [port], upstreamTls({}))], extra: { upgrade_configs: [{ upgrade_type: 'websocket' }] } }));
  t.after(() => px.close());
  const client = net.connect(px.port, '127.0.0.1');
  t.after(() => client.destroy());
  await once(client, 'connect');
  client.write('GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n');
  let text = '';
  client.on('data', (d: Buffer) => { text += d.toString('latin1'); });
  await eventually(() => text.includes('\r\n\r\n'), 'the 101');
  assert.match(text, /^HTTP\/1\.1 101/);
  text = '';
  client.write('hello tunnel');
  await eventually(() => text === 'HELLO TUNNEL', 'the echo through the tunnel');
});
