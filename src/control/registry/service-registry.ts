// The service registry: services and their workloads from three sources, merged into one
// RegistrySnapshot (src/control/model.ts) — sidecars registering over xDS (with a disconnect grace
// period and TCP health checks), a watched YAML file (input.ts documents its format), and the HTTP
// API's TTL registrations. Istio's model: a service is `name.namespace.svc.cluster.local`.

import { randomUUID } from 'node:crypto';
import { readFileSync, renameSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import net from 'node:net';
import { basename, dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ProxyInfo, RegistrySnapshot, ServiceDef, ServicePort, Workload } from '../model.js';
import { parseRegistryFile, parseWorkloadRegistration, type Parsed } from './input.js';
import { DEFAULT_DOMAIN_SUFFIX, lookupService, serviceHostname } from './names.js';
import { createLogger } from '../../observe/logger.js';

const log = createLogger('registry');

export interface ServiceRegistryOptions {
  /** How long a disconnected sidecar's workload stays (default 5000 ms): a reconnect within it keeps it. */
  readonly graceMs?: number;
  /** TCP health check period for sidecar workloads (default 5000 ms); 0 disables health checks. */
  readonly healthCheckIntervalMs?: number;
  /** Connect timeout of one check (default: the interval, at most 2000 ms). */
  readonly healthCheckTimeoutMs?: number;
  /** Consecutive failures that mark a workload unhealthy (default 2); one success marks it healthy. */
  readonly unhealthyThreshold?: number;
  /** The registry file (watched); see input.ts for its format. */
  readonly file?: string;
  /** TTL of API registrations that give none (default 30 s). */
  readonly defaultTtlMs?: number;
  readonly domainSuffix?: string;
  /**
   * Where sidecar and API registrations are kept across control-plane restarts (`<data-dir>/registry.json`).
   * Restored sidecar workloads wait `restoreGraceMs` for their sidecar to reconnect; API ones keep their TTL.
   */
  readonly stateFile?: string;
  /**
   * Default 60000 ms: how long a restored sidecar workload stays without its sidecar reconnecting
   * (longer than the proxies' longest reconnect back-off, 30 s).
   */
  readonly restoreGraceMs?: number;
}

interface SavedState {
  readonly sidecars: readonly Workload[];
  readonly api: readonly { readonly workload: Workload; readonly expiresAt: number }[];
}

interface SidecarState {
  workload: Workload;
  connections: number;
  graceTimer: NodeJS.Timeout | null;
  failures: number;
}

interface ApiState { workload: Workload; timer: NodeJS.Timeout; expiresAt: number }

export class ServiceRegistry {
  readonly #graceMs: number;
  readonly #hcIntervalMs: number;
  readonly #hcTimeoutMs: number;
  readonly #threshold: number;
  readonly #file: string | undefined;
  readonly #defaultTtlMs: number;
  readonly #suffix: string;
  readonly #sidecars = new Map<string, SidecarState>();
  readonly #api = new Map<string, ApiState>();
  #fileContent: { services: readonly ServiceDef[]; workloads: readonly Workload[] } = { services: [], workloads: [] };
  #fileText: string | null = null;
  #fileWatcher: FSWatcher | null = null;
  #fileTimer: NodeJS.Timeout | null = null;
  #hcTimer: NodeJS.Timeout | null = null;
  #hcRunning = false;
  #snapshot: RegistrySnapshot | null = null;
  #closed = false;
  readonly #listeners = new Set<(s: RegistrySnapshot) => void>();

  constructor(opts: ServiceRegistryOptions = {}) {
    this.#graceMs = opts.graceMs ?? 5000;
    this.#hcIntervalMs = opts.healthCheckIntervalMs ?? 5000;
    this.#hcTimeoutMs = opts.healthCheckTimeoutMs ?? Math.min(this.#hcIntervalMs || 2000, 2000);
    this.#threshold = opts.unhealthyThreshold ?? 2;
    this.#file = opts.file === undefined ? undefined : resolve(opts.file);
    this.#defaultTtlMs = opts.defaultTtlMs ?? 30_000;
    this.#suffix = opts.domainSuffix ?? DEFAULT_DOMAIN_SUFFIX;
    this.#stateFile = opts.stateFile;
    this.#restoreGraceMs = opts.restoreGraceMs ?? 60_000;
  }

  readonly #stateFile: string | undefined;
  readonly #restoreGraceMs: number;

  /**
   * Restores the registrations saved before a restart, so proxies that reconnect to a restarted
   * control plane are not told their peers' endpoints are gone while those peers reconnect too.
   */
  #restore(): void {
    if (this.#stateFile === undefined) return;
    let saved: SavedState;
    try { saved = JSON.parse(readFileSync(this.#stateFile, 'utf8')) as SavedState; } catch { return; }
    const now = Date.now();
    for (const w of saved.sidecars ?? []) {
      const workload = Object.freeze({ ...w, ports: Object.freeze(w.ports.map((p) => Object.freeze({ ...p }))) });
      const state: SidecarState = { workload, connections: 0, graceTimer: null, failures: 0 };
      this.#sidecars.set(w.id, state);
      this.#startGrace(w.id, state, this.#restoreGraceMs);
    }
    for (const a of saved.api ?? []) {
      if (a.expiresAt <= now) continue;
      this.#setApi(a.workload.id, Object.freeze({ ...a.workload }), a.expiresAt - now);
    }
    this.#snapshot = null;
    log.info('restored %d sidecar and %d API registrations from %s', saved.sidecars?.length ?? 0, this.#api.size, this.#stateFile);
  }

  #save(): void {
    if (this.#stateFile === undefined || this.#closed) return;
    const state: SavedState = {
      sidecars: [...this.#sidecars.values()].map((s) => s.workload),
      api: [...this.#api.values()].map((a) => ({ workload: a.workload, expiresAt: a.expiresAt })),
    };
    try {
      const tmp = `${this.#stateFile}.tmp`;
      writeFileSync(tmp, JSON.stringify(state));
      renameSync(tmp, this.#stateFile);
    } catch (e) {
      log.error('%s: cannot save the registry: %s', this.#stateFile, (e as Error).message);
    }
  }

  #startGrace(id: string, s: SidecarState, ms: number): void {
    s.graceTimer = setTimeout(() => {
      if (this.#sidecars.get(id) !== s || s.connections > 0) return;
      this.#sidecars.delete(id);
      log.info('sidecar %s gone for %d ms: workload removed', id, ms);
      this.#changed();
    }, ms);
    s.graceTimer.unref();
  }

  /**
   * Loads the registry file (an invalid one at start is an error: its errors are thrown) and
   * starts watching it and the health checks.
   */
  start(): void {
    this.#restore();
    if (this.#file !== undefined) {
      const r = this.#loadFile();
      if (r !== null && !r.ok) throw new Error(`registry file rejected:\n  ${r.errors.join('\n  ')}`);
      const name = basename(this.#file);
      this.#fileWatcher = watch(dirname(this.#file), (_ev, f) => {
        if (f !== null && f !== name) return;
        if (this.#fileTimer) clearTimeout(this.#fileTimer);
        this.#fileTimer = setTimeout(() => { this.#fileTimer = null; this.#reloadFile(); }, 50);
      });
    }
    if (this.#hcIntervalMs > 0) this.#hcTimer = setInterval(() => { void this.#healthCheckRound(); }, this.#hcIntervalMs);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#fileWatcher?.close();
    if (this.#fileTimer) clearTimeout(this.#fileTimer);
    if (this.#hcTimer) clearInterval(this.#hcTimer);
    for (const s of this.#sidecars.values()) if (s.graceTimer) clearTimeout(s.graceTimer);
    for (const a of this.#api.values()) clearTimeout(a.timer);
    this.#listeners.clear();
  }

  // ─────────── sidecars (called from the xDS server's ProxyLifecycle) ───────────

  /** A sidecar connected. Registers its workload when `proxy.register` and it names its service. */
  registerSidecar(proxy: ProxyInfo, _peer: string): void {
    if (!proxy.register || proxy.service === '' || proxy.ipAddress === '') return;
    const workload: Workload = Object.freeze({
      id: proxy.id, service: proxy.service, namespace: proxy.namespace, labels: proxy.labels, address: proxy.ipAddress,
      ports: Object.freeze(proxy.appPorts.map((p) => Object.freeze({ name: p.name, port: p.port, targetPort: proxy.inboundPort, protocol: p.protocol }))),
      locality: proxy.locality, weight: 1, healthy: true, source: 'sidecar',
      // A Weft sidecar terminates mesh mTLS: callers use it automatically (Istio's auto mTLS).
      serviceAccount: proxy.serviceAccount, tlsMode: 'istio',
    });
    const s = this.#sidecars.get(proxy.id);
    if (s === undefined) {
      this.#sidecars.set(proxy.id, { workload, connections: 1, graceTimer: null, failures: 0 });
      log.info('sidecar %s registered %s.%s at %s', proxy.id, proxy.service, proxy.namespace, proxy.ipAddress);
      this.#changed();
      return;
    }
    s.connections++;
    if (s.graceTimer) { clearTimeout(s.graceTimer); s.graceTimer = null; }
    const same = JSON.stringify({ ...s.workload, healthy: true }) === JSON.stringify(workload);
    if (!same) { s.workload = Object.freeze({ ...workload, healthy: s.workload.healthy }); this.#changed(); }
  }

  /**
   * A sidecar's stream ended: its workload leaves after the grace period unless it reconnects, or
   * at once when the sidecar said it is `leaving` (it ended the stream itself on SIGTERM, and keeps
   * serving while the other proxies learn its endpoint is gone).
   */
  unregisterSidecar(proxy: ProxyInfo, leaving = false): void {
    const s = this.#sidecars.get(proxy.id);
    if (s === undefined) return;
    s.connections = Math.max(0, s.connections - 1);
    if (s.connections > 0) return;
    if (leaving) {
      if (s.graceTimer) clearTimeout(s.graceTimer);
      this.#sidecars.delete(proxy.id);
      log.info('sidecar %s is leaving: workload removed', proxy.id);
      this.#changed();
      return;
    }
    if (s.graceTimer) return;
    this.#startGrace(proxy.id, s, this.#graceMs);
  }

  // ─────────── HTTP API registrations (TTL) ───────────

  /** Registers or renews (same `id`) a workload for its TTL; returns its id or every input error. */
  registerWorkload(body: unknown): Parsed<{ readonly id: string; readonly ttlMs: number }> {
    const r = parseWorkloadRegistration(body, this.#defaultTtlMs);
    if (!r.ok) return r;
    const v = r.value;
    const id = v.id ?? `${v.service}.${v.namespace}-${randomUUID().slice(0, 8)}`;
    const workload: Workload = Object.freeze({
      id, service: v.service, namespace: v.namespace, labels: v.labels, address: v.address, ports: v.ports,
      locality: v.locality, weight: v.weight, healthy: true, source: 'api',
    });
    const old = this.#api.get(id);
    this.#setApi(id, workload, v.ttlMs);
    if (old === undefined || JSON.stringify(old.workload) !== JSON.stringify(workload)) this.#changed();
    else this.#save(); // the new expiry
    return { ok: true, value: { id, ttlMs: v.ttlMs } };
  }

  #setApi(id: string, workload: Workload, ttlMs: number): void {
    const old = this.#api.get(id);
    if (old) clearTimeout(old.timer);
    const timer = setTimeout(() => {
      if (this.#api.get(id)?.timer !== timer) return;
      this.#api.delete(id);
      log.info('workload %s: TTL expired, removed', id);
      this.#changed();
    }, ttlMs);
    timer.unref();
    this.#api.set(id, { workload, timer, expiresAt: Date.now() + ttlMs });
  }

  /** Removes an API-registered workload; false when unknown. */
  deregisterWorkload(id: string): boolean {
    const a = this.#api.get(id);
    if (a === undefined) return false;
    clearTimeout(a.timer);
    this.#api.delete(id);
    this.#changed();
    return true;
  }

  // ─────────── views ───────────

  /** Services (file services first, then those implied by sidecar and API workloads) and all workloads. */
  snapshot(): RegistrySnapshot {
    if (this.#snapshot !== null) return this.#snapshot;
    const workloads = [
      ...this.#fileContent.workloads,
      ...[...this.#api.values()].map((a) => a.workload),
      ...[...this.#sidecars.values()].map((s) => s.workload),
    ];
    const services = new Map<string, ServiceDef>();
    for (const s of this.#fileContent.services) services.set(s.hostname, s);
    for (const w of workloads) {
      if (w.source === 'file') continue;
      const host = serviceHostname(w.service, w.namespace, this.#suffix);
      const old = services.get(host);
      if (old?.source === 'file') continue;
      const ports: ServicePort[] = [...(old?.ports ?? [])];
      for (const p of w.ports) if (!ports.some((x) => x.port === p.port)) ports.push(Object.freeze({ name: p.name, port: p.port, protocol: p.protocol }));
      ports.sort((a, b) => a.port - b.port);
      services.set(host, Object.freeze({
        hostname: host, name: w.service, namespace: w.namespace, ports: Object.freeze(ports),
        location: 'MESH_INTERNAL', resolution: 'STATIC', source: old?.source ?? w.source,
      }));
    }
    this.#snapshot = Object.freeze({
      services: Object.freeze([...services.values()].sort((a, b) => a.hostname.localeCompare(b.hostname))),
      workloads: Object.freeze(workloads),
    });
    return this.#snapshot;
  }

  /** The service `host` names from `namespace` (`reviews`, `reviews.default`, `reviews.default.svc.cluster.local`). */
  lookup(host: string, namespace: string): ServiceDef | undefined {
    return lookupService(this.snapshot().services, host, namespace, this.#suffix);
  }

  /** When an API workload's TTL runs out (ms since the epoch), for `GET /v1/registry`. */
  expiresAt(id: string): number | undefined { return this.#api.get(id)?.expiresAt; }

  /** Calls `cb` with the new snapshot after every change; returns the unsubscribe function. */
  onChange(cb: (s: RegistrySnapshot) => void): () => void {
    this.#listeners.add(cb);
    return () => { this.#listeners.delete(cb); };
  }

  #changed(): void {
    this.#snapshot = null;
    if (this.#closed) return;
    this.#save();
    const snap = this.snapshot();
    for (const cb of [...this.#listeners]) {
      try { cb(snap); } catch (e) { log.error('change listener failed: %s', (e as Error).stack ?? e); }
    }
  }

  // ─────────── file source ───────────

  /** Reads and applies the file; null when its text did not change. */
  #loadFile(): Parsed<unknown> | null {
    const file = this.#file!;
    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch (e) { return { ok: false, errors: [`${file}: cannot read: ${(e as Error).message}`] }; }
    if (text === this.#fileText) return null;
    this.#fileText = text;
    let doc: unknown;
    try { doc = parseYaml(text, { prettyErrors: true }); } catch (e) {
      const msg = (e as Error).message.split('\n')[0]!;
      const at = (e as { linePos?: { line: number; col: number }[] }).linePos?.[0];
      return { ok: false, errors: [`${file}${at ? `:${at.line}:${at.col}` : ''}: YAML syntax error: ${msg.replace(/ at line \d+, column \d+:?$/, '')}`] };
    }
    const r = parseRegistryFile(doc, file, this.#suffix);
    if (!r.ok) return r;
    this.#fileContent = r.value;
    this.#changed();
    return r;
  }

  #reloadFile(): void {
    if (this.#closed) return;
    const r = this.#loadFile();
    if (r === null) return;
    if (r.ok) log.info('%s: registry file applied', this.#file);
    else log.error('%s: rejected, keeping the last good registry; %d errors:\n  %s', this.#file, r.errors.length, r.errors.join('\n  '));
  }

  // ─────────── health checks ───────────

  async #healthCheckRound(): Promise<void> {
    if (this.#hcRunning || this.#closed) return;
    this.#hcRunning = true;
    try {
      const checks = [...this.#sidecars.values()].map(async (s) => {
        const w = s.workload;
        const target = w.ports[0]?.targetPort;
        if (target === undefined) return false;
        const ok = await tcpCheck(w.address, target, this.#hcTimeoutMs);
        if (this.#sidecars.get(w.id) !== s) return false;
        s.failures = ok ? 0 : s.failures + 1;
        const healthy = ok ? true : s.failures >= this.#threshold ? false : s.workload.healthy;
        if (healthy === s.workload.healthy) return false;
        s.workload = Object.freeze({ ...s.workload, healthy });
        log.info('workload %s (%s:%d) is now %s', w.id, w.address, target, healthy ? 'healthy' : 'unhealthy');
        return true;
      });
      if ((await Promise.all(checks)).some((c) => c)) this.#changed();
    } finally {
      this.#hcRunning = false;
    }
  }
}

function tcpCheck(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean) => { clearTimeout(timer); sock.destroy(); resolve(ok); };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}
