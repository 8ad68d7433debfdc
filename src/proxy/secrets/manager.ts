// The proxy's SecretManager (contract: types.ts): one entry per (source, secret name), fed by its
// source — ADS through the xDS client (ads bridge below), a watched file (file-source.ts), a gRPC
// SDS server reached through a static cluster (grpc-source.ts) — or, in a worker of
// `--concurrency N`, by its primary over IPC (`push`). TLS contexts read values with `get` and
// compare `generation` on each handshake (an integer compare), so nothing per connection is
// allocated and a rotated secret applies to the next handshake while established connections
// keep theirs. Readiness follows Envoy's warming: `ready(ref)` resolves when the secret arrived or
// its initial_fetch_timeout (0 = none) passed.

import type { StatsStore } from '../../observe/stats.js';
import { createLogger } from '../../observe/logger.js';
import type { SdsSecretRef } from '../config/types.js';
import { sameSecret } from './decode.js';
import { FileSecretSource } from './file-source.js';
import { GrpcSecretSource } from './grpc-source.js';
import { sdsStats } from './stats.js';
import type { SecretManager, SecretValue } from './types.js';

const log = createLogger('sds');

/** A source of secrets: follows names, gives validated values to the manager. */
export interface SecretSource {
  subscribe(name: string): void;
  unsubscribe(name: string): void;
  close(): void;
}

/** What a source reports to (values only after validation). */
export type SecretSink = (value: SecretValue, version: string) => void;

/** The xDS client's side of ADS secrets: told when the set of names changes. */
export interface AdsSecretTransport {
  secretNamesChanged(): void;
}

interface Entry {
  readonly ref: SdsSecretRef;
  value: SecretValue | undefined;
  version: string;
  updatedAt: number;
  watchers: Set<(v: SecretValue) => void>;
  /** Watch count (the source follows the name while > 0). */
  uses: number;
  readonly ready: Promise<void>;
  resolveReady: () => void;
  timer: NodeJS.Timeout | null;
}

/** The key of a source: `ads`, `path:<file>`, `grpc:<cluster>`. */
export function sourceKey(ref: SdsSecretRef): string {
  const s = ref.source;
  return s.kind === 'ads' ? 'ads' : s.kind === 'static' ? 'static' : s.kind === 'path' ? `path:${s.path}` : `grpc:${s.clusterName}`;
}

export function refKey(ref: SdsSecretRef): string {
  return `${sourceKey(ref)}\n${ref.name}`;
}

/** How `sds:NAME` shows a ref (admin /certs paths, logs). */
export function describeRef(ref: SdsSecretRef): string {
  const s = ref.source;
  return `sds:${ref.name}${s.kind === 'ads' ? '' : s.kind === 'static' ? ' (static)' : s.kind === 'path' ? ` (file ${s.path})` : ` (cluster ${s.clusterName})`}`;
}

export interface ProxySecretManagerOptions {
  /** A worker: values come only from `push` (its primary follows the sources). */
  readonly remote?: boolean;
  /** The gRPC target of a static cluster (`host:port` or `unix:<path>`), for gRPC SDS; null when unknown. */
  readonly clusterTarget?: (clusterName: string) => string | null;
}

export class ProxySecretManager implements SecretManager {
  /** Bumped on every change of any value: TLS contexts rebuild when it moved. */
  generation = 0;
  private readonly entries = new Map<string, Entry>();
  private readonly sources = new Map<string, SecretSource>();
  private readonly adsNames = new Map<string, number>();
  private ads: AdsSecretTransport | null = null;
  private closed = false;
  private readonly changeListeners: ((ref: SdsSecretRef, value: SecretValue, version: string) => void)[] = [];

  constructor(private readonly store: StatsStore, private readonly opts: ProxySecretManagerOptions = {}) {}

  get(ref: SdsSecretRef): SecretValue | undefined {
    return this.entries.get(refKey(ref))?.value;
  }

  watch(ref: SdsSecretRef, onChange: (value: SecretValue) => void): () => void {
    const e = this.entry(ref);
    e.watchers.add(onChange);
    e.uses++;
    if (e.uses === 1) this.follow(ref);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      e.watchers.delete(onChange);
      e.uses--;
      if (e.uses === 0) this.unfollow(ref);
    };
  }

  ready(ref: SdsSecretRef): Promise<void> {
    return this.entries.get(refKey(ref))?.ready ?? Promise.resolve();
  }

  list(): { ref: SdsSecretRef; value: SecretValue | undefined; updatedAt: number }[] {
    return [...this.entries.values()].map((e) => ({ ref: e.ref, value: e.value, updatedAt: e.updatedAt }));
  }

  /** The version the source gave the current value ('' when none). */
  versionOf(ref: SdsSecretRef): string {
    return this.entries.get(refKey(ref))?.version ?? '';
  }

  /**
   * Follows exactly `refs` from now on (what the config in effect names): new ones are watched,
   * dropped ones released. Returns the refs that were new.
   */
  private held = new Map<string, () => void>();
  sync(refs: readonly SdsSecretRef[]): SdsSecretRef[] {
    const want = new Map(refs.map((r) => [refKey(r), r] as const));
    const added: SdsSecretRef[] = [];
    for (const [k, r] of want) {
      if (this.held.has(k)) continue;
      this.held.set(k, this.watch(r, () => {}));
      added.push(r);
    }
    for (const [k, unwatch] of [...this.held]) if (!want.has(k)) { unwatch(); this.held.delete(k); }
    return added;
  }

  /** A value from a source (or, in a worker, from the primary): applies to new handshakes at once. */
  push(ref: SdsSecretRef, value: SecretValue, version = ''): void {
    if (this.closed) return;
    const e = this.entry(ref);
    e.version = version;
    const first = e.value === undefined;
    if (sameSecret(e.value, value)) { e.updatedAt = Date.now(); e.resolveReady(); return; }
    e.value = value;
    e.updatedAt = Date.now();
    this.generation++;
    if (e.timer !== null) { clearTimeout(e.timer); e.timer = null; }
    e.resolveReady();
    log.info('secret %s %s (version %s)', describeRef(ref), first ? 'arrived' : 'updated', version || '(none)');
    for (const w of e.watchers) w(value);
    for (const l of this.changeListeners) l(ref, value, version);
  }

  /** The bootstrap's static_resources.secrets (a reload may change them). */
  setStatic(secrets: readonly SecretValue[]): void {
    for (const s of secrets) this.push({ name: s.name, source: { kind: 'static', initialFetchTimeoutMs: 0 } }, s);
  }

  /** Called with every changed value (a primary forwards them to its workers). */
  onChange(fn: (ref: SdsSecretRef, value: SecretValue, version: string) => void): void {
    this.changeListeners.push(fn);
  }

  /** Every value present now, with its version (a new worker starts with them). */
  snapshot(): { ref: SdsSecretRef; value: SecretValue; version: string }[] {
    return [...this.entries.values()].filter((e) => e.value !== undefined).map((e) => ({ ref: e.ref, value: e.value!, version: e.version }));
  }

  // ───── ADS ─────

  /** The xDS client takes ADS secrets from here (names) and gives them back through `pushAds`. */
  attachAds(transport: AdsSecretTransport): void {
    this.ads = transport;
    transport.secretNamesChanged();
  }

  /** Names to subscribe over ADS. */
  adsSecretNames(): string[] {
    return [...this.adsNames.keys()];
  }

  /** A validated Secret accepted over ADS. */
  pushAds(value: SecretValue, version: string): void {
    if (!this.adsNames.has(value.name)) return;
    for (const e of this.entries.values()) if (e.ref.source.kind === 'ads' && e.ref.name === value.name) this.push(e.ref, value, version);
  }

  close(): void {
    this.closed = true;
    for (const s of this.sources.values()) s.close();
    this.sources.clear();
    for (const e of this.entries.values()) { if (e.timer !== null) clearTimeout(e.timer); e.resolveReady(); }
    this.held.clear();
  }

  // ───── internals ─────

  private entry(ref: SdsSecretRef): Entry {
    const k = refKey(ref);
    let e = this.entries.get(k);
    if (e !== undefined) return e;
    let resolveReady: () => void = () => {};
    const ready = new Promise<void>((r) => { resolveReady = r; });
    e = { ref, value: undefined, version: '', updatedAt: 0, watchers: new Set(), uses: 0, ready, resolveReady, timer: null };
    const ms = ref.source.initialFetchTimeoutMs;
    if (ms > 0) {
      const entry = e;
      entry.timer = setTimeout(() => {
        entry.timer = null;
        if (entry.value !== undefined) return;
        // A worker's primary counts it (the admin sums both).
        if (!this.opts.remote) sdsStats(this.store, ref.name).init_fetch_timeout.inc();
        log.warning('secret %s: initial fetch timed out after %d ms; TLS handshakes needing it fail until it arrives', describeRef(ref), ms);
        entry.resolveReady();
      }, ms);
      entry.timer.unref();
    }
    this.entries.set(k, e);
    return e;
  }

  private follow(ref: SdsSecretRef): void {
    // Static secrets are pushed by the owner from the bootstrap (setStatic).
    if (this.opts.remote || this.closed || ref.source.kind === 'static') return;
    if (ref.source.kind === 'ads') {
      this.adsNames.set(ref.name, (this.adsNames.get(ref.name) ?? 0) + 1);
      this.ads?.secretNamesChanged();
      return;
    }
    const key = sourceKey(ref);
    let src = this.sources.get(key);
    if (src === undefined) {
      const s = ref.source;
      const sink: SecretSink = (value, version) => {
        for (const e of this.entries.values()) if (sourceKey(e.ref) === key && e.ref.name === value.name) this.push(e.ref, value, version);
      };
      src = s.kind === 'path'
        ? new FileSecretSource(s.path, sink, this.store)
        : new GrpcSecretSource(s.kind === 'grpc' ? s.clusterName : '', () => this.opts.clusterTarget?.(s.kind === 'grpc' ? s.clusterName : '') ?? null, sink, this.store);
      this.sources.set(key, src);
    }
    src.subscribe(ref.name);
  }

  private unfollow(ref: SdsSecretRef): void {
    if (this.opts.remote || ref.source.kind === 'static') return;
    if (ref.source.kind === 'ads') {
      const n = (this.adsNames.get(ref.name) ?? 1) - 1;
      if (n <= 0) this.adsNames.delete(ref.name); else this.adsNames.set(ref.name, n);
      this.ads?.secretNamesChanged();
    } else {
      this.sources.get(sourceKey(ref))?.unsubscribe(ref.name);
    }
    const e = this.entries.get(refKey(ref));
    if (e !== undefined && e.uses === 0) {
      if (e.timer !== null) clearTimeout(e.timer);
      e.resolveReady();
      this.entries.delete(refKey(ref));
    }
  }
}

const byStore = new WeakMap<StatsStore, ProxySecretManager>();

/** Binds a process's (a ProxyServer's) secret manager to its stats store, where TLS contexts find it. */
export function registerSecretManager(store: StatsStore, m: ProxySecretManager): void {
  byStore.set(store, m);
}

/** The secret manager of the proxy owning `store` (null outside a ProxyServer: SDS handshakes then fail). */
export function secretManagerOf(store: StatsStore): ProxySecretManager | null {
  return byStore.get(store) ?? null;
}
