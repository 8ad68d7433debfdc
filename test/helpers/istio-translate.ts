// Istio YAML through the control plane's real path for translation tests: `weft apply`'s
// validation (ConfigStore + validateDocument), the mesh snapshot (Bookinfo-like registry plus
// ServiceEntries), MeshGenerator for one proxy, and the proxy's own xDS decoders over the result
// (what the proxy would ACK or NACK).

import { validateDocument } from '../../src/control/api/index.js';
import { fromServiceEntry } from '../../src/control/mesh.js';
import type { ConfigResource, MeshSnapshot, ProxyInfo, ProxyResources, ServiceDef, Workload } from '../../src/control/model.js';
import { ConfigStore } from '../../src/control/store/config-store.js';
import { parseYamlDocuments } from '../../src/control/store/yaml-docs.js';
import { MeshGenerator } from '../../src/control/translate/index.js';
import type { ServiceEntrySpec } from '../../src/control/api/types.js';
import { decodeResource, isXdsType } from '../../src/proxy/xds-client/resources.js';
import { encodeFromJson } from '../../src/xds/proto-json.js';
import { messageType } from '../../src/xds/protos.js';
import { messageName } from '../../src/xds/resource-types.js';
import { SERVICES, SUFFIX, WORKLOADS } from './bookinfo-mesh.js';

export type ApplyOutcome =
  | { readonly ok: true; readonly configs: readonly ConfigResource[] }
  | { readonly ok: false; readonly errors: readonly string[] };

/** What `weft apply -f <name>` does with `text`: every document validated, all stored or none. */
export function applyYaml(text: string, name = 'test.yaml'): ApplyOutcome {
  const parsed = parseYamlDocuments(text, name);
  if (!parsed.ok) return { ok: false, errors: parsed.errors };
  const store = new ConfigStore({ validator: validateDocument, now: () => new Date(Date.UTC(2026, 0, 1)) });
  const r = store.apply(parsed.docs);
  return r.ok ? { ok: true, configs: store.list() } : { ok: false, errors: r.errors };
}

/** The mesh: Bookinfo's registry (plus `services`/`workloads`) and the ServiceEntries among `configs`. */
export function meshOf(configs: readonly ConfigResource[], extra: { services?: readonly ServiceDef[]; workloads?: readonly Workload[] } = {}): MeshSnapshot {
  const services: ServiceDef[] = [...SERVICES, ...(extra.services ?? [])];
  const workloads: Workload[] = [...WORKLOADS, ...(extra.workloads ?? [])];
  for (const c of configs) {
    if (c.kind !== 'ServiceEntry') continue;
    const se = fromServiceEntry(c as ConfigResource<ServiceEntrySpec>);
    services.push(...se.services);
    workloads.push(...se.workloads);
  }
  return { version: 1, configs, services, workloads, domainSuffix: SUFFIX };
}

/** A proxy's resources for a mesh. */
export function generateFor(mesh: MeshSnapshot, proxy: ProxyInfo): ProxyResources {
  const g = new MeshGenerator();
  g.update(mesh);
  return g.generate(proxy, new Set());
}

/**
 * Every resource encoded to protobuf and decoded by the proxy's xDS decoders (src/envoy via the
 * xDS client): the errors a NACK would carry, `[]` when the proxy takes everything.
 */
export function proxyRejects(res: ProxyResources): string[] {
  const errors: string[] = [];
  for (const [type, byName] of res) {
    if (!isXdsType(type)) continue;
    const t = messageType(messageName(type));
    for (const [name, o] of byName) {
      const r = decodeResource(type, { type_url: type, value: encodeFromJson(t, o) }, { baseDir: '/' }, name);
      if (!r.ok) errors.push(...r.errors.map((e) => `${messageName(type)} ${name}: ${e}`));
    }
  }
  return errors;
}

/** A resource by type and name, or a failure naming what there is. */
export function resource(res: ProxyResources, type: string, name: string): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  const o = res.get(type)?.get(name);
  if (o === undefined) throw new Error(`${name} missing from ${messageName(type)}: ${[...(res.get(type)?.keys() ?? [])].join(', ')}`);
  return o;
}
