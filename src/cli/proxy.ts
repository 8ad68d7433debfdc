// `weft proxy -c FILE`: runs an Envoy v3 bootstrap; `--validate` only checks it. SIGTERM/SIGINT
// drain and exit 0; SIGHUP or a change of the file reloads it (an invalid file is rejected, its
// errors logged, and the running config kept). `--concurrency N` > 1 runs N worker processes
// under a primary (src/proxy/workers/); 1 is the single-process path. With dynamic_resources the
// proxy follows a control plane over ADS (src/proxy/xds-client/): static parts start at once,
// dynamic ones as they arrive; a reload replaces the static parts and keeps the dynamic ones.

import { watch, type FSWatcher } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadBootstrapFile } from '../envoy/load.js';
import { ProxyServer } from '../proxy/server.js';
import { WorkerPrimary } from '../proxy/workers/primary.js';
import { log, setLevel } from '../observe/logger.js';
import { followParent } from './parent-watch.js';
import { WEFT_VERSION } from '../version.js';
import { DRAIN_STRATEGIES, type DrainStrategy } from '../proxy/overload/drain.js';
import type * as grpc from '@grpc/grpc-js';
import type { SecretManager } from '../proxy/secrets/types.js';

const USAGE = `Usage: weft proxy -c FILE [options]

Runs the proxy from an Envoy v3 bootstrap file (YAML or JSON).

Options:
  -c, --config FILE      the bootstrap file (required)
      --validate         check the file, print every error, exit 0 (valid) or 1 (invalid)
      --drain-time-s N   on SIGTERM, how long in-flight requests may take to finish (default 600);
                         also the drain sequence of POST /drain_listeners?graceful
      --drain-strategy S gradual (default): during a drain sequence, a growing share of responses
                         close their connection (HTTP/1.1 Connection: close, HTTP/2 GOAWAY);
                         immediate: every one does from the start
      --concurrency N    worker processes sharing the listeners (default: the number of CPUs);
                         1 runs everything in one process
  -l, --log-level LEVEL  trace, debug, info, warning, error, critical, off (default info)
      --no-watch         do not reload when the file changes (SIGHUP still reloads)
  -h, --help             this text`;

/** What `weft sidecar` adds to `weft proxy` (no flags of `weft proxy`). */
export interface RunProxyOptions {
  /**
   * Istio's terminationDrainDuration: on SIGTERM, first leave the mesh (end the ADS stream, so the
   * control plane removes this workload's endpoint and tells the other proxies), keep serving this
   * long while callers move away, then drain and exit. 0 (the default): drain at once.
   */
  readonly terminationDrainMs?: number;
  /** The ADS channel's credentials (the sidecar's certificate agent), asked for on every connection. */
  readonly xdsCredentials?: () => grpc.ChannelCredentials;
  /** The name the control plane's certificate must carry (with xdsCredentials). */
  readonly xdsServerName?: string;
  /**
   * Held before ADS starts (the sidecar's first certificate): /ready stays 503 meanwhile, and no
   * listener or cluster arrives before it (so the first connection is already mTLS).
   */
  readonly startXdsAfter?: Promise<void>;
  /** Called once the server is up (the sidecar hands the proxy's SecretManager to its agent). */
  readonly onServer?: (server: ProxyServer | WorkerPrimary) => void;
}

/** The proxy's SecretManager, when the server has one (src/proxy/secrets/). */
export function secretManagerOf(server: ProxyServer | WorkerPrimary): SecretManager | undefined {
  return (server as unknown as { secrets?: SecretManager }).secrets;
}

export async function runProxy(args: string[], runOpts: RunProxyOptions = {}): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string', short: 'c' },
        validate: { type: 'boolean', default: false },
        'drain-time-s': { type: 'string', default: '600' },
        'drain-strategy': { type: 'string', default: 'gradual' },
        concurrency: { type: 'string' },
        'log-level': { type: 'string', short: 'l', default: 'info' },
        'no-watch': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`weft proxy: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) { console.log(USAGE); return 0; }
  if (values.config === undefined) { console.error(`weft proxy: -c/--config is required\n\n${USAGE}`); return 2; }
  if (!setLevel(values['log-level']!)) { console.error(`weft proxy: unknown log level '${values['log-level']}'`); return 2; }
  const drainS = Number(values['drain-time-s']);
  if (!Number.isFinite(drainS) || drainS < 0) { console.error(`weft proxy: --drain-time-s: expected a number of seconds >= 0, got '${values['drain-time-s']}'`); return 2; }

  const drainStrategy = values['drain-strategy'] as DrainStrategy;
  if (!DRAIN_STRATEGIES.includes(drainStrategy)) {
    console.error(`weft proxy: --drain-strategy: expected ${DRAIN_STRATEGIES.join(' or ')}, got '${values['drain-strategy']}'`);
    return 2;
  }

  const concurrency = values.concurrency === undefined ? availableParallelism() : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1) { console.error(`weft proxy: --concurrency: expected a whole number >= 1, got '${values.concurrency}'`); return 2; }

  const file = resolve(values.config);
  const loaded = await loadBootstrapFile(file);
  if (!loaded.ok) {
    console.error(`${file}: ${loaded.errors.length} error${loaded.errors.length === 1 ? '' : 's'}:`);
    for (const e of loaded.errors) console.error(`  ${e}`);
    return 1;
  }
  if (values.validate) {
    console.log(`${file}: OK (${loaded.value.listeners.length} listeners, ${loaded.value.clusters.length} clusters)`);
    return 0;
  }

  const commandLine = process.argv.slice(1);
  let serverRef: ProxyServer | WorkerPrimary | null = null;
  // The xDS client (grpc-js, the Envoy protos) is loaded only by bootstraps that use it.
  const xds = loaded.value.dynamicResources?.ads != null
    ? new (await import('../proxy/xds-client/client.js')).XdsClient(loaded.value, {
      baseDir: dirname(file),
      credentials: runOpts.xdsCredentials,
      serverName: runOpts.xdsServerName,
      secrets: (): SecretManager | undefined => (serverRef === null ? undefined : secretManagerOf(serverRef)),
    })
    : null;
  const initial = xds === null ? loaded.value : xds.initialConfig();
  const server = concurrency === 1
    ? new ProxyServer(initial, { commandLine, version: WEFT_VERSION, drainTimeMs: drainS * 1000, drainStrategy })
    : new WorkerPrimary(initial, {
      concurrency, commandLine, drainMs: drainS * 1000, drainStrategy, version: WEFT_VERSION,
      onFatal: () => stop('giving up on workers', 1),
    });
  serverRef = server;
  // Signal handlers go in before anything listens: a SIGHUP or SIGTERM that arrives during
  // startup is acted on once the server is up, instead of killing the process.
  let started = false;
  let stopping = false;
  let watcher: FSWatcher | null = null;
  let reloading = Promise.resolve();
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => { finish = resolve; });
  const reload = (why: string) => {
    reloading = reloading.then(async () => {
      if (stopping) return;
      const next = await loadBootstrapFile(file);
      if (!next.ok) {
        log.error('%s (%s): rejected, keeping the running config; %d errors:\n  %s', file, why, next.errors.length, next.errors.join('\n  '));
        return;
      }
      if (xds !== null) await xds.setBootstrap(next.value);
      else await server.applyConfig(next.value);
      log.info('%s (%s): new config applied', file, why);
    }).catch((e: unknown) => {
      log.error('%s (%s): could not apply: %s', file, why, e instanceof Error ? e.message : String(e));
    });
  };
  let exitCode = 0;
  const leaveMs = runOpts.terminationDrainMs ?? 0;
  let skipLeave: (() => void) | null = null;
  function stop(why: string, code = 0, graceful = false): void {
    exitCode = Math.max(exitCode, code);
    if (stopping) {
      // A second signal while leaving the mesh: drain now.
      skipLeave?.();
      return;
    }
    stopping = true;
    watcher?.close();
    if (!started) { xds?.close(); return; } // startup sees `stopping` and shuts down
    if (graceful && leaveMs > 0 && xds !== null) {
      // Istio's termination sequence: the endpoint leaves EDS first; the listeners keep serving
      // meanwhile, while a drain sequence on the inbound listeners tells callers to go elsewhere
      // (Connection: close, GOAWAY; Istio runs it with the immediate strategy), then the listeners
      // stop, in-flight requests finish and the process exits.
      log.info('%s: leaving the mesh; serving for %d ms while callers move away (%s drain of the inbound listeners), then draining for up to %ds',
        why, leaveMs, drainStrategy, drainS);
      server.readiness.hold(new Promise<void>(() => {})); // /ready fails from now on
      xds.leave();
      server.startDrainSequence(leaveMs, { inboundOnly: true });
      const timer = setTimeout(() => skipLeave?.(), leaveMs);
      skipLeave = () => {
        skipLeave = null;
        clearTimeout(timer);
        xds.close();
        void server.shutdown(drainS * 1000).then(() => finish(exitCode));
      };
      return;
    }
    xds?.close();
    log.info('%s: draining for up to %ds', why, drainS);
    void server.shutdown(drainS * 1000).then(() => finish(exitCode));
  }
  const onTerm = () => stop('SIGTERM', 0, true);
  const onInt = () => stop('SIGINT');
  const onHup = () => reload('SIGHUP');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  process.on('SIGHUP', onHup);
  server.setQuitHandler(() => stop('quitquitquit'));
  // Started by the demo (IPC channel) or through npx: follow that parent (src/cli/parent-watch.ts).
  const unwatch = followParent((why) => stop(why));
  const cleanup = () => { process.off('SIGTERM', onTerm); process.off('SIGINT', onInt); process.off('SIGHUP', onHup); unwatch(); };

  try {
    await server.start();
  } catch (e) {
    log.critical('could not start: %s', (e as Error).message);
    await server.close();
    cleanup();
    return 1;
  }
  started = true;
  runOpts.onServer?.(server);
  if (xds !== null && !stopping) {
    server.readiness.hold(xds.initialized());
    const after = runOpts.startXdsAfter;
    if (after === undefined) xds.start(server);
    else {
      server.readiness.hold(after);
      after.then(() => { if (!stopping) xds.start(server); }, () => undefined);
    }
  }
  const where = `${server.adminPort ? `, admin on port ${server.adminPort}` : ''}${concurrency > 1 ? `, ${concurrency} workers` : ''}`;
  if (xds !== null && loaded.value.listeners.length === 0) {
    // A sidecar: everything comes from the control plane; "0 listeners" would read as broken.
    log.info('weft proxy started%s; waiting for its configuration (listeners, clusters) from the control plane at %s', where, xds.controlPlaneAddress);
  } else {
    log.info('weft proxy started: %d listeners, %d clusters%s', loaded.value.listeners.length, loaded.value.clusters.length, where);
  }
  if (stopping) {
    stopping = false;
    stop('signal during startup');
  } else if (!values['no-watch']) {
    // Watch the directory: editors and `mv` replace the file rather than writing in place.
    let debounce: NodeJS.Timeout | null = null;
    const name = basename(file);
    watcher = watch(dirname(file), (_ev, f) => {
      if (f !== null && f !== name) return;
      if (debounce) clearTimeout(debounce);
      debounce = setTimeout(() => { debounce = null; reload('file changed'); }, 50);
    });
  }
  const code = await finished;
  cleanup();
  return code;
}
