// The CA's roots and signing (src/control/ca/ca.ts, rotation.ts, index.ts): a root created on first
// start and reused after a restart (key mode 0600), an ephemeral root without a data dir, a plug-in
// CA from an openssl-made intermediate (and each way its files can be wrong, naming the flag),
// leaf TTLs (default, shorter honoured, longer capped), and root rotation phases with the bundle
// at each phase, persisted.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { MeshCa } from '../../../src/control/ca/index.js';
import { CsrError, pluginSet, Signer } from '../../../src/control/ca/ca.js';
import { RootStore, bundleOf } from '../../../src/control/ca/rotation.js';
import { createCsr, generateKeyPair } from '../../../src/security/x509.js';
import { setSink } from '../../../src/observe/logger.js';

const logs: string[] = [];
setSink((line) => { logs.push(line); });

function tmp(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'weft-ca-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const openssl = (args: string[], cwd: string): string => execFileSync('openssl', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

function verifyChain(dir: string, chain: readonly string[], roots: readonly string[]): string {
  writeFileSync(join(dir, 'v-root.pem'), roots.join(''));
  writeFileSync(join(dir, 'v-untrusted.pem'), chain.slice(1, -1).join('') || chain[chain.length - 1]!);
  writeFileSync(join(dir, 'v-leaf.pem'), chain[0]!);
  return openssl(['verify', '-CAfile', 'v-root.pem', '-untrusted', 'v-untrusted.pem', 'v-leaf.pem'], dir);
}

test('the root is created on first start in <data-dir>/ca (key 0600) and reused after a restart', async (t) => {
  const dir = tmp(t);
  const a = await MeshCa.create({ trustDomain: 'example.org', dataDir: dir, trustLoopback: false });
  const rootA = a.bundle[0]!;
  assert.equal(statSync(join(dir, 'ca', 'root-key.pem')).mode & 0o777, 0o600);
  assert.equal(readFileSync(join(dir, 'ca', 'root-cert.pem'), 'utf8'), rootA);
  const r = new X509Certificate(rootA);
  assert.equal(r.subject, 'O=example.org');
  assert.ok(r.ca);
  assert.equal(r.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const years = (Date.parse(r.validTo) - Date.now()) / (365 * 86_400_000);
  assert.ok(years > 9.9 && years < 10.1, `10 years, got ${years}`);
  const b = await MeshCa.create({ trustDomain: 'example.org', dataDir: dir, trustLoopback: false });
  assert.equal(b.bundle[0], rootA, 'same root after a restart');
  // A leaf from the restarted CA chains to the first root.
  const issued = b.signer.sign({ csrPem: await createCsr(generateKeyPair(), 'spiffe://example.org/ns/a/sa/b'), identity: { namespace: 'a', serviceAccount: 'b' } });
  assert.match(verifyChain(dir, issued.chain, [rootA]), /OK/);
  // Without a data dir: a new root each time, and the log says it is ephemeral.
  const c = await MeshCa.create({ trustDomain: 'example.org', trustLoopback: false });
  assert.notEqual(c.bundle[0], rootA);
  assert.ok(logs.some((l) => l.includes('ephemeral root, lost on restart')));
});

test('a plug-in CA (openssl-made root and intermediate) signs; chains come back leaf, intermediate, root and verify', async (t) => {
  const dir = tmp(t);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'root-key.pem', '-out', 'root-cert.pem', '-days', '30',
    '-subj', '/O=Istio/CN=Root CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.csr', '-subj', '/O=Istio/CN=Intermediate CA'], dir);
  writeFileSync(join(dir, 'ext.cnf'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n');
  openssl(['x509', '-req', '-in', 'ca.csr', '-CA', 'root-cert.pem', '-CAkey', 'root-key.pem', '-CAcreateserial', '-out', 'ca-cert.pem', '-days', '10', '-extfile', 'ext.cnf'], dir);
  writeFileSync(join(dir, 'cert-chain.pem'), readFileSync(join(dir, 'ca-cert.pem'), 'utf8') + readFileSync(join(dir, 'root-cert.pem'), 'utf8'));
  const files = { caCert: join(dir, 'ca-cert.pem'), caKey: join(dir, 'ca-key.pem'), caChain: join(dir, 'cert-chain.pem'), rootCert: join(dir, 'root-cert.pem') };
  const ca = await MeshCa.create({ trustDomain: 'cluster.local', plugin: files, trustLoopback: false });
  const root = readFileSync(files.rootCert, 'utf8');
  assert.deepEqual(ca.bundle.map((p) => new X509Certificate(p).fingerprint256), [new X509Certificate(root).fingerprint256]);
  const issued = ca.signer.sign({ csrPem: await createCsr(generateKeyPair(), 'spiffe://cluster.local/ns/a/sa/b'), identity: { namespace: 'a', serviceAccount: 'b' } });
  assert.equal(issued.chain.length, 3);
  assert.equal(new X509Certificate(issued.chain[1]!).subject, 'O=Istio\nCN=Intermediate CA');
  assert.equal(new X509Certificate(issued.chain[2]!).subject, 'O=Istio\nCN=Root CA');
  writeFileSync(join(dir, 'chain-inter.pem'), issued.chain[1]!);
  writeFileSync(join(dir, 'leaf.pem'), issued.chain[0]!);
  assert.match(openssl(['verify', '-CAfile', 'root-cert.pem', '-untrusted', 'chain-inter.pem', 'leaf.pem'], dir), /leaf\.pem: OK/);

  // Each wrong file is refused, naming its flag.
  openssl(['genpkey', '-algorithm', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other-key.pem'], dir);
  assert.throws(() => pluginSet({ ...files, caKey: join(dir, 'other-key.pem') }), /--ca-key: the key does not match the certificate of --ca-cert/);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'leafish-key.pem', '-out', 'leafish.pem', '-days', '2', '-subj', '/CN=not a ca', '-addext', 'basicConstraints=critical,CA:FALSE'], dir);
  assert.throws(() => pluginSet({ ...files, caCert: join(dir, 'leafish.pem'), caKey: join(dir, 'leafish-key.pem') }), /--ca-cert: not a CA certificate/);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'other-root-key.pem', '-out', 'other-root.pem', '-days', '2', '-subj', '/CN=Other Root', '-addext', 'basicConstraints=critical,CA:TRUE'], dir);
  assert.throws(() => pluginSet({ ...files, rootCert: join(dir, 'other-root.pem'), caChain: undefined }), /--ca-cert: the chain does not lead to the root of --root-cert/);
  assert.throws(() => pluginSet({ ...files, caCert: join(dir, 'missing.pem') }), /--ca-cert: cannot read/);
  await assert.rejects(MeshCa.create({ trustDomain: 'cluster.local', plugin: { ...files, caKey: join(dir, 'other-key.pem') }, trustLoopback: false }), /--ca-key/);
});

test('leaf TTL: 24 h by default, a shorter request honoured, a longer one capped; identity from the token, never the CSR', async () => {
  const ca = await MeshCa.create({ trustDomain: 'cluster.local', trustLoopback: false });
  const csr = await createCsr(generateKeyPair(), 'spiffe://cluster.local/ns/a/sa/b');
  const life = (validitySeconds?: number) => {
    const i = ca.signer.sign({ csrPem: csr, identity: { namespace: 'a', serviceAccount: 'b' }, validitySeconds });
    const c = new X509Certificate(i.chain[0]!);
    return { ttl: (Date.parse(c.validTo) - Date.now()) / 1000, backdate: (Date.now() - Date.parse(c.validFrom)) / 1000 };
  };
  const near = (a: number, b: number) => Math.abs(a - b) < 5;
  assert.ok(near(life().ttl, 86_400), `default ${life().ttl}`);
  assert.ok(near(life(3600).ttl, 3600), 'shorter honoured');
  assert.ok(near(life(10 * 86_400).ttl, 86_400), 'longer capped');
  assert.ok(near(life().backdate, 60), 'backdated 60 s');
  const short = new Signer(ca.signer.set, 'cluster.local', 600_000);
  assert.ok(near((Date.parse(new X509Certificate(short.sign({ csrPem: csr }).chain[0]!).validTo) - Date.now()) / 1000, 600));
  // The CSR asks for another identity than the token's: refused, saying why.
  assert.throws(() => ca.signer.sign({ csrPem: csr, identity: { namespace: 'a', serviceAccount: 'x' } }),
    (e: unknown) => e instanceof CsrError && e.kind === 'denied' && /asks for spiffe:\/\/cluster\.local\/ns\/a\/sa\/b, but the caller's token is for spiffe:\/\/cluster\.local\/ns\/a\/sa\/x/.test(e.message));
  // Without a token the CSR's identity is used with the mesh's trust domain.
  const other = await createCsr(generateKeyPair(), 'spiffe://elsewhere/ns/n/sa/s');
  assert.equal(ca.signer.sign({ csrPem: other }).spiffeId, 'spiffe://cluster.local/ns/n/sa/s');
  assert.throws(() => ca.signer.sign({ csrPem: 'nope' }), (e: unknown) => e instanceof CsrError && e.kind === 'invalid');
});

test('root rotation: prepare, activate, retire; the bundle at each phase, leaves verify against it, state persisted', async (t) => {
  const dir = tmp(t);
  const bundles: (readonly string[])[] = [];
  const ca = await MeshCa.create({ trustDomain: 'cluster.local', dataDir: dir, trustLoopback: false, onBundle: (b) => bundles.push(b) });
  await ca.start('127.0.0.1', 0);
  t.after(() => ca.close());
  const csr = await createCsr(generateKeyPair(), 'spiffe://cluster.local/ns/a/sa/b');
  const leaf = () => ca.signer.sign({ csrPem: csr, identity: { namespace: 'a', serviceAccount: 'b' } }).chain;
  const old = ca.bundle[0]!;
  assert.deepEqual(bundles, [[old]]);
  const oldLeaf = leaf();

  await ca.prepare();
  const next = ca.bundle[1]!;
  assert.notEqual(next, old);
  assert.deepEqual(ca.bundle, [old, next]);
  assert.equal(ca.status().phase, 'prepared');
  assert.equal(leaf().at(-1), old, 'the old root still signs');
  assert.deepEqual(bundles.at(-1), [old, next]);
  await assert.rejects(ca.prepare(), /already prepared/);
  // Restart in the middle: same phase and bundle.
  assert.deepEqual((await RootStore.open({ dataDir: dir, trustDomain: 'cluster.local' })).store.state.phase, 'prepared');

  const servingBefore = ca.serving.chain[0];
  ca.activate();
  assert.deepEqual(ca.bundle, [next, old]);
  const newLeaf = leaf();
  assert.equal(newLeaf.at(-1), next, 'the new root signs');
  assert.notEqual(ca.serving.chain[0], servingBefore, 'the serving certificate was re-issued');
  assert.equal(ca.serving.chain.at(-1), next);
  // Both generations of leaves verify against the bundle during the overlap.
  assert.match(verifyChain(dir, oldLeaf, ca.bundle), /OK/);
  assert.match(verifyChain(dir, newLeaf, ca.bundle), /OK/);
  const reopened = (await RootStore.open({ dataDir: dir, trustDomain: 'cluster.local' })).store.state;
  assert.equal(reopened.phase, 'activated');
  assert.deepEqual(bundleOf(reopened), [next, old]);
  assert.throws(() => ca.activate(), /cannot activate/);

  ca.retire();
  assert.deepEqual(ca.bundle, [next]);
  assert.deepEqual(bundles.at(-1), [next]);
  assert.throws(() => verifyChain(dir, oldLeaf, ca.bundle), 'an old leaf no longer verifies');
  const after = (await RootStore.open({ dataDir: dir, trustDomain: 'cluster.local' })).store.state;
  assert.equal(after.phase, 'steady');
  assert.deepEqual(bundleOf(after), [next]);
  assert.equal(ca.status().roots.length, 1);
  assert.equal(ca.status().roots[0]!.signing, true);
});

test('rotation with a given root (cert + key); a key that does not match it is refused', async (t) => {
  const dir = tmp(t);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '30',
    '-subj', '/O=cluster.local/CN=Given Root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const ca = await MeshCa.create({ trustDomain: 'cluster.local', trustLoopback: false });
  await ca.prepare({ certPem: readFileSync(join(dir, 'c.pem'), 'utf8'), keyPem: readFileSync(join(dir, 'k.pem'), 'utf8') });
  assert.equal(new X509Certificate(ca.bundle[1]!).subject, 'O=cluster.local\nCN=Given Root');
  const ca2 = await MeshCa.create({ trustDomain: 'cluster.local', trustLoopback: false });
  await assert.rejects(ca2.prepare({ certPem: readFileSync(join(dir, 'c.pem'), 'utf8'), keyPem: generateKeyPair().privateKeyPem }), /does not match/);
});
