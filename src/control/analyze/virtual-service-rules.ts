// Two analyzers over VirtualServices as a whole. IST0109 (istioctl's code): two VirtualServices
// claim the same host for the same gateway, so which routes apply is undefined. IST0130
// VirtualServiceUnreachableRule: an HTTP route after a catch-all (or an identical match) never matches.

import type { HTTPMatchRequest } from '../api/types.js';
import type { AnalysisMessage } from '../model.js';
import { type MeshIndex, message } from './mesh-index.js';

export const CONFLICTING_VIRTUAL_SERVICE_HOSTS = 'IST0109';
export const UNREACHABLE_RULE = 'IST0130';

export function conflictingHosts(ix: MeshIndex): AnalysisMessage[] {
  // (gateway, host) → the VirtualServices claiming it, with the index of the host in each.
  const claims = new Map<string, { vs: (typeof ix.virtualServices)[number]; hostIndex: number }[]>();
  for (const vs of ix.virtualServices) {
    const ns = vs.metadata.namespace;
    const gateways = vs.spec.gateways.length === 0 ? ['mesh'] : vs.spec.gateways.map((g) => ix.gatewayKey(g, ns));
    vs.spec.hosts.forEach((h, i) => {
      const host = ix.resolve(h, ns);
      for (const g of new Set(gateways)) {
        const key = `${g}\n${host}`;
        const list = claims.get(key) ?? [];
        if (!list.some((c) => c.vs === vs)) list.push({ vs, hostIndex: i });
        claims.set(key, list);
      }
    });
  }
  const out: AnalysisMessage[] = [];
  for (const [key, list] of claims) {
    if (list.length < 2) continue;
    const [gateway, host] = key.split('\n') as [string, string];
    const names = list.map((c) => `${c.vs.metadata.namespace}/${c.vs.metadata.name}`).join(', ');
    for (const { vs, hostIndex } of list) {
      out.push(message('Error', CONFLICTING_VIRTUAL_SERVICE_HOSTS, vs, `spec.hosts[${hostIndex}]`,
        `The VirtualServices ${names} associated with gateway ${gateway} define the same host ${host}, which can lead to undefined behavior`));
    }
  }
  return out;
}

/** A match that every request satisfies: nothing but an optional name, ignoreUriCase, and `uri.prefix: /`. */
function matchesEverything(m: HTTPMatchRequest): boolean {
  const keys = Object.keys(m).filter((k) => k !== 'name' && k !== 'ignoreUriCase');
  if (keys.length === 0) return true;
  return keys.length === 1 && keys[0] === 'uri' && m.uri !== undefined && 'prefix' in m.uri && m.uri.prefix === '/';
}

/** A match's conditions as a comparable string (its name left out). */
function matchKey(m: HTTPMatchRequest): string {
  const { name: _name, ...rest } = m;
  return JSON.stringify(rest, (_k, v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v));
}

export function unreachableRoutes(ix: MeshIndex): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  for (const vs of ix.virtualServices) {
    let catchAll = -1;
    const seen = new Map<string, number>();
    vs.spec.http.forEach((h, i) => {
      if (catchAll >= 0) {
        out.push(message('Warning', UNREACHABLE_RULE, vs, `spec.http[${i}]`,
          `This route can never match: spec.http[${catchAll}] before it matches every request`));
        return;
      }
      if (h.match.length === 0 || h.match.some(matchesEverything)) {
        catchAll = i;
        return;
      }
      const keys = h.match.map(matchKey);
      const earlier = keys.map((k) => seen.get(k));
      if (earlier.every((e) => e !== undefined)) {
        out.push(message('Warning', UNREACHABLE_RULE, vs, `spec.http[${i}]`,
          `This route can never match: its matches repeat those of spec.http[${[...new Set(earlier)].join('], spec.http[')}] before it`));
      }
      for (const k of keys) if (!seen.has(k)) seen.set(k, i);
    });
  }
  return out;
}
