// `weft ca status | rotate prepare|activate|retire`: the control plane's CA (src/control/ca/)
// through its HTTP API. A root rotation is three commands, each safe to run under load:
// prepare (new root trusted, old one still signs), activate (new root signs, leaves are re-issued),
// retire (old root leaves the bundle once every leaf is from the new one).

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { callControl, controlAddress, CONTROL_OPTION, reportError, table } from './control-client.js';
import type { CaStatus } from '../control/ca/index.js';

const USAGE = `Usage: weft ca status [--control HOST:PORT] [-o json]
       weft ca rotate prepare [--root-cert FILE --root-key FILE] [--control HOST:PORT]
       weft ca rotate activate [--control HOST:PORT]
       weft ca rotate retire [--control HOST:PORT]

status     the roots in the trust bundle, which one signs, the rotation phase, and the latest
           certificate issued to each identity with its expiry
prepare    add a new root to the trust bundle (generated, or given as files); the current root still signs
activate   the new root signs from now on (workloads re-issue their leaves; the old root stays trusted)
retire     remove the old root from the trust bundle`;

function print(s: CaStatus): void {
  console.log(`Trust domain: ${s.trustDomain}   CA: ${s.mode}${s.persistent ? '' : ' (ephemeral)'}   Phase: ${s.phase}   Leaf TTL: ${s.certTtl}`);
  console.log(`Issued: ${s.stats.issued}   Refused: ${s.stats.authFailures + s.stats.csrErrors}\n`);
  console.log(table(['ROOT', 'SUBJECT', 'EXPIRES', 'SIGNING'], s.roots.map((r) => [r.fingerprint.slice(0, 16), r.subject, r.notAfter, r.signing ? 'yes' : ''])));
  if (s.issued.length > 0) {
    console.log('');
    const sorted = [...s.issued].sort((a, b) => a.identity.localeCompare(b.identity));
    console.log(table(['IDENTITY', 'NODE', 'SERIAL', 'EXPIRES', 'ROOT'], sorted.map((r) => [r.identity, r.nodeId ?? '', r.serial, r.notAfter, r.root.slice(0, 16)])));
  }
}

export async function runCa(args: string[]): Promise<number> {
  const [sub, step, ...rest0] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') { console.log(USAGE); return sub === undefined ? 2 : 0; }
  const rest = sub === 'status' ? [step, ...rest0].filter((a): a is string => a !== undefined) : rest0;
  let values;
  try {
    ({ values } = parseArgs({ args: rest, options: {
      ...CONTROL_OPTION, 'root-cert': { type: 'string' }, 'root-key': { type: 'string' }, output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h', default: false },
    }, strict: true }));
  } catch (e) { console.error(`weft ca: ${(e as Error).message}\n\n${USAGE}`); return 2; }
  if (values.help) { console.log(USAGE); return 0; }
  const control = controlAddress(values.control);
  try {
    if (sub === 'status') {
      const s = await callControl(control, 'GET', '/v1/ca/status') as CaStatus;
      if (values.output === 'json') console.log(JSON.stringify(s, null, 2)); else print(s);
      return 0;
    }
    if (sub !== 'rotate' || !['prepare', 'activate', 'retire'].includes(step ?? '')) { console.error(`weft ca: unknown command '${args.join(' ')}'\n\n${USAGE}`); return 2; }
    let body: Record<string, string> = {};
    if ((values['root-cert'] === undefined) !== (values['root-key'] === undefined)) { console.error('weft ca rotate prepare: give both --root-cert and --root-key, or neither'); return 2; }
    if (values['root-cert'] !== undefined) {
      if (step !== 'prepare') { console.error('weft ca rotate: --root-cert/--root-key go with prepare'); return 2; }
      try { body = { rootCert: readFileSync(values['root-cert'], 'utf8'), rootKey: readFileSync(values['root-key']!, 'utf8') }; } catch (e) { console.error(`weft ca rotate prepare: ${(e as Error).message}`); return 1; }
    }
    const s = await callControl(control, 'POST', `/v1/ca/rotate/${step}`, JSON.stringify(body), 'application/json') as CaStatus;
    print(s);
    return 0;
  } catch (e) { return reportError('ca', e); }
}
