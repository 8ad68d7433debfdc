// Admin /certs (Envoy's admin.v3.Certificates JSON: `{certificates: [{ca_cert: [...], cert_chain:
// [...]}]}`, one entry per TLS context, each certificate with its path — `<inline>`, the file name,
// or `sds:<name>` — serial_number, subject_alt_names, days_until_expiration, valid_from and
// expiration_time), and the SecretsConfigDump entry of /config_dump (static and dynamic active
// secrets; private keys shown as `[redacted]`, as Envoy does).

import { X509Certificate } from 'node:crypto';
import type { BootstrapConfig, CommonTlsContextConfig, TlsDataSource } from '../config/types.js';
import type { ProxySecretManager } from '../secrets/manager.js';
import type { SecretValue } from '../secrets/types.js';
import { parseCertificates } from '../tls/pem.js';

interface CertDetail {
  path: string;
  serial_number: string;
  subject_alt_names: Record<string, string>[];
  days_until_expiration: string;
  valid_from: string;
  expiration_time: string;
}

const DAY_MS = 86_400_000;

/** The SANs of a certificate as Envoy lists them ({dns}, {uri}, {ip_address}, {email}). */
function sansOf(c: X509Certificate): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const part of (c.subjectAltName ?? '').split(', ')) {
    const i = part.indexOf(':');
    if (i < 0) continue;
    const kind = part.slice(0, i);
    const value = part.slice(i + 1);
    const key = kind === 'DNS' ? 'dns' : kind === 'URI' ? 'uri' : kind === 'IP Address' ? 'ip_address' : kind === 'email' ? 'email' : null;
    if (key !== null) out.push({ [key]: value });
  }
  return out;
}

function details(pem: string, path: string, onlyFirst: boolean): CertDetail[] {
  const certs = parseCertificates(pem);
  if (typeof certs === 'string') return [];
  return (onlyFirst ? certs.slice(0, 1) : certs).map((c) => {
    const to = new Date(c.validTo);
    return {
      path,
      serial_number: c.serialNumber.toLowerCase(),
      subject_alt_names: sansOf(c),
      days_until_expiration: String(Math.max(0, Math.floor((to.getTime() - Date.now()) / DAY_MS))),
      valid_from: new Date(c.validFrom).toISOString(),
      expiration_time: to.toISOString(),
    };
  });
}

const pathOf = (s: TlsDataSource): string => s.filename ?? '<inline>';

/** One /certs entry for a TLS context: its CA (trusted_ca, ROOTCA) and its certificate chains (Envoy lists the leaf). */
function contextCerts(c: CommonTlsContextConfig, secrets: ProxySecretManager | null): { ca_cert: CertDetail[]; cert_chain: CertDetail[] } {
  const ca: CertDetail[] = [];
  const chain: CertDetail[] = [];
  const v = c.validationContext;
  if (v?.trustedCa) ca.push(...details(v.trustedCa.text, pathOf(v.trustedCa), false));
  if (c.sdsValidation !== null) {
    const s = secrets?.get(c.sdsValidation);
    if (s?.kind === 'validation_context') ca.push(...details(s.trustedCa, `sds:${c.sdsValidation.name}`, false));
  }
  for (const t of c.tlsCertificates) chain.push(...details(t.certificateChain.text, pathOf(t.certificateChain), true));
  for (const r of c.sdsCertificates) {
    const s = secrets?.get(r);
    if (s?.kind === 'tls_certificate') chain.push(...details(s.certificateChain, `sds:${r.name}`, true));
  }
  return { ca_cert: ca, cert_chain: chain };
}

/** /certs: every listener filter chain's and cluster's TLS context, with the certificates in effect now. */
export function certsDump(config: BootstrapConfig, secrets: ProxySecretManager | null): unknown {
  const certificates: { ca_cert: CertDetail[]; cert_chain: CertDetail[] }[] = [];
  const seen = new Set<CommonTlsContextConfig>();
  const add = (c: CommonTlsContextConfig): void => {
    if (seen.has(c)) return;
    seen.add(c);
    const e = contextCerts(c, secrets);
    if (e.ca_cert.length > 0 || e.cert_chain.length > 0) certificates.push(e);
  };
  for (const l of config.listeners) {
    for (const fc of [...l.filterChains, ...(l.defaultFilterChain === null ? [] : [l.defaultFilterChain])]) {
      if (fc.transportSocket !== null) add(fc.transportSocket.commonTlsContext);
    }
  }
  for (const c of config.clusters) if (c.transportSocket !== null) add(c.transportSocket.commonTlsContext);
  return { certificates };
}

function secretJson(v: SecretValue): Record<string, unknown> {
  return v.kind === 'tls_certificate'
    ? { name: v.name, tls_certificate: { certificate_chain: { inline_string: v.certificateChain }, private_key: { inline_string: '[redacted]' } } }
    : { name: v.name, validation_context: { trusted_ca: { inline_string: v.trustedCa } } };
}

/** /config_dump's SecretsConfigDump: the secrets in use (dynamic_active_secrets) and those still awaited (dynamic_warming_secrets). */
export function secretsConfigDump(secrets: ProxySecretManager | null): unknown {
  const list = secrets?.list() ?? [];
  return {
    '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
    dynamic_active_secrets: list.filter((e) => e.value !== undefined).map((e) => ({
      name: e.ref.name, version_info: secrets!.versionOf(e.ref), last_updated: new Date(e.updatedAt).toISOString(), secret: secretJson(e.value!),
    })),
    dynamic_warming_secrets: list.filter((e) => e.value === undefined).map((e) => ({ name: e.ref.name })),
  };
}

/** A config dump with the SecretsConfigDump entry added. */
export function withSecrets(dump: unknown, secrets: ProxySecretManager): unknown {
  const d = dump as { configs?: unknown[] };
  return Array.isArray(d.configs) ? { ...d, configs: [...d.configs, secretsConfigDump(secrets)] } : dump;
}
