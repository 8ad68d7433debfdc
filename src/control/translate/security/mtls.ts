// Mesh mTLS in translation (Istio's semantics): the effective PeerAuthentication mode of a workload
// and port (istio.io/latest/docs/reference/config/security/peer_authentication/), the inbound TLS
// context a sidecar terminates mesh mTLS with, the ISTIO_MUTUAL upstream socket, and auto mTLS
// (transport_socket_matches on `tlsMode: istio` endpoint metadata, as Istio's auto mTLS builds it).
// Certificates come over SDS: the workload's own `default` from the sidecar agent (cluster
// `sds-grpc`), the mesh trust bundle `ROOTCA` over ADS from the control plane (../secrets.ts).

import type { ConfigResource, MeshConfig, ServiceDef, ServicePort, Workload } from '../../model.js';
import type { MtlsMode, PeerAuthenticationSpec } from '../../api/peer-authentication.js';
import { labelsMatch, type MeshIndex, byAge } from '../mesh-index.js';
import { DEFAULT_MESH_CONFIG } from '../../model.js';

export const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const RAW_BUFFER = 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';

/** Istio's secret names: the workload's certificate and the mesh's trust bundle. */
export const SDS_DEFAULT = 'default';
export const SDS_ROOTCA = 'ROOTCA';
/** The sidecar agent's SDS cluster (a Unix socket in the sidecar's bootstrap), as Istio names it. */
export const SDS_CLUSTER = 'sds-grpc';

/** Endpoint metadata key Envoy's transport_socket_matches read, and Istio's value for mesh workloads. */
export const TRANSPORT_SOCKET_MATCH = 'envoy.transport_socket_match';
/** The workload label that marks a sidecar-carrying endpoint (Istio: security.istio.io/tlsMode). */
export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';

/** ALPN values Istio's PERMISSIVE inbound matches to tell mesh mTLS from a client's own TLS. */
export const ISTIO_ALPNS = ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'] as const;

export type EffectiveMode = Exclude<MtlsMode, 'UNSET'>;

type PA = ConfigResource<PeerAuthenticationSpec>;


export function meshConfig(index: MeshIndex): MeshConfig {
  return index.mesh.meshConfig ?? DEFAULT_MESH_CONFIG;
}

/** PeerAuthentications of one mesh version, oldest first, and resolved modes (memoized per index). */
interface PaIndex {
  readonly all: readonly PA[];
  readonly resolved: Map<string, { readonly mode: EffectiveMode; readonly ports: ReadonlyMap<number, EffectiveMode> }>;
}
const PA_INDEX = new WeakMap<MeshIndex, PaIndex>();

function paIndex(index: MeshIndex): PaIndex {
  let x = PA_INDEX.get(index);
  if (x === undefined) {
    const all = (index.mesh.configs.filter((c) => c.kind === 'PeerAuthentication') as PA[]).sort(byAge);
    PA_INDEX.set(index, (x = { all, resolved: new Map() }));
  }
  return x;
}

const set = (m: MtlsMode | undefined): m is EffectiveMode => m !== undefined && m !== 'UNSET';

/**
 * The policies that apply to a workload, as Istio composes them: the oldest selector-less policy
 * of the root namespace (mesh), the oldest selector-less one of the workload's namespace, the
 * oldest of its namespace whose selector matches (a selector policy in the root namespace applies
 * to nothing, as in Istio); mode UNSET inherits the level above; PERMISSIVE when none says.
 */
function resolve(index: MeshIndex, ns: string, labels: Readonly<Record<string, string>>): { mode: EffectiveMode; ports: ReadonlyMap<number, EffectiveMode> } {
  const pi = paIndex(index);
  const key = `${ns}|${Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(',')}`;
  const hit = pi.resolved.get(key);
  if (hit !== undefined) return hit;
  const root = meshConfig(index).rootNamespace;
  let meshPa: PA | undefined;
  let nsPa: PA | undefined;
  let wlPa: PA | undefined;
  for (const p of pi.all) {
    const ns0 = p.metadata.namespace;
    if (p.spec.selector === undefined) {
      if (ns0 === root) meshPa ??= p;
      else if (ns0 === ns) nsPa ??= p;
    } else if (ns0 === ns && ns0 !== root && labelsMatch(p.spec.selector.matchLabels, labels)) {
      wlPa ??= p;
    }
  }
  let mode: EffectiveMode = 'PERMISSIVE';
  if (set(meshPa?.spec.mtls?.mode)) mode = meshPa!.spec.mtls!.mode as EffectiveMode;
  if (set(nsPa?.spec.mtls?.mode)) mode = nsPa!.spec.mtls!.mode as EffectiveMode;
  if (set(wlPa?.spec.mtls?.mode)) mode = wlPa!.spec.mtls!.mode as EffectiveMode;
  const ports = new Map<number, EffectiveMode>();
  for (const [port, m] of Object.entries(wlPa?.spec.portLevelMtls ?? {})) ports.set(Number(port), set(m.mode) ? m.mode : mode);
  const r = { mode, ports };
  pi.resolved.set(key, r);
  return r;
}

/** The effective mTLS mode of a workload's port (`port`: the port its app listens on, as portLevelMtls keys it). */
export function peerAuthMode(index: MeshIndex, ns: string, labels: Readonly<Record<string, string>>, port: number): EffectiveMode {
  const r = resolve(index, ns, labels);
  return r.ports.get(port) ?? r.mode;
}

/** Whether the control plane has a CA: mesh mTLS (inbound termination, auto mTLS, ROOTCA) exists only then. */
export function mtlsActive(index: MeshIndex): boolean {
  return (index.mesh.trustBundle?.length ?? 0) > 0;
}

/** SdsSecretConfig for the workload's certificate, served by the sidecar agent. */
export function sdsDefault(): object {
  return {
    name: SDS_DEFAULT,
    sds_config: {
      api_config_source: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER } }] },
      resource_api_version: 'V3',
    },
  };
}

/** CertificateValidationContext for mesh peers: ROOTCA over ADS, and SANs (`exact` SPIFFE ids, else the trust domain prefix). */
export function meshValidation(trustDomain: string, sans: readonly string[]): object {
  const matchers = sans.length > 0 ? sans.map((s) => ({ san_type: s.startsWith('spiffe://') ? 'URI' : 'DNS', matcher: { exact: s } }))
    : [{ san_type: 'URI', matcher: { prefix: `spiffe://${trustDomain}/` } }];
  return {
    default_validation_context: { match_typed_subject_alt_names: matchers },
    validation_context_sds_secret_config: { name: SDS_ROOTCA, sds_config: { ads: {}, resource_api_version: 'V3' } },
  };
}

/** The sidecar's inbound mesh mTLS: its own certificate, client certificates required and checked against the mesh root. */
export function inboundMtlsSocket(mesh: MeshConfig): object {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': DOWNSTREAM_TLS,
      common_tls_context: {
        tls_certificate_sds_secret_configs: [sdsDefault()],
        combined_validation_context: meshValidation(mesh.trustDomain, []),
        alpn_protocols: ['h2', 'http/1.1'],
      },
      require_client_certificate: true,
    },
  };
}

const isH2 = (p: ServicePort | undefined): boolean => p?.protocol === 'HTTP2' || p?.protocol === 'GRPC';
const isHttp = (p: ServicePort | undefined): boolean => p !== undefined && ['HTTP', 'HTTP2', 'GRPC'].includes(p.protocol);

/** Istio's SNI for mesh mTLS: `outbound_.PORT_.SUBSET_.HOST`. */
export function istioSni(port: number, subset: string, host: string): string {
  return `outbound_.${port}_.${subset}_.${host}`;
}

/**
 * The ISTIO_MUTUAL transport socket to a service port: the workload's certificate, the server
 * verified against ROOTCA with `sans` (the destination's SPIFFE ids; the trust domain when
 * unknown), Istio's SNI, and ALPN marking the connection as mesh mTLS (with the app protocol).
 */
export function istioMutualSocket(mesh: MeshConfig, sp: ServicePort | undefined, port: number, subset: string, host: string, sans: readonly string[]): object {
  const alpn = isH2(sp) ? ['istio-h2'] : isHttp(sp) ? ['istio-http/1.1'] : ['istio-peer-exchange', 'istio'];
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': UPSTREAM_TLS,
      common_tls_context: {
        tls_certificate_sds_secret_configs: [sdsDefault()],
        combined_validation_context: meshValidation(mesh.trustDomain, sans),
        alpn_protocols: alpn,
      },
      sni: istioSni(port, subset, host),
    },
  };
}

/** Istio's auto mTLS: ISTIO_MUTUAL to endpoints marked `tlsMode: istio`, plaintext to the rest. */
export function autoMtlsMatches(istioMutual: object): object[] {
  return [
    { name: 'tlsMode-istio', match: { tlsMode: 'istio' }, transport_socket: istioMutual },
    { name: 'tlsMode-disabled', match: {}, transport_socket: { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': RAW_BUFFER } } },
  ];
}

/** The SPIFFE ids of a service's workloads (sorted, distinct); empty when none says its service account. */
export function serviceSans(mesh: MeshConfig, workloads: readonly Workload[]): string[] {
  const out = new Set<string>();
  for (const w of workloads) if (w.serviceAccount !== undefined && w.serviceAccount !== '') out.add(`spiffe://${mesh.trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}`);
  return [...out].sort();
}

/** Whether a workload runs a sidecar that terminates mesh mTLS (registered by a sidecar, or labelled so). */
export function isMeshWorkload(w: Workload): boolean {
  return w.tlsMode === 'istio' || (w.tlsMode === undefined && w.labels[TLS_MODE_LABEL] === 'istio');
}

/**
 * Whether callers reach this endpoint of a service port with mesh mTLS (auto mTLS): a mesh workload
 * whose effective PeerAuthentication for the port is not DISABLE (as Istio's endpoint builder does).
 * Weft keys portLevelMtls here by the port the workload serves it on (a sidecar's registry entry
 * points at its inbound listener, so for sidecars the service port stands for the app's port).
 */
export function endpointMtls(index: MeshIndex, w: Workload, wp: { readonly port: number; readonly targetPort: number }): boolean {
  if (!isMeshWorkload(w)) return false;
  return peerAuthMode(index, w.namespace, w.labels, w.source === 'sidecar' ? wp.port : wp.targetPort) !== 'DISABLE';
}

/** Endpoint metadata that selects the `tlsMode-istio` transport socket. */
export const ISTIO_ENDPOINT_METADATA = Object.freeze({ filter_metadata: Object.freeze({ [TRANSPORT_SOCKET_MATCH]: Object.freeze({ tlsMode: 'istio' }) }) });

/** Whether auto mTLS applies to a service at all (Istio leaves MESH_EXTERNAL services alone). */
export function autoMtlsService(s: ServiceDef): boolean {
  return s.location === 'MESH_INTERNAL';
}

/**
 * virtualInbound's filter chains for a workload's port, by its effective PeerAuthentication mode:
 * STRICT only a mesh mTLS chain (a plaintext connection matches no chain and is closed: Envoy's
 * `listener.<addr>.no_filter_chain_match`); PERMISSIVE the mTLS chain for TLS with Istio's ALPN
 * markers and a plaintext chain for the rest; DISABLE plaintext only. Without a CA in the control
 * plane everything stays plaintext (`weft analyze` reports a STRICT policy then). Every chain runs
 * the same network filters (the HCM with the security filters).
 */
export function inboundChains(index: MeshIndex, proxy: { readonly namespace: string; readonly labels: Readonly<Record<string, string>> }, port: number,
  filters: readonly object[]): { listenerFilters: object[]; chains: object[] } {
  const plain = { filters: [...filters] };
  if (!mtlsActive(index)) return { listenerFilters: [], chains: [plain] };
  const mode = peerAuthMode(index, proxy.namespace, proxy.labels, port);
  if (mode === 'DISABLE') return { listenerFilters: [], chains: [plain] };
  const socket = inboundMtlsSocket(meshConfig(index));
  const inspector = { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } };
  if (mode === 'STRICT') {
    return { listenerFilters: [inspector], chains: [{ name: 'inbound-mtls', filter_chain_match: { transport_protocol: 'tls' }, transport_socket: socket, filters: [...filters] }] };
  }
  return {
    listenerFilters: [inspector],
    chains: [
      { name: 'inbound-mtls', filter_chain_match: { transport_protocol: 'tls', application_protocols: [...ISTIO_ALPNS] }, transport_socket: socket, filters: [...filters] },
      { name: 'inbound-plaintext', ...plain },
    ],
  };
}
