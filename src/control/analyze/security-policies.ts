// Findings about security.istio.io policies (AuthorizationPolicy, PeerAuthentication,
// RequestAuthentication), as istioctl analyze reports them where Istio has a code:
// - IST0127 NoMatchingWorkloadsFound: a `selector.matchLabels` that selects no workload of the
//   policy's namespace (of any namespace, for the mesh config's root namespace);
// - WEFT0010 AuthorizationPolicy ALLOW rule shadowed: every request an ALLOW rule admits is denied by
//   a DENY rule (same or broader match) on a workload both policies apply to;
// - WEFT0011 unknown CUSTOM provider: `provider.name` names no mesh config extensionProvider (the
//   translation then denies what the policy's rules match).
// The shadowing check is structural (value sets compared literally, `*` in a DENY value covers any
// value): it reports only certain shadowing, never a guess.

import type { AuthorizationPolicySpec, AuthzCondition, AuthzOperation, AuthzRule, AuthzSource } from '../api/authorization-policy.js';
import { DEFAULT_MESH_CONFIG, type AnalysisMessage, type ConfigResource, type Workload } from '../model.js';
import { labelsMatch, type MeshIndex, message } from './mesh-index.js';

export const NO_MATCHING_WORKLOADS = 'IST0127';
export const ALLOW_RULE_SHADOWED_BY_DENY = 'WEFT0010';
export const CUSTOM_PROVIDER_NOT_FOUND = 'WEFT0011';

const SECURITY_KINDS = new Set(['AuthorizationPolicy', 'PeerAuthentication', 'RequestAuthentication']);

type AP = ConfigResource<AuthorizationPolicySpec>;

function selectorOf(c: ConfigResource): Readonly<Record<string, string>> | undefined {
  const sel = (c.spec as { selector?: { matchLabels?: Record<string, string> } }).selector;
  return sel?.matchLabels;
}

/** The workloads a security policy applies to (its namespace, or all for the root namespace). */
function selected(c: ConfigResource, workloads: readonly Workload[], rootNs: string): Workload[] {
  const sel = selectorOf(c) ?? {};
  const ns = c.metadata.namespace;
  return workloads.filter((w) => (ns === rootNs || w.namespace === ns) && labelsMatch(sel, w.labels));
}

export function securityPolicies(ix: MeshIndex): AnalysisMessage[] {
  const mesh = ix.mesh.meshConfig ?? DEFAULT_MESH_CONFIG;
  const root = mesh.rootNamespace;
  const workloads = ix.mesh.workloads;
  const out: AnalysisMessage[] = [];
  for (const c of ix.mesh.configs) {
    if (!SECURITY_KINDS.has(c.kind)) continue;
    const sel = selectorOf(c);
    if (sel === undefined || Object.keys(sel).length === 0) continue;
    if (selected(c, workloads, root).length > 0) continue;
    const labels = Object.entries(sel).map(([k, v]) => `${k}=${v}`).join(',');
    const where = c.metadata.namespace === root ? 'in any namespace (root namespace policy)' : `in namespace ${c.metadata.namespace}`;
    out.push(message('Warning', NO_MATCHING_WORKLOADS, c, 'spec.selector.matchLabels',
      `No matching workloads for this resource with the following labels: ${labels} (${where})`));
  }
  const policies = ix.mesh.configs.filter((c) => c.kind === 'AuthorizationPolicy') as AP[];
  for (const p of policies) {
    if (p.spec.action !== 'CUSTOM') continue;
    const name = p.spec.provider?.name ?? '';
    if (mesh.extensionProviders.some((e) => e.name === name)) continue;
    const known = mesh.extensionProviders.map((e) => e.name);
    out.push(message('Error', CUSTOM_PROVIDER_NOT_FOUND, p, 'spec.provider.name',
      `extension provider "${name}" is not defined in the mesh config (${known.length === 0 ? 'no extensionProviders' : `known: ${known.join(', ')}`}): the requests this policy's rules match are denied`));
  }
  out.push(...shadowedAllowRules(policies, workloads, root));
  return out;
}

function shadowedAllowRules(policies: readonly AP[], workloads: readonly Workload[], root: string): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  const denies = policies.filter((p) => p.spec.action === 'DENY' && p.metadata.annotations['istio.io/dry-run'] !== 'true');
  for (const allow of policies) {
    if (allow.spec.action !== 'ALLOW') continue;
    const aw = new Set(selected(allow, workloads, root).map((w) => w.id));
    if (aw.size === 0) continue;
    allow.spec.rules.forEach((ar, i) => {
      for (const deny of denies) {
        const common = selected(deny, workloads, root).filter((w) => aw.has(w.id));
        if (common.length === 0) continue;
        const j = deny.spec.rules.findIndex((dr) => ruleCovers(dr, ar));
        if (j < 0) continue;
        out.push(message('Warning', ALLOW_RULE_SHADOWED_BY_DENY, allow, `spec.rules[${i}]`,
          `every request this ALLOW rule admits is denied by AuthorizationPolicy ${deny.metadata.namespace}/${deny.metadata.name} spec.rules[${j}] `
          + `(DENY is evaluated first) on ${common.map((w) => w.id).sort().join(', ')}`));
        return;
      }
    });
  }
  return out;
}

/** A DENY value list covers an ALLOW one: every allowed value is among the denied (or denied is `*`). */
function valuesCover(deny: readonly string[], allow: readonly string[]): boolean {
  return deny.includes('*') || allow.every((v) => deny.includes(v));
}

/** Whether `d` matches at least everything `a` matches (field by field, literally). */
function entryCovers<T extends Readonly<Partial<Record<string, readonly string[]>>>>(d: T, a: T): boolean {
  for (const [k, dv] of Object.entries(d)) {
    if (dv === undefined) continue;
    const av = a[k];
    if (k.startsWith('not')) {
      // d excludes dv: a must exclude at least those.
      if (av === undefined || !dv.every((v) => av.includes(v))) return false;
    } else if (av === undefined || !valuesCover(dv, av)) return false;
  }
  return true;
}

function listCovers<T extends AuthzSource | AuthzOperation>(d: readonly T[], a: readonly T[]): boolean {
  if (d.length === 0) return true;
  if (a.length === 0) return false;
  return a.every((ae) => d.some((de) => entryCovers(de, ae)));
}

function whenCovers(d: readonly AuthzCondition[], a: readonly AuthzCondition[]): boolean {
  return d.every((dc) => a.some((ac) => ac.key === dc.key
    && (dc.values === undefined || (ac.values !== undefined && valuesCover(dc.values, ac.values)))
    && (dc.notValues === undefined || (ac.notValues !== undefined && dc.notValues.every((v) => ac.notValues!.includes(v))))));
}

export function ruleCovers(d: AuthzRule, a: AuthzRule): boolean {
  return listCovers(d.from, a.from) && listCovers(d.to, a.to) && whenCovers(d.when, a.when);
}
