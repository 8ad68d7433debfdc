// One worker process of `weft proxy --concurrency N`: runs a ProxyServer (all listeners, no admin)
// from the config its primary sends, applies the primary's reloads, answers its stats and cluster
// queries, and drains and exits when told to. Its listeners share the primary's listening sockets
// through node:cluster (see primary.ts for why SCHED_NONE).
//
// Signals: the primary coordinates. SIGINT and SIGHUP (which a terminal sends to the whole process
// group) are ignored here; SIGTERM sent to a worker alone drains it and exits (the primary then
// starts a replacement). When the primary goes away, node:cluster exits the worker at once.
//
// SDS secrets: the primary follows the sources and sends each value (`start.secrets`, then
// `secret` messages); the worker's SecretManager only receives them.

import { snapshotStats } from '../../observe/stats-snapshot.js';
import { log, setLevel } from '../../observe/logger.js';
import { ProxyServer } from '../server.js';
import type { BoundListener, FromWorker, ToWorker } from './protocol.js';

export function runWorker(): void {
  let server: ProxyServer | null = null;
  let drainMs = 600_000;
  let stopping = false;
  // Start, apply and shutdown run one after another, in the order the primary sent them.
  let queue: Promise<void> = Promise.resolve();
  // Without a callback a failed send (the primary is gone) would be an uncaught error.
  const send = (m: FromWorker): void => { if (process.connected) process.send!(m, undefined, undefined, () => {}); };
  const bound = (): BoundListener[] => server?.boundListeners() ?? [];

  const stop = (ms: number): void => {
    if (stopping) return;
    stopping = true;
    queue = queue.then(async () => {
      if (server !== null) await server.shutdown(ms);
      process.exit(0);
    });
  };

  const control = async (m: ToWorker): Promise<void> => {
    switch (m.type) {
      case 'start': {
        setLevel(m.logLevel);
        drainMs = m.drainMs;
        const s = new ProxyServer(m.config, {
          announceListeners: false, commandLine: process.argv.slice(1), drainTimeMs: m.drainMs, drainStrategy: m.drainStrategy,
          secretsFromPrimary: true,
        });
        for (const sec of m.secrets ?? []) s.secrets.push(sec.ref, sec.value, sec.version);
        server = s;
        try {
          await s.start();
        } catch (e) {
          send({ type: 'started', seq: m.seq, listeners: [], error: (e as Error).message });
          await s.close();
          process.exit(1);
        }
        send({ type: 'started', seq: m.seq, listeners: bound() });
        return;
      }
      case 'apply': {
        if (server === null || stopping) { send({ type: 'applied', seq: m.seq, listeners: bound(), error: 'not running' }); return; }
        try {
          await server.applyConfig(m.config);
          send({ type: 'applied', seq: m.seq, listeners: bound() });
        } catch (e) {
          send({ type: 'applied', seq: m.seq, listeners: bound(), error: (e as Error).message });
        }
        return;
      }
      default:
        return;
    }
  };

  process.on('message', (m: ToWorker) => {
    switch (m.type) {
      // Queries and one-shot actions are answered at once, even while a reload is under way.
      case 'stats': send({ type: 'stats', seq: m.seq, stats: server === null ? [] : snapshotStats(server.stats) }); return;
      case 'clusters': send({ type: 'clusters', seq: m.seq, clusters: server === null ? [] : server.adminContext().clusters() }); return;
      case 'drain_listeners': server?.drainListeners({ graceful: m.graceful, inboundOnly: m.inboundOnly }); return;
      case 'drain_sequence': server?.startDrainSequence(m.durationMs, { inboundOnly: m.inboundOnly }); return;
      case 'log_level': setLevel(m.level); return;
      case 'secret':
        // At once when running (no wait behind a reload); else after `start`.
        if (server !== null) server.secrets.push(m.ref, m.value, m.version);
        else queue = queue.then(() => server?.secrets.push(m.ref, m.value, m.version));
        return;
      case 'shutdown': stop(m.drainMs); return;
      default:
        queue = queue.then(() => control(m)).catch((e: unknown) => log.error('worker: %s failed: %s', m.type, (e as Error)?.message ?? String(e)));
    }
  });
  send({ type: 'hello' });
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  process.on('SIGTERM', () => stop(drainMs));
}
