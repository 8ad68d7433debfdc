// `weft control`: runs the control plane (src/control/control-plane.ts): the xDS server, the config
// store (memory, `--data-dir` persistence, `--config-dir` watched YAML), the service registry
// (sidecars, `--registry-file`, the HTTP API), the HTTP API on 15014 and the CA on 15012 (its roots
// in `--data-dir`, or Istio's cacerts files; xDS is mTLS unless `--insecure-xds`). SIGTERM/SIGINT stop it.

import { parseArgs } from 'node:util';
import { ControlPlane, type ControlPlaneOptions } from '../control/control-plane.js';
import { analyze } from '../control/analyze/index.js';
import { validateDocument } from '../control/api/index.js';
import { MeshGenerator } from '../control/translate/index.js';
import { XdsServer } from '../control/xds-server/index.js';
import { log, setLevel } from '../observe/logger.js';
import { followParent, notifyParent } from './parent-watch.js';
import { durationMs } from './duration.js';
import { loadMeshConfig } from '../control/mesh-config.js';
import type { MeshConfig } from '../control/model.js';
import { MAX_CERT_TTL_MS } from '../control/ca/ca.js';

const USAGE = `Usage: weft control [options]

Runs the control plane: xDS v3 (ADS) for proxies, Istio networking resources, a service registry.

Options:
      --xds-port N          xDS gRPC port (default 15010; 0 picks one)
      --http-port N         HTTP API port (default 15014; 0 picks one)
      --host ADDR           address to listen on (default 127.0.0.1)
      --data-dir DIR        keep applied resources in DIR across restarts (default: memory only)
      --config-dir DIR      load and watch Istio YAML files in DIR
      --registry-file FILE  load and watch services and endpoints from FILE
      --mesh-config FILE    Istio's MeshConfig (YAML): trustDomain, rootNamespace, extensionProviders
      --ca-port N           CA port: Istio's CreateCertificate over TLS (default 15012; 0 picks one)
      --cert-ttl D          workload certificate lifetime (default 24h, at most 90d; shorter requests honoured)
      --ca-cert FILE        plug-in CA (Istio's cacerts): the signing (intermediate) certificate,
      --ca-key FILE           its private key,
      --ca-chain FILE         the chain from it up to the root (cert-chain.pem),
      --root-cert FILE        and the root. Without them: a root made on first start, kept in --data-dir
      --trust-loopback B    local mode: when listening on loopback only, sidecars on loopback get a
                            certificate without a token (default true; false: a token is always needed)
      --insecure-xds        serve xDS in plaintext (development only; default: mTLS, client
                            certificates from this CA, node namespace = certificate namespace)
      --reconnect-hold D    after a start, how long proxies that reconnect may keep their last config
                            while the registry learns the workloads again: each is sent nothing until
                            every resource it had exists again, or D ends (default 15s; 0: no hold)
  -l, --log-level LEVEL     trace, debug, info, warning, error, critical, off (default info)
  -h, --help                this text`;

/** What the control plane is built from; the parts other modules provide. */
export type ControlDeps = Pick<ControlPlaneOptions, 'validator' | 'analyzer' | 'generator' | 'makeXdsServer'>;

export async function runControl(args: string[]): Promise<number> {
  return runControlWith(args, {
    validator: validateDocument,
    analyzer: analyze,
    generator: new MeshGenerator(),
    makeXdsServer: (generator, lifecycle, { port, host, reconnectHoldMs, credentials }) => new XdsServer({ generator, lifecycle, port, host, reconnectHoldMs, credentials }),
  });
}

/** `weft control` with its parts given (tests and the integration above). */
export async function runControlWith(args: string[], deps: ControlDeps): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: {
      'xds-port': { type: 'string', default: '15010' }, 'http-port': { type: 'string', default: '15014' },
      host: { type: 'string', default: '127.0.0.1' }, 'data-dir': { type: 'string' }, 'config-dir': { type: 'string' },
      'registry-file': { type: 'string' }, 'mesh-config': { type: 'string' },
      'ca-port': { type: 'string', default: '15012' }, 'cert-ttl': { type: 'string', default: '24h' },
      'ca-cert': { type: 'string' }, 'ca-key': { type: 'string' }, 'ca-chain': { type: 'string' }, 'root-cert': { type: 'string' },
      'trust-loopback': { type: 'string', default: 'true' }, 'insecure-xds': { type: 'boolean', default: false },
      'reconnect-hold': { type: 'string', default: '15s' }, 'log-level': { type: 'string', short: 'l', default: 'info' },
      help: { type: 'boolean', short: 'h', default: false },
    }, strict: true }));
  } catch (e) { console.error(`weft control: ${(e as Error).message}\n\n${USAGE}`); return 2; }
  if (values.help) { console.log(USAGE); return 0; }
  if (!setLevel(values['log-level']!)) { console.error(`weft control: unknown log level '${values['log-level']}'`); return 2; }
  const portOf = (flag: 'xds-port' | 'http-port' | 'ca-port'): number | undefined => {
    const n = Number(values[flag]);
    return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : undefined;
  };
  const xdsPort = portOf('xds-port');
  const httpPort = portOf('http-port');
  if (xdsPort === undefined) { console.error(`weft control: --xds-port: expected a port in 0..65535, got '${values['xds-port']}'`); return 2; }
  if (httpPort === undefined) { console.error(`weft control: --http-port: expected a port in 0..65535, got '${values['http-port']}'`); return 2; }
  const caPort = portOf('ca-port');
  if (caPort === undefined) { console.error(`weft control: --ca-port: expected a port in 0..65535, got '${values['ca-port']}'`); return 2; }
  const certTtlMs = durationMs(values['cert-ttl']!);
  if (certTtlMs === undefined || certTtlMs < 1_000 || certTtlMs > MAX_CERT_TTL_MS) {
    console.error(`weft control: --cert-ttl: expected a duration from 1s to 90d such as 24h, got '${values['cert-ttl']}'`); return 2;
  }
  const tl = values['trust-loopback']!;
  if (tl !== 'true' && tl !== 'false') { console.error(`weft control: --trust-loopback: expected true or false, got '${tl}'`); return 2; }
  const pluginFlags = (['ca-cert', 'ca-key', 'root-cert'] as const).filter((f) => values[f] !== undefined);
  if (pluginFlags.length > 0 && pluginFlags.length < 3) {
    console.error(`weft control: a plug-in CA needs --ca-cert, --ca-key and --root-cert (--ca-chain optional); missing ${(['ca-cert', 'ca-key', 'root-cert'] as const).filter((f) => values[f] === undefined).map((f) => `--${f}`).join(', ')}`);
    return 2;
  }
  if (values['ca-chain'] !== undefined && pluginFlags.length === 0) { console.error('weft control: --ca-chain needs --ca-cert, --ca-key and --root-cert'); return 2; }
  const plugin = pluginFlags.length === 3 ? { caCert: values['ca-cert']!, caKey: values['ca-key']!, caChain: values['ca-chain'], rootCert: values['root-cert']! } : undefined;
  const loopbackOnly = ['127.0.0.1', '::1', 'localhost'].includes(values.host!) || values.host!.startsWith('127.');
  const trustLoopback = tl === 'true' && loopbackOnly;

  const reconnectHoldMs = durationMs(values['reconnect-hold']!);
  if (reconnectHoldMs === undefined) { console.error(`weft control: --reconnect-hold: expected a duration such as 15s, 500ms or 0, got '${values['reconnect-hold']}'`); return 2; }

  let meshConfig: MeshConfig | undefined;
  if (values['mesh-config'] !== undefined) {
    const r = loadMeshConfig(values['mesh-config']);
    if (!r.ok) { console.error(`weft control: --mesh-config: ${r.errors.join('\n')}`); return 2; }
    meshConfig = r.value;
  }
  const cp = new ControlPlane({
    meshConfig,
    ...deps, host: values.host, xdsPort, httpPort, reconnectHoldMs,
    ca: { port: caPort, certTtlMs, plugin, trustLoopback }, insecureXds: values['insecure-xds'],
    dataDir: values['data-dir'], configDir: values['config-dir'], registryFile: values['registry-file'],
  });
  // Signals and the parent watch go in before anything listens: a stop during startup is acted
  // on once startup is over.
  let onTerm = (): void => {}, onInt = (): void => {};
  let unwatch = (): void => {};
  const stopped = new Promise<string>((resolve) => {
    onTerm = () => resolve('SIGTERM');
    onInt = () => resolve('SIGINT');
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
    unwatch = followParent(resolve);
  });
  const cleanup = (): void => { process.off('SIGTERM', onTerm); process.off('SIGINT', onInt); unwatch(); };
  let ports: { xdsPort: number; httpPort: number; caPort: number };
  // Said before anything listens, so it precedes the "started" line readers wait for.
  if (trustLoopback) log.info('local mode: trusting sidecars on loopback without a token');
  try {
    ports = await cp.start();
  } catch (e) {
    log.critical('could not start: %s', (e as Error).message);
    await cp.close();
    cleanup();
    return 1;
  }
  notifyParent({ weft: 'ready', xdsPort: ports.xdsPort, httpPort: ports.httpPort, caPort: ports.caPort });
  const why = await stopped;
  cleanup();
  log.info('%s: stopping', why);
  await cp.close();
  return 0;
}
