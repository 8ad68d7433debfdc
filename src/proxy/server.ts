// The proxy process: owns the stats store, the cluster manager, the listeners and the admin
// server; applies a bootstrap, swaps to a new one atomically on reload (in-flight requests and
// keep-alive connections survive, an invalid config is rejected and the old one kept), and
// drains on shutdown. It owns the SecretManager (src/proxy/secrets/) that TLS contexts take SDS
// secrets from: it follows every secret the config in effect names, and holds /ready until each
// one arrived or its initial_fetch_timeout passed (Envoy's warming).

import { ReadinessGate } from './admin/readiness.js';
import type { BootstrapConfig, FilterChainConfig, TerminalNetworkFilterConfig } from './config/types.js';
import { ClusterManager } from './cluster/manager.js';
import { StatsStore } from '../observe/stats.js';
import { CompiledHcm } from './http/hcm.js';
import type { Http1Pool } from './pool/http1-pool.js';
import { ListenerRuntime } from './listener/listener.js';
import type { CompiledNetworkFilter } from './listener/chain.js';
import { CompiledTcpProxy } from './tcp/tcp-proxy.js';
import { AdminServer } from './admin/server.js';
import { bootstrapConfigDump, serverInfoOf, type AdminContext } from './admin/handlers.js';
import { createAccessLogger, type AccessLogger } from '../observe/access-log/logger.js';
import { log, setLevel } from '../observe/logger.js';
import { OverloadManager } from './overload/manager.js';
import { DrainSequence, type DrainStrategy } from './overload/drain.js';
import { ProxySecretManager, registerSecretManager } from './secrets/manager.js';
import { secretRefsOf } from './secrets/refs.js';
import { certsDump, withSecrets } from './admin/certs.js';
import { grpcTarget } from '../envoy/core.js';

export type ServerState = 'PRE_INITIALIZING' | 'LIVE' | 'DRAINING';

export interface ProxyServerOptions {
  /** For /server_info. */
  readonly commandLine?: readonly string[];
  readonly version?: string;
  /** Log `listener <name> on <addr>:<port>` when a listener starts (default true; workers of a primary leave it to the primary). */
  readonly announceListeners?: boolean;
  /** For the `server.concurrency` gauge: worker processes serving the listeners (default 1). */
  readonly concurrency?: number;
  /** `--drain-time-s`: the drain sequence of `POST /drain_listeners?graceful` (default 600 s, as Envoy). */
  readonly drainTimeMs?: number;
  /** `--drain-strategy` (default gradual, as Envoy). */
  readonly drainStrategy?: DrainStrategy;
  /** A worker of `--concurrency N`: secrets come from the primary (`secrets.push`), not from their sources. */
  readonly secretsFromPrimary?: boolean;
}

/** Which listeners a drain applies to (Envoy's /drain_listeners flags). */
export interface DrainListenersOptions {
  /** Enter a drain sequence of the drain time first (the listeners keep accepting), then stop them. */
  readonly graceful?: boolean;
  /** Only the listeners whose traffic_direction is INBOUND. */
  readonly inboundOnly?: boolean;
}

export class ProxyServer {
  readonly stats = new StatsStore();
  readonly clusters: ClusterManager;
  private readonly listeners = new Map<string, ListenerRuntime>();
  private admin: AdminServer | null = null;
  private state: ServerState = 'PRE_INITIALIZING';
  /** /ready also waits for these holds (e.g. the xDS client's initial fetch). */
  readonly readiness = new ReadinessGate();
  private readonly startedAt = Date.now();
  /** Access loggers by sink+format, shared across config versions so files stay open once. */
  private loggers = new Map<string, AccessLogger>();
  private onQuit: (() => void) | null = null;
  private readonly configVersion;
  /** The bootstrap's overload_manager, running while the server is. */
  private overload: OverloadManager | null = null;
  /** SDS secrets of the TLS contexts (ADS ones arrive through the xDS client). */
  readonly secrets: ProxySecretManager;

  constructor(public config: BootstrapConfig, private readonly opts: ProxyServerOptions = {}) {
    this.clusters = new ClusterManager(this.stats);
    // Upstream connections follow cluster membership: removed clusters and hosts are drained.
    this.clusters.onClusterRemoved((c) => { for (const h of c.hosts) (h.pool as Http1Pool | null)?.drain(); });
    this.configVersion = this.stats.counter('server.config_reload', 'server_config_reload');
    this.stats.gauge('server.live', 'server_live');
    this.stats.gauge('server.state', 'server_state').set(2);
    this.stats.gauge('server.concurrency', 'server_concurrency').set(opts.concurrency ?? 1);
    this.secrets = new ProxySecretManager(this.stats, {
      remote: opts.secretsFromPrimary === true,
      clusterTarget: (name) => clusterTargetOf(this.config, name),
    });
    registerSecretManager(this.stats, this.secrets);
  }

  /**
   * Follows the secrets `config` names (dropping the others); while the server is not ready yet
   * (start-up, the xDS client's initial fetch), /ready also waits for each new one.
   */
  private followSecrets(config: BootstrapConfig, hold: boolean): void {
    this.secrets.setStatic(config.staticSecrets ?? []);
    const added = this.secrets.sync(secretRefsOf(config));
    if (hold) for (const r of added) this.readiness.hold(this.secrets.ready(r));
  }

  /** Starts clusters (waiting for first DNS answers), listeners and admin. */
  async start(): Promise<void> {
    this.applyOverload(this.config);
    this.followSecrets(this.config, true);
    await this.clusters.update(this.config.clusters);
    const loggers = new Map<string, AccessLogger>();
    for (const l of this.config.listeners) {
      const rt = new ListenerRuntime(l, this.stats, (fc) => this.buildChain(fc, loggers));
      rt.setConnectionLimit(this.config.runtime?.listenerConnectionLimits[l.name] ?? null);
      this.listeners.set(l.name, rt);
    }
    this.loggers = loggers;
    for (const rt of this.listeners.values()) {
      await rt.start();
      if (this.opts.announceListeners !== false) log.info('listener %s on %s:%d', rt.config.name, rt.config.address.address, rt.port);
    }
    if (this.config.admin !== null) {
      this.admin = new AdminServer(this.config.admin.address, this.adminContext());
      this.boundAdminPort = (await this.admin.start()).port;
      log.info('admin on %s:%d', this.config.admin.address.address, this.boundAdminPort);
    }
    this.state = 'LIVE';
    this.stats.gauge('server.live').set(1);
    this.stats.gauge('server.state').set(0);
  }

  private buildChain(fc: FilterChainConfig, loggers: Map<string, AccessLogger>): CompiledNetworkFilter {
    // The decoder guarantees a terminal filter last (connection_limit runs in the listener).
    const terminal = fc.filters[fc.filters.length - 1] as TerminalNetworkFilterConfig;
    const own = terminal.accessLogs.map((cfg) => {
      const key = JSON.stringify(cfg);
      let l = loggers.get(key) ?? this.loggers.get(key);
      if (l === undefined) l = createAccessLogger(cfg);
      loggers.set(key, l);
      return l;
    });
    if (terminal.kind === 'tcp_proxy') return { kind: 'tcp', tcp: new CompiledTcpProxy(terminal, this.clusters, this.stats, own) };
    return { kind: 'http', hcm: new CompiledHcm(terminal, this.clusters, this.stats, own) };
  }

  /**
   * Swaps to a new, already validated, config. Clusters first (new ones start before any route
   * points at them), then listeners: same name and address → chains swapped in place; new →
   * started; removed or moved → drained.
   */
  async applyConfig(next: BootstrapConfig): Promise<void> {
    const prevLoggers = this.loggers;
    this.applyOverload(next);
    this.followSecrets(next, !this.readiness.isOpen);
    await this.clusters.update(next.clusters);
    const loggers = new Map<string, AccessLogger>();
    const build = (fc: FilterChainConfig) => this.buildChain(fc, loggers);
    const keep = new Set<string>();
    const started: ListenerRuntime[] = [];
    for (const l of next.listeners) {
      const cur = this.listeners.get(l.name);
      if (cur !== undefined && cur.config.address.address === l.address.address && cur.config.address.port === l.address.port) {
        cur.update(l, build);
        cur.setConnectionLimit(next.runtime?.listenerConnectionLimits[l.name] ?? null);
        keep.add(l.name);
        continue;
      }
      const rt = new ListenerRuntime(l, this.stats, build);
      rt.setConnectionLimit(next.runtime?.listenerConnectionLimits[l.name] ?? null);
      started.push(rt);
    }
    for (const [name, rt] of this.listeners) {
      if (!keep.has(name)) {
        this.listeners.delete(name);
        void rt.drain().then(() => rt.close());
      }
    }
    for (const rt of started) {
      await rt.start();
      this.listeners.set(rt.config.name, rt);
      if (this.opts.announceListeners !== false) log.info('listener %s on %s:%d', rt.config.name, rt.config.address.address, rt.port);
    }
    this.loggers = loggers;
    for (const [key, l] of prevLoggers) if (!loggers.has(key)) void l.close();
    this.config = next;
    this.configVersion.inc();
  }

  /** Graceful shutdown: stop accepting, let in-flight requests finish for up to drainMs, close. */
  async shutdown(drainMs: number): Promise<void> {
    this.state = 'DRAINING';
    this.stats.gauge('server.state').set(1);
    const drained = Promise.all([...this.listeners.values()].map((l) => l.drain()));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => { timer = setTimeout(r, drainMs); });
    await Promise.race([drained, timeout]);
    clearTimeout(timer);
    await this.close();
  }

  /** Starts, restarts (a changed overload_manager) or stops the overload manager for `config`. */
  private applyOverload(config: BootstrapConfig): void {
    const next = config.overloadManager;
    if (this.overload !== null && next !== undefined && JSON.stringify(this.overload.config) === JSON.stringify(next)) return;
    this.overload?.stop();
    this.overload = null;
    if (next === undefined) return;
    this.overload = new OverloadManager(next, this.stats);
    this.overload.start();
  }

  /** Closes everything at once. */
  async close(): Promise<void> {
    for (const t of this.drainTimers) clearTimeout(t);
    this.drainTimers.clear();
    this.overload?.stop();
    this.overload = null;
    this.secrets.close();
    for (const l of this.listeners.values()) l.close();
    this.listeners.clear();
    for (const c of this.clusters.all()) for (const h of c.hosts) (h.pool as Http1Pool | null)?.close();
    this.clusters.close();
    await Promise.all([...this.loggers.values()].map((l) => l.close()));
    this.loggers.clear();
    if (this.admin) { await this.admin.close(); this.admin = null; }
  }

  /** Port bound by a listener (useful with port 0). */
  listenerPort(name: string): number {
    const l = this.listeners.get(name);
    if (l === undefined) throw new Error(`no listener named ${name}`);
    return l.port;
  }

  private boundAdminPort = 0;
  /** Port the admin server bound (0 when there is none). */
  get adminPort(): number { return this.boundAdminPort; }

  /** Called by POST /quitquitquit. */
  setQuitHandler(fn: () => void): void { this.onQuit = fn; }

  /** Every listener with the address it is bound to (the port resolved when the config says 0). */
  boundListeners(): { name: string; address: { address: string; port: number } }[] {
    return [...this.listeners.values()].map((l) => ({ name: l.config.name, address: { address: l.config.address.address, port: l.port } }));
  }

  private drainTimers = new Set<NodeJS.Timeout>();

  private drainTargets(inboundOnly: boolean | undefined): ListenerRuntime[] {
    return [...this.listeners.values()].filter((l) => !inboundOnly || l.config.trafficDirection === 'INBOUND');
  }

  /**
   * Starts a drain sequence (overload/drain.ts) of `durationMs` on the listeners: they keep
   * accepting, and their connections are told to close (Connection: close, GOAWAY), gradually or at
   * once as the drain strategy says. A sidecar leaving the mesh runs one on its inbound listeners.
   */
  startDrainSequence(durationMs: number, opts: { inboundOnly?: boolean } = {}): void {
    const strategy = this.opts.drainStrategy ?? 'gradual';
    for (const l of this.drainTargets(opts.inboundOnly)) l.startDrainSequence(new DrainSequence(durationMs, strategy));
  }

  /** POST /drain_listeners: stop the listeners (after a drain sequence of the drain time when graceful). */
  drainListeners(opts: DrainListenersOptions = {}): void {
    const targets = this.drainTargets(opts.inboundOnly);
    if (!opts.graceful) {
      for (const l of targets) void l.drain();
      return;
    }
    const ms = this.opts.drainTimeMs ?? 600_000;
    const strategy = this.opts.drainStrategy ?? 'gradual';
    for (const l of targets) l.startDrainSequence(new DrainSequence(ms, strategy));
    const timer = setTimeout(() => {
      this.drainTimers.delete(timer);
      for (const l of targets) void l.drain();
    }, ms);
    timer.unref();
    this.drainTimers.add(timer);
  }

  /** What the admin endpoints see of this process (also what a worker reports to its primary). */
  adminContext(): AdminContext {
    return {
      stats: this.stats,
      serverInfo: () => serverInfoOf({
        version: this.opts.version ?? '0.0.0', state: this.state, startedAt: this.startedAt,
        commandLineOptions: { args: this.opts.commandLine ?? [] }, node: this.config.node,
      }),
      isReady: () => this.state === 'LIVE' && this.readiness.isOpen,
      configDump: () => withSecrets(bootstrapConfigDump(this.config), this.secrets),
      certs: () => certsDump(this.config, this.secrets),
      clusters: () => this.clusters.all().map((c) => ({
        name: c.name,
        hosts: c.hosts.map((h) => ({
          key: h.key, healthy: h.healthy && !h.ejected, weight: h.weight, priority: h.priority, locality: h.locality,
          ...(h.ejected ? { healthFlags: h.healthy ? '/failed_outlier_check' : '/failed_active_hc/failed_outlier_check' } : {}),
          // Envoy's per-host stat names, in the order /clusters prints them.
          stats: {
            cx_active: h.stats.cxActive, cx_connect_fail: h.stats.cxConnectFail, cx_total: h.stats.cxTotal,
            rq_active: h.stats.rqActive, rq_error: h.stats.rqError, rq_success: h.stats.rqSuccess,
            rq_timeout: h.stats.rqTimeout, rq_total: h.stats.rqTotal,
          },
        })),
      })),
      drainListeners: (o) => this.drainListeners(o),
      quit: () => this.onQuit?.(),
      setLogLevel: (level: string) => setLevel(level),
      listeners: () => [...this.listeners.values()].map((l) => ({ name: l.config.name, address: l.config.address })),
    };
  }
}

/** The gRPC target of a static cluster's first endpoint (gRPC SDS); null when there is none. */
function clusterTargetOf(config: BootstrapConfig, name: string): string | null {
  const ep = config.clusters.find((c) => c.name === name)?.loadAssignment.endpoints[0]?.lbEndpoints[0];
  return ep === undefined ? null : grpcTarget(ep.address);
}
