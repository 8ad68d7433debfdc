// Decoders for Envoy's role-based access control: envoy.config.rbac.v3 (RBAC, Policy, Permission,
// Principal), the HTTP filter envoy.extensions.filters.http.rbac.v3.RBAC with its per-route
// RBACPerRoute, and the network filter envoy.extensions.filters.network.rbac.v3.RBAC.
// Fields Weft does not implement yet (filter_state, sourced_metadata, CEL conditions, xds.type.matcher
// trees, audit logging, per-rule stats, CONTINUOUS enforcement) are refused as unsupported, naming
// the field path. In the network filter, HTTP-only rules (header, url_path, metadata) are refused:
// a connection has no request (nor stream dynamic metadata) to match them against.

import type {
  HttpRbacConfig, NetworkRbacConfig, RbacPermissionConfig, RbacPolicyConfig, RbacPrincipalConfig, RbacRulesConfig,
} from '../proxy/rbac/config.js';
import { cidrRange, stringMatcher } from './core.js';
import { show } from './decode/context.js';
import {
  bool, defineMessage, duration, enumeration, integer, list, mapOf, message, nonEmptyString, reader, string, supportedValue,
  type Msg, type Reader,
} from './decode/readers.js';
import type { Extension } from './decode/typed.js';
import { metadataMatcher } from './metadata-matcher.js';
import { headerMatcher } from './route.js';

/** track_per_rule_stats: only false (the default) is implemented. */
function noPerRuleStats(m: Msg): void {
  if (m.get('track_per_rule_stats', bool, false)) m.at('track_per_rule_stats').fail('unsupported field (not supported yet when true), got true');
}

/** `any: true` (the proto only allows true). */
const anyTrue: Reader<true> = reader('true', (ctx, v) => (v === true ? true : ctx.expected('true', v)));

const PATH_MATCHER = defineMessage({ name: 'envoy.type.matcher.v3.PathMatcher', fields: ['path'] });
/** envoy.type.matcher.v3.PathMatcher: a StringMatcher on the path without its query string. */
const pathMatcher = message(PATH_MATCHER, (m) => m.req('path', stringMatcher));

const INT32_RANGE = defineMessage({ name: 'envoy.type.v3.Int32Range', fields: ['start', 'end'] });
const portRange = message(INT32_RANGE, (m) => {
  const start = m.get('start', integer(-2147483648, 2147483647), 0);
  const end = m.get('end', integer(-2147483648, 2147483647), 0);
  if (end < start) return m.at('end').expected(`an end not below start (${start})`, end);
  return { start, end };
});

const HTTP_ONLY = 'an HTTP request (header, url_path and metadata rules are only available in envoy.filters.http.rbac)';

const PERMISSION_RULES = [
  'and_rules', 'or_rules', 'any', 'header', 'url_path', 'destination_ip', 'destination_port', 'destination_port_range',
  'not_rule', 'requested_server_name', 'metadata',
] as const;
const PERMISSION_NOT_YET = ['matcher', 'uri_template', 'sourced_metadata'] as const;
const PERMISSION = defineMessage({
  name: 'envoy.config.rbac.v3.Permission',
  fields: [...PERMISSION_RULES],
  unsupported: [...PERMISSION_NOT_YET],
});
const PERMISSION_SET = defineMessage({ name: 'envoy.config.rbac.v3.Permission.Set', fields: ['rules'] });

const PRINCIPAL_IDS = [
  'and_ids', 'or_ids', 'any', 'authenticated', 'source_ip', 'direct_remote_ip', 'remote_ip', 'header', 'url_path', 'not_id',
  'metadata',
] as const;
const PRINCIPAL_NOT_YET = ['filter_state', 'sourced_metadata', 'custom'] as const;
const PRINCIPAL = defineMessage({
  name: 'envoy.config.rbac.v3.Principal',
  fields: [...PRINCIPAL_IDS],
  unsupported: [...PRINCIPAL_NOT_YET],
});
const PRINCIPAL_SET = defineMessage({ name: 'envoy.config.rbac.v3.Principal.Set', fields: ['ids'] });
const AUTHENTICATED = defineMessage({ name: 'envoy.config.rbac.v3.Principal.Authenticated', fields: ['principal_name'] });

/** Readers of one flavour: `http` false refuses header and url_path (network filter). */
interface RbacReaders {
  readonly permission: Reader<RbacPermissionConfig>;
  readonly principal: Reader<RbacPrincipalConfig>;
  readonly rules: Reader<RbacRulesConfig>;
}

function rbacReaders(http: boolean): RbacReaders {
  const permission: Reader<RbacPermissionConfig> = message(PERMISSION, (m): RbacPermissionConfig | undefined => {
    const which = m.oneof(PERMISSION_RULES, { required: true, others: PERMISSION_NOT_YET });
    switch (which) {
      case 'and_rules':
      case 'or_rules': {
        const rules = m.opt(which, permissionSet);
        return rules === undefined ? undefined : { kind: which, rules };
      }
      case 'not_rule': {
        const rule = m.opt('not_rule', permission);
        return rule === undefined ? undefined : { kind: 'not_rule', rule };
      }
      case 'any': return m.opt('any', anyTrue) === undefined ? undefined : { kind: 'any' };
      case 'header':
      case 'url_path':
        if (!http) return m.at(which).expected(HTTP_ONLY, m.raw(which));
        if (which === 'header') {
          const header = m.opt('header', headerMatcher);
          return header === undefined ? undefined : { kind: 'header', header };
        } else {
          const path = m.opt('url_path', pathMatcher);
          return path === undefined ? undefined : { kind: 'url_path', path };
        }
      case 'destination_ip': {
        const cidr = m.opt('destination_ip', cidrRange);
        return cidr === undefined ? undefined : { kind: 'destination_ip', cidr };
      }
      case 'destination_port': {
        const port = m.opt('destination_port', integer(0, 65535));
        return port === undefined ? undefined : { kind: 'destination_port', port };
      }
      case 'destination_port_range': {
        const r = m.opt('destination_port_range', portRange);
        return r === undefined ? undefined : { kind: 'destination_port_range', start: r.start, end: r.end };
      }
      case 'requested_server_name': {
        const name = m.opt('requested_server_name', stringMatcher);
        return name === undefined ? undefined : { kind: 'requested_server_name', name };
      }
      case 'metadata': {
        if (!http) return m.at(which).expected(HTTP_ONLY, m.raw(which));
        const matcher = m.opt('metadata', metadataMatcher);
        return matcher === undefined ? undefined : { kind: 'metadata', matcher };
      }
      default: return undefined;
    }
  });
  const permissionSet = message(PERMISSION_SET, (m) => m.req('rules', list(permission, { minItems: 1 })));

  const authenticated = message(AUTHENTICATED, (m) => ({ principalName: m.opt('principal_name', stringMatcher) ?? null }));

  const principal: Reader<RbacPrincipalConfig> = message(PRINCIPAL, (m): RbacPrincipalConfig | undefined => {
    const which = m.oneof(PRINCIPAL_IDS, { required: true, others: PRINCIPAL_NOT_YET });
    switch (which) {
      case 'and_ids':
      case 'or_ids': {
        const ids = m.opt(which, principalSet);
        return ids === undefined ? undefined : { kind: which, ids };
      }
      case 'not_id': {
        const id = m.opt('not_id', principal);
        return id === undefined ? undefined : { kind: 'not_id', id };
      }
      case 'any': return m.opt('any', anyTrue) === undefined ? undefined : { kind: 'any' };
      case 'authenticated': {
        const a = m.opt('authenticated', authenticated);
        return a === undefined ? undefined : { kind: 'authenticated', principalName: a.principalName };
      }
      case 'source_ip':
      case 'direct_remote_ip':
      case 'remote_ip': {
        const cidr = m.opt(which, cidrRange);
        return cidr === undefined ? undefined : { kind: which, cidr };
      }
      case 'header':
      case 'url_path':
        if (!http) return m.at(which).expected(HTTP_ONLY, m.raw(which));
        if (which === 'header') {
          const header = m.opt('header', headerMatcher);
          return header === undefined ? undefined : { kind: 'header', header };
        } else {
          const path = m.opt('url_path', pathMatcher);
          return path === undefined ? undefined : { kind: 'url_path', path };
        }
      case 'metadata': {
        if (!http) return m.at(which).expected(HTTP_ONLY, m.raw(which));
        const matcher = m.opt('metadata', metadataMatcher);
        return matcher === undefined ? undefined : { kind: 'metadata', matcher };
      }
      default: return undefined;
    }
  });
  const principalSet = message(PRINCIPAL_SET, (m) => m.req('ids', list(principal, { minItems: 1 })));

  const policy: Reader<RbacPolicyConfig> = message(POLICY, (m) => {
    const permissions = m.req('permissions', list(permission, { minItems: 1 }));
    const principals = m.req('principals', list(principal, { minItems: 1 }));
    if (permissions === undefined || principals === undefined) return undefined;
    return { permissions, principals };
  });

  const rules: Reader<RbacRulesConfig> = message(RBAC_RULES, (m) => {
    const action = m.get('action', enumeration({ ALLOW: 0, DENY: 1, LOG: 2 }), 'ALLOW');
    const policies = m.get('policies', mapOf(policy), new Map<string, RbacPolicyConfig>());
    // Envoy keeps policies in a map ordered by name: the first match by name is the effective policy.
    const sorted = [...policies].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return { action, policies: sorted };
  });
  return { permission, principal, rules };
}

const POLICY = defineMessage({
  name: 'envoy.config.rbac.v3.Policy',
  fields: ['permissions', 'principals'],
  unsupported: ['condition', 'checked_condition', 'cel_config'],
});

const RBAC_RULES = defineMessage({
  name: 'envoy.config.rbac.v3.RBAC',
  fields: ['action', 'policies'],
  unsupported: ['audit_logging_options'],
});

const HTTP_READERS = rbacReaders(true);
const NETWORK_READERS = rbacReaders(false);

/** envoy.config.rbac.v3.RBAC as the HTTP filter reads it. */
export const httpRbacRules = HTTP_READERS.rules;
/** envoy.config.rbac.v3.RBAC as the network filter reads it (no header / url_path). */
export const networkRbacRules = NETWORK_READERS.rules;

// ───────────────────────────── HTTP filter ─────────────────────────────

const HTTP_RBAC = defineMessage({
  name: 'envoy.extensions.filters.http.rbac.v3.RBAC',
  fields: ['rules', 'rules_stat_prefix', 'shadow_rules', 'shadow_rules_stat_prefix', 'track_per_rule_stats'],
  unsupported: ['matcher', 'shadow_matcher'],
});

function httpRbacFields(m: Msg): HttpRbacConfig {
  noPerRuleStats(m);
  return {
    rules: m.opt('rules', httpRbacRules) ?? null,
    rulesStatPrefix: m.get('rules_stat_prefix', string, ''),
    shadowRules: m.opt('shadow_rules', httpRbacRules) ?? null,
    shadowRulesStatPrefix: m.get('shadow_rules_stat_prefix', string, ''),
  };
}

export const rbacFilterExtension: Extension<'http_filter'> = {
  category: 'http_filter',
  typeUrl: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
  spec: HTTP_RBAC,
  decode: (m, info) => ({ kind: 'rbac', name: info.name, config: httpRbacFields(m) }),
};

const RBAC_PER_ROUTE = defineMessage({ name: 'envoy.extensions.filters.http.rbac.v3.RBACPerRoute', fields: ['rbac'] });
const httpRbac = message(HTTP_RBAC, httpRbacFields);

/** RBACPerRoute: `rbac` replaces the filter's config on the route; absent = no enforcement there. */
export const rbacPerRouteExtension: Extension<'http_filter_per_route'> = {
  category: 'http_filter_per_route',
  typeUrl: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute',
  spec: RBAC_PER_ROUTE,
  decode: (m) => {
    const config = m.opt('rbac', httpRbac);
    if (config !== undefined && config.rulesStatPrefix !== '') {
      // Stats are the filter's; Envoy ignores a per-route prefix as well, Weft says so.
      m.at('rbac').field('rules_stat_prefix').fail('not supported on a route (stats use the filter\'s rules_stat_prefix), got ' + show(config.rulesStatPrefix));
    }
    if (config !== undefined && config.shadowRulesStatPrefix !== '') {
      m.at('rbac').field('shadow_rules_stat_prefix').fail('not supported on a route (stats use the filter\'s shadow_rules_stat_prefix), got ' + show(config.shadowRulesStatPrefix));
    }
    return { kind: 'rbac', config: config ?? null };
  },
};

// ───────────────────────────── network filter ─────────────────────────────

const NETWORK_RBAC = defineMessage({
  name: 'envoy.extensions.filters.network.rbac.v3.RBAC',
  fields: ['rules', 'shadow_rules', 'shadow_rules_stat_prefix', 'stat_prefix', 'enforcement_type', 'delay_deny', 'track_per_rule_stats'],
  unsupported: ['matcher', 'shadow_matcher'],
  // Weft always enforces once the transport is ready (after the TLS handshake, before the
  // terminal filter sees the connection): the decision is the one Envoy takes on the first byte.
  informational: ['enforce_on_transport_ready'],
});

export const networkRbacExtension: Extension<'network_filter'> = {
  category: 'network_filter',
  typeUrl: 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC',
  spec: NETWORK_RBAC,
  decode(m): NetworkRbacConfig | undefined {
    noPerRuleStats(m);
    const statPrefix = m.req('stat_prefix', nonEmptyString);
    const enforcement = m.get('enforcement_type', enumeration({ ONE_TIME_ON_FIRST_BYTE: 0, CONTINUOUS: 1 }), 'ONE_TIME_ON_FIRST_BYTE');
    supportedValue(m.at('enforcement_type'), enforcement, ['ONE_TIME_ON_FIRST_BYTE']);
    const rules = m.opt('rules', networkRbacRules) ?? null;
    const shadowRules = m.opt('shadow_rules', networkRbacRules) ?? null;
    const delayDenyMs = m.get('delay_deny', duration, 0);
    if (statPrefix === undefined) return undefined;
    return {
      kind: 'rbac', statPrefix, rules, shadowRules,
      shadowRulesStatPrefix: m.get('shadow_rules_stat_prefix', string, ''),
      delayDenyMs,
    };
  },
};
