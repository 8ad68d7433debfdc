// RE2 patterns and rewrite strings (type.matcher.v3.RegexMatcher / RegexMatchAndSubstitute) as JS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileFullMatch, compileGlobal, compileSubstitution } from '../../../src/proxy/router/regex.js';

test('full match is anchored around the whole pattern, alternation included', () => {
  const re = compileFullMatch('a|b');
  assert.equal(re.test('a'), true);
  assert.equal(re.test('ab'), false);
  assert.equal(re.test('xa'), false);
});

test('leading RE2 flags become JS flags', () => {
  assert.equal(compileFullMatch('(?i)abc').test('ABC'), true);
  assert.equal(compileFullMatch('(?s)a.b').test('a\nb'), true);
  assert.equal(compileFullMatch('a.b').test('a\nb'), false);
  assert.throws(() => compileFullMatch('(?U)a+'), /\(\?U\)/);
});

test('(?P<name>...) groups are accepted and counted', () => {
  const { re, groups } = compileGlobal('/(?P<svc>[^/]+)/(v[0-9])');
  assert.equal(groups, 2);
  assert.equal('/reviews/v1'.replace(re, compileSubstitution('\\2-\\1', groups)), 'v1-reviews');
});

test('substitution: \\0 is the whole match, \\\\ a backslash, $ a literal dollar', () => {
  assert.equal(compileSubstitution('\\0', 0), '$&');
  assert.equal(compileSubstitution('a\\\\b', 0), 'a\\b');
  assert.equal(compileSubstitution('$1', 0), '$$1');
  assert.equal(compileSubstitution('\\12', 1), '$012');
  assert.throws(() => compileSubstitution('\\', 0), /invalid escape/);
});

test('an invalid pattern reports the JS engine message', () => {
  assert.throws(() => compileFullMatch('(unclosed'), /^Error: invalid regular expression: /);
  assert.throws(() => compileGlobal('['), /invalid regular expression/);
});
