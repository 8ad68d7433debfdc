// WEFT0001 RouteWeightsNot100: the destinations of one route whose weights do not add up to 100.
// Istio accepts it (traffic is split in proportion); it is usually a typo, so `weft analyze` warns.

import type { AnalysisMessage } from '../model.js';
import { type MeshIndex, message } from './mesh-index.js';

export const ROUTE_WEIGHTS_NOT_100 = 'WEFT0001';

export function routeWeights(ix: MeshIndex): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  for (const vs of ix.virtualServices) {
    const check = (route: readonly { readonly weight?: number }[], path: string): void => {
      // One destination without a weight takes all traffic; with an explicit weight it is still checked.
      if (route.length === 0 || (route.length === 1 && route[0]!.weight === undefined)) return;
      const sum = route.reduce((a, r) => a + (r.weight ?? 0), 0);
      if (sum === 100) return;
      const detail = sum === 0 ? 'no destination gets traffic' : 'traffic is split in proportion to the weights';
      out.push(message('Warning', ROUTE_WEIGHTS_NOT_100, vs, path, `Route weights add up to ${sum}, not 100: ${detail} (WEFT0001 RouteWeightsNot100)`));
    };
    vs.spec.http.forEach((h, i) => check(h.route, `spec.http[${i}].route`));
    vs.spec.tcp.forEach((t, i) => check(t.route, `spec.tcp[${i}].route`));
    vs.spec.tls.forEach((t, i) => check(t.route, `spec.tls[${i}].route`));
  }
  return out;
}
