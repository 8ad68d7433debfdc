// Kind names as kubectl / istioctl accept them: case-insensitive, singular, plural or short
// (`vs`, `dr`, `gw`, `se`), and the `kind.group` resource name kubectl prints.

import { ISTIO_KINDS, KIND_GROUP, type IstioKind } from '../model.js';

/** kubectl's names of each kind (Istio's CRDs: singular, plural, short names). */
const NAMES: Readonly<Record<IstioKind, readonly string[]>> = {
  VirtualService: ['virtualservice', 'virtualservices', 'vs'],
  DestinationRule: ['destinationrule', 'destinationrules', 'dr'],
  Gateway: ['gateway', 'gateways', 'gw'],
  ServiceEntry: ['serviceentry', 'serviceentries', 'se'],
  Sidecar: ['sidecar', 'sidecars'],
  PeerAuthentication: ['peerauthentication', 'peerauthentications', 'pa'],
  AuthorizationPolicy: ['authorizationpolicy', 'authorizationpolicies', 'ap'],
  RequestAuthentication: ['requestauthentication', 'requestauthentications', 'ra'],
  Secret: ['secret', 'secrets'],
};

const ALIASES: Readonly<Record<string, IstioKind>> = (() => {
  const out: Record<string, IstioKind> = {};
  for (const k of ISTIO_KINDS) {
    for (const n of NAMES[k]) out[n] = k;
    // `kind.group` and `plural.group`, as kubectl prints and accepts them (core kinds have no group).
    if (KIND_GROUP[k] === '') continue;
    out[`${k.toLowerCase()}.${KIND_GROUP[k]}`] = k;
    out[`${NAMES[k][1]}.${KIND_GROUP[k]}`] = k;
  }
  return out;
})();

/** The Istio kind `name` means, or undefined. */
export function resolveKind(name: string): IstioKind | undefined {
  return ALIASES[name.toLowerCase()];
}

/** `virtualservice.networking.istio.io`, as kubectl names a resource type. */
export function qualifiedKind(kind: string): string {
  const group = (KIND_GROUP as Record<string, string>)[kind] ?? 'networking.istio.io';
  return group === '' ? kind.toLowerCase() : `${kind.toLowerCase()}.${group}`;
}

/** What resolveKind accepts, for error messages. */
export const KIND_NAMES = ISTIO_KINDS.map((k) => NAMES[k].join('/')).join(', ');
