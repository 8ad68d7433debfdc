// The secret contract of the proxy (Envoy's SDS, envoy.extensions.transport_sockets.tls.v3.Secret):
// TLS contexts ask a SecretManager for the current value of each SdsSecretRef they name and are
// told when it changes; new handshakes then use the new value, established connections keep theirs.
// One SecretManager per proxy process (ProxyServer owns it); the sources (ADS through the xDS
// client, a watched file, a gRPC SDS server such as the sidecar agent's Unix socket) feed it.

import type { SdsSecretRef } from '../config/types.js';

/** A `tls_certificate` secret (Istio's `default`): PEM chain (leaf first) and PEM private key. */
export interface TlsCertificateSecret {
  readonly kind: 'tls_certificate';
  readonly name: string;
  readonly certificateChain: string;
  readonly privateKey: string;
}

/** A `validation_context` secret (Istio's `ROOTCA`): the PEM trust bundle (and SAN matchers, if any). */
export interface ValidationContextSecret {
  readonly kind: 'validation_context';
  readonly name: string;
  readonly trustedCa: string;
}

export type SecretValue = TlsCertificateSecret | ValidationContextSecret;

/** The resource type of secrets over xDS. */
export const SECRET_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

export interface SecretManager {
  /** The current value of a secret, or undefined while none has arrived (handshakes needing it fail). */
  get(ref: SdsSecretRef): SecretValue | undefined;
  /**
   * Starts following `ref` (subscribing at its source on the first watcher) and calls `onChange`
   * with each new value. Returns the unwatch function (the last unwatch unsubscribes).
   */
  watch(ref: SdsSecretRef, onChange: (value: SecretValue) => void): () => void;
  /** Resolves once `ref` has a value, or its source's initial_fetch_timeout passed (Envoy's warming). */
  ready(ref: SdsSecretRef): Promise<void>;
  /** Every secret known now, for the admin's /certs and config_dump (private keys never included). */
  list(): readonly { readonly ref: SdsSecretRef; readonly value: SecretValue | undefined; readonly updatedAt: number }[];
}
