// The CA inside the ControlPlane: the trust bundle reaches the mesh snapshot (ROOTCA for proxies)
// at start and after each rotation step, the xDS server is given mTLS credentials (none with
// insecureXds), and proxy-status shows each proxy's identity and expiry from the CA's issuance
// record for its node id.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { ControlPlane, type MeshGeneratorLike } from '../../../src/control/control-plane.js';
import type { MeshSnapshot, ProxyStatus } from '../../../src/control/model.js';
import { setSink } from '../../../src/observe/logger.js';
import { fakeAnalyzer, fakeValidator, fakeXds, waitForEvent } from '../../helpers/control-fakes.js';
import { caClient, csrFor } from '../../helpers/ca-client.js';

setSink(() => {});

const generator: MeshGeneratorLike = { version: 0, update() {}, generate() { return new Map(); } };
const NODE = 'sidecar~127.0.0.1~reviews-1.shop~shop.svc.cluster.local';

test('the CA in the control plane: bundle in the snapshot and after rotation, mTLS xDS credentials, identities in proxy-status', async (t) => {
  const statuses: ProxyStatus[] = [{ id: NODE, kind: 'sidecar', namespace: 'shop', variant: 'sotw', connectedAt: '', peer: '', types: {} }];
  let credentialsGiven: unknown = 'unset';
  const cp = new ControlPlane({
    validator: fakeValidator, analyzer: fakeAnalyzer(), generator, httpPort: 0, xdsPort: 0, meshDebounceMs: 5,
    registry: { graceMs: 50, healthCheckIntervalMs: 0 },
    meshConfig: { trustDomain: 'corp.example', rootNamespace: 'istio-system', extensionProviders: [] },
    ca: { port: 0, trustLoopback: true },
    makeXdsServer: (_g, _l, o) => { credentialsGiven = o.credentials; return fakeXds(statuses); },
  });
  const first = waitForEvent<MeshSnapshot>((cb) => cp.mesh.onSnapshot(cb));
  const { httpPort, caPort } = await cp.start();
  t.after(() => cp.close());
  assert.ok(credentialsGiven !== undefined && credentialsGiven !== 'unset', 'xDS gets TLS credentials');
  const bundle = cp.ca!.bundle;
  assert.equal(new X509Certificate(bundle[0]!).subject, 'O=corp.example');
  assert.deepEqual((await first).trustBundle, bundle);

  const client = caClient(caPort, bundle.join(''));
  t.after(() => client.close());
  const chain = await client.create({ csr: csrFor('spiffe://corp.example/ns/shop/sa/reviews').csr, metadata: { fields: { WEFT_NODE_ID: { string_value: NODE } } } });
  const leaf = new X509Certificate(chain[0]!);
  const ps = await (await fetch(`http://127.0.0.1:${httpPort}/v1/proxy-status`)).json() as { proxies: ProxyStatus[] };
  assert.equal(ps.proxies[0]!.identity, 'spiffe://corp.example/ns/shop/sa/reviews');
  assert.equal(ps.proxies[0]!.certExpiry, new Date(leaf.validTo).toISOString());

  const post = (step: string) => fetch(`http://127.0.0.1:${httpPort}/v1/ca/rotate/${step}`, { method: 'POST', body: '{}' });
  let next = waitForEvent<MeshSnapshot>((cb) => cp.mesh.onSnapshot(cb));
  assert.equal((await post('prepare')).status, 200);
  const prepared = (await next).trustBundle!;
  assert.equal(prepared.length, 2);
  assert.equal(prepared[0], bundle[0]);
  next = waitForEvent<MeshSnapshot>((cb) => cp.mesh.onSnapshot(cb));
  assert.equal((await post('activate')).status, 200);
  assert.deepEqual((await next).trustBundle, [prepared[1], prepared[0]]);
  next = waitForEvent<MeshSnapshot>((cb) => cp.mesh.onSnapshot(cb));
  assert.equal((await post('retire')).status, 200);
  assert.deepEqual((await next).trustBundle, [prepared[1]]);
  const r = await post('retire');
  assert.equal(r.status, 409);
  assert.match(((await r.json()) as { error: string }).error, /cannot retire/);
  assert.equal((await fetch(`http://127.0.0.1:${httpPort}/api/v1/ca/root`)).headers.get('content-type'), 'application/x-pem-file');

  const insecure = new ControlPlane({
    validator: fakeValidator, analyzer: fakeAnalyzer(), generator, httpPort: 0, xdsPort: 0, ca: { port: 0, trustLoopback: false }, insecureXds: true,
    makeXdsServer: (_g, _l, o) => { credentialsGiven = o.credentials; return fakeXds([]); },
  });
  await insecure.start();
  t.after(() => insecure.close());
  assert.equal(credentialsGiven, undefined, '--insecure-xds: plaintext');
});
