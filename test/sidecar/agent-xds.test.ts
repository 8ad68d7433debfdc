// The xDS channel over mutual TLS (the client side of issue 10's item 4): the ADS stream presents
// the agent's SPIFFE certificate and verifies the control plane as `weft-control` against the mesh
// root; credentials are rebuilt on every reconnect, so a renewed certificate is used by the next
// stream; the general bootstrap case (the ADS cluster's transport_socket with files) works too, and
// a bootstrap without a transport socket stays plaintext.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeBootstrap } from '../../src/envoy/bootstrap.js';
import type { BootstrapConfig } from '../../src/proxy/config/types.js';
import { XdsClient } from '../../src/proxy/xds-client/client.js';
import { StatsStore } from '../../src/observe/stats.js';
import { CertificateAgent } from '../../src/sidecar/agent/agent.js';
import { generateKeyPair, issueCertificate } from '../../src/security/x509.js';
import { cluster, type Obj } from '../helpers/bootstrap.js';
import { makeRoot, startFakeCa } from '../helpers/fake-ca.js';
import { startTlsAds } from '../helpers/tls-ads.js';
import { waitUntil } from '../helpers/adversarial.js';

const until = (what: string, cond: () => boolean, ms: number): Promise<void> => waitUntil(cond, ms, what);
const identity = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'cart' };

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function bootstrap(adsPort: number, transportSocket?: Obj): BootstrapConfig {
  const r = decodeBootstrap({
    node: { id: 'sidecar~127.0.0.1~cart-1.shop~shop.svc.cluster.local', cluster: 'cart.shop' },
    dynamic_resources: {
      ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] },
      lds_config: { ads: {}, resource_api_version: 'V3' },
      cds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: { clusters: [{ ...cluster('xds-grpc', [adsPort]), ...(transportSocket ? { transport_socket: transportSocket } : {}) }] },
  }, { baseDir: process.cwd() });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.value;
}

const target = () => ({ stats: new StatsStore(), applyConfig: async () => undefined });

test('xds over mTLS: the stream presents the agent\'s SPIFFE certificate; a reconnect after renewal presents the new one', async () => {
  const root = await makeRoot('cluster.local');
  const ca = await startFakeCa(root, { ttlMs: 4000 });
  const ads = await startTlsAds(root, root.certPem);
  const agent = new CertificateAgent({ identity, nodeId: 'n1', caAddress: ca.address, trustBundle: root.certPem });
  const client = new XdsClient(bootstrap(ads.port), {
    baseDir: process.cwd(), backoff: { initialMs: 50, maxMs: 200 },
    credentials: () => agent.channelCredentials(), serverName: 'weft-control',
  });
  try {
    await agent.start();
    const first = agent.certificate!;
    client.start(target());
    await until('an ADS stream', () => ads.streams.length >= 1 && ads.streams[0]!.nodeId !== undefined, 10_000);
    assert.equal(ads.streams[0]!.peerUri, 'spiffe://cluster.local/ns/shop/sa/cart');
    assert.equal(ads.streams[0]!.peerSerial, first.serialNumber);
    await until('a renewal', () => agent.certificate!.generation >= 2, 10_000);
    ads.endStreams();
    await until('a second ADS stream', () => ads.streams.length >= 2, 10_000);
    assert.equal(ads.streams[1]!.peerSerial, agent.certificate!.serialNumber, 'the new stream uses the renewed certificate');
    assert.notEqual(ads.streams[1]!.peerSerial, first.serialNumber);
  } finally {
    client.close();
    agent.close();
    await ads.close();
    await ca.close();
  }
});

test('xds over mTLS: a control plane whose certificate does not chain to the trust root gets no stream', async () => {
  const root = await makeRoot('cluster.local');
  const impostor = await makeRoot('impostor');
  const ca = await startFakeCa(root);
  const ads = await startTlsAds(impostor, root.certPem);
  const agent = new CertificateAgent({ identity, nodeId: 'n1', caAddress: ca.address, trustBundle: root.certPem });
  const client = new XdsClient(bootstrap(ads.port), {
    baseDir: process.cwd(), backoff: { initialMs: 50, maxMs: 200 },
    credentials: () => agent.channelCredentials(), serverName: 'weft-control',
  });
  const reasons: string[] = [];
  client.on('disconnected', (r) => reasons.push(r));
  try {
    await agent.start();
    client.start(target());
    await until('two failed attempts', () => reasons.length >= 2, 10_000);
    assert.equal(ads.streams.length, 0);
    assert.match(reasons[0]!, /certificate|verify|UNAVAILABLE|No connection/i);
  } finally {
    client.close();
    agent.close();
    await ads.close();
    await ca.close();
  }
});

test('xds over mTLS from the bootstrap: the ADS cluster\'s UpstreamTlsContext (files) is used; no transport socket = plaintext refused by a TLS server', async () => {
  const root = await makeRoot('cluster.local');
  const ads = await startTlsAds(root, root.certPem);
  const dir = mkdtempSync(join(tmpdir(), 'weft-xds-tls-'));
  dirs.push(dir);
  const key = generateKeyPair();
  const cert = await issueCertificate({
    issuerCertPem: root.certPem, issuerKey: root.key.privateKey, publicKey: key.publicKey,
    uris: ['spiffe://cluster.local/ns/ops/sa/gateway'], ttlMs: 3600_000,
  });
  writeFileSync(join(dir, 'cert.pem'), cert);
  writeFileSync(join(dir, 'key.pem'), key.privateKeyPem);
  writeFileSync(join(dir, 'root.pem'), root.certPem);
  const tls = {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      sni: 'weft-control',
      common_tls_context: {
        tls_certificates: [{ certificate_chain: { filename: join(dir, 'cert.pem') }, private_key: { filename: join(dir, 'key.pem') } }],
        validation_context: { trusted_ca: { filename: join(dir, 'root.pem') } },
      },
    },
  };
  const client = new XdsClient(bootstrap(ads.port, tls), { baseDir: dir, backoff: { initialMs: 50, maxMs: 200 } });
  const plain = new XdsClient(bootstrap(ads.port), { baseDir: dir, backoff: { initialMs: 50, maxMs: 200 } });
  const plainReasons: string[] = [];
  plain.on('disconnected', (r) => plainReasons.push(r));
  try {
    client.start(target());
    await until('an ADS stream', () => ads.streams.length >= 1, 10_000);
    assert.equal(ads.streams[0]!.peerUri, 'spiffe://cluster.local/ns/ops/sa/gateway');
    plain.start(target());
    await until('a refused plaintext attempt', () => plainReasons.length >= 1, 10_000);
    assert.equal(ads.streams.length, 1, 'the plaintext client got no stream');
  } finally {
    client.close();
    plain.close();
    await ads.close();
  }
});
