// Where envoy.filters.http.jwt_authn finds tokens (Envoy's extractor): headers with an optional
// value prefix (the token starts at the first base64url character after the prefix, which may
// appear anywhere in the value), query parameters (first value), cookies. A provider with no
// location uses the defaults: `Authorization: Bearer <token>` and the `access_token` parameter.
// Each location remembers which issuers named it, so a token found there with another `iss` is
// `Jwt issuer is not configured`. Removal (forward: false) drops the header (every value) or the
// query parameter; a cookie stays (as in Envoy).

import type { StreamInfo } from '../../../stream-info.js';
import type { JwtProviderConfig } from './config.js';

const HEADER = 0;
const PARAM = 1;
const COOKIE = 2;

export class Location {
  /** null = any issuer (a provider without `issuer` names the location). */
  private issuers: Set<string> | null = new Set();

  constructor(readonly kind: number, readonly name: string, readonly prefix: string) {}

  addIssuer(iss: string): void {
    if (iss === '') this.issuers = null;
    else this.issuers?.add(iss);
  }

  allows(iss: string): boolean {
    return this.issuers === null || this.issuers.has(iss);
  }

  get key(): string {
    return `${this.kind}\u0000${this.name}\u0000${this.prefix}`;
  }
}

/** A token and where it was found. */
export interface TokenAt {
  readonly token: string;
  readonly location: Location;
}

function addAll(p: JwtProviderConfig, into: Map<string, Location>): void {
  const add = (kind: number, name: string, prefix: string): void => {
    const l = new Location(kind, name, prefix);
    const existing = into.get(l.key);
    if (existing !== undefined) existing.addIssuer(p.issuer);
    else { l.addIssuer(p.issuer); into.set(l.key, l); }
  };
  for (const h of p.fromHeaders) add(HEADER, h.name, h.valuePrefix);
  for (const q of p.fromParams) add(PARAM, q, '');
  for (const c of p.fromCookies) add(COOKIE, c, '');
  if (p.fromHeaders.length === 0 && p.fromParams.length === 0 && p.fromCookies.length === 0) {
    add(HEADER, 'authorization', 'Bearer ');
    add(PARAM, 'access_token', '');
  }
}

/** One provider's locations. */
export function locationsOf(p: JwtProviderConfig): Location[] {
  const m = new Map<string, Location>();
  addAll(p, m);
  return [...m.values()];
}

/** Every provider's locations, merged (issuers joined). */
export function mergeLocations(providers: readonly JwtProviderConfig[]): Location[] {
  const m = new Map<string, Location>();
  for (const p of providers) addAll(p, m);
  return [...m.values()];
}

/** RFC 4648 §5 base64url characters plus `.`. */
function isTokenChar(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95 || c === 46;
}

/** The token after a prefix: from the first base64url-or-dot character on (the whole value when none). */
function afterPrefix(value: string, from: number): string {
  for (let i = from; i < value.length; i++) if (isTokenChar(value.charCodeAt(i))) return value.slice(i);
  return value;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** Token lookup on one request (query and cookies parsed once, on first need). */
export class Extraction {
  private query: Map<string, string> | null = null;
  private cookies: Map<string, string> | null = null;

  constructor(private readonly info: StreamInfo) {}

  tokens(locations: readonly Location[]): TokenAt[] {
    const out: TokenAt[] = [];
    const hs = this.info.requestHeaders;
    for (const l of locations) {
      switch (l.kind) {
        case HEADER:
          for (let i = 0; i < hs.length; i += 2) {
            if (hs[i] !== l.name) continue;
            const v = hs[i + 1]!;
            if (l.prefix === '') { out.push({ token: v, location: l }); continue; }
            const pos = v.indexOf(l.prefix);
            if (pos >= 0) out.push({ token: afterPrefix(v, pos + l.prefix.length), location: l });
          }
          break;
        case PARAM: {
          const v = this.params().get(l.name);
          if (v !== undefined) out.push({ token: v, location: l });
          break;
        }
        case COOKIE: {
          const v = this.cookieJar().get(l.name);
          if (v !== undefined) out.push({ token: v, location: l });
          break;
        }
      }
    }
    return out;
  }

  /** forward: false — drops the token's header, or its query parameter (cookies stay). */
  remove(t: TokenAt): void {
    const l = t.location;
    if (l.kind === HEADER) {
      const hs = this.info.requestHeaders;
      for (let i = hs.length - 2; i >= 0; i -= 2) if (hs[i] === l.name) hs.splice(i, 2);
    } else if (l.kind === PARAM) {
      const path = this.info.path;
      const q = path.indexOf('?');
      if (q < 0) return;
      const kept = path.slice(q + 1).split('&').filter((kv) => {
        const eq = kv.indexOf('=');
        return decode(eq < 0 ? kv : kv.slice(0, eq)) !== l.name;
      });
      this.info.path = kept.length === 0 ? path.slice(0, q) : `${path.slice(0, q)}?${kept.join('&')}`;
      this.query = null;
    }
  }

  private params(): Map<string, string> {
    if (this.query !== null) return this.query;
    const m = new Map<string, string>();
    const path = this.info.path;
    const q = path.indexOf('?');
    if (q >= 0) {
      let end = path.indexOf('#', q);
      if (end < 0) end = path.length;
      for (const kv of path.slice(q + 1, end).split('&')) {
        if (kv === '') continue;
        const eq = kv.indexOf('=');
        const k = decode(eq < 0 ? kv : kv.slice(0, eq));
        if (!m.has(k)) m.set(k, eq < 0 ? '' : decode(kv.slice(eq + 1)));
      }
    }
    return (this.query = m);
  }

  private cookieJar(): Map<string, string> {
    if (this.cookies !== null) return this.cookies;
    const m = new Map<string, string>();
    const hs = this.info.requestHeaders;
    for (let i = 0; i < hs.length; i += 2) {
      if (hs[i] !== 'cookie') continue;
      for (const part of hs[i + 1]!.split(';')) {
        const eq = part.indexOf('=');
        if (eq < 0) continue;
        const k = part.slice(0, eq).trim();
        let v = part.slice(eq + 1).trim();
        if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
        if (!m.has(k)) m.set(k, v);
      }
    }
    return (this.cookies = m);
  }
}
