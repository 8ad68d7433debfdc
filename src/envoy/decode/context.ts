// Decoding context for Envoy v3 proto3-JSON input: the current field path plus the shared error
// list, so every decoder reports every problem as `<path>: <expected>, got <value>`.

import type { ExtensionLookup } from './typed.js';

/** Where a decoded config refers to a cluster by name, for the caller's cross-check. */
export interface ClusterReference {
  readonly path: string;
  readonly name: string;
}

/** What decoders may need beyond the input itself. */
export interface DecodeEnv {
  /** Directory against which relative file names (DataSource.filename) are resolved. */
  readonly baseDir: string;
  /** typed_config decoders, keyed by type URL. */
  readonly extensions: ExtensionLookup;
  /** Cluster names referenced by route actions; checked by the caller when it knows the clusters. */
  readonly clusterRefs: ClusterReference[];
}

const MAX_SHOWN = 80;

/** A JSON string holding a type URL (an "@type" value): never cut, so the message names the type. */
const TYPE_URL_STRING = /"(?:[A-Za-z0-9.-]+\/)+[A-Za-z_][A-Za-z0-9_.]*"/g;

/**
 * Renders an input value for an error message: JSON, truncated after about 80 characters (but never
 * inside a type URL, which is always shown whole); `nothing` when absent.
 */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  if (text.length <= MAX_SHOWN) return text;
  let cut = MAX_SHOWN - 3;
  for (const m of text.matchAll(TYPE_URL_STRING)) {
    const start = m.index;
    if (start >= cut) break;
    if (start + m[0].length > cut) cut = start + m[0].length;
  }
  return cut >= text.length ? text : `${text.slice(0, cut)}...`;
}

/** A position in the input being decoded. Cheap to create; all children share one error list. */
export class Ctx {
  constructor(
    readonly path: string,
    readonly errors: string[],
    readonly env: DecodeEnv,
  ) {}

  /** A root context with a fresh error list. */
  static root(env: DecodeEnv, path = ''): Ctx {
    return new Ctx(path, [], env);
  }

  /** The context of a named (snake_case) field. */
  field(name: string): Ctx {
    return new Ctx(this.path === '' ? name : `${this.path}.${name}`, this.errors, this.env);
  }

  /** The context of a list element. */
  index(i: number): Ctx {
    return new Ctx(`${this.path}[${i}]`, this.errors, this.env);
  }

  /** The context of a map entry (keys may contain dots, so they are quoted). */
  key(k: string): Ctx {
    return new Ctx(`${this.path}[${JSON.stringify(k)}]`, this.errors, this.env);
  }

  /** The same position with a different environment (e.g. a private reference list). */
  withEnv(env: DecodeEnv): Ctx {
    return new Ctx(this.path, this.errors, env);
  }

  /** Records `<path>: expected <what>, got <value>`; returns undefined so readers can `return ctx.expected(...)`. */
  expected(what: string, got: unknown): undefined {
    return this.fail(`expected ${what}, got ${show(got)}`);
  }

  /** Records `<path>: <message>` verbatim. */
  fail(message: string): undefined {
    this.errors.push(`${this.path === '' ? '(root)' : this.path}: ${message}`);
    return undefined;
  }

  /** How many errors have been recorded so far (to tell whether a sub-decode added any). */
  get errorCount(): number {
    return this.errors.length;
  }
}
