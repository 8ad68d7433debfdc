// Header mutations (Envoy's HeaderParser: *_headers_to_add / *_headers_to_remove, append_action,
// %COMMAND% values) and the order route → virtual host → route configuration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HeaderValueOption } from '../../../src/proxy/config/types.js';
import { StreamInfo } from '../../../src/proxy/stream-info.js';
import { CompiledHeaderMutations, compileHeaderMutations } from '../../../src/proxy/router/header-mutations.js';
import { compileRouteTable, RouteConfigError } from '../../../src/proxy/router/route-table.js';
import { NO_MUTATIONS, action, prefix, route, routeConfig, vhost } from './builders.js';

const add = (key: string, value: string, appendAction: HeaderValueOption['appendAction'] = 'APPEND_IF_EXISTS_OR_ADD'): HeaderValueOption =>
  ({ key, value, appendAction });

function requestSide(adds: HeaderValueOption[], remove: string[] = []): CompiledHeaderMutations {
  return compileHeaderMutations({ ...NO_MUTATIONS, requestHeadersToAdd: adds, requestHeadersToRemove: remove });
}

const info = new StreamInfo();

type Case = [what: string, adds: HeaderValueOption[], remove: string[], before: string[], after: string[]];

const cases: Case[] = [
  ['APPEND_IF_EXISTS_OR_ADD adds a second value', [add('x-a', 'new')], [], ['x-a', 'old'], ['x-a', 'old', 'x-a', 'new']],
  ['APPEND_IF_EXISTS_OR_ADD adds when absent', [add('x-a', 'new')], [], ['y', '1'], ['y', '1', 'x-a', 'new']],
  ['ADD_IF_ABSENT leaves an existing header', [add('x-a', 'new', 'ADD_IF_ABSENT')], [], ['x-a', 'old'], ['x-a', 'old']],
  ['ADD_IF_ABSENT adds when absent', [add('x-a', 'new', 'ADD_IF_ABSENT')], [], [], ['x-a', 'new']],
  ['OVERWRITE_IF_EXISTS_OR_ADD replaces every value', [add('x-a', 'new', 'OVERWRITE_IF_EXISTS_OR_ADD')], [],
    ['x-a', '1', 'y', '2', 'x-a', '3'], ['y', '2', 'x-a', 'new']],
  ['OVERWRITE_IF_EXISTS_OR_ADD adds when absent', [add('x-a', 'new', 'OVERWRITE_IF_EXISTS_OR_ADD')], [], [], ['x-a', 'new']],
  ['OVERWRITE_IF_EXISTS replaces an existing header', [add('x-a', 'new', 'OVERWRITE_IF_EXISTS')], [], ['x-a', 'old'], ['x-a', 'new']],
  ['OVERWRITE_IF_EXISTS does nothing when absent', [add('x-a', 'new', 'OVERWRITE_IF_EXISTS')], [], ['y', '1'], ['y', '1']],
  ['remove runs before add', [add('x-a', 'new')], ['x-a'], ['x-a', 'old', 'x-a', 'older'], ['x-a', 'new']],
  ['remove drops every value and keeps the order of the rest', [], ['x-a', 'x-b'],
    ['x-a', '1', 'c', '2', 'x-b', '3', 'd', '4', 'x-a', '5'], ['c', '2', 'd', '4']],
  ['an empty value is not added (keep_empty_value: false)', [add('x-a', ''), add('x-b', '', 'OVERWRITE_IF_EXISTS_OR_ADD')], [],
    ['x-b', 'old'], ['x-b', 'old']],
  ['decisions see the headers before this level adds anything', [add('x-a', '1', 'ADD_IF_ABSENT'), add('x-a', '2', 'ADD_IF_ABSENT')], [],
    [], ['x-a', '1', 'x-a', '2']],
  ['overwrites are applied before additions', [add('x-a', 'appended'), add('x-a', 'set', 'OVERWRITE_IF_EXISTS_OR_ADD')], [],
    ['x-a', 'old'], ['x-a', 'set', 'x-a', 'appended']],
  ['keys are lower-cased', [add('X-Upper', 'v')], ['X-Gone'], ['x-gone', '1'], ['x-upper', 'v']],
];

for (const [what, adds, remove, before, after] of cases) {
  test(`header mutation: ${what}`, () => {
    const headers = [...before];
    requestSide(adds, remove).applyRequest(headers, info);
    assert.deepEqual(headers, after);
  });
}

test('response mutations apply only to responses, request ones only to requests', () => {
  const m = compileHeaderMutations({
    ...NO_MUTATIONS,
    requestHeadersToAdd: [add('x-req', '1')],
    responseHeadersToAdd: [add('x-resp', '2')],
    responseHeadersToRemove: ['server'],
  });
  const reqH: string[] = [];
  const respH = ['server', 'upstream'];
  m.applyRequest(reqH, info);
  m.applyResponse(respH, info);
  assert.deepEqual(reqH, ['x-req', '1']);
  assert.deepEqual(respH, ['x-resp', '2']);
  assert.equal(m.isEmpty, false);
});

test('EMPTY and empty configs change nothing', () => {
  assert.equal(CompiledHeaderMutations.EMPTY.isEmpty, true);
  assert.equal(compileHeaderMutations(NO_MUTATIONS), CompiledHeaderMutations.EMPTY);
  const h = ['a', '1'];
  CompiledHeaderMutations.EMPTY.applyRequest(h, info);
  assert.deepEqual(h, ['a', '1']);
});

test('rejects pseudo-headers and host, listing every bad entry', () => {
  assert.throws(() => compileHeaderMutations({
    ...NO_MUTATIONS,
    requestHeadersToAdd: [add('host', 'x'), add(':path', '/')],
    requestHeadersToRemove: [':authority'],
  }), (err: unknown) => {
    assert.ok(err instanceof RouteConfigError);
    assert.deepEqual(err.errors, [
      "requestHeadersToAdd[0].key: ':'-prefixed or host headers may not be modified ('host')",
      "requestHeadersToAdd[1].key: ':'-prefixed or host headers may not be modified (':path')",
      "requestHeadersToRemove[0]: ':'-prefixed or host headers may not be removed (':authority')",
    ]);
    return true;
  });
});

// ───────────── %COMMAND% values ─────────────

function infoWith(requestHeaders: string[], remote = '10.0.0.7:5555'): StreamInfo {
  const i = new StreamInfo();
  i.requestHeaders = requestHeaders;
  i.downstreamRemoteAddress = remote;
  return i;
}

test('values with command operators are formatted per request', () => {
  const m = requestSide([
    add('x-client', '%DOWNSTREAM_REMOTE_ADDRESS%'),
    add('x-client-ip', '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%'),
    add('x-copy', '%REQ(x-foo)%'),
    add('x-mixed', 'id=%REQ(X-FOO)%;pct=100%%'),
  ]);
  const headers = ['x-foo', 'bar'];
  m.applyRequest(headers, infoWith(headers));
  assert.deepEqual(headers, [
    'x-foo', 'bar', 'x-client', '10.0.0.7:5555', 'x-client-ip', '10.0.0.7', 'x-copy', 'bar', 'x-mixed', 'id=bar;pct=100%',
  ]);
});

test('an unset command value is empty, so a header made only of it is not added', () => {
  const m = requestSide([add('x-copy', '%REQ(x-missing)%'), add('x-mixed', 'id=%REQ(x-missing)%')]);
  const headers: string[] = [];
  m.applyRequest(headers, infoWith(headers));
  assert.deepEqual(headers, ['x-mixed', 'id=']);
});

test('a value made only of %% escapes is a literal', () => {
  const headers: string[] = [];
  requestSide([add('x-pct', '50%%')]).applyRequest(headers, info);
  assert.deepEqual(headers, ['x-pct', '50%']);
});

test('formatters read the headers as they were before this level changed them', () => {
  const m = requestSide([add('x-foo', 'new', 'OVERWRITE_IF_EXISTS_OR_ADD'), add('x-was', '%REQ(x-foo)%')]);
  const headers = ['x-foo', 'old'];
  m.applyRequest(headers, infoWith(headers));
  assert.deepEqual(headers, ['x-foo', 'new', 'x-was', 'old']);
});

test('rejects an unknown command operator and a stray %', () => {
  assert.throws(() => requestSide([add('a', '%BOGUS%'), add('b', '100%')]), (err: unknown) => {
    assert.ok(err instanceof RouteConfigError);
    assert.equal(err.errors.length, 2);
    assert.match(err.errors[0]!, /^requestHeadersToAdd\[0\]\.value: unknown command operator %BOGUS%/);
    assert.match(err.errors[1]!, /^requestHeadersToAdd\[1\]\.value: /);
    return true;
  });
});

// ───────────── levels ─────────────

const level = (name: string, appendAction: HeaderValueOption['appendAction']) => ({
  requestHeadersToAdd: [add('x-level', name, appendAction)],
  responseHeadersToAdd: [add('x-level', name, appendAction)],
});

function levelsTable(appendAction: HeaderValueOption['appendAction']) {
  const weighted = action({
    cluster: null,
    weightedClusters: { totalWeight: 1, clusters: [{ ...NO_MUTATIONS, ...level('cluster', appendAction), name: 'c', weight: 1 }] },
  });
  return compileRouteTable(routeConfig(
    [vhost('v', ['*'], [route(prefix('/'), { ...level('route', appendAction), action: weighted })], level('vhost', appendAction))],
    level('config', appendAction),
  ));
}

test('appended values come in Envoy order: weighted cluster, route, virtual host, route configuration', () => {
  const t = levelsTable('APPEND_IF_EXISTS_OR_ADD');
  const r = t.virtualHosts[0]!.routes[0]!;
  const cluster = r.selectCluster([], 0);
  const reqH: string[] = [];
  r.finalizeRequestHeaders(reqH, info, cluster);
  assert.deepEqual(reqH, ['x-level', 'cluster', 'x-level', 'route', 'x-level', 'vhost', 'x-level', 'config']);
  const respH: string[] = [];
  r.finalizeResponseHeaders(respH, info, cluster);
  assert.deepEqual(respH, ['x-level', 'cluster', 'x-level', 'route', 'x-level', 'vhost', 'x-level', 'config']);
});

test('on overwrite the route configuration level wins (applied last, most_specific_header_mutations_wins: false)', () => {
  const t = levelsTable('OVERWRITE_IF_EXISTS_OR_ADD');
  const r = t.virtualHosts[0]!.routes[0]!;
  const headers = ['x-level', 'client'];
  r.finalizeRequestHeaders(headers, info, r.selectCluster([], 0));
  assert.deepEqual(headers, ['x-level', 'config']);
});

test('on ADD_IF_ABSENT the most specific level wins (it adds first)', () => {
  const t = levelsTable('ADD_IF_ABSENT');
  const r = t.virtualHosts[0]!.routes[0]!;
  const headers: string[] = [];
  r.finalizeRequestHeaders(headers, info, null);
  assert.deepEqual(headers, ['x-level', 'route']);
  assert.equal(t.headers.hasRequest, true);
  assert.equal(t.virtualHosts[0]!.headers.hasRequest, true);
  assert.equal(r.headers.hasRequest, true);
});
