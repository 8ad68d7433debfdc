// LDS and RDS: a sidecar's virtualOutbound / virtualInbound listeners, its outbound route config
// and its egress TCP/TLS listeners, and a proxyless gRPC client's API listeners
// (envoy.config.listener.v3.Listener, envoy.config.route.v3.RouteConfiguration), named as Istio
// names them. Gateway listeners are in gateways.ts.

import type { ProxyInfo, ServiceDef } from '../model.js';
import type { SidecarSpec } from '../api/types.js';
import { clusterName, inboundCluster } from './clusters.js';
import {
  ADS, hcmFilter, httpFilters, isHttpProtocol, l4MatchApplies, socket, tcpDestinations, tcpIdleMs, tcpProxy, TLS_INSPECTOR, type L4Context,
  type TcpDestination,
} from './filters.js';
import type { MeshIndex, Scope } from './mesh-index.js';
import { defaultRoute, newUse, vsRoutes, type RouteUse } from './routes.js';
import { inboundHttpSecurityFilters, meshConfigOf } from './security/index.js';
import { inboundChains } from './security/mtls.js';

export { gatewayListeners, gatewayRouteConfig, gatewayRouteName, gatewaysFor } from './gateways.js';
export { hcmFilter, isHttpProtocol } from './filters.js';

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

// ───────────────────────────── sidecars ─────────────────────────────

/** Every name a caller may use for a service port, as Istio lists them (own-namespace short name only for the same namespace). */
export function serviceDomains(s: ServiceDef, port: number, proxyNs: string, suffix: string): string[] {
  const hosts = [s.hostname];
  if (s.hostname === `${s.name}.${s.namespace}.svc.${suffix}`) {
    hosts.push(`${s.name}.${s.namespace}.svc`, `${s.name}.${s.namespace}`);
    if (s.namespace === proxyNs) hosts.push(s.name);
  }
  const httpPorts = s.ports.filter((p) => isHttpProtocol(p.protocol));
  const portless = port === 80 || (httpPorts.length === 1 && httpPorts[0]!.port === port);
  return [...hosts.map((h) => `${h}:${port}`), ...(portless ? hosts : [])];
}

/** The sidecar's outbound route config: one virtual host per visible (service, HTTP port). */
export function outboundRouteConfig(name: string, index: MeshIndex, scope: Scope, proxy: Pick<ProxyInfo, 'namespace' | 'labels'>, use: RouteUse): object {
  const seen = new Set<string>();
  const vhosts: object[] = [];
  for (const s of scope.services) {
    for (const p of s.ports) {
      if (!isHttpProtocol(p.protocol)) continue;
      const domains = serviceDomains(s, p.port, proxy.namespace, index.suffix).filter((d) => !seen.has(d));
      for (const d of domains) seen.add(d);
      const ctx = { index, proxyNs: proxy.namespace, labels: proxy.labels, gateway: 'mesh', port: p.port, flavor: 'envoy' as const };
      const vs = index.virtualService(proxy.namespace, s.hostname, 'mesh');
      const routes = vs !== undefined && vs.spec.http.length > 0 ? vsRoutes(vs, ctx, use) : [defaultRoute(clusterName('outbound', p.port, '', s.hostname), use)];
      vhosts.push({ name: `${s.hostname}:${p.port}`, domains, routes });
    }
  }
  return { name, virtual_hosts: vhosts, validate_clusters: false };
}

export function virtualOutbound(proxy: ProxyInfo, use: Pick<RouteUse, 'fault' | 'cors'>): object {
  return {
    name: 'virtualOutbound',
    address: socket('127.0.0.1', proxy.outboundPort),
    traffic_direction: 'OUTBOUND',
    filter_chains: [{ filters: [hcmFilter(`outbound_0.0.0.0_${proxy.outboundPort}`, { rds: String(proxy.outboundPort) }, use)] }],
  };
}

/**
 * virtualInbound: everything to the app's first port (one app port needs no split by port), through
 * the workload's security filters (./security/index.ts).
 */
export function virtualInbound(proxy: ProxyInfo, index: MeshIndex): object | undefined {
  const app = proxy.appPorts[0];
  if (app === undefined) return undefined;
  // Istio names inbound clusters by the port the app listens on (the service's target port).
  const cluster = (inboundCluster(app.targetPort) as { name: string }).name;
  const routeConfig = {
    name: cluster,
    virtual_hosts: [{
      name: `inbound|http|${app.targetPort}`,
      domains: ['*'],
      routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster, timeout: '0s' } }],
    }],
    validate_clusters: false,
  };
  const filters = [hcmFilter(`inbound_0.0.0.0_${proxy.inboundPort}`, { inline: routeConfig }, undefined,
    inboundHttpSecurityFilters({ index, proxy, mesh: meshConfigOf(index), port: app.targetPort }))];
  // Mesh mTLS as the workload's PeerAuthentication says (./security/mtls.ts).
  const { listenerFilters, chains } = inboundChains(index, proxy, app.targetPort, filters);
  return {
    name: 'virtualInbound',
    address: socket(proxy.ipAddress || '127.0.0.1', proxy.inboundPort),
    traffic_direction: 'INBOUND',
    ...(listenerFilters.length > 0 ? { listener_filters: listenerFilters } : {}),
    filter_chains: chains,
  };
}

/**
 * TCP and TLS for sidecars: the virtualOutbound listener speaks HTTP only, so other services are
 * reached through Sidecar `egress` entries that name a (non-HTTP) port: each becomes a listener on
 * `bind` (default 127.0.0.1):port for the first service it admits with that port. The
 * mesh-bound VirtualService's `tls` routes (TLS/HTTPS ports) pick a destination by SNI, with a
 * TLS inspector; its `tcp` routes (or, without one, the service's cluster) take the rest. Route
 * matches are decided for this proxy (port, sourceLabels, sourceNamespace, gateways).
 */
export function egressTcpListeners(sidecar: SidecarSpec | undefined, index: MeshIndex, proxy: ProxyInfo): object[] {
  const out: object[] = [];
  for (const e of sidecar?.egress ?? []) {
    if (e.port === undefined || isHttpProtocol(e.port.protocol)) continue;
    const port = e.port.number;
    const svc = index.scope(proxy).services.find((s) => s.ports.some((p) => p.port === port) && e.hosts.some((h) => index.egressAdmits(h, proxy.namespace, s)));
    if (svc === undefined) continue;
    const vs = index.virtualService(proxy.namespace, svc.hostname, 'mesh');
    const ctx: L4Context = { index, port, gateway: 'mesh', proxyNs: proxy.namespace, labels: proxy.labels };
    const chains: object[] = [];
    const proto = e.port.protocol.toUpperCase();
    if (vs !== undefined && (proto === 'TLS' || proto === 'HTTPS')) {
      for (const r of vs.spec.tls) {
        for (const m of r.match) {
          if (!l4MatchApplies(m, vs, ctx)) continue;
          const dests = tcpDestinations(r.route, vs.metadata.namespace, index, port);
          chains.push({
            filter_chain_match: { server_names: [...m.sniHosts] },
            filters: [tcpProxy(`outbound|${port}||${svc.hostname}`, dests, tcpIdleMs(index, proxy.namespace, dests))],
          });
        }
      }
    }
    const tcp = vs?.spec.tcp.find((r) => r.match.length === 0 || r.match.some((m) => l4MatchApplies(m, vs, ctx)));
    const dests: TcpDestination[] = tcp !== undefined && vs !== undefined ? tcpDestinations(tcp.route, vs.metadata.namespace, index, port)
      : [{ cluster: clusterName('outbound', port, '', svc.hostname), weight: 1 }];
    chains.push({ filters: [tcpProxy(`outbound|${port}||${svc.hostname}`, dests, tcpIdleMs(index, proxy.namespace, dests))] });
    const bind = e.bind ?? '127.0.0.1';
    out.push({
      name: `${bind}_${port}`,
      address: socket(bind, port),
      traffic_direction: 'OUTBOUND',
      ...(chains.length > 1 ? { listener_filters: [TLS_INSPECTOR] } : {}),
      filter_chains: chains,
    });
  }
  return out;
}

// ───────────────────────────── proxyless gRPC ─────────────────────────────

/** A requested API listener name (`reviews:9080`, `reviews.default.svc.cluster.local:9080`, ...) → its service and port. */
export function resolveTarget(name: string, index: MeshIndex, ns: string): { service: ServiceDef; port: number } | undefined {
  const m = /^(.*):(\d+)$/.exec(name);
  const host = m ? m[1]! : name;
  const candidates = [host, `${host}.${ns}.svc.${index.suffix}`, `${host}.svc.${index.suffix}`, `${host}.${index.suffix}`];
  const service = candidates.map((h) => index.service(h)).find((s) => s !== undefined);
  if (service === undefined) return undefined;
  const port = m ? Number(m[2]) : service.ports.length === 1 ? service.ports[0]!.port : 80;
  if (!service.ports.some((p) => p.port === port)) return undefined;
  return { service, port };
}

export function apiListener(name: string): object {
  return {
    name,
    api_listener: {
      api_listener: {
        '@type': HCM_TYPE,
        rds: { route_config_name: name, config_source: ADS },
        http_filters: httpFilters(undefined),
      },
    },
  };
}

/** The route config a gRPC client's API listener names: one virtual host for the requested target. */
export function grpcRouteConfig(name: string, target: { service: ServiceDef; port: number }, index: MeshIndex, proxy: Pick<ProxyInfo, 'namespace' | 'labels'>): { config: object; use: RouteUse } {
  const use = newUse();
  const { service, port } = target;
  const ctx = { index, proxyNs: proxy.namespace, labels: proxy.labels, gateway: 'mesh', port, flavor: 'grpc' as const };
  const vs = index.virtualService(proxy.namespace, service.hostname, 'mesh');
  let routes = vs !== undefined && vs.spec.http.length > 0 ? vsRoutes(vs, ctx, use) : [];
  if (routes.length === 0) routes = [defaultRoute(clusterName('outbound', port, '', service.hostname), use)];
  const domains = [...new Set([name, ...serviceDomains(service, port, proxy.namespace, index.suffix)])];
  return { config: { name, virtual_hosts: [{ name: `${service.hostname}:${port}`, domains, routes }] }, use };
}

