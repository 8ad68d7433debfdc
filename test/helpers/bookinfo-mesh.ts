// A Bookinfo-like mesh for translation tests: productpage, details, ratings and reviews v1/v2/v3 in
// `default`, built by hand as frozen MeshSnapshot parts, plus builders for Istio resources and proxies.

import type { ConfigResource, IstioKind, MeshSnapshot, ProxyInfo, ServiceDef, Workload } from '../../src/control/model.js';

function freeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) freeze(v);
  }
  return o;
}

export const SUFFIX = 'cluster.local';
export const fqdn = (name: string, ns = 'default'): string => `${name}.${ns}.svc.${SUFFIX}`;

export function service(name: string, ports: ServiceDef['ports'] = [{ name: 'http', port: 9080, protocol: 'HTTP' }], ns = 'default'): ServiceDef {
  return freeze({ hostname: fqdn(name, ns), name, namespace: ns, ports, location: 'MESH_INTERNAL', resolution: 'STATIC', source: 'file' });
}

export function workload(service: string, version: string, address: string, extra: Partial<Workload> = {}): Workload {
  return freeze({
    id: `${service}-${version}`,
    service,
    namespace: 'default',
    labels: { app: service, version },
    address,
    ports: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'HTTP' }],
    weight: 1,
    healthy: true,
    source: 'file',
    ...extra,
  } as Workload);
}

let seq = 0;

export function config<S>(kind: IstioKind, name: string, spec: S, namespace = 'default'): ConfigResource<S> {
  seq++;
  return freeze({
    apiVersion: 'networking.istio.io/v1',
    kind,
    metadata: {
      name, namespace, labels: {}, annotations: {}, resourceVersion: String(seq),
      creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(), generation: 1,
    },
    spec,
  });
}

export const SERVICES: readonly ServiceDef[] = freeze([
  service('productpage'), service('details'), service('ratings'), service('reviews'),
]);

export const WORKLOADS: readonly Workload[] = freeze([
  workload('productpage', 'v1', '127.0.0.10'),
  workload('details', 'v1', '127.0.0.20'),
  workload('ratings', 'v1', '127.0.0.30'),
  workload('reviews', 'v1', '127.0.0.41'),
  workload('reviews', 'v2', '127.0.0.42'),
  workload('reviews', 'v3', '127.0.0.43'),
]);

export function mesh(configs: readonly ConfigResource[] = [], extra: Partial<MeshSnapshot> = {}): MeshSnapshot {
  return freeze({ version: 1, configs, services: SERVICES, workloads: WORKLOADS, domainSuffix: SUFFIX, ...extra });
}

export function sidecarProxy(app: string, extra: Partial<ProxyInfo> = {}): ProxyInfo {
  return freeze({
    id: `sidecar~127.0.0.10~${app}-v1.default~default.svc.cluster.local`,
    kind: 'sidecar',
    namespace: 'default',
    labels: { app, version: 'v1' },
    ipAddress: '127.0.0.10',
    service: app,
    appPorts: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'HTTP' }],
    inboundPort: 15006,
    outboundPort: 15001,
    register: false,
    metadata: {},
    ...extra,
  } as ProxyInfo);
}

export function gatewayProxy(extra: Partial<ProxyInfo> = {}): ProxyInfo {
  return freeze({
    id: 'router~127.0.0.2~ingress.istio-system~istio-system.svc.cluster.local',
    kind: 'router', namespace: 'istio-system', labels: { istio: 'ingressgateway' }, ipAddress: '127.0.0.2', service: '',
    appPorts: [], inboundPort: 15006, outboundPort: 15001, register: false, metadata: {},
    ...extra,
  } as ProxyInfo);
}

export function grpcProxy(extra: Partial<ProxyInfo> = {}): ProxyInfo {
  return freeze({
    id: 'grpc~127.0.0.3~client.default~default.svc.cluster.local',
    kind: 'grpc', namespace: 'default', labels: { app: 'client' }, ipAddress: '127.0.0.3', service: '',
    appPorts: [], inboundPort: 15006, outboundPort: 15001, register: false, metadata: { GENERATOR: 'grpc' },
    ...extra,
  } as ProxyInfo);
}

/** The reviews DestinationRule with v1/v2/v3 subsets. */
export const REVIEWS_DR = config('DestinationRule', 'reviews', {
  host: 'reviews',
  subsets: [
    { name: 'v1', labels: { version: 'v1' } },
    { name: 'v2', labels: { version: 'v2' } },
    { name: 'v3', labels: { version: 'v3' } },
  ],
  exportTo: [],
});

/** reviews: `end-user: jason` pinned to v2, everyone else 90/10 between v1 and v3. */
export const REVIEWS_VS = config('VirtualService', 'reviews', {
  hosts: ['reviews'],
  gateways: [],
  http: [
    { match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] },
    { match: [], route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 90 }, { destination: { host: 'reviews', subset: 'v3' }, weight: 10 }] },
  ],
  tcp: [],
  tls: [],
  exportTo: [],
});
