// Decoding of envoy.filters.http.jwt_authn (src/envoy/jwt-authn.ts): JwtAuthentication with its
// providers (local and remote JWKS), rules, requirement_map and every requirement kind, and
// PerRouteConfig. Defaults as Envoy's (clock skew 60 s, JWKS cache 10 min); bad references,
// unusable JWKS and unimplemented fields refused with their path.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBootstrap } from '../../src/envoy/bootstrap.js';
import { oneFilterBootstrap } from '../helpers/bootstrap.js';
import type { BootstrapConfig, HttpConnectionManagerConfig, JwtAuthnFilterConfig } from '../../src/proxy/config/types.js';
import { jwksOf, makeKey } from '../helpers/jwt.js';

type Obj = Record<string, unknown>;

const JWT = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
const PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig';
const FILTER_PATH = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config';
const ROUTE_PATH = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0]';

const key = await makeKey('ES256', 'k');
const JWKS = jwksOf(key);

const clusterOf = (name: string): Obj => ({
  name, type: 'STATIC',
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 1 } } } }] }] },
});

function bootstrap(jwt: Obj, routeExtra: Obj = {}): Obj {
  return oneFilterBootstrap({ name: 'envoy.filters.http.jwt_authn', typed_config: { '@type': JWT, ...jwt } }, [clusterOf('app'), clusterOf('jwks')], routeExtra);
}

function ok(input: Obj): BootstrapConfig {
  const r = decodeBootstrap(input, { baseDir: '.' });
  if (!r.ok) assert.fail(r.errors.join('\n'));
  return r.value;
}

function errors(input: Obj): string[] {
  const r = decodeBootstrap(input, { baseDir: '.' });
  assert.equal(r.ok, false, 'expected the config to be refused');
  return r.ok ? [] : r.errors;
}

function assertError(errs: readonly string[], path: string, text: string | RegExp): void {
  const hit = errs.some((e) => e.startsWith(path + ': ') && (typeof text === 'string' ? e.includes(text) : text.test(e)));
  assert.ok(hit, `no error at ${path} matching ${String(text)} in:\n${errs.join('\n')}`);
}

function filterOf(cfg: BootstrapConfig): JwtAuthnFilterConfig {
  const h = cfg.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerConfig;
  return h.httpFilters[0] as JwtAuthnFilterConfig;
}

const local = { local_jwks: { inline_string: JWKS } };

test('providers decode with Envoy\'s defaults; remote_jwks keeps uri, cluster, timeout and cache_duration', () => {
  const f = filterOf(ok(bootstrap({
    providers: {
      l: { issuer: 'https://a', audiences: ['x'], ...local, from_headers: [{ name: 'X-Tok', value_prefix: 'T ' }], from_params: ['p'], from_cookies: ['c'],
        forward: true, forward_payload_header: 'X-Payload', pad_forward_payload_header: true, payload_in_metadata: 'https://a', header_in_metadata: 'h',
        normalize_payload_in_metadata: { space_delimited_claims: ['scope'] }, clock_skew_seconds: 5,
        claim_to_headers: [{ header_name: 'X-Sub', claim_name: 'sub' }], jwt_cache_config: { jwt_cache_size: 10 } },
      r: { remote_jwks: { http_uri: { uri: 'https://keys.example/jwks.json', cluster: 'jwks', timeout: '1s' }, cache_duration: '300s', async_fetch: { fast_listener: true } } },
      d: { remote_jwks: { http_uri: { uri: 'http://keys.example/k', cluster: 'jwks', timeout: '2s' } } },
    },
    rules: [{ match: { prefix: '/' }, requires: { provider_name: 'l' } }],
  })));
  assert.equal(f.kind, 'jwt_authn');
  const l = f.config.providers.get('l')!;
  assert.deepEqual({ ...l, jwks: l.jwks.kind }, {
    issuer: 'https://a', audiences: ['x'], jwks: 'local', forward: true, fromHeaders: [{ name: 'x-tok', valuePrefix: 'T ' }],
    fromParams: ['p'], fromCookies: ['c'], forwardPayloadHeader: 'x-payload', padForwardPayloadHeader: true,
    payloadInMetadata: 'https://a', headerInMetadata: 'h', spaceDelimitedClaims: ['scope'], clockSkewSeconds: 5,
    claimToHeaders: [{ headerName: 'x-sub', claimName: 'sub' }], jwtCacheSize: 10,
  });
  assert.deepEqual(f.config.providers.get('r')!.jwks, { kind: 'remote', uri: 'https://keys.example/jwks.json', cluster: 'jwks', timeoutMs: 1000, cacheDurationMs: 300_000, asyncFetch: true });
  const d = f.config.providers.get('d')!;
  assert.deepEqual([d.jwks.kind === 'remote' && d.jwks.cacheDurationMs, d.clockSkewSeconds, d.forward, d.issuer], [600_000, 60, false, '']);
});

test('every requirement kind, requirement_map and requirement_name in rules, PerRouteConfig', () => {
  const f = filterOf(ok(bootstrap({
    providers: { a: local, b: local },
    requirement_map: { both: { requires_all: { requirements: [{ provider_name: 'a' }, { provider_and_audiences: { provider_name: 'b', audiences: ['x'] } }] } } },
    rules: [
      { match: { prefix: '/health' } },
      { match: { path: '/both' }, requirement_name: 'both' },
      { match: { safe_regex: { regex: '/r/.*' }, headers: [{ name: 'x', exact_match: 'y' }] }, requires: { requires_any: { requirements: [{ provider_name: 'a' }, { allow_missing: {} }] } } },
      { match: { prefix: '/' }, requires: { allow_missing_or_failed: {} } },
    ],
    bypass_cors_preflight: true,
    strip_failure_response: true,
  }, { typed_per_filter_config: { 'envoy.filters.http.jwt_authn': { '@type': PER_ROUTE, requirement_name: 'both' } } })));
  const c = f.config;
  assert.deepEqual(c.rules.map((r) => r.requires?.kind ?? null), [null, 'requires_all', 'requires_any', 'allow_missing_or_failed']);
  assert.deepEqual(c.requirementMap.get('both'), {
    kind: 'requires_all',
    requirements: [{ kind: 'provider', provider: 'a', audiences: null }, { kind: 'provider', provider: 'b', audiences: ['x'] }],
  });
  assert.equal(c.bypassCorsPreflight, true);
  assert.equal(c.stripFailureResponse, true);
  const r = ok(bootstrap({ providers: { a: local } }, { typed_per_filter_config: { 'envoy.filters.http.jwt_authn': { '@type': PER_ROUTE, disabled: true } } }));
  const route = r.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerConfig;
  assert.deepEqual(route.routeConfig!.virtualHosts[0]!.routes[0]!.typedPerFilterConfig!['envoy.filters.http.jwt_authn'], { kind: 'jwt_authn', disabled: true, requirementName: null });
});

test('bad references, unusable JWKS and unimplemented fields are refused with their path', () => {
  const errs = errors(bootstrap({
    providers: {
      none: { issuer: 'x' },
      both: { ...local, remote_jwks: { http_uri: { uri: 'https://k', cluster: 'jwks', timeout: '1s' } } },
      badjwks: { local_jwks: { inline_string: '{"keys": [{"kty": "EC"}]}' } },
      notjson: { local_jwks: { inline_string: 'not json' } },
      remote: { remote_jwks: { http_uri: { uri: 'ftp://k', cluster: 'nocluster', timeout: '0s' }, retry_policy: { num_retries: 1 }, cache_duration: '0s' } },
      extras: { ...local, subjects: { prefix: 'spiffe://' }, require_expiration: true, clear_route_cache: true, from_headers: [{ name: 'bad header' }] },
    },
    rules: [
      { match: { prefix: '/' }, requires: { provider_name: 'ghost' } },
      { match: { prefix: '/' }, requirement_name: 'missing' },
      { match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'none' }] } } },
      { requires: { allow_missing: {} } },
    ],
    filter_state_rules: { name: 'x' },
  }));
  const P = `${FILTER_PATH}.providers`;
  assertError(errs, `${P}["none"]`, 'exactly one of remote_jwks, local_jwks');
  assertError(errs, `${P}["both"]`, 'exactly one of remote_jwks, local_jwks');
  assertError(errs, `${P}["badjwks"].local_jwks`, "Jwks doesn't have any valid public key");
  assertError(errs, `${P}["notjson"].local_jwks`, 'Jwks is an invalid JSON');
  assertError(errs, `${P}["remote"].remote_jwks.http_uri.uri`, 'an http:// or https:// URI');
  assertError(errs, `${P}["remote"].remote_jwks.http_uri.timeout`, 'a positive duration');
  assertError(errs, `${P}["remote"].remote_jwks.retry_policy`, 'unsupported field');
  assertError(errs, `${P}["remote"].remote_jwks.cache_duration`, 'at least 1ms');
  assertError(errs, `${P}["extras"].subjects`, 'unsupported field');
  assertError(errs, `${P}["extras"].require_expiration`, 'unsupported field');
  assertError(errs, `${P}["extras"].clear_route_cache`, 'unsupported field');
  assertError(errs, `${P}["extras"].from_headers[0].name`, 'a header name');
  assertError(errs, `${FILTER_PATH}.rules[0].requires.provider_name`, 'a provider name of `providers`');
  assertError(errs, `${FILTER_PATH}.rules[1].requirement_name`, 'a name of requirement_map');
  assertError(errs, `${FILTER_PATH}.rules[2].requires.requires_any.requirements`, 'at least 2');
  assertError(errs, `${FILTER_PATH}.rules[3].match`, 'got nothing');
  assertError(errs, `${FILTER_PATH}.filter_state_rules`, 'unsupported field');
  assert.ok(errs.some((e) => e.includes('nocluster')), errs.join('\n'));
  const pr = errors(bootstrap({ providers: { a: local } }, { typed_per_filter_config: { 'envoy.filters.http.jwt_authn': { '@type': PER_ROUTE, disabled: false } } }));
  assertError(pr, `${ROUTE_PATH}.typed_per_filter_config["envoy.filters.http.jwt_authn"].disabled`, 'true');
});
