// The control plane's config store: validated Istio resources (src/control/model.ts ConfigResource)
// keyed by `Kind/namespace/name`, with Kubernetes-style metadata (resourceVersion, generation,
// creationTimestamp), atomic multi-document apply, change events, and optional persistence.

import { redactedSecret, type SecretSpec } from '../api/secret.js';
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { configKey, type ConfigResource, type ResourceMeta, type ResourceValidator } from '../model.js';
import { createLogger } from '../../observe/logger.js';

const log = createLogger('config-store');

export type ApplyAction = 'created' | 'configured' | 'unchanged';

export type ApplyResult =
  | { readonly ok: true; readonly results: readonly { readonly key: string; readonly action: ApplyAction }[] }
  | { readonly ok: false; readonly errors: readonly string[] };

/** One change to the store, as told to `onChange` listeners (unchanged applies are not told). */
export interface ConfigChange {
  readonly key: string;
  readonly action: 'created' | 'configured' | 'deleted';
}

export interface ConfigStoreOptions {
  readonly validator: ResourceValidator;
  /** When set, the store is saved to `<dataDir>/config-store.json` on every change and loaded by `start()`. */
  readonly dataDir?: string;
  /** The clock (tests). */
  readonly now?: () => Date;
}

export interface ApplyOptions {
  /** Validate and report what would happen; change nothing. */
  readonly dryRun?: boolean;
  /**
   * Who wrote the resources: 'api' (default) or `file:<path>` for the config dir. The last writer
   * of a key owns it; a config file's removal deletes only the keys it still owns.
   */
  readonly owner?: string;
}

/** `doc` is the input as applied: what is saved, and validated again on load (the typed form need not be valid input). */
interface Entry { readonly resource: ConfigResource; readonly owner: string; readonly doc: unknown }

interface PersistedStore {
  readonly counter: number;
  readonly entries: readonly {
    readonly owner: string;
    readonly doc: unknown;
    readonly meta: { readonly resourceVersion: string; readonly creationTimestamp: string; readonly generation: number };
  }[];
}

const FILE_NAME = 'config-store.json';

export class ConfigStore {
  readonly #validator: ResourceValidator;
  readonly #dataDir: string | undefined;
  readonly #now: () => Date;
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Set<(changes: readonly ConfigChange[]) => void>();
  #counter = 0;

  constructor(opts: ConfigStoreOptions) {
    this.#validator = opts.validator;
    this.#dataDir = opts.dataDir;
    this.#now = opts.now ?? (() => new Date());
  }

  /**
   * Loads the saved store from `dataDir` (nothing to do in memory-only mode). Saved resources are
   * validated again (the validator may have changed); one that no longer validates is logged and dropped.
   */
  start(): void {
    if (this.#dataDir === undefined) return;
    mkdirSync(this.#dataDir, { recursive: true });
    const file = join(this.#dataDir, FILE_NAME);
    if (!existsSync(file)) return;
    const saved = JSON.parse(readFileSync(file, 'utf8')) as PersistedStore;
    this.#counter = saved.counter;
    saved.entries.forEach(({ owner, doc, meta }, i) => {
      const r = this.#validator(doc, `${file}#${i + 1}`);
      if (!r.ok) {
        log.error('%s: dropping a saved resource that no longer validates: %s', file, r.errors.join('; '));
        return;
      }
      const value = withMeta(r.value, meta.resourceVersion, meta.creationTimestamp, meta.generation);
      this.#entries.set(keyOf(value), { resource: value, owner, doc });
    });
    log.info('loaded %d resources from %s', this.#entries.size, file);
  }

  /**
   * Validates every document, then applies them all, or none when any is invalid (every error is
   * returned). A document equal to the stored one (spec, labels, annotations, apiVersion) is `unchanged`.
   */
  apply(docs: readonly { readonly doc: unknown; readonly source: string }[], opts: ApplyOptions = {}): ApplyResult {
    const errors: string[] = [];
    const values: ConfigResource[] = [];
    const inputs: unknown[] = [];
    for (const { doc, source } of docs) {
      const r = this.#validator(doc, source);
      if (r.ok) { values.push(r.value); inputs.push(doc); } else errors.push(...r.errors);
    }
    // Two documents of one apply naming the same resource: the later would silently win; say so.
    const seen = new Map<string, number>();
    values.forEach((v, i) => {
      const k = keyOf(v);
      if (seen.has(k)) errors.push(`${docs[i]!.source}: ${k} is also defined by ${docs[seen.get(k)!]!.source} in the same apply`);
      else seen.set(k, i);
    });
    if (errors.length > 0) return { ok: false, errors };

    const owner = opts.owner ?? 'api';
    const results: { key: string; action: ApplyAction }[] = [];
    const next: [string, Entry][] = [];
    let counter = this.#counter;
    const now = this.#now().toISOString().replace(/\.\d{3}Z$/, 'Z');
    values.forEach((v, i) => {
      const doc = inputs[i];
      const key = keyOf(v);
      const old = this.#entries.get(key);
      if (old === undefined) {
        counter++;
        next.push([key, { resource: withMeta(v, String(counter), now, 1), owner, doc }]);
        results.push({ key, action: 'created' });
      } else if (sameContent(old.resource, v)) {
        if (old.owner !== owner) next.push([key, { resource: old.resource, owner, doc }]);
        results.push({ key, action: 'unchanged' });
      } else {
        counter++;
        const m = old.resource.metadata;
        const specChanged = JSON.stringify(old.resource.spec) !== JSON.stringify(v.spec);
        next.push([key, { resource: withMeta(v, String(counter), m.creationTimestamp, m.generation + (specChanged ? 1 : 0)), owner, doc }]);
        results.push({ key, action: 'configured' });
      }
    });
    if (opts.dryRun) return { ok: true, results };
    for (const [k, e] of next) this.#entries.set(k, e);
    this.#counter = counter;
    const changes = results.filter((r) => r.action !== 'unchanged') as ConfigChange[];
    if (next.length > 0) this.#save();
    if (changes.length > 0) this.#emit(changes);
    return { ok: true, results };
  }

  /**
   * Deletes one resource; false when there is none. With `owner`, only when that owner still owns
   * it (a config file removed does not delete what the API re-applied since).
   */
  delete(kind: string, namespace: string, name: string, owner?: string): boolean {
    const key = configKey(kind, namespace, name);
    const e = this.#entries.get(key);
    if (e === undefined || (owner !== undefined && e.owner !== owner)) return false;
    this.#entries.delete(key);
    this.#counter++;
    this.#save();
    this.#emit([{ key, action: 'deleted' }]);
    return true;
  }

  /** The resources of `kind`, optionally only in `namespace`, optionally only the one named `name`; sorted by key. */
  get(kind: string, namespace?: string, name?: string): readonly ConfigResource[] {
    return this.list().filter((r) => r.kind === kind
      && (namespace === undefined || r.metadata.namespace === namespace)
      && (name === undefined || r.metadata.name === name));
  }

  /**
   * `r` as its author wrote it: the applied document's spec (Istio's durations such as "7s", no
   * defaults added) with the store's metadata. What `weft get -o yaml|json` prints, and what
   * `weft apply` takes back unchanged.
   */
  asWritten(r: ConfigResource): ConfigResource {
    const doc = this.#entries.get(keyOf(r))?.doc as { spec?: unknown } | undefined;
    if (doc === null || typeof doc !== 'object') return r;
    const m = r.metadata;
    const metadata = {
      name: m.name, namespace: m.namespace,
      ...(Object.keys(m.labels ?? {}).length > 0 ? { labels: m.labels } : {}),
      ...(Object.keys(m.annotations ?? {}).length > 0 ? { annotations: m.annotations } : {}),
      resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp, generation: m.generation,
    } as ConfigResource['metadata'];
    // A Secret's data never leaves the control plane this way: type and keys only.
    const spec = r.kind === 'Secret' ? redactedSecret(r.spec as SecretSpec) : doc.spec ?? {};
    return Object.freeze({ apiVersion: r.apiVersion, kind: r.kind, metadata, spec });
  }

  /** Every resource, sorted by key. */
  list(): readonly ConfigResource[] {
    return [...this.#entries.keys()].sort().map((k) => this.#entries.get(k)!.resource);
  }

  /** The keys `owner` currently owns. */
  ownedBy(owner: string): string[] {
    return [...this.#entries].filter(([, e]) => e.owner === owner).map(([k]) => k);
  }

  /** The store-wide resourceVersion counter (increases on every change). */
  get revision(): number { return this.#counter; }

  /** Calls `cb` after each apply or delete that changed something; returns the unsubscribe function. */
  onChange(cb: (changes: readonly ConfigChange[]) => void): () => void {
    this.#listeners.add(cb);
    return () => { this.#listeners.delete(cb); };
  }

  #emit(changes: readonly ConfigChange[]): void {
    for (const cb of [...this.#listeners]) {
      try { cb(changes); } catch (e) { log.error('change listener failed: %s', (e as Error).stack ?? e); }
    }
  }

  /** Write-then-rename, so a crash mid-write leaves the previous file intact. */
  #save(): void {
    if (this.#dataDir === undefined) return;
    const data: PersistedStore = {
      counter: this.#counter,
      entries: [...this.#entries.values()].filter((e) => e.owner === 'api').map((e) => {
        const { resourceVersion, creationTimestamp, generation } = e.resource.metadata;
        return { owner: e.owner, doc: e.doc, meta: { resourceVersion, creationTimestamp, generation } };
      }),
    };
    const file = join(this.#dataDir, FILE_NAME);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(data));
    renameSync(tmp, file);
  }
}

function keyOf(r: ConfigResource): string {
  return configKey(r.kind, r.metadata.namespace, r.metadata.name);
}

function sameContent(a: ConfigResource, b: ConfigResource): boolean {
  return a.apiVersion === b.apiVersion
    && JSON.stringify(a.spec) === JSON.stringify(b.spec)
    && JSON.stringify(a.metadata.labels) === JSON.stringify(b.metadata.labels)
    && JSON.stringify(a.metadata.annotations) === JSON.stringify(b.metadata.annotations);
}

function withMeta(r: ConfigResource, resourceVersion: string, creationTimestamp: string, generation: number): ConfigResource {
  const metadata: ResourceMeta = Object.freeze({ ...r.metadata, resourceVersion, creationTimestamp, generation });
  return Object.freeze({ apiVersion: r.apiVersion, kind: r.kind, metadata, spec: r.spec });
}
