// SDS over ADS (sds_config: {ads: {}}) with `weft proxy` as a child process against the fake ADS
// server, single process and with workers (the primary subscribes and forwards the secrets to its
// workers): the Secret is subscribed by name, /ready waits for it, the listener serves it, an update
// rotates it on every worker, and a bad one is NACKed (the last good one stays).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, before, after } from 'node:test';
import { cluster, direct, hcm, listener, request, type Obj } from '../helpers/bootstrap.js';
import { makePki, type LeafFiles, type TestPki } from '../helpers/certs.js';
import { startFakeAds } from '../helpers/fake-ads.js';
import { startWeft } from '../helpers/process.js';
import { fingerprintOf, tlsGet } from '../helpers/tls-clients.js';
import { waitUntil } from '../helpers/adversarial.js';
import { adsSds, certSecret, SECRET_TYPE } from '../helpers/sds.js';

let pki: TestPki;
let first: LeafFiles;
let second: LeafFiles;
before(async () => {
  pki = await makePki();
  first = await pki.issue('ads-1', { sans: ['DNS:ads.example.com'] });
  second = await pki.issue('ads-2', { sans: ['DNS:ads.example.com'] });
});
after(() => pki.close());

/** The Secret JSON without @type (the fake ADS server encodes by type URL). */
const secretJson = (name: string, f: LeafFiles): Obj => { const { '@type': _t, ...rest } = certSecret(name, f); return rest; };

for (const variant of [{ concurrency: 1, delta: false }, { concurrency: 2, delta: false }, { concurrency: 1, delta: true }]) {
  test(`SDS over ADS (${variant.delta ? 'delta' : 'state of the world'}, concurrency ${variant.concurrency}): subscribed by name, readiness waits, rotation, NACK`, async (t) => {
    const ads = await startFakeAds();
    t.after(() => ads.close());
    const dir = mkdtempSync(join(tmpdir(), 'weft-sds-ads-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'bootstrap.json');
    writeFileSync(file, JSON.stringify({
      node: { id: 'proxy-1', cluster: 'it' },
      admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
      dynamic_resources: { ads_config: { api_type: variant.delta ? 'DELTA_GRPC' : 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds' } }] } },
      static_resources: {
        listeners: [listener({
          name: 'tls',
          chains: [{
            filters: [hcm({ statPrefix: 'tls', routes: [direct({ prefix: '/' }, 'over-ads')] })],
            transport_socket: {
              name: 'envoy.transport_sockets.tls',
              typed_config: {
                '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
                common_tls_context: { tls_certificate_sds_secret_configs: [adsSds('kubernetes://web-cert')] },
              },
            },
          }],
        })],
        clusters: [cluster('xds', [ads.port])],
      },
    }));
    const weft = startWeft(['proxy', '-c', file, '--concurrency', String(variant.concurrency), '--drain-time-s', '0']);
    t.after(async () => { weft.kill(); await weft.exited; });
    const admin = Number((await weft.waitFor(/admin on 127\.0\.0\.1:(\d+)/))[1]);
    const port = Number((await weft.waitFor(/listener tls on 127\.0\.0\.1:(\d+)/))[1]);
    const ready = async () => (await request(admin, '/ready')).status;
    const send = (f: Obj, version: string): string => (variant.delta
      ? ads.sendDelta(SECRET_TYPE, [f], { version, systemVersion: version })
      : ads.send(SECRET_TYPE, [f], version));

    const sub = await ads.next((r) => r.type_url === SECRET_TYPE);
    assert.deepEqual(variant.delta ? sub.resource_names_subscribe : sub.resource_names, ['kubernetes://web-cert']);
    assert.equal(await ready(), 503, 'the secret has not arrived');
    assert.equal((await tlsGet(port, {})).fingerprint, null, 'no handshake without it');

    let n = send(secretJson('kubernetes://web-cert', first), 's1');
    const ack = await ads.next((r) => r.type_url === SECRET_TYPE && r.response_nonce === n);
    assert.equal(ack.error_detail, undefined);
    await waitUntil(async () => (await ready()) === 200, 5000, '/ready');
    const fp1 = await fingerprintOf(first.cert);
    const fp2 = await fingerprintOf(second.cert);
    // Every worker serves it (the kernel spreads connections: several handshakes reach both).
    for (let i = 0; i < 6; i++) assert.equal((await tlsGet(port, {})).fingerprint, fp1);

    n = send(secretJson('kubernetes://web-cert', second), 's2');
    await ads.next((r) => r.type_url === SECRET_TYPE && r.response_nonce === n);
    await waitUntil(async () => (await tlsGet(port, {})).fingerprint === fp2, 5000, 'rotation');
    for (let i = 0; i < 6; i++) assert.equal((await tlsGet(port, {})).fingerprint, fp2, 'every worker rotated');

    const bad = secretJson('kubernetes://web-cert', first);
    (bad.tls_certificate as Obj).private_key = (secretJson('x', second).tls_certificate as Obj).private_key;
    n = send(bad, 's3');
    const nack = await ads.next((r) => r.type_url === SECRET_TYPE && r.response_nonce === n);
    assert.match(nack.error_detail?.message ?? '', /kubernetes:\/\/web-cert: tls_certificate\.private_key/);
    if (!variant.delta) assert.equal(nack.version_info, 's2');
    assert.equal((await tlsGet(port, {})).fingerprint, fp2, 'the last good secret stays');

    const stats = (await request(admin, '/stats')).body;
    assert.match(stats, /sds\.kubernetes:\/\/web-cert\.update_rejected: 1/);
    const certs = JSON.parse((await request(admin, '/certs')).body) as { certificates: { cert_chain: Obj[] }[] };
    assert.equal(certs.certificates[0]?.cert_chain[0]?.path, 'sds:kubernetes://web-cert');
  });
}
