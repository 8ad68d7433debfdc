// RequestAuthentication validation (security.istio.io/v1 RequestAuthentication). Placeholder until the security work lands:
// every document is refused as not supported yet.

import type { Ctx } from './common.js';

export function validateRequestAuthentication(_spec: unknown, c: Ctx): unknown {
  c.fail('spec', 'RequestAuthentication is not supported yet');
  return undefined;
}
