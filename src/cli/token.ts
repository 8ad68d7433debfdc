// `weft token create --namespace NS --service-account SA [--ttl D]`: asks the control plane's HTTP
// API (POST /v1/tokens, answered to loopback callers only) for a workload token, and prints it. The
// sidecar passes it to the CA (`weft sidecar --token-file FILE`) to prove its identity.

import { parseArgs } from 'node:util';
import { callControl, controlAddress, reportError } from './control-client.js';

const USAGE = `Usage: weft token create --namespace NS --service-account SA [--ttl D] [--control-http HOST:PORT]

Prints a token (an ES256 JWT from the control plane's CA) proving the identity
spiffe://<trust domain>/ns/NS/sa/SA, for \`weft sidecar --token-file FILE\`.

Options:
  -n, --namespace NS          the workload's namespace
      --service-account SA    the workload's service account
      --ttl D                 how long the token is valid (default 365d; e.g. 24h, 30d)
      --control-http H:P      the control plane's HTTP API (default: WEFT_CONTROL or 127.0.0.1:15014);
                              --control is accepted too`;

export async function runToken(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h' || sub === undefined) { console.log(USAGE); return sub === undefined ? 2 : 0; }
  if (sub !== 'create') { console.error(`weft token: unknown subcommand '${sub}'\n\n${USAGE}`); return 2; }
  let values;
  try {
    ({ values } = parseArgs({ args: rest, options: {
      namespace: { type: 'string', short: 'n' }, 'service-account': { type: 'string' }, ttl: { type: 'string' },
      'control-http': { type: 'string' }, control: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false },
    }, strict: true }));
  } catch (e) { console.error(`weft token create: ${(e as Error).message}\n\n${USAGE}`); return 2; }
  if (values.help) { console.log(USAGE); return 0; }
  if (values.namespace === undefined || values['service-account'] === undefined) {
    console.error(`weft token create: --namespace and --service-account are required\n\n${USAGE}`);
    return 2;
  }
  try {
    const r = await callControl(controlAddress(values['control-http'] ?? values.control), 'POST', '/v1/tokens',
      JSON.stringify({ namespace: values.namespace, serviceAccount: values['service-account'], ...(values.ttl === undefined ? {} : { ttl: values.ttl }) }),
      'application/json') as { token: string };
    console.log(r.token);
    return 0;
  } catch (e) { return reportError('token create', e); }
}
