// MAGLEV: full, balanced tables; weights; consistency; limited disruption when a host goes away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MaglevLb, isPrime } from '../../../src/proxy/lb/maglev.js';
import { lbOptions, makeHosts } from './helpers.js';

function counts(table: ArrayLike<number>, n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (let s = 0; s < table.length; s++) c[table[s]!]!++;
  return c;
}

test('the table is full and equal-weight hosts own M/N slots (±1)', () => {
  const lb = new MaglevLb(makeHosts(10), lbOptions());
  const c = counts(lb.table, 10);
  assert.equal(c.reduce((a, b) => a + b, 0), 65537);
  assert.ok(Math.max(...c) - Math.min(...c) <= 1, `slot counts ${c}`);
});

test('weights 2:1 split the table 2:1', () => {
  const lb = new MaglevLb(makeHosts(2, [2, 1]), lbOptions());
  const c = counts(lb.table, 2);
  assert.ok(Math.abs(c[0]! / 65537 - 2 / 3) < 0.001, `slot counts ${c}`);
});

test('the same hash maps to the same host, also after a rebuild', () => {
  const hosts = makeHosts(5);
  const a = new MaglevLb(hosts, lbOptions()), b = new MaglevLb(hosts, lbOptions());
  for (let h = 0; h < 200000; h += 97) assert.equal(a.choose(h), b.choose(h));
});

test('removing one of 10 hosts changes few slots besides its own', () => {
  const hosts = makeHosts(10);
  const before = new MaglevLb(hosts, lbOptions());
  const after = new MaglevLb(hosts.filter((_, i) => i !== 3), lbOptions());
  let changed = 0;
  for (let s = 0; s < 65537; s++) if (before.choose(s) !== after.choose(s)) changed++;
  const frac = changed / 65537;
  assert.ok(frac >= 0.099 && frac < 0.2, `changed ${frac}`);
});

test('a small prime table works; a non-prime size is rejected', () => {
  const hosts = makeHosts(3);
  const lb = new MaglevLb(hosts, lbOptions(undefined, { maglev: { tableSize: 7 } }));
  assert.deepEqual(counts(lb.table, 3).sort(), [2, 2, 3]);
  assert.throws(() => new MaglevLb(hosts, lbOptions(undefined, { maglev: { tableSize: 65536 } })), /prime/);
  assert.equal(isPrime(65537), true);
  assert.equal(isPrime(1), false);
  assert.equal(new MaglevLb([], lbOptions()).choose(5), null);
});
