// The test runner behind `npm test` (test/run.mjs with test/reporter.mjs): a run fails, naming each offender, when a
// test is cancelled, skipped or todo without a reason, or a test file reports nothing, even where node --test
// itself exits 0. Runs the runner on the fixtures in test/fixtures/runner/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromRoot } from '../helpers/paths.js';

const RUNNER = fromRoot('test', 'run.mjs');
const fixture = (name: string) => fromRoot('test', 'fixtures', 'runner', `${name}.fixture.mjs`);

/** Runs test/run.mjs on the given fixtures; returns its exit code, its output and the results file's lines. */
async function runRunner(t: { after(fn: () => void): void }, names: string[], extra: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'weft-runner-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const results = join(dir, 'results.jsonl');
  // node --test marks its child processes with NODE_TEST_CONTEXT; a nested `node --test` must not inherit it, or it
  // reports in the child protocol instead of running as a top-level runner.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [RUNNER, '--results', results, ...extra, ...names.map(fixture)],
    { cwd: fromRoot(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
  const out = `${stdout}\n${stderr}`; // kept apart while running: their chunks would interleave mid-line
  const rows = readFileSync(results, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as {
    name: string; path: string[]; ok: boolean; skip?: string | boolean; todo?: string | boolean; failureType?: string; fileLevel?: boolean;
  });
  return { code, out, rows };
}

test('a cancelled test, skips and todos without a reason, and a file with no test fail the run, each named', async (t) => {
  const { code, out, rows } = await runRunner(t, ['cancelled', 'skipped', 'silent', 'good']);
  assert.notEqual(code, 0, out);
  const problems = out.split('\n').filter((l) => /^ {2}(cancelled|skipped without a reason|todo without a reason|no test reported):/.test(l)).map((l) => l.trim());
  assert.deepEqual(problems.sort(), [
    'cancelled: test/fixtures/runner/cancelled.fixture.mjs: never settles (Promise resolution is still pending but the event loop has already resolved)',
    'no test reported: test/fixtures/runner/silent.fixture.mjs',
    'skipped without a reason: test/fixtures/runner/skipped.fixture.mjs: skipped at run time without a reason',
    'skipped without a reason: test/fixtures/runner/skipped.fixture.mjs: skipped without a reason',
    'todo without a reason: test/fixtures/runner/skipped.fixture.mjs: todo without a reason',
  ], out);
  assert.match(out, /test run FAILED: 5 problem\(s\)/);
  assert.match(out, /from 3 of 4 files, 1 failed;/);
  // The machine-readable results hold every test, with the skip reason or its absence.
  const skipped = rows.filter((r) => r.skip !== undefined).map((r) => [r.name, r.skip]).sort();
  assert.deepEqual(skipped, [
    ['skipped at run time without a reason', true],
    ['skipped with a reason', 'needs a tool this machine lacks'],
    ['skipped with a reason', 'needs a tool this machine lacks'],
    ['skipped without a reason', true],
  ]);
  assert.deepEqual(rows.filter((r) => r.failureType === 'cancelledByParent').map((r) => r.name), ['never settles']);
});

test('skips without a reason fail the run although node --test itself exits 0', async (t) => {
  const { code, out } = await runRunner(t, ['skipped']);
  assert.match(out, /node --test exited with 0/);
  assert.equal(code, 1, out);
});

test('a file that reports no test fails the run although node --test itself exits 0', async (t) => {
  const { code, out } = await runRunner(t, ['silent']);
  assert.match(out, /node --test exited with 0/);
  assert.match(out, /no test reported: test\/fixtures\/runner\/silent\.fixture\.mjs/);
  assert.equal(code, 1, out);
});

test('--test-timeout bounds a whole file: a file that overruns it is reported cancelled', async (t) => {
  // Each test of the fixture takes 1.5 s; the file takes 3 s, over the 2 s given. (This is why npm test gives files
  // 10 minutes: node --test's timeout is per file, and the slowest files take minutes on a loaded machine.)
  const { code, out } = await runRunner(t, ['slow'], ['--file-timeout', '2000']);
  assert.notEqual(code, 0, out);
  assert.match(out, /^ {2}cancelled: test\/fixtures\/runner\/slow\.fixture\.mjs \(test timed out after 2000ms\)$/m);
});

test('passing tests and a skip that states its reason pass the run', async (t) => {
  const { code, out, rows } = await runRunner(t, ['good']);
  assert.equal(code, 0, out);
  assert.match(out, /test run: 2 tests from 1 of 1 files, 0 failed; node --test exited with 0/);
  assert.deepEqual(rows.filter((r) => !r.fileLevel).map((r) => r.path.join(' > ')), ['a suite > passes', 'a suite', 'skipped with a reason']);
});
