// One AuthorizationPolicy rule → one envoy.config.rbac.v3.Policy (permissions + principals), with
// Istio's value rules (istio.io/latest/docs/reference/config/security/authorization-policy/):
// `*` alone = any (presence), a leading `*` = suffix, a trailing `*` = prefix, otherwise exact;
// principals are SPIFFE ids without `spiffe://`; namespaces match `.*/ns/<ns>/.*` in the peer's
// SPIFFE id; hosts compare case-insensitively;
// paths take `{*}` / `{**}` templates. A small algebra keeps constant parts out of the output
// (ports are known at translation time: the chain serves one workload port).

import type { AuthzCondition, AuthzOperation, AuthzRule, AuthzSource } from '../../api/authorization-policy.js';
import { claimPath, headerName } from '../../api/authorization-policy.js';

/** A permission / principal under construction: an Envoy JSON object, or a constant. */
type Node = object | true | false;

interface Algebra {
  readonly and: string; readonly andItems: string;
  readonly or: string; readonly orItems: string;
  readonly not: string;
}
const PERM: Algebra = { and: 'and_rules', andItems: 'rules', or: 'or_rules', orItems: 'rules', not: 'not_rule' };
const PRIN: Algebra = { and: 'and_ids', andItems: 'ids', or: 'or_ids', orItems: 'ids', not: 'not_id' };

function and(a: Algebra, items: readonly Node[]): Node {
  const rest: object[] = [];
  for (const i of items) {
    if (i === false) return false;
    if (i !== true) rest.push(i);
  }
  if (rest.length === 0) return true;
  return rest.length === 1 ? rest[0]! : { [a.and]: { [a.andItems]: rest } };
}

function or(a: Algebra, items: readonly Node[]): Node {
  const rest: object[] = [];
  for (const i of items) {
    if (i === true) return true;
    if (i !== false) rest.push(i);
  }
  if (rest.length === 0) return false;
  return rest.length === 1 ? rest[0]! : { [a.or]: { [a.orItems]: rest } };
}

function not(a: Algebra, n: Node): Node {
  return n === true ? false : n === false ? true : { [a.not]: n };
}

/** A finished node: constants become `any` / `not any`. */
function finish(a: Algebra, n: Node): object {
  if (n === true) return { any: true };
  if (n === false) return { [a.not]: { any: true } };
  return n;
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, (c) => `\\${c}`);
const regex = (r: string): object => ({ safe_regex: { regex: r } });
const ANY_STRING = regex('.+');

/** Istio's StringMatcher: `*` any non-empty, `*x` suffix, `x*` prefix, else exact. */
export function stringMatch(v: string, ignoreCase = false): object {
  const ic = ignoreCase ? { ignore_case: true } : {};
  if (v === '*') return ANY_STRING;
  if (v.startsWith('*')) return { suffix: v.slice(1), ...ic };
  if (v.endsWith('*')) return { prefix: v.slice(0, -1), ...ic };
  return { exact: v, ...ic };
}

/** Peer principal: the SPIFFE id `spiffe://<value>` with Istio's wildcards. */
function principalName(v: string): object {
  if (v === '*') return ANY_STRING;
  if (v.startsWith('*')) return regex(`spiffe://.*${escapeRe(v.slice(1))}`);
  if (v.endsWith('*')) return { prefix: `spiffe://${v.slice(0, -1)}` };
  return { exact: `spiffe://${v}` };
}

const authenticated = (m: object): object => ({ authenticated: { principal_name: m } });

function namespaceId(v: string): object {
  return authenticated(regex(`.*/ns/${v.split('*').map(escapeRe).join('.*')}/.*`));
}

function serviceAccountId(v: string, policyNs: string): object {
  const slash = v.indexOf('/');
  const ns = slash < 0 ? policyNs : v.slice(0, slash);
  const sa = slash < 0 ? v : v.slice(slash + 1);
  return authenticated(regex(`spiffe://.+/ns/${escapeRe(ns)}/(.+/|)sa/${escapeRe(sa)}(/.+)?`));
}

export function cidr(v: string): object {
  const slash = v.indexOf('/');
  const ip = slash < 0 ? v : v.slice(0, slash);
  const len = slash < 0 ? (ip.includes(':') ? 128 : 32) : Number(v.slice(slash + 1));
  return { address_prefix: ip, prefix_len: len };
}

export const JWT_FILTER = 'envoy.filters.http.jwt_authn';

/** A value matcher for a claim: the string itself, or a list holding it (claims may be either). */
function claimValue(values: readonly string[]): object {
  const items: object[] = [];
  for (const v of values) {
    items.push({ string_match: stringMatch(v) });
    items.push({ list_match: { one_of: { string_match: stringMatch(v) } } });
  }
  return { or_match: { value_matchers: items } };
}

function claimIds(path: readonly string[], values: readonly string[], issuers: readonly string[]): Node {
  return or(PRIN, issuers.map((iss) => ({ metadata: { filter: JWT_FILTER, path: [iss, ...path].map((key) => ({ key })), value: claimValue(values) } })));
}

/**
 * A request principal `<iss>/<sub>` (split at the last `/`, as Istio does) with Istio's wildcards:
 * the issuer part is decided here against the known issuers, the subject is matched in the
 * issuer's payload (`[<iss>, sub]`).
 */
function requestPrincipalId(v: string, issuers: readonly string[]): Node {
  const idx = v.lastIndexOf('/');
  const found = idx >= 0;
  const iss = found ? v.slice(0, idx) : v;
  const sub = found ? v.slice(idx + 1) : '';
  let issOk: (i: string) => boolean;
  let subM: object;
  if (v === '*') { issOk = () => true; subM = ANY_STRING; }
  else if (v.startsWith('*')) {
    if (found) { issOk = iss === '*' ? () => true : (i) => i.endsWith(iss.slice(1)); subM = { exact: sub }; }
    else { issOk = () => true; subM = { suffix: v.slice(1) }; }
  } else if (v.endsWith('*')) {
    if (found) { issOk = (i) => i === iss; subM = sub === '*' ? ANY_STRING : { prefix: sub.slice(0, -1) }; }
    else { issOk = (i) => i.startsWith(v.slice(0, -1)); subM = ANY_STRING; }
  } else { issOk = (i) => i === iss; subM = { exact: sub }; }
  return or(PRIN, issuers.filter(issOk).map((i) => ({ metadata: { filter: JWT_FILTER, path: [{ key: i }, { key: 'sub' }], value: { string_match: subM } } })));
}

/** Hosts compare case-insensitively and literally, as Istio does (`example.com:*` covers any port). */
function hostPerm(v: string): Node {
  if (v === '*') return { header: { name: ':authority', present_match: true } };
  return { header: { name: ':authority', string_match: stringMatch(v, true) } };
}

/** Istio path values: `*`, prefix `x*`, suffix `*x`, exact, and `{*}` / `{**}` templates. */
function pathMatch(v: string): object {
  if (v.includes('{')) {
    const re = v.split('/').map((seg) => (seg === '{*}' ? '[^/]+' : seg === '{**}' ? '.*' : escapeRe(seg))).join('/');
    return regex(re);
  }
  return stringMatch(v);
}

const portIs = (values: readonly string[], port: number): boolean => values.some((v) => Number(v) === port);

export interface RuleOpts {
  /** The policy's namespace (default namespace of serviceAccounts). */
  readonly ns: string;
  readonly forTcp: boolean;
  readonly issuers: readonly string[];
  /** The workload port the chain serves. */
  readonly port: number;
  /** TCP: what to do with a rule using HTTP-only fields: skip the rule (ALLOW) or drop the fields (DENY, AUDIT). */
  readonly onHttpOnly: 'skip' | 'drop';
}

/** What the builder returns: an envoy.config.rbac.v3.Policy in JSON. */
export interface Built { readonly permissions: object[]; readonly principals: object[] }

/** Marker thrown (and caught) when a TCP rule meets an HTTP-only field under 'skip'. */
const SKIP = Symbol('skip');

type Gen = (v: string) => Node;

/** `values` or'ed, `notValues` negated; absent lists are unconstrained. */
function field(a: Algebra, values: readonly string[] | undefined, notValues: readonly string[] | undefined, gen: Gen): Node[] {
  const out: Node[] = [];
  if (values !== undefined) out.push(or(a, values.map(gen)));
  if (notValues !== undefined) out.push(not(a, or(a, notValues.map(gen))));
  return out;
}

export function ruleParts(rule: AuthzRule, o: RuleOpts): Built | undefined {
  const httpOnly = (present: boolean): boolean => {
    if (!present || !o.forTcp) return false;
    if (o.onHttpOnly === 'skip') throw SKIP;
    return true; // drop the field
  };
  try {
    const whenPerm: Node[] = [];
    const whenPrin: Node[] = [];
    for (const w of rule.when) condition(w, o, httpOnly, whenPerm, whenPrin);
    const tos: readonly (AuthzOperation | undefined)[] = rule.to.length > 0 ? rule.to : [undefined];
    const froms: readonly (AuthzSource | undefined)[] = rule.from.length > 0 ? rule.from : [undefined];
    const permissions = tos.map((t) => finish(PERM, and(PERM, [...(t === undefined ? [] : operation(t, o, httpOnly)), ...whenPerm])));
    const principals = froms.map((f) => finish(PRIN, and(PRIN, [...(f === undefined ? [] : source(f, o, httpOnly)), ...whenPrin])));
    return { permissions, principals };
  } catch (e) {
    if (e === SKIP) return undefined;
    throw e;
  }
}

function operation(t: AuthzOperation, o: RuleOpts, httpOnly: (present: boolean) => boolean): Node[] {
  const out: Node[] = [];
  if (!httpOnly(t.hosts !== undefined || t.notHosts !== undefined)) out.push(...field(PERM, t.hosts, t.notHosts, hostPerm));
  if (!httpOnly(t.methods !== undefined || t.notMethods !== undefined)) {
    out.push(...field(PERM, t.methods, t.notMethods, (v) => ({ header: v === '*' ? { name: ':method', present_match: true } : { name: ':method', string_match: stringMatch(v) } })));
  }
  if (!httpOnly(t.paths !== undefined || t.notPaths !== undefined)) out.push(...field(PERM, t.paths, t.notPaths, (v) => ({ url_path: { path: pathMatch(v) } })));
  if (t.ports !== undefined) out.push(portIs(t.ports, o.port));
  if (t.notPorts !== undefined) out.push(!portIs(t.notPorts, o.port));
  return out;
}

function source(f: AuthzSource, o: RuleOpts, httpOnly: (present: boolean) => boolean): Node[] {
  const out: Node[] = [];
  out.push(...field(PRIN, f.principals, f.notPrincipals, (v) => authenticated(principalName(v))));
  if (!httpOnly(f.requestPrincipals !== undefined || f.notRequestPrincipals !== undefined)) {
    out.push(...field(PRIN, f.requestPrincipals, f.notRequestPrincipals, (v) => requestPrincipalId(v, o.issuers)));
  }
  out.push(...field(PRIN, f.namespaces, f.notNamespaces, namespaceId));
  out.push(...field(PRIN, f.serviceAccounts, f.notServiceAccounts, (v) => serviceAccountId(v, o.ns)));
  out.push(...field(PRIN, f.ipBlocks, f.notIpBlocks, (v) => ({ direct_remote_ip: cidr(v) })));
  out.push(...field(PRIN, f.remoteIpBlocks, f.notRemoteIpBlocks, (v) => ({ remote_ip: cidr(v) })));
  return out;
}

function condition(w: AuthzCondition, o: RuleOpts, httpOnly: (present: boolean) => boolean, perm: Node[], prin: Node[]): void {
  const k = w.key;
  const P = (gen: Gen): void => { perm.push(...field(PERM, w.values, w.notValues, gen)); };
  const I = (gen: Gen): void => { prin.push(...field(PRIN, w.values, w.notValues, gen)); };
  switch (k) {
    case 'source.ip': return I((v) => ({ direct_remote_ip: cidr(v) }));
    case 'remote.ip': return I((v) => ({ remote_ip: cidr(v) }));
    case 'source.namespace': return I(namespaceId);
    case 'source.principal': return I((v) => authenticated(principalName(v)));
    case 'source.serviceAccount': return I((v) => serviceAccountId(v, o.ns));
    case 'destination.ip': return P((v) => ({ destination_ip: cidr(v) }));
    case 'destination.port': {
      if (w.values !== undefined) perm.push(portIs(w.values, o.port));
      if (w.notValues !== undefined) perm.push(!portIs(w.notValues, o.port));
      return;
    }
    case 'connection.sni': return P((v) => ({ requested_server_name: stringMatch(v) }));
    default: break;
  }
  // The rest are HTTP-only.
  if (httpOnly(true)) return;
  if (k === 'request.auth.principal') return I((v) => requestPrincipalId(v, o.issuers));
  if (k === 'request.auth.audiences' || k === 'request.auth.presenter') {
    const claim = k === 'request.auth.audiences' ? 'aud' : 'azp';
    if (w.values !== undefined) prin.push(claimIds([claim], w.values, o.issuers));
    if (w.notValues !== undefined) prin.push(not(PRIN, claimIds([claim], w.notValues, o.issuers)));
    return;
  }
  if (k.startsWith('request.auth.claims')) {
    const path = claimPath(k) ?? [];
    if (w.values !== undefined) prin.push(claimIds(path, w.values, o.issuers));
    if (w.notValues !== undefined) prin.push(not(PRIN, claimIds(path, w.notValues, o.issuers)));
    return;
  }
  if (k.startsWith('request.headers')) {
    const name = (headerName(k) ?? '').toLowerCase();
    return I((v) => ({ header: v === '*' ? { name, present_match: true } : { name, string_match: stringMatch(v) } }));
  }
}

