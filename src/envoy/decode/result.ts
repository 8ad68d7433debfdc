// The outcome of decoding one input with the toolkit: a deep-frozen value, or every error found.
// Shared by the bootstrap adapter and later per-resource (xDS) adapters.

import { Ctx, type DecodeEnv } from './context.js';
import { deepFreeze } from './freeze.js';
import type { Reader } from './readers.js';

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; errors: string[] };

/** Runs `reader` on `input` at `path` ('' = root); freezes the value when there were no errors. */
export function runDecoder<T>(reader: Reader<T>, input: unknown, env: DecodeEnv, path = ''): DecodeResult<T> {
  const ctx = Ctx.root(env, path);
  const value = reader(ctx, input);
  if (ctx.errors.length > 0 || value === undefined) {
    return { ok: false, errors: ctx.errors.length > 0 ? ctx.errors : [`${path || '(root)'}: could not be decoded`] };
  }
  return { ok: true, value: deepFreeze(value) };
}
