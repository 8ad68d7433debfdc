// The sidecar's certificate agent (Istio's pilot-agent secret manager, in Weft's own words): the
// workload's SPIFFE identity `spiffe://<td>/ns/<ns>/sa/<sa>` (src/security/spiffe.ts) as an X.509
// leaf signed by the mesh's CA over Istio's certificate API (src/sidecar/agent/ca-client.ts). The
// ECDSA P-256 key is made in memory for each certificate and never written anywhere; the CA sees
// only the CSR. The agent renews at half of the leaf's remaining lifetime (retrying with back-off
// while the old one is valid), re-issues when the mesh's signing root changes (the `ROOTCA` secret's
// first certificate is not its leaf's anchor), and serves `default` and `ROOTCA` to its proxy over
// SDS (src/sidecar/agent/sds-server.ts) and as gRPC credentials for the xDS channel.

import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createLogger } from '../../observe/logger.js';
import type { SdsSecretRef } from '../../proxy/config/types.js';
import type { SecretManager, SecretValue } from '../../proxy/secrets/types.js';
import { spiffeId, type WorkloadIdentity } from '../../security/spiffe.js';
import { createCsr, generateKeyPair, splitPemCertificates, type KeyPair } from '../../security/x509.js';
import { createCertificate } from './ca-client.js';
import type { SdsSecretProvider } from './sds-server.js';

const log = createLogger('agent');

/** Istio's SDS secret names. */
export const WORKLOAD_SECRET = 'default';
export const ROOT_SECRET = 'ROOTCA';

/** The ROOTCA secret as the control plane serves it over ADS. */
export const ROOTCA_REF: SdsSecretRef = { name: ROOT_SECRET, source: { kind: 'ads', initialFetchTimeoutMs: 15_000 } };

export interface AgentOptions {
  readonly identity: WorkloadIdentity;
  /** The proxy's node id (sent to the CA as metadata `WEFT_NODE_ID`, for proxy-status). */
  readonly nodeId: string;
  /** The CA's gRPC address, HOST:PORT. */
  readonly caAddress: string;
  /** The trust bundle (PEM) to verify the CA with until a ROOTCA secret replaces it. */
  readonly trustBundle: string;
  /** A file holding the bearer token; re-read on every call (tokens rotate). */
  readonly tokenFile?: string;
  /** Requested leaf lifetime in seconds; 0 (default) lets the CA choose. */
  readonly validitySeconds?: number;
  /** Retry back-off after a failed signing: initialMs doubling to maxMs, jittered 50..100 %. Default 1 s / 30 s. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Where to keep the trust bundle as a file (the bootstrap's `trusted_ca` for the xDS channel). */
  readonly trustBundleFile?: string;
}

/** The current certificate, as admin pages and tests see it (no key). */
export interface AgentCertificate {
  /** PEM chain served as `default`: the leaf, then intermediates (no self-signed root). */
  readonly chainPem: string;
  readonly serialNumber: string;
  readonly spiffeId: string;
  readonly issuer: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Fingerprint (SHA-256, hex) of the CSR's public key's certificate, i.e. of the leaf. */
  readonly fingerprint256: string;
  /** How many certificates this agent has had so far (1 = the first). */
  readonly generation: number;
}

export declare interface CertificateAgent {
  on(ev: 'issued', fn: (c: AgentCertificate) => void): this;
  on(ev: 'issue_failed', fn: (err: Error) => void): this;
  on(ev: 'trust_bundle', fn: (pem: string) => void): this;
}

interface Current {
  readonly key: KeyPair;
  readonly cert: AgentCertificate;
  /** The top of the chain the CA returned (its root, or the last intermediate): what ROOTCA[0] must be or have issued. */
  readonly anchor: X509Certificate;
  readonly secret: SecretValue;
  readonly version: string;
}

export class CertificateAgent extends EventEmitter implements SdsSecretProvider {
  readonly spiffeId: string;
  private cur: Current | null = null;
  private bundle: string;
  private bundleVersion = 1;
  private bundleSecret: SecretValue;
  private readonly secretListeners = new Set<(name: string) => void>();
  private timer: NodeJS.Timeout | null = null;
  private backoffMs: number;
  private running: Promise<void> | null = null;
  private again = false;
  private closed = false;
  private expiredLogged = false;
  private generation = 0;
  private resolveFirst: () => void = () => {};
  private rejectFirst: (e: Error) => void = () => {};
  private readonly first: Promise<void>;
  /** Why the last signing attempt failed (cleared on success). */
  lastError: string | null = null;

  constructor(private readonly o: AgentOptions) {
    super();
    this.spiffeId = spiffeId(o.identity);
    this.bundle = normalizeBundle(o.trustBundle);
    this.bundleSecret = { kind: 'validation_context', name: ROOT_SECRET, trustedCa: this.bundle };
    this.backoffMs = this.backoffCfg.initialMs;
    this.first = new Promise<void>((resolve, reject) => { this.resolveFirst = resolve; this.rejectFirst = reject; });
    this.first.catch(() => undefined);
    this.writeBundleFile();
  }

  private get backoffCfg(): { initialMs: number; maxMs: number } {
    return this.o.backoff ?? { initialMs: 1000, maxMs: 30_000 };
  }

  /** Starts signing (retrying until it succeeds); resolves once the first certificate is in hand. */
  start(): Promise<void> {
    this.kick();
    return this.first;
  }

  /** Resolves once the first certificate is in hand; rejects if the agent is closed before. */
  ready(): Promise<void> { return this.first; }

  get certificate(): AgentCertificate | undefined { return this.cur?.cert; }

  get trustBundle(): string { return this.bundle; }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.rejectFirst(new Error('the certificate agent was closed'));
  }

  // ───────────────────────────── SDS provider ─────────────────────────────

  current(name: string): { value: SecretValue; version: string } | undefined {
    if (name === WORKLOAD_SECRET) return this.cur === null ? undefined : { value: this.cur.secret, version: this.cur.version };
    if (name === ROOT_SECRET) return { value: this.bundleSecret, version: `root-${this.bundleVersion}` };
    return undefined;
  }

  subscribe(fn: (name: string) => void): () => void {
    this.secretListeners.add(fn);
    return () => { this.secretListeners.delete(fn); };
  }

  private changed(name: string): void {
    for (const fn of [...this.secretListeners]) {
      try { fn(name); } catch (e) { log.error('agent: secret listener failed: %s', (e as Error).message); }
    }
  }

  /**
   * TLS channel credentials for the xDS stream: the current leaf and key as the client certificate,
   * the current bundle as the trust, the control plane verified as `weft-control`. Call again for
   * each new connection (a renewed leaf or a rotated bundle is then used).
   */
  channelCredentials(): grpc.ChannelCredentials {
    const c = this.cur;
    if (c === null || c.secret.kind !== 'tls_certificate') throw new Error('the certificate agent has no certificate yet');
    return grpc.credentials.createSsl(Buffer.from(this.bundle), Buffer.from(c.key.privateKeyPem), Buffer.from(c.secret.certificateChain));
  }

  // ───────────────────────────── trust bundle ─────────────────────────────

  /**
   * Follows the mesh's `ROOTCA` secret through the proxy's SecretManager: a new bundle replaces the
   * agent's trust (for the CA and the xDS channel), and a signing root that did not sign the
   * current leaf triggers a re-issue. Returns the unwatch function.
   */
  watchTrustBundle(secrets: SecretManager, ref: SdsSecretRef = ROOTCA_REF): () => void {
    const now = secrets.get(ref);
    if (now !== undefined) this.onBundleSecret(now);
    return secrets.watch(ref, (v) => this.onBundleSecret(v));
  }

  private onBundleSecret(v: SecretValue): void {
    if (v.kind !== 'validation_context') {
      log.warn('agent: secret %s is not a validation context; ignored', v.name);
      return;
    }
    this.setTrustBundle(v.trustedCa);
  }

  /** A new trust bundle (PEM, the signing root first, as the CA orders it). */
  setTrustBundle(pem: string): void {
    const certs = splitPemCertificates(pem);
    if (certs.length === 0) {
      log.warn('agent: a trust bundle without certificates; keeping the current one');
      return;
    }
    pem = certs.join('');
    if (pem !== this.bundle) {
      this.bundle = pem;
      this.bundleVersion++;
      this.bundleSecret = { kind: 'validation_context', name: ROOT_SECRET, trustedCa: pem };
      this.writeBundleFile();
      log.info('agent: trust bundle updated (%d root%s)', certs.length, certs.length === 1 ? '' : 's');
      this.emit('trust_bundle', pem);
      this.changed(ROOT_SECRET);
    }
    const c = this.cur;
    if (c === null) return;
    let signer: X509Certificate;
    try { signer = new X509Certificate(certs[0]!); } catch (e) {
      log.warn('agent: the trust bundle\'s first certificate does not parse: %s', (e as Error).message);
      return;
    }
    if (!anchoredAt(c.anchor, signer)) {
      log.info('agent: the mesh\'s signing root changed (%s); re-issuing the workload certificate', signer.subject.replace(/\n/g, ', '));
      this.kick();
    }
  }

  private writeBundleFile(): void {
    const f = this.o.trustBundleFile;
    if (f === undefined) return;
    try {
      writeFileSync(`${f}.tmp`, this.bundle, { mode: 0o644 });
      renameSync(`${f}.tmp`, f);
    } catch (e) {
      log.error('agent: could not write the trust bundle to %s: %s', f, (e as Error).message);
    }
  }

  // ───────────────────────────── signing ─────────────────────────────

  /** Runs a signing now (or right after the one in flight). */
  private kick(): void {
    if (this.closed) return;
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    if (this.running !== null) { this.again = true; return; }
    this.running = this.issue().finally(() => {
      this.running = null;
      if (this.again && !this.closed) { this.again = false; this.kick(); }
    });
  }

  private arm(delayMs: number): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.timer = null; this.kick(); }, delayMs);
    this.timer.unref();
  }

  private readToken(): string | undefined {
    if (this.o.tokenFile === undefined) return undefined;
    const t = readFileSync(this.o.tokenFile, 'utf8').trim();
    if (t === '') throw new Error(`the token file ${this.o.tokenFile} is empty`);
    return t;
  }

  private async issue(): Promise<void> {
    try {
      const key = generateKeyPair();
      const csr = await createCsr(key, this.spiffeId);
      const chain = await createCertificate(this.o.caAddress, this.bundle, {
        csrPem: csr, validitySeconds: this.o.validitySeconds ?? 0, nodeId: this.o.nodeId, token: this.readToken(),
      });
      if (this.closed) return;
      this.install(key, chain);
    } catch (e) {
      if (this.closed) return;
      this.failed(e as Error);
    }
  }

  private install(key: KeyPair, chain: string[]): void {
    const leaf = new X509Certificate(chain[0]!);
    if (!leaf.checkPrivateKey(key.privateKey)) throw new Error('the CA returned a certificate for another key');
    const uris = (leaf.subjectAltName ?? '').split(', ').filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
    if (!uris.includes(this.spiffeId)) log.warn('agent: the CA issued %s instead of %s', uris.join(', ') || 'no URI SAN', this.spiffeId);
    const certs = chain.map((p) => new X509Certificate(p));
    // Serve the leaf and intermediates; a self-signed root at the end belongs to the bundle.
    const top = certs[certs.length - 1]!;
    const served = certs.length > 1 && top.subject === top.issuer && top.checkIssued(top) ? chain.slice(0, -1) : chain;
    const notAfter = new Date(leaf.validTo);
    this.generation++;
    const cert: AgentCertificate = {
      chainPem: served.join(''), serialNumber: leaf.serialNumber, spiffeId: uris[0] ?? '', issuer: leaf.issuer,
      notBefore: new Date(leaf.validFrom), notAfter, fingerprint256: leaf.fingerprint256.replace(/:/g, '').toLowerCase(),
      generation: this.generation,
    };
    this.cur = {
      key, cert, anchor: top, version: `${this.generation}-${leaf.serialNumber.toLowerCase()}`,
      secret: { kind: 'tls_certificate', name: WORKLOAD_SECRET, certificateChain: served.join(''), privateKey: key.privateKeyPem },
    };
    this.lastError = null;
    this.expiredLogged = false;
    this.backoffMs = this.backoffCfg.initialMs;
    // Renew at half of what is left (the CA backdates notBefore, so the remaining time is the lifetime that matters).
    const left = notAfter.getTime() - Date.now();
    const renewIn = Math.max(250, Math.floor(left / 2));
    log.info('agent: certificate for %s issued (serial %s, expires %s); renewal in %s s',
      this.spiffeId, leaf.serialNumber, notAfter.toISOString(), (renewIn / 1000).toFixed(1));
    this.arm(renewIn);
    this.changed(WORKLOAD_SECRET);
    this.emit('issued', cert);
    this.resolveFirst();
  }

  private failed(err: Error): void {
    const why = describe(err);
    this.lastError = why;
    this.emit('issue_failed', err);
    const delay = Math.round(this.backoffMs * (0.5 + Math.random() / 2));
    this.backoffMs = Math.min(this.backoffMs * 2, this.backoffCfg.maxMs);
    const c = this.cur;
    if (c !== null && c.cert.notAfter.getTime() <= Date.now()) {
      if (!this.expiredLogged) {
        log.error('agent: the workload certificate expired at %s and could not be renewed (%s); retrying', c.cert.notAfter.toISOString(), why);
        this.expiredLogged = true;
      }
    } else if (c === null) {
      log.warn('agent: no certificate yet from the CA at %s (%s); retrying in %d ms', this.o.caAddress, why, delay);
    } else {
      log.warn('agent: renewal failed (%s); the current certificate is valid until %s; retrying in %d ms', why, c.cert.notAfter.toISOString(), delay);
    }
    this.arm(c === null ? delay : Math.min(delay, Math.max(250, c.cert.notAfter.getTime() - Date.now())));
  }
}

/** One certificate after the other, each ending with a newline (PEM without one does not concatenate). */
function normalizeBundle(pem: string): string {
  const certs = splitPemCertificates(pem);
  if (certs.length === 0) throw new Error('the trust bundle holds no PEM certificate');
  return certs.join('');
}

/** Whether `cert` is `root`, or was signed by it. */
function anchoredAt(cert: X509Certificate, root: X509Certificate): boolean {
  if (cert.fingerprint256 === root.fingerprint256) return true;
  try {
    return cert.checkIssued(root) && cert.verify(root.publicKey);
  } catch {
    return false;
  }
}

function describe(e: Error): string {
  const g = e as Partial<grpc.ServiceError>;
  if (typeof g.code === 'number') return `${grpc.status[g.code] ?? g.code}: ${g.details ?? e.message}`;
  return e.message;
}
