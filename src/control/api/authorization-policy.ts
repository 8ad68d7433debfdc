// AuthorizationPolicy validation (security.istio.io/v1 and v1beta1 AuthorizationPolicy,
// istio.io/latest/docs/reference/config/security/authorization-policy/): selector, action
// (ALLOW, DENY, AUDIT, CUSTOM with provider.name), rules with from.source, to.operation and when
// conditions on Istio's attribute keys. Errors name the field path. What translation reads is the
// AuthorizationPolicySpec below (src/control/translate/security/authz.ts).

import { Ctx, type Field, isIPOrCidr, isObject, labelMap, list, notYet, oneOf, shape, str } from './common.js';

export const AUTHZ_ACTIONS = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'] as const;
export type AuthzAction = (typeof AUTHZ_ACTIONS)[number];

/** Source fields (each a list of strings; absent = not constrained). */
export const SOURCE_FIELDS = [
  'principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces',
  'ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks', 'serviceAccounts', 'notServiceAccounts',
] as const;
export type SourceField = (typeof SOURCE_FIELDS)[number];
export type AuthzSource = Readonly<Partial<Record<SourceField, readonly string[]>>>;

export const OPERATION_FIELDS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;
export type OperationField = (typeof OPERATION_FIELDS)[number];
export type AuthzOperation = Readonly<Partial<Record<OperationField, readonly string[]>>>;

export interface AuthzCondition {
  readonly key: string;
  readonly values?: readonly string[];
  readonly notValues?: readonly string[];
}

export interface AuthzRule {
  /** Each entry is a `from[].source`; empty = any source. */
  readonly from: readonly AuthzSource[];
  /** Each entry is a `to[].operation`; empty = any operation. */
  readonly to: readonly AuthzOperation[];
  readonly when: readonly AuthzCondition[];
}

export interface AuthorizationPolicySpec {
  /** `selector.matchLabels`; absent = every workload of the namespace (or of the mesh, in the root namespace). */
  readonly selector?: { readonly matchLabels: Readonly<Record<string, string>> };
  readonly action: AuthzAction;
  /** CUSTOM: the mesh config extensionProvider's name. */
  readonly provider?: { readonly name: string };
  /** Empty: for ALLOW, allow nothing (Istio's allow-nothing policy); for the other actions, match nothing. */
  readonly rules: readonly AuthzRule[];
}

/** The when keys Istio defines whose values are IPs or CIDR blocks. */
const IP_KEYS = new Set(['source.ip', 'remote.ip', 'destination.ip']);
/** Every plain when key Istio defines (request.headers[...] and request.auth.claims[...] are checked apart). */
const PLAIN_KEYS = new Set([
  'source.ip', 'remote.ip', 'source.namespace', 'source.principal', 'source.serviceAccount', 'request.auth.principal',
  'request.auth.audiences', 'request.auth.presenter', 'destination.ip', 'destination.port', 'connection.sni',
]);

/** `request.auth.claims[a][b]` → ['a', 'b']; undefined when malformed. */
export function claimPath(key: string): string[] | undefined {
  const rest = key.slice('request.auth.claims'.length);
  if (!rest.startsWith('[') || !rest.endsWith(']')) return undefined;
  const inner = rest.slice(1, -1);
  const parts = inner.split('][');
  if (parts.some((p) => p === '' || p.includes('[') || p.includes(']'))) return undefined;
  return parts;
}

/** `request.headers[name]` → name; undefined when malformed. */
export function headerName(key: string): string | undefined {
  const rest = key.slice('request.headers'.length);
  if (!rest.startsWith('[') || !rest.endsWith(']')) return undefined;
  const name = rest.slice(1, -1);
  return name === '' || /[[\]\s]/.test(name) ? undefined : name;
}

/** A when key Istio supports; an error message otherwise. */
function checkKey(key: string): string | undefined {
  if (PLAIN_KEYS.has(key)) return undefined;
  if (key.startsWith('request.headers')) return headerName(key) === undefined ? 'expected request.headers[<header name>]' : undefined;
  if (key.startsWith('request.auth.claims')) {
    return claimPath(key) === undefined ? 'expected request.auth.claims[<claim>] (nested claims as [a][b])' : undefined;
  }
  if (key.startsWith('experimental.envoy.filters.')) return `${JSON.stringify(key)}: experimental keys are not supported yet`;
  return `unknown key ${JSON.stringify(key)} (expected one of request.headers[...], ${[...PLAIN_KEYS].join(', ')}, request.auth.claims[...])`;
}

/** A list of non-empty strings (Istio refuses empty values). */
function values(check?: (s: string) => string | undefined): Field<string[]> {
  return list((v, p, c) => {
    if (typeof v !== 'string' || v === '') return c.expected(p, 'a non-empty string', v), undefined;
    const err = check?.(v);
    if (err !== undefined) return c.expected(p, err, v), undefined;
    return v;
  });
}

/** `sa` (the policy's namespace) or `ns/sa`. */
const serviceAccount = (s: string): string | undefined =>
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?\/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(s) ? undefined : 'a service account name or namespace/name';
const ipOrCidr = (s: string): string | undefined => (isIPOrCidr(s) ? undefined : 'an IP address or CIDR block');
const portString = (s: string): string | undefined =>
  /^\d{1,5}$/.test(s) && Number(s) <= 65535 ? undefined : 'a port number in 0..65535 (as a string)';
/** Istio path templates: `{*}` (one segment) and `{**}` (the rest, last only). */
const pathValue = (s: string): string | undefined => {
  if (!s.includes('{') && !s.includes('}')) return undefined;
  const segs = s.split('/');
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!;
    if (!seg.includes('{') && !seg.includes('}')) continue;
    if (seg === '{*}') continue;
    if (seg === '{**}' && i === segs.length - 1) continue;
    return 'a path whose template segments are {*} or a last {**}';
  }
  return undefined;
};

const SOURCE_CHECKS: Readonly<Record<SourceField, Field<string[]>>> = {
  principals: values(), notPrincipals: values(),
  requestPrincipals: values(), notRequestPrincipals: values(),
  namespaces: values(), notNamespaces: values(),
  ipBlocks: values(ipOrCidr), notIpBlocks: values(ipOrCidr),
  remoteIpBlocks: values(ipOrCidr), notRemoteIpBlocks: values(ipOrCidr),
  serviceAccounts: values(serviceAccount), notServiceAccounts: values(serviceAccount),
};

const OPERATION_CHECKS: Readonly<Record<OperationField, Field<string[]>>> = {
  hosts: values(), notHosts: values(),
  ports: values(portString), notPorts: values(portString),
  methods: values(), notMethods: values(),
  paths: values(pathValue), notPaths: values(pathValue),
};

/** `{source: {...}}` with at least one field (Istio: an empty source is an error). */
const fromEntry: Field<AuthzSource> = (v, p, c) => {
  const o = shape(c, v, p, {
    source: (x, xp, cc) => {
      const s = shape(cc, x, xp, SOURCE_CHECKS);
      if (s === undefined || !isObject(x)) return undefined;
      if (Object.keys(x).length === 0) return cc.expected(xp, 'a source with at least one field', x), undefined;
      if (s.serviceAccounts !== undefined || s.notServiceAccounts !== undefined) {
        for (const f of ['principals', 'notPrincipals', 'namespaces', 'notNamespaces'] as const) {
          if (x[f] != null) cc.fail(`${xp}.${f}`, 'cannot be set with serviceAccounts or notServiceAccounts');
        }
      }
      return Object.keys(s).length === Object.keys(x).filter((k) => x[k] != null).length ? s as AuthzSource : undefined;
    },
  });
  if (o === undefined || !isObject(v)) return undefined;
  if (v.source == null) return c.expected(`${p}.source`, 'a source', undefined), undefined;
  return o.source;
};

const toEntry: Field<AuthzOperation> = (v, p, c) => {
  const o = shape(c, v, p, {
    operation: (x, xp, cc) => {
      const s = shape(cc, x, xp, OPERATION_CHECKS);
      if (s === undefined || !isObject(x)) return undefined;
      if (Object.keys(x).length === 0) return cc.expected(xp, 'an operation with at least one field', x), undefined;
      return Object.keys(s).length === Object.keys(x).filter((k) => x[k] != null).length ? s as AuthzOperation : undefined;
    },
  });
  if (o === undefined || !isObject(v)) return undefined;
  if (v.operation == null) return c.expected(`${p}.operation`, 'an operation', undefined), undefined;
  return o.operation;
};

const condition: Field<AuthzCondition> = (v, p, c) => {
  const rawKey = isObject(v) && typeof v.key === 'string' ? v.key : '';
  const check = IP_KEYS.has(rawKey) ? ipOrCidr : rawKey === 'destination.port' ? portString : undefined;
  const o = shape(c, v, p, {
    key: (x, xp, cc) => {
      if (typeof x !== 'string' || x === '') return cc.expected(xp, 'a non-empty string', x), undefined;
      const err = checkKey(x);
      if (err !== undefined) return cc.fail(xp, err), undefined;
      return x;
    },
    values: values(check),
    notValues: values(check),
  });
  if (o === undefined || !isObject(v)) return undefined;
  let ok = true;
  if (v.key == null) { c.expected(`${p}.key`, 'a condition key', undefined); ok = false; }
  if (v.values == null && v.notValues == null) { c.fail(p, 'expected values or notValues'); ok = false; }
  if (!ok || o.key === undefined || (v.values != null && o.values === undefined) || (v.notValues != null && o.notValues === undefined)) return undefined;
  return { key: o.key, ...(o.values !== undefined ? { values: o.values } : {}), ...(o.notValues !== undefined ? { notValues: o.notValues } : {}) };
};

const rule: Field<AuthzRule> = (v, p, c) => {
  const o = shape(c, v, p, { from: list(fromEntry, { nonEmpty: true }), to: list(toEntry, { nonEmpty: true }), when: list(condition) });
  if (o === undefined || !isObject(v)) return undefined;
  if ((v.from != null && o.from === undefined) || (v.to != null && o.to === undefined) || (v.when != null && o.when === undefined)) return undefined;
  return { from: o.from ?? [], to: o.to ?? [], when: o.when ?? [] };
};

/** security.istio.io's WorkloadSelector: `{matchLabels: {...}}`. */
export const securitySelector: Field<{ matchLabels: Record<string, string> }> = (v, p, c) => {
  const o = shape(c, v, p, { matchLabels: labelMap });
  if (o === undefined || !isObject(v) || (v.matchLabels != null && o.matchLabels === undefined)) return undefined;
  return { matchLabels: o.matchLabels ?? {} };
};

const CUSTOM_NO_SOURCE = [
  'principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces', 'serviceAccounts', 'notServiceAccounts',
] as const;

const TARGET_REF_NOT_YET = 'Weft has no Gateway API resources to attach a policy to; use selector';

export function validateAuthorizationPolicy(spec: unknown, c: Ctx): AuthorizationPolicySpec | undefined {
  const errorsBefore = c.errors.length;
  const o = shape(c, spec, 'spec', {
    selector: securitySelector,
    targetRef: notYet(TARGET_REF_NOT_YET),
    targetRefs: notYet(TARGET_REF_NOT_YET),
    action: oneOf(AUTHZ_ACTIONS),
    provider: (x, xp, cc) => {
      const pr = shape(cc, x, xp, { name: str });
      if (pr === undefined) return undefined;
      if (typeof pr.name !== 'string' || pr.name === '') return cc.expected(`${xp}.name`, 'the name of a mesh config extensionProvider', isObject(x) ? x.name : x), undefined;
      return { name: pr.name as string };
    },
    rules: list(rule),
  });
  if (o === undefined || !isObject(spec)) return undefined;
  const action: AuthzAction = o.action ?? 'ALLOW';
  if (action === 'CUSTOM' && spec.provider == null) c.expected('spec.provider', 'a provider (name of a mesh config extensionProvider) with action CUSTOM', undefined);
  if (action !== 'CUSTOM' && spec.provider != null) c.fail('spec.provider', `only allowed with action CUSTOM (action is ${action})`);
  const rawRules = Array.isArray(spec.rules) ? spec.rules : [];
  if ((action === 'CUSTOM' || action === 'DENY') && rawRules.length === 0) {
    // Istio refuses both: such a policy would never trigger.
    c.fail('spec.rules', `expected at least one rule with action ${action} (add an empty rule {} to match every request)`);
  }
  if (action === 'CUSTOM' && Array.isArray(o.rules)) {
    // Istio: the CUSTOM action's rules cannot use the peer identity nor the JWT (ext_authz decides before them).
    (o.rules as AuthzRule[]).forEach((r, i) => {
      r.from.forEach((f, j) => {
        for (const k of CUSTOM_NO_SOURCE) if (f[k] !== undefined) c.fail(`spec.rules[${i}].from[${j}].source.${k}`, 'not supported with action CUSTOM (as in Istio)');
      });
      r.when.forEach((w, j) => {
        if (['source.namespace', 'source.serviceAccount', 'source.principal'].includes(w.key) || w.key.startsWith('request.auth.')) {
          c.fail(`spec.rules[${i}].when[${j}].key`, `${w.key} is not supported with action CUSTOM (as in Istio)`);
        }
      });
    });
  }
  if (c.errors.length > errorsBefore) return undefined;
  return {
    ...(o.selector !== undefined ? { selector: o.selector } : {}),
    action,
    ...(o.provider !== undefined ? { provider: o.provider } : {}),
    rules: o.rules ?? [],
  };
}
