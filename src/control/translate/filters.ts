// Building blocks shared by the sidecar and gateway listeners: the HTTP connection manager and TCP
// proxy network filters (envoy.extensions.filters.network.*.v3), the TLS inspector, socket
// addresses, and Istio's L4 match rules (VirtualService tcp/tls `match`) evaluated at config time.

import type { L4MatchAttributes, RouteDestination } from '../api/types.js';
import { effectivePolicy, ms, parseClusterName } from './clusters.js';
import { labelsMatch, type MeshIndex, type VS } from './mesh-index.js';
import { CORS_FILTER, destinationCluster, FAULT_FILTER, type RouteUse } from './routes.js';

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
export const TLS_INSPECTOR = {
  name: 'envoy.filters.listener.tls_inspector',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' },
};
export const ADS = { ads: {}, resource_api_version: 'V3' };

const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);
export const isHttpProtocol = (p: string): boolean => HTTP_PROTOCOLS.has(p.toUpperCase());

/**
 * The HTTP filter chain: `security` first (inbound: jwt_authn, ext_authz, rbac; see
 * ./security/index.ts), fault and CORS only when some route uses them, then the router.
 */
export function httpFilters(use: Pick<RouteUse, 'fault' | 'cors'> | undefined, security: readonly object[] = []): object[] {
  const out: object[] = [...security];
  if (use?.fault) out.push({ name: FAULT_FILTER, typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault' } });
  if (use?.cors) out.push({ name: CORS_FILTER, typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors' } });
  out.push({ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } });
  return out;
}

export function hcmFilter(statPrefix: string, routes: { rds: string } | { inline: object }, use: Pick<RouteUse, 'fault' | 'cors'> | undefined,
  security: readonly object[] = []): object {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': HCM_TYPE,
      stat_prefix: statPrefix,
      codec_type: 'AUTO',
      ...('rds' in routes ? { rds: { route_config_name: routes.rds, config_source: ADS } } : { route_config: routes.inline }),
      http_filters: httpFilters(use, security),
    },
  };
}

export interface TcpDestination { readonly cluster: string; readonly weight: number }

/** A tcp_proxy to one cluster or weighted clusters; `idleMs` is the DestinationRule's tcp.idleTimeout. */
export function tcpProxy(statPrefix: string, dests: readonly TcpDestination[], idleMs?: number): object {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: {
      '@type': TCP_PROXY_TYPE,
      stat_prefix: statPrefix,
      ...(dests.length === 1 ? { cluster: dests[0]!.cluster } : { weighted_clusters: { clusters: dests.map((d) => ({ name: d.cluster, weight: d.weight })) } }),
      ...(idleMs !== undefined ? { idle_timeout: ms(idleMs) } : {}),
    },
  };
}

/** Istio's weights for TCP/TLS routes: a lone destination takes all, 0-weight ones drop out, all-zero splits evenly. */
export function tcpDestinations(route: readonly RouteDestination[], ns: string, index: MeshIndex, port: number): TcpDestination[] {
  const all = route.map((d) => ({ cluster: destinationCluster(d.destination, ns, { index, port }), weight: route.length === 1 ? 1 : d.weight ?? 0 }));
  const pos = all.filter((d) => d.weight > 0);
  return pos.length > 0 ? pos : all.map((d) => ({ ...d, weight: 1 }));
}

/**
 * The TCP proxy idle timeout Istio takes from the DestinationRule of the first destination's host
 * (connectionPool.tcp.idleTimeout; subsets do not change it), as seen from `proxyNs`.
 */
export function tcpIdleMs(index: MeshIndex, proxyNs: string, dests: readonly TcpDestination[]): number | undefined {
  const first = dests[0] === undefined ? undefined : parseClusterName(dests[0].cluster);
  if (first === undefined) return undefined;
  const dr = index.destinationRule(proxyNs, first.host);
  return effectivePolicy(dr, first.port, '').connectionPool?.tcp?.idleTimeout?.ms;
}

export function socket(address: string, port: number): object {
  return { socket_address: { address, port_value: port } };
}

/** Who a TCP/TLS route is being built for: the listener's port and the proxy asking. */
export interface L4Context {
  readonly index: MeshIndex;
  readonly port: number;
  /** `mesh` for sidecars, the Gateway as `ns/name` for gateways. */
  readonly gateway: string;
  readonly proxyNs: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Whether an L4 match (VirtualService tcp/tls `match`) applies to this listener: port, gateways,
 * and the source workload's labels and namespace, all known when the listener is built. As for
 * HTTP matches, sourceLabels select sidecars only (a gateway is not a source workload).
 */
export function l4MatchApplies(m: L4MatchAttributes, vs: VS, ctx: L4Context): boolean {
  if (m.port !== undefined && m.port !== ctx.port) return false;
  if (m.gateways !== undefined && m.gateways.length > 0 && !m.gateways.some((g) => ctx.index.gatewayRef(g, vs.metadata.namespace) === ctx.gateway)) return false;
  if (m.sourceLabels !== undefined && (ctx.gateway !== 'mesh' || !labelsMatch(m.sourceLabels, ctx.labels))) return false;
  if (m.sourceNamespace !== undefined && m.sourceNamespace !== ctx.proxyNs) return false;
  return true;
}
