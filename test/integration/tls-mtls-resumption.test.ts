// mTLS between two Weft proxies (Envoy's double-proxy example: front proxy → TLS with a client
// certificate → back proxy requiring one → plain upstream), one request per connection so every
// request makes a new TLS connection that offers the previous session; and TLS session resumption
// against a listener with require_client_certificate, driven by `openssl s_client -sess_out/-sess_in`
// (refused clients' sessions stay refused); the upstream side against a server that cannot resume,
// and the cluster `ssl.*` stats.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, type LeafFiles, type TestPki } from '../helpers/certs.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { bootstrap, cluster, hcm, listener, request, toCluster, direct, type Obj } from '../helpers/bootstrap.js';
import { startUpstream } from '../helpers/upstream.js';
import { sClient } from '../helpers/tls-clients.js';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import net from 'node:net';
import { parseBootstrapText } from '../../src/envoy/text.js';
import { setSink } from '../../src/observe/logger.js';

const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

let pki: TestPki;
let backProxyCert: LeafFiles;
let frontProxyCert: LeafFiles;
let rogueClient: LeafFiles;

before(async () => {
  pki = await makePki();
  backProxyCert = await pki.issue('back-proxy', { sans: ['DNS:back.weft.test'] });
  frontProxyCert = await pki.issue('front-proxy', { sans: ['URI:spiffe://weft.test/front'] });
  const rogue = await pki.otherCa('rogue-ca');
  rogueClient = await rogue.issue('rogue-client', { sans: ['URI:spiffe://weft.test/front'] });
});
after(() => pki.close());

const certOf = (f: LeafFiles): Obj => ({ certificate_chain: { filename: f.cert }, private_key: { filename: f.key } });
type Version = 'TLSv1_2' | 'TLSv1_3';

/** The back proxy: TLS listener requiring a client certificate from `pki`'s CA, routing to `upstreamPort`. */
function backProxy(upstreamPort: number, version: Version | null): string {
  return bootstrap({
    listeners: [listener({
      name: 'back',
      chains: [{
        filters: [hcm({ statPrefix: 'back', routes: [toCluster('/', 'app')] })],
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            '@type': DOWNSTREAM_TLS,
            require_client_certificate: true,
            common_tls_context: {
              tls_certificates: [certOf(backProxyCert)],
              validation_context: {
                trusted_ca: { filename: pki.cert },
                match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://weft.test/front' } }],
              },
              ...(version !== null ? { tls_params: { tls_minimum_protocol_version: version, tls_maximum_protocol_version: version } } : {}),
            },
          },
        },
      }],
    })],
    clusters: [cluster('app', [upstreamPort])],
  });
}

/** The front proxy: plain listener, cluster `back` over mTLS, one request per upstream connection. */
function frontProxy(backPort: number, version: Version): string {
  return bootstrap({
    listeners: [listener({ name: 'front', filter: hcm({ statPrefix: 'front', routes: [toCluster('/', 'back')] }) })],
    clusters: [cluster('back', [backPort], {
      max_requests_per_connection: 1,
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': UPSTREAM_TLS,
          sni: 'back.weft.test',
          common_tls_context: {
            tls_certificates: [certOf(frontProxyCert)],
            validation_context: {
              trusted_ca: { filename: pki.cert },
              match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'back.weft.test' } }],
            },
            tls_params: { tls_minimum_protocol_version: version, tls_maximum_protocol_version: version },
          },
        },
      },
    })],
  });
}

for (const version of ['TLSv1_2', 'TLSv1_3'] as const) {
  test(`double proxy over mTLS (${version}): 20 requests, each on a new TLS connection, all succeed`, async (t) => {
    const app = await startUpstream((_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('app'); });
    t.after(() => app.close());
    const back: RunningProxy = await startProxy(backProxy(app.port, version));
    t.after(() => back.close());
    const front: RunningProxy = await startProxy(frontProxy(back.port, version));
    t.after(() => front.close());
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await request(front.port, `/r${i}`, { headers: { connection: 'close' } });
      statuses.push(r.status);
    }
    assert.deepEqual(statuses, Array(20).fill(200));
    const stat = (n: string) => back.server.stats.value(`listener.127.0.0.1_0.ssl.${n}`) ?? 0;
    assert.equal(stat('handshake'), 20);
    assert.equal(stat('connection_error'), 0);
    // The front proxy offers the last session of the back proxy on each new connection, and it resumes.
    assert.ok(stat('session_reused') >= 15, `session_reused ${stat('session_reused')}`);
    assert.equal(front.server.stats.value('cluster.back.upstream_cx_total'), 20);
  });
}

for (const [version, flag] of [['TLSv1.2', '-tls1_2'], ['TLSv1.3', '-tls1_3']] as const) {
  test(`openssl s_client resumption (${version}) against require_client_certificate: a verified session resumes, a refused one stays refused`, async (t) => {
    const back = await startProxy(bootstrap({
      listeners: [listener({
        name: 'back',
        chains: [{
          filters: [hcm({ statPrefix: 'back', routes: [direct({ prefix: '/' }, 'resumed-ok')] })],
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': DOWNSTREAM_TLS,
              require_client_certificate: true,
              common_tls_context: {
                tls_certificates: [certOf(backProxyCert)],
                validation_context: { trusted_ca: { filename: pki.cert } },
              },
            },
          },
        }],
      })],
    }));
    t.after(() => back.close());
    const stat = (n: string) => back.server.stats.value(`listener.127.0.0.1_0.ssl.${n}`) ?? 0;
    const req = 'GET / HTTP/1.1\r\nHost: back\r\nConnection: close\r\n\r\n';
    const good = pki.file(`good-${version}.sess`);
    const first = await sClient(back.port, [flag, '-cert', frontProxyCert.cert, '-key', frontProxyCert.key, '-sess_out', good], req);
    assert.match(first.stdout, /HTTP\/1\.1 200[\s\S]*resumed-ok/);
    assert.match(first.stdout, /^New,/m);
    // The same session again, without presenting a certificate this time: resumed, and accepted.
    const again = await sClient(back.port, [flag, '-sess_in', good], req);
    assert.match(again.stdout, /^Reused,/m, again.stdout + again.stderr);
    assert.match(again.stdout, /HTTP\/1\.1 200[\s\S]*resumed-ok/);
    assert.equal(stat('session_reused'), 1);
    assert.equal(stat('handshake'), 2);

    // A client with a certificate from another CA, and one with no certificate, are refused. Should
    // either have received a session before the proxy closed, offering it later (with no
    // certificate) must be refused as well.
    const logged: string[] = [];
    const prevSink = setSink((line) => { logged.push(line); });
    t.after(() => setSink(prevSink));
    let refusedHandshakes = 2;
    for (const [who, cert] of [['rogue', rogueClient], ['no certificate', null]] as const) {
      const refused = await nodeTls(back.port, version, cert, undefined);
      assert.equal(refused.response, '', who);
      if (refused.session === null) continue;
      refusedHandshakes++;
      const resumed = await nodeTls(back.port, version, null, refused.session);
      assert.equal(resumed.response, '', `${who}: a resumed refused session is refused`);
    }
    assert.equal(stat('handshake'), 2);
    assert.equal(stat('session_reused'), 1);
    assert.equal(stat('connection_error'), refusedHandshakes);
    assert.ok(stat('fail_verify_error') >= 1 && stat('fail_verify_no_cert') >= 1);
    // The refusal is logged with its reason (rate-limited: the first one of the listener).
    assert.ok(logged.some((l) => /\[info\]\[tls\] TLS client 127\.0\.0\.1:\d+ refused: certificate verification failed: \w+/.test(l)), logged.join(''));
    setSink(prevSink);

    // The verified session, offered after the listener's rules changed (a reload that only accepts
    // another SAN), does not get around them: no resumption, and without a certificate, refused.
    const stricter = bootstrap({
      listeners: [listener({
        name: 'back',
        chains: [{
          filters: [hcm({ statPrefix: 'back', routes: [direct({ prefix: '/' }, 'resumed-ok')] })],
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': DOWNSTREAM_TLS,
              require_client_certificate: true,
              common_tls_context: {
                tls_certificates: [certOf(backProxyCert)],
                validation_context: {
                  trusted_ca: { filename: pki.cert },
                  match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://weft.test/someone-else' } }],
                },
              },
            },
          },
        }],
      })],
    });
    const parsed = parseBootstrapText(stricter, 'stricter.yaml', { baseDir: process.cwd() });
    assert.ok(parsed.ok);
    await back.server.applyConfig(parsed.value);
    const stale = await sClient(back.port, [flag, '-sess_in', good], req);
    assert.doesNotMatch(stale.stdout, /HTTP\/1\.1/);
    assert.doesNotMatch(stale.stdout, /^Reused,/m);
    assert.equal(stat('session_reused'), 1);
    assert.equal(stat('handshake'), 2);
  });
}

/**
 * One GET on a new TLS connection with node:tls (optionally a client certificate and a session to
 * resume); resolves with the response ('' when the server closed without one), whether the
 * session was resumed, and the last session the server gave (null when none).
 */
function nodeTls(port: number, version: 'TLSv1.2' | 'TLSv1.3', cert: LeafFiles | null, session: Buffer | null | undefined):
    Promise<{ response: string; reused: boolean; session: Buffer | null }> {
  return new Promise((resolve) => {
    let response = '';
    let reused = false;
    let got: Buffer | null = null;
    const s = tls.connect({
      host: '127.0.0.1', port, minVersion: version, maxVersion: version, rejectUnauthorized: false,
      ...(cert !== null ? { cert: readFileSync(cert.cert), key: readFileSync(cert.key) } : {}),
      ...(session ? { session } : {}),
    }, () => {
      reused = s.isSessionReused();
      s.write('GET / HTTP/1.1\r\nHost: back\r\nConnection: close\r\n\r\n');
    });
    s.on('session', (b: Buffer) => { got = b; });
    s.on('data', (d: Buffer) => { response += d.toString('latin1'); });
    s.on('error', () => { /* 'close' follows */ });
    s.on('close', () => resolve({ response, reused, session: got }));
  });
}

test('upstream TLS against a server that fails resumed handshakes: one failed connection, then full handshakes (ssl.connection_error counted)', async (t) => {
  // What Weft's listeners did before they had a session id context: a TLS server requesting a
  // client certificate, built without tls.Server, fails every resumed handshake with an alert.
  const ctx = tls.createSecureContext({ cert: readFileSync(backProxyCert.cert), key: readFileSync(backProxyCert.key), ca: readFileSync(pki.cert) });
  let full = 0;
  const server = net.createServer((sock) => {
    const s = new tls.TLSSocket(sock, { isServer: true, secureContext: ctx, requestCert: true, rejectUnauthorized: true });
    s.on('error', () => sock.destroy());
    s.once('secure', () => {
      if (!s.isSessionReused()) full++;
      s.on('data', () => s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok'));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const front = await startProxy(frontProxy((server.address() as net.AddressInfo).port, 'TLSv1_2'));
  t.after(() => front.close());
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) statuses.push((await request(front.port, `/r${i}`, { headers: { connection: 'close' } })).status);
  // The second connection offers the first session and fails; from then on, full handshakes.
  assert.deepEqual(statuses, [200, 503, 200, 200, 200, 200, 200, 200, 200, 200]);
  assert.equal(full, 9);
  assert.equal(front.server.stats.value('cluster.back.ssl.connection_error'), 1);
  assert.equal(front.server.stats.value('cluster.back.ssl.handshake'), 9);
  assert.equal(front.server.stats.value('cluster.back.ssl.session_reused'), 0);
});

test('upstream TLS verification failures are counted: cluster ssl.fail_verify_san / fail_verify_error', async (t) => {
  const app = await startUpstream((_req, res) => { res.writeHead(200); res.end('app'); });
  t.after(() => app.close());
  const back = await startProxy(backProxy(app.port, null));
  t.after(() => back.close());
  // The front proxy expects another SAN: the server certificate is refused.
  const yaml = frontProxy(back.port, 'TLSv1_2').replace('exact: back.weft.test', 'exact: other.weft.test');
  const front = await startProxy(yaml);
  t.after(() => front.close());
  assert.equal((await request(front.port, '/', { headers: { connection: 'close' } })).status, 503);
  assert.equal(front.server.stats.value('cluster.back.ssl.fail_verify_san'), 1);
  assert.equal(front.server.stats.value('cluster.back.ssl.connection_error'), 1);
});
