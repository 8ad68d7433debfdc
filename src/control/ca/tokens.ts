// Workload tokens for Weft's CA: how a sidecar proves its identity when it asks for a certificate
// (the role Kubernetes service account tokens play for istiod). ES256 JWTs (RFC 7519, via `jose`)
// with `iss: weft-control`, `aud: weft-ca`, `sub: system:serviceaccount:<ns>:<sa>` (Kubernetes'
// form), signed by a key kept in `<data-dir>/ca/token-key.pem` (mode 0600; in memory without a data dir).

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';

export const TOKEN_ISSUER = 'weft-control';
export const TOKEN_AUDIENCE = 'weft-ca';
export const DEFAULT_TOKEN_TTL_MS = 365 * 24 * 3_600_000;

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const SUB = /^system:serviceaccount:([^:]+):([^:]+)$/;

export interface TokenIdentity { readonly namespace: string; readonly serviceAccount: string }

export class TokenIssuer {
  readonly #key: KeyObject;
  readonly #pub: KeyObject;

  private constructor(key: KeyObject) { this.#key = key; this.#pub = createPublicKey(key); }

  /** The key from `<dataDir>/ca/token-key.pem` (made on first use), or an ephemeral one. */
  static open(dataDir: string | undefined): TokenIssuer {
    if (dataDir === undefined) return new TokenIssuer(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    const dir = join(dataDir, 'ca');
    const file = join(dir, 'token-key.pem');
    if (existsSync(file)) return new TokenIssuer(createPrivateKey(readFileSync(file, 'utf8')));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    writeFileSync(`${file}.tmp`, key.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
    return new TokenIssuer(key);
  }

  /** A token for (namespace, service account), valid `ttlMs`. */
  async create(id: TokenIdentity, ttlMs = DEFAULT_TOKEN_TTL_MS): Promise<{ token: string; expiresAt: Date }> {
    for (const [what, v] of [['namespace', id.namespace], ['service account', id.serviceAccount]] as const) {
      if (!NAME.test(v)) throw new Error(`${what} '${v}' is not a valid name (lower-case letters, digits, '-', '.')`);
    }
    const now = Math.floor(Date.now() / 1000);
    const exp = now + Math.max(1, Math.floor(ttlMs / 1000));
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .setIssuer(TOKEN_ISSUER).setAudience(TOKEN_AUDIENCE)
      .setSubject(`system:serviceaccount:${id.namespace}:${id.serviceAccount}`)
      .setIssuedAt(now).setExpirationTime(exp)
      .sign(this.#key);
    return { token, expiresAt: new Date(exp * 1000) };
  }

  /** The identity a token proves; throws with the reason (expired, bad signature, wrong audience...). */
  async verify(token: string): Promise<TokenIdentity> {
    const { payload } = await jwtVerify(token, this.#pub, { issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, algorithms: ['ES256'] });
    const m = SUB.exec(payload.sub ?? '');
    if (m === null) throw new Error(`token subject '${payload.sub}' is not system:serviceaccount:<namespace>:<service account>`);
    return { namespace: m[1]!, serviceAccount: m[2]! };
  }
}
