// Istio networking.istio.io/v1 resource specs, in their YAML/JSON shape (lowerCamelCase fields as
// Istio's reference documents them: https://istio.io/latest/docs/reference/config/networking/).
// The validator (src/control/api/) produces these, frozen; translation reads them. Only the
// fields Weft supports are declared; anything else is rejected at validation with its path.

// ───────────────────────────── shared ─────────────────────────────

/** StringMatch: exactly one of exact, prefix, regex (RE2 syntax). */
export type StringMatch = { readonly exact: string } | { readonly prefix: string } | { readonly regex: string };

/** `{}` in a header or query-parameter match map: present, with any value. */
export type PresenceMatch = Readonly<Record<string, never>>;

export interface PortSelector {
  readonly number: number;
}

export interface Duration {
  /** Milliseconds (the validator converts Istio's "1.5s"/"100ms"/"1m" strings). */
  readonly ms: number;
}

export interface Percent {
  /** 0..100 (Istio `Percent.value`, a double). */
  readonly value: number;
}

export interface Headers {
  readonly request?: HeaderOperations;
  readonly response?: HeaderOperations;
}

export interface HeaderOperations {
  readonly set?: Readonly<Record<string, string>>;
  readonly add?: Readonly<Record<string, string>>;
  readonly remove?: readonly string[];
}

// ───────────────────────────── VirtualService ─────────────────────────────

export interface VirtualServiceSpec {
  readonly hosts: readonly string[];
  /** Gateway names (`ns/name` or `name`, relative to the VirtualService's namespace) and/or `mesh`; empty = [`mesh`]. */
  readonly gateways: readonly string[];
  readonly http: readonly HTTPRoute[];
  readonly tcp: readonly TCPRoute[];
  readonly tls: readonly TLSRoute[];
  /** `.` (own namespace), `*` (everywhere, the default) or namespaces. */
  readonly exportTo: readonly string[];
}

export interface HTTPRoute {
  readonly name?: string;
  /** OR of matches; empty = match everything. */
  readonly match: readonly HTTPMatchRequest[];
  readonly route: readonly HTTPRouteDestination[];
  readonly redirect?: HTTPRedirect;
  /** body: `string`, or `bytes` as base64 text. */
  readonly directResponse?: { readonly status: number; readonly body?: { readonly string: string } | { readonly bytes: string } };
  readonly rewrite?: HTTPRewrite;
  readonly timeout?: Duration;
  readonly retries?: HTTPRetry;
  readonly fault?: HTTPFaultInjection;
  readonly mirror?: Destination;
  readonly mirrors?: readonly { readonly destination: Destination; readonly percentage?: Percent }[];
  readonly mirrorPercentage?: Percent;
  readonly corsPolicy?: CorsPolicy;
  readonly headers?: Headers;
}

export interface HTTPMatchRequest {
  readonly name?: string;
  readonly uri?: StringMatch;
  readonly scheme?: StringMatch;
  readonly method?: StringMatch;
  readonly authority?: StringMatch;
  readonly headers?: Readonly<Record<string, StringMatch | PresenceMatch>>;
  readonly port?: number;
  readonly sourceLabels?: Readonly<Record<string, string>>;
  readonly gateways?: readonly string[];
  readonly queryParams?: Readonly<Record<string, StringMatch | PresenceMatch>>;
  readonly ignoreUriCase?: boolean;
  readonly withoutHeaders?: Readonly<Record<string, StringMatch | PresenceMatch>>;
  readonly sourceNamespace?: string;
}

export interface Destination {
  readonly host: string;
  readonly subset?: string;
  readonly port?: PortSelector;
}

export interface HTTPRouteDestination {
  readonly destination: Destination;
  /** Relative weight; absent = 0 when several destinations, 100 when one (Istio). */
  readonly weight?: number;
  readonly headers?: Headers;
}

export interface HTTPRedirect {
  readonly uri?: string;
  readonly authority?: string;
  readonly port?: number;
  readonly derivePort?: 'FROM_PROTOCOL_DEFAULT' | 'FROM_REQUEST_PORT';
  readonly scheme?: string;
  /** Default 301. */
  readonly redirectCode?: number;
  /** Replaces the matched prefix in the redirect's path (instead of `uri`, which replaces the whole path). */
  readonly prefixRewrite?: string;
}

export interface HTTPRewrite {
  readonly uri?: string;
  readonly authority?: string;
  readonly uriRegexRewrite?: { readonly match: string; readonly rewrite: string };
}

export interface HTTPRetry {
  readonly attempts: number;
  readonly perTryTimeout?: Duration;
  /** Comma-separated Envoy retry_on values and/or HTTP status codes. */
  readonly retryOn?: string;
  /** Base interval of the retries' exponential back-off (Envoy's retry_back_off). */
  readonly backoff?: Duration;
}

export interface HTTPFaultInjection {
  readonly delay?: { readonly fixedDelay: Duration; readonly percentage?: Percent };
  readonly abort?: { readonly httpStatus?: number; readonly grpcStatus?: string; readonly percentage?: Percent };
}

export interface CorsPolicy {
  readonly allowOrigins?: readonly StringMatch[];
  readonly allowMethods?: readonly string[];
  readonly allowHeaders?: readonly string[];
  readonly exposeHeaders?: readonly string[];
  readonly maxAge?: Duration;
  readonly allowCredentials?: boolean;
}

export interface L4MatchAttributes {
  readonly destinationSubnets?: readonly string[];
  readonly port?: number;
  readonly sourceLabels?: Readonly<Record<string, string>>;
  readonly gateways?: readonly string[];
  readonly sourceNamespace?: string;
}

export interface RouteDestination {
  readonly destination: Destination;
  readonly weight?: number;
}

export interface TCPRoute {
  readonly match: readonly L4MatchAttributes[];
  readonly route: readonly RouteDestination[];
}

export interface TLSMatchAttributes extends L4MatchAttributes {
  readonly sniHosts: readonly string[];
}

export interface TLSRoute {
  readonly match: readonly TLSMatchAttributes[];
  readonly route: readonly RouteDestination[];
}

// ───────────────────────────── DestinationRule ─────────────────────────────

export interface DestinationRuleSpec {
  readonly host: string;
  readonly trafficPolicy?: TrafficPolicy;
  readonly subsets: readonly Subset[];
  readonly exportTo: readonly string[];
}

export interface Subset {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly trafficPolicy?: TrafficPolicy;
}

export interface TrafficPolicy {
  readonly loadBalancer?: LoadBalancerSettings;
  readonly connectionPool?: ConnectionPoolSettings;
  readonly outlierDetection?: OutlierDetection;
  readonly tls?: ClientTLSSettings;
  readonly portLevelSettings?: readonly (Omit<TrafficPolicy, 'portLevelSettings'> & { readonly port: PortSelector })[];
}

export interface LoadBalancerSettings {
  /** PASSTHROUGH (original destination) is rejected: the proxy has no ORIGINAL_DST clusters. */
  readonly simple?: 'UNSPECIFIED' | 'LEAST_CONN' | 'RANDOM' | 'ROUND_ROBIN' | 'LEAST_REQUEST';
  readonly consistentHash?: {
    readonly httpHeaderName?: string;
    readonly httpCookie?: { readonly name: string; readonly path?: string; readonly ttl?: Duration };
    readonly useSourceIp?: boolean;
    readonly ringHash?: { readonly minimumRingSize?: number };
    readonly maglev?: { readonly tableSize?: number };
    /** Deprecated in Istio, still accepted: ring hash with this minimum size. */
    readonly minimumRingSize?: number;
  };
  readonly localityLbSetting?: {
    readonly distribute?: readonly { readonly from: string; readonly to: Readonly<Record<string, number>> }[];
    readonly failover?: readonly { readonly from: string; readonly to: string }[];
    readonly enabled?: boolean;
  };
}

export interface ConnectionPoolSettings {
  readonly tcp?: {
    readonly maxConnections?: number;
    readonly connectTimeout?: Duration;
    /** TCP proxies' idle timeout, and HTTP connections' when `http.idleTimeout` is not set (0 = none). */
    readonly idleTimeout?: Duration;
  };
  readonly http?: {
    readonly http1MaxPendingRequests?: number;
    readonly http2MaxRequests?: number;
    readonly maxRequestsPerConnection?: number;
    readonly maxRetries?: number;
    readonly idleTimeout?: Duration;
    readonly h2UpgradePolicy?: 'DEFAULT' | 'DO_NOT_UPGRADE' | 'UPGRADE';
    readonly useClientProtocol?: boolean;
    readonly maxConcurrentStreams?: number;
  };
}

export interface OutlierDetection {
  readonly consecutiveGatewayErrors?: number;
  readonly consecutive5xxErrors?: number;
  readonly interval?: Duration;
  readonly baseEjectionTime?: Duration;
  readonly maxEjectionPercent?: number;
  readonly minHealthPercent?: number;
  readonly splitExternalLocalOriginErrors?: boolean;
  readonly consecutiveLocalOriginFailures?: number;
}

export interface ClientTLSSettings {
  /** ISTIO_MUTUAL: the mesh's certificates over SDS (src/control/translate/security/mtls.ts). */
  readonly mode: 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';
  readonly clientCertificate?: string;
  readonly privateKey?: string;
  readonly caCertificates?: string;
  readonly credentialName?: string;
  readonly subjectAltNames?: readonly string[];
  readonly sni?: string;
  readonly insecureSkipVerify?: boolean;
  /** A CRL file checked with caCertificates. */
  readonly caCrl?: string;
}

// ───────────────────────────── ServiceEntry ─────────────────────────────

export interface ServiceEntrySpec {
  readonly hosts: readonly string[];
  /** Always empty: virtual IPs are rejected (not supported yet). */
  readonly addresses: readonly string[];
  readonly ports: readonly ServiceEntryPort[];
  /** Always MESH_EXTERNAL: MESH_INTERNAL arrives with automatic mTLS. */
  readonly location: 'MESH_EXTERNAL' | 'MESH_INTERNAL';
  /** Never NONE from the validator (passthrough is not supported yet); the type keeps it for hand-built specs. */
  readonly resolution: 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN';
  readonly endpoints: readonly WorkloadEntrySpec[];
  readonly exportTo: readonly string[];
  /** Always empty: arrives with automatic mTLS. */
  readonly subjectAltNames: readonly string[];
}

export interface ServiceEntryPort {
  readonly number: number;
  /** HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP, TLS (upper-cased by the validator). */
  readonly protocol: string;
  readonly name: string;
  readonly targetPort?: number;
}

export interface WorkloadEntrySpec {
  readonly address: string;
  /** Port name → port on this endpoint. */
  readonly ports?: Readonly<Record<string, number>>;
  readonly labels?: Readonly<Record<string, string>>;
  readonly locality?: string;
  readonly weight?: number;
}

// ───────────────────────────── Gateway ─────────────────────────────

export interface GatewaySpec {
  readonly servers: readonly GatewayServer[];
  /** Which gateway proxies (by their labels) take this Gateway. */
  readonly selector: Readonly<Record<string, string>>;
}

export interface GatewayServer {
  readonly port: { readonly number: number; readonly protocol: string; readonly name: string; readonly targetPort?: number };
  readonly bind?: string;
  /** `host`, `*.host`, `*`, optionally prefixed by `namespace/`. */
  readonly hosts: readonly string[];
  readonly tls?: ServerTLSSettings;
  readonly name?: string;
}

export interface ServerTLSSettings {
  readonly httpsRedirect?: boolean;
  /** ISTIO_MUTUAL: the mesh certificate over SDS, mesh clients required; AUTO_PASSTHROUGH is rejected. */
  readonly mode?: 'PASSTHROUGH' | 'SIMPLE' | 'MUTUAL' | 'OPTIONAL_MUTUAL' | 'ISTIO_MUTUAL';
  readonly serverCertificate?: string;
  readonly privateKey?: string;
  readonly caCertificates?: string;
  readonly caCrl?: string;
  readonly credentialName?: string;
  readonly subjectAltNames?: readonly string[];
  readonly minProtocolVersion?: 'TLS_AUTO' | 'TLSV1_0' | 'TLSV1_1' | 'TLSV1_2' | 'TLSV1_3';
  readonly maxProtocolVersion?: 'TLS_AUTO' | 'TLSV1_0' | 'TLSV1_1' | 'TLSV1_2' | 'TLSV1_3';
  readonly cipherSuites?: readonly string[];
}

// ───────────────────────────── Sidecar ─────────────────────────────

export interface SidecarSpec {
  readonly workloadSelector?: { readonly labels: Readonly<Record<string, string>> };
  /** Always empty: ingress listeners are rejected (not supported yet). */
  readonly ingress: readonly {
    readonly port: { readonly number: number; readonly protocol: string; readonly name: string };
    readonly bind?: string;
    readonly defaultEndpoint?: string;
  }[];
  readonly egress: readonly {
    readonly port?: { readonly number: number; readonly protocol: string; readonly name: string };
    readonly bind?: string;
    /** `namespace/dnsName` entries; `./` = own namespace, `*` = any; `~` = none. */
    readonly hosts: readonly string[];
  }[];
  /** REGISTRY_ONLY is what a Weft sidecar does; ALLOW_ANY is rejected (not supported yet). */
  readonly outboundTrafficPolicy?: { readonly mode: 'REGISTRY_ONLY' };
}

/** Each kind's spec type. */
export interface SpecOf {
  readonly VirtualService: VirtualServiceSpec;
  readonly DestinationRule: DestinationRuleSpec;
  readonly ServiceEntry: ServiceEntrySpec;
  readonly Gateway: GatewaySpec;
  readonly Sidecar: SidecarSpec;
}
