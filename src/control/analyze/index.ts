// `weft analyze`: checks a mesh snapshot for configuration that validates but will not do what it
// says, like `istioctl analyze`. Codes follow Istio's where one exists (IST0101, IST0109, IST0130);
// Weft's own: WEFT0001 route weights ≠ 100, WEFT0002 DestinationRule host unknown, WEFT0003 subset
// selects no workload; security policies (./security-policies.ts): IST0127 selector matches no
// workload, WEFT0010 ALLOW rule shadowed by a DENY rule, WEFT0011 unknown CUSTOM provider;
// PeerAuthentication (./peer-authentication.ts): WEFT0012 STRICT without a CA, WEFT0013 a selector in
// the root namespace.

import type { AnalysisMessage, Analyzer, MeshSnapshot } from '../model.js';
import { destinationRules } from './destination-rules.js';
import { MeshIndex } from './mesh-index.js';
import { referencedResources } from './referenced-resources.js';
import { routeWeights } from './route-weights.js';
import { peerAuthentications } from './peer-authentication.js';
import { securityPolicies } from './security-policies.js';
import { conflictingHosts, unreachableRoutes } from './virtual-service-rules.js';

export { CONFLICTING_VIRTUAL_SERVICE_HOSTS, UNREACHABLE_RULE } from './virtual-service-rules.js';
export { DESTINATION_RULE_HOST_NOT_FOUND, SUBSET_SELECTS_NO_WORKLOAD } from './destination-rules.js';
export { REFERENCED_RESOURCE_NOT_FOUND } from './referenced-resources.js';
export { ROUTE_WEIGHTS_NOT_100 } from './route-weights.js';

/** Every analyzer, in the order their messages appear. */
export const ANALYZERS: readonly { readonly name: string; readonly run: (ix: MeshIndex) => AnalysisMessage[] }[] = [
  { name: 'ReferencedResourceNotFound', run: referencedResources },
  { name: 'ConflictingVirtualServiceHosts', run: conflictingHosts },
  { name: 'VirtualServiceUnreachableRule', run: unreachableRoutes },
  { name: 'RouteWeightsNot100', run: routeWeights },
  { name: 'DestinationRules', run: destinationRules },
  { name: 'SecurityPolicies', run: securityPolicies },
  { name: 'PeerAuthentications', run: peerAuthentications },
];

/**
 * Runs every analyzer over the snapshot. Messages are frozen; errors first, then warnings, then
 * infos, each group in analyzer order and then config order.
 *
 * @example
 * for (const m of analyze(mesh)) console.log(`${m.level} [${m.code}] (${m.resource}) ${m.path}: ${m.message}`);
 */
export const analyze: Analyzer = (mesh: MeshSnapshot): readonly AnalysisMessage[] => {
  const ix = new MeshIndex(mesh);
  const all = ANALYZERS.flatMap((a) => a.run(ix));
  const rank = { Error: 0, Warning: 1, Info: 2 } as const;
  return Object.freeze(all.map((m, i) => ({ m, i })).sort((a, b) => rank[a.m.level] - rank[b.m.level] || a.i - b.i).map((x) => x.m));
};
