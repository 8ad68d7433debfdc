// The certificate authority of `weft control` (the role istiod's CA plays): a self-managed root
// (ECDSA P-256, 10 years, kept in `<data-dir>/ca/`, in memory without a data dir) or a plug-in CA
// given as Istio's `cacerts` files (ca-cert, ca-key, cert-chain, root-cert). It signs workload
// certificates from CSRs (SPIFFE URI SAN, backdated 60 s, server and client auth, TTL capped) and
// returns chains in Istio's order: leaf, intermediates, root. Root rotation (./rotation.ts) changes
// which root signs and which roots the trust bundle holds.

import { readFileSync } from 'node:fs';
import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import { createRootCertificate, generateKeyPair, issueCertificateDetailed, issueCertificateSync, issuedBy, keyPairFromPem, readCsrSync, splitPemCertificates } from '../../security/x509.js';
import { spiffeId, type WorkloadIdentity } from '../../security/spiffe.js';

export const DEFAULT_CERT_TTL_MS = 24 * 3_600_000;
export const MAX_CERT_TTL_MS = 90 * 24 * 3_600_000;
export const ROOT_TTL_MS = 10 * 365 * 24 * 3_600_000;
export const BACKDATE_MS = 60_000;

/** What signs: a certificate and its key, the intermediates above it, and its root. */
export interface SigningSet {
  /** The signer (the root itself for a self-managed root; an intermediate for a plug-in CA). */
  readonly certPem: string;
  readonly key: KeyObject;
  readonly keyPem: string;
  /** Certificates between the signer and the root (not the signer, not the root), nearest first. */
  readonly intermediates: readonly string[];
  readonly rootPem: string;
}

/** A new self-signed root (subject `O=<trustDomain>`). */
export async function newRootSet(trustDomain: string): Promise<SigningSet> {
  const kp = generateKeyPair();
  const rootPem = await createRootCertificate(kp, `O=${trustDomain}`, ROOT_TTL_MS);
  return { certPem: rootPem, key: kp.privateKey, keyPem: kp.privateKeyPem, intermediates: [], rootPem };
}

/** A root given as files (`weft ca rotate prepare --root-cert F --root-key F`): checked like a plug-in CA. */
export function rootSetFromPem(certPem: string, keyPem: string, what = { cert: '--root-cert', key: '--root-key' }): SigningSet {
  return checkSet({ cert: certPem, key: keyPem, chain: '', root: certPem }, { cert: what.cert, key: what.key, chain: what.cert, root: what.cert });
}

export interface PluginFiles { readonly caCert: string; readonly caKey: string; readonly caChain?: string; readonly rootCert: string }

/** Istio's `cacerts` as files; throws naming the flag whose file is wrong. */
export function pluginSet(f: PluginFiles): SigningSet {
  const read = (file: string, flag: string): string => {
    try { return readFileSync(file, 'utf8'); } catch (e) { throw new Error(`${flag}: cannot read ${file}: ${(e as Error).message}`); }
  };
  return checkSet(
    { cert: read(f.caCert, '--ca-cert'), key: read(f.caKey, '--ca-key'), chain: f.caChain === undefined ? '' : read(f.caChain, '--ca-chain'), root: read(f.rootCert, '--root-cert') },
    { cert: '--ca-cert', key: '--ca-key', chain: '--ca-chain', root: '--root-cert' },
  );
}

function checkSet(t: { cert: string; key: string; chain: string; root: string }, flag: { cert: string; key: string; chain: string; root: string }): SigningSet {
  const parse = (pem: string, f: string): X509Certificate => {
    try { return new X509Certificate(pem); } catch (e) { throw new Error(`${f}: not a PEM certificate (${(e as Error).message})`); }
  };
  const certPem = splitPemCertificates(t.cert)[0];
  if (certPem === undefined) throw new Error(`${flag.cert}: no PEM certificate in the file`);
  const rootPem = splitPemCertificates(t.root)[0];
  if (rootPem === undefined) throw new Error(`${flag.root}: no PEM certificate in the file`);
  const cert = parse(certPem, flag.cert), root = parse(rootPem, flag.root);
  let kp;
  try { kp = keyPairFromPem(t.key); } catch (e) { throw new Error(`${flag.key}: not a PEM private key (${(e as Error).message})`); }
  const certKey = createPublicKey(cert.publicKey.export({ format: 'pem', type: 'spki' }));
  if (!certKey.equals(kp.publicKey)) throw new Error(`${flag.key}: the key does not match the certificate of ${flag.cert}`);
  if (!cert.ca) throw new Error(`${flag.cert}: not a CA certificate (basicConstraints CA:TRUE is required)`);
  if (!root.ca) throw new Error(`${flag.root}: not a CA certificate`);
  if (!issuedBy(rootPem, rootPem)) throw new Error(`${flag.root}: not a self-signed root`);
  const now = Date.now();
  if (Date.parse(cert.validTo) < now) throw new Error(`${flag.cert}: expired on ${cert.validTo}`);
  // The chain file may hold the signer and the root too (Istio's cert-chain.pem does): keep what is between.
  const fps = new Set([cert.fingerprint256, root.fingerprint256]);
  const intermediates = splitPemCertificates(t.chain).filter((p) => !fps.has(parse(p, flag.chain).fingerprint256));
  const path = [certPem, ...intermediates];
  if (cert.fingerprint256 !== root.fingerprint256) {
    for (let i = 0; i < path.length; i++) {
      const issuer = i + 1 < path.length ? path[i + 1]! : rootPem;
      if (!issuedBy(path[i]!, issuer)) {
        throw new Error(`${i === 0 && intermediates.length === 0 ? flag.cert : flag.chain}: the chain does not lead to the root of ${flag.root} (certificate ${i + 1} of the chain is not signed by the next)`);
      }
    }
  }
  return { certPem, key: kp.privateKey, keyPem: kp.privateKeyPem, intermediates, rootPem };
}

/** Why a CSR is refused (the gRPC server maps these to status codes). */
export class CsrError extends Error {
  constructor(readonly kind: 'invalid' | 'denied', message: string) { super(message); }
}

export interface SignRequest {
  readonly csrPem: string;
  /** Who the caller proved to be (token); undefined: take the CSR's SPIFFE id (trusted loopback caller). */
  readonly identity?: { readonly namespace: string; readonly serviceAccount: string };
  /** Requested lifetime in seconds (0/undefined: the default). */
  readonly validitySeconds?: number;
}

export interface Issued {
  readonly identity: WorkloadIdentity;
  readonly spiffeId: string;
  /** Leaf first, then intermediates, then the root. */
  readonly chain: readonly string[];
  readonly serial: string;
  readonly notAfter: Date;
}

/** Signs with whatever SigningSet the rotation says is current. */
export class Signer {
  #set: SigningSet;

  constructor(set: SigningSet, readonly trustDomain: string, readonly ttlMs = DEFAULT_CERT_TTL_MS) { this.#set = set; }

  get set(): SigningSet { return this.#set; }
  setSigning(set: SigningSet): void { this.#set = set; }

  /** The TTL for a requested validity (shorter honoured, longer capped). */
  ttlFor(validitySeconds: number | undefined): number {
    const asked = (validitySeconds ?? 0) * 1000;
    return asked > 0 && asked < this.ttlMs ? asked : this.ttlMs;
  }

  /** Signs a workload CSR; throws CsrError. */
  sign(r: SignRequest): Issued {
    let csr;
    try { csr = readCsrSync(r.csrPem); } catch (e) { throw new CsrError('invalid', `CSR: ${(e as Error).message}`); }
    let identity: WorkloadIdentity;
    if (r.identity !== undefined) {
      identity = { trustDomain: this.trustDomain, ...r.identity };
      const want = spiffeId(identity);
      for (const u of csr.uris) {
        if (u !== want) throw new CsrError('denied', `the CSR asks for ${u}, but the caller's token is for ${want}`);
      }
    } else {
      const m = csr.uris.length === 1 ? /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(csr.uris[0]!) : null;
      if (m === null) throw new CsrError('invalid', `the CSR must name one SPIFFE id spiffe://<trust domain>/ns/<namespace>/sa/<service account> as its URI SAN (got ${csr.uris.length === 0 ? 'none' : csr.uris.join(', ')})`);
      identity = { trustDomain: this.trustDomain, namespace: m[1]!, serviceAccount: m[2]! };
    }
    const id = spiffeId(identity);
    const s = this.#set;
    const leaf = issueCertificateDetailed({ issuerCertPem: s.certPem, issuerKey: s.key, publicKey: csr.publicKey, uris: [id], ttlMs: this.ttlFor(r.validitySeconds), backdateMs: BACKDATE_MS });
    return { identity, spiffeId: id, chain: [leaf.pem, ...this.chainAbove()], serial: leaf.serialNumber, notAfter: leaf.notAfter };
  }

  /** A leaf for a key this process holds (the control plane's own serving certificate). */
  issueFor(publicKey: KeyObject, uris: readonly string[], dnsNames: readonly string[], ttlMs: number): readonly string[] {
    const s = this.#set;
    const leaf = issueCertificateSync({ issuerCertPem: s.certPem, issuerKey: s.key, publicKey, uris, dnsNames, ttlMs: Math.min(ttlMs, this.ttlMs), backdateMs: BACKDATE_MS });
    return [leaf, ...this.chainAbove()];
  }

  /** What follows a leaf in a chain: the signer (when not the root), intermediates, the root. */
  chainAbove(): string[] {
    const s = this.#set;
    return s.certPem === s.rootPem ? [s.rootPem] : [s.certPem, ...s.intermediates, s.rootPem];
  }
}
