// CreateCertificate over gRPC (src/control/ca/server.ts): token authentication (a token for a/x
// gets a certificate for x only; expired and forged tokens refused), loopback trust on and off,
// the issuance record by node id, and the serving certificate: verified as `weft-control`
// against the bundle, renewed at half life on a listening server without breaking calls.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { status } from '@grpc/grpc-js';
import { MeshCa, type MeshCaOptions } from '../../../src/control/ca/index.js';
import { isLoopbackPeer } from '../../../src/control/ca/server.js';
import { TokenIssuer } from '../../../src/control/ca/tokens.js';
import { setSink } from '../../../src/observe/logger.js';
import { caClient, csrFor, servedCertificate } from '../../helpers/ca-client.js';
import { waitUntil } from '../../helpers/adversarial.js';

setSink(() => {});

async function startCa(t: TestContext, o: Partial<MeshCaOptions> = {}) {
  const ca = await MeshCa.create({ trustDomain: 'cluster.local', trustLoopback: false, ...o });
  const port = await ca.start('127.0.0.1', 0);
  const client = caClient(port, ca.bundle.join(''));
  t.after(async () => { client.close(); await ca.close(); });
  return { ca, port, client };
}

const code = (e: unknown) => (e as { code: number }).code;

test('a token for a/x gets a certificate for spiffe://cluster.local/ns/a/sa/x only; the chain verifies', async (t) => {
  const { ca, client } = await startCa(t);
  const { token } = await ca.tokens.create({ namespace: 'a', serviceAccount: 'x' });
  const chain = await client.create({ csr: csrFor('spiffe://cluster.local/ns/a/sa/x').csr, validity_duration: 0,
    metadata: { fields: { WEFT_NODE_ID: { string_value: 'sidecar~127.0.0.1~x-1.a~a.svc.cluster.local' } } } }, token);
  assert.equal(chain.length, 2);
  const leaf = new X509Certificate(chain[0]!);
  assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/a/sa/x');
  assert.ok(leaf.verify(new X509Certificate(chain[1]!).publicKey));
  assert.equal(chain[1], ca.bundle[0]);
  const rec = ca.records.byNode.get('sidecar~127.0.0.1~x-1.a~a.svc.cluster.local');
  assert.equal(rec?.identity, 'spiffe://cluster.local/ns/a/sa/x');
  assert.equal(rec?.serial, leaf.serialNumber);
  // The same token asking for y: PERMISSION_DENIED, saying why.
  await assert.rejects(client.create({ csr: csrFor('spiffe://cluster.local/ns/a/sa/y').csr }, token), (e) => {
    assert.equal(code(e), status.PERMISSION_DENIED);
    assert.match((e as Error).message, /asks for spiffe:\/\/cluster\.local\/ns\/a\/sa\/y, but the caller's token is for spiffe:\/\/cluster\.local\/ns\/a\/sa\/x/);
    return true;
  });
  // A requested shorter validity is honoured.
  const short = await client.create({ csr: csrFor('spiffe://cluster.local/ns/a/sa/x').csr, validity_duration: 600 }, token);
  const life = (Date.parse(new X509Certificate(short[0]!).validTo) - Date.now()) / 1000;
  assert.ok(Math.abs(life - 600) < 10, `600 s, got ${life}`);
  assert.equal(ca.server.stats.issued, 2);
});

test('no token, a forged token, an expired token, a malformed header: UNAUTHENTICATED (loopback trust off)', async (t) => {
  const { ca, client } = await startCa(t);
  const { csr } = csrFor('spiffe://cluster.local/ns/a/sa/x');
  const unauth = (re: RegExp) => (e: unknown) => { assert.equal(code(e), status.UNAUTHENTICATED); assert.match((e as Error).message, re); return true; };
  await assert.rejects(client.create({ csr }), unauth(/no token/));
  const forged = await TokenIssuer.open(undefined).create({ namespace: 'a', serviceAccount: 'x' });
  await assert.rejects(client.create({ csr }, forged.token), unauth(/invalid token: signature verification failed/));
  await assert.rejects(client.create({ csr }, 'not.a.jwt'), unauth(/invalid token/));
  const expiring = await ca.tokens.create({ namespace: 'a', serviceAccount: 'x' }, 1000);
  assert.equal((await client.create({ csr }, expiring.token)).length, 2, 'valid before it expires');
  let last: unknown;
  await waitUntil(async () => {
    try { await client.create({ csr }, expiring.token); return false; } catch (e) { last = e; return true; }
  }, 10_000, 'the token to expire');
  unauth(/invalid token: "exp" claim timestamp check failed/)(last);
  assert.ok(ca.server.stats.authFailures >= 4);
});

test('loopback trust: a loopback caller without a token gets its CSR identity (trust domain forced); off: refused', async (t) => {
  const on = await startCa(t, { trustLoopback: true });
  const chain = await on.client.create({ csr: csrFor('spiffe://other.domain/ns/shop/sa/cart').csr });
  assert.equal(new X509Certificate(chain[0]!).subjectAltName, 'URI:spiffe://cluster.local/ns/shop/sa/cart');
  await assert.rejects(on.client.create({ csr: csrFor('urn:not-spiffe').csr }), (e) => code(e) === status.INVALID_ARGUMENT && /must name one SPIFFE id/.test((e as Error).message));
  // A token still wins over loopback trust.
  const { token } = await on.ca.tokens.create({ namespace: 'a', serviceAccount: 'x' });
  await assert.rejects(on.client.create({ csr: csrFor('spiffe://cluster.local/ns/shop/sa/cart').csr }, token), (e) => code(e) === status.PERMISSION_DENIED);
  const off = await startCa(t, { trustLoopback: false });
  await assert.rejects(off.client.create({ csr: csrFor('spiffe://cluster.local/ns/shop/sa/cart').csr }), (e) => code(e) === status.UNAUTHENTICATED);
  assert.ok(isLoopbackPeer('127.0.0.1:5000') && isLoopbackPeer('[::1]:5000') && isLoopbackPeer('[::ffff:127.0.0.1]:1'));
  assert.ok(!isLoopbackPeer('10.0.0.2:5000') && !isLoopbackPeer('[fe80::1]:5000'));
});

test('the serving certificate: weft-control, localhost and the control plane SPIFFE id; renewed at half life without a restart', async (t) => {
  const { ca, port, client } = await startCa(t, { servingTtlMs: 4000, trustLoopback: true });
  const first = await servedCertificate(port, ca.bundle.join(''));
  assert.equal(first.subjectAltName, 'URI:spiffe://cluster.local/ns/istio-system/sa/weft-control, DNS:weft-control, DNS:localhost');
  assert.ok(first.checkHost('weft-control'));
  // A wrong server name is refused by the client.
  const wrong = caClient(port, ca.bundle.join(''), { serverName: 'elsewhere' });
  t.after(() => wrong.close());
  await assert.rejects(wrong.create({ csr: csrFor('spiffe://cluster.local/ns/a/sa/b').csr }), (e) => code(e) === status.UNAVAILABLE);
  await client.create({ csr: csrFor('spiffe://cluster.local/ns/a/sa/b').csr });
  // Renewed at about 2 s: new connections see a new certificate; the open channel keeps working.
  let renewed: X509Certificate | undefined;
  await waitUntil(async () => {
    const c = await servedCertificate(port, ca.bundle.join(''));
    if (c.serialNumber !== first.serialNumber) renewed = c;
    return renewed !== undefined;
  }, 10_000, 'the serving certificate to be renewed');
  assert.ok(Date.parse(renewed!.validTo) > Date.parse(first.validTo));
  assert.ok(ca.serving.renewals >= 2);
  await client.create({ csr: csrFor('spiffe://cluster.local/ns/a/sa/b').csr });
  const fresh = caClient(port, ca.bundle.join(''));
  t.after(() => fresh.close());
  assert.equal((await fresh.create({ csr: csrFor('spiffe://cluster.local/ns/a/sa/b').csr })).length, 2);
});
