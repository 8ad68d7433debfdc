// PeerAuthentication validation (security.istio.io/v1 PeerAuthentication,
// istio.io/latest/docs/reference/config/security/peer_authentication/): a workload `selector`
// (matchLabels), the `mtls.mode` (UNSET, DISABLE, PERMISSIVE, STRICT) and `portLevelMtls` (workload
// port → mode, only with a selector), checked as Istio's validation does. What the modes mean for
// a workload's listeners is in src/control/translate/security/mtls.ts.

import { type Ctx, type Field, isObject, join, labelMap, oneOf, shape } from './common.js';

export const MTLS_MODES = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'] as const;
export type MtlsMode = (typeof MTLS_MODES)[number];

export interface PeerAuthenticationSpec {
  /** Absent: the policy is namespace-wide (mesh-wide in the root namespace). */
  readonly selector?: { readonly matchLabels: Readonly<Record<string, string>> };
  /** Absent or UNSET: inherited from the parent level. */
  readonly mtls?: { readonly mode: MtlsMode };
  /** Workload (container) port → its mode; UNSET inherits the policy's own mode. */
  readonly portLevelMtls?: Readonly<Record<string, { readonly mode: MtlsMode }>>;
}

const mutualTls: Field<{ mode: MtlsMode }> = (v, p, c) => {
  const o = shape(c, v, p, { mode: oneOf(MTLS_MODES) });
  if (o === undefined) return undefined;
  // An empty `mtls: {}` is UNSET, as proto3 reads it.
  if (isObject(v) && v.mode != null && o.mode === undefined) return undefined;
  return { mode: (o.mode as MtlsMode | undefined) ?? 'UNSET' };
};

const selector: Field<{ matchLabels: Record<string, string> }> = (v, p, c) => {
  const o = shape(c, v, p, { matchLabels: labelMap });
  if (o === undefined) return undefined;
  return { matchLabels: (o.matchLabels as Record<string, string> | undefined) ?? {} };
};

const portLevel: Field<Record<string, { mode: MtlsMode }>> = (v, p, c) => {
  if (!isObject(v)) return c.expected(p, 'a map of port number to {mode}', v), undefined;
  const out: Record<string, { mode: MtlsMode }> = {};
  let failed = false;
  for (const [k, x] of Object.entries(v)) {
    const kp = `${p}[${JSON.stringify(k)}]`;
    const n = /^\d+$/.test(k) ? Number(k) : NaN;
    if (!(n >= 1 && n <= 65535)) {
      c.fail(kp, `expected a port number in 1..65535 as the key, got ${JSON.stringify(k)}`);
      failed = true;
      continue;
    }
    const m = x == null ? (c.expected(kp, 'an object with a mode', x), undefined) : mutualTls(x, kp, c);
    if (m === undefined) { failed = true; continue; }
    out[String(n)] = m;
  }
  return failed ? undefined : out;
};

export function validatePeerAuthentication(spec: unknown, c: Ctx): PeerAuthenticationSpec | undefined {
  const before = c.errors.length;
  const o = shape(c, spec, 'spec', { selector, mtls: mutualTls, portLevelMtls: portLevel });
  if (o === undefined || !isObject(spec)) return undefined;
  const sel = o.selector as PeerAuthenticationSpec['selector'];
  const hasSelector = sel !== undefined && Object.keys(sel.matchLabels).length > 0;
  if (spec.portLevelMtls != null) {
    if (!hasSelector) {
      c.fail(join('spec', 'portLevelMtls'), 'expected only with a selector (Istio: a namespace-wide or mesh-wide PeerAuthentication cannot have port-level mTLS)');
    } else if (isObject(spec.portLevelMtls) && Object.keys(spec.portLevelMtls).length === 0) {
      c.fail(join('spec', 'portLevelMtls'), 'expected at least one port when set');
    }
  }
  if (c.errors.length > before) return undefined;
  return {
    ...(hasSelector ? { selector: sel } : {}),
    ...(o.mtls !== undefined ? { mtls: o.mtls } : {}),
    ...(o.portLevelMtls !== undefined ? { portLevelMtls: o.portLevelMtls } : {}),
  };
}
