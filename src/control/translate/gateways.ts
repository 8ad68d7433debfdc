// LDS and RDS for gateway proxies (`router~` nodes): one listener per Gateway server bind address
// and port, with Istio's server semantics (istio.io/latest/docs/reference/config/networking/gateway/):
// HTTP and HTTPS servers serve the HTTP routes of the VirtualServices bound to them, TLS servers
// terminate (SIMPLE / MUTUAL / OPTIONAL_MUTUAL / ISTIO_MUTUAL) or pass through (PASSTHROUGH, by SNI) to TCP or TLS
// routes, TCP servers take TCP routes. TLS settings become DownstreamTlsContext (transport_sockets.tls.v3).

import type { GatewayServer } from '../api/types.js';
import type { MeshConfig } from '../model.js';
import { meshConfig, meshValidation, sdsDefault } from './security/mtls.js';
import { credentialCaName, credentialSecretName } from './secrets.js';
import { hcmFilter, isHttpProtocol, l4MatchApplies, socket, tcpDestinations, tcpIdleMs, tcpProxy, TLS_INSPECTOR, type L4Context } from './filters.js';
import { hostsIntersect, narrowerHost, type GW, type MeshIndex, type VS } from './mesh-index.js';
import { vsRoutes, type RouteUse } from './routes.js';

const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

/** Istio's TLSProtocol names → Envoy's TlsParameters.TlsProtocol names. */
const TLS_VERSION: Readonly<Record<string, string>> = { TLSV1_0: 'TLSv1_0', TLSV1_1: 'TLSv1_1', TLSV1_2: 'TLSv1_2', TLSV1_3: 'TLSv1_3' };

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

const isTerminated = (server: GatewayServer): boolean => {
  const mode = server.tls?.mode;
  return mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL' || mode === 'ISTIO_MUTUAL';
};

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
    const tls = server.port.protocol.toUpperCase() === 'HTTPS';
    // httpsRedirect on a plain HTTP server: every host redirects (Istio's require_tls ALL).
    if (!tls && server.tls?.httpsRedirect === true) {
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
        const ctx = { index, proxyNs: gw.metadata.namespace, labels: {}, gateway: ref, port, flavor: 'envoy' as const, tls };
        vhosts.set(key, { name: key, domains: host === '*' ? ['*'] : [host, key], routes: vsRoutes(vs, ctx, use) });
      }
    }
  }
  return { name, virtual_hosts: [...vhosts.values()], validate_clusters: false };
}

/**
 * DownstreamTlsContext for a terminating server: its certificate, the TLS parameters (min/max
 * version, cipher suites), and for MUTUAL / OPTIONAL_MUTUAL a validation context (CA, CRL, SANs);
 * MUTUAL requires a client certificate, OPTIONAL_MUTUAL verifies one only when presented.
 * HTTPS servers offer h2 and http/1.1 by ALPN; TLS servers (TCP inside) offer nothing.
 */
function downstreamTls(server: GatewayServer, mesh: MeshConfig): object {
  const tls = server.tls!;
  // ISTIO_MUTUAL: the gateway's own mesh certificate (SDS `default`), mesh clients verified against
  // ROOTCA (and the server's subjectAltNames when given), as Istio builds it.
  // credentialName: certificate and key (and for MUTUAL the CA, `NAME-cacert`) from a Secret over ADS SDS.
  const ads = (name: string) => ({ name, sds_config: { ads: {}, resource_api_version: 'V3' } });
  const cred = tls.credentialName;
  const common: Record<string, unknown> = tls.mode === 'ISTIO_MUTUAL'
    ? { tls_certificate_sds_secret_configs: [sdsDefault()], combined_validation_context: meshValidation(mesh.trustDomain, tls.subjectAltNames ?? []) }
    : cred !== undefined ? { tls_certificate_sds_secret_configs: [ads(credentialSecretName(cred))] }
      : { tls_certificates: [{ certificate_chain: { filename: tls.serverCertificate }, private_key: { filename: tls.privateKey } }] };
  if (server.port.protocol.toUpperCase() === 'HTTPS') common.alpn_protocols = ['h2', 'http/1.1'];
  const params: Record<string, unknown> = {};
  if (tls.minProtocolVersion !== undefined && tls.minProtocolVersion !== 'TLS_AUTO') params.tls_minimum_protocol_version = TLS_VERSION[tls.minProtocolVersion];
  if (tls.maxProtocolVersion !== undefined && tls.maxProtocolVersion !== 'TLS_AUTO') params.tls_maximum_protocol_version = TLS_VERSION[tls.maxProtocolVersion];
  if (tls.cipherSuites !== undefined && tls.cipherSuites.length > 0) params.cipher_suites = [...tls.cipherSuites];
  if (Object.keys(params).length > 0) common.tls_params = params;
  const verify = tls.mode === 'MUTUAL' || tls.mode === 'OPTIONAL_MUTUAL';
  if (verify && cred !== undefined) {
    common.combined_validation_context = {
      default_validation_context: (tls.subjectAltNames?.length ?? 0) > 0
        ? { match_typed_subject_alt_names: tls.subjectAltNames!.map((s) => ({ san_type: 'DNS', matcher: { exact: s } })) } : {},
      validation_context_sds_secret_config: ads(credentialCaName(cred)),
    };
  } else if (verify && tls.caCertificates !== undefined) {
    common.validation_context = {
      trusted_ca: { filename: tls.caCertificates },
      ...(tls.caCrl !== undefined ? { crl: { filename: tls.caCrl } } : {}),
      ...((tls.subjectAltNames?.length ?? 0) > 0 ? { match_typed_subject_alt_names: tls.subjectAltNames!.map((s) => ({ san_type: 'DNS', matcher: { exact: s } })) } : {}),
    };
  }
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: { '@type': DOWNSTREAM_TLS, common_tls_context: common, ...(tls.mode === 'MUTUAL' || tls.mode === 'ISTIO_MUTUAL' ? { require_client_certificate: true } : {}) },
  };
}

const bareHost = (h: string): string => (h.includes('/') ? h.slice(h.indexOf('/') + 1) : h);

/** SNI names for a server's hosts (`*` means no SNI match). */
function serverNames(hosts: readonly string[]): string[] {
  const names = hosts.map(bareHost);
  return names.includes('*') ? [] : [...new Set(names)];
}

/** The first TCP route of the gateway's VirtualServices that applies to a server. */
function tcpRouteFor(index: MeshIndex, gw: GW, server: GatewayServer, bind: string, port: number): object | undefined {
  const ctx: L4Context = { index, port, gateway: `${gw.metadata.namespace}/${gw.metadata.name}`, proxyNs: gw.metadata.namespace, labels: {} };
  for (const { vs } of gatewayVirtualServices(index, gw, server)) {
    const r = vs.spec.tcp.find((t) => t.match.length === 0 || t.match.some((m) => l4MatchApplies(m, vs, ctx)));
    if (r === undefined) continue;
    const dests = tcpDestinations(r.route, vs.metadata.namespace, index, port);
    return tcpProxy(server.name ?? `outbound_${bind}_${port}`, dests, tcpIdleMs(index, gw.metadata.namespace, dests));
  }
  return undefined;
}

/**
 * One gateway listener per bind address and port (`ADDRESS_PORT`), and the route config names
 * its HCMs use. A server's `name` is the stat prefix of what it serves, as in Istio.
 */
export function gatewayListeners(
  index: MeshIndex, gws: readonly GW[],
  routeUse: (name: string, servers: readonly { gw: GW; server: GatewayServer }[]) => Pick<RouteUse, 'fault' | 'cors'>,
): object[] {
  const byAddress = new Map<string, { bind: string; port: number; servers: { gw: GW; server: GatewayServer }[] }>();
  const routes = new Map<string, { gw: GW; server: GatewayServer }[]>();
  for (const gw of gws) {
    for (const server of gw.spec.servers) {
      const bind = server.bind ?? '0.0.0.0';
      const key = `${bind}_${server.port.number}`;
      let l = byAddress.get(key);
      if (l === undefined) byAddress.set(key, (l = { bind, port: server.port.number, servers: [] }));
      l.servers.push({ gw, server });
      const proto = server.port.protocol.toUpperCase();
      if ((proto === 'HTTPS' && isTerminated(server)) || isHttpProtocol(proto)) {
        const name = gatewayRouteName(gw, server);
        routes.set(name, [...(routes.get(name) ?? []), { gw, server }]);
      }
    }
  }
  const use = (name: string) => routeUse(name, routes.get(name) ?? []);
  const listeners: object[] = [];
  const ordered = [...byAddress.values()].sort((a, b) => a.port - b.port || (a.bind < b.bind ? -1 : a.bind > b.bind ? 1 : 0));
  for (const { bind, port, servers } of ordered) {
    const chains: object[] = [];
    let inspector = false;
    let plainHttp = false;
    for (const { gw, server } of servers) {
      const proto = server.port.protocol.toUpperCase();
      const mode = server.tls?.mode;
      if ((proto === 'HTTPS' || proto === 'TLS') && (mode === undefined || mode === 'PASSTHROUGH')) {
        inspector = true;
        const ctx: L4Context = { index, port, gateway: `${gw.metadata.namespace}/${gw.metadata.name}`, proxyNs: gw.metadata.namespace, labels: {} };
        for (const { vs } of gatewayVirtualServices(index, gw, server)) {
          for (const r of vs.spec.tls) {
            for (const m of r.match) {
              if (!l4MatchApplies(m, vs, ctx)) continue;
              const dests = tcpDestinations(r.route, vs.metadata.namespace, index, port);
              chains.push({
                filter_chain_match: { server_names: [...m.sniHosts] },
                filters: [tcpProxy(server.name ?? `${bareHost(m.sniHosts[0] ?? '')}_${port}`, dests, tcpIdleMs(index, gw.metadata.namespace, dests))],
              });
            }
          }
        }
      } else if (proto === 'HTTPS' && isTerminated(server)) {
        const name = gatewayRouteName(gw, server);
        const names = serverNames(server.hosts);
        if (names.length > 0) inspector = true;
        chains.push({
          ...(names.length > 0 ? { filter_chain_match: { server_names: names } } : {}),
          filters: [hcmFilter(server.name ?? `outbound_${bind}_${port}`, { rds: name }, use(name))],
          transport_socket: downstreamTls(server, meshConfig(index)),
        });
      } else if (proto === 'TLS' && isTerminated(server)) {
        // TLS terminated here, the TCP inside goes by the VirtualServices' tcp routes.
        const tcp = tcpRouteFor(index, gw, server, bind, port);
        if (tcp === undefined) continue;
        const names = serverNames(server.hosts);
        if (names.length > 0) inspector = true;
        chains.push({ ...(names.length > 0 ? { filter_chain_match: { server_names: names } } : {}), filters: [tcp], transport_socket: downstreamTls(server, meshConfig(index)) });
      } else if (isHttpProtocol(proto)) {
        const name = gatewayRouteName(gw, server);
        if (plainHttp) continue; // one chain serves every plain HTTP server of the port
        plainHttp = true;
        chains.push({ filters: [hcmFilter(server.name ?? `outbound_${bind}_${port}`, { rds: name }, use(name))] });
      } else if (proto === 'TCP' || proto === 'MONGO') {
        const tcp = tcpRouteFor(index, gw, server, bind, port);
        if (tcp !== undefined) chains.push({ filters: [tcp] });
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
