// DNS resolution for DNS clusters with Envoy's dns_lookup_family semantics
// (envoy.config.cluster.v3.Cluster.DnsLookupFamily): V4_ONLY, V6_ONLY, AUTO (v6 else v4), V4_PREFERRED, ALL.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ClusterConfig } from '../config/types.js';

export type DnsLookupFamily = ClusterConfig['dnsLookupFamily'];

export interface DnsResolver {
  /** Addresses for `host`, in answer order; rejects on failure (NXDOMAIN, timeout, ...). */
  resolve(host: string, family: DnsLookupFamily): Promise<string[]>;
}

/** Applies the lookup family to a mixed answer, keeping answer order and dropping duplicates. */
export function selectFamily(addresses: readonly string[], family: DnsLookupFamily): string[] {
  const v4: string[] = [], v6: string[] = [], all: string[] = [];
  const seen = new Set<string>();
  for (const a of addresses) {
    if (seen.has(a)) continue;
    seen.add(a);
    const f = isIP(a);
    if (f === 4) v4.push(a);
    else if (f === 6) v6.push(a);
    else continue;
    all.push(a);
  }
  switch (family) {
    case 'V4_ONLY': return v4;
    case 'V6_ONLY': return v6;
    case 'AUTO': return v6.length > 0 ? v6 : v4;
    case 'V4_PREFERRED': return v4.length > 0 ? v4 : v6;
    case 'ALL': return all;
  }
}

/**
 * The default resolver: the system's getaddrinfo via dns.lookup (so /etc/hosts and `localhost`
 * work), all addresses, in the order the system returns them.
 */
export class SystemDnsResolver implements DnsResolver {
  async resolve(host: string, family: DnsLookupFamily): Promise<string[]> {
    const fam = family === 'V4_ONLY' ? 4 : family === 'V6_ONLY' ? 6 : 0;
    const answers = await lookup(host, { all: true, family: fam, verbatim: true });
    const out = selectFamily(answers.map((a) => a.address), family);
    if (out.length === 0) throw Object.assign(new Error(`no ${family} address for ${host}`), { code: 'ENOTFOUND' });
    return out;
  }
}
