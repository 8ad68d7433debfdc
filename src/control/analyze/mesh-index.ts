// What the analyzers ask of a MeshSnapshot, computed once per run: configs by kind, the hosts the
// mesh knows (registry services and ServiceEntry hosts), Istio's short-name resolution, and the
// workloads behind a host. Istio's analyzers (pkg/config/analysis) answer the same questions.

import { resolveConfigHost } from '../registry/names.js';
import type { DestinationRuleSpec, Destination, GatewaySpec, ServiceEntrySpec, VirtualServiceSpec, WorkloadEntrySpec } from '../api/types.js';
import type { AnalysisMessage, ConfigResource, MeshSnapshot } from '../model.js';

export type Config<S> = ConfigResource<S>;

/** `Kind namespace/name`, as messages name resources. */
export function resourceName(c: ConfigResource): string {
  return `${c.kind} ${c.metadata.namespace}/${c.metadata.name}`;
}

export function message(level: AnalysisMessage['level'], code: string, c: ConfigResource, path: string, text: string): AnalysisMessage {
  return Object.freeze({ level, code, resource: resourceName(c), path, message: text });
}

/** Whether `pattern` (a host, or `*.suffix` / `*`) covers `host`. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === host || pattern === '*') return true;
  return pattern.startsWith('*.') && host.endsWith(pattern.slice(1));
}

/** A destination together with where it sits in its VirtualService. */
export interface DestinationRef {
  readonly destination: Destination;
  readonly path: string;
}

/** Every destination of a VirtualService: routes, mirrors, TCP and TLS routes. */
export function destinationsOf(spec: VirtualServiceSpec): DestinationRef[] {
  const out: DestinationRef[] = [];
  spec.http.forEach((h, i) => {
    h.route.forEach((r, j) => out.push({ destination: r.destination, path: `spec.http[${i}].route[${j}].destination` }));
    if (h.mirror !== undefined) out.push({ destination: h.mirror, path: `spec.http[${i}].mirror` });
    h.mirrors?.forEach((m, j) => out.push({ destination: m.destination, path: `spec.http[${i}].mirrors[${j}].destination` }));
  });
  spec.tcp.forEach((t, i) => t.route.forEach((r, j) => out.push({ destination: r.destination, path: `spec.tcp[${i}].route[${j}].destination` })));
  spec.tls.forEach((t, i) => t.route.forEach((r, j) => out.push({ destination: r.destination, path: `spec.tls[${i}].route[${j}].destination` })));
  return out;
}

export class MeshIndex {
  readonly virtualServices: Config<VirtualServiceSpec>[] = [];
  readonly destinationRules: Config<DestinationRuleSpec>[] = [];
  readonly gateways: Config<GatewaySpec>[] = [];
  readonly serviceEntries: Config<ServiceEntrySpec>[] = [];
  /** Registry hostnames (exact). */
  private readonly serviceHosts = new Set<string>();

  constructor(readonly mesh: MeshSnapshot) {
    for (const c of mesh.configs) {
      if (c.kind === 'VirtualService') this.virtualServices.push(c as Config<VirtualServiceSpec>);
      else if (c.kind === 'DestinationRule') this.destinationRules.push(c as Config<DestinationRuleSpec>);
      else if (c.kind === 'Gateway') this.gateways.push(c as Config<GatewaySpec>);
      else if (c.kind === 'ServiceEntry') this.serviceEntries.push(c as Config<ServiceEntrySpec>);
    }
    for (const s of mesh.services) this.serviceHosts.add(s.hostname);
  }

  /**
   * Istio's short-name rule: a host without a dot (and not a wildcard) is a Kubernetes service in
   * the referring resource's namespace: `reviews` in `default` → `reviews.default.svc.cluster.local`.
   */
  resolve(host: string, namespace: string): string {
    return resolveConfigHost(host, namespace, this.mesh.domainSuffix);
  }

  /** Whether a (resolved) host is a registry service or covered by a ServiceEntry host. */
  knownHost(host: string): boolean {
    if (this.serviceHosts.has(host)) return true;
    for (const s of this.mesh.services) if (host.startsWith('*.') && hostMatches(host, s.hostname)) return true;
    return this.serviceEntries.some((se) => se.spec.hosts.some((h) => hostMatches(this.resolve(h, se.metadata.namespace), host)));
  }

  /** DestinationRules whose host covers `host` (resolved). */
  rulesFor(host: string): Config<DestinationRuleSpec>[] {
    return this.destinationRules.filter((dr) => hostMatches(this.resolve(dr.spec.host, dr.metadata.namespace), host));
  }

  /** The label sets of the instances behind a (resolved) host: registry workloads and ServiceEntry endpoints. */
  instanceLabels(host: string): Readonly<Record<string, string>>[] {
    const out: Readonly<Record<string, string>>[] = [];
    for (const w of this.mesh.workloads) {
      const h = w.service.includes('.') ? w.service : `${w.service}.${w.namespace}.svc.${this.mesh.domainSuffix}`;
      if (h === host) out.push(w.labels);
    }
    for (const se of this.serviceEntries) {
      if (!se.spec.hosts.some((h) => this.resolve(h, se.metadata.namespace) === host)) continue;
      se.spec.endpoints.forEach((e: WorkloadEntrySpec) => out.push(e.labels ?? {}));
    }
    return out;
  }

  /** `namespace/name` of a gateway reference made from `namespace`; `mesh` stays `mesh`. */
  gatewayKey(ref: string, namespace: string): string {
    if (ref === 'mesh') return 'mesh';
    return ref.includes('/') ? ref : `${namespace}/${ref}`;
  }

  hasGateway(key: string): boolean {
    return this.gateways.some((g) => `${g.metadata.namespace}/${g.metadata.name}` === key);
  }
}

/** Whether every selector label is present with the same value. */
export function labelsMatch(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}
