// `weft get KIND [NAME] [-n NS | -A] [-o yaml|json]`: lists Istio resources from the control plane
// as a kubectl-style table, or prints them as YAML / JSON.

import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import type { ConfigResource } from '../control/model.js';
import { KIND_NAMES, resolveKind } from '../control/store/kinds.js';
import { age, callControl, controlAddress, CONTROL_OPTION, reportError, table } from './control-client.js';

const USAGE = `Usage: weft get KIND [NAME] [-n NAMESPACE | -A] [-o yaml|json] [--control HOST:PORT]

Kinds: ${KIND_NAMES}.

Options:
  -n, --namespace NS      the namespace (default: default)
  -A, --all-namespaces    every namespace
  -o, --output FORMAT     yaml or json instead of a table
      --control ADDR      the control plane's HTTP API (default $WEFT_CONTROL or 127.0.0.1:15014)
  -h, --help              this text`;

export async function runGet(args: string[]): Promise<number> {
  let values, positionals;
  try {
    ({ values, positionals } = parseArgs({ args, allowPositionals: true, options: {
      namespace: { type: 'string', short: 'n' }, 'all-namespaces': { type: 'boolean', short: 'A', default: false },
      output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h', default: false }, ...CONTROL_OPTION,
    }, strict: true }));
  } catch (e) { console.error(`weft get: ${(e as Error).message}\n\n${USAGE}`); return 2; }
  if (values.help) { console.log(USAGE); return 0; }
  const [kindArg, name, ...extra] = positionals;
  if (kindArg === undefined || extra.length > 0) { console.error(`weft get: expected KIND [NAME]\n\n${USAGE}`); return 2; }
  const kind = resolveKind(kindArg);
  if (kind === undefined) { console.error(`weft get: unknown kind '${kindArg}' (expected ${KIND_NAMES})`); return 2; }
  if (values.output !== undefined && values.output !== 'yaml' && values.output !== 'json') { console.error(`weft get: -o: expected yaml or json, got '${values.output}'`); return 2; }
  const all = values['all-namespaces'] && name === undefined;
  const ns = values.namespace ?? 'default';
  let items: ConfigResource[];
  try {
    const path = all ? `/v1/config/${kind}` : `/v1/config/${kind}/${encodeURIComponent(ns)}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
    const r = await callControl(controlAddress(values.control), 'GET', path) as ConfigResource | { items: ConfigResource[] };
    items = 'items' in r ? r.items : [r];
  } catch (e) { return reportError('get', e); }
  if (values.output === 'json') { console.log(JSON.stringify(name === undefined ? { items } : items[0], null, 2)); return 0; }
  if (values.output === 'yaml') { console.log(items.map((i) => stringify(i).trimEnd()).join('\n---\n')); return 0; }
  if (items.length === 0) { console.error(all ? `No ${kind} resources found.` : `No ${kind} resources found in ${ns} namespace.`); return 0; }
  const extraCols = summaryColumns(kind);
  console.log(table(['NAME', 'NAMESPACE', ...extraCols.map((c) => c[0]), 'AGE'],
    items.map((i) => [i.metadata.name, i.metadata.namespace, ...extraCols.map((c) => c[1](i.spec as Record<string, unknown>)), age(i.metadata.creationTimestamp)])));
  return 0;
}

type Column = [string, (spec: Record<string, unknown>) => string];
const list = (v: unknown): string => (Array.isArray(v) ? `[${v.join(',')}]` : '');

/** A few spec columns per kind, like istio's CRD printer columns. */
function summaryColumns(kind: string): Column[] {
  switch (kind) {
    case 'VirtualService': return [['GATEWAYS', (s) => list(s.gateways)], ['HOSTS', (s) => list(s.hosts)]];
    case 'DestinationRule': return [['HOST', (s) => String(s.host ?? '')]];
    case 'ServiceEntry': return [['HOSTS', (s) => list(s.hosts)], ['LOCATION', (s) => String(s.location ?? '')], ['RESOLUTION', (s) => String(s.resolution ?? '')]];
    // Istio's printer columns for the security kinds; a Secret shows its type and how many data keys (kubectl's).
    case 'AuthorizationPolicy': return [['ACTION', (s) => String(s.action ?? 'ALLOW')]];
    case 'PeerAuthentication': return [['MODE', (s) => String((s.mtls as { mode?: unknown } | undefined)?.mode ?? '')]];
    case 'Secret': return [['TYPE', (s) => String(s.type ?? '')], ['DATA', (s) => String(Object.keys((s.data as object | undefined) ?? {}).length)]];
    default: return [];
  }
}
