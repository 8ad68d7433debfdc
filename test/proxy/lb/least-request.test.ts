// LEAST_REQUEST: power of two choices with equal weights, weight/(active+1) EDF otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeastRequestLb } from '../../../src/proxy/lb/least-request.js';
import { seededRandom } from '../../../src/proxy/lb/rng.js';
import { lbOptions, makeHosts, tally } from './helpers.js';

test('of the two random choices, the host with fewer active requests wins', () => {
  const hosts = makeHosts(4);
  hosts[0]!.activeRequests = 3;
  hosts[2]!.activeRequests = 1;
  const seq = [0.0, 0.5]; // indices 0 and 2
  let i = 0;
  const lb = new LeastRequestLb(hosts, lbOptions(() => seq[i++ % 2]!));
  assert.equal(lb.choose(), hosts[2]);
});

test('a loaded host is picked only when both choices land on it (~1/N²)', () => {
  const hosts = makeHosts(4);
  hosts[0]!.activeRequests = 10;
  const lb = new LeastRequestLb(hosts, lbOptions(seededRandom(7)));
  const n = 40000;
  const counts = tally(() => lb.choose(), n);
  const loaded = counts.get(hosts[0]!.key)! / n;
  assert.ok(Math.abs(loaded - 1 / 16) < 0.01, `loaded host share ${loaded}`);
  for (const h of hosts.slice(1)) {
    const share = counts.get(h.key)! / n;
    assert.ok(Math.abs(share - 15 / 48) < 0.02, `${h.key} share ${share}`);
  }
});

test('choiceCount 1 is plain random', () => {
  const hosts = makeHosts(2);
  hosts[0]!.activeRequests = 100;
  const lb = new LeastRequestLb(hosts, lbOptions(seededRandom(3), { leastRequest: { choiceCount: 1 } }));
  const counts = tally(() => lb.choose(), 10000);
  assert.ok(Math.abs(counts.get(hosts[0]!.key)! / 10000 - 0.5) < 0.03);
});

test('unequal weights: shares follow weight / (active + 1)', () => {
  const hosts = makeHosts(2, [3, 1]);
  const lb = new LeastRequestLb(hosts, lbOptions());
  const idle = tally(() => lb.choose(), 4000);
  assert.ok(Math.abs(idle.get(hosts[0]!.key)! - 3000) <= 2, `idle heavy host ${idle.get(hosts[0]!.key)}`);
  // Heavy host busy with 5 requests: 3/6 = 0.5 against 1/1 → the light host gets ~2/3.
  hosts[0]!.activeRequests = 5;
  const busy = tally(() => lb.choose(), 3000);
  const light = busy.get(hosts[1]!.key)! / 3000;
  assert.ok(Math.abs(light - 2 / 3) < 0.03, `light host share ${light}`);
});

test('a single host is always chosen; no hosts gives null', () => {
  const [h] = makeHosts(1);
  assert.equal(new LeastRequestLb([h!], lbOptions()).choose(), h);
  assert.equal(new LeastRequestLb([], lbOptions()).choose(), null);
});
