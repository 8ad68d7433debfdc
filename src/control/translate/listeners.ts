// LDS and RDS: a sidecar's virtualOutbound / virtualInbound listeners and its outbound route
// config, a gateway's listeners per Gateway server port, a proxyless gRPC client's API listeners
// (envoy.config.listener.v3.Listener, envoy.config.route.v3.RouteConfiguration), named as Istio names them.

import type { ProxyInfo, ServiceDef } from '../model.js';
import type { GatewayServer, RouteDestination, SidecarSpec } from '../api/types.js';
import { clusterName, inboundCluster } from './clusters.js';
import { hostsIntersect, narrowerHost, type GW, type MeshIndex, type Scope, type VS } from './mesh-index.js';
import { CORS_FILTER, defaultRoute, destinationCluster, FAULT_FILTER, newUse, vsRoutes, type RouteUse } from './routes.js';

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const TLS_INSPECTOR = {
  name: 'envoy.filters.listener.tls_inspector',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' },
};
const ADS = { ads: {}, resource_api_version: 'V3' };

const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);
export const isHttpProtocol = (p: string): boolean => HTTP_PROTOCOLS.has(p.toUpperCase());

/** The HTTP filter chain: fault and CORS only when some route uses them, then the router. */
function httpFilters(use: Pick<RouteUse, 'fault' | 'cors'> | undefined): object[] {
  const out: object[] = [];
  if (use?.fault) out.push({ name: FAULT_FILTER, typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault' } });
  if (use?.cors) out.push({ name: CORS_FILTER, typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors' } });
  out.push({ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } });
  return out;
}

export function hcmFilter(statPrefix: string, routes: { rds: string } | { inline: object }, use: Pick<RouteUse, 'fault' | 'cors'> | undefined): object {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': HCM_TYPE,
      stat_prefix: statPrefix,
      codec_type: 'AUTO',
      ...('rds' in routes ? { rds: { route_config_name: routes.rds, config_source: ADS } } : { route_config: routes.inline }),
      http_filters: httpFilters(use),
    },
  };
}

function tcpProxy(statPrefix: string, dests: readonly { cluster: string; weight: number }[]): object {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: {
      '@type': TCP_PROXY_TYPE,
      stat_prefix: statPrefix,
      ...(dests.length === 1 ? { cluster: dests[0]!.cluster } : { weighted_clusters: { clusters: dests.map((d) => ({ name: d.cluster, weight: d.weight })) } }),
    },
  };
}

function tcpDestinations(route: readonly RouteDestination[], ns: string, index: MeshIndex, port: number): { cluster: string; weight: number }[] {
  const all = route.map((d) => ({ cluster: destinationCluster(d.destination, ns, { index, port }), weight: route.length === 1 ? 1 : d.weight ?? 0 }));
  const pos = all.filter((d) => d.weight > 0);
  return pos.length > 0 ? pos : all.map((d) => ({ ...d, weight: 1 }));
}

function socket(address: string, port: number): object {
  return { socket_address: { address, port_value: port } };
}

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

/** virtualInbound: everything to the app's first port (one app port needs no split by port). */
export function virtualInbound(proxy: ProxyInfo): object | undefined {
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
  return {
    name: 'virtualInbound',
    address: socket(proxy.ipAddress || '127.0.0.1', proxy.inboundPort),
    traffic_direction: 'INBOUND',
    filter_chains: [{ filters: [hcmFilter(`inbound_0.0.0.0_${proxy.inboundPort}`, { inline: routeConfig }, undefined)] }],
  };
}

/**
 * TCP for sidecars: the virtualOutbound listener speaks HTTP only, so plain TCP services are
 * reached through Sidecar `egress` entries that name a port: each becomes a tcp_proxy listener on
 * `bind` (default 127.0.0.1):port, to the mesh-bound VirtualService `tcp` route of the first
 * service it admits with that port, else to that service's cluster. HTTP egress ports are skipped.
 */
export function egressTcpListeners(sidecar: SidecarSpec | undefined, index: MeshIndex, proxy: ProxyInfo): object[] {
  const out: object[] = [];
  for (const e of sidecar?.egress ?? []) {
    if (e.port === undefined || isHttpProtocol(e.port.protocol)) continue;
    const port = e.port.number;
    const svc = index.scope(proxy).services.find((s) => s.ports.some((p) => p.port === port) && e.hosts.some((h) => index.egressAdmits(h, proxy.namespace, s)));
    if (svc === undefined) continue;
    const vs = index.virtualService(proxy.namespace, svc.hostname, 'mesh');
    const tcp = vs?.spec.tcp.find((r) => r.match.length === 0 || r.match.some((m) => m.port === undefined || m.port === port));
    const dests = tcp !== undefined && vs !== undefined ? tcpDestinations(tcp.route, vs.metadata.namespace, index, port)
      : [{ cluster: clusterName('outbound', port, '', svc.hostname), weight: 1 }];
    const bind = e.bind ?? '127.0.0.1';
    out.push({
      name: `${bind}_${port}`,
      address: socket(bind, port),
      traffic_direction: 'OUTBOUND',
      filter_chains: [{ filters: [tcpProxy(`outbound|${port}||${svc.hostname}`, dests)] }],
    });
  }
  return out;
}

// ───────────────────────────── gateways ─────────────────────────────

/** Gateways whose selector matches the proxy's labels. */
export function gatewaysFor(index: MeshIndex, labels: Readonly<Record<string, string>>): GW[] {
  return index.gateways.filter((g) => Object.entries(g.spec.selector).every(([k, v]) => labels[k] === v));
}

/** A server host `ns/host` admits a VirtualService of namespace `vsNs` with host `h`; returns the served host. */
function serverHostFor(serverHost: string, gwNs: string, vsNs: string, h: string): string | undefined {
  const slash = serverHost.indexOf('/');
  const ns = slash < 0 ? '*' : serverHost.slice(0, slash);
  const host = slash < 0 ? serverHost : serverHost.slice(slash + 1);
  if (ns !== '*' && (ns === '.' ? gwNs : ns) !== vsNs) return undefined;
  return hostsIntersect(host, h) ? narrowerHost(host, h) : undefined;
}

/** VirtualServices bound to a gateway, with the hosts they serve on a server. */
function gatewayVirtualServices(index: MeshIndex, gw: GW, server: GatewayServer): { vs: VS; hosts: string[] }[] {
  const ref = `${gw.metadata.namespace}/${gw.metadata.name}`;
  const out: { vs: VS; hosts: string[] }[] = [];
  for (const vs of index.virtualServices) {
    if (!index.boundTo(vs, ref)) continue;
    const hosts: string[] = [];
    for (const h of vs.spec.hosts) {
      const full = index.resolveHost(h, vs.metadata.namespace);
      for (const sh of server.hosts) {
        const served = serverHostFor(sh, gw.metadata.namespace, vs.metadata.namespace, full);
        if (served !== undefined && !hosts.includes(served)) hosts.push(served);
      }
    }
    if (hosts.length > 0) out.push({ vs, hosts });
  }
  return out;
}

export function gatewayRouteName(gw: GW, server: GatewayServer): string {
  const proto = server.port.protocol.toUpperCase();
  if (proto === 'HTTPS') return `https.${server.port.number}.${server.port.name}.${gw.metadata.name}.${gw.metadata.namespace}`;
  return `http.${server.port.number}`;
}

/** A gateway's route config for one name: virtual hosts from the servers that share it. */
export function gatewayRouteConfig(name: string, index: MeshIndex, servers: readonly { gw: GW; server: GatewayServer }[], use: RouteUse): object {
  const vhosts = new Map<string, { name: string; domains: string[]; routes: object[] }>();
  for (const { gw, server } of servers) {
    const port = server.port.number;
    const ref = `${gw.metadata.namespace}/${gw.metadata.name}`;
    if (server.tls?.httpsRedirect === true) {
      for (const sh of server.hosts) {
        const host = sh.includes('/') ? sh.slice(sh.indexOf('/') + 1) : sh;
        const key = `${host}:${port}`;
        if (!vhosts.has(key)) vhosts.set(key, { name: key, domains: host === '*' ? ['*'] : [host, key], routes: [{ match: { prefix: '/' }, redirect: { https_redirect: true, response_code: 'MOVED_PERMANENTLY' } }] });
      }
      continue;
    }
    for (const { vs, hosts } of gatewayVirtualServices(index, gw, server)) {
      if (vs.spec.http.length === 0) continue;
      for (const host of hosts) {
        const key = `${host}:${port}`;
        if (vhosts.has(key)) continue;
        const ctx = { index, proxyNs: gw.metadata.namespace, labels: {}, gateway: ref, port, flavor: 'envoy' as const };
        vhosts.set(key, { name: key, domains: host === '*' ? ['*'] : [host, key], routes: vsRoutes(vs, ctx, use) });
      }
    }
  }
  return { name, virtual_hosts: [...vhosts.values()], validate_clusters: false };
}

function downstreamTls(server: GatewayServer): object {
  const tls = server.tls!;
  const common: Record<string, unknown> = {
    tls_certificates: [{ certificate_chain: { filename: tls.serverCertificate }, private_key: { filename: tls.privateKey } }],
    alpn_protocols: ['h2', 'http/1.1'],
  };
  if (tls.mode === 'MUTUAL' && tls.caCertificates !== undefined) {
    common.validation_context = {
      trusted_ca: { filename: tls.caCertificates },
      ...((tls.subjectAltNames?.length ?? 0) > 0 ? { match_typed_subject_alt_names: tls.subjectAltNames!.map((s) => ({ san_type: 'DNS', matcher: { exact: s } })) } : {}),
    };
  }
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: { '@type': DOWNSTREAM_TLS, common_tls_context: common, ...(tls.mode === 'MUTUAL' ? { require_client_certificate: true } : {}) },
  };
}

const bareHost = (h: string): string => (h.includes('/') ? h.slice(h.indexOf('/') + 1) : h);

/** SNI names for a server's hosts (`*` means no SNI match). */
function serverNames(hosts: readonly string[]): string[] {
  const names = hosts.map(bareHost);
  return names.includes('*') ? [] : [...new Set(names)];
}

/** One gateway listener per port (`0.0.0.0_PORT`), and the route config names its HCMs use. */
export function gatewayListeners(
  index: MeshIndex, gws: readonly GW[],
  routeUse: (name: string, servers: readonly { gw: GW; server: GatewayServer }[]) => Pick<RouteUse, 'fault' | 'cors'>,
): object[] {
  const byPort = new Map<number, { gw: GW; server: GatewayServer }[]>();
  const routes = new Map<string, { gw: GW; server: GatewayServer }[]>();
  for (const gw of gws) {
    for (const server of gw.spec.servers) {
      let l = byPort.get(server.port.number);
      if (l === undefined) byPort.set(server.port.number, (l = []));
      l.push({ gw, server });
      const proto = server.port.protocol.toUpperCase();
      const terminated = proto === 'HTTPS' && (server.tls?.mode === 'SIMPLE' || server.tls?.mode === 'MUTUAL');
      if (terminated || isHttpProtocol(proto)) {
        const name = gatewayRouteName(gw, server);
        routes.set(name, [...(routes.get(name) ?? []), { gw, server }]);
      }
    }
  }
  const use = (name: string) => routeUse(name, routes.get(name) ?? []);
  const listeners: object[] = [];
  for (const [port, servers] of [...byPort].sort(([a], [b]) => a - b)) {
    const chains: object[] = [];
    let inspector = false;
    let plainHttp = false;
    const bind = servers[0]!.server.bind ?? '0.0.0.0';
    for (const { gw, server } of servers) {
      const proto = server.port.protocol.toUpperCase();
      const mode = server.tls?.mode;
      if ((proto === 'HTTPS' || proto === 'TLS') && mode === 'PASSTHROUGH') {
        inspector = true;
        const ref = `${gw.metadata.namespace}/${gw.metadata.name}`;
        for (const { vs } of gatewayVirtualServices(index, gw, server)) {
          for (const r of vs.spec.tls) {
            for (const m of r.match) {
              if (m.port !== undefined && m.port !== port) continue;
              if (m.gateways !== undefined && m.gateways.length > 0 && !m.gateways.some((g) => index.gatewayRef(g, vs.metadata.namespace) === ref)) continue;
              chains.push({
                filter_chain_match: { server_names: [...m.sniHosts] },
                filters: [tcpProxy(`${bareHost(m.sniHosts[0] ?? '')}_${port}`, tcpDestinations(r.route, vs.metadata.namespace, index, port))],
              });
            }
          }
        }
      } else if (proto === 'HTTPS' && (mode === 'SIMPLE' || mode === 'MUTUAL')) {
        const name = gatewayRouteName(gw, server);
        const names = serverNames(server.hosts);
        if (names.length > 0) inspector = true;
        chains.push({
          ...(names.length > 0 ? { filter_chain_match: { server_names: names } } : {}),
          filters: [hcmFilter(`outbound_${bind}_${port}`, { rds: name }, use(name))],
          transport_socket: downstreamTls(server),
        });
      } else if (isHttpProtocol(proto)) {
        const name = gatewayRouteName(gw, server);
        if (plainHttp) continue; // one chain serves every plain HTTP server of the port
        plainHttp = true;
        chains.push({ filters: [hcmFilter(`outbound_${bind}_${port}`, { rds: name }, use(name))] });
      } else if (proto === 'TCP' || proto === 'MONGO' || proto === 'TLS') {
        const ref = `${gw.metadata.namespace}/${gw.metadata.name}`;
        for (const { vs } of gatewayVirtualServices(index, gw, server)) {
          const r = vs.spec.tcp.find((t) => t.match.length === 0 || t.match.some((m) => (m.port === undefined || m.port === port)
            && (m.gateways === undefined || m.gateways.length === 0 || m.gateways.some((g) => index.gatewayRef(g, vs.metadata.namespace) === ref))));
          if (r === undefined) continue;
          chains.push({ filters: [tcpProxy(`outbound_${bind}_${port}`, tcpDestinations(r.route, vs.metadata.namespace, index, port))] });
          break;
        }
      }
    }
    if (chains.length === 0) continue;
    listeners.push({
      name: `${bind}_${port}`,
      address: socket(bind, port),
      ...(inspector ? { listener_filters: [TLS_INSPECTOR] } : {}),
      filter_chains: chains,
    });
  }
  return listeners;
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

