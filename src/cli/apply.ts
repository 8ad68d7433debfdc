// `weft apply -f FILE|DIR|-`: sends Istio resources (multi-document YAML) to the control plane,
// which validates them all and applies all or none; prints kubectl's `kind.group/name action`.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { qualifiedKind } from '../control/store/kinds.js';
import { callControl, controlAddress, CONTROL_OPTION, reportError } from './control-client.js';

const USAGE = `Usage: weft apply -f FILE|DIR|- [-f ...] [--dry-run] [--control HOST:PORT]

Applies Istio resources (YAML, several documents per file) through the control plane. Every
document is validated first; if any is invalid, each error is printed and nothing is applied.

Options:
  -f, --filename PATH    a file, a directory (its *.yaml, *.yml, *.json) or - for stdin; repeatable
      --dry-run          validate and show what would change, change nothing
      --control ADDR     the control plane's HTTP API (default $WEFT_CONTROL or 127.0.0.1:15014)
  -h, --help             this text`;

/** The files `-f` names, read: `-` is stdin, a directory gives its YAML/JSON files in name order. */
export function readSources(paths: readonly string[]): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  for (const p of paths) {
    if (p === '-') { out.push({ name: 'stdin', text: readFileSync(0, 'utf8') }); continue; }
    if (statSync(p).isDirectory()) {
      for (const n of readdirSync(p).filter((n) => /\.(ya?ml|json)$/i.test(n)).sort()) out.push({ name: join(p, n), text: readFileSync(join(p, n), 'utf8') });
    } else out.push({ name: p, text: readFileSync(p, 'utf8') });
  }
  return out;
}

export async function runApply(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: {
      filename: { type: 'string', short: 'f', multiple: true }, 'dry-run': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }, ...CONTROL_OPTION,
    }, strict: true }));
  } catch (e) { console.error(`weft apply: ${(e as Error).message}\n\n${USAGE}`); return 2; }
  if (values.help) { console.log(USAGE); return 0; }
  if (!values.filename?.length) { console.error(`weft apply: -f is required\n\n${USAGE}`); return 2; }
  let sources;
  try { sources = readSources(values.filename); } catch (e) { console.error(`weft apply: ${(e as Error).message}`); return 1; }
  const dry = values['dry-run'];
  try {
    const r = await callControl(controlAddress(values.control), 'POST', `/v1/apply${dry ? '?dryRun=true' : ''}`, JSON.stringify({ sources }), 'application/json') as
      { results: { kind: string; name: string; namespace: string; action: string }[] };
    for (const x of r.results) console.log(`${qualifiedKind(x.kind)}/${x.name} ${x.action}${dry ? ' (dry run)' : ''}`);
    return 0;
  } catch (e) { return reportError('apply', e); }
}
