// Unit tests for the HTTP filter contract's per-route resolution (src/proxy/filters/http/filter.ts):
// most specific level first, FilterConfig.disabled, other filters' entries ignored.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PerFilterConfig, RouteConfiguration, TypedPerFilterConfig } from '../../../../src/proxy/config/types.js';
import { compileRouteTable } from '../../../../src/proxy/router/route-table.js';
import { DISABLED, resolvePerRoute } from '../../../../src/proxy/filters/http/filter.js';
import { action, NO_MUTATIONS } from '../../router/builders.js';

const tag = (name: string): PerFilterConfig => ({ kind: 'cors_policy', allowOriginStringMatch: null, allowMethods: name, allowHeaders: null,
  exposeHeaders: null, maxAge: null, allowCredentials: null, allowPrivateNetworkAccess: null, filterEnabled: null, shadowEnabled: null });
const off: PerFilterConfig = { kind: 'disabled' };

function table(levels: { table?: TypedPerFilterConfig; vhost?: TypedPerFilterConfig; routes: Array<TypedPerFilterConfig | undefined> }) {
  const cfg: RouteConfiguration = {
    name: 'rc', ...NO_MUTATIONS, ...(levels.table ? { typedPerFilterConfig: levels.table } : {}),
    virtualHosts: [{
      name: 'vh', domains: ['*'], retryPolicy: null, ...NO_MUTATIONS, ...(levels.vhost ? { typedPerFilterConfig: levels.vhost } : {}),
      routes: levels.routes.map((p, i) => ({
        name: `r${i}`, match: { path: { kind: 'prefix', value: `/${i}` }, caseSensitive: true, headers: [], queryParameters: [] },
        action: action(), ...NO_MUTATIONS, ...(p ? { typedPerFilterConfig: p } : {}),
      })),
    }],
  };
  return compileRouteTable(cfg);
}

/** What each route resolved to: the allowMethods tags of its levels, 'off', or '-' when absent. */
function resolved(t: ReturnType<typeof table>, name = 'f'): string[] {
  const map = resolvePerRoute(t, name, (levels) => levels.map((l) => (l.kind === 'cors_policy' ? l.allowMethods : '?')).join(','));
  return t.virtualHosts[0]!.routes.map((r) => {
    const v = map.get(r);
    return v === undefined ? '-' : v === DISABLED ? 'off' : v;
  });
}

test('levels are listed most specific first: route, virtual host, route configuration', () => {
  const t = table({ table: { f: tag('table') }, vhost: { f: tag('vhost') }, routes: [{ f: tag('route') }, undefined, { g: tag('other') }] });
  assert.deepEqual(resolved(t), ['route,vhost,table', 'vhost,table', 'vhost,table']);
});

test('a route without any level has no entry; another filter name sees only its own entries', () => {
  const t = table({ routes: [undefined, { f: tag('mine') }] });
  assert.deepEqual(resolved(t), ['-', 'mine']);
  assert.deepEqual(resolved(t, 'g'), ['-', '-']);
});

test('FilterConfig.disabled at the most specific level disables the filter; below it, it cuts off the less specific levels', () => {
  const t = table({ table: { f: tag('table') }, vhost: { f: off }, routes: [{ f: off }, { f: tag('route') }, undefined] });
  assert.deepEqual(resolved(t), ['off', 'route', 'off']);
});
