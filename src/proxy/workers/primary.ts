// The primary of `weft proxy --concurrency N` (N > 1), Envoy's `--concurrency` as processes: it
// holds the validated config, forks N workers that each run a ProxyServer with every listener,
// runs the one admin server (stats summed over the workers, pulled on request), sends reloads to
// every worker, restarts a worker that dies, and drains them all on shutdown. It has the lifecycle
// surface of ProxyServer so `weft proxy` drives either.
//
// Worker deaths: a worker that dies (an attack that exhausts its heap, a SIGKILL from the OOM
// killer, a bug) is logged with its exit code or signal and what that usually means, and replaced;
// the other workers keep serving meanwhile. Replacements of a slot whose workers keep dying
// quickly are delayed with exponential back-off (REPLACE_BACKOFF_*), reset once a worker of that
// slot has lived STABLE_MS. The primary only gives up when no worker is serving and the last
// MAX_START_FAILURES replacements could not even start (a config or environment every worker
// fails on): then nothing is being served and retrying forever would only hide it.
//
// Sharing the listeners: node:cluster with SCHED_NONE. A worker's `listen()` asks the primary,
// which binds the address once (bind only, no accept) and hands the same socket to every worker;
// each worker then accepts from it directly and the kernel spreads connections. The default
// SCHED_RR would have the primary accept every connection and pass it to a worker over IPC, a
// per-connection hop through one process that caps throughput at the primary's speed. A port-0
// listener gets one port for all workers: cluster keys the shared socket by address, port and the
// listener's order among port-0 listens on that address, which is the same in every worker
// started from the same config. (A worker restarted after a reload that added port-0 listeners
// may count them differently; fixed ports have no such caveat.)
//
// SDS: the primary owns the SecretManager that follows the secret sources (ADS through the xDS
// client, files, gRPC SDS servers) and forwards every value to the workers over IPC, at start and
// on each change; /ready waits for the secrets as in a single process, /certs shows them.

import type { DrainStrategy } from '../overload/drain.js';
import { ReadinessGate } from '../admin/readiness.js';
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { createLogger, getLevel, setLevel } from '../../observe/logger.js';
import { StatsStore } from '../../observe/stats.js';
import { mergeStats, snapshotStats, type StatSample } from '../../observe/stats-snapshot.js';
import { AdminServer } from '../admin/server.js';
import { bootstrapConfigDump, serverInfoOf, type AdminCluster, type AdminContext, type AdminRequest } from '../admin/handlers.js';
import type { BootstrapConfig } from '../config/types.js';
import type { ServerState } from '../server.js';
import type { BoundListener, FromWorker, ToWorker } from './protocol.js';
import { ProxySecretManager } from '../secrets/manager.js';
import { secretRefsOf } from '../secrets/refs.js';
import { certsDump, withSecrets } from '../admin/certs.js';
import { grpcTarget } from '../../envoy/core.js';

const log = createLogger('main');

/** How long the admin waits for a worker's stats or clusters before answering without them. */
const QUERY_DEADLINE_MS = 1000;
/** Back-off before replacing a worker of a slot that keeps dying: 0 for the first death, then base × 2^(n-2), capped. */
const REPLACE_BACKOFF_BASE_MS = 50;
const REPLACE_BACKOFF_MAX_MS = 30_000;
/** A worker that lived this long resets its slot's back-off. */
const STABLE_MS = 30_000;
/** Consecutive replacements that failed to start, with no worker serving, before the primary gives up. */
const MAX_START_FAILURES = 5;
/** After the drain time, how long workers get to close before they are killed. */
const EXIT_GRACE_MS = 10_000;

export interface WorkerPrimaryOptions {
  /** Number of worker processes (> 1). */
  readonly concurrency: number;
  /** Drain time on SIGTERM a worker applies when it is signalled directly. */
  readonly drainMs: number;
  /** `--drain-strategy` for the workers' drain sequences (default gradual). */
  readonly drainStrategy?: DrainStrategy;
  /** For /server_info. */
  readonly commandLine?: readonly string[];
  readonly version?: string;
  /** Called once the primary gave up (no worker serving, replacements failing to start); the caller shuts it down and exits non-zero. */
  readonly onFatal?: (why: string) => void;
}

interface Slot {
  readonly index: number;
  worker: Worker | null;
  /** The worker said `hello`: messages sent to it from now on are received. */
  greeted: boolean;
  /** The worker answered `started`. */
  ready: boolean;
  /** Its last stats answer, used (and reported as missing) when it does not answer in time. */
  lastStats: StatSample[] | null;
  /** Counters and histograms of the slot's dead predecessors, so totals never go backwards. */
  retired: StatSample[];
  /** When the current worker started (performance.now()). */
  startedAt: number;
  /** Deaths of this slot's workers since one last lived STABLE_MS (drives the back-off). */
  quickDeaths: number;
  /** A replacement waiting for its back-off. */
  restartTimer: NodeJS.Timeout | null;
}

interface Pending {
  readonly worker: Worker;
  readonly resolve: (m: FromWorker | null) => void;
  readonly timer: NodeJS.Timeout | undefined;
}

type Request = ToWorker extends infer T ? T extends { seq: number } ? Omit<T, 'seq'> : never : never;

/**
 * The worker config: the primary's without the admin server (only the primary runs it). Each
 * worker runs its own overload manager on its own heap and connections (a worker is a process with
 * its own V8 heap and descriptor table, and dies of its own exhaustion); so that the proxy as a
 * whole stays within the limits of the bootstrap, as Envoy's one process does, each worker gets
 * its share: max_heap_size_bytes and max_active_downstream_connections divided by the number of
 * workers (rounded up). Actions and triggers are unchanged. Listener and connection_limit filter
 * limits are per worker as they are (see src/proxy/listener/connection-limit.ts).
 */
function forWorkers(config: BootstrapConfig, workers: number): BootstrapConfig {
  const om = config.overloadManager;
  if (om === undefined) return { ...config, admin: null };
  const share = (n: number): number => Math.max(1, Math.ceil(n / workers));
  return {
    ...config,
    admin: null,
    overloadManager: {
      ...om,
      resourceMonitors: om.resourceMonitors.map((r) => (r.kind === 'fixed_heap'
        ? { ...r, maxHeapSizeBytes: share(r.maxHeapSizeBytes) }
        : { ...r, maxActiveDownstreamConnections: share(r.maxActiveDownstreamConnections) })),
    },
  };
}

/** Gauges of the overload manager are per worker states: the admin shows the highest, not the sum. */
const OVERLOAD_GAUGE = /^overload\..+\.(pressure|active|scale_percent)$/;

const sameListener = (a: BoundListener, b: BoundListener): boolean =>
  a.name === b.name && a.address.address === b.address.address && a.address.port === b.address.port;

/** Envoy's per-worker listener stats (`listener.<addr>.worker_<i>.downstream_cx_total`), from one worker's listener stats. */
function perWorkerListenerStats(samples: readonly StatSample[], index: number): StatSample[] {
  const out: StatSample[] = [];
  for (const s of samples) {
    const m = /^listener\.(.+)\.(downstream_cx_total|downstream_cx_active)$/.exec(s.name);
    if (m === null || s.kind === 'histogram') continue;
    out.push({ ...s, name: `listener.${m[1]}.worker_${index}.${m[2]}`, promName: `listener_worker_${m[2]}`,
      labels: { ...s.labels, envoy_worker_id: String(index) } });
  }
  return out;
}

/** /clusters over workers: the first worker's view (hosts, health, weights), host stats summed by cluster and host. */
function mergeClusters(views: readonly AdminCluster[][]): AdminCluster[] {
  const [first, ...rest] = views;
  if (first === undefined) return [];
  const out = first.map((c) => ({ ...c, hosts: c.hosts.map((h) => ({ ...h, stats: { ...h.stats } })) }));
  const hosts = new Map(out.flatMap((c) => c.hosts.map((h) => [`${c.name}\n${h.key}`, h] as const)));
  for (const view of rest) {
    for (const c of view) {
      for (const h of c.hosts) {
        const into = hosts.get(`${c.name}\n${h.key}`);
        if (into === undefined) continue;
        for (const [k, v] of Object.entries(h.stats)) into.stats[k] = (into.stats[k] ?? 0) + v;
      }
    }
  }
  return out;
}

/** What an exit code or signal of a worker usually means (for the log). */
function causeOf(code: number | null, signal: string | null): string {
  if (signal === 'SIGKILL') return 'killed: the kernel OOM killer, an operator or a supervisor';
  if (signal === 'SIGABRT' || code === 134) return 'aborted: V8 fatal error such as running out of heap (see the worker output above)';
  if (signal === 'SIGSEGV' || signal === 'SIGBUS') return 'crashed in native code';
  if (signal !== null) return `terminated by ${signal}`;
  if (code === 1) return 'uncaught exception (see the worker output above)';
  if (code === 0) return 'exited on its own';
  return `exit code ${code}`;
}

export class WorkerPrimary {
  /** The primary's own stats: server-level gauges and counters, which win over the workers' in the admin view. */
  readonly stats = new StatsStore();
  private readonly slots: Slot[];
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private state: ServerState = 'PRE_INITIALIZING';
  /** /ready also waits for these holds (e.g. the xDS client's initial fetch). */
  readonly readiness = new ReadinessGate();
  private readonly startedAt = Date.now();
  private admin: AdminServer | null = null;
  private boundAdminPort = 0;
  /** Listeners as the workers bound them (from the first worker's report). */
  private listeners: BoundListener[] = [];
  /** The config sent to workers (the newest validated one); `config` is the newest that every worker applied. */
  private latest: BootstrapConfig;
  /** Replacements in a row that failed to start. */
  private startFailures = 0;
  private readonly workerDeaths;
  private onQuit: (() => void) | null = null;
  private fatal = false;
  /** POST /drain_listeners happened (with these flags): a worker started later drains at once too. */
  private listenersDrained: { graceful?: boolean; inboundOnly?: boolean } | null = null;
  /** What the admin shows: rebuilt from the workers on each /stats request. */
  private statsView = new StatsStore();
  private clustersView: AdminCluster[] = [];
  private readonly configReloads;
  private readonly missingWorkers;
  /** SDS secrets, fetched here and forwarded to the workers. */
  readonly secrets: ProxySecretManager;

  constructor(public config: BootstrapConfig, private readonly opts: WorkerPrimaryOptions) {
    this.latest = config;
    this.slots = Array.from({ length: opts.concurrency }, (_, index) => ({ index, worker: null, greeted: false, ready: false, lastStats: null, retired: [], startedAt: 0, quickDeaths: 0, restartTimer: null }));
    this.configReloads = this.stats.counter('server.config_reload', 'server_config_reload');
    this.stats.gauge('server.live', 'server_live');
    this.stats.gauge('server.state', 'server_state').set(2);
    this.stats.gauge('server.concurrency', 'server_concurrency').set(opts.concurrency);
    // Workers whose stats did not arrive within the deadline for the last admin stats answer
    // (their last reported values are used instead, when there are any).
    this.missingWorkers = this.stats.gauge('server.stats_missing_workers', 'server_stats_missing_workers');
    // Weft's own: worker processes that died unexpectedly (each was replaced).
    this.workerDeaths = this.stats.counter('server.worker_deaths', 'server_worker_deaths');
    this.secrets = new ProxySecretManager(this.stats, {
      clusterTarget: (name) => {
        const ep = this.latest.clusters.find((c) => c.name === name)?.loadAssignment.endpoints[0]?.lbEndpoints[0];
        return ep === undefined ? null : grpcTarget(ep.address);
      },
    });
    this.secrets.onChange((ref, value, version) => this.broadcast({ type: 'secret', ref, value, version }));
  }

  /** Follows the secrets `config` names; /ready waits for new ones while not ready yet. */
  private followSecrets(config: BootstrapConfig, hold: boolean): void {
    this.secrets.setStatic(config.staticSecrets ?? []);
    const added = this.secrets.sync(secretRefsOf(config));
    if (hold) for (const r of added) this.readiness.hold(this.secrets.ready(r));
  }

  /** Forks the workers, waits until every one has started its listeners, then starts the admin server. */
  async start(): Promise<void> {
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    const self = fileURLToPath(import.meta.url);
    cluster.setupPrimary({ exec: self.replace(/primary\.(ts|js)$/, 'worker-main.$1'), args: [], serialization: 'advanced' });
    this.followSecrets(this.config, true);
    const reports = await Promise.all(this.slots.map((s) => this.startSlot(s)));
    const failed = reports.map((r, i) => (r.error === undefined ? null : `worker ${i}: ${r.error}`)).filter((e) => e !== null);
    if (failed.length > 0) throw new Error(failed.join('; '));
    this.announce(reports[0]!.listeners);
    this.checkAgreement(reports.map((r) => r.listeners));
    if (this.config.admin !== null) {
      this.admin = new AdminServer(this.config.admin.address, this.adminContext());
      this.boundAdminPort = (await this.admin.start()).port;
      log.info('admin on %s:%d', this.config.admin.address.address, this.boundAdminPort);
    }
    this.state = 'LIVE';
    this.stats.gauge('server.live').set(1);
    this.stats.gauge('server.state').set(0);
  }

  /** Forks the slot's worker and starts it with the newest config; resolves with its report. */
  private async startSlot(slot: Slot): Promise<{ listeners: BoundListener[]; error?: string }> {
    const w = cluster.fork();
    slot.worker = w;
    slot.startedAt = performance.now();
    slot.greeted = false;
    slot.ready = false;
    // An IPC send to a worker that is going away fails here; its exit is handled below.
    w.on('error', (err) => log.debug('worker %d: %s', slot.index, err.message));
    const hello = new Promise<void>((resolve) => {
      w.on('message', (m: FromWorker) => { if (m.type === 'hello') resolve(); else this.onMessage(w, m); });
      w.once('exit', () => resolve());
    });
    w.on('exit', (code, signal) => this.onExit(slot, w, code, signal));
    await hello;
    if (slot.worker !== w || w.isDead()) return { listeners: [], error: 'exited before it started' };
    // From here on a config change reaches this worker as `apply`; before, the `start` below carries it.
    slot.greeted = true;
    if (this.state === 'DRAINING') {
      w.send({ type: 'shutdown', drainMs: 0 } satisfies ToWorker);
      return { listeners: [], error: 'shutting down' };
    }
    const r = await this.request(w, {
      type: 'start', slot: slot.index, config: forWorkers(this.latest, this.slots.length), logLevel: getLevel(), drainMs: this.opts.drainMs, drainStrategy: this.opts.drainStrategy,
      secrets: this.secrets.snapshot(),
    });
    if (r === null || r.type !== 'started') return { listeners: [], error: 'exited before it started' };
    if (r.error !== undefined) return { listeners: [], error: r.error };
    if (slot.worker === w) slot.ready = true;
    if (this.listenersDrained !== null) w.send({ type: 'drain_listeners', ...this.listenersDrained } satisfies ToWorker);
    log.info('worker %d started (pid %d)', slot.index, w.process.pid);
    return { listeners: r.listeners };
  }

  private request(w: Worker, msg: Request, timeoutMs?: number): Promise<FromWorker | null> {
    if (w.isDead() || !w.isConnected()) return Promise.resolve(null);
    const seq = ++this.seq;
    return new Promise((resolve) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => { this.pending.delete(seq); resolve(null); }, timeoutMs);
      this.pending.set(seq, { worker: w, resolve, timer });
      w.send({ ...msg, seq } as ToWorker);
    });
  }

  private onMessage(_w: Worker, m: Exclude<FromWorker, { type: 'hello' }>): void {
    const p = this.pending.get(m.seq);
    if (p === undefined) return; // answered after its deadline
    this.pending.delete(m.seq);
    clearTimeout(p.timer);
    p.resolve(m);
  }

  private broadcast(msg: ToWorker): void {
    for (const s of this.slots) if (s.worker !== null && s.greeted && s.worker.isConnected()) s.worker.send(msg);
  }

  private onExit(slot: Slot, w: Worker, code: number | null, signal: string | null): void {
    for (const [seq, p] of this.pending) {
      if (p.worker !== w) continue;
      this.pending.delete(seq);
      clearTimeout(p.timer);
      p.resolve(null);
    }
    if (slot.worker !== w) return;
    slot.worker = null;
    slot.greeted = false;
    slot.ready = false;
    if (slot.lastStats !== null) {
      // Gauges died with the worker; counters and histograms keep their last reported values.
      slot.retired.push(...slot.lastStats.filter((s) => s.kind !== 'gauge'));
      slot.lastStats = null;
    }
    if (this.state !== 'LIVE' || this.fatal) return; // starting (start() reports it) or draining
    this.workerDeaths.inc();
    const lived = performance.now() - slot.startedAt;
    slot.quickDeaths = lived >= STABLE_MS ? 1 : slot.quickDeaths + 1;
    const delay = slot.quickDeaths <= 1 ? 0 : Math.min(REPLACE_BACKOFF_MAX_MS, REPLACE_BACKOFF_BASE_MS * 2 ** (slot.quickDeaths - 2));
    const how = signal !== null ? `signal ${signal}` : `code ${code}`;
    const serving = this.slots.filter((s) => s.ready).length;
    log.error('worker %d (pid %d) exited unexpectedly (%s); starting a replacement in %d ms (%s; lived %s s; %d quick deaths of this slot; %d of %d workers serving)',
      slot.index, w.process.pid, how, delay, causeOf(code, signal), (lived / 1000).toFixed(1), slot.quickDeaths, serving, this.slots.length);
    const replace = (): void => {
      slot.restartTimer = null;
      if (this.state !== 'LIVE' || this.fatal || slot.worker !== null) return;
      void this.startSlot(slot).then((r) => {
        if (r.error === undefined) {
          this.startFailures = 0;
          this.checkAgreement([this.listeners, r.listeners]);
          return;
        }
        if (this.state !== 'LIVE' || this.fatal) return;
        this.startFailures++;
        log.error('replacement worker %d failed to start: %s', slot.index, r.error);
        if (this.startFailures >= MAX_START_FAILURES && !this.slots.some((s) => s.ready)) {
          this.fatal = true;
          const why = `no worker is serving and the last ${this.startFailures} replacement workers failed to start: giving up`;
          log.critical('%s', why);
          this.opts.onFatal?.(why);
        }
      });
    };
    if (delay === 0) replace();
    else slot.restartTimer = setTimeout(replace, delay);
  }

  private announce(bound: readonly BoundListener[], before: readonly BoundListener[] = []): void {
    for (const l of bound) {
      if (!before.some((b) => sameListener(b, l))) log.info('listener %s on %s:%d', l.name, l.address.address, l.address.port);
    }
    this.listeners = [...bound];
  }

  /** Warns when workers bound a listener to different ports (see the port-0 note above). */
  private checkAgreement(views: readonly BoundListener[][]): void {
    const [first, ...rest] = views;
    for (const v of rest) {
      for (const l of v) {
        const f = first?.find((x) => x.name === l.name);
        if (f !== undefined && !sameListener(f, l)) {
          log.warning('listener %s is on port %d in one worker and %d in another', l.name, f.address.port, l.address.port);
        }
      }
    }
  }

  /**
   * Sends an already validated config to every worker; resolves once all applied it, rejects with
   * the failures (workers started later then get the previous config, as /config_dump shows). A
   * worker that dies meanwhile is not a failure: its replacement starts from the new config.
   */
  async applyConfig(next: BootstrapConfig): Promise<void> {
    this.latest = next;
    this.followSecrets(next, !this.readiness.isOpen);
    const targets = this.slots.filter((s) => s.worker !== null && s.greeted);
    const replies = await Promise.all(targets.map((s) => this.request(s.worker!, { type: 'apply', config: forWorkers(next, this.slots.length) })));
    const failed: string[] = [];
    let bound: BoundListener[] | null = null;
    replies.forEach((r, i) => {
      if (r === null || r.type !== 'applied') return;
      if (r.error !== undefined) failed.push(`worker ${targets[i]!.index}: ${r.error}`);
      else bound ??= r.listeners;
    });
    if (bound !== null) this.announce(bound, this.listeners);
    if (failed.length > 0) {
      this.latest = this.config;
      throw new Error(failed.join('; '));
    }
    this.config = next;
    this.configReloads.inc();
  }

  /** A drain sequence on every worker's listeners (they keep accepting); see ProxyServer.startDrainSequence. */
  startDrainSequence(durationMs: number, opts: { inboundOnly?: boolean } = {}): void {
    this.broadcast({ type: 'drain_sequence', durationMs, inboundOnly: opts.inboundOnly === true });
  }

  /** Every worker drains for up to drainMs and exits; then the admin server closes. */
  async shutdown(drainMs: number): Promise<void> {
    this.state = 'DRAINING';
    this.cancelRestarts();
    this.stats.gauge('server.state').set(1);
    this.broadcast({ type: 'shutdown', drainMs });
    await this.workersExited(drainMs + EXIT_GRACE_MS);
    await this.close();
  }

  private cancelRestarts(): void {
    for (const s of this.slots) if (s.restartTimer !== null) { clearTimeout(s.restartTimer); s.restartTimer = null; }
  }

  private async workersExited(timeoutMs: number): Promise<void> {
    const alive = this.slots.map((s) => s.worker).filter((w): w is Worker => w !== null && !w.isDead());
    const exited = Promise.all(alive.map((w) => new Promise<void>((r) => { if (w.isDead()) r(); else w.once('exit', () => r()); })));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((r) => { timer = setTimeout(() => r(true), timeoutMs); });
    if (await Promise.race([exited.then(() => false), late])) {
      for (const w of alive) if (!w.isDead()) { log.warning('worker pid %d did not exit in time; killing it', w.process.pid); w.process.kill('SIGKILL'); }
      await exited;
    }
    clearTimeout(timer);
  }

  /** Kills the workers and closes the admin server at once. */
  async close(): Promise<void> {
    if (this.state !== 'DRAINING') this.state = 'DRAINING';
    this.cancelRestarts();
    for (const s of this.slots) if (s.worker !== null && !s.worker.isDead()) s.worker.process.kill('SIGKILL');
    this.secrets.close();
    await this.workersExited(EXIT_GRACE_MS);
    if (this.admin) { await this.admin.close(); this.admin = null; }
  }

  /** Port the admin server bound (0 when there is none). */
  get adminPort(): number { return this.boundAdminPort; }

  /** Called by POST /quitquitquit. */
  setQuitHandler(fn: () => void): void { this.onQuit = fn; }

  /** Pulls every worker's stats (each within the deadline) and rebuilds the summed view. */
  private async refreshStats(): Promise<void> {
    const replies = await Promise.all(this.slots.map((s) =>
      (s.worker !== null && s.ready ? this.request(s.worker, { type: 'stats' }, QUERY_DEADLINE_MS) : Promise.resolve(null))));
    const view = new StatsStore();
    const own = new Set(this.stats.all().map((s) => s.name));
    const skip = (name: string): boolean => own.has(name);
    let missing = 0;
    this.slots.forEach((slot, i) => {
      const r = replies[i];
      let samples: StatSample[] | null = null;
      if (r !== null && r !== undefined && r.type === 'stats') {
        samples = r.stats;
        slot.lastStats = samples;
      } else {
        missing++;
        samples = slot.lastStats;
        log.warning('admin: no stats from worker %d within %d ms; %s', slot.index, QUERY_DEADLINE_MS,
          samples === null ? 'its stats are missing' : 'using its last report');
      }
      for (const part of [slot.retired, samples ?? []]) {
        mergeStats(view, part, (name) => skip(name) || OVERLOAD_GAUGE.test(name));
        mergeStats(view, perWorkerListenerStats(part, slot.index), skip);
      }
      for (const st of samples ?? []) {
        if (st.kind !== 'gauge' || !OVERLOAD_GAUGE.test(st.name)) continue;
        const g = view.gauge(st.name, st.promName, st.labels);
        if (st.value > g.value) g.set(st.value);
      }
    });
    this.missingWorkers.set(missing);
    mergeStats(view, snapshotStats(this.stats));
    this.statsView = view;
  }

  private async refreshClusters(): Promise<void> {
    const replies = await Promise.all(this.slots.map((s) =>
      (s.worker !== null && s.ready ? this.request(s.worker, { type: 'clusters' }, QUERY_DEADLINE_MS) : Promise.resolve(null))));
    const views: AdminCluster[][] = [];
    replies.forEach((r, i) => {
      if (r !== null && r.type === 'clusters') views.push(r.clusters);
      else log.warning('admin: no clusters from worker %d within %d ms; its host stats are missing', i, QUERY_DEADLINE_MS);
    });
    this.clustersView = mergeClusters(views);
  }

  private adminContext(): AdminContext {
    const view = (): StatsStore => this.statsView;
    return {
      get stats() { return view(); },
      prepare: (req: AdminRequest) => {
        if (req.path === '/stats' || req.path === '/stats/prometheus') return this.refreshStats();
        if (req.path === '/clusters') return this.refreshClusters();
        return undefined;
      },
      serverInfo: () => serverInfoOf({
        version: this.opts.version ?? '0.0.0', state: this.state, startedAt: this.startedAt,
        commandLineOptions: { args: this.opts.commandLine ?? [], concurrency: this.opts.concurrency }, node: this.config.node,
      }),
      isReady: () => this.state === 'LIVE' && this.readiness.isOpen,
      // The primary's view: the config every worker applied (listener ports as configured; /listeners shows the bound ones).
      configDump: () => withSecrets(bootstrapConfigDump(this.config), this.secrets),
      certs: () => certsDump(this.config, this.secrets),
      clusters: () => this.clustersView,
      listeners: () => this.listeners.map((l) => ({ name: l.name, address: l.address })),
      drainListeners: (o) => { this.listenersDrained = o; this.broadcast({ type: 'drain_listeners', ...o }); },
      quit: () => this.onQuit?.(),
      setLogLevel: (level: string) => {
        if (!setLevel(level)) return false;
        this.broadcast({ type: 'log_level', level });
        return true;
      },
    };
  }
}
