// Route matching: path specifiers, header matchers and query parameter matchers
// (route_components.proto RouteMatch, HeaderMatcher, QueryParameterMatcher).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HeaderMatchSpec, PathMatchConfig, StringMatcherConfig } from '../../../src/proxy/config/types.js';
import { compileRouteTable, RouteConfigError } from '../../../src/proxy/router/route-table.js';
import { exactPath, prefix, regexPath, req, route, routeConfig, separatedPrefix, tableOf, vhost } from './builders.js';

// ───────────── paths ─────────────

const pathCases: [PathMatchConfig, caseSensitive: boolean, path: string, matches: boolean][] = [
  [prefix('/foo'), true, '/foo', true],
  [prefix('/foo'), true, '/foo/bar', true],
  [prefix('/foo'), true, '/foobar', true],
  [prefix('/foo'), true, '/foo?x=1', true],
  [prefix('/foo'), true, '/fo', false],
  [prefix('/foo'), true, '/FOO', false],
  [prefix('/foo'), true, '/fo?o', false],        // the query string is not part of the matched path
  [prefix('/FOO'), false, '/foo/x', true],
  [prefix('/foo'), false, '/FoO/x', true],
  [prefix(''), true, '/anything', true],
  [exactPath('/foo'), true, '/foo', true],
  [exactPath('/foo'), true, '/foo?a=1', true],     // exact path ignores the query string
  [exactPath('/foo'), true, '/foo#frag', true],    // ... and the fragment
  [exactPath('/foo'), true, '/foo/', false],
  [exactPath('/foo'), true, '/FOO', false],
  [exactPath('/foo'), false, '/FoO?x', true],
  [regexPath('/v[0-9]+/.*'), true, '/v1/x', true],
  [regexPath('/v[0-9]+/.*'), true, '/v12/x?q=/a', true],
  [regexPath('/v[0-9]+/.*'), true, '/a/v1/x', false],   // anchored: the whole path must match
  [regexPath('/v[0-9]+/.*'), true, '/v1', false],
  [regexPath('/v[0-9]+/.*'), false, '/V1/x', false],    // case_sensitive does not apply to regex
  [regexPath('(?i)/v[0-9]+/.*'), true, '/V1/x', true],  // RE2 inline flag
  [regexPath('/a|/b'), true, '/ab', false],             // alternation stays inside the anchors
  [separatedPrefix('/api/dev'), true, '/api/dev', true],
  [separatedPrefix('/api/dev'), true, '/api/dev/', true],
  [separatedPrefix('/api/dev'), true, '/api/dev/v1', true],
  [separatedPrefix('/api/dev'), true, '/api/dev?param=true', true],
  [separatedPrefix('/api/dev'), true, '/api/dev#top', true],
  [separatedPrefix('/api/dev'), true, '/api/developer', false],
  [separatedPrefix('/api/dev'), true, '/api/de', false],
  [separatedPrefix('/api/dev'), true, '/API/dev/v1', false],
  [separatedPrefix('/api/dev'), false, '/API/Dev/v1', true],
];

for (const [spec, caseSensitive, path, matches] of pathCases) {
  const label = 'value' in spec ? spec.value : spec.regex;
  test(`${spec.kind} '${label}'${caseSensitive ? '' : ' (case-insensitive)'} ${matches ? 'matches' : 'does not match'} ${path}`, () => {
    const t = tableOf(route(spec, { caseSensitive }));
    assert.equal(t.match(req(path)) !== null, matches);
  });
}

test('routes are tried in order and the first match wins', () => {
  const t = tableOf(
    route(prefix('/api/v2'), { name: 'v2' }),
    route(prefix('/api'), { name: 'api' }),
    route(prefix('/'), { name: 'root' }),
  );
  assert.equal(t.match(req('/api/v2/x'))?.route.name, 'v2');
  assert.equal(t.match(req('/api/v1'))?.route.name, 'api');
  assert.equal(t.match(req('/x'))?.route.name, 'root');
  // the answer object is pre-built once per route
  assert.equal(t.match(req('/x')), t.match(req('/y')));
});

test('rejects a bad regex and a bad path_separated_prefix, with every error and its path', () => {
  assert.throws(
    () => compileRouteTable(routeConfig([vhost('v', ['*'], [
      route(regexPath('/a(')),
      route(separatedPrefix('/api/')),
      route(prefix('/'), { headers: [{ name: 'x', spec: { kind: 'regex', regex: '[' }, invertMatch: false }] }),
    ])])),
    (err: unknown) => {
      assert.ok(err instanceof RouteConfigError);
      assert.equal(err.errors.length, 3);
      assert.match(err.errors[0]!, /^virtualHosts\[0\]\.routes\[0\]\.match\.path\.regex: invalid regular expression/);
      assert.match(err.errors[1]!, /^virtualHosts\[0\]\.routes\[1\]\.match\.path\.value: /);
      assert.match(err.errors[2]!, /^virtualHosts\[0\]\.routes\[2\]\.match\.headers\[0\]: invalid regular expression/);
      return true;
    },
  );
});

// ───────────── headers ─────────────

const str = (kind: 'exact' | 'prefix' | 'suffix' | 'contains', value: string, ignoreCase = false): StringMatcherConfig =>
  ({ kind, value, ignoreCase });

const headerCases: [spec: HeaderMatchSpec, invert: boolean, headers: string[], matches: boolean, note?: string][] = [
  [str('exact', 'prod'), false, ['x-env', 'prod'], true],
  [str('exact', 'prod'), false, ['x-env', 'dev'], false],
  [str('exact', 'prod'), false, [], false],
  [str('exact', 'prod'), true, ['x-env', 'dev'], true],
  [str('exact', 'prod'), true, ['x-env', 'prod'], false],
  [str('exact', 'prod'), true, [], false, 'a missing header never matches a value matcher, even inverted'],
  [str('exact', 'a,b'), false, ['x-env', 'a', 'other', 'z', 'x-env', 'b'], true, 'repeated values are joined with ","'],
  [str('exact', 'a'), false, ['x-env', 'a', 'x-env', 'b'], false],
  [str('exact', 'PROD', true), false, ['x-env', 'prod'], true],
  [str('exact', 'PROD'), false, ['x-env', 'prod'], false],
  [str('prefix', 'pro'), false, ['x-env', 'prod'], true],
  [str('prefix', 'PRO', true), false, ['x-env', 'prod'], true],
  [str('prefix', 'pro'), false, ['x-env', 'xprod'], false],
  [str('suffix', 'od'), false, ['x-env', 'prod'], true],
  [str('suffix', 'OD', true), false, ['x-env', 'prod'], true],
  [str('suffix', 'pr'), false, ['x-env', 'prod'], false],
  [str('contains', 'ro'), false, ['x-env', 'prod'], true],
  [str('contains', 'RO', true), false, ['x-env', 'pROd'], true],
  [str('contains', 'x'), false, ['x-env', 'prod'], false],
  [{ kind: 'regex', regex: '\\d{3}' }, false, ['x-env', '123'], true],
  [{ kind: 'regex', regex: '\\d{3}' }, false, ['x-env', '1234'], false, 'regex must match the whole value'],
  [{ kind: 'regex', regex: '\\d{3}' }, true, ['x-env', '1234'], true],
  [{ kind: 'present', present: true }, false, ['x-env', ''], true],
  [{ kind: 'present', present: true }, false, [], false],
  [{ kind: 'present', present: false }, false, [], true],
  [{ kind: 'present', present: false }, false, ['x-env', 'v'], false],
  [{ kind: 'present', present: true }, true, [], true],
  [{ kind: 'present', present: true }, true, ['x-env', 'v'], false],
  [{ kind: 'present', present: false }, true, [], false],
  [{ kind: 'range', start: -10, end: 0 }, false, ['x-env', '-1'], true],
  [{ kind: 'range', start: -10, end: 0 }, false, ['x-env', '-10'], true],
  [{ kind: 'range', start: -10, end: 0 }, false, ['x-env', '0'], false, 'end is exclusive'],
  [{ kind: 'range', start: -10, end: 0 }, false, ['x-env', '+0'], false],
  [{ kind: 'range', start: 0, end: 10 }, false, ['x-env', '+5'], true],
  [{ kind: 'range', start: -10, end: 0 }, false, ['x-env', 'somestring'], false],
  [{ kind: 'range', start: -10, end: 0 }, false, ['x-env', '10.9'], false],
  [{ kind: 'range', start: -10, end: 0 }, false, ['x-env', '-1somestring'], false],
  [{ kind: 'range', start: -10, end: 0 }, false, ['x-env', ''], false],
  [{ kind: 'range', start: -10, end: 0 }, true, ['x-env', '-1'], false],
  [{ kind: 'range', start: -10, end: 0 }, true, ['x-env', '5'], true],
  [{ kind: 'range', start: -10, end: 0 }, true, ['x-env', 'abc'], true],
];

for (const [spec, invert, headers, matches, note] of headerCases) {
  const what = spec.kind === 'present' ? `present=${spec.present}` : spec.kind === 'range' ? `range [${spec.start},${spec.end})`
    : spec.kind === 'regex' ? `regex ${spec.regex}` : `${spec.kind} '${spec.value}'${spec.ignoreCase ? ' ignore_case' : ''}`;
  test(`header ${what}${invert ? ' inverted' : ''} on [${headers.join(', ')}] → ${matches}${note ? ` (${note})` : ''}`, () => {
    const t = tableOf(route(prefix('/'), { headers: [{ name: 'x-env', spec, invertMatch: invert }] }));
    assert.equal(t.match(req('/', headers)) !== null, matches);
  });
}

test('pseudo-headers :method, :authority and :path read the request fields', () => {
  const t = tableOf(route(prefix('/'), {
    headers: [
      { name: ':method', spec: str('exact', 'POST'), invertMatch: false },
      { name: ':authority', spec: str('suffix', '.example.com'), invertMatch: false },
      { name: ':path', spec: str('contains', '?debug'), invertMatch: false },
    ],
  }));
  assert.notEqual(t.match(req('/x?debug', [], 'api.example.com', 'POST')), null);
  assert.equal(t.match(req('/x?debug', [], 'api.example.com', 'GET')), null);
  assert.equal(t.match(req('/x?debug', [], 'example.org', 'POST')), null);
  assert.equal(t.match(req('/x', [], 'api.example.com', 'POST')), null);
});

test('every header matcher must match', () => {
  const t = tableOf(route(prefix('/'), {
    headers: [
      { name: 'a', spec: str('exact', '1'), invertMatch: false },
      { name: 'b', spec: { kind: 'present', present: true }, invertMatch: false },
    ],
  }));
  assert.notEqual(t.match(req('/', ['a', '1', 'b', ''])), null);
  assert.equal(t.match(req('/', ['a', '1'])), null);
  assert.equal(t.match(req('/', ['b', 'x'])), null);
});

// ───────────── query parameters ─────────────

const queryCases: [name: string, match: StringMatcherConfig | null, path: string, matches: boolean, note?: string][] = [
  ['debug', null, '/p?debug', true],
  ['debug', null, '/p?debug=1', true],
  ['debug', null, '/p?a=1&debug=&b=2', true],
  ['debug', null, '/p?x=1', false],
  ['debug', null, '/p', false],
  ['debug', null, '/p?debugging=1', false],
  ['v', str('exact', '1'), '/p?v=1', true],
  ['v', str('exact', '1'), '/p?v=1&v=2', true, 'the first occurrence wins'],
  ['v', str('exact', '2'), '/p?v=1&v=2', false],
  ['v', str('exact', 'a%20b'), '/p?v=a%20b', true, 'values are not percent-decoded'],
  ['v', str('exact', 'a b'), '/p?v=a%20b', false],
  ['v', str('exact', 'x=y'), '/p?v=x=y', true, 'split on the first "="'],
  ['v', str('exact', ''), '/p?v', true],
  ['v', str('prefix', 'AB', true), '/p?v=abc', true],
  ['v', { kind: 'regex', regex: '[0-9]+' }, '/p?v=123', true],
  ['v', { kind: 'regex', regex: '[0-9]+' }, '/p?v=123x', false],
  ['V', str('exact', '1'), '/p?v=1', false, 'names are case-sensitive'],
];

for (const [name, stringMatch, path, matches, note] of queryCases) {
  test(`query parameter '${name}' ${stringMatch === null ? 'present' : `${stringMatch.kind} '${'value' in stringMatch ? stringMatch.value : stringMatch.regex}'`} on ${path} → ${matches}${note ? ` (${note})` : ''}`, () => {
    const t = tableOf(route(prefix('/'), { query: [{ name, stringMatch }] }));
    assert.equal(t.match(req(path)) !== null, matches);
  });
}

test('a route with query matchers that fails falls through to the next route', () => {
  const t = tableOf(
    route(prefix('/'), { name: 'canary', query: [{ name: 'canary', stringMatch: str('exact', 'true') }] }),
    route(prefix('/'), { name: 'stable' }),
  );
  assert.equal(t.match(req('/x?canary=true'))?.route.name, 'canary');
  assert.equal(t.match(req('/x?canary=false'))?.route.name, 'stable');
  assert.equal(t.match(req('/x'))?.route.name, 'stable');
});
