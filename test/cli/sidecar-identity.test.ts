// `weft sidecar`'s identity (issue 10, items 1 and 4): --service-account (default: the service name)
// goes to the control plane as node metadata SERVICE_ACCOUNT; the bootstrap has Istio's `sds-grpc`
// cluster (the agent's Unix socket) and an mTLS `xds-grpc` unless --insecure-xds; a control plane
// off loopback needs --ca-root; and a real sidecar process gets its certificate from the CA before
// it opens the ADS stream, over mTLS with that certificate, keeping /ready at 503 meanwhile.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeBootstrap } from '../../src/envoy/bootstrap.js';
import { sidecarOptions } from '../../src/cli/sidecar.js';
import { sidecarBootstrap } from '../../src/sidecar/bootstrap.js';
import { deadPort } from '../helpers/bootstrap.js';
import { makeRoot, startFakeCa } from '../helpers/fake-ca.js';
import { startWeft } from '../helpers/process.js';
import { startTlsAds } from '../helpers/tls-ads.js';
import { waitUntil } from '../helpers/adversarial.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const until = (what: string, cond: () => boolean | Promise<boolean>, ms: number): Promise<void> => waitUntil(cond, ms, what);

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

async function printed(args: string[]): Promise<Obj> {
  const p = startWeft(['sidecar', '--service', 'cart', '--app-port', '8080', '--print-bootstrap', ...args]);
  assert.equal(await p.exited, 0, p.output());
  return JSON.parse(p.output()) as Obj;
}

test('sidecar identity: SERVICE_ACCOUNT defaults to the service name; --service-account sets it', async () => {
  assert.equal((await printed([])).node.metadata.SERVICE_ACCOUNT, 'cart');
  assert.equal((await printed(['--service-account', 'cart-sa'])).node.metadata.SERVICE_ACCOUNT, 'cart-sa');
  assert.throws(() => sidecarOptions(['--service', 'cart', '--app-port', '1', '--service-account', 'Bad_SA']), /--service-account/);
  assert.throws(() => sidecarOptions(['--service', 'cart', '--app-port', '1', '--trust-domain', 'a/b']), /--trust-domain/);
  const o = sidecarOptions(['--service', 'cart', '--app-port', '1', '--control', '127.0.0.1:15010']);
  assert.equal(o.caAddress, '127.0.0.1:15012');
  assert.equal(o.trustDomain, 'cluster.local');
  assert.equal(o.controlHttpPort, 15014);
});

test('sidecar identity: the bootstrap has sds-grpc (a Unix socket) and an mTLS xds-grpc; --insecure-xds keeps ADS plaintext', async () => {
  const b = await printed([]);
  const sds = b.static_resources.clusters.find((c: Obj) => c.name === 'sds-grpc');
  assert.ok(sds !== undefined, 'an sds-grpc cluster');
  assert.match(sds.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.pipe.path, /sds\.sock$/);
  assert.ok(sds.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config.http2_protocol_options);
  const xds = b.static_resources.clusters.find((c: Obj) => c.name === 'xds-grpc');
  const tls = xds.transport_socket.typed_config;
  assert.equal(tls.sni, 'weft-control');
  assert.deepEqual(tls.common_tls_context.tls_certificate_sds_secret_configs, [{
    name: 'default',
    sds_config: {
      api_config_source: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'sds-grpc' } }] },
      resource_api_version: 'V3',
    },
  }]);
  assert.deepEqual(tls.common_tls_context.validation_context_sds_secret_config, {
    name: 'ROOTCA', sds_config: tls.common_tls_context.tls_certificate_sds_secret_configs[0].sds_config,
  });
  const insecure = await printed(['--insecure-xds']);
  assert.equal(insecure.static_resources.clusters.find((c: Obj) => c.name === 'xds-grpc').transport_socket, undefined);
});

test('sidecar identity: a control plane off loopback without --ca-root is refused, naming the flag', async () => {
  assert.throws(() => sidecarOptions(['--service', 'cart', '--app-port', '1', '--control', '10.1.2.3:15010']), /--ca-root: required when the control plane \(10\.1\.2\.3\) is not on loopback/);
  assert.doesNotThrow(() => sidecarOptions(['--service', 'cart', '--app-port', '1', '--control', '10.1.2.3:15010', '--ca-root', '/dev/null']));
  const p = startWeft(['sidecar', '--service', 'cart', '--app-port', '8080', '--control', 'control.example:15010']);
  assert.equal(await p.exited, 2);
  assert.match(p.output(), /--ca-root: required when the control plane \(control\.example\) is not on loopback/);
});

/** Whether this build decodes the sidecar bootstrap (SDS references, pipe addresses: the proxy's SDS work). */
function bootstrapDecodes(): string | null {
  const o = sidecarOptions(['--service', 'cart', '--app-port', '1']);
  const r = decodeBootstrap(sidecarBootstrap({ ...o, sdsSocketPath: '/tmp/x/sds.sock' }), { baseDir: process.cwd() });
  return r.ok ? null : r.errors.join('; ');
}

test('sidecar identity: a sidecar process gets its certificate before ADS, then connects over mTLS as its SPIFFE id', async (t) => {
  const problem = bootstrapDecodes();
  if (problem !== null) { t.skip(`this build does not decode the sidecar bootstrap yet (${problem.slice(0, 120)})`); return; }
  const root = await makeRoot('cluster.local');
  const ca = await startFakeCa(root);
  ca.failWith = { code: grpc.status.UNAVAILABLE, message: 'CA starting' };
  const ads = await startTlsAds(root, root.certPem);
  const dir = mkdtempSync(join(tmpdir(), 'weft-sidecar-test-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'root.pem'), root.certPem);
  writeFileSync(join(dir, 'token'), 'the-token\n');
  const before = new Set(readdirSync(tmpdir()).filter((f) => f.startsWith('weft-sidecar-')));
  const admin = await deadPort();
  const p = startWeft(['sidecar', '--service', 'cart', '--app-port', '8080', '--namespace', 'shop', '--service-account', 'cart-sa',
    '--control', `127.0.0.1:${ads.port}`, '--ca-address', ca.address, '--ca-root', join(dir, 'root.pem'), '--token-file', join(dir, 'token'),
    '--admin-port', String(admin), '--inbound-port', String(await deadPort()), '--outbound-port', String(await deadPort()),
    '--drain-duration', '0', '-l', 'info']);
  try {
    await until('two refused CSRs', () => ca.requests.length >= 2, 20_000);
    await until('the admin listener', async () => (await fetch(`http://127.0.0.1:${admin}/ready`).catch(() => null)) !== null, 20_000);
    assert.equal((await fetch(`http://127.0.0.1:${admin}/ready`)).status, 503, '/ready is 503 without a certificate');
    assert.equal(ads.streams.length, 0, 'no ADS stream before the first certificate');
    assert.match(p.output(), /no certificate yet from the CA .*UNAVAILABLE: CA starting/);
    ca.failWith = null;
    await until('an ADS stream', () => ads.streams.length >= 1 && ads.streams[0]!.nodeId !== undefined, 20_000);
    assert.equal(ads.streams[0]!.peerUri, 'spiffe://cluster.local/ns/shop/sa/cart-sa');
    assert.deepEqual(ca.requests.at(-1)!.uris, ['spiffe://cluster.local/ns/shop/sa/cart-sa']);
    assert.equal(ca.requests.at(-1)!.token, 'the-token');
    assert.equal(ca.requests.at(-1)!.nodeId, ads.streams[0]!.nodeId, 'the CA learns the node id the proxy uses');
    // The sidecar's own directory: private, and no private key in any file.
    const mine = readdirSync(tmpdir()).filter((f) => f.startsWith('weft-sidecar-') && !before.has(f) && !f.startsWith('weft-sidecar-test-'));
    assert.ok(mine.length >= 1);
    for (const d of mine.map((f) => join(tmpdir(), f))) {
      assert.equal(statSync(d).mode & 0o777, 0o700);
      for (const f of readdirSync(d)) {
        if (statSync(join(d, f)).isFile()) assert.ok(!readFileSync(join(d, f), 'utf8').includes('PRIVATE KEY'), `${f} holds a private key`);
      }
    }
  } finally {
    p.kill('SIGTERM');
    await p.exited;
    if (process.env.WEFT_TEST_VERBOSE !== undefined) console.log(p.output());
    await ads.close();
    await ca.close();
  }
});
