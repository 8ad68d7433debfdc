// Warnings about DestinationRules that do nothing: WEFT0002 for a host no service or ServiceEntry
// provides, WEFT0003 for a subset whose labels select none of the host's workloads.

import type { AnalysisMessage } from '../model.js';
import { labelsMatch, type MeshIndex, message } from './mesh-index.js';

export const DESTINATION_RULE_HOST_NOT_FOUND = 'WEFT0002';
export const SUBSET_SELECTS_NO_WORKLOAD = 'WEFT0003';

export function destinationRules(ix: MeshIndex): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  for (const dr of ix.destinationRules) {
    const host = ix.resolve(dr.spec.host, dr.metadata.namespace);
    if (!ix.knownHost(host)) {
      out.push(message('Warning', DESTINATION_RULE_HOST_NOT_FOUND, dr, 'spec.host',
        `No service or ServiceEntry provides host "${host}": this DestinationRule applies to nothing`));
      continue;
    }
    if (host.includes('*')) continue;
    const instances = ix.instanceLabels(host);
    dr.spec.subsets.forEach((s, i) => {
      if (instances.some((l) => labelsMatch(s.labels, l))) return;
      const sel = Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(',');
      out.push(message('Warning', SUBSET_SELECTS_NO_WORKLOAD, dr, `spec.subsets[${i}].labels`,
        `Subset "${s.name}" selects no workload of "${host}" (labels ${sel}; ${instances.length} workload(s) known) (WEFT0003 SubsetSelectsNoWorkload)`));
    });
  }
  return out;
}
