// ClusterManager.update: keeps unchanged clusters, warms and swaps changed ones, closes removed ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterManager } from '../../../src/proxy/cluster/manager.js';
import type { Cluster } from '../../../src/proxy/cluster/cluster.js';
import { StatsStore } from '../../../src/observe/stats.js';
import { FakeResolver, clusterConfig, deferred, endpoint, locality, simpleCluster } from './fixtures.js';

test('identical configs keep the same Cluster; changed ones are rebuilt; missing ones are removed', async (t) => {
  const m = new ClusterManager(new StatsStore());
  t.after(() => m.close());
  const first = await m.update([simpleCluster('a', 2), simpleCluster('b', 2), simpleCluster('c', 1)]);
  assert.deepEqual(first, { added: ['a', 'b', 'c'], modified: [], removed: [], kept: [] });
  const a = m.get('a')!, b = m.get('b')!, c = m.get('c')!;
  a.hosts[0]!.pool = 'pool-of-a';
  const removed: Cluster[] = [];
  m.onClusterRemoved((x) => removed.push(x));

  // Fresh (deep-equal) objects for a; b gets a third host; c disappears; d is new.
  const second = await m.update([simpleCluster('a', 2), simpleCluster('b', 3), simpleCluster('d', 1)]);
  assert.deepEqual(second, { added: ['d'], modified: ['b'], removed: ['c'], kept: ['a'] });
  assert.equal(m.get('a'), a, 'unchanged cluster is the same object');
  assert.equal(m.get('a')!.hosts[0]!.pool, 'pool-of-a');
  assert.notEqual(m.get('b'), b);
  assert.equal(m.get('b')!.hosts.length, 3);
  assert.equal(m.get('c'), undefined);
  assert.deepEqual(removed, [b, c]);
  assert.equal(b.isClosed, true);
  assert.equal(c.isClosed, true);
  assert.equal(a.isClosed, false);
  assert.deepEqual(m.all().map((x) => x.name), ['a', 'b', 'd']);
});

test('a changed DNS cluster replaces the old one only after its first resolution', async (t) => {
  const resolver = new FakeResolver().set('svc.local', ['10.0.0.1']);
  const m = new ClusterManager(new StatsStore(), { resolver });
  t.after(() => m.close());
  const dns = (port: number) => clusterConfig('svc', [locality([endpoint('svc.local', port)])], { type: 'STRICT_DNS', dnsRefreshRateMs: 60000 });
  await m.update([dns(80)]);
  const old = m.get('svc')!;
  assert.deepEqual(old.hosts.map((h) => h.key), ['10.0.0.1:80']);

  const gate = deferred();
  resolver.gate = gate.promise;
  const asked = resolver.nextCall();
  const pending = m.update([dns(81)]);
  await asked;
  assert.equal(m.get('svc'), old, 'still the old cluster while the new one warms');
  gate.resolve();
  const r = await pending;
  assert.deepEqual(r.modified, ['svc']);
  assert.deepEqual(m.get('svc')!.hosts.map((h) => h.key), ['10.0.0.1:81']);
  assert.equal(old.isClosed, true);
});

test('updates apply in order; a bad config rejects the whole update and keeps the current set', async (t) => {
  const m = new ClusterManager(new StatsStore());
  t.after(() => m.close());
  const u1 = m.update([simpleCluster('a', 1)]);
  const u2 = m.update([simpleCluster('a', 1), simpleCluster('b', 1)]);
  assert.deepEqual((await u1).added, ['a']);
  assert.deepEqual(await u2, { added: ['b'], modified: [], removed: [], kept: ['a'] });
  const before = m.all();
  await assert.rejects(m.update([simpleCluster('a', 1), simpleCluster('m', 2, { lbPolicy: 'MAGLEV', maglev: { tableSize: 100 } })]), /prime/);
  await assert.rejects(m.update([simpleCluster('x', 1), simpleCluster('x', 2)]), /duplicate/);
  assert.deepEqual(m.all(), before);
});

test('close closes every cluster and refuses further updates', async () => {
  const resolver = new FakeResolver().set('svc.local', ['10.0.0.1']);
  const m = new ClusterManager(new StatsStore(), { resolver });
  await m.update([clusterConfig('svc', [locality([endpoint('svc.local', 80)])], { type: 'STRICT_DNS' })]);
  const c = m.get('svc')!;
  m.close();
  assert.equal(c.isClosed, true);
  assert.equal(m.all().length, 0);
  await assert.rejects(m.update([]), /closed/);
});
