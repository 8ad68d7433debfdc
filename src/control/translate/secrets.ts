// SDS over ADS from the control plane (envoy.extensions.transport_sockets.tls.v3.Secret): Istio's
// `ROOTCA`, the mesh trust bundle every sidecar and gateway verifies mesh peers with (the CA's
// roots, two during a root rotation), and `credentialName` secrets (kubernetes-style Secret
// documents in the proxy's namespace) for DestinationRule and Gateway TLS.

import type { MeshIndex } from './mesh-index.js';
import { SDS_ROOTCA } from './security/mtls.js';

/** The ROOTCA secret for this mesh version, or undefined without a CA. */
export function rootCaSecret(index: MeshIndex): object | undefined {
  const bundle = index.mesh.trustBundle;
  if (bundle === undefined || bundle.length === 0) return undefined;
  const pem = bundle.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join('');
  return { name: SDS_ROOTCA, validation_context: { trusted_ca: { inline_string: pem } } };
}
