// `weft analyze`: istioctl analyze against the control plane's current mesh: one line per finding
// (`Warning [IST0101] (VirtualService default/reviews) ...`); exit 1 when any is an Error.

import { parseArgs } from 'node:util';
import type { AnalysisMessage } from '../control/model.js';
import { callControl, controlAddress, CONTROL_OPTION, reportError } from './control-client.js';

const USAGE = `Usage: weft analyze [--control HOST:PORT]

Analyzes the mesh's configuration and prints every finding; exits 1 when any is an Error.`;

export async function runAnalyze(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { help: { type: 'boolean', short: 'h', default: false }, ...CONTROL_OPTION }, strict: true }));
  } catch (e) { console.error(`weft analyze: ${(e as Error).message}\n\n${USAGE}`); return 2; }
  if (values.help) { console.log(USAGE); return 0; }
  let messages: AnalysisMessage[];
  try {
    messages = ((await callControl(controlAddress(values.control), 'GET', '/v1/analyze')) as { messages: AnalysisMessage[] }).messages;
  } catch (e) { return reportError('analyze', e); }
  if (messages.length === 0) { console.log('No validation issues found when analyzing the mesh.'); return 0; }
  for (const m of messages) console.log(formatMessage(m));
  return messages.some((m) => m.level === 'Error') ? 1 : 0;
}

/** istioctl analyze's line: `Warning [IST0101] (VirtualService default/reviews) spec.path: text`, the code once. */
export function formatMessage(m: AnalysisMessage): string {
  // A message that names its own code again at the end, `... (WEFT0002 SomeName)`, says it twice.
  const text = m.message.replace(new RegExp(`\\s*\\(${m.code}(\\s[^)]*)?\\)$`), '');
  return `${m.level} [${m.code}] (${m.resource})${m.path ? ` ${m.path}:` : ''} ${text}`;
}
