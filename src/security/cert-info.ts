// What a PEM certificate says, read with node:crypto's X509Certificate (synchronous; for admin
// pages, proxy-status and renewal timing).

import { X509Certificate } from 'node:crypto';
import type { CertInfo } from './x509.js';

export function certInfo(pem: string): CertInfo {
  const c = new X509Certificate(pem);
  const sans = (c.subjectAltName ?? '').split(', ').filter((s) => s !== '');
  return {
    subject: c.subject,
    issuer: c.issuer,
    serialNumber: c.serialNumber,
    notBefore: new Date(c.validFrom),
    notAfter: new Date(c.validTo),
    uris: sans.filter((s) => s.startsWith('URI:')).map((s) => s.slice(4)),
    dnsNames: sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)),
    isCa: c.ca,
    fingerprint256: c.fingerprint256.replace(/:/g, '').toLowerCase(),
  };
}
