// Subject alternative names: reading them from a certificate and matching them against
// CertificateValidationContext.match_typed_subject_alt_names (any matcher matching accepts), and
// the names a server certificate answers for (DNS SANs, else the subject CN) for SNI selection.

import { isIP } from 'node:net';
import type { X509Certificate } from 'node:crypto';
import type { SanType, SubjectAltNameMatcherConfig } from '../config/types.js';
import { CompiledStringMatcher } from '../router/matchers.js';

export interface SubjectAltName {
  readonly type: SanType;
  readonly value: string;
}

const NODE_SAN_TYPE: Readonly<Record<string, SanType>> = {
  DNS: 'DNS', URI: 'URI', email: 'EMAIL', 'IP Address': 'IP_ADDRESS',
};

/**
 * Parses Node's `subjectaltname` text (`DNS:a.example, IP Address:127.0.0.1, URI:spiffe://x`);
 * values holding separators come JSON-quoted. Other name types are left out.
 */
export function parseSubjectAltNames(text: string | undefined): SubjectAltName[] {
  if (!text) return [];
  const out: SubjectAltName[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon).trim();
    let value: string;
    let next: number;
    if (text[colon + 1] === '"') {
      // JSON string: find its end.
      let j = colon + 2;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      try { value = JSON.parse(text.slice(colon + 1, j + 1)) as string; } catch { value = text.slice(colon + 2, j); }
      next = text.indexOf(',', j);
    } else {
      next = text.indexOf(', ', colon);
      value = text.slice(colon + 1, next < 0 ? text.length : next);
    }
    const t = NODE_SAN_TYPE[type];
    if (t !== undefined) out.push({ type: t, value: t === 'IP_ADDRESS' ? normalizeIp(value) : value });
    if (next < 0) break;
    i = next + 1;
    while (text[i] === ' ') i++;
  }
  return out;
}

/** IPv6 in a compact form, so a matcher written as `::1` matches `0:0:0:0:0:0:0:1`. */
function normalizeIp(value: string): string {
  if (isIP(value) !== 6) return value;
  try { return new URL(`http://[${value}]/`).hostname.slice(1, -1); } catch { return value; }
}

/** match_typed_subject_alt_names compiled: `matches(sans)` is true when any matcher matches any SAN of its type. */
export class SanMatchers {
  private readonly matchers: ReadonlyArray<{ readonly type: SanType; readonly m: CompiledStringMatcher }>;
  constructor(cfg: readonly SubjectAltNameMatcherConfig[]) {
    this.matchers = cfg.map((c) => ({
      type: c.sanType,
      m: new CompiledStringMatcher(c.matcher.kind !== 'regex' && c.sanType === 'IP_ADDRESS' ? { ...c.matcher, value: normalizeIp(c.matcher.value) } : c.matcher),
    }));
  }
  get empty(): boolean { return this.matchers.length === 0; }
  matches(sans: readonly SubjectAltName[]): boolean {
    if (this.matchers.length === 0) return true;
    for (const { type, m } of this.matchers) {
      for (const s of sans) if (s.type === type && m.match(s.value)) return true;
    }
    return false;
  }
}

/** The names a server certificate serves: its DNS SANs, or its subject CN when it has none; lower-cased. */
export function serverNamesOf(cert: X509Certificate): string[] {
  const dns = parseSubjectAltNames(cert.subjectAltName).filter((s) => s.type === 'DNS').map((s) => s.value.toLowerCase());
  if (dns.length > 0) return dns;
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject);
  return cn ? [cn[1]!.toLowerCase()] : [];
}

/** Whether a certificate name (`a.example.com` or `*.example.com`, one label) covers `sni`. */
export function nameCovers(name: string, sni: string): boolean {
  if (name === sni) return true;
  if (!name.startsWith('*.')) return false;
  const dot = sni.indexOf('.');
  return dot > 0 && sni.slice(dot + 1) === name.slice(2);
}
