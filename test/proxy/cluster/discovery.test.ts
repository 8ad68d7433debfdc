// STRICT_DNS and LOGICAL_DNS clusters against a scripted resolver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../../../src/proxy/cluster/cluster.js';
import type { Host } from '../../../src/proxy/cluster/host.js';
import { StatsStore } from '../../../src/observe/stats.js';
import { FakeResolver, clusterConfig, deferred, endpoint, locality, nextHostsChange } from './fixtures.js';

function strictDns(over = {}) {
  return clusterConfig('dns', [
    locality([endpoint('web.local', 8080, 2)], { priority: 0 }),
    locality([endpoint('backup.local', 9090)], { priority: 1 }),
  ], { type: 'STRICT_DNS', dnsRefreshRateMs: 60000, ...over });
}

test('STRICT_DNS: start waits for the first answers; every address becomes a host', async (t) => {
  const resolver = new FakeResolver().set('web.local', ['10.0.0.1', '10.0.0.2']).set('backup.local', ['10.0.9.1']);
  const gate = deferred();
  resolver.gate = gate.promise;
  const c = new Cluster(strictDns({ dnsLookupFamily: 'V4_ONLY' }), new StatsStore(), { resolver });
  t.after(() => c.close());
  const started = c.start();
  assert.equal(c.hosts.length, 0);
  assert.equal(c.chooseHost(null), null);
  gate.resolve();
  await started;
  assert.deepEqual(c.hosts.map((h) => `${h.key} w${h.weight} p${h.priority} ${h.hostname}`),
    ['10.0.0.1:8080 w2 p0 web.local', '10.0.0.2:8080 w2 p0 web.local', '10.0.9.1:9090 w1 p1 backup.local']);
  assert.deepEqual(resolver.calls.map((q) => q.family), ['V4_ONLY', 'V4_ONLY']);
  assert.equal(c.stats.update_attempt.value, 2);
  assert.equal(c.stats.update_success.value, 2);
  assert.equal(c.stats.membership_total.value, 3);
  assert.notEqual(c.chooseHost(null), null);
});

test('STRICT_DNS: a changed answer updates membership, keeping surviving Host objects', async (t) => {
  const resolver = new FakeResolver().set('web.local', ['10.0.0.1', '10.0.0.2']).set('backup.local', ['10.0.9.1']);
  const c = new Cluster(strictDns(), new StatsStore(), { resolver });
  t.after(() => c.close());
  await c.start();
  const kept = c.hosts[1]!;
  const changes: [string[], string[]][] = [];
  c.onHostsChanged((added, removed) => changes.push([added.map((h) => h.key), removed.map((h) => h.key)]));

  resolver.set('web.local', ['10.0.0.2', '10.0.0.3']);
  await c.resolveNow();
  assert.deepEqual(changes, [[['10.0.0.3:8080'], ['10.0.0.1:8080']]]);
  assert.deepEqual(c.hosts.map((h) => h.key), ['10.0.0.2:8080', '10.0.0.3:8080', '10.0.9.1:9090']);
  assert.equal(c.hosts[0], kept);
  assert.equal(c.stats.membership_change.value, 2);

  // Same answers again: nothing changes.
  await c.resolveNow();
  assert.equal(changes.length, 1);
  assert.equal(c.stats.update_no_rebuild.value, 1);
});

test('STRICT_DNS: a failed resolution keeps the previous hosts and counts update_failure', async (t) => {
  const resolver = new FakeResolver().set('web.local', ['10.0.0.1']).set('backup.local', ['10.0.9.1']);
  const c = new Cluster(strictDns(), new StatsStore(), { resolver });
  t.after(() => c.close());
  await c.start();
  const before = [...c.hosts];
  resolver.set('web.local', new Error('SERVFAIL'));
  await c.resolveNow();
  assert.deepEqual(c.hosts, before);
  assert.equal(c.stats.update_failure.value, 1);
  assert.equal(c.stats.update_success.value, 3);
});

test('STRICT_DNS: a first resolution that fails still completes start, with no hosts', async (t) => {
  const resolver = new FakeResolver();
  const c = new Cluster(clusterConfig('d', [locality([endpoint('nowhere.local', 80)])], { type: 'STRICT_DNS' }),
    new StatsStore(), { resolver });
  t.after(() => c.close());
  await c.start();
  assert.equal(c.hosts.length, 0);
  assert.equal(c.chooseHost(null), null);
  assert.equal(c.stats.update_failure.value, 1);
});

test('STRICT_DNS: names are re-resolved every dns_refresh_rate', async (t) => {
  const resolver = new FakeResolver().set('web.local', ['10.0.0.1']);
  const c = new Cluster(clusterConfig('d', [locality([endpoint('web.local', 80)])], { type: 'STRICT_DNS', dnsRefreshRateMs: 50 }),
    new StatsStore(), { resolver });
  t.after(() => c.close());
  await c.start();
  const changed = nextHostsChange(c); // holds the event loop: the refresh timer itself is unref'd
  resolver.set('web.local', ['10.0.0.7']);
  const [added] = await changed; // the timer's round, no manual refresh
  assert.deepEqual(added.map((h) => h.key), ['10.0.0.7:80']);
  assert.deepEqual(c.hosts.map((h) => h.key), ['10.0.0.7:80']);
});

test('STRICT_DNS: IP literals need no resolver; close stops resolution', async () => {
  const resolver = new FakeResolver().set('web.local', ['10.0.0.1']);
  const c = new Cluster(clusterConfig('d', [locality([endpoint('192.0.2.1', 80), endpoint('web.local', 81)])], { type: 'STRICT_DNS' }),
    new StatsStore(), { resolver });
  await c.start();
  assert.deepEqual(c.hosts.map((h) => h.key), ['192.0.2.1:80', '10.0.0.1:81']);
  assert.equal(resolver.calls.length, 1);
  c.close();
  await c.resolveNow();
  assert.equal(resolver.calls.length, 1);
});

test('LOGICAL_DNS: only the first address is used; a new first address replaces the host', async (t) => {
  const resolver = new FakeResolver().set('api.local', ['10.0.0.1', '10.0.0.2']);
  const c = new Cluster(clusterConfig('l', [locality([endpoint('api.local', 443, 3)], { priority: 0 })], { type: 'LOGICAL_DNS' }),
    new StatsStore(), { resolver });
  t.after(() => c.close());
  await c.start();
  assert.deepEqual(c.hosts.map((h) => h.key), ['10.0.0.1:443']);
  assert.equal(c.hosts[0]!.hostname, 'api.local');
  assert.equal(c.hosts[0]!.weight, 3);
  const first = c.hosts[0]!;

  resolver.set('api.local', ['10.0.0.1', '10.0.0.9']);
  await c.resolveNow();
  assert.equal(c.hosts[0], first, 'same first address: same host');

  const changes: [Host[], Host[]][] = [];
  c.onHostsChanged((a, r) => changes.push([a, r]));
  resolver.set('api.local', ['10.0.0.5']);
  await c.resolveNow();
  assert.equal(changes.length, 1);
  assert.deepEqual(changes[0]![0].map((h) => h.key), ['10.0.0.5:443']);
  assert.deepEqual(changes[0]![1], [first]);
  assert.equal(c.chooseHost(null)!.key, '10.0.0.5:443');

  resolver.set('api.local', new Error('timeout'));
  await c.resolveNow();
  assert.equal(c.chooseHost(null)!.key, '10.0.0.5:443');
  assert.equal(c.stats.update_failure.value, 1);
});
