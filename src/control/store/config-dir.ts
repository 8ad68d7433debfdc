// A directory of YAML files (multi-document, `*.yaml|*.yml|*.json`) as a source of Istio resources
// for the ConfigStore: loaded at start, watched (fs.watch on the directory, debounced). Each file
// owns the resources it defines: an edited file is re-applied as a whole (invalid → its errors are
// logged and its last good resources kept), resources it no longer defines are deleted, and a
// removed file's resources are deleted. The API and files share keys: the last writer wins, and a
// file's removal deletes only the keys it still owns.

import { readdirSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { ConfigStore } from './config-store.js';
import { parseYamlDocuments } from './yaml-docs.js';
import { createLogger } from '../../observe/logger.js';

const log = createLogger('config-dir');

export interface ConfigDirOptions {
  /** Quiet time after the last file event before rescanning (default 100 ms). */
  readonly debounceMs?: number;
  /** Told after each rescan: which files were applied, rejected (with errors) or removed. */
  readonly onSync?: (report: ConfigDirReport) => void;
}

export interface ConfigDirReport {
  readonly applied: readonly string[];
  readonly rejected: readonly { readonly file: string; readonly errors: readonly string[] }[];
  readonly removed: readonly string[];
}

const CONFIG_FILE = /\.(ya?ml|json)$/i;

export class ConfigDirSource {
  readonly #store: ConfigStore;
  readonly #dir: string;
  readonly #debounceMs: number;
  readonly #onSync: ((r: ConfigDirReport) => void) | undefined;
  /** file path → the text last seen (applied or rejected), to skip events that change nothing. */
  readonly #seen = new Map<string, string>();
  #watcher: FSWatcher | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(store: ConfigStore, dir: string, opts: ConfigDirOptions = {}) {
    this.#store = store;
    this.#dir = dir;
    this.#debounceMs = opts.debounceMs ?? 100;
    this.#onSync = opts.onSync;
  }

  /** Applies every file now (errors logged, not thrown), then watches the directory. */
  start(): ConfigDirReport {
    const report = this.sync();
    this.#watcher = watch(this.#dir, () => {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = setTimeout(() => { this.#timer = null; this.sync(); }, this.#debounceMs);
    });
    this.#watcher.on('error', (e) => log.error('%s: watch failed: %s', this.#dir, e.message));
    return report;
  }

  /** Rescans the directory and applies what changed. */
  sync(): ConfigDirReport {
    const applied: string[] = [];
    const rejected: { file: string; errors: readonly string[] }[] = [];
    const removed: string[] = [];
    let names: string[] = [];
    try {
      names = readdirSync(this.#dir).filter((n) => CONFIG_FILE.test(n) && !n.startsWith('.')).sort();
    } catch (e) {
      log.error('%s: cannot read the directory: %s', this.#dir, (e as Error).message);
    }
    const present = new Set<string>();
    for (const n of names) {
      const file = join(this.#dir, n);
      let text: string;
      try {
        if (!statSync(file).isFile()) continue;
        text = readFileSync(file, 'utf8');
      } catch { continue; } // removed between readdir and read: handled as removed below
      present.add(file);
      if (this.#seen.get(file) === text) continue;
      this.#seen.set(file, text);
      const errors = this.#applyFile(file, text);
      if (errors.length === 0) applied.push(file);
      else {
        rejected.push({ file, errors });
        log.error('%s: rejected, keeping its last good resources; %d error%s:\n  %s', file, errors.length, errors.length === 1 ? '' : 's', errors.join('\n  '));
      }
    }
    for (const file of [...this.#seen.keys()]) {
      if (present.has(file)) continue;
      this.#seen.delete(file);
      for (const key of this.#store.ownedBy(owner(file))) this.#deleteKey(key, file);
      removed.push(file);
      log.info('%s: removed, its resources deleted', file);
    }
    const report = { applied, rejected, removed };
    if (applied.length + rejected.length + removed.length > 0) this.#onSync?.(report);
    return report;
  }

  /** Stops watching. */
  close(): void {
    this.#watcher?.close();
    this.#watcher = null;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #applyFile(file: string, text: string): readonly string[] {
    const parsed = parseYamlDocuments(text, file);
    if (!parsed.ok) return parsed.errors;
    const before = new Set(this.#store.ownedBy(owner(file)));
    const r = this.#store.apply(parsed.docs, { owner: owner(file) });
    if (!r.ok) return r.errors;
    for (const { key } of r.results) before.delete(key);
    for (const key of before) this.#deleteKey(key, file);
    log.info('%s: applied %d resources', file, r.results.length);
    return [];
  }

  #deleteKey(key: string, file: string): void {
    const [kind, ns, name] = key.split('/') as [string, string, string];
    this.#store.delete(kind, ns, name, owner(file));
  }
}

function owner(file: string): string {
  return `file:${file}`;
}
