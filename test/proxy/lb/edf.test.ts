// EDF scheduler: picks in proportion to weight, earliest-inserted first on ties, skips weight 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EdfScheduler } from '../../../src/proxy/lb/edf.js';

test('picks each entry in proportion to its weight', () => {
  const w = [1, 2, 0, 4];
  const edf = new EdfScheduler(w);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 700; i++) counts[edf.pick(w)]!++;
  assert.deepEqual(counts, [100, 200, 0, 400]);
});

test('ties go to the entry scheduled first', () => {
  const w = [1, 1, 1];
  const edf = new EdfScheduler(w);
  assert.deepEqual(Array.from({ length: 6 }, () => edf.pick(w)), [0, 1, 2, 0, 1, 2]);
});

test('an empty scheduler picks -1', () => {
  const edf = new EdfScheduler([0, 0]);
  assert.equal(edf.empty, true);
  assert.equal(edf.pick([0, 0]), -1);
  assert.equal(edf.peek(), -1);
});
