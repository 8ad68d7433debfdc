// Loads an Envoy v3 bootstrap file for the proxy process. JSON is parsed in this thread; YAML
// (and JSON with syntax errors, for precise positions) in a short-lived worker thread, so the
// `yaml` package never stays in the proxy's memory. The decoded config is then validated here.

import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BootstrapConfig } from '../proxy/config/types.js';
import { decodeBootstrap, type DecodeResult } from './bootstrap.js';
import type { Parsed } from './text.js';

/** Running from TypeScript sources (a dev loader such as tsx): workers would not get the loader. */
const FROM_SOURCES = import.meta.url.endsWith('.ts');

/** Parses config text off the main thread (in-thread when running from sources). */
export async function parseTextInWorker(text: string, fileName: string): Promise<Parsed> {
  if (FROM_SOURCES) return (await import('./text.js')).parseConfigText(text, fileName);
  const WORKER = new URL('./text-worker.js', import.meta.url);
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { workerData: { text, fileName } });
    w.once('message', (m: Parsed) => { resolve(m); void w.terminate(); });
    w.once('error', reject);
    w.once('exit', (code) => { if (code !== 0) reject(new Error(`config parser worker exited with ${code}`)); });
  });
}

/** Reads, parses and decodes a bootstrap file; relative file names in it resolve against its directory. */
export async function loadBootstrapFile(path: string): Promise<DecodeResult<BootstrapConfig>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    return { ok: false, errors: [`${path}: expected a readable bootstrap file, got ${code}`] };
  }
  let parsed: Parsed | undefined;
  try {
    parsed = { ok: true, value: JSON.parse(text) };
  } catch {
    parsed = await parseTextInWorker(text, path);
  }
  if (!parsed.ok) return parsed;
  return decodeBootstrap(parsed.value, { baseDir: dirname(resolve(path)) });
}
