// ROUND_ROBIN: plain rotation with equal weights, exact weighted cycles otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoundRobinLb, buildSchedule } from '../../../src/proxy/lb/round-robin.js';
import { lbOptions, makeHosts, tally } from './helpers.js';

const zero = () => 0;

test('equal weights rotate through the hosts in order', () => {
  const hosts = makeHosts(3);
  const lb = new RoundRobinLb(hosts, lbOptions(zero));
  const seq = Array.from({ length: 7 }, () => lb.choose()!.key);
  assert.deepEqual(seq, ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.1:80']);
});

test('weights 3:1 give the cycle a a b a (spread out, not bunched)', () => {
  const hosts = makeHosts(2, [3, 1]);
  const lb = new RoundRobinLb(hosts, lbOptions(zero));
  const seq = Array.from({ length: 8 }, () => hosts.indexOf(lb.choose()!));
  assert.deepEqual(seq, [0, 0, 1, 0, 0, 0, 1, 0]);
});

test('weights 5:2:1 give an exact cycle of 8 with each host weight times', () => {
  assert.deepEqual([...buildSchedule([5, 2, 1])!], [0, 1, 0, 0, 2, 0, 1, 0]);
  const hosts = makeHosts(3, [5, 2, 1]);
  const lb = new RoundRobinLb(hosts, lbOptions(zero));
  const counts = tally(() => lb.choose(), 800);
  assert.deepEqual([...counts.values()], [500, 200, 100]);
});

test('weights are reduced by their gcd', () => {
  assert.deepEqual([...buildSchedule([2, 2, 4])!], [2, 0, 1, 2]);
});

test('the starting point is random, the cycle is the same', () => {
  const hosts = makeHosts(3);
  const lb = new RoundRobinLb(hosts, lbOptions(() => 0.5));
  assert.equal(lb.choose(), hosts[1]);
  assert.equal(lb.choose(), hosts[2]);
  assert.equal(lb.choose(), hosts[0]);
});

test('a cycle too long to precompute falls back to the live EDF scheduler with the same shares', () => {
  assert.equal(buildSchedule([70000, 3]), null);
  const hosts = makeHosts(2, [70000, 3]);
  const lb = new RoundRobinLb(hosts, lbOptions(zero));
  const counts = tally(() => lb.choose(), 70003);
  assert.ok(Math.abs(counts.get(hosts[1]!.key)! - 3) <= 1, `light host picked ${counts.get(hosts[1]!.key)} times`);
});

test('empty host set returns null', () => {
  assert.equal(new RoundRobinLb([], lbOptions()).choose(), null);
});
