// RequestAuthentication → envoy.filters.http.jwt_authn on the inbound HTTP chain. Placeholder: no filter yet.

import type { SecurityContext } from './index.js';

export function jwtHttpFilters(_ctx: SecurityContext): object[] {
  return [];
}
