// AuthorizationPolicy → envoy.filters.http.ext_authz (CUSTOM), envoy.filters.http.rbac (DENY, ALLOW,
// AUDIT) and envoy.filters.network.rbac. Placeholder: no filter yet.

import type { SecurityContext } from './index.js';

export function customHttpFilters(_ctx: SecurityContext): object[] {
  return [];
}

export function rbacHttpFilters(_ctx: SecurityContext): object[] {
  return [];
}

export function rbacNetworkFilters(_ctx: SecurityContext): object[] {
  return [];
}
