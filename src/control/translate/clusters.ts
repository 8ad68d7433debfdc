// CDS and EDS: Istio's `outbound|PORT|SUBSET|HOST` clusters (envoy.config.cluster.v3.Cluster) with
// DestinationRule traffic policies applied, and their ClusterLoadAssignments from the registry
// (istio.io/latest/docs/reference/config/networking/destination-rule/).

import type { MeshConfig, ProxyInfo, ServiceDef, ServicePort, Workload } from '../model.js';
import type { ClientTLSSettings, LoadBalancerSettings, OutlierDetection, TrafficPolicy } from '../api/types.js';
import { labelsMatch, type DR } from './mesh-index.js';
import { credentialCaName, credentialSecretName } from './secrets.js';
import { autoMtlsMatches, autoMtlsService, ISTIO_ENDPOINT_METADATA, istioMutualSocket } from './security/mtls.js';

export const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
export const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
/** Istio's default connect timeout. */
export const DEFAULT_CONNECT_TIMEOUT = '10s';
/** Istio leaves circuit breakers wide open unless a DestinationRule says otherwise. */
const UNLIMITED = 4294967295;

/** Which client reads the cluster: Weft/Envoy, or a proxyless gRPC client (round robin / ring hash only, no file TLS). */
export type Flavor = 'envoy' | 'grpc';

export function clusterName(direction: 'outbound' | 'inbound', port: number, subset: string, host: string): string {
  return `${direction}|${port}|${subset}|${host}`;
}

/** Parses `outbound|PORT|SUBSET|HOST`. */
export function parseClusterName(name: string): { port: number; subset: string; host: string } | undefined {
  const parts = name.split('|');
  if (parts.length !== 4 || parts[0] !== 'outbound') return undefined;
  return { port: Number(parts[1]), subset: parts[2]!, host: parts[3]! };
}

export const ms = (n: number): string => `${n / 1000}s`;

type Policy = Omit<TrafficPolicy, 'portLevelSettings'>;

/**
 * The effective policy for a port and subset: the top-level policy, its portLevelSettings entry
 * for the port, then the subset's policy (and its port-level entry), each overriding per section.
 */
export function effectivePolicy(dr: DR | undefined, port: number, subset: string): Policy {
  if (dr === undefined) return {};
  const layers: (TrafficPolicy | undefined)[] = [dr.spec.trafficPolicy];
  const sub = subset === '' ? undefined : dr.spec.subsets.find((s) => s.name === subset);
  if (sub !== undefined) layers.push(sub.trafficPolicy);
  const out: { -readonly [K in keyof Policy]: Policy[K] } = {};
  for (const tp of layers) {
    if (tp === undefined) continue;
    for (const layer of [tp, tp.portLevelSettings?.find((p) => p.port.number === port)]) {
      if (layer === undefined) continue;
      if (layer.loadBalancer !== undefined) out.loadBalancer = layer.loadBalancer;
      if (layer.connectionPool !== undefined) out.connectionPool = layer.connectionPool;
      if (layer.outlierDetection !== undefined) out.outlierDetection = layer.outlierDetection;
      if (layer.tls !== undefined) out.tls = layer.tls;
    }
  }
  return out;
}

function lbFields(lb: LoadBalancerSettings | undefined, flavor: Flavor): Record<string, unknown> {
  if (lb?.consistentHash !== undefined) {
    const ch = lb.consistentHash;
    if (ch.maglev !== undefined && flavor === 'envoy') {
      return { lb_policy: 'MAGLEV', ...(ch.maglev.tableSize !== undefined ? { maglev_lb_config: { table_size: String(ch.maglev.tableSize) } } : {}) };
    }
    // 0 is proto3's "unset": Envoy's default ring size then.
    const min = ch.ringHash?.minimumRingSize ?? ch.minimumRingSize;
    return { lb_policy: 'RING_HASH', ...(min !== undefined && min > 0 ? { ring_hash_lb_config: { minimum_ring_size: String(min) } } : {}) };
  }
  // gRPC clients take only ROUND_ROBIN and RING_HASH in lb_policy.
  if (flavor === 'grpc') return { lb_policy: 'ROUND_ROBIN' };
  switch (lb?.simple) {
    case 'LEAST_CONN':
    case 'LEAST_REQUEST': return { lb_policy: 'LEAST_REQUEST' };
    case 'RANDOM': return { lb_policy: 'RANDOM' };
    default: return { lb_policy: 'ROUND_ROBIN' };
  }
}

/** UpstreamTlsContext from a DestinationRule's tls (file paths as given). */
export function upstreamTls(tls: ClientTLSSettings | undefined, defaultSni: string): object | undefined {
  if (tls === undefined || tls.mode === 'DISABLE' || tls.mode === 'ISTIO_MUTUAL') return undefined;
  const common: Record<string, unknown> = {};
  if (tls.credentialName !== undefined) {
    // credentialName: the client certificate and the CA from a Secret, over ADS SDS (./secrets.ts).
    const sds = (name: string) => ({ name, sds_config: { ads: {}, resource_api_version: 'V3' } });
    if (tls.mode === 'MUTUAL') common.tls_certificate_sds_secret_configs = [sds(credentialSecretName(tls.credentialName))];
    if (tls.insecureSkipVerify !== true) {
      const sans = tls.subjectAltNames ?? [];
      common.combined_validation_context = {
        default_validation_context: sans.length > 0 ? { match_typed_subject_alt_names: sans.map((x) => ({ san_type: 'DNS', matcher: { exact: x } })) } : {},
        validation_context_sds_secret_config: sds(credentialCaName(tls.credentialName)),
      };
    }
    return { name: 'envoy.transport_sockets.tls', typed_config: { '@type': UPSTREAM_TLS, common_tls_context: common, sni: tls.sni ?? defaultSni } };
  }
  if (tls.mode === 'MUTUAL' && tls.clientCertificate !== undefined && tls.privateKey !== undefined) {
    common.tls_certificates = [{ certificate_chain: { filename: tls.clientCertificate }, private_key: { filename: tls.privateKey } }];
  }
  if (tls.insecureSkipVerify !== true && tls.caCertificates !== undefined) {
    const vc: Record<string, unknown> = { trusted_ca: { filename: tls.caCertificates } };
    if (tls.caCrl !== undefined) vc.crl = { filename: tls.caCrl };
    if (tls.subjectAltNames !== undefined && tls.subjectAltNames.length > 0) {
      vc.match_typed_subject_alt_names = tls.subjectAltNames.map((s) => ({ san_type: 'DNS', matcher: { exact: s } }));
    }
    common.validation_context = vc;
  }
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: { '@type': UPSTREAM_TLS, common_tls_context: common, sni: tls.sni ?? defaultSni },
  };
}

/** Envoy's default max_ejection_time (300 s). */
const DEFAULT_MAX_EJECTION_TIME_MS = 300_000;

/**
 * Istio's outlierDetection → Cluster.outlier_detection, with Istio's choices: success-rate
 * detection off, a detector that is set is enforced 100% (0 errors = enforcing 0), and
 * max_ejection_time raised to a baseEjectionTime above Envoy's 300 s default.
 */
export function outlierDetectionFields(od: OutlierDetection): object {
  const out: Record<string, unknown> = { enforcing_success_rate: 0 };
  if (od.consecutive5xxErrors !== undefined) {
    out.consecutive_5xx = od.consecutive5xxErrors;
    out.enforcing_consecutive_5xx = od.consecutive5xxErrors > 0 ? 100 : 0;
  }
  if (od.consecutiveGatewayErrors !== undefined) {
    out.consecutive_gateway_failure = od.consecutiveGatewayErrors;
    out.enforcing_consecutive_gateway_failure = od.consecutiveGatewayErrors > 0 ? 100 : 0;
  }
  if (od.interval !== undefined) out.interval = ms(od.interval.ms);
  if (od.baseEjectionTime !== undefined) {
    out.base_ejection_time = ms(od.baseEjectionTime.ms);
    if (od.baseEjectionTime.ms > DEFAULT_MAX_EJECTION_TIME_MS) out.max_ejection_time = ms(od.baseEjectionTime.ms);
  }
  if (od.maxEjectionPercent !== undefined && od.maxEjectionPercent > 0) out.max_ejection_percent = od.maxEjectionPercent;
  if (od.splitExternalLocalOriginErrors === true) {
    out.split_external_local_origin_errors = true;
    if (od.consecutiveLocalOriginFailures !== undefined && od.consecutiveLocalOriginFailures > 0) {
      out.consecutive_local_origin_failure = od.consecutiveLocalOriginFailures;
      out.enforcing_consecutive_local_origin_failure = 100;
    }
    out.enforcing_local_origin_success_rate = 0;
  }
  return out;
}

const isHttp2 = (p: ServicePort | undefined): boolean => p?.protocol === 'HTTP2' || p?.protocol === 'GRPC';

/** One outbound cluster. EDS for registry/STATIC services, STRICT_DNS with inline endpoints for DNS ServiceEntries. */
export function outboundCluster(opts: {
  readonly service: ServiceDef;
  readonly port: number;
  readonly subset: string;
  readonly dr: DR | undefined;
  readonly flavor: Flavor;
  /** For DNS clusters: the service's workloads (their addresses are names to resolve). */
  readonly workloads: readonly Workload[];
  /**
   * Mesh mTLS (./security/mtls.ts): the mesh config, whether the control plane has a CA (auto mTLS
   * is on only then), the destination's SPIFFE ids, and which endpoints take mesh mTLS.
   */
  readonly mtls?: MtlsContext;
}): object {
  const { service, port, subset, dr, flavor } = opts;
  const name = clusterName('outbound', port, subset, service.hostname);
  const policy = effectivePolicy(dr, port, subset);
  const sp = service.ports.find((p) => p.port === port);
  const c: Record<string, unknown> = { name };
  const dns = service.resolution === 'DNS' && flavor === 'envoy';
  if (dns) {
    c.type = 'STRICT_DNS';
  } else {
    c.type = 'EDS';
    c.eds_cluster_config = { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name };
  }
  const pool = policy.connectionPool;
  c.connect_timeout = pool?.tcp?.connectTimeout !== undefined ? ms(pool.tcp.connectTimeout.ms) : DEFAULT_CONNECT_TIMEOUT;
  Object.assign(c, lbFields(policy.loadBalancer, flavor));
  // As Istio: a limit of 0 (proto3's unset) leaves the breaker open rather than shutting the cluster.
  const limit = (n: number | undefined): number => (n !== undefined && n > 0 ? n : UNLIMITED);
  c.circuit_breakers = {
    thresholds: [{
      max_connections: limit(pool?.tcp?.maxConnections),
      max_pending_requests: limit(pool?.http?.http1MaxPendingRequests),
      max_requests: limit(pool?.http?.http2MaxRequests),
      max_retries: limit(pool?.http?.maxRetries),
    }],
  };
  const od = policy.outlierDetection;
  if (od !== undefined) {
    c.outlier_detection = outlierDetectionFields(od);
    // As Istio: minHealthPercent becomes the panic threshold, so no panic by default (0 when unset).
    c.common_lb_config = { healthy_panic_threshold: { value: od.minHealthPercent ?? 0 } };
  }
  if (flavor === 'envoy') {
    // useClientProtocol: the caller's HTTP version goes upstream (and no h2 upgrade), as in Istio.
    const downstream = pool?.http?.useClientProtocol === true;
    const h2 = !downstream && (isHttp2(sp) || pool?.http?.h2UpgradePolicy === 'UPGRADE');
    const common: Record<string, unknown> = {};
    // The TCP idle timeout also closes idle HTTP connections unless the HTTP one is set (Istio).
    const idle = pool?.http?.idleTimeout ?? pool?.tcp?.idleTimeout;
    if (idle !== undefined) common.idle_timeout = ms(idle.ms);
    const perConn = pool?.http?.maxRequestsPerConnection;
    if (perConn !== undefined && perConn > 0) common.max_requests_per_connection = perConn;
    const streams = pool?.http?.maxConcurrentStreams;
    const h2Options = streams !== undefined && streams > 0 ? { max_concurrent_streams: streams } : {};
    if (h2 || downstream || Object.keys(common).length > 0) {
      c.typed_extension_protocol_options = {
        [HTTP_PROTOCOL_OPTIONS]: {
          '@type': `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`,
          ...(Object.keys(common).length > 0 ? { common_http_protocol_options: common } : {}),
          ...(downstream ? { use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: h2Options } }
            : { explicit_http_config: h2 ? { http2_protocol_options: h2Options } : { http_protocol_options: {} } }),
        },
      };
    }
    const m = opts.mtls;
    if (policy.tls?.mode === 'ISTIO_MUTUAL' && m !== undefined) {
      // Forced by the DestinationRule for every endpoint, with its sni / subjectAltNames when given.
      const sans = policy.tls.subjectAltNames !== undefined && policy.tls.subjectAltNames.length > 0 ? policy.tls.subjectAltNames : m.sans;
      const ts = istioMutualSocket(m.mesh, sp, port, subset, service.hostname, sans) as { typed_config: Record<string, unknown> };
      if (policy.tls.sni !== undefined) ts.typed_config.sni = policy.tls.sni;
      c.transport_socket = ts;
    } else if (policy.tls === undefined && m !== undefined && m.active && autoMtlsService(service)) {
      // Istio's auto mTLS: mesh mTLS to endpoints with a sidecar, plaintext to the others.
      c.transport_socket_matches = autoMtlsMatches(istioMutualSocket(m.mesh, sp, port, subset, service.hostname, m.sans));
    } else {
      const ts = upstreamTls(policy.tls, service.hostname);
      if (ts !== undefined) c.transport_socket = ts;
    }
  }
  if (dns) c.load_assignment = loadAssignment(name, service, port, subset, dr, opts.workloads, undefined, opts.mtls);
  return c;
}

/** Sidecar inbound cluster: the app on loopback. */
export function inboundCluster(appPort: number): object {
  return {
    name: clusterName('inbound', appPort, '', ''),
    type: 'STATIC',
    connect_timeout: DEFAULT_CONNECT_TIMEOUT,
    lb_policy: 'ROUND_ROBIN',
    load_assignment: {
      cluster_name: clusterName('inbound', appPort, '', ''),
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: appPort } } } }] }],
    },
  };
}

type Locality = ProxyInfo['locality'];

/** What outbound clusters and their endpoints need to know about mesh mTLS. */
export interface MtlsContext {
  readonly mesh: MeshConfig;
  /** The control plane has a CA: auto mTLS and endpoint `tlsMode` metadata are on. */
  readonly active: boolean;
  /** The destination's SPIFFE ids (empty: unknown, the trust domain is checked instead). */
  readonly sans: readonly string[];
  /** Whether an endpoint of this port takes mesh mTLS (a sidecar, PeerAuthentication not DISABLE). */
  readonly endpoint: (w: Workload, wp: { readonly port: number; readonly targetPort: number }) => boolean;
}

const localityText = (l: Locality): string => [l?.region ?? '', l?.zone ?? '', l?.subZone ?? ''].join('/');

/** A `region/zone/subzone` pattern with `*` segments matches a locality. */
function localityMatches(pattern: string, l: Locality): boolean {
  const want = pattern.split('/');
  const have = [l?.region ?? '', l?.zone ?? '', l?.subZone ?? ''];
  return want.every((w, i) => w === '*' || w === have[i]);
}

/** Whether a DR's locality settings make endpoints depend on the proxy's locality. */
export function localityPolicy(dr: DR | undefined, port: number, subset: string): boolean {
  const p = effectivePolicy(dr, port, subset);
  const l = p.loadBalancer?.localityLbSetting;
  if (l === undefined || l.enabled === false) return false;
  return (l.distribute?.length ?? 0) > 0 || p.outlierDetection !== undefined;
}

/**
 * ClusterLoadAssignment: healthy workloads of the service that carry the subset's labels, grouped
 * by locality (weight = the sum of its endpoints' weights, as Istio does). With a localityLbSetting,
 * `distribute` sets locality weights and failover (Istio: only with outlierDetection) sets priorities
 * by how much of the proxy's locality an endpoint shares (subzone 0, zone 1, region 2, a failover
 * target region 3, anything else 4, then made contiguous).
 */
export function loadAssignment(
  name: string, service: ServiceDef, port: number, subset: string, dr: DR | undefined,
  workloads: readonly Workload[], proxyLocality: Locality, mtls?: MtlsContext,
): object {
  const sub = subset === '' ? undefined : dr?.spec.subsets.find((s) => s.name === subset);
  const policy = effectivePolicy(dr, port, subset);
  const lbs = policy.loadBalancer?.localityLbSetting;
  const applyLocality = proxyLocality !== undefined && localityPolicy(dr, port, subset);
  const groups = new Map<string, { locality: Locality; eps: object[]; weight: number }>();
  for (const w of workloads) {
    if (!w.healthy) continue;
    if (sub !== undefined && !labelsMatch(sub.labels, w.labels)) continue;
    const wp = w.ports.find((p) => p.port === port);
    if (wp === undefined) continue;
    const key = localityText(w.locality);
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = { locality: w.locality, eps: [], weight: 0 }));
    const weight = Math.max(1, w.weight);
    g.eps.push({
      endpoint: { address: { socket_address: { address: w.address, port_value: wp.targetPort } } },
      health_status: 'HEALTHY',
      ...(mtls !== undefined && mtls.active && mtls.endpoint(w, wp) ? { metadata: ISTIO_ENDPOINT_METADATA } : {}),
      load_balancing_weight: weight,
    });
    g.weight += weight;
  }
  const out: { locality: object; lb_endpoints: object[]; load_balancing_weight: number; priority?: number }[] = [];
  const levels: number[] = [];
  for (const [, g] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    let weight = g.weight;
    let level = 0;
    if (applyLocality && lbs !== undefined) {
      const rule = lbs.distribute?.find((d) => localityMatches(d.from, proxyLocality));
      if (rule !== undefined) {
        const entry = Object.entries(rule.to).find(([pat]) => localityMatches(pat, g.locality));
        if (entry === undefined || entry[1] <= 0) continue;
        weight = entry[1];
      } else if (policy.outlierDetection !== undefined) {
        const same = (k: 'region' | 'zone' | 'subZone') => (g.locality?.[k] ?? '') === (proxyLocality?.[k] ?? '');
        const failTo = lbs.failover?.find((f) => f.from === (proxyLocality?.region ?? ''))?.to;
        level = same('region') ? (same('zone') ? (same('subZone') ? 0 : 1) : 2) : failTo !== undefined && g.locality?.region === failTo ? 3 : 4;
      }
    }
    const loc: Record<string, string> = {};
    if (g.locality?.region) loc.region = g.locality.region;
    if (g.locality?.zone) loc.zone = g.locality.zone;
    if (g.locality?.subZone) loc.sub_zone = g.locality.subZone;
    out.push({ locality: loc, lb_endpoints: g.eps, load_balancing_weight: weight });
    levels.push(level);
  }
  const distinct = [...new Set(levels)].sort((a, b) => a - b);
  out.forEach((g, i) => {
    const p = distinct.indexOf(levels[i]!);
    if (p > 0) g.priority = p;
  });
  return { cluster_name: name, endpoints: out };
}
