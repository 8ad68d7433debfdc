// RequestAuthentication → envoy.filters.http.jwt_authn on a workload's inbound HTTP chain, as Istio
// builds it (pilot/pkg/security/authn: convertToEnvoyJwtConfig). The RequestAuthentications that
// apply: those of the workload's namespace and of the root namespace whose selector matches the
// workload (no selector = all), oldest first; their jwtRules become providers `origins-<i>`. The
// requirement lets a request without a token through (AuthorizationPolicy then decides, e.g. with
// requestPrincipals) and refuses a present but invalid one (401): one provider → requires_any
// [provider, allow_missing]; several → requires_any [each provider, requires_all [requires_any
// [provider, allow_missing] for each]], so a token must be valid for the provider whose location
// it is in. CORS preflights bypass the check. Verified payloads go to dynamic metadata under the
// issuer (`payload_in_metadata: <issuer>`, where the RBAC filters built for AuthorizationPolicy
// read `requestPrincipals` and `request.auth.claims`), with `scope` and `permission` (and the
// rule's spaceDelimitedClaims) split into lists as Istio does. Keys: inline `jwks`, else the keys
// the control plane fetched from `jwksUri` (jwks-resolver.ts), else a key set no token matches.

import type { JWTRule, RequestAuthenticationSpec } from '../../api/request-authentication.js';
import type { ConfigResource } from '../../model.js';
import { labelsMatch, byAge } from '../mesh-index.js';
import type { SecurityContext } from './index.js';
import { UNAVAILABLE_JWKS } from './jwks-resolver.js';

export const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';
const JWT_AUTHN_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
/** Claims Istio always treats as space-delimited lists. */
const SPACE_DELIMITED = ['permission', 'scope'];


/** The RequestAuthentications applying to the proxy's workload, oldest first. */
export function requestAuthenticationsFor(ctx: SecurityContext): ConfigResource<RequestAuthenticationSpec>[] {
  const { proxy, mesh } = ctx;
  return (ctx.index.mesh.configs.filter((c) => c.kind === 'RequestAuthentication') as ConfigResource<RequestAuthenticationSpec>[])
    .filter((c) => (c.metadata.namespace === proxy.namespace || c.metadata.namespace === mesh.rootNamespace)
      && labelsMatch(c.spec.selector?.matchLabels, proxy.labels))
    .sort(byAge);
}

function jwksFor(rule: JWTRule, ctx: SecurityContext): string {
  if (rule.jwks !== undefined) return rule.jwks;
  const got = rule.jwksUri === undefined ? undefined : ctx.index.mesh.jwks?.get(rule.jwksUri);
  return got !== undefined && 'jwks' in got ? got.jwks : UNAVAILABLE_JWKS;
}

function provider(rule: JWTRule, ctx: SecurityContext): Record<string, unknown> {
  const p: Record<string, unknown> = {
    issuer: rule.issuer,
    local_jwks: { inline_string: jwksFor(rule, ctx) },
    forward: rule.forwardOriginalToken === true,
    payload_in_metadata: rule.issuer,
    normalize_payload_in_metadata: { space_delimited_claims: [...new Set([...(rule.spaceDelimitedClaims ?? []), ...SPACE_DELIMITED])].sort() },
  };
  if (rule.audiences !== undefined && rule.audiences.length > 0) p.audiences = [...rule.audiences];
  if (rule.fromHeaders !== undefined && rule.fromHeaders.length > 0) {
    p.from_headers = rule.fromHeaders.map((h) => (h.prefix === undefined ? { name: h.name } : { name: h.name, value_prefix: h.prefix }));
  }
  if (rule.fromParams !== undefined && rule.fromParams.length > 0) p.from_params = [...rule.fromParams];
  if (rule.fromCookies !== undefined && rule.fromCookies.length > 0) p.from_cookies = [...rule.fromCookies];
  if (rule.outputPayloadToHeader !== undefined && rule.outputPayloadToHeader !== '') p.forward_payload_header = rule.outputPayloadToHeader;
  if (rule.outputClaimToHeaders !== undefined && rule.outputClaimToHeaders.length > 0) {
    p.claim_to_headers = rule.outputClaimToHeaders.map((c) => ({ header_name: c.header, claim_name: c.claim }));
  }
  return p;
}

/** The jwt_authn filter config for `rules` (null when there are none). */
export function jwtAuthnConfig(rules: readonly JWTRule[], ctx: SecurityContext): Record<string, unknown> | null {
  if (rules.length === 0) return null;
  const providers: Record<string, unknown> = {};
  const inner: object[] = [];
  const outer: object[] = [];
  rules.forEach((r, i) => {
    const name = `origins-${i}`;
    providers[name] = provider(r, ctx);
    inner.push({ requires_any: { requirements: [{ provider_name: name }, { allow_missing: {} }] } });
    outer.push({ provider_name: name });
  });
  const requires = inner.length === 1 ? inner[0] : { requires_any: { requirements: [...outer, { requires_all: { requirements: inner } }] } };
  return { providers, rules: [{ match: { prefix: '/' }, requires }], bypass_cors_preflight: true };
}

export function jwtHttpFilters(ctx: SecurityContext): object[] {
  const rules = requestAuthenticationsFor(ctx).flatMap((c) => c.spec.jwtRules ?? []);
  const config = jwtAuthnConfig(rules, ctx);
  return config === null ? [] : [{ name: JWT_AUTHN_FILTER, typed_config: { '@type': JWT_AUTHN_TYPE, ...config } }];
}
