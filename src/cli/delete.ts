// `weft delete KIND NAME [-n NS]` or `weft delete -f FILE`: deletes Istio resources through the
// control plane; prints kubectl's `kind.group "name" deleted`.

import { parseArgs } from 'node:util';
import { qualifiedKind, resolveKind, KIND_NAMES } from '../control/store/kinds.js';
import { unsupportedKind } from '../control/api/index.js';
import { parseYamlDocuments } from '../control/store/yaml-docs.js';
import { readSources } from './apply.js';
import { callControl, controlAddress, CONTROL_OPTION, ControlError, reportError } from './control-client.js';

const USAGE = `Usage: weft delete KIND NAME [-n NAMESPACE] [--control HOST:PORT]
       weft delete -f FILE|DIR|- [--control HOST:PORT]

Options:
  -n, --namespace NS     the namespace (default: default)
  -f, --filename PATH    delete the resources a file defines (kind, metadata.name, metadata.namespace)
      --control ADDR     the control plane's HTTP API (default $WEFT_CONTROL or 127.0.0.1:15014)
  -h, --help             this text`;

export async function runDelete(args: string[]): Promise<number> {
  let values, positionals;
  try {
    ({ values, positionals } = parseArgs({ args, allowPositionals: true, options: {
      namespace: { type: 'string', short: 'n' }, filename: { type: 'string', short: 'f', multiple: true },
      help: { type: 'boolean', short: 'h', default: false }, ...CONTROL_OPTION,
    }, strict: true }));
  } catch (e) { console.error(`weft delete: ${(e as Error).message}\n\n${USAGE}`); return 2; }
  if (values.help) { console.log(USAGE); return 0; }
  const targets: { kind: string; namespace: string; name: string }[] = [];
  let unsupported = 0;
  if (values.filename?.length) {
    if (positionals.length > 0) { console.error(`weft delete: give either -f or KIND NAME\n\n${USAGE}`); return 2; }
    let sources;
    try { sources = readSources(values.filename); } catch (e) { console.error(`weft delete: ${(e as Error).message}`); return 1; }
    for (const { name, text } of sources) {
      const parsed = parseYamlDocuments(text, name);
      if (!parsed.ok) { for (const e of parsed.errors) console.error(e); return 1; }
      for (const { doc, source } of parsed.docs) {
        const d = doc as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
        if (typeof d.kind !== 'string' || d.kind === '' || typeof d.metadata?.name !== 'string') {
          console.error(`${source}: expected an Istio resource with kind and metadata.name`);
          return 1;
        }
        // Only the kinds Weft serves; anything else is named with the line `weft apply` prints
        // (the same rule: API group and kind), and the other documents go on.
        const kind = resolveKind(d.kind);
        const notServed = unsupportedKind(d.apiVersion, d.kind) ?? (kind === undefined ? `${d.kind} (${String(d.apiVersion ?? '')}) is not supported yet` : undefined);
        if (notServed !== undefined || kind === undefined) {
          console.error(`${source}: ${notServed}`);
          unsupported++;
          continue;
        }
        targets.push({ kind, name: d.metadata.name, namespace: typeof d.metadata.namespace === 'string' ? d.metadata.namespace : 'default' });
      }
    }
  } else {
    const [kindArg, name, ...extra] = positionals;
    if (kindArg === undefined || name === undefined || extra.length > 0) { console.error(`weft delete: expected KIND NAME or -f FILE\n\n${USAGE}`); return 2; }
    const kind = resolveKind(kindArg);
    if (kind === undefined) { console.error(`weft delete: unknown kind '${kindArg}' (expected ${KIND_NAMES})`); return 2; }
    targets.push({ kind, name, namespace: values.namespace ?? 'default' });
  }
  let code = unsupported > 0 ? 1 : 0;
  for (const t of targets) {
    try {
      await callControl(controlAddress(values.control), 'DELETE', `/v1/config/${t.kind}/${encodeURIComponent(t.namespace)}/${encodeURIComponent(t.name)}`);
      console.log(`${qualifiedKind(t.kind)} "${t.name}" deleted`);
    } catch (e) {
      if (e instanceof ControlError && e.status === 404) { console.error(`weft delete: ${qualifiedKind(t.kind)} "${t.name}" not found in namespace ${t.namespace}`); code = 1; continue; }
      return reportError('delete', e);
    }
  }
  return code;
}
