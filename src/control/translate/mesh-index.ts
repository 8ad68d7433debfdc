// One mesh version, indexed for translation: Istio's host resolution (short names relative to the
// resource's namespace), exportTo visibility, Sidecar egress scoping, and which VirtualService /
// DestinationRule / Gateway applies where (istio.io/latest/docs/reference/config/networking/).

import { resolveConfigHost } from '../registry/names.js';
import type { ConfigResource, MeshSnapshot, ProxyInfo, ServiceDef, Workload } from '../model.js';
import type { DestinationRuleSpec, GatewaySpec, ServiceEntrySpec, SidecarSpec, VirtualServiceSpec } from '../api/types.js';

/** Istio's root namespace: its selector-less Sidecar is the mesh-wide default. */
export const ROOT_NAMESPACE = 'istio-system';

export type VS = ConfigResource<VirtualServiceSpec>;
export type DR = ConfigResource<DestinationRuleSpec>;
export type GW = ConfigResource<GatewaySpec>;
export type SC = ConfigResource<SidecarSpec>;

/** Every label of `selector` is on `labels` with the same value (an empty selector matches all). */
export function labelsMatch(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (selector === undefined) return true;
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

/** A host pattern (`*`, `*.example.com`, `example.com`) matches a concrete hostname. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

/** Two host patterns overlap (a gateway server host against a VirtualService host). */
export function hostsIntersect(a: string, b: string): boolean {
  return hostMatches(a, b) || hostMatches(b, a);
}

/** Of two overlapping patterns, the narrower one (what a virtual host should serve). */
export function narrowerHost(a: string, b: string): string {
  if (a === b) return a;
  return hostMatches(a, b) ? b : a;
}

/** Is a resource with this exportTo, living in `ns`, visible from `proxyNs`? */
export function exportedTo(exportTo: readonly string[] | undefined, ns: string, proxyNs: string): boolean {
  if (exportTo === undefined || exportTo.length === 0) return true;
  return exportTo.some((e) => e === '*' || (e === '.' ? ns === proxyNs : e === proxyNs));
}

/** Memoizes by string key. */
function memo<V>(map: Map<string, V>, key: string, make: () => V): V {
  let v = map.get(key);
  if (v === undefined && !map.has(key)) {
    v = make();
    map.set(key, v);
  }
  return v as V;
}

/** Istio's precedence among configs: oldest first, then by namespace/name. */
export function byAge(a: ConfigResource, b: ConfigResource): number {
  const ta = a.metadata.creationTimestamp;
  const tb = b.metadata.creationTimestamp;
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** What a proxy may see: its Sidecar resource (if any) and the services it admits. */
export interface Scope {
  readonly key: string;
  readonly sidecar: SC | undefined;
  /** Visible services, in hostname order. */
  readonly services: readonly ServiceDef[];
  readonly hosts: ReadonlySet<string>;
}

export class MeshIndex {
  readonly suffix: string;
  readonly services: readonly ServiceDef[];
  private readonly byHost = new Map<string, ServiceDef>();
  private readonly byNameNs = new Map<string, ServiceDef>();
  private readonly workloadsByHost = new Map<string, Workload[]>();
  /** hostname → the exportTo of the ServiceEntry that declares it. */
  private readonly seExport = new Map<string, { ns: string; exportTo: readonly string[] }>();
  readonly virtualServices: readonly VS[];
  readonly destinationRules: readonly DR[];
  readonly gateways: readonly GW[];
  readonly sidecars: readonly SC[];
  private readonly scopes = new Map<string, Scope>();
  private readonly drCache = new Map<string, DR | undefined>();
  private readonly vsCache = new Map<string, VS | undefined>();

  constructor(readonly mesh: MeshSnapshot, domainSuffix: string) {
    this.suffix = mesh.domainSuffix || domainSuffix;
    this.services = [...mesh.services].sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
    for (const s of this.services) {
      this.byHost.set(s.hostname, s);
      this.byNameNs.set(`${s.name}/${s.namespace}`, s);
    }
    for (const w of mesh.workloads) {
      const s = this.byNameNs.get(`${w.service}/${w.namespace}`) ?? this.byHost.get(w.service);
      if (s === undefined) continue;
      let list = this.workloadsByHost.get(s.hostname);
      if (list === undefined) this.workloadsByHost.set(s.hostname, (list = []));
      list.push(w);
    }
    const of = <S>(kind: string) => mesh.configs.filter((c) => c.kind === kind).sort(byAge) as ConfigResource<S>[];
    this.virtualServices = of<VirtualServiceSpec>('VirtualService');
    this.destinationRules = of<DestinationRuleSpec>('DestinationRule');
    this.gateways = of<GatewaySpec>('Gateway');
    this.sidecars = of<SidecarSpec>('Sidecar');
    for (const se of of<ServiceEntrySpec>('ServiceEntry')) {
      for (const h of se.spec.hosts) {
        if (!this.seExport.has(h)) this.seExport.set(h, { ns: se.metadata.namespace, exportTo: se.spec.exportTo });
      }
    }
  }

  /** Istio's short-name resolution: `reviews` in `default` → `reviews.default.svc.cluster.local`. */
  resolveHost(host: string, ns: string): string {
    return resolveConfigHost(host, ns, this.suffix);
  }

  service(hostname: string): ServiceDef | undefined {
    return this.byHost.get(hostname);
  }

  workloads(hostname: string): readonly Workload[] {
    return this.workloadsByHost.get(hostname) ?? [];
  }

  /** The Sidecar resource for a proxy: selector match in its namespace, else its namespace's default, else the root's. */
  sidecarFor(ns: string, labels: Readonly<Record<string, string>>): SC | undefined {
    const local = this.sidecars.filter((s) => s.metadata.namespace === ns);
    return local.find((s) => s.spec.workloadSelector !== undefined && labelsMatch(s.spec.workloadSelector.labels, labels))
      ?? local.find((s) => s.spec.workloadSelector === undefined)
      ?? this.sidecars.find((s) => s.metadata.namespace === ROOT_NAMESPACE && s.spec.workloadSelector === undefined);
  }

  /** Whether a Sidecar egress host entry (`ns/dns`, `./dns`, `*\/dns`, `ns/*`, `~/...`) admits a service. */
  egressAdmits(entry: string, proxyNs: string, s: ServiceDef): boolean {
    const slash = entry.indexOf('/');
    const ns = slash < 0 ? '*' : entry.slice(0, slash);
    const dns = slash < 0 ? entry : entry.slice(slash + 1);
    if (ns === '~') return false;
    if (ns !== '*' && (ns === '.' ? proxyNs : ns) !== s.namespace) return false;
    return hostMatches(dns, s.hostname) || dns === s.name;
  }

  /** Services visible to a proxy: exportTo of ServiceEntries, then the Sidecar's default egress hosts. */
  scope(proxy: Pick<ProxyInfo, 'kind' | 'namespace' | 'labels'>): Scope {
    const sidecar = proxy.kind === 'sidecar' ? this.sidecarFor(proxy.namespace, proxy.labels) : undefined;
    const key = `${proxy.namespace}|${sidecar === undefined ? '' : `${sidecar.metadata.namespace}/${sidecar.metadata.name}`}`;
    return memo(this.scopes, key, () => {
      const egress = sidecar?.spec.egress.filter((e) => e.port === undefined) ?? [];
      const services = this.services.filter((s) => {
        const exp = this.seExport.get(s.hostname);
        if (exp !== undefined && !exportedTo(exp.exportTo, exp.ns, proxy.namespace)) return false;
        if (sidecar === undefined || egress.length === 0) return true;
        return egress.some((e) => e.hosts.some((h) => this.egressAdmits(h, proxy.namespace, s)));
      });
      return { key, sidecar, services, hosts: new Set(services.map((s) => s.hostname)) };
    });
  }

  /**
   * The DestinationRule for a host as seen from `proxyNs`: Istio looks in the proxy's namespace,
   * then the service's, then the root namespace; an exact host beats a wildcard.
   */
  destinationRule(proxyNs: string, hostname: string): DR | undefined {
    return memo(this.drCache, `${proxyNs}|${hostname}`, () => {
      const svcNs = this.byHost.get(hostname)?.namespace ?? '';
      const candidates = this.destinationRules.filter((d) =>
        exportedTo(d.spec.exportTo, d.metadata.namespace, proxyNs)
        && hostMatches(this.resolveHost(d.spec.host, d.metadata.namespace), hostname));
      const rank = (d: DR): number => {
        const nsRank = d.metadata.namespace === proxyNs ? 0 : d.metadata.namespace === svcNs ? 1 : d.metadata.namespace === ROOT_NAMESPACE ? 2 : 3;
        const exact = this.resolveHost(d.spec.host, d.metadata.namespace) === hostname ? 0 : 1;
        return nsRank * 2 + exact;
      };
      return candidates.sort((a, b) => rank(a) - rank(b))[0];
    });
  }

  /** Whether a VirtualService is bound to `gateway` (`mesh`, or a Gateway as `ns/name`). */
  boundTo(vs: VS, gateway: string): boolean {
    const gws = vs.spec.gateways.length === 0 ? ['mesh'] : vs.spec.gateways;
    return gws.some((g) => this.gatewayRef(g, vs.metadata.namespace) === gateway);
  }

  /** A gateway reference as `ns/name` (`mesh` stays `mesh`). */
  gatewayRef(g: string, ns: string): string {
    if (g === 'mesh') return 'mesh';
    return g.includes('/') ? g : `${ns}/${g}`;
  }

  /**
   * The VirtualService routing `hostname` for `gateway` as seen from `proxyNs` (Istio uses the
   * oldest one when several claim a host).
   */
  virtualService(proxyNs: string, hostname: string, gateway: string): VS | undefined {
    return memo(this.vsCache, `${proxyNs}|${hostname}|${gateway}`, () => this.virtualServices.find((vs) =>
      this.boundTo(vs, gateway)
      && exportedTo(vs.spec.exportTo, vs.metadata.namespace, proxyNs)
      && vs.spec.hosts.some((h) => hostMatches(this.resolveHost(h, vs.metadata.namespace), hostname))));
  }
}
