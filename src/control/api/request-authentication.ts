// RequestAuthentication validation (security.istio.io/v1 RequestAuthentication,
// istio.io/latest/docs/reference/config/security/request_authentication/): a workload `selector`
// and `jwtRules` (issuer, audiences, jwksUri or inline jwks, token locations, forwarding and output
// options, fetch timeout), checked as Istio's validation does (issuer required, jwksUri an http(s)
// URL, jwks parsing into usable keys, non-empty locations, outputClaimToHeaders with header names).
// `targetRef` / `targetRefs` (Gateway API attachment) are refused: Weft has no Gateway API yet.

import { parseJwks } from '../../proxy/filters/http/jwt-authn/jwks.js';
import {
  bool, duration, isObject, labelMap, list, nonEmptyStr, notYet, notYetText, required, shape, str, type Ctx, type Field,
} from './common.js';
import type { Duration } from './types.js';

export interface JwtHeaderLocation {
  readonly name: string;
  readonly prefix?: string;
}

export interface ClaimToHeader {
  readonly header: string;
  readonly claim: string;
}

export interface JWTRule {
  readonly issuer: string;
  readonly audiences?: readonly string[];
  readonly jwksUri?: string;
  readonly jwks?: string;
  readonly fromHeaders?: readonly JwtHeaderLocation[];
  readonly fromParams?: readonly string[];
  readonly fromCookies?: readonly string[];
  readonly forwardOriginalToken?: boolean;
  readonly outputPayloadToHeader?: string;
  readonly outputClaimToHeaders?: readonly ClaimToHeader[];
  readonly spaceDelimitedClaims?: readonly string[];
  /** How long the control plane waits for jwksUri (Istio's default 5 s). */
  readonly timeout?: Duration;
}

export interface RequestAuthenticationSpec {
  readonly selector?: { readonly matchLabels?: Readonly<Record<string, string>> };
  readonly jwtRules?: readonly JWTRule[];
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const headerName: Field<string> = (v, p, c) =>
  typeof v === 'string' && HEADER_NAME.test(v) ? v : (c.expected(p, 'a header name', v), undefined);

const jwksUri: Field<string> = (v, p, c) => {
  if (typeof v !== 'string') return c.expected(p, 'an http:// or https:// URL', v), undefined;
  try {
    const u = new URL(v);
    if ((u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '') return v;
  } catch { /* reported below */ }
  return c.expected(p, 'an http:// or https:// URL', v), undefined;
};

const jwks: Field<string> = (v, p, c) => {
  if (typeof v !== 'string' || v === '') return c.expected(p, 'a JWKS document (JSON text)', v), undefined;
  const parsed = parseJwks(v);
  if (typeof parsed === 'string') return c.fail(p, `expected a JWKS with at least one usable key (${parsed})`), undefined;
  return v;
};

const headerLocation: Field<JwtHeaderLocation> = (v, p, c) => {
  const o = shape(c, v, p, { name: headerName, prefix: str });
  if (o === undefined || !required(c, v, p, 'name', 'a header name') || o.name === undefined) return undefined;
  return o.prefix === undefined ? { name: o.name } : { name: o.name, prefix: o.prefix };
};

const claimToHeader: Field<ClaimToHeader> = (v, p, c) => {
  const o = shape(c, v, p, { header: headerName, claim: nonEmptyStr });
  if (o === undefined) return undefined;
  const h = required(c, v, p, 'header', 'a header name');
  const cl = required(c, v, p, 'claim', 'a claim name');
  if (!h || !cl || o.header === undefined || o.claim === undefined) return undefined;
  return { header: o.header, claim: o.claim };
};

const jwtRule: Field<JWTRule> = (v, p, c) => {
  const o = shape(c, v, p, {
    issuer: nonEmptyStr,
    audiences: list(nonEmptyStr),
    jwksUri,
    jwks,
    fromHeaders: list(headerLocation),
    fromParams: list(nonEmptyStr),
    fromCookies: list(nonEmptyStr),
    forwardOriginalToken: bool,
    outputPayloadToHeader: headerName,
    outputClaimToHeaders: list(claimToHeader),
    spaceDelimitedClaims: list(nonEmptyStr),
    timeout: duration(1),
  });
  if (o === undefined) return undefined;
  if (!required(c, v, p, 'issuer', 'a non-empty string') || o.issuer === undefined) return undefined;
  if (isObject(v) && v.jwksUri == null && v.jwks == null) {
    // Istio would look the keys up by OpenID discovery from the issuer.
    c.fail(p, notYetText('keys found by OpenID discovery from the issuer; set jwksUri or jwks'));
    return undefined;
  }
  return o as JWTRule;
};

const selector: Field<{ matchLabels?: Record<string, string> }> = (v, p, c) => {
  const o = shape(c, v, p, { matchLabels: labelMap });
  return o === undefined ? undefined : o;
};

export function validateRequestAuthentication(spec: unknown, c: Ctx): RequestAuthenticationSpec | undefined {
  const o = shape(c, spec, 'spec', {
    selector,
    jwtRules: list(jwtRule),
    targetRef: notYet('Gateway API attachment; use selector'),
    targetRefs: notYet('Gateway API attachment; use selector'),
  });
  if (o === undefined) return undefined;
  return o as RequestAuthenticationSpec;
}
