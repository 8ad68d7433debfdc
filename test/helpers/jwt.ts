// Test helpers for JWT: key pairs (ES256, RS256) as JWKS entries, tokens signed with jose, and a
// JWKS HTTP server on port 0 that counts fetches and can change its keys or fail.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';

export interface TestKey {
  readonly kid: string;
  readonly alg: 'ES256' | 'RS256';
  readonly jwk: JWK;
  readonly privateKey: CryptoKey;
}

export async function makeKey(alg: 'ES256' | 'RS256', kid: string): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, jwk, privateKey };
}

/** A JWKS document (text) holding `keys`. */
export function jwksOf(...keys: TestKey[]): string {
  return JSON.stringify({ keys: keys.map((k) => k.jwk) });
}

const now = (): number => Math.floor(Date.now() / 1000);

/**
 * Signs a token with `key`: `claims` override the defaults (iss, sub, aud, iat, exp in one hour);
 * a claim set to undefined is left out. `kid` overrides the header's kid.
 */
export async function sign(key: TestKey, claims: Record<string, unknown> = {}, o: { kid?: string } = {}): Promise<string> {
  const payload: Record<string, unknown> = { iss: 'https://issuer.example', sub: 'alice', aud: 'weft', iat: now(), exp: now() + 3600, ...claims };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return new SignJWT(payload as JWTPayload).setProtectedHeader({ alg: key.alg, kid: o.kid ?? key.kid, typ: 'JWT' }).sign(key.privateKey);
}

export { now as nowSeconds };

export interface JwksServer {
  readonly port: number;
  /** Fetches served (whatever the answer). */
  fetches(): number;
  /** What the next fetches get: a JWKS text, or an HTTP status to fail with. */
  serve(body: string | number): void;
  close(): Promise<void>;
}

export async function startJwksServer(initial: string): Promise<JwksServer> {
  let body: string | number = initial;
  let count = 0;
  const server = http.createServer((req, res) => {
    count++;
    req.resume();
    if (typeof body === 'number') { res.writeHead(body, { 'content-length': 0 }); res.end(); return; }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    fetches: () => count,
    serve: (b) => { body = b; },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
