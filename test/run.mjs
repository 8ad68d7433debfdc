#!/usr/bin/env node
// The test runner behind `npm test`: runs node:test over the compiled test files (2 at a time, 10 min per file),
// prints the spec report, writes machine-readable results (test/reporter.mjs, JSON lines), then fails the run
// (exit 1, naming each offender) when a test was cancelled or timed out, was skipped or marked todo without a
// reason, or when a test file reported no test at all, whatever node's own exit code was (some Node versions exit
// 0 with cancelled tests). Plain JS so it needs no build.
//
// Usage: node test/run.mjs [--results FILE] [--file-timeout MS] [PATH...]
//   PATH: a directory (every *.test.js / *.test.mjs under it) or a test file; default dist/test.
//   --results: where the JSON-lines results go; default dist/test-results.jsonl.
//   --file-timeout: the time one test file may take; default 600000 (see FILE_TIMEOUT_MS).
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const reporter = join(root, 'test', 'reporter.mjs');
const TEST_FILE = /\.test\.m?js$/;
/**
 * `node --test --test-timeout=N` bounds each test *file*, not each test: Node 20 applies N to the subtest that stands
 * for a file in the parent process and does not pass it on to the file's own process. So N must fit the slowest
 * file on a loaded machine (test/integration/workers.test.ts takes ~90 s there, streaming.test.ts has a test that
 * allows itself 300 s); individual tests bound their own waits.
 */
const FILE_TIMEOUT_MS = 600_000;
/** node:test failure types that mean the test never finished. */
const CANCELLED = new Set(['cancelledByParent', 'testTimeoutFailure']);

function parseArgs(argv) {
  let results = join(root, 'dist', 'test-results.jsonl');
  let fileTimeoutMs = FILE_TIMEOUT_MS;
  const paths = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--results') results = resolve(argv[++i] ?? '');
    else if (argv[i] === '--file-timeout') fileTimeoutMs = Number(argv[++i]);
    else paths.push(resolve(argv[i]));
  }
  if (!Number.isInteger(fileTimeoutMs) || fileTimeoutMs <= 0) throw new Error('--file-timeout: expected a positive integer (ms)');
  if (paths.length === 0) paths.push(join(root, 'dist', 'test'));
  return { results, fileTimeoutMs, paths };
}

function findTestFiles(paths) {
  const out = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (TEST_FILE.test(e.name)) out.push(p);
    }
  };
  for (const p of paths) {
    if (statSync(p).isDirectory()) walk(p);
    else out.push(p);
  }
  return [...new Set(out)].sort();
}

function runNode(files, results, fileTimeoutMs) {
  const args = [
    '--test', '--test-concurrency=2', `--test-timeout=${fileTimeoutMs}`,
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    `--test-reporter=${reporter}`, `--test-reporter-destination=${results}`,
    ...files,
  ];
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  const forward = (sig) => child.kill(sig);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolveExit, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolveExit(code ?? (signal ? `signal ${signal}` : 1));
    });
  });
}

/** The offences in a results file: one line each. */
export function check(files, resultsText) {
  const rows = resultsText.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
  const problems = [];
  const reported = new Set();
  const where = (r) => `${r.file ? relative(root, r.file) : '?'}: ${r.path.join(' > ')}`;
  for (const r of rows) {
    if (r.fileLevel) {
      // The file itself: cancelled when it ran out of time (its remaining tests then report nothing).
      if (!r.ok && CANCELLED.has(r.failureType)) problems.push(`cancelled: ${relative(root, r.file)} (${r.error})`);
      continue;
    }
    if (r.file) reported.add(resolve(r.file));
    if (!r.ok && CANCELLED.has(r.failureType)) problems.push(`cancelled: ${where(r)} (${r.error})`);
    if (r.skip !== undefined && (typeof r.skip !== 'string' || r.skip.trim() === '')) problems.push(`skipped without a reason: ${where(r)}`);
    if (r.todo !== undefined && (typeof r.todo !== 'string' || r.todo.trim() === '')) problems.push(`todo without a reason: ${where(r)}`);
  }
  const silent = files.filter((f) => !reported.has(f));
  for (const f of silent) problems.push(`no test reported: ${relative(root, f)}`);
  const tests = rows.filter((r) => !r.fileLevel && !r.suite);
  return { problems, tests: tests.length, failed: tests.filter((r) => !r.ok).length, filesReported: files.length - silent.length };
}

async function main() {
  const { results, fileTimeoutMs, paths } = parseArgs(process.argv.slice(2));
  const files = findTestFiles(paths);
  if (files.length === 0) {
    console.error(`test run: no test files under ${paths.map((p) => relative(root, p) || '.').join(', ')} (build first: npm run build)`);
    return 1;
  }
  mkdirSync(dirname(results), { recursive: true });
  rmSync(results, { force: true }); // a run that dies early must not be judged by an older run's results
  const code = await runNode(files, results, fileTimeoutMs);
  let text = '';
  try { text = readFileSync(results, 'utf8'); } catch { /* no results at all: every file is reported missing */ }
  const { problems, tests, failed, filesReported } = check(files, text);
  console.log(`\ntest run: ${tests} tests from ${filesReported} of ${files.length} files, ${failed} failed; node --test exited with ${code}; results in ${relative(root, results)}`);
  if (problems.length > 0) {
    console.error(`test run FAILED: ${problems.length} problem(s) besides ordinary failures:`);
    for (const p of problems) console.error(`  ${p}`);
    return 1;
  }
  return code === 0 ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main();
}
