// X.509 building blocks for Weft's CA and its workloads (RFC 5280 certificates, RFC 2986 CSRs),
// ECDSA P-256 with SHA-256 throughout, through @peculiar/x509 over Node's WebCrypto. The CA
// (src/control/ca/) signs with them; the sidecar agent (src/sidecar/agent/) makes its key and CSR
// with them, so a private key never leaves the process that made it.

import 'reflect-metadata';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';

const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

const ALG: EcKeyGenParams & EcdsaParams = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** PKCS#8 PEM of the private key. */
  readonly privateKeyPem: string;
}

/** A new ECDSA P-256 key pair. */
export function generateKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKey, privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

/** A key pair from a PEM private key (PKCS#8 or SEC1). */
export function keyPairFromPem(privateKeyPem: string): KeyPair {
  const privateKey = createPrivateKey(privateKeyPem);
  return { privateKey, publicKey: createPublicKey(privateKey), privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

async function signingKey(k: KeyObject): Promise<CryptoKey> {
  return crypto.subtle.importKey('pkcs8', new Uint8Array(k.export({ format: 'der', type: 'pkcs8' })), ALG, false, ['sign']);
}

async function verifyingKey(k: KeyObject): Promise<CryptoKey> {
  return crypto.subtle.importKey('spki', new Uint8Array(k.export({ format: 'der', type: 'spki' })), ALG, true, ['verify']);
}

async function cryptoPair(kp: Pick<KeyPair, 'privateKey' | 'publicKey'>): Promise<CryptoKeyPair> {
  return { privateKey: await signingKey(kp.privateKey), publicKey: await verifyingKey(kp.publicKey) };
}

export function toPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export function fromPem(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** Splits a PEM bundle into its certificates (each a PEM string). */
export function splitPemCertificates(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((s) => s + '\n') ?? [];
}

/** A CSR for a workload: an empty subject and the SPIFFE id as its one URI SAN (as Istio's agent makes). */
export async function createCsr(kp: KeyPair, spiffeUri: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: await cryptoPair(kp),
    signingAlgorithm: ALG,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeUri }])],
  }, crypto);
  return csr.toString('pem');
}

export interface CsrInfo {
  /** URI SANs the CSR asks for. */
  readonly uris: readonly string[];
  readonly publicKey: KeyObject;
}

/** Parses and verifies (self-signature) a PEM CSR; throws with the reason when it is not acceptable. */
export async function readCsr(pem: string): Promise<CsrInfo> {
  const csr = new x509.Pkcs10CertificateRequest(pem);
  if (!(await csr.verify(crypto))) throw new Error('the CSR signature does not verify');
  const san = csr.extensions.find((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension);
  const uris = san?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? [];
  return { uris, publicKey: createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' }) };
}

export interface IssueOptions {
  /** The signer's certificate (PEM) and private key. */
  readonly issuerCertPem: string;
  readonly issuerKey: KeyObject;
  /** The subject's public key. */
  readonly publicKey: KeyObject;
  /** URI SANs (the SPIFFE id) and DNS SANs. */
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ttlMs: number;
  /** Backdating against clock skew (default 60 s; Istio backdates too). */
  readonly backdateMs?: number;
  readonly subject?: string;
  /** A CA certificate (basicConstraints CA:true) instead of a leaf. */
  readonly ca?: boolean;
}

/** Signs a certificate (a leaf for mTLS, client and server auth; or an intermediate CA). */
export async function issueCertificate(o: IssueOptions): Promise<string> {
  const issuer = new x509.X509Certificate(o.issuerCertPem);
  const now = Date.now();
  const names = [...(o.uris ?? []).map((value) => ({ type: 'url' as const, value })), ...(o.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value }))];
  const publicKey = await verifyingKey(o.publicKey);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(o.ca === true, undefined, true),
    new x509.KeyUsagesExtension(o.ca === true ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature
      : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    await x509.AuthorityKeyIdentifierExtension.create(issuer, false, crypto),
    await x509.SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
  ];
  if (o.ca !== true) extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]));
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, o.subject === undefined || o.subject === ''));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: o.subject ?? '',
    issuer: issuer.subject,
    notBefore: new Date(now - (o.backdateMs ?? 60_000)),
    notAfter: new Date(now + o.ttlMs),
    signingAlgorithm: ALG,
    publicKey,
    signingKey: await signingKey(o.issuerKey),
    extensions,
  }, crypto);
  return cert.toString('pem');
}

/** A self-signed root CA certificate. */
export async function createRootCertificate(kp: KeyPair, subject: string, ttlMs: number): Promise<string> {
  const now = Date.now();
  const keys = await cryptoPair(kp);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + ttlMs),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    ],
  }, crypto);
  return cert.toString('pem');
}

export interface CertInfo {
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  readonly isCa: boolean;
  /** SHA-256 fingerprint, hex. */
  readonly fingerprint256: string;
}

/** What a PEM certificate says (the first one of a bundle). Synchronous: uses node:crypto's X509Certificate. */
export { certInfo } from './cert-info.js';

function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive
  return b.toString('hex');
}
