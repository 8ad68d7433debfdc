// `weft sidecar`: runs the proxy as a workload's sidecar. Builds the bootstrap from flags
// (src/sidecar/bootstrap.ts), writes it where `weft proxy` can read it, and runs `weft proxy` on
// it in this process: inbound listener in front of the app, outbound listener for the app's calls,
// everything else from the control plane.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { PortProtocol } from '../control/model.js';
import { sidecarBootstrap, type SidecarOptions } from '../sidecar/bootstrap.js';
import { durationMs } from './duration.js';
import { runProxy } from './proxy.js';

const USAGE = `Usage: weft sidecar --service NAME --app-port PORT [options]

Runs a sidecar proxy for one workload, configured by the control plane over xDS.

Options:
      --service NAME         the service this workload belongs to (required)
      --app-port PORT        where the local app listens (required)
      --service-port PORT    the port callers use for the service (default: the app port)
      --app-protocol P       http, http2, grpc or tcp (default http)
  -n, --namespace NS         the workload's namespace (default "default")
      --labels k=v,...       workload labels (app=<service> is added); e.g. version=v2
      --ip ADDRESS           the address other sidecars reach this one on (default 127.0.0.1)
      --inbound-port PORT    inbound listener, in front of the app (default 15006)
      --outbound-port PORT   outbound listener for the app's calls: Host-routed, and an HTTP proxy
                             (HTTP_PROXY=http://127.0.0.1:PORT) (default 15001)
      --admin-port PORT      admin server (default 15000)
      --control HOST:PORT    the control plane's xDS address (default 127.0.0.1:15010, env WEFT_XDS)
      --delta                use delta xDS instead of state of the world
      --no-register          do not register this workload in the control plane's registry
      --print-bootstrap      print the bootstrap and exit
      --drain-duration D     Istio's terminationDrainDuration: on SIGTERM the sidecar tells the control
                             plane it is leaving (its endpoint is removed and pushed to the other
                             proxies), keeps serving for D while callers move away (its inbound
                             listener tells them to reconnect: Connection: close, GOAWAY, as
                             --drain-strategy says), then drains (e.g. 5s, 500ms, 0 to skip; default 5s)
      --drain-strategy S     immediate (default, as Istio runs Envoy) or gradual
      --drain-time-s N       then, how long in-flight requests may take (default 5)
  -l, --log-level LEVEL      trace, debug, info, warning, error, critical, off (default info)
  -h, --help                 this text`;

const PROTOCOLS: Record<string, PortProtocol> = { http: 'HTTP', http2: 'HTTP2', grpc: 'GRPC', tcp: 'TCP' };

function port(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`--${name}: expected a port number 1..65535, got '${v}'`);
  return n;
}

/** `k=v,k2=v2` → a label map; label keys and values as Kubernetes allows them. */
export function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^([A-Za-z0-9][-A-Za-z0-9_./]*)=([-A-Za-z0-9_.]*)$/.exec(part);
    if (m === null) throw new Error(`--labels: expected k=v pairs separated by commas, got '${part}'`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

/** Reads the flags into SidecarOptions; throws an Error naming the flag on bad input. */
export function sidecarOptions(args: string[]): SidecarOptions & {
  printBootstrap: boolean; drainS: string; drainDurationMs: number; drainStrategy: string; logLevel: string;
} {
  const { values } = parseArgs({
    args,
    options: {
      service: { type: 'string' },
      'app-port': { type: 'string' },
      'service-port': { type: 'string' },
      'app-protocol': { type: 'string', default: 'http' },
      namespace: { type: 'string', short: 'n', default: 'default' },
      labels: { type: 'string', default: '' },
      ip: { type: 'string', default: '127.0.0.1' },
      'inbound-port': { type: 'string' },
      'outbound-port': { type: 'string' },
      'admin-port': { type: 'string' },
      control: { type: 'string', default: process.env.WEFT_XDS ?? '127.0.0.1:15010' },
      delta: { type: 'boolean', default: false },
      'no-register': { type: 'boolean', default: false },
      'print-bootstrap': { type: 'boolean', default: false },
      'drain-duration': { type: 'string', default: '5s' },
      'drain-time-s': { type: 'string', default: '5' },
      'drain-strategy': { type: 'string', default: 'immediate' },
      'log-level': { type: 'string', short: 'l', default: 'info' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) throw Object.assign(new Error(USAGE), { help: true });
  if (values.service === undefined || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(values.service)) {
    throw new Error(`--service: expected a DNS-1123 label (lower-case letters, digits, '-'), got '${values.service ?? ''}'`);
  }
  if (values['app-port'] === undefined) throw new Error('--app-port is required');
  const appPort = port('app-port', values['app-port'], 0);
  const protocol = PROTOCOLS[values['app-protocol']!.toLowerCase()];
  if (protocol === undefined) throw new Error(`--app-protocol: expected one of ${Object.keys(PROTOCOLS).join(', ')}, got '${values['app-protocol']}'`);
  const m = /^(.+):(\d+)$/.exec(values.control!);
  if (m === null) throw new Error(`--control: expected HOST:PORT, got '${values.control}'`);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(values.namespace!)) throw new Error(`--namespace: expected a DNS-1123 label, got '${values.namespace}'`);
  const drainDurationMs = durationMs(values['drain-duration']!);
  if (drainDurationMs === undefined) throw new Error(`--drain-duration: expected a duration such as 5s, 500ms or 0, got '${values['drain-duration']}'`);
  if (values['drain-strategy'] !== 'immediate' && values['drain-strategy'] !== 'gradual') {
    throw new Error(`--drain-strategy: expected immediate or gradual, got '${values['drain-strategy']}'`);
  }
  return {
    service: values.service,
    namespace: values.namespace!,
    labels: parseLabels(values.labels!),
    appPort,
    servicePort: port('service-port', values['service-port'], appPort),
    appProtocol: protocol,
    ip: values.ip!,
    inboundPort: port('inbound-port', values['inbound-port'], 15006),
    outboundPort: port('outbound-port', values['outbound-port'], 15001),
    adminPort: port('admin-port', values['admin-port'], 15000),
    controlHost: m[1]!.replace(/^\[|\]$/g, ''),
    controlPort: port('control', m[2], 15010),
    delta: values.delta!,
    register: !values['no-register'],
    printBootstrap: values['print-bootstrap']!,
    drainS: values['drain-time-s']!,
    drainDurationMs,
    drainStrategy: values['drain-strategy'],
    logLevel: values['log-level']!,
  };
}

export async function runSidecar(args: string[]): Promise<number> {
  let o: ReturnType<typeof sidecarOptions>;
  try {
    o = sidecarOptions(args);
  } catch (e) {
    if ((e as { help?: boolean }).help) { console.log((e as Error).message); return 0; }
    console.error(`weft sidecar: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const bootstrap = sidecarBootstrap(o);
  if (o.printBootstrap) { console.log(JSON.stringify(bootstrap, null, 2)); return 0; }
  const dir = mkdtempSync(join(tmpdir(), 'weft-sidecar-'));
  const file = join(dir, 'bootstrap.json');
  writeFileSync(file, JSON.stringify(bootstrap, null, 2));
  try {
    return await runProxy(['-c', file, '--concurrency', '1', '--no-watch', '--drain-time-s', o.drainS, '--drain-strategy', o.drainStrategy, '-l', o.logLevel],
      { terminationDrainMs: o.drainDurationMs });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
