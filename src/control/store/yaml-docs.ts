// Multi-document YAML (or JSON) text → plain documents, each tagged with its source (`file#N`);
// a syntax error names the file, line and column. Used by the store's config dir, the API and the CLI.

import { parseAllDocuments } from 'yaml';

export interface SourcedDoc {
  readonly doc: unknown;
  /** `name#N`: the input's name and the document's 1-based index. */
  readonly source: string;
}

export type ParseDocsResult =
  | { readonly ok: true; readonly docs: readonly SourcedDoc[] }
  | { readonly ok: false; readonly errors: readonly string[] };

/** Parses every document of `text`; empty documents (a lone `---`, comments only) are skipped. */
export function parseYamlDocuments(text: string, name: string): ParseDocsResult {
  const errors: string[] = [];
  const docs: SourcedDoc[] = [];
  const parsed = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  // A stream that is only comments/whitespace yields an EmptyStream (no iterator of documents).
  const list = Array.isArray(parsed) ? parsed : [];
  list.forEach((d, i) => {
    for (const e of d.errors) {
      const at = e.linePos?.[0];
      const first = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      errors.push(`${name}${at ? `:${at.line}:${at.col}` : ''}: YAML syntax error: ${first}`);
    }
    if (d.errors.length > 0) return;
    const value: unknown = d.toJS();
    if (value === null || value === undefined) return;
    docs.push({ doc: value, source: `${name}#${i + 1}` });
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, docs };
}
