// `weft proxy-status`: istioctl's proxy-status: one row per connected proxy with the state of each
// xDS type (SYNCED / NOT SENT / STALE / NACKED), its identity (SPIFFE id) and certificate expiry,
// then the reasons of every NACK.

import { parseArgs } from 'node:util';
import type { ProxyStatus } from '../control/model.js';
import { callControl, controlAddress, CONTROL_OPTION, reportError, table } from './control-client.js';

const USAGE = `Usage: weft proxy-status [--control HOST:PORT]

Shows every proxy connected to the control plane and whether it has the latest CDS, LDS, EDS
and RDS (SYNCED), has not been sent one (NOT SENT), has not answered yet (STALE) or rejected it
(NACKED, with the proxy's reason below the table).`;

const TYPES = ['CDS', 'LDS', 'EDS', 'RDS'] as const;

export async function runProxyStatus(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { help: { type: 'boolean', short: 'h', default: false }, ...CONTROL_OPTION }, strict: true }));
  } catch (e) { console.error(`weft proxy-status: ${(e as Error).message}\n\n${USAGE}`); return 2; }
  if (values.help) { console.log(USAGE); return 0; }
  let proxies: ProxyStatus[];
  try {
    proxies = ((await callControl(controlAddress(values.control), 'GET', '/v1/proxy-status')) as { proxies: ProxyStatus[] }).proxies;
  } catch (e) { return reportError('proxy-status', e); }
  if (proxies.length === 0) { console.log('No proxies connected.'); return 0; }
  const sorted = [...proxies].sort((a, b) => a.id.localeCompare(b.id));
  console.log(table(['NAME', ...TYPES, 'IDENTITY', 'CERT EXPIRES', 'VERSION'], sorted.map((p) => [
    p.id, ...TYPES.map((t) => p.types[t]?.state ?? 'NOT SENT'), p.identity ?? '-', p.certExpiry ?? '-',
    p.types.CDS?.ackedVersion || p.types.LDS?.ackedVersion || '',
  ])));
  const nacks = sorted.flatMap((p) => TYPES.flatMap((t) => {
    const s = p.types[t];
    if (s?.state !== 'NACKED') return [];
    const res = s.rejectedResources?.length ? ` (resources: ${s.rejectedResources.join(', ')})` : '';
    return [`${p.id} ${t} NACKED version ${s.sentVersion}${res}: ${s.error ?? 'no reason given'}`];
  }));
  if (nacks.length > 0) console.log(`\n${nacks.join('\n')}`);
  return 0;
}
