// `weft token create` and `weft ca` against a real `weft control`: the token gets a certificate
// for its own identity only, the bundle is served on /api/v1/ca/root, `weft ca status` lists the
// issued identity, a rotation step shows in the bundle, the root survives a restart, and local
// mode is announced at startup.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { status } from '@grpc/grpc-js';
import { runWeft, startWeft } from '../helpers/process.js';
import { caClient, csrFor } from '../helpers/ca-client.js';
import { splitPemCertificates } from '../../src/security/x509.js';

async function control(t: TestContext, dataDir: string, extra: string[] = []) {
  const p = startWeft(['control', '--http-port', '0', '--xds-port', '0', '--ca-port', '0', '--data-dir', dataDir, ...extra]);
  t.after(async () => { p.kill(); await p.exited; });
  const m = await p.waitFor(/HTTP API on 127\.0\.0\.1:(\d+), xDS on 127\.0\.0\.1:\d+ \(mTLS\), CA on 127\.0\.0\.1:(\d+)/);
  return { p, http: `127.0.0.1:${m[1]}`, caPort: Number(m[2]) };
}

test('weft token create: a token for a/x gets a certificate for x only; weft ca status and rotate; the root survives a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-token-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const c = await control(t, dir, ['--trust-loopback', 'false']);
  assert.doesNotMatch(c.p.output(), /local mode/);
  let r = await runWeft(['token', 'create', '--namespace', 'a', '--service-account', 'x', '--control-http', c.http]);
  assert.equal(r.code, 0, r.stderr);
  const token = r.stdout.trim();
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  assert.equal(payload.sub, 'system:serviceaccount:a:x');
  assert.equal(payload.iss, 'weft-control');
  assert.equal(payload.aud, 'weft-ca');
  const bundle = await (await fetch(`http://${c.http}/api/v1/ca/root`)).text();
  assert.equal(splitPemCertificates(bundle).length, 1);
  const client = caClient(c.caPort, bundle);
  t.after(() => client.close());
  const chain = await client.create({ csr: csrFor('spiffe://cluster.local/ns/a/sa/x').csr, metadata: { fields: { WEFT_NODE_ID: { string_value: 'node-x' } } } }, token);
  assert.equal(new X509Certificate(chain[0]!).subjectAltName, 'URI:spiffe://cluster.local/ns/a/sa/x');
  await assert.rejects(client.create({ csr: csrFor('spiffe://cluster.local/ns/a/sa/y').csr }, token), (e) => (e as { code: number }).code === status.PERMISSION_DENIED);
  await assert.rejects(client.create({ csr: csrFor('spiffe://cluster.local/ns/a/sa/x').csr }), (e) => (e as { code: number }).code === status.UNAUTHENTICATED);
  r = await runWeft(['token', 'create', '--namespace', 'A_B', '--service-account', 'x', '--control-http', c.http]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /namespace 'A_B' is not a valid name/);

  r = await runWeft(['ca', 'status', '--control', c.http]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Phase: steady/);
  assert.match(r.stdout, /spiffe:\/\/cluster\.local\/ns\/a\/sa\/x\s+node-x\s+/);
  r = await runWeft(['ca', 'rotate', 'prepare', '--control', c.http]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Phase: prepared/);
  assert.equal(splitPemCertificates(await (await fetch(`http://${c.http}/api/v1/ca/root`)).text()).length, 2);
  r = await runWeft(['ca', 'rotate', 'retire', '--control', c.http]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot retire: no activated rotation/);

  // Restart: the same roots (the prepared rotation included) and the same token key.
  c.p.kill();
  assert.equal(await c.p.exited, 0);
  const c2 = await control(t, dir);
  assert.match(c2.p.output(), /local mode: trusting sidecars on loopback without a token/);
  assert.equal(await (await fetch(`http://${c2.http}/api/v1/ca/root`)).text(), await (await fetch(`http://${c2.http}/v1/ca/root`)).text());
  const bundle2 = await (await fetch(`http://${c2.http}/api/v1/ca/root`)).text();
  assert.equal(splitPemCertificates(bundle2)[0], splitPemCertificates(bundle)[0]);
  const client2 = caClient(c2.caPort, bundle2);
  t.after(() => client2.close());
  assert.equal((await client2.create({ csr: csrFor('spiffe://cluster.local/ns/a/sa/x').csr }, token)).length, 2, 'the token still works after a restart');
});
