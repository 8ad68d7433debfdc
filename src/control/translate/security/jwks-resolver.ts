// The control plane's JWKS resolver (Istio's istiod JwksResolver, PILOT_JWT_ENABLE_REMOTE_JWKS=istiod
// mode): RequestAuthentication `jwksUri`s are fetched by the control plane and the keys inlined into
// the jwt_authn filter (local_jwks), so sidecars need no cluster to the key server. Each URI is
// fetched on first need, refreshed every 20 minutes (Istio's default), keeps its last good keys when
// a refresh fails, and is forgotten after a day without use. A new or changed key set calls
// `onChange` (the mesh then builds a new snapshot and pushes). Failures are logged; until a URI has
// keys, the filter gets a key set that matches no token (every token of that issuer is refused,
// as Istio's fake JWKS does).

import { generateKeyPairSync } from 'node:crypto';
import { createLogger } from '../../../observe/logger.js';
import { parseJwks } from '../../../proxy/filters/http/jwt-authn/jwks.js';
import type { JWTRule, RequestAuthenticationSpec } from '../../api/request-authentication.js';
import type { ConfigResource } from '../../model.js';

const log = createLogger('jwks');

export const JWKS_REFRESH_MS = 20 * 60_000;
const EVICT_AFTER_MS = 24 * 3_600_000;
const DEFAULT_TIMEOUT_MS = 5000;

/** A key set no token can match: a fresh P-256 public key whose private half is thrown away. */
export const UNAVAILABLE_JWKS: string = (() => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'weft-jwks-unavailable', alg: 'ES256' }] });
})();

interface Entry {
  jwks: string | null;
  error: string | null;
  lastUsed: number;
  fetchedAt: number;
  inflight: boolean;
  timeoutMs: number;
}

/** What the snapshot carries per jwksUri: the keys (JSON text), or why there are none yet. */
export type ResolvedJwks = { readonly jwks: string } | { readonly error: string };

/** The jwksUris the RequestAuthentications need fetched (rules with inline jwks need none), with their timeouts. */
export function jwksUrisOf(configs: readonly ConfigResource[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of configs) {
    if (c.kind !== 'RequestAuthentication') continue;
    for (const r of (c.spec as RequestAuthenticationSpec).jwtRules ?? []) {
      const rule: JWTRule = r;
      if (rule.jwksUri !== undefined && rule.jwks === undefined) out.set(rule.jwksUri, rule.timeout?.ms ?? DEFAULT_TIMEOUT_MS);
    }
  }
  return out;
}

export class JwksResolver {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly onChange: () => void, private readonly refreshMs = JWKS_REFRESH_MS) {}

  /** The known state of each URI (a fetch starts for the unknown ones). */
  resolve(uris: ReadonlyMap<string, number>): ReadonlyMap<string, ResolvedJwks> {
    const out = new Map<string, ResolvedJwks>();
    const now = Date.now();
    for (const [uri, timeoutMs] of uris) {
      let e = this.entries.get(uri);
      if (e === undefined) {
        e = { jwks: null, error: 'not fetched yet', lastUsed: now, fetchedAt: 0, inflight: false, timeoutMs };
        this.entries.set(uri, e);
        void this.fetch(uri, e);
      }
      e.lastUsed = now;
      e.timeoutMs = timeoutMs;
      out.set(uri, e.jwks !== null ? { jwks: e.jwks } : { error: e.error ?? 'not fetched yet' });
    }
    if (this.entries.size > 0) this.arm();
    return out;
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.entries.clear();
  }

  private arm(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => { this.timer = null; this.refresh(); }, this.refreshMs);
    this.timer.unref();
  }

  private refresh(): void {
    const now = Date.now();
    for (const [uri, e] of this.entries) {
      if (now - e.lastUsed > EVICT_AFTER_MS) { this.entries.delete(uri); continue; }
      void this.fetch(uri, e);
    }
    if (this.entries.size > 0) this.arm();
  }

  private async fetch(uri: string, e: Entry): Promise<void> {
    if (e.inflight) return;
    e.inflight = true;
    let text: string | null = null;
    let error: string | null = null;
    try {
      const res = await fetch(uri, { signal: AbortSignal.timeout(e.timeoutMs || DEFAULT_TIMEOUT_MS), headers: { accept: 'application/json' } });
      const body = await res.text();
      if (!res.ok) error = `HTTP ${res.status}`;
      else {
        const parsed = parseJwks(body);
        if (typeof parsed === 'string') error = parsed;
        else text = body;
      }
    } catch (err) {
      error = (err as Error).message;
    } finally {
      e.inflight = false;
    }
    if (this.entries.get(uri) !== e) return; // closed or evicted meanwhile
    if (text === null) {
      log.warn('jwksUri %s: fetch failed (%s)%s', uri, error, e.jwks !== null ? '; keeping the last good keys' : '; tokens of this issuer are refused until it succeeds');
      if (e.jwks === null && e.error !== error) { e.error = error; }
      return;
    }
    e.fetchedAt = Date.now();
    e.error = null;
    if (text !== e.jwks) {
      e.jwks = text;
      log.info('jwksUri %s: keys %s', uri, e.fetchedAt === 0 ? 'fetched' : 'updated');
      this.onChange();
    }
  }
}
