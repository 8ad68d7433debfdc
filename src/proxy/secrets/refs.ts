// The SDS references a config makes (listeners' DownstreamTlsContexts, clusters'
// UpstreamTlsContexts), deduplicated by source and name: what the proxy's SecretManager follows.

import type { BootstrapConfig, CommonTlsContextConfig, SdsSecretRef } from '../config/types.js';
import { refKey } from './manager.js';

function refsOf(c: CommonTlsContextConfig, out: Map<string, SdsSecretRef>): void {
  for (const r of c.sdsCertificates) out.set(refKey(r), r);
  if (c.sdsValidation !== null) out.set(refKey(c.sdsValidation), c.sdsValidation);
}

export function secretRefsOf(config: BootstrapConfig): SdsSecretRef[] {
  const out = new Map<string, SdsSecretRef>();
  for (const l of config.listeners) {
    for (const fc of [...l.filterChains, ...(l.defaultFilterChain === null ? [] : [l.defaultFilterChain])]) {
      if (fc.transportSocket !== null) refsOf(fc.transportSocket.commonTlsContext, out);
    }
  }
  for (const c of config.clusters) if (c.transportSocket !== null) refsOf(c.transportSocket.commonTlsContext, out);
  return [...out.values()];
}
