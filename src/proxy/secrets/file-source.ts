// SDS from a file (sds_config `path_config_source` / `path`), as Envoy's filesystem subscription
// reads it: a DiscoveryResponse in JSON or YAML, `resources: [{"@type": ...Secret, name, ...}]`
// (version_info optional). The file's directory is watched, so an atomic replace (write + rename,
// or Kubernetes' ..data symlink swap) is seen; each change is read and validated as a whole: a file
// that does not parse or holds a bad secret is logged, counted (update_failure / update_rejected)
// and ignored, and the last good values stay.

import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { StatsStore } from '../../observe/stats.js';
import { createLogger } from '../../observe/logger.js';
import { decodeSecretJson, type DecodedSecret } from './decode.js';
import type { SecretSink, SecretSource } from './manager.js';
import { sdsStats } from './stats.js';

const log = createLogger('sds');

/** Coalesces the events of one replacement. */
const DEBOUNCE_MS = 25;

/** Parses JSON, else YAML (the yaml package is loaded only when a secret file is YAML). */
async function parseText(text: string): Promise<unknown> {
  try { return JSON.parse(text); } catch { /* YAML then */ }
  const { parse } = await import('yaml');
  return parse(text);
}

export class FileSecretSource implements SecretSource {
  private readonly names = new Set<string>();
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private loading: Promise<void> = Promise.resolve();
  /** Successful loads (tests and diagnostics). */
  loads = 0;

  constructor(private readonly path: string, private readonly sink: SecretSink, private readonly store: StatsStore) {}

  subscribe(name: string): void {
    this.names.add(name);
    if (this.watcher === null && !this.closed) this.start();
    else this.schedule();
  }

  unsubscribe(name: string): void {
    this.names.delete(name);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.watcher?.close();
    this.watcher = null;
  }

  private start(): void {
    const dir = dirname(this.path);
    const file = basename(this.path);
    try {
      this.watcher = watch(dir, { persistent: false }, (_ev, f) => {
        // Kubernetes swaps a `..data` symlink; any event naming neither is someone else's file.
        if (f === null || f.toString() === file || f.toString().startsWith('..')) this.schedule();
      });
      this.watcher.on('error', (err) => log.warning('watching %s for secret changes failed: %s', dir, err.message));
    } catch (err) {
      log.warning('cannot watch %s for secret changes: %s', dir, (err as Error).message);
    }
    this.schedule(0);
  }

  private schedule(ms = DEBOUNCE_MS): void {
    if (this.closed || this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.loading = this.loading.then(() => this.load());
    }, ms);
    this.timer.unref();
  }

  private async load(): Promise<void> {
    if (this.closed) return;
    const names = [...this.names];
    for (const n of names) sdsStats(this.store, n).update_attempt.inc();
    let parsed: unknown;
    try {
      parsed = await parseText(await readFile(this.path, 'utf8'));
    } catch (err) {
      for (const n of names) sdsStats(this.store, n).update_failure.inc();
      log.error('SDS file %s could not be read (%s); keeping the previous secrets', this.path, (err as Error).message);
      return;
    }
    const resources = (parsed as { resources?: unknown } | null)?.resources;
    const version = String((parsed as { version_info?: unknown } | null)?.version_info ?? '');
    if (!Array.isArray(resources)) {
      for (const n of names) sdsStats(this.store, n).update_rejected.inc();
      log.error('SDS file %s: expected a DiscoveryResponse with a resources list; keeping the previous secrets', this.path);
      return;
    }
    const decoded: DecodedSecret[] = resources.map((r, i) => decodeSecretJson(r, dirname(this.path), `resources[${i}]`));
    const bad = decoded.filter((d) => !d.ok);
    if (bad.length > 0) {
      for (const n of names) sdsStats(this.store, n).update_rejected.inc();
      log.error('SDS file %s rejected, keeping the previous secrets: %s', this.path,
        bad.map((d) => `${d.name}: ${(d as { errors: readonly string[] }).errors.join('; ')}`).join(', '));
      return;
    }
    this.loads++;
    for (const d of decoded) {
      if (!d.ok || !this.names.has(d.name)) continue;
      sdsStats(this.store, d.name).update_success.inc();
      this.sink(d.value, version);
    }
    for (const n of names) if (!decoded.some((d) => d.name === n)) log.warning('SDS file %s has no secret named %s', this.path, n);
  }
}
