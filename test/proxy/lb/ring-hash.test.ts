// RING_HASH: ring size bounds, weights, consistency, minimal remapping when a host goes away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RingHashLb } from '../../../src/proxy/lb/ring-hash.js';
import { seededRandom } from '../../../src/proxy/lb/rng.js';
import { lbOptions, makeHosts } from './helpers.js';

function hashes(n: number, seed = 1): number[] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => (r() * 4294967296) >>> 0);
}

test('the ring holds about minimum_ring_size points for equal weights', () => {
  const lb = new RingHashLb(makeHosts(10), lbOptions());
  assert.ok(lb.points.length >= 1024 && lb.points.length <= 1040, `ring size ${lb.points.length}`);
  for (let i = 1; i < lb.points.length; i++) assert.ok(lb.points[i - 1]! <= lb.points[i]!);
});

test('the bucketed lookup finds the first point at or after the hash, wrapping around', () => {
  for (const n of [1, 3, 10, 200]) {
    const lb = new RingHashLb(makeHosts(n), lbOptions());
    const naive = (h: number) => {
      let j = 0;
      while (j < lb.points.length && lb.points[j]! < h) j++;
      return lb.owners[j === lb.points.length ? 0 : j];
    };
    const probes = [...hashes(3000, n), 0, 4294967295, lb.points[0]!, lb.points[lb.points.length - 1]!, lb.points[5]! + 1];
    for (const h of probes) assert.equal(lb.choose(h), naive(h), `n=${n} h=${h}`);
  }
});

test('maximum_ring_size caps the ring', () => {
  const lb = new RingHashLb(makeHosts(3, [1, 1, 1000]), lbOptions(undefined, { ringHash: { minimumRingSize: 1024, maximumRingSize: 2048 } }));
  assert.ok(lb.points.length <= 2049, `ring size ${lb.points.length}`);
});

test('the same hash always maps to the same host, also in a rebuilt ring', () => {
  const hosts = makeHosts(10);
  const a = new RingHashLb(hosts, lbOptions());
  const b = new RingHashLb(hosts, lbOptions());
  for (const h of hashes(2000)) {
    const x = a.choose(h);
    assert.equal(a.choose(h), x);
    assert.equal(b.choose(h), x);
  }
});

test('removing one of N hosts moves all of its keys and few others', () => {
  // The ring is rescaled to keep minimum_ring_size points for 9 hosts (114 points each instead
  // of 103), so a few keys land on the survivors' new points, as in Envoy.
  const hosts = makeHosts(10);
  const before = new RingHashLb(hosts, lbOptions());
  const gone = hosts[3]!;
  const after = new RingHashLb(hosts.filter((h) => h !== gone), lbOptions());
  let owned = 0, movedOwned = 0, movedOther = 0;
  const keys = hashes(20000, 5);
  for (const h of keys) {
    const x = before.choose(h)!, y = after.choose(h)!;
    if (x === gone) owned++;
    if (x !== y) { if (x === gone) movedOwned++; else movedOther++; }
  }
  assert.equal(movedOwned, owned);
  assert.ok(Math.abs(owned / keys.length - 0.1) < 0.03, `removed host owned ${owned / keys.length}`);
  assert.ok(movedOther / keys.length < 0.08, `other keys moved ${movedOther / keys.length}`);
});

test('a host of weight 2 owns about twice the share', () => {
  const hosts = makeHosts(4, [2, 1, 1, 1]);
  const lb = new RingHashLb(hosts, lbOptions());
  const keys = hashes(40000, 9);
  let heavy = 0;
  for (const h of keys) if (lb.choose(h) === hosts[0]) heavy++;
  const share = heavy / keys.length;
  assert.ok(Math.abs(share - 0.4) < 0.06, `heavy share ${share}`);
});

test('explicit weights override host weights; null hash picks at random', () => {
  const hosts = makeHosts(2);
  const lb = new RingHashLb(hosts, lbOptions(seededRandom(3)), [1, 0]);
  for (const h of hashes(100)) assert.equal(lb.choose(h), hosts[0]);
  assert.ok(lb.choose(null) !== null);
  assert.equal(new RingHashLb([], lbOptions()).choose(1), null);
});
