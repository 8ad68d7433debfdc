// Envoy's `safe_regex` (RE2 syntax, type.matcher.v3.RegexMatcher) and `RegexMatchAndSubstitute`
// compiled once into JavaScript RegExps and replacement strings. Covers the RE2 forms that differ
// from JS in real configs: leading inline flags `(?i)` / `(?s)` / `(?m)`, `(?P<name>...)` groups,
// and `\1`-style substitutions. Everything else is passed through and must also be valid JS.

const LEADING_FLAGS = /^\(\?([imsU]+)\)/;

/** RE2 source → JS source and flags; throws Error with a readable message. */
function translate(pattern: string): { source: string; flags: string } {
  let source = pattern;
  let flags = '';
  const m = LEADING_FLAGS.exec(source);
  if (m !== null) {
    for (const f of m[1]!) {
      if (f === 'U') throw new Error('the RE2 (?U) flag (ungreedy) is not supported');
      if (!flags.includes(f)) flags += f;
    }
    source = source.slice(m[0].length);
  }
  source = source.replace(/\(\?P</g, '(?<');
  return { source, flags };
}

function build(source: string, flags: string): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (err) {
    throw new Error(`invalid regular expression: ${(err as Error).message}`);
  }
}

/** A regex that must match the whole input (RegexMatcher semantics: full match, anchored). */
export function compileFullMatch(pattern: string): RegExp {
  const { source, flags } = translate(pattern);
  build(source, flags); // report errors against the pattern as written
  return build(`^(?:${source})$`, flags);
}

/** A regex for global replacement (RE2::GlobalReplace), with its number of capture groups. */
export function compileGlobal(pattern: string): { re: RegExp; groups: number } {
  const { source, flags } = translate(pattern);
  const re = build(source, flags + 'g');
  const groups = new RegExp(`${source}|`, flags).exec('')!.length - 1;
  return { re, groups };
}

/**
 * RE2 rewrite string (`\0`..`\9` for groups, `\\` for a backslash) → a JS replacement string.
 * Groups are emitted in the two-digit form (`$01`) so a following digit stays literal, as in RE2.
 */
export function compileSubstitution(substitution: string, groups: number): string {
  let out = '';
  for (let i = 0; i < substitution.length; i++) {
    const c = substitution[i]!;
    if (c === '$') { out += '$$'; continue; }
    if (c !== '\\') { out += c; continue; }
    const n = substitution[i + 1];
    i++;
    if (n === '\\') { out += '\\'; continue; }
    if (n !== undefined && n >= '0' && n <= '9') {
      const g = n.charCodeAt(0) - 48;
      if (g > groups) throw new Error(`substitution refers to group \\${g} but the pattern has ${groups} group(s)`);
      out += g === 0 ? '$&' : '$0' + n;
      continue;
    }
    throw new Error(`invalid escape '\\${n ?? ''}' in substitution (only \\0-\\9 and \\\\ are allowed)`);
  }
  return out;
}
