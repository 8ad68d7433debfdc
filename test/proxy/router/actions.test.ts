// Route actions: cluster selection, path rewrites, redirects, hash policies, direct responses and
// per-route settings (route_components.proto RouteAction, RedirectAction, DirectResponseAction).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HashPolicyConfig, PathMatchConfig, RouteActionConfig } from '../../../src/proxy/config/types.js';
import { hash32 } from '../../../src/proxy/lb/hash.js';
import { compileRouteTable, RouteConfigError, type CompiledRoute } from '../../../src/proxy/router/route-table.js';
import {
  NO_MUTATIONS, action, directAction, exactPath, prefix, redirectAction, regexPath, req, retryPolicy, route,
  routeConfig, separatedPrefix, tableOf, vhost,
} from './builders.js';

function only(path: PathMatchConfig, a: RouteActionConfig | ReturnType<typeof redirectAction>, caseSensitive = true): CompiledRoute {
  return tableOf(route(path, { action: a, caseSensitive })).virtualHosts[0]!.routes[0]!;
}

// ───────────── clusters ─────────────

test('a fixed cluster is returned as the same object every time', () => {
  const r = only(prefix('/'), action({ cluster: 'reviews' }));
  const a = r.selectCluster([], 0.5);
  assert.deepEqual(a, { name: 'reviews', headers: null });
  assert.equal(r.selectCluster([], 0.1), a);
});

test('weighted clusters split by floor(random × total) over cumulative weights', () => {
  const r = only(prefix('/'), action({
    cluster: null,
    weightedClusters: {
      totalWeight: 100,
      clusters: [
        { ...NO_MUTATIONS, name: 'a', weight: 10 },
        { ...NO_MUTATIONS, name: 'never', weight: 0 },
        { ...NO_MUTATIONS, name: 'b', weight: 20, requestHeadersToAdd: [{ key: 'x-b', value: '1', appendAction: 'APPEND_IF_EXISTS_OR_ADD' }] },
        { ...NO_MUTATIONS, name: 'c', weight: 70 },
      ],
    },
  }));
  const pick = (x: number) => r.selectCluster([], x)!.name;
  assert.equal(pick(0), 'a');
  assert.equal(pick(0.0999), 'a');
  assert.equal(pick(0.1), 'b');
  assert.equal(pick(0.2999), 'b');
  assert.equal(pick(0.3), 'c');
  assert.equal(pick(0.99999), 'c');
  assert.equal(pick(1), 'c'); // out-of-range randoms are clamped
  const counts = new Map<string, number>();
  for (let i = 0; i < 1000; i++) counts.set(pick(i / 1000), (counts.get(pick(i / 1000)) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries(counts), { a: 100, b: 200, c: 700 });
  assert.equal(r.selectCluster([], 0)!.headers, null);
  assert.equal(r.selectCluster([], 0.2)!.headers!.hasRequest, true); // the entry's own mutations
});

test('rejects weighted clusters whose weights do not add up to total_weight', () => {
  assert.throws(() => tableOf(route(prefix('/'), {
    action: action({ cluster: null, weightedClusters: { totalWeight: 100, clusters: [{ ...NO_MUTATIONS, name: 'a', weight: 60 }] } }),
  })), (err: unknown) => err instanceof RouteConfigError
    && err.errors[0] === 'virtualHosts[0].routes[0].action.weightedClusters: weights add up to 60, totalWeight is 100');
});

test('cluster_header takes the first value of the header; absent or empty gives null', () => {
  const r = only(prefix('/'), action({ cluster: null, clusterHeader: 'x-cluster' }));
  assert.deepEqual(r.selectCluster(['x-cluster', 'ratings', 'x-cluster', 'other'], 0), { name: 'ratings', headers: null });
  assert.equal(r.selectCluster([], 0), null);
  assert.equal(r.selectCluster(['x-cluster', ''], 0), null);
});

test('redirect and direct_response routes select no cluster and keep their path', () => {
  const rd = only(prefix('/'), redirectAction({ pathRedirect: '/x' }));
  assert.equal(rd.kind, 'redirect');
  assert.equal(rd.selectCluster([], 0), null);
  assert.equal(rd.rewritePath('/a'), '/a');
  const dr = tableOf(route(prefix('/'), { action: directAction(503, 'down') })).virtualHosts[0]!.routes[0]!;
  assert.equal(dr.kind, 'direct_response');
  assert.deepEqual(dr.directResponse, { status: 503, body: 'down' });
  assert.equal(dr.selectCluster([], 0), null);
  assert.equal(rd.directResponse, null);
  assert.throws(() => dr.redirect('http', 'a', '/'), /not a redirect route/);
});

// ───────────── path rewrites ─────────────

const rewriteCases: [match: PathMatchConfig, caseSensitive: boolean, a: Partial<RouteActionConfig>, path: string, expected: string][] = [
  [prefix('/foo'), true, { prefixRewrite: '/bar' }, '/foo/x?y=1', '/bar/x?y=1'],
  [prefix('/foo'), true, { prefixRewrite: '/bar' }, '/foo', '/bar'],
  [prefix('/foo'), true, { prefixRewrite: '/bar' }, '/foobar', '/barbar'],
  // Envoy's documented double-slash case: stripping /prefix needs two routes
  [prefix('/prefix'), true, { prefixRewrite: '/' }, '/prefix/etc', '//etc'],
  [prefix('/prefix'), true, { prefixRewrite: '/' }, '/prefix', '/'],
  [prefix('/prefix/'), true, { prefixRewrite: '/' }, '/prefix/etc', '/etc'],
  [prefix('/FOO'), false, { prefixRewrite: '/bar' }, '/foo/z', '/bar/z'],
  [exactPath('/old'), true, { prefixRewrite: '/new' }, '/old?q=1', '/new?q=1'],
  [separatedPrefix('/api'), true, { prefixRewrite: '/v2' }, '/api/x', '/v2/x'],
  // for a regex match the whole path (without query) is the matched part
  [regexPath('/v[0-9]+/.*'), true, { prefixRewrite: '/x' }, '/v1/a/b?q=1', '/x?q=1'],
  [prefix('/'), true, { regexRewrite: { regex: '^/service/([^/]+)(/.*)$', substitution: '\\2/instance/\\1' } }, '/service/foo/v1/api', '/v1/api/instance/foo'],
  [prefix('/'), true, { regexRewrite: { regex: '^/service/([^/]+)(/.*)$', substitution: '\\2/instance/\\1' } }, '/service/foo/v1/api?a=/service/b/c', '/v1/api/instance/foo?a=/service/b/c'],
  [prefix('/'), true, { regexRewrite: { regex: 'one', substitution: 'two' } }, '/xxx/one/yyy/one/zzz', '/xxx/two/yyy/two/zzz'],
  [prefix('/'), true, { regexRewrite: { regex: '^(.*?)one(.*)$', substitution: '\\1two\\2' } }, '/xxx/one/yyy/one/zzz', '/xxx/two/yyy/one/zzz'],
  [prefix('/'), true, { regexRewrite: { regex: '(?i)/xxx/', substitution: '/yyy/' } }, '/aaa/XxX/bbb', '/aaa/yyy/bbb'],
  [prefix('/'), true, { regexRewrite: { regex: '/(a)', substitution: '/$\\10' } }, '/a', '/$a0'], // `$` literal; `\10` is \1 then 0
  [prefix('/'), true, { regexRewrite: { regex: '/a', substitution: '[\\0]' } }, '/a/b', '[/a]/b'],
  [prefix('/'), true, { regexRewrite: { regex: '^.*$', substitution: '' } }, '/a?q', '/a?q'], // empty result: no rewrite
  [prefix('/'), true, { regexRewrite: { regex: 'q', substitution: 'Q' } }, '/q#q', '/Q#q'],
];

for (const [match, cs, a, path, expected] of rewriteCases) {
  const how = a.prefixRewrite !== undefined ? `prefix_rewrite '${a.prefixRewrite}'` : `regex_rewrite ${a.regexRewrite!.regex} → ${a.regexRewrite!.substitution}`;
  test(`${match.kind} ${'value' in match ? match.value : match.regex} with ${how}: ${path} → ${expected}`, () => {
    const r = only(match, action(a), cs);
    assert.notEqual(tableOf(route(match, { caseSensitive: cs })).match(req(path)), null); // the route does match it
    assert.equal(r.rewritePath(path), expected);
  });
}

test('without a rewrite the very same string is returned', () => {
  const r = only(prefix('/'), action());
  const p = '/some/path?q=1';
  assert.equal(r.rewritePath(p), p);
  assert.equal(r.hasPathRewrite, false);
});

test('rejects a substitution naming a missing group, and both rewrites at once', () => {
  assert.throws(() => tableOf(
    route(prefix('/'), { action: action({ regexRewrite: { regex: '/(a)', substitution: '\\2' } }) }),
    route(prefix('/'), { action: action({ prefixRewrite: '/x', regexRewrite: { regex: 'a', substitution: 'b' } }) }),
    route(prefix('/'), { action: action({ regexRewrite: { regex: 'a', substitution: '\\n' } }) }),
  ), (err: unknown) => {
    assert.ok(err instanceof RouteConfigError);
    assert.deepEqual(err.errors, [
      'virtualHosts[0].routes[0].action.regexRewrite.substitution: substitution refers to group \\2 but the pattern has 1 group(s)',
      'virtualHosts[0].routes[1].action: only one of prefixRewrite and regexRewrite may be set',
      "virtualHosts[0].routes[2].action.regexRewrite.substitution: invalid escape '\\n' in substitution (only \\0-\\9 and \\\\ are allowed)",
    ]);
    return true;
  });
});

// ───────────── redirects ─────────────

type RedirectCase = [what: string, match: PathMatchConfig, a: Partial<ReturnType<typeof redirectAction>>,
  scheme: string, authority: string, path: string, location: string, status?: number];

const redirectCases: RedirectCase[] = [
  ['https_redirect', prefix('/'), { schemeRedirect: 'https' }, 'http', 'example.com', '/a?b=1', 'https://example.com/a?b=1'],
  ['https_redirect drops the default http port', prefix('/'), { schemeRedirect: 'https' }, 'http', 'example.com:80', '/a', 'https://example.com/a'],
  ['https_redirect keeps another port', prefix('/'), { schemeRedirect: 'https' }, 'http', 'example.com:8080', '/a', 'https://example.com:8080/a'],
  ['same scheme keeps :443', prefix('/'), { schemeRedirect: 'https' }, 'https', 'example.com:443', '/a', 'https://example.com:443/a'],
  ['scheme_redirect http from https drops :443', prefix('/'), { schemeRedirect: 'http' }, 'https', 'example.com:443', '/', 'http://example.com/'],
  ['https_redirect on an IPv6 literal', prefix('/'), { schemeRedirect: 'https' }, 'http', '[::1]:80', '/', 'https://[::1]/'],
  ['port_redirect replaces the port', prefix('/'), { portRedirect: 8443 }, 'http', 'example.com:8080', '/a', 'http://example.com:8443/a'],
  ['port_redirect adds a port', prefix('/'), { portRedirect: 8443 }, 'http', 'example.com', '/a', 'http://example.com:8443/a'],
  ['host_redirect and port_redirect', prefix('/'), { hostRedirect: 'new.example.com', portRedirect: 9000 }, 'http', 'old.example.com:80', '/a', 'http://new.example.com:9000/a'],
  ['host_redirect keeps the path and query', prefix('/'), { hostRedirect: 'new.example.com' }, 'https', 'old.example.com', '/a?q=1', 'https://new.example.com/a?q=1'],
  ['path_redirect keeps the request query', exactPath('/old-path-1'), { pathRedirect: '/new-path-1' }, 'http', 'h', '/old-path-1?bar=1', 'http://h/new-path-1?bar=1'],
  ['path_redirect with strip_query', exactPath('/old-path-2'), { pathRedirect: '/new-path-2', stripQuery: true }, 'http', 'h', '/old-path-2?bar=1', 'http://h/new-path-2'],
  ['path_redirect with its own query wins over strip_query', exactPath('/old-path-3'), { pathRedirect: '/new-path-3?foo=1', stripQuery: true }, 'http', 'h', '/old-path-3?bar=1', 'http://h/new-path-3?foo=1'],
  ['strip_query alone', prefix('/'), { stripQuery: true, schemeRedirect: 'https' }, 'http', 'h', '/a?b', 'https://h/a'],
  ['prefix_rewrite', prefix('/old/'), { prefixRewrite: '/new/' }, 'http', 'h', '/old/a?q=1', 'http://h/new/a?q=1'],
  ['prefix_rewrite without a leading slash gets one', prefix('/old/'), { prefixRewrite: 'new/' }, 'http', 'h', '/old/a', 'http://h/new/a'],
  ['regex_rewrite', prefix('/'), { regexRewrite: { regex: '^/v1/(.*)$', substitution: '/v2/\\1' } }, 'http', 'h', '/v1/x?y', 'http://h/v2/x?y'],
  ['response code 302', prefix('/'), { pathRedirect: '/x', responseCode: 302 }, 'http', 'h', '/', 'http://h/x', 302],
  ['response code 308', prefix('/'), { pathRedirect: '/x', responseCode: 308 }, 'http', 'h', '/', 'http://h/x', 308],
];

for (const [what, match, a, scheme, authority, path, location, status] of redirectCases) {
  test(`redirect, ${what}: ${scheme}://${authority}${path} → ${location}`, () => {
    const r = only(match, redirectAction(a));
    assert.deepEqual(r.redirect(scheme, authority, path), { status: status ?? 301, location });
  });
}

// ───────────── hash policies ─────────────

function hashing(...policies: HashPolicyConfig[]): CompiledRoute {
  return only(prefix('/'), action({ hashPolicy: policies }));
}
const header = (headerName: string, terminal = false): HashPolicyConfig => ({ kind: 'header', headerName, terminal });
const cookie = (name: string, terminal = false): HashPolicyConfig => ({ kind: 'cookie', name, ttlMs: null, path: '', terminal });
const sourceIp = (terminal = false): HashPolicyConfig => ({ kind: 'source_ip', terminal });
const rotl = (h: number) => ((h << 1) | (h >>> 31)) >>> 0;

test('header hash policy hashes the header value; no header, no hash', () => {
  const r = hashing(header('x-user'));
  assert.equal(r.hasHashPolicy, true);
  assert.equal(r.hash(['x-user', 'alice'], '10.0.0.1'), hash32('alice'));
  assert.equal(r.hash([], '10.0.0.1'), null);
});

test('a repeated header hashes the same whatever the order of its values', () => {
  const r = hashing(header('x-user'));
  const h = r.hash(['x-user', 'b', 'x-user', 'a'], '');
  assert.equal(h, r.hash(['x-user', 'a', 'x-user', 'b'], ''));
  assert.notEqual(h, hash32('a'));
});

test('cookie hash policy reads the named cookie from every cookie header', () => {
  const r = hashing(cookie('session'));
  assert.equal(r.hash(['cookie', 'a=1; session="abc"; c=3'], ''), hash32('abc'));
  assert.equal(r.hash(['cookie', 'a=1', 'cookie', 'session=xyz'], ''), hash32('xyz'));
  assert.equal(r.hash(['cookie', 'xsession=1; sessionx=2'], ''), null);
  assert.equal(r.hash(['cookie', 'session='], ''), null); // empty value produces no hash
  assert.equal(r.hash([], ''), null);
});

test('source_ip hash policy hashes the address as given', () => {
  const r = hashing(sourceIp());
  assert.equal(r.hash([], '10.1.2.3'), hash32('10.1.2.3'));
  assert.equal(r.hash([], ''), null);
});

test('policies combine by rotate-left-1 then XOR, skipping those that produce nothing', () => {
  const r = hashing(header('x-a'), header('x-missing'), sourceIp());
  assert.equal(r.hash(['x-a', 'v'], '1.2.3.4'), (rotl(hash32('v')) ^ hash32('1.2.3.4')) >>> 0);
  assert.equal(r.hash([], '1.2.3.4'), hash32('1.2.3.4'));
});

test('a terminal policy that produced a hash ends the list; one that did not falls through', () => {
  const r = hashing(header('x-a', true), sourceIp());
  assert.equal(r.hash(['x-a', 'v'], '1.2.3.4'), hash32('v'));
  assert.equal(r.hash([], '1.2.3.4'), hash32('1.2.3.4'));
  const noPolicy = only(prefix('/'), action());
  assert.equal(noPolicy.hasHashPolicy, false);
  assert.equal(noPolicy.hash(['x-a', 'v'], '1.2.3.4'), null);
});

// ───────────── per-route settings ─────────────

test('route settings: timeouts, host rewrite, mirrors, upgrades; the virtual host retry policy as fallback', () => {
  const vhRetry = retryPolicy(['5xx'], { numRetries: 3 });
  const t = compileRouteTable(routeConfig([vhost('v', ['*'], [
    route(prefix('/own'), { action: action({ retryPolicy: retryPolicy(['reset'], { numRetries: 5 }), timeoutMs: 0, idleTimeoutMs: 1000 }) }),
    route(prefix('/'), {
      action: action({
        hostRewriteLiteral: 'upstream.local', requestMirrorPolicies: [{ cluster: 'shadow', fraction: 0.5 }],
        upgradeConfigs: [{ upgradeType: 'websocket', enabled: true }],
      }),
    }),
  ], { retryPolicy: vhRetry })]));
  const [own, inherit] = t.virtualHosts[0]!.routes as [CompiledRoute, CompiledRoute];
  assert.equal(own.retry!.numRetries, 5);
  assert.equal(own.timeoutMs, 0);
  assert.equal(own.idleTimeoutMs, 1000);
  assert.equal(own.hostRewriteLiteral, null);
  assert.equal(inherit.retry!.numRetries, 3);
  assert.equal(inherit.retry, t.virtualHosts[0]!.retry); // shared, compiled once
  assert.equal(inherit.timeoutMs, 15_000);
  assert.equal(inherit.idleTimeoutMs, null);
  assert.equal(inherit.hostRewriteLiteral, 'upstream.local');
  assert.equal(inherit.autoHostRewrite, false);
  assert.deepEqual(inherit.mirrors, [{ cluster: 'shadow', fraction: 0.5 }]);
  assert.deepEqual(inherit.upgradeConfigs, [{ upgradeType: 'websocket', enabled: true }]);
  const none = only(prefix('/'), action());
  assert.equal(none.retry, null);
});
