// `weft sidecar`: runs the proxy as a workload's sidecar. Builds the bootstrap from flags
// (src/sidecar/bootstrap.ts), writes it where `weft proxy` can read it, and runs `weft proxy` on
// it in this process: inbound listener in front of the app, outbound listener for the app's calls,
// everything else from the control plane. Its identity: a certificate agent
// (src/sidecar/agent/) gets the workload's SPIFFE certificate from the mesh's CA before the proxy
// connects to the control plane (over mTLS with that certificate, unless --insecure-xds), renews it,
// and serves it to the proxy over SDS.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { PortProtocol } from '../control/model.js';
import { CONTROL_PLANE_SNI, sidecarBootstrap, sidecarNodeId, type SidecarOptions } from '../sidecar/bootstrap.js';
import { startSidecarAgent, trustRootProblem } from '../sidecar/agent/run.js';
import { DEFAULT_TRUST_DOMAIN } from '../security/spiffe.js';
import { durationMs } from './duration.js';
import { runProxy, secretManagerOf } from './proxy.js';

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
      --service-account SA   the workload's service account: its identity is
                             spiffe://<trust domain>/ns/<namespace>/sa/SA (default: the service name)
      --trust-domain TD      the trust domain to ask for (default cluster.local; the CA uses the mesh's own)
      --ca-address H:P       the CA (Istio's CreateCertificate over TLS) (default: the control host, port 15012)
      --ca-root FILE         the mesh's root certificate(s), PEM, to verify the control plane with;
                             without it, trust is fetched from the control plane's HTTP API, which
                             is only allowed when the control plane is on loopback
      --control-http PORT    the control plane's HTTP API port, for that (default 15014)
      --token-file FILE      a token from \`weft token create\`, proving the identity to the CA (re-read
                             at each renewal); without it the CA must trust loopback sidecars (local mode)
      --cert-ttl D           the certificate lifetime to ask for (e.g. 24h, 10m; default: the CA's)
      --insecure-xds         plaintext xDS to the control plane (development only)
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
  serviceAccount: string; trustDomain: string; caAddress: string; caRootFile: string | undefined; controlHttpPort: number;
  tokenFile: string | undefined; certTtlSeconds: number; insecureXds: boolean;
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
      'service-account': { type: 'string' },
      'trust-domain': { type: 'string', default: DEFAULT_TRUST_DOMAIN },
      'ca-address': { type: 'string' },
      'ca-root': { type: 'string' },
      'control-http': { type: 'string', default: '15014' },
      'token-file': { type: 'string' },
      'cert-ttl': { type: 'string' },
      'insecure-xds': { type: 'boolean', default: false },
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
  const serviceAccount = values['service-account'] ?? values.service;
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(serviceAccount) || serviceAccount.length > 253) {
    throw new Error(`--service-account: expected a Kubernetes service account name (lower-case letters, digits, '-', '.'), got '${serviceAccount}'`);
  }
  const trustDomain = values['trust-domain']!;
  if (!/^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$/.test(trustDomain)) {
    throw new Error(`--trust-domain: expected a trust domain such as cluster.local (lower-case letters, digits, '.', '-', '_'), got '${trustDomain}'`);
  }
  const controlHost = m[1]!.replace(/^\[|\]$/g, '');
  const caAddress = values['ca-address'] ?? `${controlHost.includes(':') ? `[${controlHost}]` : controlHost}:15012`;
  if (!/^.+:\d+$/.test(caAddress)) throw new Error(`--ca-address: expected HOST:PORT, got '${caAddress}'`);
  const controlHttpPort = port('control-http', values['control-http'], 15014);
  const problem = trustRootProblem(values['ca-root'], controlHost);
  if (problem !== null) throw new Error(problem);
  let certTtlSeconds = 0;
  if (values['cert-ttl'] !== undefined) {
    const ms = durationMs(values['cert-ttl']);
    if (ms === undefined || ms < 1000) throw new Error(`--cert-ttl: expected a duration of at least 1s such as 24h or 10m, got '${values['cert-ttl']}'`);
    certTtlSeconds = Math.round(ms / 1000);
  }
  return {
    serviceAccount,
    trustDomain,
    caAddress,
    caRootFile: values['ca-root'],
    controlHttpPort,
    tokenFile: values['token-file'],
    certTtlSeconds,
    insecureXds: values['insecure-xds']!,
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
    controlHost,
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
  if (o.printBootstrap) {
    const where = join(tmpdir(), 'weft-sidecar-XXXXXX');
    console.log(JSON.stringify(sidecarBootstrap({ ...o, sdsSocketPath: join(where, 'sds.sock') }), null, 2));
    return 0;
  }
  // The sidecar's private directory (mkdtemp makes it 0700): bootstrap, SDS socket, trust bundle. No key is ever written.
  const dir = mkdtempSync(join(tmpdir(), 'weft-sidecar-'));
  const nodeId = sidecarNodeId(o);
  const agent = await startSidecarAgent({
    identity: { trustDomain: o.trustDomain, namespace: o.namespace, serviceAccount: o.serviceAccount },
    nodeId, caAddress: o.caAddress, caRootFile: o.caRootFile, controlHost: o.controlHost, controlHttpPort: o.controlHttpPort,
    tokenFile: o.tokenFile, validitySeconds: o.certTtlSeconds, dir,
  });
  const bootstrap = sidecarBootstrap({ ...o, nodeId, sdsSocketPath: agent.sdsSocketPath });
  const file = join(dir, 'bootstrap.json');
  writeFileSync(file, JSON.stringify(bootstrap, null, 2));
  if (o.insecureXds) console.error('weft sidecar: --insecure-xds: the xDS stream to the control plane is plaintext (development only)');
  try {
    return await runProxy(['-c', file, '--concurrency', '1', '--no-watch', '--drain-time-s', o.drainS, '--drain-strategy', o.drainStrategy, '-l', o.logLevel], {
      terminationDrainMs: o.drainDurationMs,
      startXdsAfter: agent.ready.then(() => undefined),
      ...(o.insecureXds ? {} : {
        xdsCredentials: () => {
          const a = agent.agent();
          if (a === null) throw new Error('no certificate yet');
          return a.channelCredentials();
        },
        xdsServerName: CONTROL_PLANE_SNI,
      }),
      onServer: (server) => {
        const secrets = secretManagerOf(server);
        if (secrets !== undefined) agent.watchTrustBundle(secrets);
      },
    });
  } finally {
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
