// The proxy's one canonical configuration: frozen, typed, defaults filled in.
// Envoy v3 bootstraps (and later xDS resources and Istio translation) are adapters into these
// types (see src/envoy/); runtime code never sees raw YAML, JSON or protobuf.
// Field names follow Envoy's v3 API in camelCase so they stay recognisable.

import type { HttpRbacConfig, NetworkRbacConfig } from '../rbac/config.js';
import type { ExtAuthzConfig, ExtAuthzPerRouteConfig } from '../filters/http/ext-authz/config.js';

export type { HttpRbacConfig, NetworkRbacConfig } from '../rbac/config.js';
import type { JwtAuthnConfig, JwtAuthnPerRouteConfig } from '../filters/http/jwt-authn/config.js';
export type { JwtAuthnConfig, JwtAuthnPerRouteConfig } from '../filters/http/jwt-authn/config.js';

/** A socket address: `socket_address` in envoy.config.core.v3.Address. */
export interface SocketAddress {
  readonly address: string;   // IPv4 or IPv6 literal, or a DNS name for clusters
  readonly port: number;
}

/** envoy.config.core.v3.CidrRange, pre-parsed. */
export interface CidrRange {
  readonly addressPrefix: string;
  readonly prefixLen: number;
}

export interface NodeConfig {
  readonly id: string;
  readonly cluster: string;
  readonly metadata: Readonly<Record<string, unknown>>;
}

export interface AdminConfig {
  readonly address: SocketAddress;
  /** `admin.access_log` with a file logger, or `access_log_path` (deprecated in Envoy but common). */
  readonly accessLogs: readonly AccessLogConfig[];
}

export interface BootstrapConfig {
  readonly node: NodeConfig;
  readonly admin: AdminConfig | null;
  readonly listeners: readonly ListenerConfig[];
  readonly clusters: readonly ClusterConfig[];
  /** Bootstrap `dynamic_resources` (ADS); absent for a static-only bootstrap. */
  readonly dynamicResources?: DynamicResourcesConfig;
  /** Bootstrap `overload_manager`; absent when not configured. */
  readonly overloadManager?: OverloadManagerConfig;
  /** Bootstrap `layered_runtime` static layers: the runtime values Weft honours; absent when not configured. */
  readonly runtime?: RuntimeConfig;
  /** Bootstrap `static_resources.secrets` (SdsSecretConfigs without sds_config name them); absent when none. */
  readonly staticSecrets?: readonly import('../secrets/types.js').SecretValue[];
  /**
   * Set by the xDS client on the configs it assembles: which listeners and clusters came over xDS
   * and at which version (for /config_dump). Absent on a decoded bootstrap.
   */
  readonly xds?: XdsDumpInfo;
}

/** The runtime keys Weft supports (from `layered_runtime` static layers; every other key is rejected). */
export interface RuntimeConfig {
  /** `envoy.resource_limits.listener.<listener name>.connection_limit`, by listener name. */
  readonly listenerConnectionLimits: Readonly<Record<string, number>>;
}

/** envoy.config.overload.v3.OverloadManager. */
export interface OverloadManagerConfig {
  /** refresh_interval; Envoy default 1 s. */
  readonly refreshIntervalMs: number;
  readonly resourceMonitors: readonly ResourceMonitorConfig[];
  readonly actions: readonly OverloadActionConfig[];
  /**
   * buffer_factory_config.minimum_account_to_track_power_of_two: streams holding at least 2^N
   * bytes in buffers are tracked for reset_high_memory_stream; null = none tracked.
   */
  readonly minimumAccountToTrackPowerOfTwo: number | null;
}

export type ResourceMonitorConfig =
  /** envoy.resource_monitors.fixed_heap (FixedHeapConfig). */
  | { readonly kind: 'fixed_heap'; readonly name: string; readonly maxHeapSizeBytes: number }
  /** envoy.resource_monitors.global_downstream_max_connections (DownstreamConnectionsConfig). */
  | { readonly kind: 'global_downstream_max_connections'; readonly name: string; readonly maxActiveDownstreamConnections: number };

export type OverloadActionName =
  | 'envoy.overload_actions.stop_accepting_requests'
  | 'envoy.overload_actions.disable_http_keepalive'
  | 'envoy.overload_actions.stop_accepting_connections'
  | 'envoy.overload_actions.reject_incoming_connections'
  | 'envoy.overload_actions.reset_high_memory_stream'
  | 'envoy.overload_actions.reduce_timeouts';

/** ScaleTimersOverloadActionConfig.TimerType values Weft scales. */
export type ScaledTimerType = 'HTTP_DOWNSTREAM_CONNECTION_IDLE' | 'HTTP_DOWNSTREAM_STREAM_IDLE';

/** One ScaleTimer: the timer's minimum under saturation, absolute or as a share of its configured value. */
export interface ScaleTimerConfig {
  readonly timer: ScaledTimerType;
  readonly min: { readonly kind: 'timeout'; readonly ms: number } | { readonly kind: 'scale'; readonly percent: number };
}

export interface OverloadTriggerConfig {
  /** The resource monitor's name. */
  readonly name: string;
  readonly trigger:
    | { readonly kind: 'threshold'; readonly value: number }
    | { readonly kind: 'scaled'; readonly scalingThreshold: number; readonly saturationThreshold: number };
}

export interface OverloadActionConfig {
  readonly name: OverloadActionName;
  readonly triggers: readonly OverloadTriggerConfig[];
  /** reduce_timeouts only: ScaleTimersOverloadActionConfig.timer_scale_factors. */
  readonly scaleTimers?: readonly ScaleTimerConfig[];
}

/** envoy.config.core.v3.ConfigSource, the one form Weft supports: `{ads: {}}`. */
export interface AdsConfigSource {
  /** initial_fetch_timeout; Envoy default 15 s; 0 = wait forever. */
  readonly initialFetchTimeoutMs: number;
}

/** Bootstrap.DynamicResources with an ADS `ads_config` (envoy.config.core.v3.ApiConfigSource). */
export interface DynamicResourcesConfig {
  /** null when there is no ads_config (then nothing may use `{ads: {}}`). */
  readonly ads: {
    /** GRPC = state of the world, DELTA_GRPC = incremental. */
    readonly apiType: 'GRPC' | 'DELTA_GRPC';
    readonly target:
      | { readonly kind: 'envoy_grpc'; readonly clusterName: string }
      | { readonly kind: 'google_grpc'; readonly targetUri: string };
  } | null;
  readonly lds: AdsConfigSource | null;
  readonly cds: AdsConfigSource | null;
}

/** What /config_dump shows of the dynamic resources. */
export interface XdsDumpInfo {
  readonly listeners: readonly { readonly name: string; readonly version: string; readonly warming: boolean }[];
  readonly clusters: readonly { readonly name: string; readonly version: string; readonly warming: boolean }[];
  readonly routeConfigs: readonly { readonly name: string; readonly version: string }[];
  readonly endpoints: readonly { readonly name: string; readonly version: string }[];
}

// ───────────────────────────── listeners ─────────────────────────────

export interface ListenerConfig {
  readonly name: string;
  readonly address: SocketAddress;
  /** Envoy default 1 MiB. Bounds read buffering per connection (flow control) and retry replay. */
  readonly perConnectionBufferLimitBytes: number;
  readonly filterChains: readonly FilterChainConfig[];
  readonly defaultFilterChain: FilterChainConfig | null;
  /** `listener_filters`, in order; they run before a filter chain is chosen. */
  readonly listenerFilters: readonly ListenerFilterConfig[];
  /** `listener_filters_timeout`; Envoy default 15 s; 0 disables. */
  readonly listenerFiltersTimeoutMs: number;
  readonly continueOnListenerFiltersTimeout: boolean;
  /** traffic_direction when INBOUND or OUTBOUND (absent: unspecified); `/drain_listeners?inboundonly` drains the INBOUND ones. */
  readonly trafficDirection?: 'INBOUND' | 'OUTBOUND';
}

/** envoy.filters.listener.tls_inspector / http_inspector (`listener_filters` entries). */
export type ListenerFilterConfig =
  | { readonly kind: 'tls_inspector'; readonly name: string }
  | { readonly kind: 'http_inspector'; readonly name: string };

export interface FilterChainMatchConfig {
  readonly destinationPort: number | null;
  /** Lower-cased; exact names or `*.suffix` wildcards. */
  readonly serverNames: readonly string[];
  /** `tls`, `raw_buffer`, ... ('' = any). */
  readonly transportProtocol: string;
  readonly applicationProtocols: readonly string[];
  readonly sourcePrefixRanges: readonly CidrRange[];
}

export interface FilterChainConfig {
  readonly name: string;
  readonly match: FilterChainMatchConfig;
  /** Network filters in order; the last one is terminal. */
  readonly filters: readonly NetworkFilterConfig[];
  /** `transport_socket` (envoy.transport_sockets.tls): TLS termination; null = raw bytes. */
  readonly transportSocket: DownstreamTlsConfig | null;
}

// ───────────────────────────── TLS ─────────────────────────────

/** envoy.config.core.v3.DataSource as TLS needs it: the text, and the file it came from (watched). */
export interface TlsDataSource {
  /** Absolute path when given by `filename`; null for inline data. */
  readonly filename: string | null;
  readonly text: string;
}

export interface TlsCertificateConfig {
  readonly certificateChain: TlsDataSource;
  readonly privateKey: TlsDataSource;
}

export type SanType = 'DNS' | 'URI' | 'EMAIL' | 'IP_ADDRESS';

export interface SubjectAltNameMatcherConfig {
  readonly sanType: SanType;
  readonly matcher: StringMatcherConfig;
}

/** envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext. */
export interface CertificateValidationConfig {
  readonly trustedCa: TlsDataSource | null;
  readonly matchTypedSubjectAltNames: readonly SubjectAltNameMatcherConfig[];
  readonly crl: TlsDataSource | null;
}

export type TlsProtocolVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

export interface TlsParamsConfig {
  /** null = the default (TLS 1.2 minimum; maximum 1.3 for servers, 1.2 for clients as in Envoy). */
  readonly minimumProtocolVersion: TlsProtocolVersion | null;
  readonly maximumProtocolVersion: TlsProtocolVersion | null;
  /** OpenSSL cipher names (TLS 1.0-1.2); empty = default. */
  readonly cipherSuites: readonly string[];
  /** Curve names as OpenSSL spells them (`X25519`, `P-256`); empty = default. */
  readonly ecdhCurves: readonly string[];
}

export interface CommonTlsContextConfig {
  readonly tlsCertificates: readonly TlsCertificateConfig[];
  /**
   * The validation context given inline (`validation_context`), or, with an SDS validation
   * context, `combined_validation_context.default_validation_context` (merged with the secret's).
   */
  readonly validationContext: CertificateValidationConfig | null;
  readonly alpnProtocols: readonly string[];
  readonly tlsParams: TlsParamsConfig;
  /** `tls_certificate_sds_secret_configs`: certificates fetched over SDS (src/proxy/secrets/). */
  readonly sdsCertificates: readonly SdsSecretRef[];
  /** `validation_context_sds_secret_config` (or the combined context's): the trust bundle over SDS. */
  readonly sdsValidation: SdsSecretRef | null;
}

/**
 * envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig: a secret by name from a source. The
 * sources: ADS (`sds_config: {ads: {}}`), a file (`path_config_source` / `path`: a YAML or JSON
 * DiscoveryResponse-shaped file of Secret resources, watched), or a gRPC SDS server
 * (`api_config_source` with an `envoy_grpc` cluster, e.g. Istio's `sds-grpc` on a Unix socket).
 */
export interface SdsSecretRef {
  readonly name: string;
  readonly source: SdsSourceConfig;
}

export type SdsSourceConfig =
  | { readonly kind: 'ads'; readonly initialFetchTimeoutMs: number }
  /** No sds_config: a secret of the bootstrap's static_resources.secrets (initialFetchTimeoutMs 0). */
  | { readonly kind: 'static'; readonly initialFetchTimeoutMs: number }
  | { readonly kind: 'path'; readonly path: string; readonly initialFetchTimeoutMs: number }
  | { readonly kind: 'grpc'; readonly clusterName: string; readonly initialFetchTimeoutMs: number };

/** envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext. */
export interface DownstreamTlsConfig {
  readonly kind: 'downstream_tls';
  readonly commonTlsContext: CommonTlsContextConfig;
  readonly requireClientCertificate: boolean;
}

/** envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext. */
export interface UpstreamTlsConfig {
  readonly kind: 'upstream_tls';
  readonly commonTlsContext: CommonTlsContextConfig;
  /** '' = no SNI. */
  readonly sni: string;
}

/** Network filters: the terminal ones (the HTTP connection manager or the TCP proxy, always last) and connection_limit before them. */
export type NetworkFilterConfig = HttpConnectionManagerConfig | TcpProxyConfig | ConnectionLimitConfig | NetworkRbacConfig;

/** The filters that end a filter chain. */
export type TerminalNetworkFilterConfig = HttpConnectionManagerConfig | TcpProxyConfig;

/** envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit (non-terminal). */
export interface ConnectionLimitConfig {
  readonly kind: 'connection_limit';
  readonly statPrefix: string;
  /** Connections of the filter chain open at once; one more is closed (after delayMs). */
  readonly maxConnections: number;
  /** `delay`: how long a refused connection is held (not read) before it is closed; 0 = at once. */
  readonly delayMs: number;
  /** runtime_enabled.default_value (true when absent). */
  readonly enabled: boolean;
}

// ───────────────────────────── TCP proxy ─────────────────────────────

/** envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy. */
export interface TcpProxyConfig {
  readonly kind: 'tcp_proxy';
  readonly statPrefix: string;
  /** Exactly one of cluster / weightedClusters is set. */
  readonly cluster: string | null;
  readonly weightedClusters: { readonly clusters: readonly { readonly name: string; readonly weight: number }[]; readonly totalWeight: number } | null;
  /** Envoy default 1 h; 0 disables. */
  readonly idleTimeoutMs: number;
  /** Connection attempts (hosts tried) before giving up; Envoy default 1. */
  readonly maxConnectAttempts: number;
  readonly accessLogs: readonly AccessLogConfig[];
}

// ───────────────────────────── HTTP connection manager ─────────────────────────────

export type CodecType = 'AUTO' | 'HTTP1' | 'HTTP2';

export interface UpgradeConfig {
  /** Lower-cased, e.g. `websocket`. */
  readonly upgradeType: string;
  readonly enabled: boolean;
}

/**
 * envoy.config.core.v3.Http2ProtocolOptions as the downstream HTTP/2 codec honours it (the
 * SETTINGS it sends and its connection window). Defaults are Envoy's.
 */
export interface Http2ProtocolOptions extends Http2Options {
  /** Extended CONNECT (RFC 8441, SETTINGS_ENABLE_CONNECT_PROTOCOL); default false. */
  readonly allowConnect: boolean;
}

export interface HttpConnectionManagerConfig {
  readonly kind: 'http_connection_manager';
  readonly statPrefix: string;
  readonly codecType: CodecType;
  /** The inline route_config, or (with `rds`) the route configuration received over RDS (empty until then). */
  readonly routeConfig: RouteConfiguration;
  /** HCM `rds`: the route configuration comes over ADS under this name. Absent for an inline route_config. */
  readonly rds?: { readonly routeConfigName: string; readonly configSource: AdsConfigSource };
  readonly accessLogs: readonly AccessLogConfig[];
  /** Value of the `server` response header. Envoy's default is `envoy`; Weft's is `weft`. */
  readonly serverName: string;
  readonly useRemoteAddress: boolean;
  readonly xffNumTrustedHops: number;
  /** Default true, as in Envoy. */
  readonly generateRequestId: boolean;
  /** common_http_protocol_options.idle_timeout; 0 disables. Envoy default 1 h. */
  readonly idleTimeoutMs: number;
  /** 0 disables (Envoy default). */
  readonly requestHeadersTimeoutMs: number;
  /** Envoy default 5 min; 0 disables. */
  readonly streamIdleTimeoutMs: number;
  /** Envoy default 60. */
  readonly maxRequestHeadersKb: number;
  /** common_http_protocol_options.max_headers_count: requests with more header fields get 431 (HTTP/1.1) or a stream reset (HTTP/2). Envoy default 100. */
  readonly maxHeadersCount: number;
  /** common_http_protocol_options.headers_with_underscores_action; Envoy default ALLOW. */
  readonly headersWithUnderscoresAction: 'ALLOW' | 'REJECT_REQUEST' | 'DROP_HEADER';
  /** common_http_protocol_options.max_connection_duration; 0 (default) disables. Drained as Envoy does (Connection: close / GOAWAY). */
  readonly maxConnectionDurationMs: number;
  /** common_http_protocol_options.max_requests_per_connection; 0 (default) is unlimited. */
  readonly maxRequestsPerConnection: number;
  readonly upgradeConfigs: readonly UpgradeConfig[];
  /** http2_protocol_options (Envoy's defaults when absent). */
  readonly http2: Http2ProtocolOptions;
  /** drain_timeout: HTTP/2 graceful close, first GOAWAY → final GOAWAY. Envoy default 5 s (absent = default). */
  readonly drainTimeoutMs?: number;
  readonly httpFilters: readonly HttpFilterConfig[];
}

/** One entry of `http_filters` (the router is last). */
export type HttpFilterConfig = RouterFilterConfig | FaultFilterConfig | CorsFilterConfig | RbacFilterConfig | JwtAuthnFilterConfig | ExtAuthzFilterConfig;

/** envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication (src/proxy/filters/http/jwt-authn/config.ts). */
export interface JwtAuthnFilterConfig {
  readonly kind: 'jwt_authn';
  readonly name: string;
  readonly config: JwtAuthnConfig;
}

/** envoy.filters.http.ext_authz (src/proxy/filters/http/ext-authz/). */
export interface ExtAuthzFilterConfig {
  readonly kind: 'ext_authz';
  readonly name: string;
  readonly config: ExtAuthzConfig;
}

/** envoy.extensions.filters.http.rbac.v3.RBAC (src/proxy/rbac/config.ts). */
export interface RbacFilterConfig {
  readonly kind: 'rbac';
  readonly name: string;
  readonly config: HttpRbacConfig;
}

export interface RouterFilterConfig {
  readonly kind: 'router';
  readonly name: string;
}

/** envoy.type.v3.FractionalPercent, kept as written (header-controlled faults cap a numerator by it). */
export interface FractionalPercentConfig {
  readonly numerator: number;
  /** 100 (HUNDRED), 10000 (TEN_THOUSAND) or 1000000 (MILLION). */
  readonly denominator: number;
}

/** envoy.extensions.filters.http.fault.v3.HTTPFault (filter config and per-route config alike). */
export interface FaultConfig {
  /** `delay`: a fixed delay, or the delay taken from x-envoy-fault-delay-request (header_delay). */
  readonly delay: {
    readonly kind: 'fixed' | 'header';
    /** fixed_delay in ms (0 for header_delay). */
    readonly fixedDelayMs: number;
    readonly percentage: FractionalPercentConfig;
  } | null;
  /** `abort`: an HTTP status, a gRPC status, or the status from x-envoy-fault-abort-request (header_abort). */
  readonly abort: {
    readonly kind: 'http' | 'grpc' | 'header';
    /** http_status (200..599) for kind 'http'; 0 otherwise. */
    readonly httpStatus: number;
    /** grpc_status for kind 'grpc'; 0 otherwise. */
    readonly grpcStatus: number;
    readonly percentage: FractionalPercentConfig;
  } | null;
  /** Only requests whose headers all match are faulted. */
  readonly headers: readonly HeaderMatcherConfig[];
  /** Only requests routed to this cluster are faulted ('' = any). */
  readonly upstreamCluster: string;
  /** Faults active at once across the filter (null = unlimited). */
  readonly maxActiveFaults: number | null;
}

export interface FaultFilterConfig {
  readonly kind: 'fault';
  readonly name: string;
  readonly config: FaultConfig;
}

/** envoy.extensions.filters.http.cors.v3.Cors: no options; the policy is per route / virtual host. */
export interface CorsFilterConfig {
  readonly kind: 'cors';
  readonly name: string;
}

/**
 * envoy.extensions.filters.http.cors.v3.CorsPolicy (typed_per_filter_config). Optional fields are
 * null when not set, so a more specific level only overrides what it sets.
 */
export interface CorsPolicyConfig {
  readonly kind: 'cors_policy';
  /** null when not set; an empty list never matches. */
  readonly allowOriginStringMatch: readonly StringMatcherConfig[] | null;
  readonly allowMethods: string | null;
  readonly allowHeaders: string | null;
  readonly exposeHeaders: string | null;
  readonly maxAge: string | null;
  readonly allowCredentials: boolean | null;
  readonly allowPrivateNetworkAccess: boolean | null;
  /** filter_enabled.default_value as a fraction 0..1; null = not set (enabled). */
  readonly filterEnabled: number | null;
  /** shadow_enabled.default_value as a fraction 0..1; null = not set (off). */
  readonly shadowEnabled: number | null;
}

/** One value of a typed_per_filter_config map, keyed by HTTP filter name. */
export type PerFilterConfig =
  | { readonly kind: 'fault'; readonly config: FaultConfig }
  | CorsPolicyConfig
  /** envoy.extensions.filters.http.rbac.v3.RBACPerRoute: `config` null (no `rbac`) = no enforcement on the route. */
  | { readonly kind: 'rbac'; readonly config: HttpRbacConfig | null }
  /** envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig. */
  | JwtAuthnPerRouteConfig
  | { readonly kind: 'ext_authz'; readonly config: ExtAuthzPerRouteConfig }
  /** envoy.config.route.v3.FilterConfig with disabled: true: the filter is skipped here. */
  | { readonly kind: 'disabled' };

/** typed_per_filter_config: filter name → its config at this level. */
export type TypedPerFilterConfig = Readonly<Record<string, PerFilterConfig>>;

// ───────────────────────────── access logs ─────────────────────────────

export interface AccessLogConfig {
  /** Where lines go: a file path, or the process's stdout / stderr. */
  readonly sink: { readonly kind: 'file'; readonly path: string } | { readonly kind: 'stdout' } | { readonly kind: 'stderr' };
  /** Either a text format (Envoy's default when absent) or a JSON object format. */
  readonly format:
    | { readonly kind: 'text'; readonly template: string }
    | { readonly kind: 'json'; readonly fields: Readonly<Record<string, unknown>> };
}

// ───────────────────────────── routes ─────────────────────────────

export interface HeaderValueOption {
  readonly key: string;     // lower-cased
  readonly value: string;   // may contain %COMMAND% operators (access-log syntax)
  /** APPEND_IF_EXISTS_OR_ADD (default), ADD_IF_ABSENT, OVERWRITE_IF_EXISTS_OR_ADD, OVERWRITE_IF_EXISTS. */
  readonly appendAction: 'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS';
}

export interface HeaderMutations {
  readonly requestHeadersToAdd: readonly HeaderValueOption[];
  readonly requestHeadersToRemove: readonly string[];   // lower-cased
  readonly responseHeadersToAdd: readonly HeaderValueOption[];
  readonly responseHeadersToRemove: readonly string[];  // lower-cased
}

export interface RouteConfiguration extends HeaderMutations {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHostConfig[];
  /** typed_per_filter_config; absent when empty. */
  readonly typedPerFilterConfig?: TypedPerFilterConfig;
}

export interface VirtualHostConfig extends HeaderMutations {
  readonly name: string;
  /** As written: `example.com`, `*.example.com`, `example.*`, `*`, optionally with `:port`. */
  readonly domains: readonly string[];
  readonly routes: readonly RouteConfig[];
  readonly retryPolicy: RetryPolicyConfig | null;
  /** typed_per_filter_config; absent when empty. */
  readonly typedPerFilterConfig?: TypedPerFilterConfig;
}

export type StringMatcherConfig =
  | { readonly kind: 'exact'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'prefix'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'suffix'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'contains'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'regex'; readonly regex: string };

export type HeaderMatchSpec =
  | StringMatcherConfig
  | { readonly kind: 'present'; readonly present: boolean }
  | { readonly kind: 'range'; readonly start: number; readonly end: number }; // [start, end)

export interface HeaderMatcherConfig {
  readonly name: string; // lower-cased
  readonly spec: HeaderMatchSpec;
  readonly invertMatch: boolean;
}

export interface QueryParameterMatcherConfig {
  readonly name: string;
  /** null means `present_match: true`. */
  readonly stringMatch: StringMatcherConfig | null;
}

export type PathMatchConfig =
  | { readonly kind: 'prefix'; readonly value: string }
  | { readonly kind: 'path'; readonly value: string }
  | { readonly kind: 'safe_regex'; readonly regex: string }
  | { readonly kind: 'path_separated_prefix'; readonly value: string };

export interface RouteMatchConfig {
  readonly path: PathMatchConfig;
  /** Default true. Applies to prefix / path / path_separated_prefix. */
  readonly caseSensitive: boolean;
  readonly headers: readonly HeaderMatcherConfig[];
  readonly queryParameters: readonly QueryParameterMatcherConfig[];
}

export interface RetryPolicyConfig {
  /** Parsed `retry_on` tokens, e.g. `5xx`, `gateway-error`, `reset`, `connect-failure`, `retriable-4xx`, `refused-stream`, `retriable-status-codes`. */
  readonly retryOn: readonly string[];
  /** Envoy default 1. */
  readonly numRetries: number;
  /** 0 = use the route timeout. */
  readonly perTryTimeoutMs: number;
  readonly retriableStatusCodes: readonly number[];
  /** Envoy defaults: base 25 ms, max 10 × base. */
  readonly backOff: { readonly baseIntervalMs: number; readonly maxIntervalMs: number };
}

export interface WeightedClusterEntry {
  readonly name: string;
  readonly weight: number;
  readonly requestHeadersToAdd: readonly HeaderValueOption[];
  readonly requestHeadersToRemove: readonly string[];
  readonly responseHeadersToAdd: readonly HeaderValueOption[];
  readonly responseHeadersToRemove: readonly string[];
}

export type HashPolicyConfig =
  | { readonly kind: 'header'; readonly headerName: string; readonly terminal: boolean }
  | { readonly kind: 'cookie'; readonly name: string; readonly ttlMs: number | null; readonly path: string; readonly terminal: boolean }
  | { readonly kind: 'source_ip'; readonly terminal: boolean };

export interface RequestMirrorPolicyConfig {
  readonly cluster: string;
  /** Fraction of requests mirrored, 0..1 (runtime_fraction.default_value); 1 when absent. */
  readonly fraction: number;
}

export interface RouteActionConfig {
  readonly kind: 'route';
  /** Exactly one of cluster / clusterHeader / weightedClusters is set. */
  readonly cluster: string | null;
  readonly clusterHeader: string | null; // lower-cased
  readonly weightedClusters: { readonly clusters: readonly WeightedClusterEntry[]; readonly totalWeight: number } | null;
  readonly prefixRewrite: string | null;
  readonly regexRewrite: { readonly regex: string; readonly substitution: string } | null;
  readonly hostRewriteLiteral: string | null;
  readonly autoHostRewrite: boolean;
  /** Envoy default 15 s; 0 disables. */
  readonly timeoutMs: number;
  /** null = not set (stream idle timeout of the HCM applies). 0 disables. */
  readonly idleTimeoutMs: number | null;
  /** Route-level policy; null falls back to the virtual host's. */
  readonly retryPolicy: RetryPolicyConfig | null;
  readonly requestMirrorPolicies: readonly RequestMirrorPolicyConfig[];
  readonly hashPolicy: readonly HashPolicyConfig[];
  /** Upgrades allowed on this route (route-level `upgrade_configs`), overriding the HCM's. */
  readonly upgradeConfigs: readonly UpgradeConfig[];
  /** RouteAction.max_stream_duration; null when not set. */
  readonly maxStreamDuration: MaxStreamDurationConfig | null;
  /** Deprecated RouteAction.max_grpc_timeout (0 = no cap); null when not set. */
  readonly maxGrpcTimeoutMs: number | null;
  /** Deprecated RouteAction.grpc_timeout_offset; 0 when not set. */
  readonly grpcTimeoutOffsetMs: number;
}

/** envoy.config.route.v3.RouteAction.MaxStreamDuration. */
export interface MaxStreamDurationConfig {
  /** From the start of the stream; null = not set, 0 = no limit. */
  readonly maxStreamDurationMs: number | null;
  /** Use a request's grpc-timeout as the stream duration, capped at this (0 = no cap); null = ignore grpc-timeout. */
  readonly grpcTimeoutHeaderMaxMs: number | null;
  /** Subtracted from the grpc-timeout value; 0 when not set. */
  readonly grpcTimeoutHeaderOffsetMs: number;
}

export interface RedirectActionConfig {
  readonly kind: 'redirect';
  readonly schemeRedirect: string | null;   // `https_redirect: true` becomes `https`
  readonly hostRedirect: string | null;
  readonly portRedirect: number | null;
  readonly pathRedirect: string | null;
  readonly prefixRewrite: string | null;
  readonly regexRewrite: { readonly regex: string; readonly substitution: string } | null;
  /** 301 default; MOVED_PERMANENTLY 301, FOUND 302, SEE_OTHER 303, TEMPORARY_REDIRECT 307, PERMANENT_REDIRECT 308. */
  readonly responseCode: number;
  readonly stripQuery: boolean;
}

export interface DirectResponseActionConfig {
  readonly kind: 'direct_response';
  readonly status: number;
  /** Body bytes (inline_string, inline_bytes or filename read at load time); null = no body. */
  readonly body: string | null;
}

export interface RouteConfig extends HeaderMutations {
  readonly name: string;
  readonly match: RouteMatchConfig;
  readonly action: RouteActionConfig | RedirectActionConfig | DirectResponseActionConfig;
  /** typed_per_filter_config; absent when empty. */
  readonly typedPerFilterConfig?: TypedPerFilterConfig;
}

// ───────────────────────────── clusters ─────────────────────────────

export type DiscoveryType = 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'EDS';
export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'RING_HASH' | 'MAGLEV';

/**
 * envoy.config.core.v3.Metadata.filter_metadata: filter name → its Struct (plain JSON values).
 * Weft reads `envoy.transport_socket_match` (Cluster.transport_socket_matches); other keys are kept
 * and shown (admin /clusters, config_dump). typed_filter_metadata is refused.
 */
export type FilterMetadata = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

export interface LbEndpointConfig {
  readonly address: SocketAddress;
  /** Default 1. */
  readonly loadBalancingWeight: number;
  /** From `health_status`; UNKNOWN/HEALTHY count as healthy. */
  readonly healthStatus: 'UNKNOWN' | 'HEALTHY' | 'UNHEALTHY' | 'DRAINING' | 'TIMEOUT' | 'DEGRADED';
  /** `metadata.filter_metadata`; absent when not set. */
  readonly metadata?: FilterMetadata;
}

export interface LocalityLbEndpointsConfig {
  readonly locality: { readonly region: string; readonly zone: string; readonly subZone: string };
  /** null when not set (then localities are not weighted). */
  readonly loadBalancingWeight: number | null;
  /** Default 0 (highest). */
  readonly priority: number;
  readonly lbEndpoints: readonly LbEndpointConfig[];
  /** `metadata.filter_metadata` of the locality; absent when not set. */
  readonly metadata?: FilterMetadata;
}

/**
 * envoy.config.cluster.v3.Cluster.TransportSocketMatch: hosts whose endpoint (else locality)
 * filter_metadata["envoy.transport_socket_match"] has every key/value of `match` connect with
 * `transportSocket`; the first match in order wins; no match = the cluster's transport_socket.
 */
export interface TransportSocketMatchConfig {
  readonly name: string;
  /** `match` (a Struct); empty matches every host. */
  readonly match: Readonly<Record<string, unknown>>;
  /** TLS, or null for envoy.transport_sockets.raw_buffer (plaintext). */
  readonly transportSocket: UpstreamTlsConfig | null;
}

export interface ClusterConfig {
  readonly name: string;
  readonly type: DiscoveryType;
  /** Envoy default 5 s. */
  readonly connectTimeoutMs: number;
  readonly lbPolicy: LbPolicy;
  /** EDS only (`eds_cluster_config`): the ClusterLoadAssignment name (service_name, else the cluster name). */
  readonly eds?: { readonly serviceName: string; readonly configSource: AdsConfigSource };
  /** For EDS clusters, the last assignment received (empty until then); updated in place. */
  readonly loadAssignment: {
    readonly endpoints: readonly LocalityLbEndpointsConfig[];
  };
  /** STRICT_DNS / LOGICAL_DNS re-resolution period; Envoy default 5 s. */
  readonly dnsRefreshRateMs: number;
  /** V4_ONLY, V6_ONLY, AUTO (v6 then v4, Envoy's default), V4_PREFERRED, ALL. */
  readonly dnsLookupFamily: 'AUTO' | 'V4_ONLY' | 'V6_ONLY' | 'V4_PREFERRED' | 'ALL';
  /** common_lb_config.healthy_panic_threshold, percent; Envoy default 50. */
  readonly healthyPanicThresholdPercent: number;
  readonly leastRequest: { readonly choiceCount: number };           // Envoy default 2
  readonly ringHash: { readonly minimumRingSize: number; readonly maximumRingSize: number }; // 1024 / 8M
  readonly maglev: { readonly tableSize: number };                   // 65537
  /** HTTP/1.1 connection pool per endpoint. */
  readonly connectionPool: {
    /** circuit_breakers.thresholds[DEFAULT].max_connections; Envoy default 1024. */
    readonly maxConnections: number;
    /** max_pending_requests; Envoy default 1024. */
    readonly maxPendingRequests: number;
    /** max_requests; Envoy default 1024. */
    readonly maxRequests: number;
    /** max_retries; Envoy default 3. */
    readonly maxRetries: number;
    /** common_http_protocol_options.idle_timeout on the upstream; Envoy default 1 h. */
    readonly idleTimeoutMs: number;
    /** max_requests_per_connection; 0 = unlimited. */
    readonly maxRequestsPerConnection: number;
  };
  readonly perConnectionBufferLimitBytes: number;
  /**
   * HttpProtocolOptions.common_http_protocol_options.max_headers_count: upstream responses with
   * more header fields are a protocol error (502). Absent: Envoy's default, 100.
   */
  readonly maxResponseHeadersCount?: number;
  /** `transport_socket` (envoy.transport_sockets.tls): TLS to the hosts; null = plaintext. */
  readonly transportSocket: UpstreamTlsConfig | null;
  /** `transport_socket_matches`, in order; absent when the cluster has none. */
  readonly transportSocketMatches?: readonly TransportSocketMatchConfig[];
  /**
   * Which HTTP version goes upstream (HttpProtocolOptions.upstream_protocol_options, or the
   * deprecated Cluster.http2_protocol_options): HTTP1 (the default), HTTP2, USE_DOWNSTREAM
   * (HTTP/2 when the downstream request is HTTP/2), AUTO (ALPN h2/http1.1 over TLS; HTTP/1.1 over plaintext).
   */
  readonly upstreamProtocol: UpstreamProtocol;
  /** Http2ProtocolOptions for the HTTP/2 session pool (defaults when not configured). */
  readonly http2: Http2Options;
  /** `outlier_detection`; absent or null = no outlier detection (the decoder omits it when unset). */
  readonly outlierDetection?: OutlierDetectionConfig | null;
}

/**
 * envoy.config.cluster.v3.OutlierDetection, the consecutive-failure detectors (the success-rate and
 * failure-percentage ones are rejected as unsupported). Durations in milliseconds, percents 0..100.
 */
export interface OutlierDetectionConfig {
  /** consecutive_5xx; Envoy default 5. */
  readonly consecutive5xx: number;
  /** enforcing_consecutive_5xx, % chance a detection ejects; Envoy default 100. */
  readonly enforcingConsecutive5xx: number;
  /** consecutive_gateway_failure (502/503/504, and local-origin failures when not split); Envoy default 5. */
  readonly consecutiveGatewayFailure: number;
  /** enforcing_consecutive_gateway_failure; Envoy default 0 (detected, not enforced). */
  readonly enforcingConsecutiveGatewayFailure: number;
  /** interval between ejection sweeps; Envoy default 10 s. */
  readonly intervalMs: number;
  /** base_ejection_time, multiplied by the number of ejections; Envoy default 30 s. */
  readonly baseEjectionTimeMs: number;
  /** max_ejection_time, the cap of the ejection time; Envoy default 300 s. */
  readonly maxEjectionTimeMs: number;
  /** max_ejection_percent; Envoy default 10. */
  readonly maxEjectionPercent: number;
  /** split_external_local_origin_errors; Envoy default false. */
  readonly splitExternalLocalOriginErrors: boolean;
  /** consecutive_local_origin_failure (only with the split); Envoy default 5. */
  readonly consecutiveLocalOriginFailure: number;
  /** enforcing_consecutive_local_origin_failure; Envoy default 100. */
  readonly enforcingConsecutiveLocalOriginFailure: number;
}

export type UpstreamProtocol = 'HTTP1' | 'HTTP2' | 'USE_DOWNSTREAM' | 'AUTO';

/** envoy.config.core.v3.Http2ProtocolOptions, the parts Weft implements. */
export interface Http2Options {
  /** Streams per session from our side; the peer's SETTINGS can lower it. Envoy default 2147483647. */
  readonly maxConcurrentStreams: number;
  /** Envoy default 268435456 (256 MiB). */
  readonly initialStreamWindowSize: number;
  /** Envoy default 268435456 (256 MiB). */
  readonly initialConnectionWindowSize: number;
  /** Envoy default 4096. */
  readonly hpackTableSize: number;
  /** Envoy's flood protections (protocol.proto), enforced by Weft's HTTP/2 session both ways. Default 10000. */
  readonly maxOutboundFrames: number;
  /** Default 1000. */
  readonly maxOutboundControlFrames: number;
  /** Default 1. */
  readonly maxConsecutiveInboundFramesWithEmptyPayload: number;
  /** Default 100. */
  readonly maxInboundPriorityFramesPerStream: number;
  /** Default 10. */
  readonly maxInboundWindowUpdateFramesPerDataFrameSent: number;
}
