// Builds a connection manager's HTTP filter factories from its `http_filters` (the one explicit
// list of HTTP filter implementations; the router is not a factory: it is the stream itself).

import type { HttpFilterConfig } from '../../config/types.js';
import type { StatsStore } from '../../../observe/stats.js';
import type { RouteTable } from '../../router/route-table.js';
import { CorsFilterFactory } from './cors.js';
import { ExtAuthzFilterFactory } from './ext-authz/filter.js';
import { FaultFilterFactory } from './fault.js';
import type { HttpFilterFactory } from './filter.js';
import type { ClusterLookup } from '../../http/async-client.js';
import { JwtAuthnFilterFactory } from './jwt-authn/filter.js';
import { RbacFilterFactory } from './rbac.js';

/** What a filter factory may use beyond its config: the clusters (async calls: JWKS, ext_authz). */
export interface FilterFactoryContext {
  readonly clusters: ClusterLookup;
}

export function buildHttpFilters(configs: readonly HttpFilterConfig[], routes: RouteTable, store: StatsStore,
                                 statPrefix: string, ctx: FilterFactoryContext): readonly HttpFilterFactory[] {
  const out: HttpFilterFactory[] = [];
  for (const c of configs) {
    switch (c.kind) {
      case 'router': break;
      case 'fault': out.push(new FaultFilterFactory(c.name, c.config, routes, store, statPrefix)); break;
      case 'cors': out.push(new CorsFilterFactory(c.name, routes, store, statPrefix)); break;
      case 'rbac': out.push(new RbacFilterFactory(c.name, c.config, routes, store, statPrefix)); break;
      case 'jwt_authn': out.push(new JwtAuthnFilterFactory(c.name, c.config, routes, store, statPrefix, ctx.clusters)); break;
      case 'ext_authz': out.push(new ExtAuthzFilterFactory(c.name, c.config, routes, store, statPrefix, ctx.clusters)); break;
    }
  }
  return out;
}
