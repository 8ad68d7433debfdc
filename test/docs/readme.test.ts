// README.md as a new user's clone sees it: it opens with the two commands (`npm ci && npx weft demo`, `npm ci &&
// npm test`), every relative link and every repository path it names resolves to a file or directory in this
// repository, no link or path leaves the repository (a clone has nothing beside it), and in-page anchors name
// headings that exist (GitHub's heading ids).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { fromRoot, repoRoot } from '../helpers/paths.js';

const README = readFileSync(fromRoot('README.md'), 'utf8');
/** Top-level directories whose paths the README may name in code spans (checked to exist). */
const REPO_DIRS = ['src', 'test', 'bench', 'examples', 'scripts', '.ci'];
/** Build output and installed packages: present on this machine, absent from a clone. */
const NOT_IN_A_CLONE = ['dist', 'node_modules'];

/** The text outside fenced code blocks, line numbers kept (fenced lines become empty). */
function prose(md: string): string[] {
  let fence: string | null = null;
  return md.split('\n').map((line) => {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (m) {
      if (fence === null) fence = m[1]!.slice(0, 3);
      else if (m[1]!.startsWith(fence)) fence = null;
      return '';
    }
    return fence === null ? line : '';
  });
}

/** Every link target with its line: inline links and images, reference definitions, autolinks, HTML href/src. */
export function linkTargets(md: string): { line: number; target: string }[] {
  const out: { line: number; target: string }[] = [];
  prose(md).forEach((text, i) => {
    const line = i + 1;
    const noCode = text.replace(/`[^`]*`/g, '');
    for (const m of noCode.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ line, target: m[1]! });
    const def = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$/.exec(noCode);
    if (def) out.push({ line, target: def[1]! });
    for (const m of noCode.matchAll(/<((?:https?|mailto):[^>\s]+)>/g)) out.push({ line, target: m[1]! });
    for (const m of noCode.matchAll(/\b(?:href|src)\s*=\s*"([^"]+)"/g)) out.push({ line, target: m[1]! });
  });
  return out;
}

/** GitHub's id for each heading (lower case, punctuation dropped, spaces to '-', -1, -2... for repeats). */
export function headingIds(md: string): Set<string> {
  const ids = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of prose(md)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = m[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').trim().replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    ids.add(n === 0 ? base : `${base}-${n}`);
  }
  return ids;
}

/** What is wrong with one link target ('' when nothing). */
export function checkTarget(target: string, anchors: Set<string>): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return ''; // a URL (http:, https:, mailto:): not a file
  if (target.startsWith('#')) return anchors.has(decodeURIComponent(target.slice(1))) ? '' : `no heading has the id ${target}`;
  const path = decodeURIComponent(target.replace(/[#?].*$/, ''));
  if (isAbsolute(path)) return 'an absolute path: a clone has no such file';
  const abs = resolve(repoRoot, path);
  const rel = relative(repoRoot, abs);
  if (rel === '..' || rel.startsWith(`..${sep}`)) return 'leaves the repository';
  if (NOT_IN_A_CLONE.includes(rel.split(sep)[0]!)) return `${rel.split(sep)[0]}/ is not in a clone`;
  return existsSync(abs) ? '' : 'no such file in the repository';
}

test('README.md opens with the two commands: npm ci && npx weft demo, npm ci && npm test', () => {
  const firstHeading = README.search(/^## /m);
  const block = /^```\w*\n([\s\S]*?)^```/m.exec(README);
  assert.ok(block, 'README.md has no code block');
  assert.ok(firstHeading === -1 || block.index < firstHeading, 'the first code block comes after the first section heading');
  const commands = block[1]!.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l !== '');
  assert.deepEqual(commands.slice(0, 2), ['npm ci && npx weft demo', 'npm ci && npm test']);
});

test('every relative link in README.md resolves inside the repository; anchors name headings', () => {
  const anchors = headingIds(README);
  const targets = linkTargets(README);
  assert.ok(targets.length > 0, 'found no links: the extraction is broken');
  const bad = targets.map((t) => ({ ...t, problem: checkTarget(t.target, anchors) })).filter((t) => t.problem !== '')
    .map((t) => `README.md:${t.line}: ${t.target}: ${t.problem}`);
  assert.deepEqual(bad, []);
});

test('no path in README.md, code blocks included, leaves the repository; repository paths it names exist', () => {
  const bad: string[] = [];
  README.split('\n').forEach((text, i) => {
    if (/(^|[\s`'"(=])\.\.\//.test(text)) bad.push(`README.md:${i + 1}: a path outside the repository: ${text.trim()}`);
    for (const m of text.matchAll(/`([^`\s]+)`/g)) {
      const p = m[1]!;
      if (!REPO_DIRS.some((d) => p.startsWith(`${d}/`)) || !/^[\w./-]+$/.test(p)) continue;
      if (!existsSync(fromRoot(p))) bad.push(`README.md:${i + 1}: ${p}: no such file in the repository`);
    }
  });
  assert.deepEqual(bad, []);
});

test('the walkthrough gives the command that starts the proxy before it sends requests to it', () => {
  const start = README.indexOf('npx weft proxy -c examples/hello/bootstrap.yaml');
  const firstUse = README.indexOf('curl http://127.0.0.1:10000/');
  assert.ok(firstUse !== -1, 'the walkthrough sends no request to the hello listener');
  assert.ok(start !== -1 && start < firstUse, 'no `npx weft proxy -c examples/hello/bootstrap.yaml` before the first request');
});

test('the link checks catch what they are for', () => {
  const md = '# Weft\n\n## Two words\n\nSee [a](../shared/x.md), [b](LICENSE), [c](nope.md), [d](#two-words), [e](#gone), '
    + '[f](dist/src/cli/main.js), <https://example.com/>, [g](/etc/passwd).\n\n```sh\n[not a link](../in/code)\n```\n';
  const anchors = headingIds(md);
  assert.deepEqual([...anchors], ['weft', 'two-words']);
  assert.deepEqual(linkTargets(md).map((t) => [t.target, checkTarget(t.target, anchors)]), [
    ['../shared/x.md', 'leaves the repository'],
    ['LICENSE', ''],
    ['nope.md', 'no such file in the repository'],
    ['#two-words', ''],
    ['#gone', 'no heading has the id #gone'],
    ['dist/src/cli/main.js', 'dist/ is not in a clone'],
    ['/etc/passwd', 'an absolute path: a clone has no such file'],
    ['https://example.com/', ''],
  ]);
});
