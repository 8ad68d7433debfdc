// The CA's part of the control plane's HTTP API (src/control/ca/). Routes that hand out trust or
// credentials answer loopback callers only (403 otherwise), like `weft token create` expects:
//   POST /v1/tokens                     body {namespace, serviceAccount, ttl?: "365d"} → {token, expiresAt}   (loopback)
//   GET  /api/v1/ca/root | /v1/ca/root  → the trust bundle, PEM (signing root first)                      (loopback)
//   GET  /v1/ca/status                  → CaStatus (roots, phase, latest certificate per identity)
//   POST /v1/ca/rotate/{prepare|activate|retire}  prepare's body: {} or {rootCert, rootKey} (PEM)  → CaStatus (loopback)

import type http from 'node:http';
import type { MeshCa } from '../ca/index.js';
import { DEFAULT_TOKEN_TTL_MS } from '../ca/tokens.js';
import { isLoopbackPeer } from '../ca/server.js';

export class CaRouteError extends Error {
  constructor(readonly status: number, message: string, readonly details: readonly string[] = []) { super(message); }
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;
const UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function loopbackOnly(req: http.IncomingMessage, what: string): void {
  const a = req.socket.remoteAddress ?? '';
  if (!isLoopbackPeer(a.includes(':') ? `[${a}]:0` : `${a}:0`)) throw new CaRouteError(403, `${what} is only answered to loopback callers`);
}

function json(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch (e) { throw new CaRouteError(400, 'invalid JSON', [(e as Error).message]); }
  throw new CaRouteError(400, 'expected a JSON object');
}

/** Whether the path is one of the CA routes. */
export function isCaRoute(parts: readonly string[]): boolean {
  return (parts[0] === 'v1' && (parts[1] === 'tokens' || parts[1] === 'ca')) || (parts[0] === 'api' && parts[1] === 'v1' && parts[2] === 'ca');
}

/** Handles a CA route; returns the status and either a JSON value or a PEM text. */
export async function caRoute(ca: MeshCa | undefined, req: http.IncomingMessage, parts: readonly string[], body: Buffer): Promise<{ status: number; value?: unknown; pem?: string }> {
  const method = req.method ?? 'GET';
  if (ca === undefined) throw new CaRouteError(404, 'this control plane runs no CA');
  const p = parts[0] === 'api' ? parts.slice(1) : parts;
  const allow = (m: string) => { if (method !== m) throw new CaRouteError(405, `method ${method} not allowed on /${parts.join('/')}`, [`allowed: ${m}`]); };
  if (p[1] === 'tokens' && p.length === 2) {
    allow('POST');
    loopbackOnly(req, 'token creation');
    const b = json(body);
    const ns = b.namespace, sa = b.serviceAccount ?? b.service_account;
    if (typeof ns !== 'string' || typeof sa !== 'string') throw new CaRouteError(400, 'expected {namespace: string, serviceAccount: string, ttl?: duration}');
    let ttlMs = DEFAULT_TOKEN_TTL_MS;
    if (b.ttl !== undefined) {
      const m = typeof b.ttl === 'string' ? DURATION.exec(b.ttl) : null;
      if (m === null || Number(m[1]) <= 0) throw new CaRouteError(400, `ttl: expected a duration such as 24h or 365d, got ${JSON.stringify(b.ttl)}`);
      ttlMs = Math.round(Number(m[1]) * UNIT[m[2] ?? 's']!);
    }
    try {
      const t = await ca.tokens.create({ namespace: ns, serviceAccount: sa }, ttlMs);
      return { status: 200, value: { token: t.token, expiresAt: t.expiresAt.toISOString(), namespace: ns, serviceAccount: sa } };
    } catch (e) { throw new CaRouteError(400, (e as Error).message); }
  }
  if (p[1] !== 'ca') throw new CaRouteError(404, `no route for /${parts.join('/')}`);
  const rest = p.slice(2);
  if (rest.length === 1 && rest[0] === 'root') {
    allow('GET');
    loopbackOnly(req, 'the trust bundle');
    return { status: 200, pem: ca.bundle.join('') };
  }
  if (rest.length === 1 && rest[0] === 'status') { allow('GET'); return { status: 200, value: ca.status() }; }
  if (rest.length === 2 && rest[0] === 'rotate') {
    allow('POST');
    loopbackOnly(req, 'root rotation');
    try {
      switch (rest[1]) {
        case 'prepare': {
          const b = json(body);
          if ((b.rootCert === undefined) !== (b.rootKey === undefined)) throw new CaRouteError(400, 'give both rootCert and rootKey, or neither');
          if (b.rootCert !== undefined && (typeof b.rootCert !== 'string' || typeof b.rootKey !== 'string')) throw new CaRouteError(400, 'rootCert and rootKey: PEM strings');
          await ca.prepare(b.rootCert === undefined ? undefined : { certPem: b.rootCert as string, keyPem: b.rootKey as string });
          break;
        }
        case 'activate': ca.activate(); break;
        case 'retire': ca.retire(); break;
        default: throw new CaRouteError(404, `unknown rotation step '${rest[1]}'`, ['expected prepare, activate or retire']);
      }
    } catch (e) {
      if (e instanceof CaRouteError) throw e;
      throw new CaRouteError(409, (e as Error).message);
    }
    return { status: 200, value: ca.status() };
  }
  throw new CaRouteError(404, `no route for /${parts.join('/')}`);
}
