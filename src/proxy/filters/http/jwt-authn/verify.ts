// The verification core of envoy.filters.http.jwt_authn, as Envoy's authenticator and
// jwt_verify_lib do it: a token is parsed (three base64url parts, JSON header with a known `alg`,
// JSON payload with typed registered claims), its issuer checked against the location it came
// from, then `nbf`/`exp` (with clock_skew_seconds), the audiences (`http(s)://` and a trailing `/`
// ignored, as jwt_verify_lib's CheckAudience), and last the signature against the provider's keys
// (a key is a candidate when its kid and alg agree with the token's; jose verifies). The first
// failing check names the outcome (./status.ts).

import { compactVerify } from 'jose';
import type { KeyObject } from 'node:crypto';
import type { Jwk, Jwks } from './jwks.js';
import { STATUS, type Status } from './status.js';

export interface ParsedJwt {
  readonly token: string;
  readonly alg: string;
  readonly kid: string;
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  /** The payload part as received (base64url, no padding). */
  readonly payloadPart: string;
  readonly iss: string;
  readonly audiences: readonly string[];
  /** 0 = not set. */
  readonly exp: number;
  readonly nbf: number;
}

/** The algorithms jwt_verify_lib implements (anything else: `Jwt header [alg] field value is invalid`). */
const ALGS = new Set([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512', 'EdDSA',
]);

const B64URL = /^[A-Za-z0-9_-]*={0,2}$/;

function decodeJson(part: string): Record<string, unknown> | null {
  if (!B64URL.test(part)) return null;
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function isIntClaim(v: unknown): boolean {
  return v === undefined || (typeof v === 'number' && Number.isInteger(v) && v >= 0);
}

/** Parses a compact JWS; the token, or the status saying what is wrong with its form. */
export function parseJwt(token: string): ParsedJwt | Status {
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (first < 0 || second < 0 || token.indexOf('.', second + 1) >= 0) return STATUS.JwtBadFormat;
  const header = decodeJson(token.slice(0, first));
  if (header === null) return STATUS.JwtHeaderParseError;
  const alg = header.alg;
  if (typeof alg !== 'string') return STATUS.JwtHeaderBadAlg;
  if (!ALGS.has(alg)) return STATUS.JwtHeaderNotImplementedAlg;
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== 'string') return STATUS.JwtHeaderBadKid;
  const payloadPart = token.slice(first + 1, second);
  const payload = decodeJson(payloadPart);
  if (payload === null) return STATUS.JwtPayloadParseError;
  const { iss, sub, aud, exp, nbf, iat, jti } = payload;
  if ((iss !== undefined && typeof iss !== 'string') || (sub !== undefined && typeof sub !== 'string')
      || (jti !== undefined && typeof jti !== 'string') || !isIntClaim(exp) || !isIntClaim(nbf) || !isIntClaim(iat)) {
    return STATUS.JwtPayloadParseError;
  }
  let audiences: string[];
  if (aud === undefined) audiences = [];
  else if (typeof aud === 'string') audiences = [aud];
  else if (Array.isArray(aud) && aud.every((a) => typeof a === 'string')) audiences = aud as string[];
  else return STATUS.JwtPayloadParseError;
  if (!B64URL.test(token.slice(second + 1))) return STATUS.JwtSignatureParseError;
  return {
    token, alg, kid: kid ?? '', header, payload, payloadPart, iss: iss ?? '', audiences,
    exp: (exp as number | undefined) ?? 0, nbf: (nbf as number | undefined) ?? 0,
  };
}

/** jwt_verify_lib's audience normal form: no http:// or https:// prefix, no trailing slash. */
export function sanitizeAudience(aud: string): string {
  let a = aud;
  if (a.startsWith('http://')) a = a.slice(7);
  else if (a.startsWith('https://')) a = a.slice(8);
  if (a.endsWith('/')) a = a.slice(0, -1);
  return a;
}

/** An allowed-audience set (empty = not checked). */
export class Audiences {
  private readonly allowed: ReadonlySet<string>;
  constructor(list: readonly string[]) {
    this.allowed = new Set(list.map(sanitizeAudience));
  }

  allows(audiences: readonly string[]): boolean {
    if (this.allowed.size === 0) return true;
    for (const a of audiences) if (this.allowed.has(sanitizeAudience(a))) return true;
    return false;
  }
}

/** Time constraints with the provider's skew: `exp` (0 = none) and `nbf`. */
export function checkTime(jwt: ParsedJwt, nowSeconds: number, skewSeconds: number): Status {
  if (jwt.nbf !== 0 && jwt.nbf > nowSeconds + skewSeconds) return STATUS.JwtNotYetValid;
  if (jwt.exp !== 0 && nowSeconds > jwt.exp + skewSeconds) return STATUS.JwtExpired;
  return STATUS.Ok;
}

function ktyFits(jwk: Jwk, alg: string): boolean {
  switch (alg.charCodeAt(0)) {
    case 82: /* R */ case 80: /* P */ return jwk.kty === 'RSA';
    case 69: /* E */ return alg === 'EdDSA' ? jwk.kty === 'OKP' : jwk.kty === 'EC';
    case 72: /* H */ return jwk.kty === 'oct';
    default: return false;
  }
}

/**
 * Verifies the signature with the candidate keys (kid and alg agreeing with the token's);
 * `Jwks doesn't have key to match kid or alg from Jwt` when there is none.
 */
export async function verifySignature(jwt: ParsedJwt, jwks: Jwks): Promise<Status> {
  let candidates = 0;
  for (const jwk of jwks.keys) {
    if (jwt.kid !== '' && jwk.kid !== '' && jwk.kid !== jwt.kid) continue;
    if (jwk.alg !== '' && jwk.alg !== jwt.alg) continue;
    if (!ktyFits(jwk, jwt.alg)) continue;
    candidates++;
    if (await verifyWith(jwt, jwk.key)) return STATUS.Ok;
  }
  return candidates === 0 ? STATUS.JwksKidAlgMismatch : STATUS.JwtVerificationFail;
}

async function verifyWith(jwt: ParsedJwt, key: KeyObject): Promise<boolean> {
  try {
    await compactVerify(jwt.token, key, { algorithms: [jwt.alg] });
    return true;
  } catch {
    return false;
  }
}
