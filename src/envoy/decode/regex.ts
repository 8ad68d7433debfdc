// Regex checks for envoy.type.matcher.v3.RegexMatcher (Envoy's safe_regex uses RE2): a pattern must
// compile as a JavaScript RegExp and must not use constructs RE2 lacks, so configs stay portable.

import type { Ctx } from './context.js';
import { reader, type Reader } from './readers.js';

/** Names the first construct RE2 does not support (backreference, lookaround), or null. */
export function re2Incompatibility(pattern: string): string | null {
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if (!inClass && /[1-9]/.test(next)) return `backreference \\${next}`;
      if (!inClass && next === 'k' && pattern[i + 2] === '<') return 'named backreference \\k<...>';
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      if (pattern[i + 1] === '^') i++;
      if (pattern[i + 1] === ']') i++; // a leading ']' is a literal
      continue;
    }
    if (c === '(' && pattern[i + 1] === '?') {
      const rest = pattern.slice(i + 2, i + 4);
      if (rest.startsWith('=')) return 'lookahead (?=';
      if (rest.startsWith('!')) return 'negative lookahead (?!';
      if (rest === '<=') return 'lookbehind (?<=';
      if (rest === '<!') return 'negative lookbehind (?<!';
    }
  }
  return null;
}

/** Validates a pattern at `ctx`; returns it unchanged when usable. */
export function checkRegex(ctx: Ctx, pattern: string): string | undefined {
  const bad = re2Incompatibility(pattern);
  if (bad !== null) return ctx.expected(`an RE2-compatible regex (${bad} is not supported by RE2)`, pattern);
  try {
    new RegExp(pattern);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return ctx.expected(`a valid regex (${why})`, pattern);
  }
  return pattern;
}

/** A string holding a regex (RE2 syntax that JavaScript also accepts). */
export const regexString: Reader<string> = reader('a regex string', (ctx, v) =>
  typeof v === 'string' ? checkRegex(ctx, v) : ctx.expected('a regex string', v));
