// Golden tests for the Envoy v3 bootstrap adapter: each test/envoy/golden/<case>.yaml decodes to
// <case>.expected.json or fails with exactly <case>.errors.txt. UPDATE_GOLDEN=1 rewrites them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBootstrapText } from '../../src/envoy/text.js';
import { fromRoot } from '../helpers/paths.js';

const dir = fromRoot('test', 'envoy', 'golden');
const update = process.env.UPDATE_GOLDEN === '1';
const cases = readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -'.yaml'.length)).sort();

test('the golden directory has cases of both kinds', () => {
  const expected = cases.filter((c) => existsSync(join(dir, `${c}.expected.json`)));
  const errors = cases.filter((c) => existsSync(join(dir, `${c}.errors.txt`)));
  assert.ok(expected.length >= 8, `only ${expected.length} success cases`);
  assert.ok(errors.length >= 5, `only ${errors.length} error cases`);
});

for (const name of cases) {
  test(`golden: ${name}`, () => {
    const text = readFileSync(join(dir, `${name}.yaml`), 'utf8');
    const result = parseBootstrapText(text, `${name}.yaml`, { baseDir: dir });
    const expectedFile = join(dir, `${name}.expected.json`);
    const errorsFile = join(dir, `${name}.errors.txt`);
    const [actualFile, otherFile, actual] = result.ok
      // Absolute file names (TLS files are watched by path) are written relative to the golden directory.
      ? [expectedFile, errorsFile, `${JSON.stringify(result.value, null, 2).replaceAll(JSON.stringify(dir).slice(1, -1), '<golden>')}\n`]
      : [errorsFile, expectedFile, `${result.errors.join('\n')}\n`];
    if (update) {
      writeFileSync(actualFile, actual);
      rmSync(otherFile, { force: true });
      return;
    }
    if (!existsSync(actualFile)) {
      const shown = result.ok ? 'decoded cleanly' : `failed:\n${actual}`;
      assert.fail(`${name}.yaml ${shown}\n(no ${actualFile}; run with UPDATE_GOLDEN=1 to record it)`);
    }
    assert.equal(actual, readFileSync(actualFile, 'utf8'));
  });
}
