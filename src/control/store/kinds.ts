// Kind names as kubectl / istioctl accept them: case-insensitive, singular, plural or short
// (`vs`, `dr`, `gw`, `se`), and the `kind.group` resource name kubectl prints.

import { ISTIO_KINDS, type IstioKind } from '../model.js';

const ALIASES: Readonly<Record<string, IstioKind>> = (() => {
  const out: Record<string, IstioKind> = {};
  for (const k of ISTIO_KINDS) {
    const l = k.toLowerCase();
    out[l] = k;
    out[l.endsWith('y') ? `${l.slice(0, -1)}ies` : `${l}s`] = k;
    out[`${l}.networking.istio.io`] = k;
  }
  Object.assign(out, { vs: 'VirtualService', dr: 'DestinationRule', gw: 'Gateway', se: 'ServiceEntry' });
  return out;
})();

/** The Istio kind `name` means, or undefined. */
export function resolveKind(name: string): IstioKind | undefined {
  return ALIASES[name.toLowerCase()];
}

/** `virtualservice.networking.istio.io`, as kubectl names a resource type. */
export function qualifiedKind(kind: string): string {
  return `${kind.toLowerCase()}.networking.istio.io`;
}

/** What resolveKind accepts, for error messages. */
export const KIND_NAMES = 'virtualservice(s)/vs, destinationrule(s)/dr, gateway(s)/gw, serviceentry/serviceentries/se, sidecar(s)';
