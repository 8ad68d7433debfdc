// xDS over mTLS (src/control/xds-server/server.ts with the CA's serving credentials): a plaintext
// client, a TLS client without a certificate and one with a certificate from another CA are
// refused; a certificate whose SPIFFE namespace is not the node's NAMESPACE is refused with
// PERMISSION_DENIED; the right certificate gets its resources and shows in the proxy status.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { XdsServer } from '../../../src/control/xds-server/index.js';
import { MeshCa } from '../../../src/control/ca/index.js';
import { CLUSTER_TYPE } from '../../../src/xds/resource-types.js';
import { setSink } from '../../../src/observe/logger.js';
import { cluster, FakeGenerator, node, sotwStream, type AdsTls } from '../../helpers/ads-client.js';
import { csrFor } from '../../helpers/ca-client.js';

setSink(() => {});

async function leafFor(ca: MeshCa, ns: string, sa: string): Promise<{ chain: string; key: string }> {
  const { kp, csr } = csrFor(`spiffe://cluster.local/ns/${ns}/sa/${sa}`);
  return { chain: ca.signer.sign({ csrPem: csr, identity: { namespace: ns, serviceAccount: sa } }).chain.join(''), key: kp.privateKeyPem };
}

test('mTLS xDS: plaintext, no certificate, a foreign CA and the wrong namespace are refused; the right certificate is served', async (t) => {
  const ca = await MeshCa.create({ trustDomain: 'cluster.local', trustLoopback: false });
  ca.serving.start();
  ca.serving.setBundle(ca.bundle);
  t.after(() => ca.close());
  const server = new XdsServer({ generator: new FakeGenerator({ '*': { [CLUSTER_TYPE]: { a: cluster('a') } } }), port: 0, host: '127.0.0.1', credentials: ca.serving.credentials(true) });
  const { port } = await server.start();
  t.after(() => server.close());
  const bundle = ca.bundle.join('');
  const id = 'sidecar~127.0.0.1~app-1.default~default.svc.cluster.local';
  const attempt = async (tls: AdsTls | undefined) => {
    const s = sotwStream(port, tls);
    t.after(() => s.close());
    s.send({ node: node(id), type_url: CLUSTER_TYPE });
    try { return { response: await s.next(), s }; } catch { return { end: await s.ended, s }; }
  };

  const plain = await attempt(undefined);
  assert.equal(plain.end?.code, status.UNAVAILABLE, 'plaintext refused');
  const noCert = await attempt({ bundle });
  assert.equal(noCert.end?.code, status.UNAVAILABLE, 'no client certificate refused');
  const foreign = await MeshCa.create({ trustDomain: 'cluster.local', trustLoopback: false });
  const foreignCert = await attempt({ bundle, ...(await leafFor(foreign, 'default', 'app')) });
  assert.equal(foreignCert.end?.code, status.UNAVAILABLE, 'a certificate from another CA refused');
  const wrongNs = await attempt({ bundle, ...(await leafFor(ca, 'other', 'app')) });
  assert.equal(wrongNs.end?.code, status.PERMISSION_DENIED);
  assert.match(wrongNs.end!.details, /node namespace 'default' does not match the certificate's spiffe:\/\/cluster\.local\/ns\/other\/sa\/app/);
  assert.equal(server.status().length, 0);

  const good = await attempt({ bundle, ...(await leafFor(ca, 'default', 'app')) });
  assert.equal(good.response?.type_url, CLUSTER_TYPE);
  const st = server.status();
  assert.equal(st.length, 1);
  assert.equal(st[0]!.identity, 'spiffe://cluster.local/ns/default/sa/app');
  assert.ok(Date.parse(st[0]!.certExpiry!) > Date.now() + 23 * 3_600_000);
});
