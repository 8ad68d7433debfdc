// JSON Web Key Sets for envoy.filters.http.jwt_authn (RFC 7517): parsing a JWKS into key objects
// once per load (local_jwks at config time, remote_jwks per fetch), and the remote JWKS cache of
// one provider: fetched through a cluster with the proxy's async client (src/proxy/http/async-client.ts),
// kept `cache_duration` (Envoy's default 10 min), one fetch in flight shared by every waiting
// request, and the last good keys kept when a refresh fails (Envoy would drop them; Weft keeps
// serving with them and counts jwks_fetch_failed). Keys are imported with node:crypto's JWK
// import; signatures are verified by jose (./verify.ts).

import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import type { Counter } from '../../../../observe/stats.js';
import { AsyncClientError, sendAsync, type ClusterLookup } from '../../../http/async-client.js';
import { STATUS } from './status.js';

/** One usable key of a set. */
export interface Jwk {
  /** '' when the key has no `kid`. */
  readonly kid: string;
  /** '' when the key has no `alg`. */
  readonly alg: string;
  /** RSA, EC, oct or OKP. */
  readonly kty: string;
  readonly key: KeyObject;
}

export interface Jwks {
  readonly keys: readonly Jwk[];
}

/** Pause before requests trigger a new fetch after a failed one, when older keys are in use. */
const FAILED_REFETCH_MS = 1000;

const KTY = new Set(['RSA', 'EC', 'oct', 'OKP']);

/** Parses a JWKS document; the result, or the jwt_verify status text saying why it is unusable. */
export function parseJwks(text: string): Jwks | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return STATUS.JwksParseError;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return STATUS.JwksParseError;
  const keysRaw = (doc as { keys?: unknown }).keys;
  if (keysRaw === undefined) return STATUS.JwksNoKeys;
  if (!Array.isArray(keysRaw)) return STATUS.JwksBadKeys;
  const keys: Jwk[] = [];
  for (const k of keysRaw) {
    const jwk = importJwk(k);
    if (jwk !== null) keys.push(jwk);
  }
  if (keys.length === 0) return STATUS.JwksNoValidKeys;
  return { keys };
}

/** One key, or null when it is not a usable verification key (skipped, as jwt_verify_lib skips them). */
function importJwk(k: unknown): Jwk | null {
  if (typeof k !== 'object' || k === null || Array.isArray(k)) return null;
  const o = k as Record<string, unknown>;
  const kty = o.kty;
  if (typeof kty !== 'string' || !KTY.has(kty)) return null;
  const kid = typeof o.kid === 'string' ? o.kid : '';
  const alg = typeof o.alg === 'string' ? o.alg : '';
  try {
    if (kty === 'oct') {
      if (typeof o.k !== 'string' || o.k === '') return null;
      return { kid, alg, kty, key: createSecretKey(Buffer.from(o.k, 'base64url')) };
    }
    // Public part only: a JWKS never needs (and should never carry) private members.
    const pub: Record<string, unknown> = { kty };
    for (const f of ['n', 'e', 'crv', 'x', 'y']) if (o[f] !== undefined) pub[f] = o[f];
    return { kid, alg, kty, key: createPublicKey({ key: pub as never, format: 'jwk' }) };
  } catch {
    return null;
  }
}

/** Counters a remote JWKS cache reports to (the filter's jwks_fetch_success / jwks_fetch_failed). */
export interface JwksFetchStats {
  readonly jwks_fetch_success: Counter;
  readonly jwks_fetch_failed: Counter;
}

export interface RemoteJwksOptions {
  readonly uri: string;
  readonly cluster: string;
  readonly timeoutMs: number;
  readonly cacheDurationMs: number;
}

/** Splits an http(s) URI into the :authority and path the request carries. */
function uriParts(uri: string): { authority: string; path: string } {
  try {
    const u = new URL(uri);
    return { authority: u.host, path: (u.pathname || '/') + u.search };
  } catch {
    return { authority: '', path: '/' };
  }
}

/**
 * The keys of one remote_jwks provider. cached() answers from a fresh cache; otherwise fetch()
 * starts (or joins) the one fetch in flight. A failed fetch keeps the previous keys (if any) for
 * a short pause before requests try again. No timers: an idle provider fetches nothing, and a
 * replaced filter config leaves nothing running.
 */
export class RemoteJwks {
  private keys: Jwks | null = null;
  private expiresAt = 0;
  private inflight: Promise<Jwks | string> | null = null;
  private readonly authority: string;
  private readonly path: string;

  constructor(private readonly opts: RemoteJwksOptions, private readonly clusters: ClusterLookup, private readonly stats: JwksFetchStats) {
    const p = uriParts(opts.uri);
    this.authority = p.authority;
    this.path = p.path;
  }

  /** Fresh keys, or null when a fetch is needed (then call fetch()). */
  cached(now: number): Jwks | null {
    return this.keys !== null && now < this.expiresAt ? this.keys : null;
  }

  /** The keys after the fetch in flight (started if none); a status text when no keys are known at all. */
  fetch(): Promise<Jwks | string> {
    if (this.inflight !== null) return this.inflight;
    const p = this.doFetch().finally(() => { if (this.inflight === p) this.inflight = null; });
    this.inflight = p;
    return p;
  }

  private async doFetch(): Promise<Jwks | string> {
    let parsed: Jwks | string;
    try {
      const res = await sendAsync(this.clusters, this.opts.cluster, {
        method: 'GET', path: this.path, authority: this.authority, timeoutMs: this.opts.timeoutMs,
        headers: ['accept', 'application/json'],
      });
      parsed = res.status === 200 ? parseJwks(res.body.toString('utf8')) : STATUS.JwksFetchFail;
    } catch (err) {
      if (!(err instanceof AsyncClientError)) throw err;
      parsed = STATUS.JwksFetchFail;
    }
    if (typeof parsed === 'string') {
      this.stats.jwks_fetch_failed.inc();
      if (this.keys === null) return parsed;
      // The last good keys stay in use; requests try a new fetch after a short pause (1 s, as
      // failed_refetch_duration's default) rather than each waiting on a failing server.
      this.expiresAt = Date.now() + Math.min(FAILED_REFETCH_MS, this.opts.cacheDurationMs);
      return this.keys;
    }
    this.stats.jwks_fetch_success.inc();
    this.keys = parsed;
    this.expiresAt = Date.now() + this.opts.cacheDurationMs;
    return parsed;
  }
}
