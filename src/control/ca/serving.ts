// The control plane's own serving certificate, for its CA port and its xDS port: a leaf from its CA
// with DNS SANs `weft-control`, `localhost` and the URI SAN spiffe://<td>/ns/istio-system/sa/weft-control.
// Clients verify it against the trust bundle with server name `weft-control`. It is renewed at half
// life, and after a root activation, without restarting the gRPC servers: both serve through
// grpc-js certificate providers (experimental.createCertificateProviderServerCredentials), which
// swap the TLS context of a listening server for new connections.

import type { ServerCredentials } from '@grpc/grpc-js';
import { experimental } from '@grpc/grpc-js';

type CaCertificateUpdate = experimental.CaCertificateUpdate;
type IdentityCertificateUpdate = experimental.IdentityCertificateUpdate;
type CaCertificateUpdateListener = experimental.CaCertificateUpdateListener;
type IdentityCertificateUpdateListener = experimental.IdentityCertificateUpdateListener;
import { X509Certificate } from 'node:crypto';
import { generateKeyPair } from '../../security/x509.js';
import type { Signer } from './ca.js';
import { createLogger } from '../../observe/logger.js';

const log = createLogger('ca');

export const CONTROL_SERVER_NAME = 'weft-control';
export const CONTROL_SERVICE_ACCOUNT = 'weft-control';
export const CONTROL_NAMESPACE = 'istio-system';

/** A certificate provider fed from memory: the serving identity and the trust bundle (for client certs). */
export class MemoryCertificateProvider implements experimental.CertificateProvider {
  #ca: CaCertificateUpdate | null = null;
  #id: IdentityCertificateUpdate | null = null;
  readonly #caListeners = new Set<CaCertificateUpdateListener>();
  readonly #idListeners = new Set<IdentityCertificateUpdateListener>();

  setIdentity(chainPem: string, keyPem: string): void {
    this.#id = { certificate: Buffer.from(chainPem), privateKey: Buffer.from(keyPem) };
    for (const l of this.#idListeners) l(this.#id);
  }

  setCa(bundlePem: string): void {
    this.#ca = { caCertificate: Buffer.from(bundlePem) };
    for (const l of this.#caListeners) l(this.#ca);
  }

  // The current value is delivered on the next tick: grpc-js registers its server's watcher only
  // after adding these listeners, so a synchronous first update would reach nobody and the server
  // would drop every connection until the next change.
  addCaCertificateListener(l: CaCertificateUpdateListener): void {
    this.#caListeners.add(l);
    process.nextTick(() => { if (this.#ca !== null && this.#caListeners.has(l)) l(this.#ca); });
  }
  removeCaCertificateListener(l: CaCertificateUpdateListener): void { this.#caListeners.delete(l); }
  addIdentityCertificateListener(l: IdentityCertificateUpdateListener): void {
    this.#idListeners.add(l);
    process.nextTick(() => { if (this.#id !== null && this.#idListeners.has(l)) l(this.#id); });
  }
  removeIdentityCertificateListener(l: IdentityCertificateUpdateListener): void { this.#idListeners.delete(l); }
}

/** Keeps the serving certificate fresh; hands out server credentials that follow it. */
export class ServingIdentity {
  readonly provider = new MemoryCertificateProvider();
  #timer: NodeJS.Timeout | undefined;
  #chain: readonly string[] = [];
  #renewals = 0;

  constructor(private readonly signer: Signer, private readonly ttlMs: number, private readonly spiffe: string) {}

  /** Issues the first certificate; renews at half life from then on. */
  start(): void { this.renew(); }

  /** A fresh key and certificate now (half life, root activation). */
  renew(): void {
    const kp = generateKeyPair();
    this.#chain = this.signer.issueFor(kp.publicKey, [this.spiffe], [CONTROL_SERVER_NAME, 'localhost'], this.ttlMs);
    this.provider.setIdentity(this.#chain.join(''), kp.privateKeyPem);
    this.#renewals++;
    const c = new X509Certificate(this.#chain[0]!);
    const life = Date.parse(c.validTo) - Date.parse(c.validFrom);
    // Renew at half of the lifetime that is left from now (the certificate is backdated).
    const next = Math.max(1000, (Date.parse(c.validTo) - Date.now()) / 2);
    if (this.#renewals > 1) log.info('serving certificate renewed (serial %s, valid %ds)', c.serialNumber, Math.round(life / 1000));
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.renew(), next);
    this.#timer.unref();
  }

  /** The trust bundle clients' certificates must chain to (xDS). */
  setBundle(bundle: readonly string[]): void { this.provider.setCa(bundle.join('')); }

  get chain(): readonly string[] { return this.#chain; }
  get renewals(): number { return this.#renewals; }

  /** TLS server credentials following this identity; `clientCa`: require client certificates chained to the bundle. */
  credentials(requireClientCert: boolean): ServerCredentials {
    // grpc-js names its parameters (ca, identity) but uses the first as the identity and the
    // second (nullable) as the CA: one provider serving both sidesteps the mix-up.
    return requireClientCert
      ? experimental.createCertificateProviderServerCredentials(this.provider, this.provider, true)
      : experimental.createCertificateProviderServerCredentials(this.provider, null, false);
  }

  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
