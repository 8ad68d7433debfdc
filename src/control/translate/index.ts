// Translation: a MeshSnapshot (Istio configs + registry) → each proxy's Envoy v3 resources in JSON
// form (the XdsGenerator contract of src/control/model.ts), with Istio's names and semantics.
// Output is cached per proxy shape per mesh version, and every resource object is interned by
// content across versions, so equal resources are the same frozen object (the xDS server caches
// encodings by identity) and a workload change only yields new ClusterLoadAssignment objects.

import type { MeshSnapshot, ProxyInfo, ProxyResources, XdsGenerator } from '../model.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../../xds/resource-types.js';
import { credentialSecrets, rootCaSecret } from './secrets.js';
import { clusterName, inboundCluster, loadAssignment, localityPolicy, outboundCluster, parseClusterName, type Flavor, type MtlsContext } from './clusters.js';
import { endpointMtls, meshConfig, mtlsActive, serviceSans } from './security/mtls.js';
import {
  apiListener, egressTcpListeners, gatewayListeners, gatewayRouteConfig, gatewaysFor, grpcRouteConfig, outboundRouteConfig,
  resolveTarget, virtualInbound, virtualOutbound,
} from './listeners.js';
import { MeshIndex, type DR } from './mesh-index.js';
import { newUse, type RouteUse } from './routes.js';
import type { ServiceDef } from '../model.js';

export { MeshIndex } from './mesh-index.js';

const EMPTY_MESH: MeshSnapshot = { version: 0, configs: [], services: [], workloads: [], domainSuffix: 'cluster.local' };

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

const sortedEntries = (r: Readonly<Record<string, string>>): string => Object.keys(r).sort().map((k) => `${k}=${r[k]}`).join(',');
const localityKey = (l: ProxyInfo['locality']): string => `${l?.region ?? ''}/${l?.zone ?? ''}/${l?.subZone ?? ''}`;

/** What makes two proxies get the same resources. */
function shapeKey(p: ProxyInfo, requested: ReadonlySet<string>): string {
  return [
    p.kind, p.namespace, sortedEntries(p.labels), p.service, p.appPorts.map((a) => `${a.name}:${a.port}:${a.targetPort}:${a.protocol}`).join(','),
    p.inboundPort, p.outboundPort, p.ipAddress, [...requested].sort().join(','), localityKey(p.locality),
  ].join('|');
}

/** Resources being gathered for one proxy. */
class Out {
  readonly byType = new Map<string, Map<string, object>>([
    [CLUSTER_TYPE, new Map()], [ENDPOINT_TYPE, new Map()], [LISTENER_TYPE, new Map()], [ROUTE_TYPE, new Map()], [SECRET_TYPE, new Map()],
  ]);

  add(type: string, o: object): void {
    const name = (o as { name?: string; cluster_name?: string }).name ?? (o as { cluster_name: string }).cluster_name;
    this.byType.get(type)!.set(name, o);
  }
}

export class MeshGenerator implements XdsGenerator {
  private readonly domainSuffix: string;
  private index: MeshIndex;
  private ver = 0;
  private readonly shapes = new Map<string, ProxyResources>();
  /** Sidecar results without virtualInbound, by shape minus the address. */
  private readonly bases = new Map<string, Map<string, Map<string, object>>>();
  /** Built objects of this version, by what they were built from. */
  private readonly built = new Map<string, object>();
  /** Which optional HTTP filters each built route config needs. */
  private readonly uses = new Map<string, RouteUse>();
  /** Mesh mTLS facts per service hostname, this version. */
  private readonly mtlsBySvc = new Map<string, MtlsContext>();
  private intern = new Map<string, object>();
  private prevIntern = new Map<string, object>();

  constructor(opts?: { domainSuffix?: string }) {
    this.domainSuffix = opts?.domainSuffix ?? 'cluster.local';
    this.index = new MeshIndex(EMPTY_MESH, this.domainSuffix);
  }

  /** A new mesh version: every cache is dropped; unchanged resources keep their identity through interning. */
  update(mesh: MeshSnapshot): void {
    this.index = new MeshIndex(mesh, this.domainSuffix);
    this.ver = mesh.version;
    this.shapes.clear();
    this.bases.clear();
    this.built.clear();
    this.uses.clear();
    this.mtlsBySvc.clear();
    this.prevIntern = this.intern;
    this.intern = new Map();
  }

  get version(): number {
    return this.ver;
  }

  generate(proxy: ProxyInfo, requestedListeners: ReadonlySet<string>): ProxyResources {
    const key = shapeKey(proxy, requestedListeners);
    const hit = this.shapes.get(key);
    if (hit !== undefined) return hit;
    let result: ProxyResources;
    if (proxy.kind === 'sidecar') {
      // Only virtualInbound depends on the proxy's address: everything else is shared by the
      // proxies that differ only in it (the per-type maps included).
      const baseKey = shapeKey({ ...proxy, ipAddress: '' }, requestedListeners);
      let base = this.bases.get(baseKey);
      if (base === undefined) {
        const out = new Out();
        this.sidecar(proxy, out);
        this.bases.set(baseKey, (base = out.byType));
      }
      const app = proxy.appPorts[0];
      if (app === undefined) {
        result = base;
      } else {
        const listeners = new Map(base.get(LISTENER_TYPE)!);
        // Policies select by namespace, labels and service account: all part of the key.
        const who = `${proxy.namespace}|${sortedEntries(proxy.labels)}|${proxy.serviceAccount}`;
        const inbound = this.obj(`lds|vi|${proxy.ipAddress}|${proxy.inboundPort}|${app.targetPort}|${who}`, () => virtualInbound(proxy, this.index)!);
        listeners.set('virtualInbound', inbound);
        result = new Map([...base, [LISTENER_TYPE, listeners]]);
      }
    } else {
      const out = new Out();
      if (proxy.kind === 'router') this.router(proxy, out);
      else this.grpc(proxy, requestedListeners, out);
      result = out.byType;
    }
    this.shapes.set(key, result);
    return result;
  }

  // ───────────────────────────── shared objects ─────────────────────────────

  /** The frozen, interned object for `key`, built once per version. */
  private obj(key: string, make: () => object): object {
    const hit = this.built.get(key);
    if (hit !== undefined) return hit;
    const fresh = make();
    const tag = `${key.slice(0, key.indexOf('|'))}\n${JSON.stringify(fresh)}`;
    let o = this.intern.get(tag) ?? this.prevIntern.get(tag);
    if (o === undefined) o = deepFreeze(fresh);
    this.intern.set(tag, o);
    this.built.set(key, o);
    return o;
  }

  private drKey(dr: DR | undefined): string {
    return dr === undefined ? '' : `${dr.metadata.namespace}/${dr.metadata.name}`;
  }

  /** A service port's clusters (default and one per DestinationRule subset) and their endpoints. */
  private serviceClusters(proxy: ProxyInfo, s: ServiceDef, port: number, flavor: Flavor, out: Out, only?: ReadonlySet<string>): void {
    if (s.resolution === 'NONE') return; // passthrough (ORIGINAL_DST) is not supported by Weft
    const dr = this.index.destinationRule(proxy.namespace, s.hostname);
    const subsets = ['', ...(dr?.spec.subsets.map((x) => x.name) ?? [])];
    // Client-side mesh mTLS needs the sidecar agent's certificate (the `sds-grpc` cluster): only
    // `weft sidecar` proxies have one. Gateways run by `weft proxy` and proxyless gRPC clients call
    // in plaintext (documented in the README).
    const agent = flavor === 'envoy' && proxy.kind === 'sidecar';
    const mtls = agent ? this.mtlsContext(s) : undefined;
    for (const subset of subsets) {
      const name = clusterName('outbound', port, subset, s.hostname);
      if (only !== undefined && !only.has(name)) continue;
      const dk = this.drKey(dr);
      const dns = s.resolution === 'DNS' && flavor === 'envoy';
      out.add(CLUSTER_TYPE, this.obj(`cds|${flavor}|${agent}|${name}|${dk}`, () => outboundCluster({
        service: s, port, subset, dr, flavor, workloads: dns ? this.index.workloads(s.hostname) : [], mtls,
      })));
      if (dns) continue;
      const loc = localityPolicy(dr, port, subset) ? localityKey(proxy.locality) : '';
      out.add(ENDPOINT_TYPE, this.obj(`eds|${agent}|${name}|${dk}|${loc}`, () =>
        loadAssignment(name, s, port, subset, dr, this.index.workloads(s.hostname), loc === '' ? undefined : proxy.locality, mtls)));
    }
  }

  /** A service's mesh mTLS facts for its clusters and endpoints (one per service per version). */
  private mtlsContext(s: ServiceDef): MtlsContext {
    let m = this.mtlsBySvc.get(s.hostname);
    if (m === undefined) {
      const index = this.index;
      const mesh = meshConfig(index);
      m = { mesh, active: mtlsActive(index), sans: serviceSans(mesh, index.workloads(s.hostname)), endpoint: (w, wp) => endpointMtls(index, w, wp) };
      this.mtlsBySvc.set(s.hostname, m);
    }
    return m;
  }

  private routeConfig(key: string, make: (use: RouteUse) => object): { config: object; use: RouteUse } {
    let use = this.uses.get(key);
    const config = this.obj(key, () => {
      use = newUse();
      return make(use);
    });
    if (use === undefined) use = newUse();
    this.uses.set(key, use);
    return { config, use };
  }

  // ───────────────────────────── per kind ─────────────────────────────

  /** Secrets served over ADS: ROOTCA when the control plane has a CA, and the namespace's credentialName secrets. */
  private secrets(proxy: ProxyInfo, out: Out): void {
    const root = this.obj('sds|ROOTCA', () => rootCaSecret(this.index) ?? {});
    if ((root as { name?: string }).name !== undefined) out.add(SECRET_TYPE, root);
    // credentialName secrets: the proxy's own namespace only (as Istio's SDS authorizes them).
    for (const s of credentialSecrets(this.index, proxy.namespace)) {
      out.add(SECRET_TYPE, this.obj(`sds|cred|${proxy.namespace}|${(s as { name: string }).name}`, () => s));
    }
  }

  private sidecar(proxy: ProxyInfo, out: Out): void {
    const index = this.index;
    this.secrets(proxy, out);
    const scope = index.scope(proxy);
    for (const s of scope.services) for (const p of s.ports) this.serviceClusters(proxy, s, p.port, 'envoy', out);
    for (const a of proxy.appPorts) out.add(CLUSTER_TYPE, this.obj(`cds|inbound|${a.targetPort}`, () => inboundCluster(a.targetPort)));
    const routeName = String(proxy.outboundPort);
    const { config, use } = this.routeConfig(`rds|out|${routeName}|${scope.key}|${sortedEntries(proxy.labels)}`,
      (u) => outboundRouteConfig(routeName, index, scope, proxy, u));
    out.add(ROUTE_TYPE, config);
    out.add(LISTENER_TYPE, this.obj(`lds|vo|${proxy.outboundPort}|${use.fault}|${use.cors}`, () => virtualOutbound(proxy, use)));
    for (const l of egressTcpListeners(scope.sidecar?.spec, index, proxy)) {
      out.add(LISTENER_TYPE, this.obj(`lds|eg|${(l as { name: string }).name}|${scope.key}`, () => l));
    }
  }

  private router(proxy: ProxyInfo, out: Out): void {
    const index = this.index;
    this.secrets(proxy, out);
    const scope = index.scope(proxy);
    for (const s of scope.services) for (const p of s.ports) this.serviceClusters(proxy, s, p.port, 'envoy', out);
    const gws = gatewaysFor(index, proxy.labels);
    const gwKey = gws.map((g) => `${g.metadata.namespace}/${g.metadata.name}`).join(',');
    const listeners = gatewayListeners(index, gws, (name, servers) => {
      const { config, use } = this.routeConfig(`rds|gw|${name}|${gwKey}`, (u) => gatewayRouteConfig(name, index, servers, u));
      out.add(ROUTE_TYPE, config);
      return use;
    });
    for (const l of listeners) out.add(LISTENER_TYPE, this.obj(`lds|gw|${(l as { name: string }).name}|${gwKey}`, () => l));
  }

  private grpc(proxy: ProxyInfo, requested: ReadonlySet<string>, out: Out): void {
    const index = this.index;
    const scope = index.scope(proxy);
    const wanted = new Set<string>();
    for (const name of [...requested].sort()) {
      const target = resolveTarget(name, index, proxy.namespace);
      if (target === undefined || !scope.hosts.has(target.service.hostname)) continue;
      out.add(LISTENER_TYPE, this.obj(`lds|api|${name}`, () => apiListener(name)));
      const { config, use } = this.routeConfig(`rds|grpc|${name}|${proxy.namespace}|${sortedEntries(proxy.labels)}`,
        (u) => {
          const r = grpcRouteConfig(name, target, index, proxy);
          for (const c of r.use.clusters) u.clusters.add(c);
          return r.config;
        });
      out.add(ROUTE_TYPE, config);
      for (const c of use.clusters) wanted.add(c);
    }
    const byService = new Map<string, Set<number>>();
    for (const c of wanted) {
      const p = parseClusterName(c);
      if (p === undefined) continue;
      let ports = byService.get(p.host);
      if (ports === undefined) byService.set(p.host, (ports = new Set()));
      ports.add(p.port);
    }
    for (const [host, ports] of byService) {
      const s = index.service(host);
      if (s === undefined || !scope.hosts.has(host)) continue;
      for (const port of ports) this.serviceClusters(proxy, s, port, 'grpc', out, wanted);
    }
  }
}
