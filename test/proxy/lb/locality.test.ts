// Locality weighted LB: effective weights from Envoy's locality_weight documentation table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalityWeightedLb, localityEffectiveWeight } from '../../../src/proxy/lb/locality.js';
import { RoundRobinLb } from '../../../src/proxy/lb/round-robin.js';
import { lbOptions, makeHosts, tally } from './helpers.js';

test('X (weight 1) vs Y (weight 2, all healthy) matches the documented traffic split', () => {
  // L=X healthy % → % of traffic to X (Envoy docs, locality weighted load balancing).
  const table: [number, number][] = [[100, 33], [70, 33], [69, 32], [50, 26], [25, 15], [0, 0]];
  for (const [healthyPct, toX] of table) {
    const x = localityEffectiveWeight(1, healthyPct, 100);
    const y = localityEffectiveWeight(2, 100, 100);
    const share = (100 * x) / (x + y);
    assert.ok(Math.abs(share - toX) <= 1, `${healthyPct}% healthy → ${share.toFixed(1)}%, docs say ${toX}%`);
  }
});

test('picks localities by effective weight, then a host within', () => {
  const hosts = makeHosts(3);
  const opts = lbOptions(() => 0);
  const lb = new LocalityWeightedLb(
    [new RoundRobinLb([hosts[0]!], opts), new RoundRobinLb([hosts[1]!, hosts[2]!], opts)],
    [1, 2], new RoundRobinLb(hosts, opts));
  const c = tally(() => lb.choose(null), 3000);
  assert.equal(c.get(hosts[0]!.key), 1000);
  assert.equal(c.get(hosts[1]!.key), 1000);
  assert.equal(c.get(hosts[2]!.key), 1000);
});

test('falls back when no locality has weight', () => {
  const hosts = makeHosts(2);
  const opts = lbOptions(() => 0);
  const lb = new LocalityWeightedLb([new RoundRobinLb([hosts[0]!], opts)], [0], new RoundRobinLb([hosts[1]!], opts));
  assert.equal(lb.choose(null), hosts[1]);
});
