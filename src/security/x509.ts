// X.509 building blocks for Weft's CA and its workloads (RFC 5280 certificates, RFC 2986 CSRs),
// ECDSA P-256 with SHA-256 for what Weft makes (an RSA signer or CSR, e.g. a plug-in CA from
// Istio's samples, is accepted too). Certificates and CSRs are built as DER by hand (./der.ts) and
// signed with node:crypto: one signature per certificate, no ASN.1 object model, so the CA signs
// thousands of CSRs a second. The CA (src/control/ca/) signs with them; the sidecar agent makes its
// key and CSR with them, so a private key never leaves the process that made it.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import * as der from './der.js';

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

/** A key pair from a PEM private key (PKCS#8, SEC1 or PKCS#1). */
export function keyPairFromPem(privateKeyPem: string): KeyPair {
  const privateKey = createPrivateKey(privateKeyPem);
  return { privateKey, publicKey: createPublicKey(privateKey), privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
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

// ───────────────────────────── OIDs and fixed encodings ─────────────────────────────

const OID = {
  ecdsaSha256: '1.2.840.10045.4.3.2', ecdsaSha384: '1.2.840.10045.4.3.3', ecdsaSha512: '1.2.840.10045.4.3.4',
  rsaSha256: '1.2.840.113549.1.1.11', rsaSha384: '1.2.840.113549.1.1.12', rsaSha512: '1.2.840.113549.1.1.13',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectKeyIdentifier: '2.5.29.14', keyUsage: '2.5.29.15', subjectAltName: '2.5.29.17', basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35', extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** Signature algorithm OID → digest for node:crypto (what readCsr accepts). */
const SIG_HASH: Record<string, string> = {
  [OID.ecdsaSha256]: 'sha256', [OID.ecdsaSha384]: 'sha384', [OID.ecdsaSha512]: 'sha512',
  [OID.rsaSha256]: 'sha256', [OID.rsaSha384]: 'sha384', [OID.rsaSha512]: 'sha512',
};

const ALG_ECDSA_SHA256 = der.seq(der.oid(OID.ecdsaSha256));
const ALG_RSA_SHA256 = der.seq(der.oid(OID.rsaSha256), der.nul());

const ATTR_TYPES: Record<string, string> = { CN: '2.5.4.3', C: '2.5.4.6', L: '2.5.4.7', ST: '2.5.4.8', O: '2.5.4.10', OU: '2.5.4.11' };

/** An X.501 Name from `K=V, K=V` (CN, O, OU, C, L, ST); '' is the empty name. */
function encodeName(subject: string): Buffer {
  if (subject.trim() === '') return der.seq();
  const rdns = subject.split(/\s*[,/\n]\s*/).filter((s) => s !== '').map((part) => {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim().toUpperCase();
    const oid = ATTR_TYPES[key];
    if (eq < 0 || oid === undefined) throw new Error(`subject '${subject}': unsupported attribute '${part}' (use CN, O, OU, C, L, ST)`);
    const value = part.slice(eq + 1).trim();
    return der.set(der.seq(der.oid(oid), key === 'C' ? der.printable(value) : der.utf8(value)));
  });
  return der.seq(...rdns);
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return critical ? der.seq(der.oid(oid), der.bool(true), der.octets(value)) : der.seq(der.oid(oid), der.octets(value));
}

const BC_LEAF = extension(OID.basicConstraints, true, der.seq());
const BC_CA = extension(OID.basicConstraints, true, der.seq(der.bool(true)));
// keyUsage bits: digitalSignature(0) keyEncipherment(2) → 0xa0 with 5 unused bits;
// digitalSignature(0) keyCertSign(5) cRLSign(6) → 0x86 with 1 unused bit.
const KU_LEAF = extension(OID.keyUsage, true, der.bits(Buffer.from([0xa0]), 5));
const KU_CA = extension(OID.keyUsage, true, der.bits(Buffer.from([0x86]), 1));
const EKU_MTLS = extension(OID.extKeyUsage, false, der.seq(der.oid(OID.serverAuth), der.oid(OID.clientAuth)));

function sanExtension(uris: readonly string[], dnsNames: readonly string[], critical: boolean): Buffer {
  const names = [
    ...uris.map((u) => der.ctxPrim(6, Buffer.from(u, 'latin1'))),
    ...dnsNames.map((d) => der.ctxPrim(2, Buffer.from(d, 'latin1'))),
  ];
  return extension(OID.subjectAltName, critical, der.seq(...names));
}

/** The SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1). */
function keyId(spki: Buffer): Buffer {
  const [, key] = der.children(der.read(spki));
  return createHash('sha1').update(der.readBits(key!)).digest();
}

function signatureAlgorithm(key: KeyObject): Buffer {
  if (key.asymmetricKeyType === 'ec') return ALG_ECDSA_SHA256;
  if (key.asymmetricKeyType === 'rsa') return ALG_RSA_SHA256;
  throw new Error(`unsupported signing key type ${key.asymmetricKeyType} (ECDSA or RSA)`);
}

/** A signed structure: SEQUENCE { tbs, algorithm, BIT STRING signature } (certificates and CSRs alike). */
function signed(tbs: Buffer, key: KeyObject, alg: Buffer): Buffer {
  return der.seq(tbs, alg, der.bits(sign('sha256', tbs, key)));
}

/**
 * SPKI DER of public keys whose bytes are already known (readCsr's), so issuing does not pay for
 * KeyObject.export (which costs more than the signature itself).
 */
const knownSpki = new WeakMap<KeyObject, Buffer>();

function spkiOf(key: KeyObject): Buffer {
  let spki = knownSpki.get(key);
  if (spki === undefined) { spki = key.export({ format: 'der', type: 'spki' }); knownSpki.set(key, spki); }
  return spki;
}

function serialBytes(): Buffer {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01; // positive, 16 bytes, no leading zero
  return b;
}

// ───────────────────────────── CSRs ─────────────────────────────

/** A CSR for a workload: an empty subject and the SPIFFE id as its one URI SAN (as Istio's agent makes). */
export async function createCsr(kp: KeyPair, spiffeUri: string): Promise<string> {
  return createCsrSync(kp, spiffeUri);
}

/** createCsr, synchronous. */
export function createCsrSync(kp: Pick<KeyPair, 'privateKey' | 'publicKey'>, spiffeUri: string, dnsNames: readonly string[] = []): string {
  const spki = spkiOf(kp.publicKey);
  const extReq = der.seq(der.oid(OID.extensionRequest), der.set(der.seq(sanExtension([spiffeUri], dnsNames, true))));
  const info = der.seq(der.smallInt(0), der.seq(), spki, der.ctx(0, extReq));
  return toPem(signed(info, kp.privateKey, signatureAlgorithm(kp.privateKey)), 'CERTIFICATE REQUEST');
}

export interface CsrInfo {
  /** URI SANs the CSR asks for. */
  readonly uris: readonly string[];
  readonly publicKey: KeyObject;
}

/** Parses and verifies (self-signature) a PEM CSR; throws with the reason when it is not acceptable. */
export async function readCsr(pem: string): Promise<CsrInfo> {
  return readCsrSync(pem);
}

/** readCsr, synchronous. */
export function readCsrSync(pem: string): CsrInfo & { readonly dnsNames: readonly string[] } {
  if (!/-----BEGIN (NEW )?CERTIFICATE REQUEST-----/.test(pem)) throw new Error('not a PEM certificate request');
  let top: der.Node[];
  try { top = der.children(der.expect(der.read(fromPem(pem)), der.TAG.SEQUENCE, 'CertificationRequest')); } catch (e) { throw new Error(`malformed CSR: ${(e as Error).message}`); }
  const [infoNode, algNode, sigNode] = top;
  try {
    der.expect(infoNode, der.TAG.SEQUENCE, 'certificationRequestInfo');
    const algOid = der.readOid(der.expect(der.children(der.expect(algNode, der.TAG.SEQUENCE, 'signatureAlgorithm'))[0], der.TAG.OID, 'algorithm'));
    const hash = SIG_HASH[algOid];
    if (hash === undefined) throw new Error(`unsupported CSR signature algorithm ${algOid}`);
    const sig = der.readBits(sigNode!);
    const [, , spkiNode, attrs] = der.children(infoNode!);
    const spki = Buffer.from(der.bytes(der.expect(spkiNode, der.TAG.SEQUENCE, 'subjectPKInfo')));
    const publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    knownSpki.set(publicKey, spki);
    if (!verify(hash, der.bytes(infoNode!), publicKey, sig)) throw new Error('the CSR signature does not verify');
    const uris: string[] = [];
    const dnsNames: string[] = [];
    if (attrs !== undefined && attrs.tag === 0xa0) {
      for (const attr of der.children(attrs)) {
        const [type, values] = der.children(attr);
        if (der.readOid(type!) !== OID.extensionRequest) continue;
        for (const exts of der.children(values!)) {
          for (const ext of der.children(exts)) {
            const parts = der.children(ext);
            if (der.readOid(parts[0]!) !== OID.subjectAltName) continue;
            const value = der.read(der.content(parts[parts.length - 1]!));
            for (const gn of der.children(value)) {
              if (gn.tag === 0x86) uris.push(der.content(gn).toString('latin1'));
              else if (gn.tag === 0x82) dnsNames.push(der.content(gn).toString('latin1'));
            }
          }
        }
      }
    }
    return { uris, dnsNames, publicKey };
  } catch (e) {
    const m = (e as Error).message;
    throw new Error(m.startsWith('the CSR') || m.startsWith('unsupported') ? m : `malformed CSR: ${m}`);
  }
}

// ───────────────────────────── certificates ─────────────────────────────

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

/** What issuing needs from a signer's certificate, read once per certificate. */
interface IssuerInfo { readonly subject: Buffer; readonly aki: Buffer; readonly alg: Buffer }

const issuers = new Map<string, IssuerInfo>();

function issuerInfo(pem: string, key: KeyObject): IssuerInfo {
  let info = issuers.get(pem);
  if (info !== undefined) return info;
  const certDer = fromPem(splitPemCertificates(pem)[0] ?? pem);
  const [tbsNode] = der.children(der.read(certDer));
  const tbs = der.children(tbsNode!);
  const off = tbs[0]!.tag === 0xa0 ? 1 : 0;
  const subject = der.bytes(tbs[off + 4]!);
  const spki = der.bytes(tbs[off + 5]!);
  // The issuer's own subjectKeyIdentifier when it has one, else the key id computed as RFC 5280 says.
  let kid: Buffer | undefined;
  const extsNode = tbs.find((n) => n.tag === 0xa3);
  if (extsNode !== undefined) {
    for (const ext of der.children(der.children(extsNode)[0]!)) {
      const parts = der.children(ext);
      if (der.readOid(parts[0]!) === OID.subjectKeyIdentifier) kid = Buffer.from(der.content(der.read(der.content(parts[parts.length - 1]!))));
    }
  }
  info = {
    subject: Buffer.from(subject),
    aki: extension(OID.authorityKeyIdentifier, false, der.seq(der.ctxPrim(0, kid ?? keyId(spki)))),
    alg: signatureAlgorithm(key),
  };
  if (issuers.size >= 64) issuers.delete(issuers.keys().next().value!);
  issuers.set(pem, info);
  return info;
}

function buildCertificate(o: {
  issuer: IssuerInfo | undefined; subject: Buffer; spki: Buffer; notBefore: Date; notAfter: Date; extensions: Buffer[]; key: KeyObject; serial?: Buffer;
}): string {
  const alg = o.issuer?.alg ?? signatureAlgorithm(o.key);
  const tbs = der.seq(
    der.ctx(0, der.smallInt(2)),
    der.uint(o.serial ?? serialBytes()),
    alg,
    o.issuer?.subject ?? o.subject,
    der.seq(der.time(o.notBefore), der.time(o.notAfter)),
    o.subject,
    o.spki,
    der.ctx(3, der.seq(...o.extensions)),
  );
  return toPem(signed(tbs, o.key, alg), 'CERTIFICATE');
}

/** Signs a certificate (a leaf for mTLS, client and server auth; or an intermediate CA). */
export async function issueCertificate(o: IssueOptions): Promise<string> {
  return issueCertificateSync(o);
}

/** issueCertificate, synchronous. */
export function issueCertificateSync(o: IssueOptions): string {
  return issueCertificateDetailed(o).pem;
}

/** issueCertificateSync, also saying the serial (upper-case hex, as X509Certificate.serialNumber) and expiry without parsing the result. */
export function issueCertificateDetailed(o: IssueOptions): { pem: string; serialNumber: string; notAfter: Date } {
  const issuer = issuerInfo(o.issuerCertPem, o.issuerKey);
  const spki = spkiOf(o.publicKey);
  const now = Date.now();
  const uris = o.uris ?? [], dnsNames = o.dnsNames ?? [];
  const subject = encodeName(o.subject ?? '');
  const extensions = [o.ca === true ? BC_CA : BC_LEAF, o.ca === true ? KU_CA : KU_LEAF, issuer.aki, extension(OID.subjectKeyIdentifier, false, der.octets(keyId(spki)))];
  if (o.ca !== true) extensions.push(EKU_MTLS);
  if (uris.length + dnsNames.length > 0) extensions.push(sanExtension(uris, dnsNames, o.subject === undefined || o.subject === ''));
  const serial = serialBytes();
  // Validity is written in whole seconds.
  const notAfter = new Date(Math.floor((now + o.ttlMs) / 1000) * 1000);
  const pem = buildCertificate({
    issuer, subject, spki, extensions, key: o.issuerKey, serial,
    notBefore: new Date(now - (o.backdateMs ?? 60_000)), notAfter,
  });
  return { pem, serialNumber: serial.toString('hex').toUpperCase(), notAfter };
}

/** A self-signed root CA certificate. */
export async function createRootCertificate(kp: KeyPair, subject: string, ttlMs: number): Promise<string> {
  const spki = kp.publicKey.export({ format: 'der', type: 'spki' });
  const now = Date.now();
  return buildCertificate({
    issuer: undefined, subject: encodeName(subject), spki, key: kp.privateKey,
    notBefore: new Date(now - 60_000), notAfter: new Date(now + ttlMs),
    extensions: [BC_CA, KU_CA, extension(OID.subjectKeyIdentifier, false, der.octets(keyId(spki)))],
  });
}

/** Whether `certPem` was signed by the key of `issuerPem` (signature and issuer name). */
export function issuedBy(certPem: string, issuerPem: string): boolean {
  try {
    const c = new X509Certificate(certPem), i = new X509Certificate(issuerPem);
    return c.checkIssued(i) && c.verify(i.publicKey);
  } catch { return false; }
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
