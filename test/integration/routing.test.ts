// Routing end to end through a running proxy: weighted clusters, header / query / path matchers,
// virtual hosts, cluster_header, direct responses, redirects, path and host rewrites, header
// mutations at the three levels, and request mirroring.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { echo, startEchoUpstreams, startUpstream, type Upstream } from '../helpers/upstream.js';
import { rawExchange, splitResponses, startProxy } from '../helpers/proxy.js';
import { cluster, direct, parallel, request, simple, toCluster, type Obj } from '../helpers/bootstrap.js';

const run = promisify(execFile);

type Echo = { name: string; url: string; headers: Record<string, string> };

const upstreams = startEchoUpstreams;

test('weighted_clusters split 80/20 over 1000 requests', async (t) => {
  const [a, b] = await upstreams(t, 'a', 'b');
  const px = await startProxy(simple({
    routes: [{ match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'a', weight: 80 }, { name: 'b', weight: 20 }] } } }],
    clusters: [cluster('a', [a!.port]), cluster('b', [b!.port])],
  }));
  t.after(() => px.close());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  t.after(() => agent.destroy());
  const replies = await parallel(1000, 16, () => request(px.port, '/w', { agent }));
  const counts = { a: 0, b: 0 };
  for (const r of replies) {
    assert.equal(r.status, 200);
    counts[r.headers['x-upstream'] as 'a' | 'b']++;
  }
  // Binomial(1000, 0.8): σ ≈ 12.6; ±60 is almost 5σ.
  assert.ok(Math.abs(counts.a - 800) <= 60, `a got ${counts.a}`);
  assert.equal(counts.a + counts.b, 1000);
  assert.equal(a!.requests.length, counts.a);
  assert.equal(b!.requests.length, counts.b);
});

test('header matchers (exact, prefix, present, invert) and query parameters select routes', async (t) => {
  const px = await startProxy(simple({
    routes: [
      direct({ prefix: '/', headers: [{ name: 'x-exact', string_match: { exact: 'yes' } }] }, 'exact'),
      direct({ prefix: '/', headers: [{ name: 'x-prefix', prefix_match: 'ab' }] }, 'prefix'),
      direct({ prefix: '/', headers: [{ name: 'x-present', present_match: true }] }, 'present'),
      direct({ prefix: '/', headers: [{ name: 'x-env', string_match: { exact: 'prod' }, invert_match: true }] }, 'not-prod'),
      direct({ prefix: '/', headers: [{ name: 'x-a', exact_match: '1' }, { name: 'x-b', exact_match: '2' }] }, 'both'),
      direct({ prefix: '/', query_parameters: [{ name: 'mode', string_match: { exact: 'fast' } }] }, 'q-exact'),
      direct({ prefix: '/', query_parameters: [{ name: 'debug', present_match: true }] }, 'q-present'),
      direct({ prefix: '/' }, 'fallback'),
    ],
  }));
  t.after(() => px.close());
  const cases: Array<[string, Record<string, string>, string]> = [
    ['/', { 'x-exact': 'yes' }, 'exact'],
    ['/', { 'x-exact': 'YES' }, 'fallback'],          // exact is case-sensitive
    ['/', { 'x-prefix': 'abc' }, 'prefix'],
    ['/', { 'x-prefix': 'xab' }, 'fallback'],
    ['/', { 'x-present': '' }, 'present'],             // present with an empty value
    ['/', { 'x-env': 'staging' }, 'not-prod'],
    ['/', { 'x-env': 'prod' }, 'fallback'],
    ['/', {}, 'fallback'],                             // an inverted exact match needs the header
    ['/', { 'x-a': '1', 'x-b': '2' }, 'both'],
    ['/', { 'x-a': '1' }, 'fallback'],                 // every header matcher must match
    ['/p?mode=fast', {}, 'q-exact'],
    ['/p?x=1&mode=fast', {}, 'q-exact'],
    ['/p?mode=slow', {}, 'fallback'],
    ['/p?debug', {}, 'q-present'],
    ['/p?debug=0', {}, 'q-present'],
    ['/p?nodebug=1', {}, 'fallback'],
  ];
  for (const [path, headers, want] of cases) {
    const r = await request(px.port, path, { headers });
    assert.equal(r.status, 200);
    assert.equal(r.body, want, `${path} ${JSON.stringify(headers)}`);
  }
});

test('path, prefix, safe_regex, path_separated_prefix and case_sensitive: false', async (t) => {
  const px = await startProxy(simple({
    routes: [
      direct({ path: '/exact' }, 'path'),
      direct({ safe_regex: { regex: '/re/[0-9]+' } }, 'regex'),
      direct({ path_separated_prefix: '/api' }, 'separated'),
      direct({ prefix: '/CaSe', case_sensitive: false }, 'nocase'),
      direct({ prefix: '/pre' }, 'prefix'),
      direct({ prefix: '/' }, 'fallback'),
    ],
  }));
  t.after(() => px.close());
  const cases: Array<[string, string]> = [
    ['/exact', 'path'],
    ['/exact?q=1', 'path'],          // the query is not part of the path
    ['/exact/more', 'fallback'],
    ['/EXACT', 'fallback'],
    ['/re/123', 'regex'],
    ['/re/123?x=y', 'regex'],
    ['/re/12a', 'fallback'],         // the regex must match the whole path
    ['/api', 'separated'],
    ['/api/v1/users', 'separated'],
    ['/api?x=1', 'separated'],
    ['/apix', 'fallback'],
    ['/case/x', 'nocase'],
    ['/CASE', 'nocase'],
    ['/prefix', 'prefix'],
    ['/pre', 'prefix'],
    ['/Pre', 'fallback'],
  ];
  for (const [path, want] of cases) {
    const r = await request(px.port, path);
    assert.equal(r.body, want, path);
  }
});

test('virtual host selection by Host: exact, *.suffix, prefix.*, with and without port', async (t) => {
  const vh = (name: string, domains: string[]): Obj => ({ name, domains, routes: [direct({ prefix: '/' }, name)] });
  const px = await startProxy(simple({
    virtualHosts: [
      vh('exact', ['exact.example.com']),
      vh('suffix', ['*.suffix.com']),
      vh('prefix', ['prefix.*']),
      vh('withport', ['withport.example.com:8080']),
      vh('default', ['*']),
    ],
  }));
  t.after(() => px.close());
  const cases: Array<[string, string]> = [
    ['exact.example.com', 'exact'],
    ['EXACT.example.COM', 'exact'],          // domains match case-insensitively
    ['exact.example.com:1234', 'exact'],     // Weft retries without the port
    ['a.suffix.com', 'suffix'],
    ['a.b.suffix.com', 'suffix'],
    ['suffix.com', 'default'],               // a wildcard never matches an empty label
    ['a.suffix.com:99', 'suffix'],
    ['prefix.anything', 'prefix'],
    ['prefix.anything:8000', 'prefix'],
    ['withport.example.com:8080', 'withport'],
    ['withport.example.com', 'default'],
    ['withport.example.com:9090', 'default'],
    ['other.org', 'default'],
  ];
  for (const [host, want] of cases) {
    const r = await request(px.port, '/', { headers: { host } });
    assert.equal(r.body, want, host);
  }
});

test('cluster_header picks the cluster named by a request header; unknown or missing → 503 NC', async (t) => {
  const [a, b] = await upstreams(t, 'a', 'b');
  const px = await startProxy(simple({
    routes: [{ match: { prefix: '/' }, route: { cluster_header: 'x-target' } }],
    clusters: [cluster('a', [a!.port]), cluster('b', [b!.port])],
  }));
  t.after(() => px.close());
  assert.equal((await request(px.port, '/', { headers: { 'x-target': 'a' } })).headers['x-upstream'], 'a');
  assert.equal((await request(px.port, '/', { headers: { 'x-target': 'b' } })).headers['x-upstream'], 'b');
  assert.equal((await request(px.port, '/', { headers: { 'x-target': 'nope' } })).status, 503);
  assert.equal((await request(px.port, '/')).status, 503);
  assert.equal(px.server.stats.value('http.ingress.no_cluster'), 2);
  assert.equal(a!.requests.length + b!.requests.length, 2);
});

test('direct_response with a body, status and route response headers', async (t) => {
  const px = await startProxy(simple({
    routes: [
      direct({ path: '/teapot' }, 'short and stout', 418, { response_headers_to_add: [{ header: { key: 'x-kind', value: 'direct' } }] }),
      { match: { path: '/empty' }, direct_response: { status: 204 } },
      direct({ prefix: '/' }, 'hello from the route table'),
    ],
  }));
  t.after(() => px.close());
  const r = await request(px.port, '/teapot');
  assert.equal(r.status, 418);
  assert.equal(r.body, 'short and stout');
  assert.equal(r.headers['content-length'], '15');
  assert.equal(r.headers['content-type'], 'text/plain');
  assert.equal(r.headers['x-kind'], 'direct');
  const e = await request(px.port, '/empty');
  assert.equal(e.status, 204);
  assert.equal(e.body, '');
  const ok = await fetch(`http://127.0.0.1:${px.port}/anything`);
  assert.equal(await ok.text(), 'hello from the route table');
  assert.equal(px.server.stats.value('http.ingress.rq_direct_response'), 3);
});

test('redirects: https_redirect, path_redirect, response_code, host/port, prefix_rewrite, strip_query', async (t) => {
  const px = await startProxy(simple({
    routes: [
      { match: { prefix: '/secure' }, redirect: { https_redirect: true } },
      { match: { path: '/old' }, redirect: { path_redirect: '/new', response_code: 'FOUND' } },
      { match: { prefix: '/moved' }, redirect: { host_redirect: 'elsewhere.example', port_redirect: 8443, response_code: 'PERMANENT_REDIRECT' } },
      { match: { prefix: '/docs/' }, redirect: { prefix_rewrite: '/documentation/', response_code: 'TEMPORARY_REDIRECT' } },
      { match: { prefix: '/strip' }, redirect: { path_redirect: '/stripped', strip_query: true, response_code: 'SEE_OTHER' } },
    ],
  }));
  t.after(() => px.close());
  const go = (path: string, host = 'site.example') => request(px.port, path, { headers: { host } });
  let r = await go('/secure/page?a=1');
  assert.equal(r.status, 301);
  assert.equal(r.headers.location, 'https://site.example/secure/page?a=1');
  r = await go('/secure', 'site.example:80');   // the default port of the old scheme is dropped
  assert.equal(r.headers.location, 'https://site.example/secure');
  r = await go('/old?keep=1');
  assert.equal(r.status, 302);
  assert.equal(r.headers.location, 'http://site.example/new?keep=1');
  r = await go('/moved/x');
  assert.equal(r.status, 308);
  assert.equal(r.headers.location, 'http://elsewhere.example:8443/moved/x');
  r = await go('/docs/intro');
  assert.equal(r.status, 307);
  assert.equal(r.headers.location, 'http://site.example/documentation/intro');
  r = await go('/strip?secret=1');
  assert.equal(r.status, 303);
  assert.equal(r.headers.location, 'http://site.example/stripped');
  assert.equal(r.body, '');
  // fetch sees the same redirect when it does not follow it; curl follows it to the next redirect.
  const f = await fetch(`http://127.0.0.1:${px.port}/old`, { redirect: 'manual' });
  assert.equal(f.status, 302);
  assert.equal(f.headers.get('location'), `http://127.0.0.1:${px.port}/new`);
  const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', `http://127.0.0.1:${px.port}/secure/x`]);
  assert.equal(stdout, `301 https://127.0.0.1:${px.port}/secure/x`);
  assert.equal(px.server.stats.value('http.ingress.rq_redirect'), 8);
});

test('prefix_rewrite and regex_rewrite: the upstream sees the new path and x-envoy-original-path', async (t) => {
  const [up] = await upstreams(t, 'up');
  const px = await startProxy(simple({
    routes: [
      toCluster('/old/', 'up', { prefix_rewrite: '/new/' }),
      toCluster('/strip', 'up', { prefix_rewrite: '/' }),
      { match: { safe_regex: { regex: '/v1/([a-z]+)/items/([0-9]+)' } },
        route: { cluster: 'up', regex_rewrite: { pattern: { regex: '^/v1/([a-z]+)/items/([0-9]+)$' }, substitution: '/items/\\2?owner=\\1' } } },
      toCluster('/', 'up'),
    ],
    clusters: [cluster('up', [up!.port])],
  }));
  t.after(() => px.close());
  const seen = async (path: string) => JSON.parse((await request(px.port, path)).body) as Echo;
  let e = await seen('/old/thing?x=1');
  assert.equal(e.url, '/new/thing?x=1');
  assert.equal(e.headers['x-envoy-original-path'], '/old/thing?x=1');
  e = await seen('/strip/rest');
  assert.equal(e.url, '//rest');  // Envoy swaps the matched prefix only, keeping the rest as is
  e = await seen('/v1/alice/items/42');
  assert.equal(e.url, '/items/42?owner=alice');
  assert.equal(e.headers['x-envoy-original-path'], '/v1/alice/items/42');
  e = await seen('/plain');
  assert.equal(e.url, '/plain');
  assert.equal(e.headers['x-envoy-original-path'], undefined);
});

test('host_rewrite_literal and auto_host_rewrite (STRICT_DNS on localhost)', async (t) => {
  const [lit, dns] = await upstreams(t, 'lit', 'dns');
  const px = await startProxy(simple({
    routes: [
      toCluster('/literal', 'lit', { host_rewrite_literal: 'rewritten.example' }),
      toCluster('/auto', 'dns', { auto_host_rewrite: true }),
      toCluster('/keep', 'dns'),
    ],
    clusters: [
      cluster('lit', [lit!.port]),
      cluster('dns', [{ endpoint: { address: { socket_address: { address: 'localhost', port_value: dns!.port } } } }],
        { type: 'STRICT_DNS', dns_lookup_family: 'V4_ONLY' }),
    ],
  }));
  t.after(() => px.close());
  const host = async (path: string) => (JSON.parse((await request(px.port, path, { headers: { host: 'orig.example' } })).body) as Echo).headers.host;
  assert.equal(await host('/literal'), 'rewritten.example');
  assert.equal(await host('/auto'), 'localhost');
  assert.equal(await host('/keep'), 'orig.example');
  assert.equal(dns!.requests.length, 2);
});

test('header mutations at route-config, virtual-host and route level, with append_action', async (t) => {
  const up = await startUpstream((req, res) => {
    const out = JSON.stringify({ headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json', 'x-drop-me': 'secret', 'x-up-keep': '1', 'content-length': Buffer.byteLength(out) });
    res.end(out);
  });
  t.after(() => up.close());
  const add = (key: string, value: string, append_action?: string): Obj => ({ header: { key, value }, ...(append_action ? { append_action } : {}) });
  const px = await startProxy(simple({
    routeConfig: {
      request_headers_to_add: [add('x-rc', 'c'), add('x-order', 'rc', 'OVERWRITE_IF_EXISTS_OR_ADD')],
      request_headers_to_remove: ['x-rm-rc'],
      response_headers_to_add: [add('x-resp-rc', 'c')],
    },
    virtualHosts: [{
      name: 'vh',
      domains: ['*'],
      request_headers_to_add: [add('x-vh', 'v'), add('x-client', '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%')],
      request_headers_to_remove: ['x-rm-vh'],
      response_headers_to_add: [add('x-resp-vh', 'v')],
      response_headers_to_remove: ['x-drop-me'],
      routes: [{
        match: { prefix: '/' },
        route: { cluster: 'up' },
        request_headers_to_add: [
          add('x-route', 'r'),
          add('x-multi', 'route'),                                  // APPEND_IF_EXISTS_OR_ADD (default)
          add('x-absent', 'cfg', 'ADD_IF_ABSENT'),
          add('x-over', 'cfg', 'OVERWRITE_IF_EXISTS_OR_ADD'),
          add('x-ovx', 'cfg', 'OVERWRITE_IF_EXISTS'),
          add('x-order', 'route', 'OVERWRITE_IF_EXISTS_OR_ADD'),
        ],
        request_headers_to_remove: ['x-rm-route'],
        response_headers_to_add: [add('x-resp-route', 'r'), add('x-up-keep', 'proxy', 'ADD_IF_ABSENT')],
      }],
    }],
    clusters: [cluster('up', [up.port])],
  }));
  t.after(() => px.close());

  const r1 = await request(px.port, '/', {
    headers: { 'x-multi': 'client', 'x-absent': 'client', 'x-over': 'client', 'x-ovx': 'client', 'x-rm-rc': '1', 'x-rm-vh': '1', 'x-rm-route': '1' },
  });
  const h1 = (JSON.parse(r1.body) as { headers: Record<string, string> }).headers;
  assert.equal(h1['x-rc'], 'c');
  assert.equal(h1['x-vh'], 'v');
  assert.equal(h1['x-route'], 'r');
  assert.equal(h1['x-client'], '127.0.0.1');
  assert.equal(h1['x-multi'], 'client, route');
  assert.equal(h1['x-absent'], 'client');
  assert.equal(h1['x-over'], 'cfg');
  assert.equal(h1['x-ovx'], 'cfg');
  assert.equal(h1['x-order'], 'rc');   // the most general level is applied last and wins
  for (const h of ['x-rm-rc', 'x-rm-vh', 'x-rm-route']) assert.equal(h1[h], undefined, h);
  assert.equal(r1.headers['x-resp-rc'], 'c');
  assert.equal(r1.headers['x-resp-vh'], 'v');
  assert.equal(r1.headers['x-resp-route'], 'r');
  assert.equal(r1.headers['x-up-keep'], '1');
  assert.equal(r1.headers['x-drop-me'], undefined);

  const h2 = (JSON.parse((await request(px.port, '/')).body) as { headers: Record<string, string> }).headers;
  assert.equal(h2['x-multi'], 'route');
  assert.equal(h2['x-absent'], 'cfg');
  assert.equal(h2['x-over'], 'cfg');
  assert.equal(h2['x-ovx'], undefined);   // OVERWRITE_IF_EXISTS adds nothing when absent
});

test('request_mirror_policies: the shadow gets a copy with host <host>-shadow; the client gets the primary', async (t) => {
  const primary = await startUpstream(echo('primary'));
  t.after(() => primary.close());
  const shadow = await startUpstream((_req, res) => { res.writeHead(500, { 'content-length': '6' }); res.end('shadow'); });
  t.after(() => shadow.close());
  const px = await startProxy(simple({
    routes: [toCluster('/', 'primary', { request_mirror_policies: [{ cluster: 'shadow' }] })],
    clusters: [cluster('primary', [primary.port]), cluster('shadow', [shadow.port])],
  }));
  t.after(() => px.close());
  const mirrored = (n: number) => new Promise<void>((resolve) => {
    if (shadow.requests.length >= n) { resolve(); return; }
    const on = () => setImmediate(() => { if (shadow.requests.length >= n) { shadow.server.off('request', on); resolve(); } });
    shadow.server.on('request', on);
  });

  const r = await request(px.port, '/m?x=1', { headers: { host: 'app.local' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-upstream'], 'primary');
  await mirrored(1);
  assert.equal(shadow.requests[0]!.url, '/m?x=1');
  assert.equal(shadow.requests[0]!.headers.host, 'app.local-shadow');
  assert.equal(primary.requests[0]!.headers.host, 'app.local');

  const p = await request(px.port, '/post', { method: 'POST', headers: { host: 'app.local:8080' }, body: 'payload' });
  assert.equal(p.status, 200);
  await mirrored(2);
  assert.equal(shadow.requests[1]!.method, 'POST');
  assert.equal(shadow.requests[1]!.headers.host, 'app.local-shadow:8080');
  assert.equal(shadow.requests[1]!.body.toString(), 'payload');
  assert.equal(primary.requests[1]!.body.toString(), 'payload');
});

test('local replies (404, direct_response, redirect) keep the connection for the next pipelined request', async (t) => {
  const [up] = await upstreams(t, 'up');
  const px = await startProxy(simple({
    virtualHosts: [{
      name: 'vh',
      domains: ['a'],
      routes: [
        direct({ path: '/direct' }, 'direct'),
        { match: { path: '/redirect' }, redirect: { path_redirect: '/elsewhere' } },
        toCluster('/up', 'up'),
      ],
    }],
    clusters: [cluster('up', [up!.port])],
  }));
  t.after(() => px.close());
  const reqs = ['/nothing', '/direct', '/redirect', '/up', '/direct']
    .map((p, i, all) => `GET ${p} HTTP/1.1\r\nHost: a\r\n${i === all.length - 1 ? 'Connection: close\r\n' : ''}\r\n`).join('');
  const text = await rawExchange(px.port, reqs);
  const rs = splitResponses(text);
  assert.deepEqual(rs.map((r) => r.status), [404, 200, 301, 200, 200]);
  assert.equal(rs[1]!.body, 'direct');
  assert.equal(rs[2]!.headers.location, 'http://a/elsewhere');
  assert.equal(rs[3]!.headers['x-upstream'], 'up');
  assert.equal(rs.slice(0, 4).some((r) => r.headers.connection === 'close'), false);
  assert.equal(rs[4]!.headers.connection, 'close');
  assert.equal(px.server.stats.value('http.ingress.downstream_cx_total'), 1);
});
