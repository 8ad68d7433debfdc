// `weft control --mesh-config FILE`: Istio's MeshConfig (istio.io/latest/docs/reference/config/istio.mesh.v1alpha1/)
// in YAML or JSON, either the MeshConfig itself or the `mesh` key of Istio's ConfigMap data. Weft
// reads trustDomain, rootNamespace and extensionProviders; every other MeshConfig field is refused
// with "not supported yet", naming it, so nothing a user sets is silently ignored.

import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { DEFAULT_MESH_CONFIG, type ExtensionProvider, type MeshConfig } from './model.js';

/**
 * Readers of `extensionProviders` kinds (e.g. `envoyExtAuthzHttp`): given the provider's body and
 * its path for messages, they return the validated spec or push errors. Modules that implement a
 * provider kind register it here (the ext_authz one in src/control/translate/security/).
 */
export type ProviderReader = (body: unknown, path: string, errors: string[]) => Record<string, unknown> | undefined;
const PROVIDER_READERS = new Map<string, ProviderReader>();

export function registerExtensionProvider(kind: string, reader: ProviderReader): void {
  PROVIDER_READERS.set(kind, reader);
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;

/** Validates a parsed MeshConfig; `{ ok: false, errors }` names each bad field path. */
export function parseMeshConfig(doc: unknown, source = 'mesh config'): { ok: true; value: MeshConfig } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  let m: unknown = doc;
  if (isObject(m) && typeof m.mesh === 'string' && Object.keys(m).length === 1) m = YAML.parse(m.mesh);
  if (m == null) return { ok: true, value: DEFAULT_MESH_CONFIG };
  if (!isObject(m)) return { ok: false, errors: [`${source}: expected a MeshConfig object, got ${typeof m}`] };
  let trustDomain = DEFAULT_MESH_CONFIG.trustDomain;
  let rootNamespace = DEFAULT_MESH_CONFIG.rootNamespace;
  const providers: ExtensionProvider[] = [];
  for (const [k, v] of Object.entries(m)) {
    switch (k) {
      case 'trustDomain':
        if (typeof v === 'string' && TRUST_DOMAIN.test(v)) trustDomain = v;
        else errors.push(`${source}: trustDomain: expected a trust domain (lower-case letters, digits, '.', '-', '_'), got ${JSON.stringify(v)}`);
        break;
      case 'rootNamespace':
        if (typeof v === 'string' && DNS_LABEL.test(v)) rootNamespace = v;
        else errors.push(`${source}: rootNamespace: expected a DNS-1123 label, got ${JSON.stringify(v)}`);
        break;
      case 'extensionProviders':
        if (!Array.isArray(v)) { errors.push(`${source}: extensionProviders: expected a list, got ${JSON.stringify(v)}`); break; }
        v.forEach((p, i) => {
          const at = `${source}: extensionProviders[${i}]`;
          if (!isObject(p) || typeof p.name !== 'string' || p.name === '') { errors.push(`${at}.name: expected a non-empty name`); return; }
          if (providers.some((x) => x.name === p.name)) { errors.push(`${at}.name: expected a unique name, got a second ${JSON.stringify(p.name)}`); return; }
          const kinds = Object.keys(p).filter((x) => x !== 'name');
          if (kinds.length !== 1) { errors.push(`${at}: expected exactly one provider field besides name, got ${kinds.join(', ') || 'none'}`); return; }
          const kind = kinds[0]!;
          const reader = PROVIDER_READERS.get(kind);
          if (reader === undefined) { errors.push(`${at}.${kind}: not supported yet`); return; }
          const spec = reader(p[kind], `${at}.${kind}`, errors);
          if (spec !== undefined) providers.push(Object.freeze({ name: p.name, kind, spec: Object.freeze(spec) }));
        });
        break;
      default:
        errors.push(`${source}: ${k}: not supported yet`);
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, value: Object.freeze({ trustDomain, rootNamespace, extensionProviders: Object.freeze(providers) }) };
}

export function loadMeshConfig(file: string): { ok: true; value: MeshConfig } | { ok: false; errors: string[] } {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) { return { ok: false, errors: [`${file}: ${(e as Error).message}`] }; }
  let doc: unknown;
  try { doc = YAML.parse(text); } catch (e) { return { ok: false, errors: [`${file}: not YAML: ${(e as Error).message}`] }; }
  return parseMeshConfig(doc, file);
}
