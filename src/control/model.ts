// The control plane's shared vocabulary: stored Istio resources, the service registry's services
// and workloads, the immutable mesh snapshot built from both, the proxies that connect over xDS,
// and the generator contract between translation and the xDS server. Every part of src/control/
// speaks these types; nothing here does work beyond parsing a proxy's node.

import type { NodeJson } from '../xds/ads-service.js';

// ───────────────────────────── configuration (Istio resources) ─────────────────────────────

/**
 * The Istio kinds Weft accepts: networking.istio.io (v1, v1beta1, v1alpha3) and security.istio.io
 * (v1, v1beta1).
 */
export const ISTIO_KINDS = [
  'VirtualService', 'DestinationRule', 'Gateway', 'ServiceEntry', 'Sidecar',
  'PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication',
  // Kubernetes' core Secret (apiVersion v1), for Istio's `credentialName` (src/control/api/secret.ts).
  'Secret',
] as const;
export type IstioKind = (typeof ISTIO_KINDS)[number];

/** The API group of each kind ('' for Kubernetes' core group: apiVersion `v1`). */
export const KIND_GROUP: Readonly<Record<IstioKind, 'networking.istio.io' | 'security.istio.io' | ''>> = {
  VirtualService: 'networking.istio.io', DestinationRule: 'networking.istio.io', Gateway: 'networking.istio.io',
  ServiceEntry: 'networking.istio.io', Sidecar: 'networking.istio.io',
  PeerAuthentication: 'security.istio.io', AuthorizationPolicy: 'security.istio.io', RequestAuthentication: 'security.istio.io',
  Secret: '',
};

export interface ResourceMeta {
  readonly name: string;
  /** `default` when the input has none. */
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** Set by the store: increases on every change of any resource. */
  readonly resourceVersion: string;
  /** Set by the store: RFC 3339 time of first creation. */
  readonly creationTimestamp: string;
  /** Set by the store: 1 on creation, +1 on each change of the spec. */
  readonly generation: number;
}

/** A validated, frozen Istio resource. `spec` is the kind's typed spec (src/control/api/). */
export interface ConfigResource<S = unknown> {
  readonly apiVersion: string;
  readonly kind: IstioKind;
  readonly metadata: ResourceMeta;
  readonly spec: S;
}

/** `Kind/namespace/name`, the store's key. */
export function configKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

// ───────────────────────────── registry (services and workloads) ─────────────────────────────

/** Istio's protocol names (port name prefix or appProtocol); Weft treats HTTPS/TLS as opaque TLS. */
export type PortProtocol = 'HTTP' | 'HTTP2' | 'GRPC' | 'TCP' | 'TLS' | 'HTTPS' | 'MONGO' | 'REDIS' | 'MYSQL' | 'UNKNOWN';

export interface ServicePort {
  /** The port's name (`http`, `grpc-web`, ...); '' when unnamed. */
  readonly name: string;
  /** The service port clients call (9080 in reviews.default.svc.cluster.local:9080). */
  readonly port: number;
  readonly protocol: PortProtocol;
}

/** Where a registry entry came from. */
export type RegistrySource = 'sidecar' | 'file' | 'api' | 'service-entry';

/** A service: a hostname and its ports. Kubernetes-style services are `name.namespace.svc.cluster.local`. */
export interface ServiceDef {
  /** Fully qualified hostname, e.g. `reviews.default.svc.cluster.local` (or a ServiceEntry host). */
  readonly hostname: string;
  /** The short name (`reviews`); for ServiceEntry hosts, the hostname. */
  readonly name: string;
  readonly namespace: string;
  readonly ports: readonly ServicePort[];
  /** MESH_INTERNAL for registry services; ServiceEntry says. */
  readonly location: 'MESH_INTERNAL' | 'MESH_EXTERNAL';
  /** STATIC (endpoints listed), DNS (endpoints resolved by the proxy), NONE (passthrough). */
  readonly resolution: 'STATIC' | 'DNS' | 'NONE';
  readonly source: RegistrySource;
}

/** One running instance of a service. */
export interface Workload {
  /** Unique in the registry (sidecar: the proxy's node id; file/API: given or derived). */
  readonly id: string;
  /** The service's short name and namespace (its hostname is derived). */
  readonly service: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Where to connect: an IP address (or a DNS name for DNS-resolved entries). */
  readonly address: string;
  /**
   * Service port → the port on `address` that serves it. For a sidecar this is its inbound
   * listener port (15006 by default), for a plain workload usually the same number.
   */
  readonly ports: readonly { readonly name: string; readonly port: number; readonly targetPort: number; readonly protocol: PortProtocol }[];
  readonly locality?: { readonly region?: string; readonly zone?: string; readonly subZone?: string };
  /** Load-balancing weight (default 1). */
  readonly weight: number;
  readonly healthy: boolean;
  readonly source: RegistrySource;
  /** The workload's service account (its SPIFFE identity's `sa`); sidecars send it as SERVICE_ACCOUNT. */
  readonly serviceAccount?: string;
  /**
   * `istio` when the workload runs a Weft (or Istio) sidecar that terminates mesh mTLS: callers then
   * use ISTIO_MUTUAL automatically (Istio's auto mTLS, endpoint label security.istio.io/tlsMode).
   * Absent or `disabled`: a plain workload, reached in plaintext unless a DestinationRule says otherwise.
   */
  readonly tlsMode?: 'istio' | 'disabled';
}

/** The registry's view at one moment. */
export interface RegistrySnapshot {
  readonly services: readonly ServiceDef[];
  readonly workloads: readonly Workload[];
}

/** The mesh at one version: every input translation needs, immutable. */
export interface MeshSnapshot {
  /** Increases on every change; shown as the xDS version. */
  readonly version: number;
  readonly configs: readonly ConfigResource[];
  readonly services: readonly ServiceDef[];
  readonly workloads: readonly Workload[];
  /** The mesh's DNS suffix; `cluster.local`. */
  readonly domainSuffix: string;
  /** `weft control --mesh-config FILE` (Istio's MeshConfig); absent: every default. */
  readonly meshConfig?: MeshConfig;
  /**
   * The mesh's trust bundle from the CA (src/control/ca/): PEM root certificates, the one that
   * signs new leaves first (two during a root rotation). Served to proxies as the SDS secret
   * `ROOTCA`. Absent when the control plane runs without a CA.
   */
  readonly trustBundle?: readonly string[];
  /**
   * RequestAuthentication jwksUri → the keys the control plane fetched (JSON text), or why there are
   * none yet (src/control/translate/security/jwks-resolver.ts). Absent when no rule names a jwksUri.
   */
  readonly jwks?: ReadonlyMap<string, { readonly jwks: string } | { readonly error: string }>;
}

/** The parts of Istio's MeshConfig Weft reads (src/control/mesh-config.ts loads and validates it). */
export interface MeshConfig {
  /** SPIFFE trust domain (default `cluster.local`). */
  readonly trustDomain: string;
  /** Where mesh-wide policies live (PeerAuthentication, AuthorizationPolicy...; default `istio-system`). */
  readonly rootNamespace: string;
  /** `extensionProviders`, each validated by its kind's reader (ext_authz now; telemetry providers later). */
  readonly extensionProviders: readonly ExtensionProvider[];
}

/** One `extensionProviders` entry: its name, which provider field was set, and that field's validated value. */
export interface ExtensionProvider {
  readonly name: string;
  readonly kind: string;
  readonly spec: Readonly<Record<string, unknown>>;
}

export const DEFAULT_MESH_CONFIG: MeshConfig = Object.freeze({ trustDomain: 'cluster.local', rootNamespace: 'istio-system', extensionProviders: [] });

// ───────────────────────────── proxies ─────────────────────────────

/**
 * What kind of client is connected: a sidecar (inbound + outbound listeners), a gateway
 * (`router`: listeners from Gateway resources), or a proxyless gRPC client (API listeners by name).
 */
export type ProxyKind = 'sidecar' | 'router' | 'grpc';

/** A connected xDS client, as read from its Node. */
export interface ProxyInfo {
  /** node.id, e.g. `sidecar~127.0.0.1~reviews-v2-1a2b.default~default.svc.cluster.local`. */
  readonly id: string;
  readonly kind: ProxyKind;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The workload's IP (metadata INSTANCE_IPS, else the id's second field, else ''). */
  readonly ipAddress: string;
  /** Sidecars: the service it fronts (metadata WEFT_SERVICE), '' if none. */
  readonly service: string;
  /**
   * Sidecars: the service ports it fronts (`port`, what callers use, e.g. 9080) and where the
   * local app listens for each (`targetPort`, e.g. 9081; equal to `port` unless told otherwise),
   * and its own listener ports.
   */
  readonly appPorts: readonly { readonly name: string; readonly port: number; readonly targetPort: number; readonly protocol: PortProtocol }[];
  readonly inboundPort: number;
  readonly outboundPort: number;
  /** Whether the control plane should register this sidecar's workload (metadata WEFT_REGISTER). */
  readonly register: boolean;
  /**
   * The workload's service account (metadata SERVICE_ACCOUNT, as Istio's agent sends it; default:
   * the service name, else `default`). With the trust domain it makes the SPIFFE identity.
   */
  readonly serviceAccount: string;
  /** The rest of node.metadata as sent. */
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly locality?: { readonly region?: string; readonly zone?: string; readonly subZone?: string };
}

/**
 * Reads a proxy's Node. Istio's conventions: id `TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local`,
 * metadata NAMESPACE, LABELS, INSTANCE_IPS, GENERATOR (`grpc` for proxyless clients); Weft's own
 * sidecar keys are WEFT_SERVICE, WEFT_APP_PORTS, WEFT_INBOUND_PORT, WEFT_OUTBOUND_PORT, WEFT_REGISTER.
 */
export function proxyInfoFromNode(node: NodeJson | undefined): ProxyInfo {
  const id = node?.id ?? '';
  const md = (node?.metadata ?? {}) as Record<string, unknown>;
  const parts = id.split('~');
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  const num = (v: unknown, dflt: number): number => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : NaN;
    return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : dflt;
  };
  let kind: ProxyKind = 'sidecar';
  if (str(md.GENERATOR) === 'grpc') kind = 'grpc';
  else if (parts[0] === 'router') kind = 'router';
  let namespace = str(md.NAMESPACE);
  if (namespace === '' && parts.length >= 3) namespace = parts[2]!.split('.').slice(1).join('.').split('.')[0] ?? '';
  if (namespace === '') namespace = 'default';
  const labels: Record<string, string> = {};
  if (md.LABELS !== null && typeof md.LABELS === 'object') {
    for (const [k, v] of Object.entries(md.LABELS as Record<string, unknown>)) if (typeof v === 'string') labels[k] = v;
  }
  const ips = str(md.INSTANCE_IPS).split(',').map((s) => s.trim()).filter((s) => s !== '');
  const appPorts: { name: string; port: number; targetPort: number; protocol: PortProtocol }[] = [];
  if (Array.isArray(md.WEFT_APP_PORTS)) {
    for (const p of md.WEFT_APP_PORTS as Record<string, unknown>[]) {
      const port = num(p?.port, 0);
      const targetPort = num(p?.targetPort, port);
      if (port > 0) appPorts.push({ name: str(p.name), port, targetPort, protocol: (str(p.protocol).toUpperCase() || 'HTTP') as PortProtocol });
    }
  }
  const loc = node?.locality;
  return {
    id,
    kind,
    namespace,
    labels,
    ipAddress: ips[0] ?? (parts.length >= 2 ? parts[1]! : ''),
    service: str(md.WEFT_SERVICE),
    appPorts,
    inboundPort: num(md.WEFT_INBOUND_PORT, 15006),
    outboundPort: num(md.WEFT_OUTBOUND_PORT, 15001),
    register: md.WEFT_REGISTER === true || md.WEFT_REGISTER === 'true',
    serviceAccount: str(md.SERVICE_ACCOUNT) || str(md.WEFT_SERVICE) || 'default',
    metadata: md,
    locality: loc === undefined ? undefined : { region: loc.region, zone: loc.zone, subZone: loc.sub_zone },
  };
}

// ───────────────────────────── translation → xDS ─────────────────────────────

/**
 * One proxy's Envoy v3 resources, in JSON form (as an Envoy YAML would write them), keyed by
 * type URL (src/xds/resource-types.ts) then resource name. Objects are frozen and shared between
 * proxies of the same shape, so the xDS server can cache each one's encoding by identity.
 */
export type ProxyResources = ReadonlyMap<string, ReadonlyMap<string, object>>;

/** What the xDS server asks of the mesh. */
export interface XdsGenerator {
  /**
   * Every resource the proxy should have at the current mesh version. `requestedListeners` is the
   * set of listener names a proxyless gRPC client subscribed to (its API listeners), else empty.
   */
  generate(proxy: ProxyInfo, requestedListeners: ReadonlySet<string>): ProxyResources;
  /** The mesh version `generate` reflects. */
  readonly version: number;
}

// ───────────────────────────── contracts between control-plane parts ─────────────────────────────

export type ValidateResult =
  | { readonly ok: true; readonly value: ConfigResource }
  | { readonly ok: false; readonly errors: readonly string[] };

/**
 * Validates one parsed YAML/JSON document into a frozen ConfigResource (src/control/api/).
 * `source` prefixes every error (e.g. `reviews.yaml#2`); each error names the resource
 * (`VirtualService default/reviews`), the field path (`spec.http[0].route[1].weight`) and what
 * was expected. Store-owned metadata (resourceVersion, creationTimestamp, generation) is left
 * at '' / '' / 0 for the store to fill.
 */
export type ResourceValidator = (doc: unknown, source: string) => ValidateResult;

/** One finding of `weft analyze` (codes follow istioctl analyze's where one exists, e.g. IST0101). */
export interface AnalysisMessage {
  readonly level: 'Error' | 'Warning' | 'Info';
  readonly code: string;
  /** `Kind namespace/name`. */
  readonly resource: string;
  /** Field path inside the resource, '' when about the whole resource. */
  readonly path: string;
  readonly message: string;
}

export type Analyzer = (mesh: MeshSnapshot) => readonly AnalysisMessage[];

/** Per xDS type, what a proxy has been sent and what it has said about it (istioctl proxy-status). */
export interface XdsTypeStatus {
  /** SYNCED: the last response was ACKed; NOT SENT: nothing sent yet; STALE: sent, no answer yet; NACKED: rejected. */
  readonly state: 'SYNCED' | 'NOT SENT' | 'STALE' | 'NACKED';
  readonly sentVersion: string;
  readonly ackedVersion: string;
  readonly resourceCount: number;
  /** The NACK's error_detail.message, when NACKED. */
  readonly error?: string;
  /** Resource names the NACK was about (the resources of the rejected response). */
  readonly rejectedResources?: readonly string[];
}

export interface ProxyStatus {
  readonly id: string;
  readonly kind: ProxyKind;
  readonly namespace: string;
  readonly variant: 'sotw' | 'delta';
  /** RFC 3339. */
  readonly connectedAt: string;
  readonly peer: string;
  /** Keyed by short name: CDS, EDS, LDS, RDS. */
  readonly types: Readonly<Record<string, XdsTypeStatus>>;
  /** The proxy's SPIFFE id (its xDS client certificate's, or the CA's last issuance for its node id). */
  readonly identity?: string;
  /** RFC 3339 expiry of that certificate. */
  readonly certExpiry?: string;
}

/** The xDS server as the rest of the control plane sees it (src/control/xds-server/). */
export interface XdsServerHandle {
  start(): Promise<{ readonly port: number }>;
  /** The mesh changed: regenerate for every connected proxy and send what changed (debounced). */
  push(): void;
  status(): readonly ProxyStatus[];
  close(): Promise<void>;
}

/** Told when a proxy's first request arrives and when its stream ends (the registry uses it for sidecars). */
export interface ProxyLifecycle {
  onConnected(proxy: ProxyInfo, peerAddress: string): void;
  /** `leaving`: the proxy ended its stream itself (graceful shutdown), not a broken connection. */
  onDisconnected(proxy: ProxyInfo, how?: { readonly leaving: boolean }): void;
}
