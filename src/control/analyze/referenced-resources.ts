// IST0101 ReferencedResourceNotFound (istioctl analyze): a VirtualService's destination host that
// no service or ServiceEntry provides, a subset no DestinationRule for that host defines, a gateway
// that does not exist.

import type { VirtualServiceSpec } from '../api/types.js';
import type { AnalysisMessage } from '../model.js';
import { type Config, destinationsOf, type MeshIndex, message } from './mesh-index.js';

export const REFERENCED_RESOURCE_NOT_FOUND = 'IST0101';

export function referencedResources(ix: MeshIndex): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  for (const vs of ix.virtualServices) {
    checkDestinations(ix, vs, out);
    checkGateways(ix, vs, out);
  }
  return out;
}

function checkDestinations(ix: MeshIndex, vs: Config<VirtualServiceSpec>, out: AnalysisMessage[]): void {
  const ns = vs.metadata.namespace;
  for (const { destination, path } of destinationsOf(vs.spec)) {
    const host = ix.resolve(destination.host, ns);
    if (!ix.knownHost(host)) {
      out.push(message('Error', REFERENCED_RESOURCE_NOT_FOUND, vs, `${path}.host`, `Referenced host not found: "${host}" (no service or ServiceEntry provides it)`));
      continue;
    }
    if (destination.subset === undefined) continue;
    const defined = ix.rulesFor(host).some((dr) => dr.spec.subsets.some((s) => s.name === destination.subset));
    if (!defined) {
      out.push(message('Error', REFERENCED_RESOURCE_NOT_FOUND, vs, `${path}.subset`,
        `Referenced host+subset in DestinationRule not found: "${host}+${destination.subset}"`));
    }
  }
}

function checkGateways(ix: MeshIndex, vs: Config<VirtualServiceSpec>, out: AnalysisMessage[]): void {
  const ns = vs.metadata.namespace;
  const check = (ref: string, path: string): void => {
    const key = ix.gatewayKey(ref, ns);
    if (key !== 'mesh' && !ix.hasGateway(key)) out.push(message('Error', REFERENCED_RESOURCE_NOT_FOUND, vs, path, `Referenced gateway not found: "${key}"`));
  };
  vs.spec.gateways.forEach((g, i) => check(g, `spec.gateways[${i}]`));
  vs.spec.http.forEach((h, i) => h.match.forEach((m, j) => m.gateways?.forEach((g, k) => check(g, `spec.http[${i}].match[${j}].gateways[${k}]`))));
}
