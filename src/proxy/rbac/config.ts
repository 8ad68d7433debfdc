// Decoded configuration of Envoy's role-based access control (envoy.config.rbac.v3.RBAC and the
// two filters built on it: envoy.extensions.filters.http.rbac.v3.RBAC / RBACPerRoute and
// envoy.extensions.filters.network.rbac.v3.RBAC). Produced by src/envoy/rbac.ts, compiled by
// src/proxy/rbac/engine.ts.

import type { CidrRange, HeaderMatcherConfig, StringMatcherConfig } from '../config/types.js';
import type { MetadataMatcherConfig } from './metadata.js';

/** envoy.config.rbac.v3.Permission (the fields Weft implements). */
export type RbacPermissionConfig =
  | { readonly kind: 'and_rules'; readonly rules: readonly RbacPermissionConfig[] }
  | { readonly kind: 'or_rules'; readonly rules: readonly RbacPermissionConfig[] }
  | { readonly kind: 'not_rule'; readonly rule: RbacPermissionConfig }
  | { readonly kind: 'any' }
  | { readonly kind: 'header'; readonly header: HeaderMatcherConfig }
  | { readonly kind: 'url_path'; readonly path: StringMatcherConfig }
  | { readonly kind: 'destination_ip'; readonly cidr: CidrRange }
  | { readonly kind: 'destination_port'; readonly port: number }
  /** [start, end), as envoy.type.v3.Int32Range. */
  | { readonly kind: 'destination_port_range'; readonly start: number; readonly end: number }
  | { readonly kind: 'requested_server_name'; readonly name: StringMatcherConfig }
  /** Dynamic metadata of the stream (HTTP filter only). */
  | { readonly kind: 'metadata'; readonly matcher: MetadataMatcherConfig };

/** envoy.config.rbac.v3.Principal (the fields Weft implements). */
export type RbacPrincipalConfig =
  | { readonly kind: 'and_ids'; readonly ids: readonly RbacPrincipalConfig[] }
  | { readonly kind: 'or_ids'; readonly ids: readonly RbacPrincipalConfig[] }
  | { readonly kind: 'not_id'; readonly id: RbacPrincipalConfig }
  | { readonly kind: 'any' }
  /** Principal.Authenticated: principalName null = any TLS connection. */
  | { readonly kind: 'authenticated'; readonly principalName: StringMatcherConfig | null }
  /** source_ip (the connection's peer), direct_remote_ip (the same, Envoy's stream view), remote_ip (after XFF). */
  | { readonly kind: 'source_ip' | 'direct_remote_ip' | 'remote_ip'; readonly cidr: CidrRange }
  | { readonly kind: 'header'; readonly header: HeaderMatcherConfig }
  | { readonly kind: 'url_path'; readonly path: StringMatcherConfig }
  /** Dynamic metadata of the stream (HTTP filter only). */
  | { readonly kind: 'metadata'; readonly matcher: MetadataMatcherConfig };

/** envoy.config.rbac.v3.Policy: matches when any permission and any principal match. */
export interface RbacPolicyConfig {
  readonly permissions: readonly RbacPermissionConfig[];
  readonly principals: readonly RbacPrincipalConfig[];
}

/** envoy.config.rbac.v3.RBAC. */
export interface RbacRulesConfig {
  readonly action: 'ALLOW' | 'DENY' | 'LOG';
  /** Policy name → policy, in the order Envoy evaluates them (sorted by name). */
  readonly policies: ReadonlyArray<readonly [string, RbacPolicyConfig]>;
}

/** envoy.extensions.filters.http.rbac.v3.RBAC. */
export interface HttpRbacConfig {
  /** null: no enforcement (every request allowed, nothing counted). */
  readonly rules: RbacRulesConfig | null;
  readonly rulesStatPrefix: string;
  readonly shadowRules: RbacRulesConfig | null;
  readonly shadowRulesStatPrefix: string;
}

/** envoy.extensions.filters.network.rbac.v3.RBAC (non-terminal network filter). */
export interface NetworkRbacConfig {
  readonly kind: 'rbac';
  readonly statPrefix: string;
  readonly rules: RbacRulesConfig | null;
  readonly shadowRules: RbacRulesConfig | null;
  readonly shadowRulesStatPrefix: string;
  /** delay_deny: how long a denied connection is held (not read) before it is closed; 0 = at once. */
  readonly delayDenyMs: number;
}
