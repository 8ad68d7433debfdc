// PeerAuthentication validation (security.istio.io/v1 PeerAuthentication). Placeholder until the security work lands:
// every document is refused as not supported yet.

import type { Ctx } from './common.js';

export function validatePeerAuthentication(_spec: unknown, c: Ctx): unknown {
  c.fail('spec', 'PeerAuthentication is not supported yet');
  return undefined;
}
