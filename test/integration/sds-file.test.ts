// SDS from a file (sds_config.path_config_source) on a listener: openssl sees the certificate and
// its SPIFFE SAN; rewriting the file rotates the certificate for new connections while an open
// keep-alive connection keeps working; a bad file keeps the previous secret (update_rejected);
// admin /certs lists the SDS certificate; /ready is 503 until the secret is there.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import http from 'node:http';
import tls from 'node:tls';
import { makePki, type LeafFiles, type TestPki } from '../helpers/certs.js';
import { startProxy } from '../helpers/proxy.js';
import { bootstrap, direct, hcm, listener, type Obj } from '../helpers/bootstrap.js';
import { fingerprintOf, sClient, tlsGet } from '../helpers/tls-clients.js';
import { waitUntil } from '../helpers/adversarial.js';
import { certSecret, fileSds, writeSdsFile } from '../helpers/sds.js';

const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const downstreamTls = (common: Obj): Obj => ({ name: 'envoy.transport_sockets.tls', typed_config: { '@type': DOWNSTREAM_TLS, common_tls_context: common } });
const answer = (body: string): Obj => hcm({ statPrefix: 'sds', routes: [direct({ prefix: '/' }, body)] });

let pki: TestPki;
let first: LeafFiles;
let second: LeafFiles;

before(async () => {
  pki = await makePki();
  first = await pki.issue('sds-1', { sans: ['URI:spiffe://cluster.local/ns/default/sa/web'] });
  second = await pki.issue('sds-2', { sans: ['URI:spiffe://cluster.local/ns/default/sa/web'] });
});
after(() => pki.close());

function adminGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

test('a listener certificate from an SDS file: served, rotated for new connections only, a bad file keeps it, /certs lists it', async (t) => {
  const file = pki.file('sds-server.json');
  writeSdsFile(file, [certSecret('server_cert', first)], '1');
  const px = await startProxy(bootstrap({
    admin: true,
    listeners: [listener({ chains: [{ filters: [answer('sds')], transport_socket: downstreamTls({ tls_certificate_sds_secret_configs: [fileSds('server_cert', file)] }) }] })],
  }));
  t.after(() => px.close());
  const fp1 = await fingerprintOf(first.cert);
  const fp2 = await fingerprintOf(second.cert);
  await waitUntil(async () => (await adminGet(px.adminPort, '/ready')).status === 200, 5000, '/ready');

  // openssl sees the certificate with its SPIFFE URI SAN and the chain to the CA.
  const s = await sClient(px.port, ['-CAfile', pki.cert, '-showcerts'], 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.match(s.stdout, /Verify return code: 0 \(ok\)/);
  assert.match(s.subject ?? '', /CN ?= ?sds-1/);
  assert.equal((await tlsGet(px.port, {})).fingerprint, fp1);

  // A keep-alive connection made with the first certificate.
  const kept = tls.connect({ host: '127.0.0.1', port: px.port, rejectUnauthorized: false });
  t.after(() => kept.destroy());
  let keptData = '';
  kept.on('data', (d: Buffer) => { keptData += d.toString(); });
  await new Promise<void>((r) => kept.once('secureConnect', () => r()));
  kept.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await waitUntil(() => (keptData.match(/sds/g) ?? []).length >= 1, 5000, 'first response on the kept connection');

  writeSdsFile(file, [certSecret('server_cert', second)], '2');
  await waitUntil(async () => (await tlsGet(px.port, {})).fingerprint === fp2, 5000, 'new handshakes use the rotated certificate');
  assert.equal(px.server.stats.value('sds.server_cert.update_success'), 2);
  assert.equal(px.server.stats.value('listener.127.0.0.1_0.server_ssl_socket_factory.ssl_context_update_by_sds'), 1);

  kept.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await waitUntil(() => (keptData.match(/sds/g) ?? []).length >= 2, 5000, 'second response on the kept connection');
  assert.equal(kept.getPeerCertificate().fingerprint256, fp1, 'the open connection keeps its certificate');

  // A bad file (the key does not match the certificate): rejected, the second certificate stays.
  writeSdsFile(file, [{ ...certSecret('server_cert', first), tls_certificate: { ...(certSecret('server_cert', first).tls_certificate as Obj), private_key: (certSecret('server_cert', second).tls_certificate as Obj).private_key } }], '3');
  await waitUntil(() => (px.server.stats.value('sds.server_cert.update_rejected') ?? 0) >= 1, 5000, 'update_rejected');
  // Garbage: not even parseable.
  writeSdsFile(file, [], '4');
  rmSync(file);
  await waitUntil(() => (px.server.stats.value('sds.server_cert.update_failure') ?? 0) >= 1, 5000, 'update_failure');
  assert.equal((await tlsGet(px.port, {})).fingerprint, fp2, 'a bad file keeps the previous certificate');

  // /certs: the SDS certificate, by name, with its serial, SAN and expiry; config_dump redacts the key.
  const certs = JSON.parse((await adminGet(px.adminPort, '/certs')).body) as { certificates: { cert_chain: Obj[] }[] };
  const chain = certs.certificates[0]!.cert_chain[0]!;
  assert.equal(chain.path, 'sds:server_cert');
  assert.deepEqual(chain.subject_alt_names, [{ uri: 'spiffe://cluster.local/ns/default/sa/web' }]);
  assert.equal(chain.serial_number, new (await import('node:crypto')).X509Certificate(await import('node:fs').then((f) => f.readFileSync(second.cert))).serialNumber.toLowerCase());
  assert.ok(Number(chain.days_until_expiration) >= 1);
  const dump = (await adminGet(px.adminPort, '/config_dump')).body;
  assert.match(dump, /SecretsConfigDump/);
  assert.match(dump, /\[redacted\]/);
  assert.doesNotMatch(dump, /PRIVATE KEY/);
});

test('readiness: /ready is 503 and handshakes fail until the SDS secret exists, then both work', async (t) => {
  const file = pki.file('sds-late.json');
  rmSync(file, { force: true });
  const px = await startProxy(bootstrap({
    admin: true,
    listeners: [listener({ chains: [{ filters: [answer('sds')], transport_socket: downstreamTls({ tls_certificate_sds_secret_configs: [fileSds('late', file)] }) }] })],
  }));
  t.after(() => px.close());
  assert.equal((await adminGet(px.adminPort, '/ready')).status, 503);
  const refused = await tlsGet(px.port, {});
  assert.equal(refused.fingerprint, null, 'no handshake without the secret');
  assert.equal(px.server.stats.value('listener.127.0.0.1_0.server_ssl_socket_factory.downstream_context_secrets_not_ready'), 1);
  assert.equal((await adminGet(px.adminPort, '/ready')).status, 503);
  writeSdsFile(file, [certSecret('late', first)]);
  await waitUntil(async () => (await adminGet(px.adminPort, '/ready')).status === 200, 5000, '/ready after the secret arrived');
  assert.equal((await tlsGet(px.port, {})).fingerprint, await fingerprintOf(first.cert));
});

test('an SDS initial_fetch_timeout releases readiness without the secret (handshakes still fail)', async (t) => {
  const file = pki.file('sds-never.json');
  rmSync(file, { force: true });
  const px = await startProxy(bootstrap({
    admin: true,
    listeners: [listener({ chains: [{ filters: [answer('sds')], transport_socket: downstreamTls({ tls_certificate_sds_secret_configs: [fileSds('never', file, { initial_fetch_timeout: '0.3s' })] }) }] })],
  }));
  t.after(() => px.close());
  await waitUntil(async () => (await adminGet(px.adminPort, '/ready')).status === 200, 5000, '/ready after the timeout');
  assert.equal(px.server.stats.value('sds.never.init_fetch_timeout'), 1);
  assert.equal((await tlsGet(px.port, {})).fingerprint, null);
});
