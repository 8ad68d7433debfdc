// envoy.filters.http.jwt_authn through a real proxy and upstream, with local JWKS: tokens signed
// with jose (ES256, RS256) accepted; expired, not yet valid, wrong issuer, wrong audience, unknown
// kid, bad signature, malformed and missing tokens refused with Envoy's status, body and
// www-authenticate; allow_missing; tokens in a query parameter and a cookie; forward (token
// removal), forward_payload_header and claim_to_headers (and their spoofing removed); rules,
// PerRouteConfig (disabled / requirement_name / unknown name → 403); gRPC gets UNAUTHENTICATED;
// stats; response code details in the access log.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { cluster, FILE_LOG_TYPE, request, ROUTER_TYPE, simple, toCluster, waitForLines, type Obj } from '../helpers/bootstrap.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { jwksOf, makeKey, nowSeconds, sign, type TestKey } from '../helpers/jwt.js';
import { waitUntil } from '../helpers/adversarial.js';

type T = { after(fn: () => Promise<void> | void): void };

const JWT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
const PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig';
const ISS = 'https://issuer.example';

const es = await makeKey('ES256', 'es-1');
const rs = await makeKey('RS256', 'rs-1');
/** Same kid as `es`, another key: its signatures do not verify. */
const forger = await makeKey('ES256', 'es-1');

interface Setup { p: RunningProxy; up: Upstream; log: string }

function provider(extra: Obj = {}, keys: TestKey[] = [es, rs]): Obj {
  return { issuer: ISS, audiences: ['weft'], local_jwks: { inline_string: jwksOf(...keys) }, ...extra };
}

async function setup(t: T, jwt: Obj, o: { routes?: Obj[] } = {}): Promise<Setup> {
  const up = await startUpstream();
  t.after(() => up.close());
  const dir = mkdtempSync(join(tmpdir(), 'weft-jwt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'access.log');
  const p = await startProxy(simple({
    statPrefix: 'ingress',
    routes: o.routes ?? [toCluster('/', 'up')],
    clusters: [cluster('up', [up.port])],
    extra: {
      http_filters: [
        { name: 'envoy.filters.http.jwt_authn', typed_config: { '@type': JWT_TYPE, ...jwt } },
        { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
      ],
      access_log: [{ name: 'f', typed_config: { '@type': FILE_LOG_TYPE, path: log, log_format: { text_format: '%RESPONSE_CODE% %RESPONSE_CODE_DETAILS%\n' } } }],
    },
  }));
  t.after(() => p.close());
  return { p, up, log };
}

const requireA = { rules: [{ match: { prefix: '/' }, requires: { provider_name: 'a' } }] };

/** Seen by the upstream (echo): its request headers and URL. */
function seen(body: string): { url: string; headers: Record<string, string> } {
  return JSON.parse(body) as { url: string; headers: Record<string, string> };
}

const bearer = (tok: string): Record<string, string> => ({ authorization: `Bearer ${tok}` });
const stat = (p: RunningProxy, n: string): number | undefined => p.server.stats.value(`http.ingress.jwt_authn.${n}`);

test('valid ES256 and RS256 tokens pass; the Authorization header is removed (forward: false)', async (t) => {
  const s = await setup(t, { providers: { a: provider() }, ...requireA });
  for (const key of [es, rs]) {
    const r = await request(s.p.port, '/x', { headers: bearer(await sign(key)) });
    assert.equal(r.status, 200, r.body);
    assert.equal(seen(r.body).headers.authorization, undefined);
  }
  assert.equal(stat(s.p, 'allowed'), 2);
  assert.equal(stat(s.p, 'denied'), 0);
});

test('refusals carry Envoy\'s status text, code (401, 403 for the audience) and www-authenticate', async (t) => {
  const s = await setup(t, { providers: { a: provider() }, ...requireA });
  const cases: Array<[string, string, number, string]> = [
    ['expired', await sign(es, { exp: nowSeconds() - 120 }), 401, 'Jwt is expired'],
    ['not yet valid', await sign(es, { nbf: nowSeconds() + 600 }), 401, 'Jwt not yet valid'],
    ['wrong issuer', await sign(es, { iss: 'https://other.example' }), 401, 'Jwt issuer is not configured'],
    ['wrong audience', await sign(es, { aud: ['someone-else'] }), 403, 'Audiences in Jwt are not allowed'],
    ['unknown kid', await sign(es, {}, { kid: 'nope' }), 401, "Jwks doesn't have key to match kid or alg from Jwt"],
    ['bad signature', await sign(forger), 401, 'Jwt verification fails'],
    ['not a JWT', 'abc.def', 401, 'Jwt is not in the form of Header.Payload.Signature'],
  ];
  for (const [what, tok, status, body] of cases) {
    const r = await request(s.p.port, '/p?q=1', { headers: bearer(tok) });
    assert.equal(r.status, status, what);
    assert.equal(r.body, body, what);
    assert.equal(r.headers['www-authenticate'], `Bearer realm="http://127.0.0.1:${s.p.port}/p?q=1", error="invalid_token"`, what);
  }
  // Within the default 60 s clock skew: still valid.
  assert.equal((await request(s.p.port, '/', { headers: bearer(await sign(es, { exp: nowSeconds() - 20 })) })).status, 200);
  // Audiences compare without scheme and trailing slash (jwt_verify_lib).
  assert.equal((await request(s.p.port, '/', { headers: bearer(await sign(es, { aud: 'https://weft/' })) })).status, 200);
  const missing = await request(s.p.port, '/m');
  assert.equal(missing.status, 401);
  assert.equal(missing.body, 'Jwt is missing');
  assert.equal(missing.headers['www-authenticate'], `Bearer realm="http://127.0.0.1:${s.p.port}/m"`);
  assert.equal(s.up.requests.length, 2);
  assert.equal(stat(s.p, 'denied'), cases.length + 1);
  const lines = await waitForLines(s.log, cases.length + 3);
  assert.ok(lines.includes('401 jwt_authn_access_denied{Jwt_is_expired}'), lines.join('\n'));
  assert.ok(lines.includes('401 jwt_authn_access_denied{Jwt_is_missing}'), lines.join('\n'));
});

test('allow_missing passes a request without a token but not one with a bad token; allow_missing_or_failed passes both', async (t) => {
  const s = await setup(t, {
    providers: { a: provider({ payload_in_metadata: ISS }) },
    rules: [
      { match: { prefix: '/lax' }, requires: { allow_missing_or_failed: {} } },
      { match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'a' }, { allow_missing: {} }] } } },
    ],
  });
  assert.equal((await request(s.p.port, '/')).status, 200);
  assert.equal((await request(s.p.port, '/', { headers: bearer(await sign(es)) })).status, 200);
  const bad = await request(s.p.port, '/', { headers: bearer(await sign(es, { exp: nowSeconds() - 3600 })) });
  assert.deepEqual([bad.status, bad.body], [401, 'Jwt is expired']);
  assert.equal((await request(s.p.port, '/lax', { headers: bearer(await sign(forger)) })).status, 200);
  assert.equal((await request(s.p.port, '/lax')).status, 200);
});

test('tokens from a query parameter and from a cookie; forward: false drops the parameter, not the cookie', async (t) => {
  const s = await setup(t, { providers: { a: provider({ from_params: ['jwt'], from_cookies: ['session'] }) }, ...requireA });
  const tok = await sign(rs);
  const q = await request(s.p.port, `/q?a=1&jwt=${tok}&b=2`);
  assert.equal(q.status, 200, q.body);
  assert.equal(seen(q.body).url, '/q?a=1&b=2');
  const c = await request(s.p.port, '/c', { headers: { cookie: `x=1; session=${tok}` } });
  assert.equal(c.status, 200, c.body);
  assert.match(seen(c.body).headers.cookie!, /session=/);
  // The provider names its locations: the default Authorization header is not one of them.
  assert.equal((await request(s.p.port, '/', { headers: bearer(tok) })).body, 'Jwt is missing');
});

test('from_headers with a prefix; forward: true keeps the token; forward_payload_header and claim_to_headers replace spoofed values', async (t) => {
  const s = await setup(t, {
    providers: {
      a: provider({
        from_headers: [{ name: 'X-Token', value_prefix: 'Token ' }], forward: true,
        forward_payload_header: 'x-jwt-payload',
        claim_to_headers: [{ header_name: 'x-sub', claim_name: 'sub' }, { header_name: 'x-tier', claim_name: 'plan.tier' }, { header_name: 'x-n', claim_name: 'n' }],
      }),
    },
    ...requireA,
  });
  const tok = await sign(es, { plan: { tier: 'gold' }, n: 42 });
  const r = await request(s.p.port, '/', { headers: { 'x-token': `Token ${tok}`, 'x-sub': 'mallory', 'x-jwt-payload': 'forged' } });
  assert.equal(r.status, 200, r.body);
  const h = seen(r.body).headers;
  assert.equal(h['x-token'], `Token ${tok}`);
  assert.equal(h['x-sub'], 'alice');
  assert.equal(h['x-tier'], 'gold');
  assert.equal(h['x-n'], '42');
  assert.deepEqual(JSON.parse(Buffer.from(h['x-jwt-payload']!, 'base64url').toString()).plan, { tier: 'gold' });
  // Without a good token the spoofed headers do not reach the upstream either.
  assert.equal((await request(s.p.port, '/', { headers: { 'x-sub': 'mallory' } })).status, 401);
});

test('rules pick the requirement (first match; none = no check); PerRouteConfig disables or names a requirement; an unknown name gets 403', async (t) => {
  const s = await setup(t, {
    providers: { a: provider(), b: provider({ issuer: 'https://b.example', audiences: [] }) },
    requirement_map: { only_b: { provider_name: 'b' } },
    rules: [
      { match: { prefix: '/public' } },
      { match: { prefix: '/b' }, requirement_name: 'only_b' },
      { match: { prefix: '/', headers: [{ name: 'x-any', present_match: true }] }, requires: { requires_any: { requirements: [{ provider_name: 'a' }, { provider_name: 'b' }] } } },
      { match: { prefix: '/' }, requires: { requires_all: { requirements: [{ provider_name: 'a' }, { provider_and_audiences: { provider_name: 'b', audiences: ['weft'] } }] } } },
    ],
  }, {
    routes: [
      toCluster('/off', 'up', {}, { typed_per_filter_config: { 'envoy.filters.http.jwt_authn': { '@type': PER_ROUTE, disabled: true } } }),
      toCluster('/named', 'up', {}, { typed_per_filter_config: { 'envoy.filters.http.jwt_authn': { '@type': PER_ROUTE, requirement_name: 'only_b' } } }),
      toCluster('/typo', 'up', {}, { typed_per_filter_config: { 'envoy.filters.http.jwt_authn': { '@type': PER_ROUTE, requirement_name: 'nope' } } }),
      toCluster('/', 'up'),
    ],
  });
  const a = await sign(es);
  const b = await sign(es, { iss: 'https://b.example' });
  assert.equal((await request(s.p.port, '/public/x')).status, 200);
  assert.equal((await request(s.p.port, '/off')).status, 200);
  assert.equal((await request(s.p.port, '/b', { headers: bearer(b) })).status, 200);
  assert.equal((await request(s.p.port, '/b', { headers: bearer(a) })).body, 'Jwt issuer is not configured');
  assert.equal((await request(s.p.port, '/named', { headers: bearer(b) })).status, 200);
  assert.equal((await request(s.p.port, '/named', { headers: bearer(a) })).status, 401);
  const typo = await request(s.p.port, '/typo', { headers: bearer(b) });
  assert.equal(typo.status, 403);
  assert.equal(typo.body, 'Failed JWT authentication: Wrong requirement_name: nope. It should be one of [only_b]');
  // requires_any: either token will do.
  assert.equal((await request(s.p.port, '/x', { headers: { ...bearer(b), 'x-any': '1' } })).status, 200);
  // requires_all: one token is not enough.
  assert.equal((await request(s.p.port, '/x', { headers: bearer(a) })).status, 401);
  assert.equal((await request(s.p.port, '/x', { headers: { ...bearer(a), 'x-any': '1' } })).status, 200);
});

test('bypass_cors_preflight lets an OPTIONS preflight through and counts it; strip_failure_response empties the body', async (t) => {
  const s = await setup(t, { providers: { a: provider() }, ...requireA, bypass_cors_preflight: true, strip_failure_response: true });
  const pre = await request(s.p.port, '/', { method: 'OPTIONS', headers: { origin: 'http://x', 'access-control-request-method': 'GET' } });
  assert.equal(pre.status, 200);
  assert.equal(stat(s.p, 'cors_preflight_bypassed'), 1);
  const r = await request(s.p.port, '/');
  assert.deepEqual([r.status, r.body, r.headers['www-authenticate']], [401, '', undefined]);
});

test('a gRPC request without a token gets UNAUTHENTICATED (trailers-only)', async (t) => {
  const s = await setup(t, { providers: { a: provider() }, ...requireA });
  const client = http2.connect(`http://127.0.0.1:${s.p.port}`);
  t.after(() => client.close());
  const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
    const req = client.request({ ':method': 'POST', ':path': '/pkg.Svc/Call', 'content-type': 'application/grpc', te: 'trailers' });
    req.on('response', (h) => { resolve(h); req.resume(); });
    req.on('error', reject);
    req.end();
  });
  assert.equal(headers['grpc-status'], '16');
  assert.equal(headers['grpc-message'], 'Jwt is missing');
});

test('a verified token kept in the cache is still checked for expiry (and a cached good token is not reused for a forged one)', async (t) => {
  const s = await setup(t, { providers: { a: provider({ clock_skew_seconds: 1 }) }, ...requireA });
  const tok = await sign(es, { exp: nowSeconds() + 1 });
  assert.equal((await request(s.p.port, '/', { headers: bearer(tok) })).status, 200);
  assert.equal((await request(s.p.port, '/', { headers: bearer(tok) })).status, 200);
  await waitUntil(async () => (await request(s.p.port, '/', { headers: bearer(tok) })).status === 401, 10_000, 'the token to expire');
  const r = await request(s.p.port, '/', { headers: bearer(tok) });
  assert.equal(r.body, 'Jwt is expired');
  // Same header and payload, signature of another key: not a cache hit.
  const good = await sign(es, { sub: 'bob', iat: 1000 });
  const forged = good.slice(0, good.lastIndexOf('.') + 1) + (await sign(forger, { sub: 'bob', iat: 1000 })).split('.')[2];
  assert.equal((await request(s.p.port, '/', { headers: bearer(good) })).status, 200);
  assert.equal((await request(s.p.port, '/', { headers: bearer(forged) })).body, 'Jwt verification fails');
});
