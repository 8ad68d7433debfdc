// Decoded configuration of Envoy's JWT authentication filter, envoy.filters.http.jwt_authn
// (envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication and PerRouteConfig). Produced by
// src/envoy/jwt-authn.ts, compiled by ./filter.ts.

import type { RouteMatchConfig } from '../../../config/types.js';

/** JwtHeader: a header holding the token after `valuePrefix` (e.g. `Bearer `). */
export interface JwtHeaderConfig {
  /** Lower-cased. */
  readonly name: string;
  readonly valuePrefix: string;
}

/** JwtClaimToHeader: a claim (dotted path for nested claims) copied to a request header. */
export interface JwtClaimToHeaderConfig {
  /** Lower-cased. */
  readonly headerName: string;
  readonly claimName: string;
}

/** Where a provider's keys come from. */
export type JwksSourceConfig =
  /** local_jwks: the JWKS text (inline_string / inline_bytes / filename read at load time), checked to parse. */
  | { readonly kind: 'local'; readonly jwks: string }
  /** remote_jwks: fetched through `cluster` (the async client), cached `cacheDurationMs`. */
  | {
    readonly kind: 'remote';
    readonly uri: string;
    readonly cluster: string;
    readonly timeoutMs: number;
    /** Envoy's default: 10 minutes. */
    readonly cacheDurationMs: number;
    /** async_fetch: the first fetch starts when the config is loaded instead of on the first request. */
    readonly asyncFetch: boolean;
  };

export interface JwtProviderConfig {
  /** '' = any `iss` (not checked). */
  readonly issuer: string;
  /** Empty = audiences not checked. */
  readonly audiences: readonly string[];
  readonly jwks: JwksSourceConfig;
  /** false (the default): a verified token is removed from its header (or query parameter). */
  readonly forward: boolean;
  /** Empty lists everywhere = Envoy's defaults (`Authorization: Bearer `, `access_token` parameter). */
  readonly fromHeaders: readonly JwtHeaderConfig[];
  readonly fromParams: readonly string[];
  readonly fromCookies: readonly string[];
  /** Lower-cased; '' = the payload is not forwarded. */
  readonly forwardPayloadHeader: string;
  readonly padForwardPayloadHeader: boolean;
  /** '' = not written to dynamic metadata. */
  readonly payloadInMetadata: string;
  readonly headerInMetadata: string;
  /** normalize_payload_in_metadata.space_delimited_claims. */
  readonly spaceDelimitedClaims: readonly string[];
  /** Envoy's default 60. */
  readonly clockSkewSeconds: number;
  readonly claimToHeaders: readonly JwtClaimToHeaderConfig[];
  /** jwt_cache_config.jwt_cache_size (0 when not set): verified tokens kept. */
  readonly jwtCacheSize: number;
}

/** envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement. */
export type JwtRequirementConfig =
  | { readonly kind: 'provider'; readonly provider: string; /** provider_and_audiences overrides; null = the provider's. */ readonly audiences: readonly string[] | null }
  | { readonly kind: 'requires_any'; readonly requirements: readonly JwtRequirementConfig[] }
  | { readonly kind: 'requires_all'; readonly requirements: readonly JwtRequirementConfig[] }
  | { readonly kind: 'allow_missing' }
  | { readonly kind: 'allow_missing_or_failed' };

/** RequirementRule: `requires` null = no verification for matching requests. */
export interface JwtRuleConfig {
  readonly match: RouteMatchConfig;
  readonly requires: JwtRequirementConfig | null;
}

export interface JwtAuthnConfig {
  /** Provider name → provider, in the order written. */
  readonly providers: ReadonlyMap<string, JwtProviderConfig>;
  /** First match applies (requirement_name references are resolved at decode time). */
  readonly rules: readonly JwtRuleConfig[];
  readonly requirementMap: ReadonlyMap<string, JwtRequirementConfig>;
  readonly bypassCorsPreflight: boolean;
  readonly stripFailureResponse: boolean;
}

/** envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig. */
export type JwtAuthnPerRouteConfig =
  | { readonly kind: 'jwt_authn'; readonly disabled: true; readonly requirementName: null }
  | { readonly kind: 'jwt_authn'; readonly disabled: false; readonly requirementName: string };
