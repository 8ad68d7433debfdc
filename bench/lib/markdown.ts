// Small Markdown helpers for bench/RESULTS.md: tables, number formats, shell quoting.

/** A GitHub-flavoured Markdown table; columns whose cells all start with a number are right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const numeric = header.map((_, c) => rows.length > 0 && rows.every((r) => /^([-+]?\d|–)/.test(r[c] ?? '')));
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, c) => (numeric[c] ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
  return lines.join('\n');
}

/** A number with fixed decimals, or an en dash when absent. */
export function fmt(v: number | undefined, decimals = 0): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  return v.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** A signed difference, e.g. "+0.123". */
export function signed(v: number | undefined, decimals = 3): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  return `${v >= 0 ? '+' : ''}${v.toFixed(decimals)}`;
}

export function mib(kib: number | undefined): string {
  return kib === undefined ? '–' : (kib / 1024).toFixed(1);
}

/** Quotes an argument for a POSIX shell when it needs it. */
export function shq(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(argv: readonly string[]): string {
  return argv.map(shq).join(' ');
}

export function codeBlock(text: string, lang = ''): string {
  return `\`\`\`${lang}\n${text.trimEnd()}\n\`\`\``;
}
