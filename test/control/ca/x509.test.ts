// The hand-built DER of src/security/x509.ts + der.ts: roots, leaves and CSRs that openssl and
// node:crypto accept (openssl verify, openssl x509 -text, openssl req -verify), CSRs made by
// `openssl req` (EC and RSA) read back, and CSRs that are forged or malformed refused.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { createCsr, createRootCertificate, generateKeyPair, issueCertificate, keyPairFromPem, readCsr, fromPem, toPem } from '../../../src/security/x509.js';

const openssl = (args: string[], input?: string): string => execFileSync('openssl', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });

function tmp(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'weft-x509-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('root, intermediate and leaf built by hand verify with openssl and carry the right extensions', async (t) => {
  const dir = tmp(t);
  const rk = generateKeyPair();
  const root = await createRootCertificate(rk, 'O=cluster.local', 10 * 365 * 86_400_000);
  const ik = generateKeyPair();
  const inter = await issueCertificate({ issuerCertPem: root, issuerKey: rk.privateKey, publicKey: ik.publicKey, ca: true, subject: 'O=cluster.local, CN=Intermediate CA', ttlMs: 365 * 86_400_000 });
  const wk = generateKeyPair();
  const info = await readCsr(await createCsr(wk, 'spiffe://cluster.local/ns/a/sa/b'));
  const leaf = await issueCertificate({ issuerCertPem: inter, issuerKey: ik.privateKey, publicKey: info.publicKey, uris: info.uris, ttlMs: 86_400_000 });
  writeFileSync(join(dir, 'root.pem'), root);
  writeFileSync(join(dir, 'inter.pem'), inter);
  writeFileSync(join(dir, 'leaf.pem'), leaf);
  assert.match(openssl(['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'inter.pem'), '-purpose', 'sslclient', join(dir, 'leaf.pem')]), /leaf\.pem: OK/);
  assert.match(openssl(['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'inter.pem'), '-purpose', 'sslserver', join(dir, 'leaf.pem')]), /leaf\.pem: OK/);
  const text = openssl(['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-text']);
  assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
  assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
  assert.match(text, /X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
  assert.match(text, /X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/cluster\.local\/ns\/a\/sa\/b/);
  assert.match(text, /Issuer: O ?= ?cluster\.local, CN ?= ?Intermediate CA/);
  const rootText = openssl(['x509', '-in', join(dir, 'root.pem'), '-noout', '-text']);
  assert.match(rootText, /Subject: O ?= ?cluster\.local/);
  assert.match(rootText, /CA:TRUE/);
  assert.match(rootText, /Certificate Sign, CRL Sign/);
  // node:crypto agrees.
  const l = new X509Certificate(leaf), i = new X509Certificate(inter), r = new X509Certificate(root);
  assert.ok(l.verify(i.publicKey) && l.checkIssued(i));
  assert.ok(i.verify(r.publicKey) && r.verify(r.publicKey));
  assert.equal(l.subjectAltName, 'URI:spiffe://cluster.local/ns/a/sa/b');
  assert.equal(l.ca, false);
  assert.equal(i.ca, true);
  assert.ok(Date.parse(l.validFrom) <= Date.now() - 55_000, 'backdated 60 s');
  // The CSR itself passes openssl's self-signature check.
  assert.match(execFileSync('openssl', ['req', '-noout', '-verify'], { input: await createCsr(wk, 'spiffe://x/ns/y/sa/z'), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] }) + '', /^$|verify OK/);
});

test('CSRs made by openssl req (EC and RSA) are read; their URI SANs come out', async (t) => {
  const dir = tmp(t);
  for (const [alg, keyArgs] of [['ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']], ['rsa', ['-newkey', 'rsa:2048']]] as const) {
    const key = join(dir, `${alg}.key`);
    const csr = openssl(['req', '-new', ...keyArgs, '-nodes', '-keyout', key, '-subj', '/', '-addext', 'subjectAltName=URI:spiffe://cluster.local/ns/shop/sa/cart,DNS:cart.shop']);
    const info = await readCsr(csr);
    assert.deepEqual(info.uris, ['spiffe://cluster.local/ns/shop/sa/cart'], alg);
    assert.equal(info.publicKey.asymmetricKeyType, alg);
    // Issued for an RSA key by an EC root: still verifies.
    const rk = generateKeyPair();
    const root = await createRootCertificate(rk, 'O=cluster.local', 86_400_000);
    const leaf = await issueCertificate({ issuerCertPem: root, issuerKey: rk.privateKey, publicKey: info.publicKey, uris: info.uris, ttlMs: 3_600_000 });
    writeFileSync(join(dir, 'r.pem'), root);
    writeFileSync(join(dir, 'l.pem'), leaf);
    assert.match(openssl(['verify', '-CAfile', join(dir, 'r.pem'), join(dir, 'l.pem')]), /OK/);
  }
  // An RSA signer (Istio's sample cacerts are RSA) issues verifiable leaves.
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'rsa-root.key'), '-out', join(dir, 'rsa-root.pem'), '-days', '2', '-subj', '/O=rsa-root',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const { readFileSync } = await import('node:fs');
  const rsaRoot = readFileSync(join(dir, 'rsa-root.pem'), 'utf8');
  const rsaKey = keyPairFromPem(readFileSync(join(dir, 'rsa-root.key'), 'utf8'));
  const leaf = await issueCertificate({ issuerCertPem: rsaRoot, issuerKey: rsaKey.privateKey, publicKey: generateKeyPair().publicKey, uris: ['spiffe://td/ns/a/sa/b'], ttlMs: 3_600_000 });
  writeFileSync(join(dir, 'rl.pem'), leaf);
  assert.match(openssl(['verify', '-CAfile', join(dir, 'rsa-root.pem'), join(dir, 'rl.pem')]), /OK/);
  assert.match(openssl(['x509', '-in', join(dir, 'rl.pem'), '-noout', '-text']), /Signature Algorithm: sha256WithRSAEncryption/);
});

test('a CSR whose signature does not match its key, or that is not DER, is refused with the reason', async () => {
  const csr = await createCsr(generateKeyPair(), 'spiffe://cluster.local/ns/a/sa/b');
  const der = fromPem(csr);
  // Flip one byte inside the SAN (the signed part): the signature no longer verifies.
  const at = der.indexOf(Buffer.from('ns/a/sa/b'));
  const forged = Buffer.from(der);
  forged[at + 3] = 'x'.charCodeAt(0);
  await assert.rejects(readCsr(toPem(forged, 'CERTIFICATE REQUEST')), /the CSR signature does not verify/);
  await assert.rejects(readCsr(toPem(der.subarray(0, 40), 'CERTIFICATE REQUEST')), /malformed CSR/);
  await assert.rejects(readCsr('hello'), /not a PEM certificate request/);
});
