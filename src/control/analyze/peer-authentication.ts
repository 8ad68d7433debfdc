// PeerAuthentication findings (Weft's codes): WEFT0012 a STRICT policy while the control plane has no
// CA (mesh mTLS is off, so inbound stays plaintext and STRICT is not enforced); WEFT0013 a selector
// policy in the root namespace (Istio applies it to nothing: mesh-wide policies have no selector).
// A selector that matches no workload is IST0127 (./security-policies.ts, for every security kind).

import type { AnalysisMessage, ConfigResource } from '../model.js';
import { DEFAULT_MESH_CONFIG } from '../model.js';
import type { PeerAuthenticationSpec } from '../api/peer-authentication.js';
import { type MeshIndex, message } from './mesh-index.js';

export const STRICT_WITHOUT_CA = 'WEFT0012';
export const ROOT_NAMESPACE_SELECTOR = 'WEFT0013';

export function peerAuthentications(ix: MeshIndex): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  const mesh = ix.mesh;
  const root = (mesh.meshConfig ?? DEFAULT_MESH_CONFIG).rootNamespace;
  const hasCa = (mesh.trustBundle?.length ?? 0) > 0;
  const pas = mesh.configs.filter((c) => c.kind === 'PeerAuthentication') as ConfigResource<PeerAuthenticationSpec>[];
  for (const pa of pas) {
    const s = pa.spec;
    const strictPort = Object.entries(s.portLevelMtls ?? {}).find(([, m]) => m.mode === 'STRICT');
    if (!hasCa && (s.mtls?.mode === 'STRICT' || strictPort !== undefined)) {
      out.push(message('Warning', STRICT_WITHOUT_CA, pa, strictPort !== undefined && s.mtls?.mode !== 'STRICT' ? `spec.portLevelMtls["${strictPort[0]}"].mode` : 'spec.mtls.mode',
        'STRICT is not enforced: the control plane runs without a CA, so workloads accept plaintext (WEFT0012 StrictWithoutCa)'));
    }
    if (s.selector === undefined) continue;
    const ns = pa.metadata.namespace;
    if (ns === root) {
      out.push(message('Warning', ROOT_NAMESPACE_SELECTOR, pa, 'spec.selector',
        `A PeerAuthentication with a selector in the root namespace (${root}) applies to no workload, as in Istio; drop the selector for a mesh-wide policy (WEFT0013)`));
      continue;
    }
  }
  return out;
}
