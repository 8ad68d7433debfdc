// Istio's ALPN markers on Weft's TLS listeners (Weft's server-side rule, src/proxy/tls/downstream.ts):
// a client offering only `istio-h2` / `istio-http/1.1` gets the marker back (instead of a fatal
// no_application_protocol alert) and the connection manager speaks the protocol it stands for,
// even where codec_type says otherwise; Istio's real offer (`istio-h2, istio, h2`) gets `h2`; a
// TCP-style offer (`istio-peer-exchange, istio`) gets `istio`; ALPN `h2` vs none after TLS. A
// PERMISSIVE-like listener (tls_inspector + http_inspector, one mTLS chain matching the markers,
// one plaintext chain) sends `openssl s_client -alpn istio-http/1.1` to the mTLS chain and plain
// curl to the plaintext one. A Weft client cluster offering `istio-h2` with HTTP/2 (or auto_config,
// which takes the marker for h2) speaks h2 to a Weft inbound.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { makePki, type LeafFiles, type TestPki } from '../helpers/certs.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { bootstrap, cluster, direct, hcm, listener, request, toCluster, UPSTREAM_HTTP_OPTIONS_KEY, type Obj } from '../helpers/bootstrap.js';
import { curl, sClient } from '../helpers/tls-clients.js';

const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const TLS_INSPECTOR = { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } };
const HTTP_INSPECTOR = { name: 'envoy.filters.listener.http_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector' } };

let pki: TestPki;
let server: LeafFiles;
let client: LeafFiles;
before(async () => {
  pki = await makePki();
  server = await pki.issue('server', { sans: ['URI:spiffe://cluster.local/ns/default/sa/server', 'DNS:localhost'] });
  client = await pki.issue('client', { sans: ['URI:spiffe://cluster.local/ns/default/sa/client'] });
});
after(() => pki.close());

const certOf = (f: LeafFiles): Obj => ({ certificate_chain: { filename: f.cert }, private_key: { filename: f.key } });

/** Istio's inbound mTLS context: client certificate required, alpn h2 + http/1.1. */
function inboundMtls(alpn: string[] = ['h2', 'http/1.1']): Obj {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': DOWNSTREAM_TLS,
      require_client_certificate: true,
      common_tls_context: { tls_certificates: [certOf(server)], validation_context: { trusted_ca: { filename: pki.cert } }, alpn_protocols: alpn },
    },
  };
}

/** An HCM answering `who` and the HTTP version it heard. */
function answering(who: string, extra: Obj = {}): Obj {
  return hcm({ statPrefix: who, routes: [direct({ prefix: '/' }, who)], extra });
}

async function mtlsListener(t: { after(fn: () => Promise<void> | void): void }, hcmExtra: Obj = {}): Promise<RunningProxy> {
  const p = await startProxy(bootstrap({ listeners: [listener({ chains: [{ filters: [answering('mtls', hcmExtra)], transport_socket: inboundMtls() }] })] }));
  t.after(() => p.close());
  return p;
}

/** A client TLS connection with a client certificate offering `alpn`; resolves with the socket or the error. */
function connect(port: number, alpn: string[] | null): Promise<tls.TLSSocket | Error> {
  return new Promise((resolve) => {
    const s = tls.connect({
      host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(pki.cert),
      cert: readFileSync(client.cert), key: readFileSync(client.key),
      ...(alpn ? { ALPNProtocols: alpn } : {}),
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', (e) => resolve(e));
  });
}

/** One HTTP/1.1 GET on an established socket; the response text. */
function h1Get(s: tls.TLSSocket): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    s.on('data', (d: Buffer) => { data += d.toString(); });
    s.on('close', () => resolve(data));
    s.on('error', () => { /* close follows */ });
    s.end('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  });
}

/** One HTTP/2 GET on an established socket; status and body. */
async function h2Get(s: tls.TLSSocket): Promise<{ status: number; body: string }> {
  const session = http2.connect('https://localhost', { createConnection: () => s });
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ':path': '/' });
      let body = '';
      let status = 0;
      req.on('response', (h) => { status = Number(h[':status']); });
      req.on('data', (d: Buffer) => { body += d.toString(); });
      req.on('end', () => resolve({ status, body }));
      req.on('error', reject);
      req.end();
    });
  } finally {
    session.close();
    s.destroy();
  }
}

test('istio-h2 alone: the marker is selected and the connection manager speaks HTTP/2', async (t) => {
  const p = await mtlsListener(t);
  const s = await connect(p.port, ['istio-h2']);
  assert.ok(!(s instanceof Error), `handshake: ${(s as Error).message}`);
  assert.equal(s.alpnProtocol, 'istio-h2');
  assert.deepEqual(await h2Get(s), { status: 200, body: 'mtls' });
});

test('istio-http/1.1 alone: the marker is selected and the connection manager speaks HTTP/1.1, even with codec_type HTTP2', async (t) => {
  const p = await mtlsListener(t, { codec_type: 'HTTP2' });
  const s = await connect(p.port, ['istio-http/1.1']);
  assert.ok(!(s instanceof Error), `handshake: ${(s as Error).message}`);
  assert.equal(s.alpnProtocol, 'istio-http/1.1');
  assert.match(await h1Get(s), /^HTTP\/1\.1 200 [^]*mtls$/);
});

test('istio-h2 with codec_type HTTP1: the marker decides, HTTP/2', async (t) => {
  const p = await mtlsListener(t, { codec_type: 'HTTP1' });
  const s = await connect(p.port, ['istio-h2']);
  assert.ok(!(s instanceof Error), `handshake: ${(s as Error).message}`);
  assert.deepEqual(await h2Get(s), { status: 200, body: 'mtls' });
});

test("Istio's full offer (istio-h2, istio, h2) gets h2; TCP markers get istio; ALPN none or h2 pick the codec; an unrelated offer fails as before", async (t) => {
  const p = await mtlsListener(t);
  const full = await connect(p.port, ['istio-h2', 'istio', 'h2']);
  assert.ok(!(full instanceof Error));
  assert.equal(full.alpnProtocol, 'h2');
  assert.deepEqual(await h2Get(full), { status: 200, body: 'mtls' });

  const tcp = await connect(p.port, ['istio-peer-exchange', 'istio']);
  assert.ok(!(tcp instanceof Error), `handshake: ${(tcp as Error).message}`);
  assert.equal(tcp.alpnProtocol, 'istio');
  assert.match(await h1Get(tcp), /^HTTP\/1\.1 200 [^]*mtls$/, 'no HTTP ALPN: codec_type AUTO sniffs HTTP/1.1');

  const none = await connect(p.port, null);
  assert.ok(!(none instanceof Error));
  assert.equal(none.alpnProtocol, false);
  assert.deepEqual(await h2Get(none), { status: 200, body: 'mtls' }, 'no ALPN: AUTO takes the HTTP/2 preface');
  const none1 = await connect(p.port, null);
  assert.ok(!(none1 instanceof Error));
  assert.match(await h1Get(none1), /^HTTP\/1\.1 200 /);

  const h2 = await connect(p.port, ['h2']);
  assert.ok(!(h2 instanceof Error));
  assert.equal(h2.alpnProtocol, 'h2');
  assert.deepEqual(await h2Get(h2), { status: 200, body: 'mtls' });

  const other = await connect(p.port, ['spdy/3']);
  assert.ok(other instanceof Error);
  assert.match(String((other as NodeJS.ErrnoException).code), /NO_APPLICATION_PROTOCOL/);
});

test('PERMISSIVE-like listener: openssl s_client -alpn istio-http/1.1 reaches the mTLS chain, plain curl the plaintext chain', async (t) => {
  const p = await startProxy(bootstrap({
    listeners: [{
      ...listener({
        chains: [
          {
            name: 'mtls-http',
            filter_chain_match: { transport_protocol: 'tls', application_protocols: ['istio-http/1.0', 'istio-http/1.1', 'istio-h2'] },
            filters: [answering('mtls')],
            transport_socket: inboundMtls(),
          },
          {
            name: 'plaintext-http',
            filter_chain_match: { transport_protocol: 'raw_buffer', application_protocols: ['http/1.1', 'http/1.0', 'h2c'] },
            filters: [answering('plain')],
          },
        ],
      }),
      listener_filters: [TLS_INSPECTOR, HTTP_INSPECTOR],
    }],
  }));
  t.after(() => p.close());
  const mesh = await sClient(p.port, ['-alpn', 'istio-http/1.1', '-servername', 'localhost', '-CAfile', pki.cert, '-cert', client.cert, '-key', client.key, '-quiet'],
    'GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  assert.match(mesh.stdout, /HTTP\/1\.1 200 [^]*mtls/, mesh.stderr);
  const plain = await curl(['-o', '-', `http://127.0.0.1:${p.port}/`]);
  assert.equal(plain.stdout, 'plain');
  const h2c = await curl(['--http2-prior-knowledge', '-o', '-', `http://127.0.0.1:${p.port}/`]);
  assert.equal(h2c.stdout, 'plain');
  // TLS without a mesh marker matches no chain (Istio would have a passthrough chain for it): closed.
  const nonMesh = await sClient(p.port, ['-alpn', 'http/1.1', '-servername', 'localhost', '-CAfile', pki.cert, '-cert', client.cert, '-key', client.key, '-quiet'],
    'GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  assert.doesNotMatch(nonMesh.stdout, /HTTP\/1\.1/);
  assert.equal(p.server.stats.value("listener.127.0.0.1_0.no_filter_chain_match"), 1);
});

for (const [label, protocol, alpn] of [
  ['HTTP/2', { explicit_http_config: { http2_protocol_options: {} } }, ['istio-h2']],
  ['auto_config (istio-h2 taken as h2)', { auto_config: {} }, ['istio-h2', 'istio-http/1.1']],
] as const) test(`a Weft cluster offering ${alpn.join(', ')} with ${label} speaks h2 to a Weft mTLS inbound`, async (t) => {
  const inbound = await mtlsListener(t);
  const out = await startProxy(bootstrap({
    listeners: [listener({ filter: hcm({ statPrefix: 'out', routes: [toCluster('/', 'mesh')] }) })],
    clusters: [cluster('mesh', [inbound.port], {
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': UPSTREAM_TLS, sni: 'localhost',
          common_tls_context: { tls_certificates: [certOf(client)], validation_context: { trusted_ca: { filename: pki.cert } }, alpn_protocols: [...alpn] },
        },
      },
      typed_extension_protocol_options: {
        [UPSTREAM_HTTP_OPTIONS_KEY]: { '@type': `type.googleapis.com/${UPSTREAM_HTTP_OPTIONS_KEY}`, ...protocol },
      },
    })],
  }));
  t.after(() => out.close());
  for (let i = 0; i < 3; i++) {
    const r = await request(out.port, '/');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'mtls');
  }
  assert.equal(out.server.stats.counter('cluster.mesh.upstream_cx_http2_total').value, 1, 'one multiplexed HTTP/2 connection');
  assert.equal(inbound.server.stats.counter('http.mtls.downstream_cx_http2_total').value, 1);
});
