// Decoding of Envoy's RBAC configuration (src/envoy/rbac.ts): envoy.config.rbac.v3.RBAC inside the
// HTTP filter (envoy.extensions.filters.http.rbac.v3.RBAC), its RBACPerRoute, and the network
// filter (envoy.extensions.filters.network.rbac.v3.RBAC). Every accepted field lands in the
// decoded config; every field Weft does not implement is refused with its path.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBootstrap } from '../../src/envoy/bootstrap.js';
import { oneFilterBootstrap } from '../helpers/bootstrap.js';
import type { BootstrapConfig, HttpConnectionManagerConfig, RbacFilterConfig } from '../../src/proxy/config/types.js';
import type { NetworkRbacConfig } from '../../src/proxy/rbac/config.js';

type Obj = Record<string, unknown>;

const HTTP_RBAC = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const RBAC_PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute';
const NET_RBAC = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const FILTER_PATH = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config';
const NET_PATH = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';

const cluster = { name: 'app', type: 'STATIC', load_assignment: { cluster_name: 'app', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 1 } } } }] }] } };

function httpBootstrap(rbac: Obj, routeExtra: Obj = {}): Obj {
  return oneFilterBootstrap({ name: 'envoy.filters.http.rbac', typed_config: { '@type': HTTP_RBAC, ...rbac } }, [cluster], routeExtra);
}

function networkBootstrap(rbac: Obj, last = false): Obj {
  const rbacFilter = { name: 'envoy.filters.network.rbac', typed_config: { '@type': NET_RBAC, ...rbac } };
  const tcp = { name: 'tcp', typed_config: { '@type': TCP_PROXY, stat_prefix: 'tcp', cluster: 'app' } };
  return {
    static_resources: {
      listeners: [{
        name: 'main',
        address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
        filter_chains: [{ filters: last ? [tcp, rbacFilter] : [rbacFilter, tcp] }],
      }],
      clusters: [cluster],
    },
  };
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

const policy = (permissions: Obj[], principals: Obj[] = [{ any: true }]): Obj => ({ permissions, principals });

test('HTTP RBAC: every implemented permission and principal decodes, policies sorted by name', () => {
  const cfg = ok(httpBootstrap({
    rules_stat_prefix: 'enf.',
    shadow_rules_stat_prefix: 'sh.',
    rules: {
      action: 'DENY',
      policies: {
        zeta: policy([{ any: true }], [{ remote_ip: { address_prefix: '10.0.0.0', prefix_len: 8 } }]),
        alpha: {
          permissions: [
            { and_rules: { rules: [{ header: { name: ':method', string_match: { exact: 'GET' } } }, { url_path: { path: { prefix: '/admin' } } }] } },
            { or_rules: { rules: [{ destination_port: 8080 }, { destination_port_range: { start: 9000, end: 9100 } }] } },
            { not_rule: { destination_ip: { address_prefix: '127.0.0.1', prefix_len: 32 } } },
            { requested_server_name: { suffix: '.example.com' } },
          ],
          principals: [
            { and_ids: { ids: [{ authenticated: { principal_name: { exact: 'spiffe://cluster.local/ns/a/sa/b' } } }, { source_ip: { address_prefix: '127.0.0.1' } }] } },
            { or_ids: { ids: [{ direct_remote_ip: { address_prefix: '::1', prefix_len: 128 } }, { authenticated: {} }] } },
            { not_id: { header: { name: 'x-user', present_match: true } } },
            { url_path: { path: { exact: '/x' } } },
          ],
        },
      },
    },
    shadow_rules: { action: 'LOG', policies: { p: policy([{ any: true }]) } },
  }));
  const h = cfg.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerConfig;
  const f = h.httpFilters[0] as RbacFilterConfig;
  assert.equal(f.kind, 'rbac');
  assert.equal(f.config.rulesStatPrefix, 'enf.');
  assert.equal(f.config.shadowRulesStatPrefix, 'sh.');
  assert.equal(f.config.rules?.action, 'DENY');
  assert.deepEqual(f.config.rules?.policies.map(([n]) => n), ['alpha', 'zeta']);
  const alpha = f.config.rules!.policies[0]![1];
  assert.deepEqual(alpha.permissions.map((p) => p.kind), ['and_rules', 'or_rules', 'not_rule', 'requested_server_name']);
  assert.deepEqual(alpha.principals.map((p) => p.kind), ['and_ids', 'or_ids', 'not_id', 'url_path']);
  assert.deepEqual(alpha.permissions[1], { kind: 'or_rules', rules: [{ kind: 'destination_port', port: 8080 }, { kind: 'destination_port_range', start: 9000, end: 9100 }] });
  assert.deepEqual(alpha.principals[1], {
    kind: 'or_ids', ids: [{ kind: 'direct_remote_ip', cidr: { addressPrefix: '::1', prefixLen: 128 } }, { kind: 'authenticated', principalName: null }],
  });
  assert.equal(f.config.shadowRules?.action, 'LOG');
});

test('HTTP RBAC: no rules = no enforcement; empty rules decode to an ALLOW with no policy (deny all)', () => {
  const none = ok(httpBootstrap({}));
  const f0 = (none.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerConfig).httpFilters[0] as RbacFilterConfig;
  assert.equal(f0.config.rules, null);
  assert.equal(f0.config.shadowRules, null);
  const empty = ok(httpBootstrap({ rules: {} }));
  const f1 = (empty.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerConfig).httpFilters[0] as RbacFilterConfig;
  assert.deepEqual(f1.config.rules, { action: 'ALLOW', policies: [] });
});

test('HTTP RBAC: unimplemented fields are refused as unsupported, naming the field path', () => {
  const errs = errors(httpBootstrap({
    matcher: { matcher_tree: {} },
    shadow_matcher: {},
    track_per_rule_stats: true,
    rules: {
      audit_logging_options: {},
      policies: {
        'p q': {
          permissions: [{ sourced_metadata: { filter: 'x' } }, { matcher: { name: 'm' } }, { uri_template: {} }],
          principals: [{ filter_state: { key: 'k' } }, { sourced_metadata: {} }, { custom: {} }],
          condition: { const_expr: { bool_value: true } },
        },
      },
    },
  }));
  assertError(errs, `${FILTER_PATH}.matcher`, 'unsupported field');
  assertError(errs, `${FILTER_PATH}.shadow_matcher`, 'unsupported field');
  assertError(errs, `${FILTER_PATH}.track_per_rule_stats`, 'unsupported field');
  assertError(errs, `${FILTER_PATH}.rules.audit_logging_options`, 'unsupported field');
  const pol = `${FILTER_PATH}.rules.policies["p q"]`;
  assertError(errs, `${pol}.permissions[0].sourced_metadata`, 'unsupported field');
  assertError(errs, `${pol}.permissions[1].matcher`, 'unsupported field');
  assertError(errs, `${pol}.permissions[2].uri_template`, 'unsupported field');
  assertError(errs, `${pol}.principals[0].filter_state`, 'unsupported field');
  assertError(errs, `${pol}.principals[1].sourced_metadata`, 'unsupported field');
  assertError(errs, `${pol}.principals[2].custom`, 'unsupported field');
  assertError(errs, `${pol}.condition`, 'unsupported field');
});

test('HTTP RBAC: invalid values are refused with their path', () => {
  const errs = errors(httpBootstrap({
    rules: {
      action: 'MAYBE',
      policies: {
        a: { permissions: [], principals: [{ any: false }] },
        b: { permissions: [{ any: true, destination_port: 80 }], principals: [{ source_ip: { address_prefix: 'nope' } }] },
        c: { permissions: [{ destination_port: 70000 }, { destination_port_range: { start: 10, end: 5 } }], principals: [{ and_ids: { ids: [] } }] },
        d: { permissions: [{ url_path: { path: { safe_regex: { regex: '(' } } } }], principals: [{ any: true }] },
      },
    },
  }));
  const p = `${FILTER_PATH}.rules`;
  assertError(errs, `${p}.action`, 'MAYBE');
  assertError(errs, `${p}.policies["a"].permissions`, 'at least 1 item');
  assertError(errs, `${p}.policies["a"].principals[0].any`, 'expected true');
  assertError(errs, `${p}.policies["b"].permissions[0]`, 'exactly one of');
  assertError(errs, `${p}.policies["b"].principals[0].source_ip.address_prefix`, 'IPv4 or IPv6');
  assertError(errs, `${p}.policies["c"].permissions[0].destination_port`, '0..65535');
  assertError(errs, `${p}.policies["c"].permissions[1].destination_port_range.end`, 'not below start');
  assertError(errs, `${p}.policies["c"].principals[0].and_ids.ids`, 'at least 1 item');
  assertError(errs, `${p}.policies["d"].permissions[0].url_path.path.safe_regex.regex`, /regex|pattern/i);
});

test('RBACPerRoute: rbac replaces the rules on a route, absent rbac turns enforcement off, stat prefixes refused', () => {
  const cfg = ok(httpBootstrap({ rules: { policies: {} } }, {
    typed_per_filter_config: { 'envoy.filters.http.rbac': { '@type': RBAC_PER_ROUTE, rbac: { rules: { action: 'DENY', policies: { x: policy([{ any: true }]) } } } } },
  }));
  const h = cfg.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerConfig;
  const per = h.routeConfig!.virtualHosts[0]!.routes[0]!.typedPerFilterConfig!['envoy.filters.http.rbac'];
  assert.equal(per?.kind, 'rbac');
  assert.equal(per?.kind === 'rbac' ? per.config?.rules?.action : undefined, 'DENY');
  const off = ok(httpBootstrap({}, { typed_per_filter_config: { 'envoy.filters.http.rbac': { '@type': RBAC_PER_ROUTE } } }));
  const hOff = off.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerConfig;
  assert.deepEqual(hOff.routeConfig!.virtualHosts[0]!.routes[0]!.typedPerFilterConfig!['envoy.filters.http.rbac'], { kind: 'rbac', config: null });
  const errs = errors(httpBootstrap({}, {
    typed_per_filter_config: { 'envoy.filters.http.rbac': { '@type': RBAC_PER_ROUTE, rbac: { rules_stat_prefix: 'r.', shadow_rules_stat_prefix: 's.' } } },
  }));
  const at = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].typed_per_filter_config["envoy.filters.http.rbac"].rbac';
  assertError(errs, `${at}.rules_stat_prefix`, 'not supported on a route');
  assertError(errs, `${at}.shadow_rules_stat_prefix`, 'not supported on a route');
});

test('network RBAC: decodes stat_prefix, rules, shadow rules and delay_deny', () => {
  const cfg = ok(networkBootstrap({
    stat_prefix: 'tcp.', delay_deny: '0.25s', shadow_rules_stat_prefix: 'sh.', enforcement_type: 'ONE_TIME_ON_FIRST_BYTE',
    enforce_on_transport_ready: true,
    rules: { policies: { a: policy([{ destination_port: 1 }], [{ authenticated: { principal_name: { prefix: 'spiffe://' } } }]) } },
    shadow_rules: { action: 'DENY', policies: { b: policy([{ requested_server_name: { exact: 'x' } }]) } },
  }));
  const f = cfg.listeners[0]!.filterChains[0]!.filters[0] as NetworkRbacConfig;
  assert.equal(f.kind, 'rbac');
  assert.equal(f.statPrefix, 'tcp.');
  assert.equal(f.delayDenyMs, 250);
  assert.equal(f.shadowRulesStatPrefix, 'sh.');
  assert.equal(f.rules?.policies[0]?.[0], 'a');
  assert.equal(f.shadowRules?.action, 'DENY');
});

test('network RBAC: HTTP-only rules, CONTINUOUS, matchers, a missing stat_prefix and rbac as the last filter are refused', () => {
  const errs = errors(networkBootstrap({
    enforcement_type: 'CONTINUOUS',
    matcher: {},
    track_per_rule_stats: true,
    rules: { policies: { a: policy([{ header: { name: 'x', present_match: true } }], [{ url_path: { path: { exact: '/' } } }]) } },
  }));
  assertError(errs, `${NET_PATH}.stat_prefix`, 'non-empty string');
  assertError(errs, `${NET_PATH}.enforcement_type`, 'CONTINUOUS is not supported yet');
  assertError(errs, `${NET_PATH}.matcher`, 'unsupported field');
  assertError(errs, `${NET_PATH}.track_per_rule_stats`, 'unsupported field');
  assertError(errs, `${NET_PATH}.rules.policies["a"].permissions[0].header`, 'only available in envoy.filters.http.rbac');
  assertError(errs, `${NET_PATH}.rules.policies["a"].principals[0].url_path`, 'only available in envoy.filters.http.rbac');
  const lastErrs = errors(networkBootstrap({ stat_prefix: 'x' }, true));
  assertError(lastErrs, 'static_resources.listeners[0].filter_chains[0].filters[1]', 'terminal filter last');
});

test('HTTP RBAC: metadata principals and permissions (MetadataMatcher with every ValueMatcher) decode; bad ones are refused with their path', () => {
  const jwt = 'envoy.filters.http.jwt_authn';
  const b = ok(httpBootstrap({
    rules: {
      policies: {
        m: {
          permissions: [
            { metadata: { filter: 'envoy.filters.a.b', path: [{ key: 'c' }], value: { string_match: { prefix: 'x' } } } },
            { metadata: { filter: 'f', path: [{ key: 'n' }], value: { double_match: { range: { start: 1, end: 5 } } }, invert: true } },
          ],
          principals: [
            { metadata: { filter: jwt, path: [{ key: 'iss' }, { key: 'groups' }], value: { list_match: { one_of: { string_match: { exact: 'admin' } } } } } },
            { metadata: { filter: jwt, path: [{ key: 'iss' }, { key: 'sub' }], value: { or_match: { value_matchers: [{ present_match: true }, { null_match: {} }] } } } },
            { metadata: { filter: jwt, path: [{ key: 'iss' }, { key: 'admin' }], value: { bool_match: true } } },
            { metadata: { filter: jwt, path: [{ key: 'iss' }, { key: 'n' }], value: { double_match: { exact: 3 } } } },
          ],
        },
      },
    },
  }));
  const f = (b.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerConfig).httpFilters[0] as RbacFilterConfig;
  const pol = f.config.rules!.policies[0]![1];
  assert.deepEqual(pol.permissions[0], { kind: 'metadata', matcher: { filter: 'envoy.filters.a.b', path: ['c'], value: { kind: 'string', match: { kind: 'prefix', value: 'x', ignoreCase: false } }, invert: false } });
  assert.deepEqual(pol.permissions[1], { kind: 'metadata', matcher: { filter: 'f', path: ['n'], value: { kind: 'double', exact: null, start: 1, end: 5 }, invert: true } });
  assert.deepEqual(pol.principals[0], { kind: 'metadata', matcher: { filter: jwt, path: ['iss', 'groups'], value: { kind: 'list', oneOf: { kind: 'string', match: { kind: 'exact', value: 'admin', ignoreCase: false } } }, invert: false } });
  assert.deepEqual((pol.principals[1] as { matcher: { value: unknown } }).matcher.value, { kind: 'or', matchers: [{ kind: 'present', value: true }, { kind: 'null' }] });
  assert.deepEqual((pol.principals[2] as { matcher: { value: unknown } }).matcher.value, { kind: 'bool', value: true });
  assert.deepEqual((pol.principals[3] as { matcher: { value: unknown } }).matcher.value, { kind: 'double', exact: 3, start: 0, end: 0 });

  const errs = errors(httpBootstrap({
    rules: {
      policies: {
        p: {
          permissions: [{ metadata: { path: [{ key: 'c' }], value: { present_match: true } } }, { metadata: { filter: 'f', path: [], value: { present_match: true } } }],
          principals: [
            { metadata: { filter: 'f', path: [{ key: 'c' }], value: { string_match: { exact: 'a' }, bool_match: true } } },
            { metadata: { filter: 'f', path: [{ key: 'c' }], value: { or_match: { value_matchers: [{ bool_match: true }] } } } },
            { metadata: { filter: 'f', path: [{ key: 'c' }] } },
          ],
        },
      },
    },
  }));
  const pp = `${FILTER_PATH}.rules.policies["p"]`;
  assertError(errs, `${pp}.permissions[0].metadata.filter`, 'non-empty string');
  assertError(errs, `${pp}.permissions[1].metadata.path`, 'expected');
  assertError(errs, `${pp}.principals[0].metadata.value`, 'exactly one of');
  assertError(errs, `${pp}.principals[1].metadata.value.or_match.value_matchers`, 'expected');
  assertError(errs, `${pp}.principals[2].metadata.value`, 'expected');

  const netErrs = errors(networkBootstrap({
    stat_prefix: 'n',
    rules: { policies: { a: policy([{ any: true }], [{ metadata: { filter: 'f', path: [{ key: 'c' }], value: { present_match: true } } }]) } },
  }));
  assertError(netErrs, `${NET_PATH}.rules.policies["a"].principals[0].metadata`, 'only available in envoy.filters.http.rbac');
});
