// envoy.filters.http.jwt_authn with remote_jwks, fetched through a cluster (the proxy's async
// client) from a local JWKS server: concurrent first requests share one fetch, the keys are cached
// for cache_duration and refreshed after it (a rotated key is picked up), the last good keys keep
// working while the server fails, a proxy that never got keys answers 401 at once (no hang), and
// async_fetch fetches before any request. Stats jwks_fetch_success / jwks_fetch_failed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { cluster, deadPort, request, ROUTER_TYPE, simple, toCluster, type Obj } from '../helpers/bootstrap.js';
import { startUpstream } from '../helpers/upstream.js';
import { waitUntil } from '../helpers/adversarial.js';
import { jwksOf, makeKey, sign, startJwksServer, type JwksServer } from '../helpers/jwt.js';

type T = { after(fn: () => Promise<void> | void): void };

const JWT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
const ISS = 'https://issuer.example';

const k1 = await makeKey('ES256', 'k1');
const k2 = await makeKey('RS256', 'k2');

async function setup(t: T, jwksPort: number, remote: Obj = {}): Promise<RunningProxy> {
  const up = await startUpstream();
  t.after(() => up.close());
  const p = await startProxy(simple({
    statPrefix: 'ingress',
    routes: [toCluster('/', 'up')],
    clusters: [cluster('up', [up.port]), cluster('jwks', [jwksPort])],
    extra: {
      http_filters: [
        {
          name: 'envoy.filters.http.jwt_authn',
          typed_config: {
            '@type': JWT_TYPE,
            providers: {
              a: {
                issuer: ISS,
                remote_jwks: { http_uri: { uri: `http://jwks.example:${jwksPort}/keys.json`, cluster: 'jwks', timeout: '2s' }, ...remote },
              },
            },
            rules: [{ match: { prefix: '/' }, requires: { provider_name: 'a' } }],
          },
        },
        { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
      ],
    },
  }));
  t.after(() => p.close());
  return p;
}

async function server(t: T, body: string): Promise<JwksServer> {
  const s = await startJwksServer(body);
  t.after(() => s.close());
  return s;
}

const stat = (p: RunningProxy, n: string): number => p.server.stats.value(`http.ingress.jwt_authn.${n}`) ?? 0;
const get = async (p: RunningProxy, tok: string): Promise<number> =>
  (await request(p.port, '/', { headers: { authorization: `Bearer ${tok}` } })).status;

test('concurrent first requests wait for one shared fetch; later ones use the cache', async (t) => {
  const jwks = await server(t, jwksOf(k1));
  const p = await setup(t, jwks.port);
  const tok = await sign(k1);
  const first = await Promise.all(Array.from({ length: 8 }, () => get(p, tok)));
  assert.deepEqual(first, Array(8).fill(200));
  for (let i = 0; i < 5; i++) assert.equal(await get(p, tok), 200);
  assert.equal(jwks.fetches(), 1);
  assert.equal(stat(p, 'jwks_fetch_success'), 1);
});

test('keys are fetched again after cache_duration: a rotated key is accepted, the retired one refused', async (t) => {
  const jwks = await server(t, jwksOf(k1));
  const p = await setup(t, jwks.port, { cache_duration: '0.2s' });
  const t1 = await sign(k1);
  const t2 = await sign(k2);
  assert.equal(await get(p, t1), 200);
  assert.equal(await get(p, t2), 401); // k2 unknown yet
  jwks.serve(jwksOf(k2));
  await waitUntil(async () => (await get(p, t2)) === 200, 5000, 'the rotated key to be fetched');
  assert.ok(jwks.fetches() >= 2);
  const r = await request(p.port, '/', { headers: { authorization: `Bearer ${t1}` } });
  assert.deepEqual([r.status, r.body], [401, "Jwks doesn't have key to match kid or alg from Jwt"]);
});

test('while the JWKS server fails, the last good keys keep working', async (t) => {
  const jwks = await server(t, jwksOf(k1));
  const p = await setup(t, jwks.port, { cache_duration: '0.1s' });
  const tok = await sign(k1);
  assert.equal(await get(p, tok), 200);
  jwks.serve(503);
  await waitUntil(async () => {
    assert.equal(await get(p, tok), 200);
    return stat(p, 'jwks_fetch_failed') >= 2;
  }, 10_000, 'failed refreshes');
  await jwks.close();
  assert.equal(await get(p, tok), 200);
});

test('a proxy that never got keys answers 401 "Jwks remote fetch is failed" at once', async (t) => {
  const p = await setup(t, await deadPort());
  const started = Date.now();
  const r = await request(p.port, '/', { headers: { authorization: `Bearer ${await sign(k1)}` } });
  assert.deepEqual([r.status, r.body], [401, 'Jwks remote fetch is failed']);
  assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  assert.equal(stat(p, 'jwks_fetch_failed'), 1);
});

test('async_fetch fetches the keys before any request', async (t) => {
  const jwks = await server(t, jwksOf(k1));
  const p = await setup(t, jwks.port, { async_fetch: {} });
  await waitUntil(() => stat(p, 'jwks_fetch_success') === 1, 5000, 'the background fetch');
  assert.equal(jwks.fetches(), 1);
  assert.equal(await get(p, await sign(k1)), 200);
  assert.equal(jwks.fetches(), 1);
});
