// AuthorizationPolicy validation (security.istio.io/v1 AuthorizationPolicy). Placeholder until the security work lands:
// every document is refused as not supported yet.

import type { Ctx } from './common.js';

export function validateAuthorizationPolicy(_spec: unknown, c: Ctx): unknown {
  c.fail('spec', 'AuthorizationPolicy is not supported yet');
  return undefined;
}
