// Unit tests for regex checks (src/envoy/decode/regex.ts): JS syntax and RE2 portability.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ctx } from '../../../src/envoy/decode/context.js';
import { checkRegex, re2Incompatibility, regexString } from '../../../src/envoy/decode/regex.js';
import { ExtensionRegistry } from '../../../src/envoy/decode/typed.js';

const ctx = (): Ctx => Ctx.root({ baseDir: '.', extensions: new ExtensionRegistry([]), clusterRefs: [] }, 're');

test('RE2-compatible patterns pass', () => {
  for (const p of ['^/api/v[0-9]+/.*$', '(a|b)+', '[\\1]', '\\(?=', '[(?=]', '[]a]', '[^]a]', '(?:x)', '(?P<n>x)|(?<n2>y)', '\\\\1']) {
    assert.equal(re2Incompatibility(p), null, p);
  }
});

test('backreferences and lookaround are named', () => {
  assert.equal(re2Incompatibility('(a)\\1'), 'backreference \\1');
  assert.equal(re2Incompatibility('(?<x>a)\\k<x>'), 'named backreference \\k<...>');
  assert.equal(re2Incompatibility('a(?=b)'), 'lookahead (?=');
  assert.equal(re2Incompatibility('a(?!b)'), 'negative lookahead (?!');
  assert.equal(re2Incompatibility('(?<=a)b'), 'lookbehind (?<=');
  assert.equal(re2Incompatibility('(?<!a)b'), 'negative lookbehind (?<!');
  assert.equal(re2Incompatibility('[x](?=y)'), 'lookahead (?=');
});

test('checkRegex reports JS syntax errors and RE2 incompatibilities at the field path', () => {
  const c = ctx();
  assert.equal(checkRegex(c, '^ok$'), '^ok$');
  assert.equal(checkRegex(c, '(a'), undefined);
  assert.equal(checkRegex(c, 'a(?=b)'), undefined);
  assert.deepEqual(c.errors, [
    're: expected a valid regex (Invalid regular expression: /(a/: Unterminated group), got "(a"',
    're: expected an RE2-compatible regex (lookahead (?= is not supported by RE2), got "a(?=b)"',
  ]);
});

test('regexString requires a string', () => {
  const c = ctx();
  assert.equal(regexString(c, 5), undefined);
  assert.deepEqual(c.errors, ['re: expected a regex string, got 5']);
});
