// AuthorizationPolicy (security.istio.io/v1) → Envoy's RBAC filters on a workload's inbound chain,
// the way Istio's pilot builds them (istio.io/latest/docs/reference/config/security/authorization-policy/):
// - which policies apply: those of the workload's namespace whose selector matches its labels (or
//   without selector), and those of the mesh config's root namespace (mesh-wide, same selector rule);
// - filters in Istio's order: CUSTOM (an rbac filter whose shadow rules mark the requests the CUSTOM
//   rules match in dynamic metadata `envoy.filters.http.rbac` `istio_ext_authz_shadow_effective_policy_id`,
//   then the provider's ext_authz filter, which runs only for marked requests), then AUDIT (rbac LOG),
//   DENY (rbac DENY), ALLOW (rbac ALLOW; absent when no ALLOW policy applies);
// - one RBAC policy per rule, named `ns[<ns>]-policy[<name>]-rule[<i>]` (`istio-ext-authz-` before it
//   for CUSTOM); a policy without rules gets one never-matching policy `...-rule[0]` (so an ALLOW
//   policy without rules allows nothing); each `to` is an and_rules permission, each `from` an
//   and_ids principal, `when` conditions joined to both by their kind; values or'ed, notValues negated;
// - `istio.io/dry-run: "true"` puts a policy in shadow_rules (stat prefix istio_dry_run_allow_ /
//   istio_dry_run_deny_) instead of rules.
// Weft differences: ports (`ports`, `destination.port`) are decided at translation time against the
// port the inbound chain serves (the sidecar's listener port is not the workload's port); JWT data
// is read from the jwt_authn payloads Weft writes per issuer (`payload_in_metadata: <issuer>`), so
// requestPrincipals and request.auth.* need the issuers of the RequestAuthentications applying to
// the workload; CUSTOM is HTTP only (on TCP chains it denies what its rules match).

import type { ConfigResource } from '../../model.js';
import type { AuthorizationPolicySpec, AuthzAction, AuthzRule } from '../../api/authorization-policy.js';
import { labelsMatch } from '../mesh-index.js';
import { extAuthzHttpFilter, ISTIO_EXT_AUTHZ_FILTER_ENABLED_METADATA } from './ext-authz.js';
import type { SecurityContext } from './index.js';
import { ruleParts, type Built } from './authz-rules.js';

export type AP = ConfigResource<AuthorizationPolicySpec>;

const HTTP_RBAC = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const NETWORK_RBAC = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';
export const EXT_AUTHZ_SHADOW_PREFIX = 'istio_ext_authz_';
export const EXT_AUTHZ_POLICY_PREFIX = 'istio-ext-authz-';
export const DRY_RUN_ANNOTATION = 'istio.io/dry-run';

function byName(a: ConfigResource, b: ConfigResource): number {
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** Whether a selector-bearing security policy in `ns` applies to a workload (Istio's namespace + root-namespace rule). */
export function securityPolicyApplies(
  policyNs: string, selector: Readonly<Record<string, string>> | undefined,
  workloadNs: string, labels: Readonly<Record<string, string>>, rootNamespace: string,
): boolean {
  if (policyNs !== workloadNs && policyNs !== rootNamespace) return false;
  return labelsMatch(selector, labels);
}

/** The AuthorizationPolicies applying to the proxy's workload, by namespace/name. */
export function policiesFor(ctx: SecurityContext): AP[] {
  return (ctx.index.mesh.configs.filter((c) => c.kind === 'AuthorizationPolicy') as AP[])
    .filter((p) => securityPolicyApplies(p.metadata.namespace, p.spec.selector?.matchLabels, ctx.proxy.namespace, ctx.proxy.labels, ctx.mesh.rootNamespace))
    .sort(byName);
}

/** The JWT issuers of the RequestAuthentications applying to the workload (their payloads are in dynamic metadata). */
export function issuersFor(ctx: SecurityContext): string[] {
  const out = new Set<string>();
  for (const c of ctx.index.mesh.configs) {
    if (c.kind !== 'RequestAuthentication') continue;
    const spec = c.spec as { selector?: { matchLabels?: Record<string, string> }; jwtRules?: readonly { issuer?: unknown }[] };
    if (!securityPolicyApplies(c.metadata.namespace, spec.selector?.matchLabels, ctx.proxy.namespace, ctx.proxy.labels, ctx.mesh.rootNamespace)) continue;
    for (const r of spec.jwtRules ?? []) if (typeof r.issuer === 'string' && r.issuer !== '') out.add(r.issuer);
  }
  return [...out].sort();
}

function isDryRun(p: AP): boolean {
  return (p.metadata.annotations[DRY_RUN_ANNOTATION] ?? '').toLowerCase() === 'true';
}

export function policyName(p: AP, i: number): string {
  return `ns[${p.metadata.namespace}]-policy[${p.metadata.name}]-rule[${i}]`;
}

interface BuildOpts {
  readonly forTcp: boolean;
  readonly issuers: readonly string[];
  readonly port: number;
  readonly prefix?: string;
}

/** The RBAC policies of some AuthorizationPolicies (rules TCP cannot enforce are dropped or widened, as Istio does). */
function rbacPolicies(policies: readonly AP[], o: BuildOpts): Record<string, object> {
  const out: Record<string, object> = {};
  for (const p of policies) {
    p.spec.rules.forEach((rule: AuthzRule, i) => {
      const built: Built | undefined = ruleParts(rule, {
        ns: p.metadata.namespace, forTcp: o.forTcp, issuers: o.issuers, port: o.port,
        // TCP: Istio ignores an ALLOW rule with HTTP-only fields; for DENY/AUDIT it drops those fields
        // (stricter), as Weft does for a fail-closed CUSTOM.
        onHttpOnly: p.spec.action === 'ALLOW' ? 'skip' : 'drop',
      });
      if (built !== undefined) out[(o.prefix ?? '') + policyName(p, i)] = built;
    });
    if (p.spec.rules.length === 0) out[(o.prefix ?? '') + policyName(p, 0)] = MATCH_NEVER;
  }
  return out;
}

/** Istio's explicit never-matching policy for a policy without rules. */
const MATCH_NEVER = Object.freeze({ permissions: [{ not_rule: { any: true } }], principals: [{ not_id: { any: true } }] });

function rulesOf(action: 'ALLOW' | 'DENY' | 'LOG', policies: Record<string, object>): object {
  return { action, policies };
}

/** One RBAC filter for an action: enforced policies as rules, dry-run ones as shadow rules. */
function actionFilter(action: AuthzAction, all: readonly AP[], o: BuildOpts, network: boolean): object | undefined {
  const mine = all.filter((p) => p.spec.action === action);
  if (mine.length === 0) return undefined;
  const enforced = mine.filter((p) => !isDryRun(p));
  const dry = mine.filter(isDryRun);
  const rbacAction = action === 'AUDIT' ? 'LOG' : action === 'DENY' ? 'DENY' : 'ALLOW';
  const cfg: Record<string, unknown> = {};
  if (enforced.length > 0) cfg.rules = rulesOf(rbacAction, rbacPolicies(enforced, o));
  if (dry.length > 0) {
    cfg.shadow_rules = rulesOf(rbacAction, rbacPolicies(dry, o));
    if (action !== 'AUDIT') cfg.shadow_rules_stat_prefix = `istio_dry_run_${action.toLowerCase()}_`;
  }
  if (network) {
    // Istio: an ALLOW network filter whose every rule was skipped still denies (allow nothing).
    return { name: 'envoy.filters.network.rbac', typed_config: { '@type': NETWORK_RBAC, stat_prefix: 'tcp.', ...cfg } };
  }
  return { name: 'envoy.filters.http.rbac', typed_config: { '@type': HTTP_RBAC, ...cfg } };
}

/** CUSTOM: the shadow RBAC marking the requests to check, then the provider's ext_authz (or a fail-closed DENY). */
export function customHttpFilters(ctx: SecurityContext): object[] {
  const custom = policiesFor(ctx).filter((p) => p.spec.action === 'CUSTOM');
  if (custom.length === 0) return [];
  const o: BuildOpts = { forTcp: false, issuers: issuersFor(ctx), port: ctx.port };
  // Istio allows one provider per workload: with several, every CUSTOM policy fails closed (as does
  // one whose provider is unknown or cannot serve HTTP): the requests its rules match are denied.
  const providerNames = new Set(custom.map((p) => p.spec.provider?.name ?? ''));
  const providerName = custom[0]!.spec.provider?.name ?? '';
  const provider = providerNames.size === 1 ? ctx.mesh.extensionProviders.find((e) => e.name === providerName) : undefined;
  const ext = provider === undefined ? undefined : extAuthzHttpFilter(provider, ctx);
  const served = ext === undefined ? [] : custom;
  const failClosed = ext === undefined ? custom : [];
  const out: object[] = [];
  if (served.length > 0) {
    out.push({
      name: 'envoy.filters.http.rbac',
      typed_config: {
        '@type': HTTP_RBAC,
        shadow_rules: rulesOf('DENY', rbacPolicies(served, { ...o, prefix: EXT_AUTHZ_POLICY_PREFIX })),
        shadow_rules_stat_prefix: EXT_AUTHZ_SHADOW_PREFIX,
      },
    });
    // The ext_authz filter runs only on the requests the shadow rules marked (Istio's gate).
    const f = ext as { typed_config: Record<string, unknown> };
    out.push({ ...f, typed_config: { ...f.typed_config, filter_enabled_metadata: ISTIO_EXT_AUTHZ_FILTER_ENABLED_METADATA } });
  }
  if (failClosed.length > 0) {
    out.push({ name: 'envoy.filters.http.rbac', typed_config: { '@type': HTTP_RBAC, rules: rulesOf('DENY', rbacPolicies(failClosed, { ...o, prefix: EXT_AUTHZ_POLICY_PREFIX })) } });
  }
  return out;
}

/** AUDIT, DENY and ALLOW RBAC filters for the inbound HTTP chain (CUSTOM's come before, from customHttpFilters). */
export function rbacHttpFilters(ctx: SecurityContext): object[] {
  const all = policiesFor(ctx);
  if (all.length === 0) return [];
  const o: BuildOpts = { forTcp: false, issuers: issuersFor(ctx), port: ctx.port };
  return (['AUDIT', 'DENY', 'ALLOW'] as const).map((a) => actionFilter(a, all, o, false)).filter((f): f is object => f !== undefined);
}

/**
 * The network RBAC filters for an inbound TCP chain (AUDIT, DENY, ALLOW). CUSTOM is not applied on
 * TCP (Istio uses a gRPC ext_authz network filter, which Weft does not have yet): a CUSTOM policy on
 * a TCP chain denies the connections its rules match (fail closed), ahead of the others.
 */
export function rbacNetworkFilters(ctx: SecurityContext): object[] {
  const all = policiesFor(ctx);
  if (all.length === 0) return [];
  const o: BuildOpts = { forTcp: true, issuers: [], port: ctx.port };
  const out: object[] = [];
  const custom = all.filter((p) => p.spec.action === 'CUSTOM');
  if (custom.length > 0) {
    out.push({ name: 'envoy.filters.network.rbac', typed_config: { '@type': NETWORK_RBAC, stat_prefix: 'tcp.', rules: rulesOf('DENY', rbacPolicies(custom, { ...o, prefix: EXT_AUTHZ_POLICY_PREFIX })) } });
  }
  for (const a of ['AUDIT', 'DENY', 'ALLOW'] as const) {
    const f = actionFilter(a, all, o, true);
    if (f !== undefined) out.push(f);
  }
  return out;
}
