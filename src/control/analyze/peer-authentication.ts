// PeerAuthentication findings (Weft's codes): WEFT0010 a STRICT policy while the control plane has no
// CA (mesh mTLS is off, so inbound stays plaintext and STRICT is not enforced); WEFT0011 a
// workload-selector policy that selects no workload of its namespace; WEFT0012 a selector policy in
// the root namespace (Istio applies it to nothing: mesh-wide policies have no selector).

import type { AnalysisMessage, ConfigResource } from '../model.js';
import { DEFAULT_MESH_CONFIG } from '../model.js';
import type { PeerAuthenticationSpec } from '../api/peer-authentication.js';
import { type MeshIndex, message } from './mesh-index.js';

export const STRICT_WITHOUT_CA = 'WEFT0010';
export const PEER_AUTHENTICATION_SELECTS_NOTHING = 'WEFT0011';
export const ROOT_NAMESPACE_SELECTOR = 'WEFT0012';

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
        'STRICT is not enforced: the control plane runs without a CA, so workloads accept plaintext (WEFT0010 StrictWithoutCa)'));
    }
    if (s.selector === undefined) continue;
    const ns = pa.metadata.namespace;
    if (ns === root) {
      out.push(message('Warning', ROOT_NAMESPACE_SELECTOR, pa, 'spec.selector',
        `A PeerAuthentication with a selector in the root namespace (${root}) applies to no workload, as in Istio; drop the selector for a mesh-wide policy (WEFT0012)`));
      continue;
    }
    const sel = s.selector.matchLabels;
    const selects = mesh.workloads.some((w) => w.namespace === ns && Object.entries(sel).every(([k, v]) => w.labels[k] === v));
    if (!selects) {
      out.push(message('Warning', PEER_AUTHENTICATION_SELECTS_NOTHING, pa, 'spec.selector.matchLabels', `No workload in namespace ${ns} has these labels (WEFT0011 PeerAuthenticationSelectsNothing)`));
    }
  }
  return out;
}
