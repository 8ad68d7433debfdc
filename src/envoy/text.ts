// Bootstrap text → plain object: JSON when it parses as JSON (or is named *.json), YAML otherwise,
// with syntax errors reported as `<file>:<line>:<col>: <message>`. The only module that loads the
// `yaml` package; the proxy process runs it in a short-lived worker (see load.ts) so the package's
// memory is not kept for the proxy's lifetime.

import { LineCounter, parseAllDocuments } from 'yaml';
import type { BootstrapConfig } from '../proxy/config/types.js';
import { decodeBootstrap, type DecodeResult } from './bootstrap.js';

export type Parsed = { ok: true; value: unknown } | { ok: false; errors: string[] };

/** Line and column (1-based) of a character offset. */
function position(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const line = before.split('\n').length;
  return { line, col: offset - before.lastIndexOf('\n') };
}

/**
 * Offset of the first JSON syntax error (V8's messages do not always carry one). A small
 * recursive-descent scan of RFC 8259's grammar; only called once JSON.parse has failed.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = (): void => { while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++; };
  const fail = (): never => { throw i; };
  const literal = (word: string): void => { if (text.startsWith(word, i)) i += word.length; else fail(); };
  const string = (): void => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail();
      const c = text[i]!;
      if (c === '"') { i++; return; }
      if (c < ' ') fail();
      if (c === '\\') {
        const e = text[i + 1] ?? '';
        if (e === 'u') { if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) { i++; fail(); } i += 6; continue; }
        if (!'"\\/bfnrt'.includes(e) || e === '') { i++; fail(); }
        i += 2;
        continue;
      }
      i++;
    }
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++; ws();
      if (text[i] === '}') { i++; return; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string(); ws();
        if (text[i] !== ':') fail();
        i++; value(); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return; }
        fail();
      }
    } else if (c === '[') {
      i++; ws();
      if (text[i] === ']') { i++; return; }
      for (;;) {
        value(); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return; }
        fail();
      }
    } else if (c === '"') {
      string();
    } else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else {
      const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i));
      if (!m) fail();
      i += m![0].length;
    }
  };
  try {
    value(); ws();
    if (i < text.length) fail();
  } catch (at) {
    if (typeof at === 'number') return at;
    throw at;
  }
  return text.length;
}

function parseJson(text: string, fileName: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    // V8 sometimes echoes the whole input (`, "<text>" is not valid JSON`); keep only the reason.
    const message = (err instanceof Error ? err.message : String(err))
      .replace(/\s+in JSON at position \d+.*$/s, '')
      .replace(/, ".*" is not valid JSON$/s, '');
    const p = position(text, jsonErrorOffset(text));
    return { ok: false, errors: [`${fileName}:${p.line}:${p.col}: invalid JSON: ${message}`] };
  }
}

function parseYaml(text: string, fileName: string): Parsed {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: false, merge: true });
  if (!Array.isArray(docs)) return { ok: true, value: null }; // empty stream
  const errors: string[] = [];
  for (const doc of docs) {
    for (const e of doc.errors) {
      const p = lineCounter.linePos(e.pos[0]);
      errors.push(`${fileName}:${p.line}:${p.col}: invalid YAML: ${e.message.split('\n')[0]}`);
    }
  }
  if (docs.length > 1) {
    const p = lineCounter.linePos(docs[1]!.range[0]);
    errors.push(`${fileName}:${p.line}:${p.col}: expected a single YAML document, got ${docs.length}`);
  }
  if (errors.length > 0) return { ok: false, errors };
  try {
    return { ok: true, value: docs[0]?.toJS({ maxAliasCount: 1000 }) ?? null };
  } catch (err) {
    return { ok: false, errors: [`${fileName}:1:1: invalid YAML: ${err instanceof Error ? err.message : String(err)}`] };
  }
}

/** Parses config text: JSON if it parses as JSON or the file is *.json, else YAML. */
export function parseConfigText(text: string, fileName: string): Parsed {
  if (fileName.toLowerCase().endsWith('.json')) return parseJson(text, fileName);
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return parseYaml(text, fileName);
  }
}

/** Parses bootstrap text and decodes it (synchronously, in this thread). */
export function parseBootstrapText(text: string, fileName: string, opts: { baseDir: string }): DecodeResult<BootstrapConfig> {
  const parsed = parseConfigText(text, fileName);
  if (!parsed.ok) return parsed;
  return decodeBootstrap(parsed.value, opts);
}

