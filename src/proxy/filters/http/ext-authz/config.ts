// Decoded configuration of Envoy's external authorization HTTP filter
// (envoy.extensions.filters.http.ext_authz.v3.ExtAuthz and ExtAuthzPerRoute), as src/envoy/ext-authz.ts
// produces it and src/proxy/filters/http/ext-authz/filter.ts runs it. Durations in milliseconds.

import type { StringMatcherConfig } from '../../../config/types.js';

/** envoy.extensions.filters.http.ext_authz.v3.BufferSettings. */
export interface ExtAuthzBufferSettings {
  readonly maxRequestBytes: number;
  readonly allowPartialMessage: boolean;
  /** gRPC service only: the body goes in raw_body (bytes) instead of body (UTF-8). */
  readonly packAsBytes: boolean;
}

/** One header to add to the authorization request (HttpService.authorization_request.headers_to_add). */
export interface ExtAuthzHeader { readonly key: string; readonly value: string }

/** grpc_service (envoy_grpc): envoy.service.auth.v3.Authorization/Check over HTTP/2 to a cluster. */
export interface ExtAuthzGrpcService {
  readonly kind: 'grpc';
  readonly clusterName: string;
  /** The cluster's :authority (EnvoyGrpc.authority; default the cluster name, as Envoy). */
  readonly authority: string;
  readonly timeoutMs: number;
  /** GrpcService.initial_metadata, flat [name, value, ...]. */
  readonly initialMetadata: readonly string[];
}

/** http_service: a plain HTTP request to a cluster. */
export interface ExtAuthzHttpService {
  readonly kind: 'http';
  readonly clusterName: string;
  /** server_uri.uri (its host part is the authority of nothing: Envoy sends the client's :authority). */
  readonly uri: string;
  readonly timeoutMs: number;
  readonly pathPrefix: string;
  /** authorization_request.headers_to_add (override headers of the same name). */
  readonly headersToAdd: readonly ExtAuthzHeader[];
  /** authorization_response.allowed_upstream_headers (set on the upstream request on 200). */
  readonly allowedUpstreamHeaders: readonly StringMatcherConfig[];
  /** authorization_response.allowed_upstream_headers_to_append (appended on 200). */
  readonly allowedUpstreamHeadersToAppend: readonly StringMatcherConfig[];
  /** authorization_response.allowed_client_headers (on deny); null = every header but Host. */
  readonly allowedClientHeaders: readonly StringMatcherConfig[] | null;
  /** authorization_response.allowed_client_headers_on_success (added to the response on 200). */
  readonly allowedClientHeadersOnSuccess: readonly StringMatcherConfig[];
}

/** envoy.type.matcher.v3.ValueMatcher (one pattern). */
/** envoy.type.matcher.v3.MetadataMatcher (filter_enabled_metadata): the one shared with RBAC. */
export type { MetadataMatcherConfig as ExtAuthzMetadataMatcher, ValueMatcherConfig as ExtAuthzValueMatcher } from '../../../rbac/metadata.js';
import type { MetadataMatcherConfig as ExtAuthzMetadataMatcher } from '../../../rbac/metadata.js';

export interface ExtAuthzConfig {
  readonly service: ExtAuthzGrpcService | ExtAuthzHttpService;
  readonly failureModeAllow: boolean;
  readonly failureModeAllowHeaderAdd: boolean;
  readonly withRequestBody: ExtAuthzBufferSettings | null;
  /** status_on_error, default 403. */
  readonly statusOnError: number;
  readonly statPrefix: string;
  readonly includePeerCertificate: boolean;
  readonly includeTlsSession: boolean;
  /**
   * allowed_headers (or, for the HTTP service, the deprecated authorization_request.allowed_headers):
   * null = every request header for gRPC, only the defaults for HTTP.
   */
  readonly allowedHeaders: readonly StringMatcherConfig[] | null;
  readonly disallowedHeaders: readonly StringMatcherConfig[];
  /** filter_enabled.default_value as a fraction 0..1 (null = always). */
  readonly filterEnabled: number | null;
  readonly filterEnabledMetadata: ExtAuthzMetadataMatcher | null;
  /** deny_at_disable.default_value. */
  readonly denyAtDisable: boolean;
  /** metadata_context_namespaces (gRPC only): dynamic metadata namespaces sent in metadata_context. */
  readonly metadataContextNamespaces: readonly string[];
}

/** ExtAuthzPerRoute: `disabled`, or check_settings. */
export interface ExtAuthzPerRouteConfig {
  readonly disabled: boolean;
  readonly contextExtensions: ReadonlyMap<string, string>;
  readonly disableRequestBodyBuffering: boolean;
  /** check_settings.with_request_body: replaces the filter's buffer settings on the route. */
  readonly withRequestBody: ExtAuthzBufferSettings | null;
}

export const EXT_AUTHZ_DEFAULT_TIMEOUT_MS = 200;
