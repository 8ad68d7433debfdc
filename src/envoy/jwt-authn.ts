// Decoders for Envoy's JWT authentication filter: envoy.extensions.filters.http.jwt_authn.v3
// JwtAuthentication (providers, rules, requirement_map) and its typed_per_filter_config
// PerRouteConfig. Checks made here rather than at request time: every provider_name and
// requirement_name exists, local_jwks parses into at least one usable key (Envoy only logs a
// warning and then fails every token), remote_jwks names a cluster (checked against static
// clusters like route clusters). Fields Weft does not implement are refused with their path:
// subjects, require_expiration, max_lifetime, failed_status_in_metadata, clear_route_cache
// (true), remote_jwks.retry_policy, http_uri without cluster, filter_state_rules.

import type { JwtAuthnConfig, JwtAuthnPerRouteConfig } from '../proxy/config/types.js';
import type {
  JwksSourceConfig, JwtClaimToHeaderConfig, JwtHeaderConfig, JwtProviderConfig, JwtRequirementConfig, JwtRuleConfig,
} from '../proxy/filters/http/jwt-authn/config.js';
import { parseJwks } from '../proxy/filters/http/jwt-authn/jwks.js';
import { dataSource, headerName } from './core.js';
import type { Ctx } from './decode/context.js';
import {
  bool, defineMessage, duration, list, mapOf, message, nonEmptyString, positiveDuration, reader, string, uint32, type Msg, type Reader,
} from './decode/readers.js';
import type { Extension } from './decode/typed.js';
import { routeMatch } from './route-match.js';

/** Envoy's default JWKS cache duration (jwks_cache.cc: 600 s). */
export const DEFAULT_JWKS_CACHE_MS = 600_000;

const EMPTY = defineMessage({ name: 'google.protobuf.Empty', fields: [] });
const empty = message(EMPTY, () => ({}));

const HTTP_URI = defineMessage({ name: 'envoy.config.core.v3.HttpUri', fields: ['uri', 'cluster', 'timeout'] });
const httpUri = message(HTTP_URI, (m) => {
  const uri = m.req('uri', nonEmptyString);
  if (uri !== undefined && !/^https?:\/\/[^/?#]+/.test(uri)) m.at('uri').expected('an http:// or https:// URI', uri);
  const cluster = m.req('cluster', nonEmptyString);
  if (cluster !== undefined) m.ctx.env.clusterRefs.push({ path: m.at('cluster').path, name: cluster });
  const timeoutMs = m.req('timeout', positiveDuration);
  if (uri === undefined || cluster === undefined || timeoutMs === undefined) return undefined;
  return { uri, cluster, timeoutMs };
});

const ASYNC_FETCH = defineMessage({
  name: 'envoy.extensions.filters.http.jwt_authn.v3.JwksAsyncFetch',
  // The first fetch starts at config time; Weft does not hold the listener back for it (requests
  // wait for it instead), so fast_listener changes nothing, nor does the refetch pause.
  fields: [],
  informational: ['fast_listener', 'failed_refetch_duration'],
});

const REMOTE_JWKS = defineMessage({
  name: 'envoy.extensions.filters.http.jwt_authn.v3.RemoteJwks',
  fields: ['http_uri', 'cache_duration', 'async_fetch'],
  unsupported: ['retry_policy'],
});

/** cache_duration: at least 1 ms (Envoy's validation). */
const cacheDuration: Reader<number> = reader('a duration of at least 1ms', (ctx, v) => {
  const ms = duration(ctx, v);
  if (ms === undefined) return undefined;
  return ms >= 1 ? ms : ctx.expected('a duration of at least 1ms', v);
});

const remoteJwks: Reader<JwksSourceConfig> = message(REMOTE_JWKS, (m) => {
  const uri = m.req('http_uri', httpUri);
  const cacheDurationMs = m.get('cache_duration', cacheDuration, DEFAULT_JWKS_CACHE_MS);
  const asyncFetch = m.opt('async_fetch', message(ASYNC_FETCH, () => true)) ?? false;
  if (uri === undefined) return undefined;
  return { kind: 'remote', uri: uri.uri, cluster: uri.cluster, timeoutMs: uri.timeoutMs, cacheDurationMs, asyncFetch };
});

/** local_jwks: a DataSource whose text is a JWKS with at least one usable key. */
const localJwks: Reader<JwksSourceConfig> = reader('a DataSource holding a JWKS', (ctx, v) => {
  const text = dataSource(ctx, v);
  if (text === undefined) return undefined;
  const parsed = parseJwks(text);
  if (typeof parsed === 'string') return ctx.fail(`expected a JWKS with at least one usable key (${parsed}), got ${text.length > 60 ? `${text.slice(0, 57)}...` : JSON.stringify(text)}`);
  return { kind: 'local', jwks: text };
});

const JWT_HEADER = defineMessage({ name: 'envoy.extensions.filters.http.jwt_authn.v3.JwtHeader', fields: ['name', 'value_prefix'] });
const jwtHeader: Reader<JwtHeaderConfig> = message(JWT_HEADER, (m) => {
  const name = m.req('name', headerName);
  const valuePrefix = m.get('value_prefix', string, '');
  return name === undefined ? undefined : { name, valuePrefix };
});

const CLAIM_TO_HEADER = defineMessage({ name: 'envoy.extensions.filters.http.jwt_authn.v3.JwtClaimToHeader', fields: ['header_name', 'claim_name'] });
const claimToHeader: Reader<JwtClaimToHeaderConfig> = message(CLAIM_TO_HEADER, (m) => {
  const headerNameV = m.req('header_name', headerName);
  const claimName = m.req('claim_name', nonEmptyString);
  return headerNameV === undefined || claimName === undefined ? undefined : { headerName: headerNameV, claimName };
});

const NORMALIZE = defineMessage({ name: 'envoy.extensions.filters.http.jwt_authn.v3.JwtProvider.NormalizePayload', fields: ['space_delimited_claims'] });
const normalizePayload = message(NORMALIZE, (m) => m.get('space_delimited_claims', list(string), []));

const JWT_CACHE = defineMessage({ name: 'envoy.extensions.filters.http.jwt_authn.v3.JwtCacheConfig', fields: ['jwt_cache_size'] });

const PROVIDER = defineMessage({
  name: 'envoy.extensions.filters.http.jwt_authn.v3.JwtProvider',
  fields: [
    'issuer', 'audiences', 'remote_jwks', 'local_jwks', 'forward', 'from_headers', 'from_params', 'from_cookies',
    'forward_payload_header', 'pad_forward_payload_header', 'payload_in_metadata', 'normalize_payload_in_metadata',
    'header_in_metadata', 'clock_skew_seconds', 'claim_to_headers', 'clear_route_cache', 'jwt_cache_config',
  ],
  unsupported: ['subjects', 'require_expiration', 'max_lifetime', 'failed_status_in_metadata'],
});

const provider: Reader<JwtProviderConfig> = message(PROVIDER, (m) => {
  const which = m.oneof(['remote_jwks', 'local_jwks'], { required: true });
  const jwks = which === undefined ? undefined : m.opt(which, which === 'remote_jwks' ? remoteJwks : localJwks);
  if (m.get('clear_route_cache', bool, false)) {
    m.at('clear_route_cache').fail('unsupported field (Weft does not pick the route again after a filter), got true');
  }
  // Sizes the filter's cache of verified tokens (always on in Weft, at least 100 entries).
  const jwtCacheSize = m.opt('jwt_cache_config', message(JWT_CACHE, (c) => c.get('jwt_cache_size', uint32, 100))) ?? 0;
  const clockSkew = m.get('clock_skew_seconds', uint32, 0);
  const out = {
    issuer: m.get('issuer', string, ''),
    audiences: m.get('audiences', list(string), []),
    forward: m.get('forward', bool, false),
    fromHeaders: m.get('from_headers', list(jwtHeader), []),
    fromParams: m.get('from_params', list(nonEmptyString), []),
    fromCookies: m.get('from_cookies', list(nonEmptyString), []),
    forwardPayloadHeader: m.opt('forward_payload_header', string)?.toLowerCase() ?? '',
    padForwardPayloadHeader: m.get('pad_forward_payload_header', bool, false),
    payloadInMetadata: m.get('payload_in_metadata', string, ''),
    headerInMetadata: m.get('header_in_metadata', string, ''),
    spaceDelimitedClaims: m.get('normalize_payload_in_metadata', normalizePayload, []),
    // 0 (unset) means Envoy's default, 60 s.
    clockSkewSeconds: clockSkew === 0 ? 60 : clockSkew,
    claimToHeaders: m.get('claim_to_headers', list(claimToHeader), []),
    jwtCacheSize,
  };
  if (out.forwardPayloadHeader !== '') headerName(m.at('forward_payload_header'), out.forwardPayloadHeader);
  if (jwks === undefined) return undefined;
  return { ...out, jwks };
});

const REQUIREMENT = defineMessage({
  name: 'envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement',
  fields: ['provider_name', 'provider_and_audiences', 'requires_any', 'requires_all', 'allow_missing_or_failed', 'allow_missing'],
});
const PROVIDER_WITH_AUDIENCES = defineMessage({
  name: 'envoy.extensions.filters.http.jwt_authn.v3.ProviderWithAudiences', fields: ['provider_name', 'audiences'],
});
const OR_LIST = defineMessage({ name: 'envoy.extensions.filters.http.jwt_authn.v3.JwtRequirementOrList', fields: ['requirements'] });
const AND_LIST = defineMessage({ name: 'envoy.extensions.filters.http.jwt_authn.v3.JwtRequirementAndList', fields: ['requirements'] });

/** A requirement reader checking provider names against `providers`. */
function requirementReader(providers: ReadonlySet<string>): Reader<JwtRequirementConfig> {
  const providerName = reader('a configured provider name', (ctx: Ctx, v) => {
    if (typeof v === 'string' && providers.has(v)) return v;
    return ctx.expected(`a provider name of \`providers\` (${[...providers].join(', ') || 'none configured'})`, v);
  });
  const withAudiences = message(PROVIDER_WITH_AUDIENCES, (m) => {
    const name = m.req('provider_name', providerName);
    const audiences = m.get('audiences', list(string), []);
    return name === undefined ? undefined : { name, audiences };
  });
  const req: Reader<JwtRequirementConfig> = message(REQUIREMENT, (m): JwtRequirementConfig | undefined => {
    const which = m.oneof(['provider_name', 'provider_and_audiences', 'requires_any', 'requires_all', 'allow_missing_or_failed', 'allow_missing'], { required: true });
    switch (which) {
      case 'provider_name': {
        const provider = m.opt('provider_name', providerName);
        return provider === undefined ? undefined : { kind: 'provider', provider, audiences: null };
      }
      case 'provider_and_audiences': {
        const p = m.opt('provider_and_audiences', withAudiences);
        // An empty list leaves the provider's audiences in place (Envoy overrides only when set).
        return p === undefined ? undefined : { kind: 'provider', provider: p.name, audiences: p.audiences.length === 0 ? null : p.audiences };
      }
      case 'requires_any':
      case 'requires_all': {
        const requirements = m.opt(which, message(which === 'requires_any' ? OR_LIST : AND_LIST, (l) => l.req('requirements', list(req, { minItems: 2 }))));
        return requirements === undefined ? undefined : { kind: which, requirements };
      }
      case 'allow_missing':
      case 'allow_missing_or_failed':
        return m.opt(which, empty) === undefined ? undefined : { kind: which };
      default:
        return undefined;
    }
  });
  return req;
}

const RULE = defineMessage({
  name: 'envoy.extensions.filters.http.jwt_authn.v3.RequirementRule', fields: ['match', 'requires', 'requirement_name'],
});

const JWT_AUTHENTICATION = defineMessage({
  name: 'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
  fields: ['providers', 'rules', 'bypass_cors_preflight', 'requirement_map', 'strip_failure_response'],
  unsupported: ['filter_state_rules'],
});

function jwtAuthentication(m: Msg): JwtAuthnConfig | undefined {
  const providers = m.get('providers', mapOf(provider), new Map<string, JwtProviderConfig>());
  // Names of providers that failed to decode count as known (their own error is reported).
  const names = new Set<string>(Object.keys((m.raw('providers') as Record<string, unknown> | undefined) ?? {}));
  const requirement = requirementReader(names);
  const requirementMap = m.get('requirement_map', mapOf(requirement), new Map<string, JwtRequirementConfig>());
  const mapNames = new Set<string>(Object.keys((m.raw('requirement_map') as Record<string, unknown> | undefined) ?? {}));
  const rule: Reader<JwtRuleConfig> = message(RULE, (r) => {
    const match = r.req('match', routeMatch);
    const which = r.oneof(['requires', 'requirement_name'], { required: false });
    let requires: JwtRequirementConfig | null = null;
    if (which === 'requires') requires = r.opt('requires', requirement) ?? null;
    else if (which === 'requirement_name') {
      const n = r.opt('requirement_name', nonEmptyString);
      if (n !== undefined && !mapNames.has(n)) {
        r.at('requirement_name').expected(`a name of requirement_map (${[...mapNames].join(', ') || 'empty'})`, n);
      } else if (n !== undefined) requires = requirementMap.get(n) ?? null;
    }
    return match === undefined ? undefined : { match, requires };
  });
  const rules = m.get('rules', list(rule), []);
  return {
    providers, rules, requirementMap,
    bypassCorsPreflight: m.get('bypass_cors_preflight', bool, false),
    stripFailureResponse: m.get('strip_failure_response', bool, false),
  };
}

export const jwtAuthnFilterExtension: Extension<'http_filter'> = {
  category: 'http_filter',
  typeUrl: 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
  spec: JWT_AUTHENTICATION,
  decode: (m, info) => {
    const config = jwtAuthentication(m);
    return config === undefined ? undefined : { kind: 'jwt_authn', name: info.name, config };
  },
};

const PER_ROUTE = defineMessage({
  name: 'envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig', fields: ['disabled', 'requirement_name'],
});

/** PerRouteConfig: disabled (must be true) or requirement_name (checked against the map at request time, 403 when unknown, as Envoy). */
export const jwtAuthnPerRouteExtension: Extension<'http_filter_per_route'> = {
  category: 'http_filter_per_route',
  typeUrl: 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig',
  spec: PER_ROUTE,
  decode: (m): JwtAuthnPerRouteConfig | undefined => {
    const which = m.oneof(['disabled', 'requirement_name'], { required: true });
    if (which === 'disabled') {
      const d = m.opt('disabled', bool);
      if (d === false) return m.at('disabled').expected('true (the only value allowed)', false);
      return d === undefined ? undefined : { kind: 'jwt_authn', disabled: true, requirementName: null };
    }
    if (which === 'requirement_name') {
      const n = m.opt('requirement_name', nonEmptyString);
      return n === undefined ? undefined : { kind: 'jwt_authn', disabled: false, requirementName: n };
    }
    return undefined;
  },
};
