// SPIFFE workload identities (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md) in
// Istio's form: `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`. One place builds
// and parses them: the CA (what a token or a loopback sidecar may ask for), the sidecar agent (its
// CSR), the translation (AuthorizationPolicy principals, SAN checks) and the proxy (peer identity).

/** The trust domain when the mesh config sets none (Istio's default). */
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

export interface WorkloadIdentity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** `spiffe://td/ns/NS/sa/SA`. */
export function spiffeId(id: WorkloadIdentity): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** Istio's principal form (the SPIFFE id without `spiffe://`): `td/ns/NS/sa/SA`. */
export function principalOf(id: WorkloadIdentity): string {
  return `${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

const SPIFFE_RE = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/;

/** Parses an Istio-form SPIFFE id; undefined for anything else. */
export function parseSpiffeId(uri: string): WorkloadIdentity | undefined {
  const m = SPIFFE_RE.exec(uri);
  return m === null ? undefined : { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! };
}

/** The first `URI:spiffe://...` entry of Node's `subjectaltname` string, or undefined. */
export function spiffeFromSubjectAltName(san: string | undefined): string | undefined {
  if (san === undefined) return undefined;
  for (const part of san.split(', ')) if (part.startsWith('URI:spiffe://')) return part.slice(4);
  return undefined;
}
