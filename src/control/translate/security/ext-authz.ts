// Istio's CUSTOM action: an `extensionProviders` entry of the mesh config (envoyExtAuthzHttp,
// envoyExtAuthzGrpc) → an envoy.filters.http.ext_authz filter for the inbound chain. Placeholder:
// providers are not readable yet (the mesh config refuses them), so nothing is built.

import type { ExtensionProvider } from '../../model.js';
import type { SecurityContext } from './index.js';

/**
 * The ext_authz HTTP filter for `provider` on this workload's inbound chain, or undefined when the
 * provider cannot serve HTTP (the caller reports it). The filter must apply only where a CUSTOM
 * policy's rules match (Istio: the RBAC shadow rules mark the request; Weft: see authz.ts).
 */
export function extAuthzHttpFilter(_provider: ExtensionProvider, _ctx: SecurityContext): object | undefined {
  return undefined;
}
