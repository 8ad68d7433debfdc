// SDS over ADS from the control plane (envoy.extensions.transport_sockets.tls.v3.Secret): Istio's
// `ROOTCA`, the mesh trust bundle every sidecar and gateway verifies mesh peers with (the CA's
// roots, two during a root rotation), and `credentialName` secrets (kubernetes-style Secret
// documents in the proxy's namespace) for DestinationRule and Gateway TLS.

import type { ConfigResource } from '../model.js';
import type { SecretSpec } from '../api/secret.js';
import type { MeshIndex } from './mesh-index.js';
import { SDS_ROOTCA } from './security/mtls.js';

/** The ROOTCA secret for this mesh version, or undefined without a CA. */
export function rootCaSecret(index: MeshIndex): object | undefined {
  const bundle = index.mesh.trustBundle;
  if (bundle === undefined || bundle.length === 0) return undefined;
  const pem = bundle.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join('');
  return { name: SDS_ROOTCA, validation_context: { trusted_ca: { inline_string: pem } } };
}

/** Istio's SDS resource name of a credentialName secret, and of its CA part. */
export const credentialSecretName = (name: string): string => `kubernetes://${name}`;
export const credentialCaName = (name: string): string => `kubernetes://${name}-cacert`;

/**
 * The Secret documents of one namespace as SDS secrets, named as Istio names them: a certificate
 * and key as `kubernetes://NAME` (tls_certificate), CA certificates as `kubernetes://NAME-cacert`
 * (validation_context); a Secret named `X-cacert` holding only CA certificates also serves
 * `kubernetes://X-cacert` (Istio's separate CA secret). A proxy is given its own namespace's only.
 */
export function credentialSecrets(index: MeshIndex, ns: string): object[] {
  const out = new Map<string, object>();
  const docs = index.mesh.configs.filter((c) => c.kind === 'Secret' && c.metadata.namespace === ns) as ConfigResource<SecretSpec>[];
  for (const d of docs) {
    const s = d.spec;
    const name = d.metadata.name;
    if (s.cert !== undefined && s.key !== undefined) {
      out.set(credentialSecretName(name), { name: credentialSecretName(name), tls_certificate: { certificate_chain: { inline_string: s.cert }, private_key: { inline_string: s.key } } });
    }
    const caOnlyCompanion = name.endsWith('-cacert') && s.cert === undefined;
    if (s.caCert !== undefined && !caOnlyCompanion) out.set(credentialCaName(name), { name: credentialCaName(name), validation_context: { trusted_ca: { inline_string: s.caCert } } });
  }
  for (const d of docs) {
    const s = d.spec;
    const n = credentialSecretName(d.metadata.name);
    if (d.metadata.name.endsWith('-cacert') && s.caCert !== undefined && s.cert === undefined && !out.has(n)) {
      out.set(n, { name: n, validation_context: { trusted_ca: { inline_string: s.caCert } } });
    }
  }
  return [...out.values()];
}
