// The sidecar's certificate agent against a fake CA (test/helpers/fake-ca.ts): the CSR names the
// workload's SPIFFE id, the token and node id reach the CA, the private key is never written, the
// leaf is renewed at half life and pushed to SDS clients, a new signing root re-issues it, and the
// agent retries while the CA refuses.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAgent, ROOTCA_REF } from '../../src/sidecar/agent/agent.js';
import { SdsServer } from '../../src/sidecar/agent/sds-server.js';
import type { SdsSecretRef } from '../../src/proxy/config/types.js';
import type { SecretManager, SecretValue } from '../../src/proxy/secrets/types.js';
import { makeRoot, startFakeCa } from '../helpers/fake-ca.js';
import { waitUntil } from '../helpers/adversarial.js';

const until = (what: string, cond: () => boolean, ms: number): Promise<void> => waitUntil(cond, ms, what);
import { sdsStream } from '../helpers/sds-client.js';

const identity = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'cart' };
const SPIFFE = 'spiffe://cluster.local/ns/shop/sa/cart';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'weft-agent-test-'));
  dirs.push(d);
  return d;
}

function uriSans(pem: string): string[] {
  return (new X509Certificate(pem).subjectAltName ?? '').split(', ').filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
}

test('agent: the CSR names the SPIFFE id; token and node id reach the CA; the key is never written', async () => {
  const root = await makeRoot('cluster.local');
  const ca = await startFakeCa(root);
  const dir = tempDir();
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'token-one\n');
  const agent = new CertificateAgent({
    identity, nodeId: 'sidecar~127.0.0.1~cart-1.shop~shop.svc.cluster.local', caAddress: ca.address, trustBundle: root.certPem,
    tokenFile, trustBundleFile: join(dir, 'root-cert.pem'), validitySeconds: 3600,
  });
  const sds = await SdsServer.listen(agent, join(dir, 'sds.sock'));
  try {
    await agent.start();
    assert.equal(ca.requests.length, 1);
    assert.deepEqual(ca.requests[0]!.uris, [SPIFFE]);
    assert.equal(ca.requests[0]!.token, 'token-one');
    assert.equal(ca.requests[0]!.nodeId, 'sidecar~127.0.0.1~cart-1.shop~shop.svc.cluster.local');
    assert.equal(ca.requests[0]!.validitySeconds, 3600);
    const c = agent.certificate!;
    assert.equal(c.spiffeId, SPIFFE);
    assert.deepEqual(uriSans(c.chainPem), [SPIFFE]);
    assert.ok(new X509Certificate(c.chainPem).verify(new X509Certificate(root.certPem).publicKey), 'the leaf chains to the root');
    // The served chain holds the leaf only (the self-signed root belongs to ROOTCA).
    assert.equal(c.chainPem.match(/BEGIN CERTIFICATE/g)?.length, 1);
    // The directory holds the socket and the trust bundle; nothing in it holds a private key.
    for (const f of readdirSync(dir)) {
      if (f === 'sds.sock') continue;
      assert.ok(!readFileSync(join(dir, f), 'utf8').includes('PRIVATE KEY'), `${f} holds a private key`);
    }
    assert.equal(readFileSync(join(dir, 'root-cert.pem'), 'utf8'), root.certPem);
    // The token is re-read on each call.
    writeFileSync(tokenFile, 'token-two\n');
    agent.setTrustBundle((await makeRoot('other')).certPem + root.certPem); // another signing root first: forces a re-issue
    await ca.waitIssued(2);
    assert.equal(ca.requests.at(-1)!.token, 'token-two');
  } finally {
    agent.close();
    await sds.close();
    await ca.close();
  }
});

test('agent: renewal at half life (4 s leaves) reaches an SDS client as a new version, with the ACK seen', async () => {
  const root = await makeRoot('cluster.local');
  const ca = await startFakeCa(root, { ttlMs: 4000 });
  const dir = tempDir();
  const agent = new CertificateAgent({ identity, nodeId: 'n1', caAddress: ca.address, trustBundle: root.certPem });
  const sds = await SdsServer.listen(agent, join(dir, 'sds.sock'));
  const client = sdsStream(join(dir, 'sds.sock'), ['default', 'ROOTCA']);
  try {
    const firstAt = Date.now();
    await agent.start();
    // ROOTCA may come first, alone (it is known before the first certificate).
    let r1 = await client.next();
    if (!r1.secrets.has('default')) { client.ack(r1); r1 = await client.next(); }
    const s1 = r1.secrets.get('default')!;
    assert.ok(s1.kind === 'tls_certificate');
    assert.deepEqual(uriSans(s1.certificateChain), [SPIFFE]);
    assert.ok(new X509Certificate(s1.certificateChain).checkPrivateKey((await import('node:crypto')).createPrivateKey(s1.privateKey)));
    assert.deepEqual(r1.secrets.get('ROOTCA'), { kind: 'validation_context', name: 'ROOTCA', trustedCa: root.certPem });
    client.ack(r1);
    // The second certificate comes at about half of the 4 s lifetime, not at once, not at expiry.
    const r2 = await client.next(8000);
    const renewedAfter = Date.now() - firstAt;
    assert.ok(renewedAfter >= 1200 && renewedAfter < 4000, `renewed after ${renewedAfter} ms`);
    const s2 = r2.secrets.get('default')!;
    assert.ok(s2.kind === 'tls_certificate');
    assert.notEqual(s2.certificateChain, s1.certificateChain);
    assert.notEqual(r2.version, r1.version);
    assert.notEqual(s2.privateKey, s1.privateKey, 'a new key per certificate');
    client.ack(r2);
    await until('the SDS server counted the ACKs', () => sds.stats.acks >= 2, 5000);
    assert.equal(sds.stats.nacks, 0);
    assert.equal(agent.certificate!.generation >= 2, true);
  } finally {
    client.close();
    agent.close();
    await sds.close();
    await ca.close();
  }
});

/** A SecretManager stub that serves ROOTCA as the test sets it. */
function stubSecrets(): SecretManager & { set(v: SecretValue): void; watchers: number } {
  let value: SecretValue | undefined;
  const fns = new Set<(v: SecretValue) => void>();
  return {
    get watchers() { return fns.size; },
    set(v) { value = v; for (const f of fns) f(v); },
    get: (ref: SdsSecretRef) => (ref.name === 'ROOTCA' ? value : undefined),
    watch: (ref, fn) => { assert.equal(ref.name, 'ROOTCA'); fns.add(fn); return () => fns.delete(fn); },
    ready: async () => undefined,
    list: () => [],
  };
}

test('agent: a ROOTCA bundle whose first root did not sign the leaf re-issues it; one that did, does not', async () => {
  const oldRoot = await makeRoot('old');
  const newRoot = await makeRoot('new');
  const ca = await startFakeCa(oldRoot);
  const dir = tempDir();
  const bundleFile = join(dir, 'root-cert.pem');
  const agent = new CertificateAgent({ identity, nodeId: 'n1', caAddress: ca.address, trustBundle: oldRoot.certPem, trustBundleFile: bundleFile });
  const secrets = stubSecrets();
  const unwatch = agent.watchTrustBundle(secrets, ROOTCA_REF);
  try {
    await agent.start();
    assert.equal(secrets.watchers, 1);
    const first = agent.certificate!;
    // Rotation, prepare: [old (signing), new] — the leaf is still from the signing root.
    secrets.set({ kind: 'validation_context', name: 'ROOTCA', trustedCa: oldRoot.certPem + newRoot.certPem });
    assert.equal(readFileSync(bundleFile, 'utf8'), oldRoot.certPem + newRoot.certPem, 'the bundle file follows ROOTCA');
    // Activate: [new (signing), old] and the CA signs with the new root.
    ca.signingRoot = newRoot;
    await new Promise((r) => setImmediate(r));
    assert.equal(ca.issued, 1, 'no re-issue while the signing root is unchanged');
    secrets.set({ kind: 'validation_context', name: 'ROOTCA', trustedCa: newRoot.certPem + oldRoot.certPem });
    await ca.waitIssued(2);
    await until('the agent installed the new leaf', () => agent.certificate!.generation === 2, 5000);
    const second = agent.certificate!;
    assert.notEqual(second.serialNumber, first.serialNumber);
    assert.ok(new X509Certificate(second.chainPem).verify(new X509Certificate(newRoot.certPem).publicKey), 'the new leaf is from the new root');
    // Retire: [new] — the leaf is from it: nothing to do.
    secrets.set({ kind: 'validation_context', name: 'ROOTCA', trustedCa: newRoot.certPem });
    await new Promise((r) => setTimeout(r, 100).unref());
    assert.equal(ca.issued, 2);
  } finally {
    unwatch();
    agent.close();
    await ca.close();
  }
});

test('agent: while the CA refuses, it retries with back-off; the first certificate arrives once the CA accepts', async () => {
  const root = await makeRoot('cluster.local');
  const ca = await startFakeCa(root);
  ca.failWith = { code: grpc.status.UNAVAILABLE, message: 'not yet' };
  const agent = new CertificateAgent({ identity, nodeId: 'n1', caAddress: ca.address, trustBundle: root.certPem, backoff: { initialMs: 50, maxMs: 200 } });
  const failures: string[] = [];
  agent.on('issue_failed', (e) => failures.push(e.message));
  let ready = false;
  const started = agent.start().then(() => { ready = true; });
  try {
    await until('three refused attempts', () => ca.requests.length >= 3, 10_000);
    assert.equal(ready, false);
    assert.match(agent.lastError ?? '', /UNAVAILABLE: not yet/);
    ca.failWith = null;
    await started;
    assert.ok(agent.certificate !== undefined);
    assert.equal(agent.lastError, null);
    assert.ok(failures.length >= 3);
  } finally {
    agent.close();
    await ca.close();
  }
});

test('agent: a CA whose certificate does not chain to the trust root is refused', async () => {
  const root = await makeRoot('cluster.local');
  const stranger = await makeRoot('stranger');
  const ca = await startFakeCa(root);
  const agent = new CertificateAgent({ identity, nodeId: 'n1', caAddress: ca.address, trustBundle: stranger.certPem, backoff: { initialMs: 50, maxMs: 100 } });
  try {
    agent.start().catch(() => undefined);
    await until('a failed attempt', () => agent.lastError !== null, 10_000);
    assert.equal(ca.requests.length, 0, 'the CSR never reached an unverified server');
    assert.equal(agent.certificate, undefined);
  } finally {
    agent.close();
    await ca.close();
  }
});
