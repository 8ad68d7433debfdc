// Security in translation: what a workload's inbound listener enforces (Istio's order on the
// inbound HTTP chain: jwt_authn for RequestAuthentication, ext_authz for CUSTOM AuthorizationPolicy,
// then RBAC for DENY and ALLOW; on TCP chains the network RBAC filter), and how it is reached
// (mTLS: PeerAuthentication, auto mTLS, ISTIO_MUTUAL; see mtls.ts). Each part lives in its own file.

import type { MeshConfig, ProxyInfo } from '../../model.js';
import { DEFAULT_MESH_CONFIG } from '../../model.js';
import type { MeshIndex } from '../mesh-index.js';
import { jwtHttpFilters } from './jwt.js';
import { customHttpFilters, rbacHttpFilters, rbacNetworkFilters } from './authz.js';
// Registers the envoyExtAuthzHttp / envoyExtAuthzGrpc mesh config provider readers.
import './ext-authz.js';

/** Who the inbound listener is built for. */
export interface SecurityContext {
  readonly index: MeshIndex;
  readonly proxy: ProxyInfo;
  readonly mesh: MeshConfig;
  /** The inbound port (the service's target port the chain serves). */
  readonly port: number;
}

export function meshConfigOf(index: MeshIndex): MeshConfig {
  return index.mesh.meshConfig ?? DEFAULT_MESH_CONFIG;
}

/** The HTTP filters before fault/CORS/router on a workload's inbound HCM, in Istio's order. */
export function inboundHttpSecurityFilters(ctx: SecurityContext): object[] {
  return [...jwtHttpFilters(ctx), ...customHttpFilters(ctx), ...rbacHttpFilters(ctx)];
}

/** The network filters before tcp_proxy on a workload's inbound TCP chain. */
export function inboundNetworkSecurityFilters(ctx: SecurityContext): object[] {
  return rbacNetworkFilters(ctx);
}
