// Priority load and panic: the examples of Envoy's priority levels and panic threshold docs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computePriorityState } from '../../../src/proxy/cluster/priority.js';

test('P=0 keeps all traffic down to 72% healthy, then spills to P=1 by 1.4 × healthy%', () => {
  const cases: [number, number, number][] = [[100, 100, 0], [72, 100, 0], [71, 99, 1], [50, 70, 30], [25, 35, 65], [0, 0, 100]];
  for (const [p0Healthy, toP0, toP1] of cases) {
    const s = computePriorityState([100, 100], [p0Healthy, 100], 50);
    assert.deepEqual(s.load, [toP0, toP1], `P0 ${p0Healthy}% healthy`);
    assert.deepEqual(s.panic, [false, false], 'normalized total health is 100%: no panic');
    assert.equal(s.normalizedTotalHealth, 100);
  }
});

test('three levels take load in order until 100% is covered', () => {
  const s = computePriorityState([10, 10, 10], [3, 2, 10], 50);
  // health 42, 28, 100 → 42 + 28 + 30
  assert.deepEqual(s.load, [42, 28, 30]);
});

test('when the normalized total health is below 100, levels under the threshold panic', () => {
  // 5% / 65% healthy: health 7 + 91 = 98. P0 panics (5 < 50), P1 does not.
  const s = computePriorityState([100, 100], [5, 65], 50);
  assert.equal(s.normalizedTotalHealth, 98);
  assert.deepEqual(s.panic, [true, false]);
  // 7·100/98 = 7, 91·100/98 = 92, rounding leftover to the first level with health.
  assert.deepEqual(s.load, [8, 92]);
});

test('when every level panics, load follows host counts', () => {
  const equal = computePriorityState([100, 100], [25, 25], 50);
  assert.deepEqual(equal.panic, [true, true]);
  assert.deepEqual(equal.load, [50, 50]);
  const skewed = computePriorityState([10, 30], [2, 3], 50);
  assert.deepEqual(skewed.load, [25, 75]);
  const none = computePriorityState([4], [0], 50);
  assert.deepEqual(none, { load: [100], panic: [true], health: [0], normalizedTotalHealth: 0 });
});

test('a single level below the panic threshold panics; threshold 0 disables panic', () => {
  assert.deepEqual(computePriorityState([4], [1], 50).panic, [true]);
  assert.deepEqual(computePriorityState([4], [2], 50).panic, [false]);
  const off = computePriorityState([4, 4], [0, 0], 0);
  assert.deepEqual(off.panic, [false, false]);
  assert.deepEqual(off.load, [100, 0]);
});

test('empty levels get no load unless everything panics', () => {
  const s = computePriorityState([2, 0, 2], [1, 0, 2], 50);
  assert.deepEqual(s.load, [70, 0, 30]);
  assert.deepEqual(s.panic, [false, false, false]);
});
