// Secret validation (Kubernetes core/v1 Secret, as Istio reads them for `credentialName`:
// istio.io/latest/docs/tasks/traffic-management/ingress/secure-ingress/ and egress TLS origination):
// `type: kubernetes.io/tls` with `tls.crt` / `tls.key` (/ `ca.crt`), or a generic Secret with `cert` /
// `key` / `cacert`; values base64 in `data` or plain in `stringData`. Certificates must parse as PEM,
// the key must match the certificate. The control plane serves them over ADS SDS
// (src/control/translate/secrets.ts); `weft get secrets` shows them with the data redacted.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { type Ctx, isObject, oneOf, shape, stringMap } from './common.js';

/** The validated secret: PEM text of each part present. */
export interface SecretSpec {
  readonly type: string;
  /** Certificate chain (PEM) presented by the holder. */
  readonly cert?: string;
  /** Its private key (PEM). */
  readonly key?: string;
  /** CA certificates (PEM) to verify the peer with. */
  readonly caCert?: string;
  /** The data keys given (what `weft get` shows, values redacted). */
  readonly keys: readonly string[];
}

const TYPES = ['kubernetes.io/tls', 'Opaque', 'istio.io/key-and-cert', 'generic'] as const;
/** Istio's key names per part, tls-style first. */
const CERT_KEYS = ['tls.crt', 'cert'];
const KEY_KEYS = ['tls.key', 'key'];
const CA_KEYS = ['ca.crt', 'cacert'];
const OTHER_KEYS = ['ca.crl', 'crl'];

/** Top-level fields of a Secret document (there is no `spec`). */
export const SECRET_FIELDS = ['type', 'data', 'stringData', 'immutable'];

const firstCert = (pem: string): X509Certificate => new X509Certificate(pem);

export function validateSecret(doc: Record<string, unknown>, c: Ctx): SecretSpec | undefined {
  const before = c.errors.length;
  const o = shape(c, Object.fromEntries(SECRET_FIELDS.filter((k) => doc[k] !== undefined).map((k) => [k, doc[k]])), '', {
    type: oneOf(TYPES), data: stringMap, stringData: stringMap, immutable: () => true,
  });
  if (o === undefined) return undefined;
  const values = new Map<string, { text: string; path: string }>();
  for (const [k, v] of Object.entries((o.data as Record<string, string> | undefined) ?? {})) {
    const p = `data[${JSON.stringify(k)}]`;
    if (!/^[A-Za-z0-9+/=\s]*$/.test(v)) { c.expected(p, 'base64 (use stringData for plain text)', v); continue; }
    values.set(k, { text: Buffer.from(v, 'base64').toString('utf8'), path: p });
  }
  for (const [k, v] of Object.entries((o.stringData as Record<string, string> | undefined) ?? {})) values.set(k, { text: v, path: `stringData[${JSON.stringify(k)}]` });
  for (const [k, v] of values) {
    if (![...CERT_KEYS, ...KEY_KEYS, ...CA_KEYS, ...OTHER_KEYS].includes(k)) {
      c.fail(v.path, `unknown key (expected ${[...CERT_KEYS, ...KEY_KEYS, ...CA_KEYS].join(', ')})`);
    }
    if (OTHER_KEYS.includes(k)) c.fail(v.path, 'not supported yet (CRLs from a Secret)');
  }
  const pick = (keys: readonly string[]) => keys.map((k) => values.get(k)).find((v) => v !== undefined);
  const cert = pick(CERT_KEYS);
  const key = pick(KEY_KEYS);
  const ca = pick(CA_KEYS);
  if (cert === undefined && key === undefined && ca === undefined) {
    c.fail('data', `expected a certificate and key (${CERT_KEYS.join('/')} and ${KEY_KEYS.join('/')}) or CA certificates (${CA_KEYS.join('/')})`);
  }
  if ((cert === undefined) !== (key === undefined)) {
    const missing = cert === undefined ? CERT_KEYS.join(' or ') : KEY_KEYS.join(' or ');
    c.fail('data', `expected ${missing} too: a certificate and its key go together`);
  }
  let x509: X509Certificate | undefined;
  if (cert !== undefined) {
    try { x509 = firstCert(cert.text); } catch (e) { c.fail(cert.path, `expected a PEM certificate (${(e as Error).message})`); }
  }
  if (key !== undefined) {
    try {
      const k = createPrivateKey(key.text);
      if (x509 !== undefined && !x509.checkPrivateKey(k)) c.fail(key.path, 'expected the private key of the certificate (it does not match)');
    } catch (e) {
      c.fail(key.path, `expected a PEM private key (${(e as Error).message})`);
    }
  }
  if (ca !== undefined) {
    try { firstCert(ca.text); } catch (e) { c.fail(ca.path, `expected PEM CA certificates (${(e as Error).message})`); }
  }
  if (o.type === 'kubernetes.io/tls' && (cert === undefined || key === undefined) && isObject(doc)) {
    c.fail('data', 'expected tls.crt and tls.key for type kubernetes.io/tls');
  }
  if (c.errors.length > before) return undefined;
  return {
    type: (o.type as string | undefined) ?? 'Opaque',
    ...(cert !== undefined ? { cert: cert.text } : {}),
    ...(key !== undefined ? { key: key.text } : {}),
    ...(ca !== undefined ? { caCert: ca.text } : {}),
    keys: [...values.keys()].sort(),
  };
}

/** What `weft get` shows of a Secret: its type and data keys, every value redacted. */
export function redactedSecret(spec: SecretSpec): object {
  return { type: spec.type, data: Object.fromEntries(spec.keys.map((k) => [k, 'REDACTED'])) };
}
