// The JWT authentication HTTP filter, envoy.filters.http.jwt_authn
// (envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication, Envoy's
// configuration/http/http_filters/jwt_authn_filter). The requirement of a request comes from the
// route's PerRouteConfig (requirement_name / disabled), else from the first matching `rules`
// entry; requests no rule matches pass. Requirements: provider_name, provider_and_audiences,
// requires_any (allow_missing / allow_missing_or_failed inside it are flags, as Envoy builds it),
// requires_all, and allow_missing / allow_missing_or_failed on their own (every provider's
// locations, provider found by `iss`). A request waits (STOP) while keys are fetched or signatures
// checked, then continues or gets Envoy's answer: 401 (403 for a wrong audience) with the
// jwt_verify text as body, `www-authenticate: Bearer realm="<uri>"` (plus `, error="invalid_token"`
// unless the token is missing), response code details `jwt_authn_access_denied{<text>}`; gRPC
// requests get UNAUTHENTICATED / PERMISSION_DENIED. A verified token: payload (and header) into
// dynamic metadata `envoy.filters.http.jwt_authn`, forward_payload_header, claim_to_headers, and,
// unless `forward`, the token removed from its header or query parameter. Stats:
// http.<prefix>.jwt_authn.{allowed,denied,cors_preflight_bypassed,jwks_fetch_success,jwks_fetch_failed}.
// Differences from Envoy: a present token that fails under a lone allow_missing always fails (Envoy
// lets a later good token win, by order); remote keys stay in use after a failed refresh; the
// verified-token cache (jwt_cache_config) is always on (at least 100 tokens, as Envoy's default size).

import type { JwtAuthnConfig, PerFilterConfig } from '../../../config/types.js';
import type { Counter, StatsStore } from '../../../../observe/stats.js';
import type { ClusterLookup } from '../../../http/async-client.js';
import { compileRouteTable, type CompiledRoute, type RouteTable } from '../../../router/route-table.js';
import { CONTINUE, DISABLED, resolvePerRoute, STOP, type FilterStatus, type FilterStream, type HttpFilter, type HttpFilterFactory } from '../filter.js';
import type { JwtProviderConfig, JwtRequirementConfig } from './config.js';
import { parseJwks, RemoteJwks, type Jwks } from './jwks.js';
import { Extraction, locationsOf, mergeLocations, type Location, type TokenAt } from './extract.js';
import { STATUS, type Status } from './status.js';
import { Audiences, checkTime, parseJwt, verifySignature, type ParsedJwt } from './verify.js';

export const JWT_AUTHN_METADATA_NAMESPACE = 'envoy.filters.http.jwt_authn';
const MAX_URI_PATH = 256;

export class JwtAuthnStats {
  readonly allowed: Counter;
  readonly denied: Counter;
  readonly cors_preflight_bypassed: Counter;
  readonly jwks_fetch_success: Counter;
  readonly jwks_fetch_failed: Counter;
  constructor(store: StatsStore, prefix: string) {
    const labels = { envoy_http_conn_manager_prefix: prefix };
    const c = (n: string): Counter => store.counter(`http.${prefix}.jwt_authn.${n}`, `http_jwt_authn_${n}`, labels);
    this.allowed = c('allowed');
    this.denied = c('denied');
    this.cors_preflight_bypassed = c('cors_preflight_bypassed');
    this.jwks_fetch_success = c('jwks_fetch_success');
    this.jwks_fetch_failed = c('jwks_fetch_failed');
  }
}

/** One provider at run time: its locations, audiences and keys. */
class Provider {
  readonly audiences: Audiences;
  readonly locations: readonly Location[];
  private readonly local: Jwks | string | null;
  private readonly remote: RemoteJwks | null;

  constructor(readonly name: string, readonly cfg: JwtProviderConfig, clusters: ClusterLookup, stats: JwtAuthnStats) {
    this.audiences = new Audiences(cfg.audiences);
    this.locations = locationsOf(cfg);
    if (cfg.jwks.kind === 'local') {
      this.local = parseJwks(cfg.jwks.jwks);
      this.remote = null;
    } else {
      this.local = null;
      this.remote = new RemoteJwks(cfg.jwks, clusters, stats);
      if (cfg.jwks.asyncFetch) void this.remote.fetch();
    }
  }

  /** The keys in use right now without fetching (null when a fetch is due). */
  currentKeys(): Jwks | null {
    if (this.local !== null) return typeof this.local === 'string' ? null : this.local;
    return this.remote!.cached(Date.now());
  }

  /** The keys now (sync) when known and fresh, else a promise of them (or of the failure). */
  keys(): Jwks | string | Promise<Jwks | string> {
    if (this.local !== null) return this.local;
    return this.remote!.cached(Date.now()) ?? this.remote!.fetch();
  }
}

const K_PROVIDER = 0;
const K_ANY = 1;
const K_ALL = 2;
const K_ALL_PROVIDERS = 3;

/** A compiled requirement. */
type Node =
  | { readonly k: typeof K_PROVIDER; readonly provider: Provider; readonly audiences: Audiences | null }
  | { readonly k: typeof K_ANY; readonly children: readonly Node[]; readonly allowMissing: boolean; readonly allowFailed: boolean }
  | { readonly k: typeof K_ALL; readonly children: readonly Node[] }
  /** allow_missing (allowFailed false) or allow_missing_or_failed, on its own: every provider's locations. */
  | { readonly k: typeof K_ALL_PROVIDERS; readonly allowFailed: boolean };

/** What one request is checked against: the requirement and the headers cleared before checking. */
class Requirement {
  constructor(readonly node: Node, readonly sanitize: readonly string[]) {}
}

/** A per-route requirement_name the filter does not know: 403 (Envoy's answer). */
class BadRequirementName {
  constructor(readonly message: string) {}
}

/** A token whose signature checked out, with what it was checked against. */
interface Verified {
  readonly jwt: ParsedJwt;
  readonly provider: Provider;
  readonly keys: Jwks;
}

/** Verified tokens kept (Envoy's jwt_cache_size default): a keep-alive client's token is checked once. */
const DEFAULT_VERIFIED_CACHE = 100;

export class JwtAuthnFilterFactory implements HttpFilterFactory {
  readonly stats: JwtAuthnStats;
  /**
   * Tokens whose signature verified, by token text (insertion order = eviction order). A hit skips
   * parsing and the signature, never the issuer, time and audience checks; it counts only while
   * the provider's keys are the ones that verified it.
   */
  private readonly verified = new Map<string, Verified>();
  private readonly verifiedMax: number;
  readonly providers = new Map<string, Provider>();
  /** Providers in the order written: the issuer lookup of allow_missing takes the first. */
  private readonly providerList: Provider[] = [];
  readonly allLocations: readonly Location[];
  private readonly rules: RouteTable | null;
  private readonly ruleRequirements: readonly (Requirement | null)[];
  private readonly perRoute: Map<CompiledRoute, Requirement | BadRequirementName | typeof DISABLED>;
  readonly bypassCors: boolean;
  readonly stripFailureResponse: boolean;

  constructor(readonly name: string, config: JwtAuthnConfig, routes: RouteTable, store: StatsStore, statPrefix: string, clusters: ClusterLookup) {
    this.stats = new JwtAuthnStats(store, statPrefix);
    this.bypassCors = config.bypassCorsPreflight;
    this.stripFailureResponse = config.stripFailureResponse;
    for (const [pname, p] of config.providers) {
      const provider = new Provider(pname, p, clusters, this.stats);
      this.providers.set(pname, provider);
      this.providerList.push(provider);
    }
    this.allLocations = mergeLocations([...config.providers.values()]);
    this.verifiedMax = Math.max(DEFAULT_VERIFIED_CACHE, ...[...config.providers.values()].map((p) => p.jwtCacheSize));
    this.ruleRequirements = config.rules.map((r) => (r.requires === null ? null : this.requirement(r.requires)));
    this.rules = config.rules.length === 0 ? null : compileRouteTable({
      name: 'jwt_authn_rules', ...NO_MUTATIONS,
      virtualHosts: [{
        name: 'rules', domains: ['*'], retryPolicy: null, ...NO_MUTATIONS,
        routes: config.rules.map((r, i) => ({
          name: String(i), match: r.match, action: { kind: 'direct_response', status: 200, body: null }, ...NO_MUTATIONS,
        })),
      }],
    });
    const named = new Map<string, Requirement>();
    for (const [n, r] of config.requirementMap) named.set(n, this.requirement(r));
    const known = [...config.requirementMap.keys()].join(',');
    this.perRoute = resolvePerRoute(routes, name, (levels: readonly PerFilterConfig[]) => {
      const top = levels[0];
      if (top === undefined || top.kind !== 'jwt_authn') return null;
      if (top.disabled) return DISABLED;
      return named.get(top.requirementName)
        ?? new BadRequirementName(`Wrong requirement_name: ${top.requirementName}. It should be one of [${known}]`);
    });
  }

  private requirement(r: JwtRequirementConfig): Requirement {
    const used = new Set<Provider>();
    const node = this.compile(r, used);
    const sanitize = new Set<string>();
    for (const p of used) {
      if (p.cfg.forwardPayloadHeader !== '') sanitize.add(p.cfg.forwardPayloadHeader);
      for (const c of p.cfg.claimToHeaders) sanitize.add(c.headerName);
    }
    return new Requirement(node, [...sanitize]);
  }

  private compile(r: JwtRequirementConfig, used: Set<Provider>): Node {
    switch (r.kind) {
      case 'provider': {
        const provider = this.providers.get(r.provider)!; // the decoder checked the name
        used.add(provider);
        return { k: K_PROVIDER, provider, audiences: r.audiences === null ? null : new Audiences(r.audiences) };
      }
      case 'requires_all':
        return { k: K_ALL, children: r.requirements.map((c) => this.compile(c, used)) };
      case 'requires_any': {
        const allowMissing = r.requirements.some((c) => c.kind === 'allow_missing');
        const allowFailed = r.requirements.some((c) => c.kind === 'allow_missing_or_failed');
        const children = r.requirements.filter((c) => c.kind !== 'allow_missing' && c.kind !== 'allow_missing_or_failed');
        return { k: K_ANY, children: children.map((c) => this.compile(c, used)), allowMissing, allowFailed };
      }
      case 'allow_missing':
      case 'allow_missing_or_failed':
        for (const p of this.providerList) used.add(p);
        return { k: K_ALL_PROVIDERS, allowFailed: r.kind === 'allow_missing_or_failed' };
    }
  }

  /** A verified token still valid for `provider` (any when null) with its current keys. */
  verifiedToken(token: string, provider: Provider | null): Verified | null {
    const v = this.verified.get(token);
    if (v === undefined) return null;
    if ((provider !== null && v.provider !== provider) || v.provider.currentKeys() !== v.keys) return null;
    return v;
  }

  rememberVerified(token: string, v: Verified): void {
    if (this.verifiedMax === 0) return;
    this.verified.delete(token);
    this.verified.set(token, v);
    if (this.verified.size > this.verifiedMax) this.verified.delete(this.verified.keys().next().value!);
  }

  /** allow_missing's provider lookup: the first with this issuer, else the first without one. */
  providerByIssuer(iss: string): Provider | null {
    let anyIssuer: Provider | null = null;
    for (const p of this.providerList) {
      if (p.cfg.issuer === iss) return p;
      if (p.cfg.issuer === '' && anyIssuer === null) anyIssuer = p;
    }
    return anyIssuer;
  }

  create(route: CompiledRoute | null): HttpFilter | null {
    if (route !== null) {
      const r = this.perRoute.get(route);
      if (r === DISABLED) return null;
      if (r !== undefined) return new JwtAuthnStream(this, r);
    }
    return this.rules === null ? null : new JwtAuthnStream(this, null);
  }

  /** The requirement of the first rule matching the request; null when none applies. */
  ruleFor(stream: FilterStream): Requirement | null {
    const info = stream.info;
    const m = this.rules!.match({ authority: info.authority, path: info.path, method: info.method, headers: info.requestHeaders });
    return m === null ? null : this.ruleRequirements[Number(m.route.name)] ?? null;
  }
}

const NO_MUTATIONS = { requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [] };

function isCorsPreflight(stream: FilterStream): boolean {
  if (stream.info.method !== 'OPTIONS') return false;
  let origin = false;
  let acrm = false;
  const hs = stream.info.requestHeaders;
  for (let i = 0; i < hs.length; i += 2) {
    if (hs[i] === 'origin' && hs[i + 1] !== '') origin = true;
    else if (hs[i] === 'access-control-request-method' && hs[i + 1] !== '') acrm = true;
  }
  return origin && acrm;
}

/** One request's verification. */
class JwtAuthnStream implements HttpFilter {
  private stream: FilterStream | null = null;
  private destroyed = false;
  private extraction: Extraction | null = null;

  constructor(private readonly owner: JwtAuthnFilterFactory, private readonly perRoute: Requirement | BadRequirementName | null) {}

  onRequestHeaders(stream: FilterStream): FilterStatus {
    const owner = this.owner;
    if (owner.bypassCors && isCorsPreflight(stream)) {
      owner.stats.cors_preflight_bypassed.inc();
      owner.stats.allowed.inc();
      return CONTINUE;
    }
    const pr = this.perRoute;
    if (pr instanceof BadRequirementName) {
      owner.stats.denied.inc();
      stream.sendLocalReply(403, owner.stripFailureResponse ? '' : `Failed JWT authentication: ${pr.message}`, '',
        details(pr.message), 7);
      return STOP;
    }
    const req = pr ?? owner.ruleFor(stream);
    if (req === null) {
      owner.stats.allowed.inc();
      return CONTINUE;
    }
    const hs = stream.info.requestHeaders;
    for (const h of req.sanitize) removeHeader(hs, h);
    this.stream = stream;
    this.extraction = new Extraction(stream.info);
    const p = this.evaluate(req.node);
    void p.then((status) => this.done(status), () => this.done(STATUS.JwtVerificationFail));
    return STOP;
  }

  private done(status: Status): void {
    const stream = this.stream;
    this.stream = null;
    this.extraction = null;
    if (this.destroyed || stream === null) return;
    const owner = this.owner;
    if (status === STATUS.Ok) {
      owner.stats.allowed.inc();
      stream.continueRequest();
      return;
    }
    owner.stats.denied.inc();
    const audience = status === STATUS.JwtAudienceNotAllowed;
    const code = audience ? 403 : 401;
    const grpc = audience ? 7 /* PERMISSION_DENIED */ : 16 /* UNAUTHENTICATED */;
    if (owner.stripFailureResponse) {
      stream.sendLocalReply(code, '', '', details(status), grpc);
      return;
    }
    let challenge = `Bearer realm="${originalUri(stream)}"`;
    if (status !== STATUS.JwtMissed) challenge += ', error="invalid_token"';
    stream.sendLocalReply(code, status, '', details(status), grpc, ['www-authenticate', challenge]);
  }

  private async evaluate(node: Node): Promise<Status> {
    switch (node.k) {
      case K_PROVIDER: {
        const tokens = this.extraction!.tokens(node.provider.locations);
        if (tokens.length === 0) return STATUS.JwtMissed;
        for (const t of tokens) {
          const s = await this.verifyToken(t, node.provider, node.audiences);
          if (s !== STATUS.Ok) return s;
        }
        return STATUS.Ok;
      }
      case K_ALL_PROVIDERS: {
        const tokens = this.extraction!.tokens(this.owner.allLocations);
        for (const t of tokens) {
          const s = await this.verifyToken(t, null, null);
          if (s !== STATUS.Ok && !node.allowFailed) return s;
        }
        return STATUS.Ok;
      }
      case K_ALL: {
        for (const c of node.children) {
          const s = await this.evaluate(c);
          if (s !== STATUS.Ok) return s;
        }
        return STATUS.Ok;
      }
      case K_ANY: {
        let final: Status = STATUS.JwtMissed;
        for (const c of node.children) {
          const s = await this.evaluate(c);
          if (s === STATUS.Ok) return s;
          // A token in a location the provider does not own counts as missing for it.
          if (s !== STATUS.JwtMissed && s !== STATUS.JwtUnknownIssuer) final = s;
        }
        if (node.allowFailed) return STATUS.Ok;
        if (node.allowMissing && final === STATUS.JwtMissed) return STATUS.Ok;
        return final;
      }
    }
  }

  /** One token: `provider` null = found by its issuer (allow_missing and allow_missing_or_failed). */
  private async verifyToken(t: TokenAt, provider: Provider | null, audiences: Audiences | null): Promise<Status> {
    const owner = this.owner;
    const hit = owner.verifiedToken(t.token, provider);
    const jwt = hit !== null ? hit.jwt : parseJwt(t.token);
    if (typeof jwt === 'string') return jwt;
    if (!t.location.allows(jwt.iss)) return STATUS.JwtUnknownIssuer;
    const p = hit !== null ? hit.provider : provider ?? owner.providerByIssuer(jwt.iss);
    if (p === null) return STATUS.JwtUnknownIssuer;
    const time = checkTime(jwt, Math.floor(Date.now() / 1000), p.cfg.clockSkewSeconds);
    if (time !== STATUS.Ok) return time;
    if (!(audiences ?? p.audiences).allows(jwt.audiences)) return STATUS.JwtAudienceNotAllowed;
    if (hit === null) {
      let keys = p.keys();
      if (keys instanceof Promise) keys = await keys;
      if (typeof keys === 'string') return keys as Status;
      const sig = await verifySignature(jwt, keys);
      if (sig !== STATUS.Ok) return sig;
      owner.rememberVerified(t.token, { jwt, provider: p, keys });
    }
    if (!this.destroyed) this.onVerified(p, jwt, t);
    return STATUS.Ok;
  }

  /** A good token: payload header, claims to headers, token removal, dynamic metadata. */
  private onVerified(p: Provider, jwt: ParsedJwt, t: TokenAt): void {
    const stream = this.stream;
    if (stream === null) return;
    const cfg = p.cfg;
    const hs = stream.info.requestHeaders;
    if (cfg.forwardPayloadHeader !== '') {
      let v = jwt.payloadPart.replace(/=+$/, '');
      if (cfg.padForwardPayloadHeader) while (v.length % 4 !== 0) v += '=';
      hs.push(cfg.forwardPayloadHeader, v);
    }
    for (const c of cfg.claimToHeaders) {
      const v = claimText(jwt.payload, c.claimName);
      if (v !== '') hs.push(c.headerName, v);
    }
    if (!cfg.forward) this.extraction!.remove(t);
    if (cfg.payloadInMetadata !== '' || cfg.headerInMetadata !== '') {
      const md = (stream.info.dynamicMetadata ??= {});
      const ns = (md[JWT_AUTHN_METADATA_NAMESPACE] ??= {});
      if (cfg.headerInMetadata !== '') ns[cfg.headerInMetadata] = jwt.header;
      if (cfg.payloadInMetadata !== '') ns[cfg.payloadInMetadata] = normalized(jwt.payload, cfg.spaceDelimitedClaims);
    }
  }

  onResponseHeaders(): void { /* nothing */ }

  onDestroy(): void {
    this.destroyed = true;
    this.stream = null;
    this.extraction = null;
  }
}

/** Response code details: `jwt_authn_access_denied{<text with whitespace as _>}`. */
function details(text: string): string {
  return `jwt_authn_access_denied{${text.replace(/\s/g, '_')}}`;
}

/** Envoy's buildOriginalUri: <x-forwarded-proto>://<host><path, at most 256 characters>. */
function originalUri(stream: FilterStream): string {
  const info = stream.info;
  let proto = '';
  const hs = info.requestHeaders;
  for (let i = 0; i < hs.length; i += 2) if (hs[i] === 'x-forwarded-proto') { proto = hs[i + 1]!; break; }
  if (proto === '') proto = (stream.downstreamSocket() as { encrypted?: boolean } | null)?.encrypted === true ? 'https' : 'http';
  return `${proto}://${info.authority}${info.path.length > MAX_URI_PATH ? info.path.slice(0, MAX_URI_PATH) : info.path}`;
}

function removeHeader(hs: string[], name: string): void {
  for (let i = hs.length - 2; i >= 0; i -= 2) if (hs[i] === name) hs.splice(i, 2);
}

/** A claim (dotted path for nested claims) as header text: strings, integers, doubles, booleans; '' otherwise. */
function claimText(payload: Record<string, unknown>, claim: string): string {
  let v: unknown = payload;
  for (const part of claim.split('.')) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return '';
    v = (v as Record<string, unknown>)[part];
  }
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number' && Number.isFinite(v)) return Number.isInteger(v) && v >= 0 ? String(v) : v.toFixed(6);
  return '';
}

/** normalize_payload_in_metadata: listed string claims split on spaces into lists. */
function normalized(payload: Record<string, unknown>, spaceDelimited: readonly string[]): Record<string, unknown> {
  if (spaceDelimited.length === 0) return payload;
  let out: Record<string, unknown> | null = null;
  for (const c of spaceDelimited) {
    const v = payload[c];
    if (typeof v !== 'string') continue;
    out ??= { ...payload };
    out[c] = v.split(' ').filter((s) => s !== '');
  }
  return out ?? payload;
}
