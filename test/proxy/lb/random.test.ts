// RANDOM: uniform over the host set, weights ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RandomLb } from '../../../src/proxy/lb/random.js';
import { seededRandom } from '../../../src/proxy/lb/rng.js';
import { lbOptions, makeHosts, tally } from './helpers.js';

test('picks hosts uniformly, ignoring weights', () => {
  const hosts = makeHosts(4, [10, 1, 1, 1]);
  const lb = new RandomLb(hosts, lbOptions(seededRandom(11)));
  const counts = tally(() => lb.choose(), 40000);
  for (const h of hosts) assert.ok(Math.abs(counts.get(h.key)! / 40000 - 0.25) < 0.015, `${h.key} ${counts.get(h.key)}`);
});

test('empty host set returns null', () => {
  assert.equal(new RandomLb([], lbOptions()).choose(), null);
});
