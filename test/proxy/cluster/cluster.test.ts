// Cluster host selection: priorities, panic threshold, health refresh, locality weights, policies, stats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../../../src/proxy/cluster/cluster.js';
import type { Host } from '../../../src/proxy/cluster/host.js';
import { seededRandom } from '../../../src/proxy/lb/rng.js';
import { Counter, StatsStore } from '../../../src/observe/stats.js';
import { clusterConfig, endpoint, locality, simpleCluster } from './fixtures.js';

const zero = () => 0;

function tally(c: Cluster, n: number, hashOf: (i: number) => number | null = () => null): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const h = c.chooseHost(hashOf(i));
    const k = h === null ? 'null' : h.key;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

test('STATIC hosts are ordered by priority, keyed address:port ([v6]:port), healthy from health_status', async () => {
  const cfg = clusterConfig('web', [
    locality([endpoint('10.0.1.1', 81), endpoint('::1', 8080, 1, 'UNHEALTHY')], { priority: 1 }),
    locality([endpoint('10.0.0.1', 80, 5), endpoint('10.0.0.2', 80, 1, 'HEALTHY')], { priority: 0, region: 'eu' }),
  ]);
  const c = new Cluster(cfg, new StatsStore());
  await c.start();
  assert.deepEqual(c.hosts.map((h) => h.key), ['10.0.0.1:80', '10.0.0.2:80', '10.0.1.1:81', '[::1]:8080']);
  assert.deepEqual(c.hosts.map((h) => h.healthy), [true, true, true, false]);
  assert.deepEqual(c.hostsByPriority().map((l) => l.length), [2, 2]);
  const h0 = c.hosts[0]!;
  assert.equal(h0.weight, 5);
  assert.equal(h0.priority, 0);
  assert.deepEqual(h0.locality, { region: 'eu', zone: '', subZone: '' });
  assert.equal(h0.hostname, '');
  assert.equal(h0.pool, null);
  assert.equal(h0.activeRequests, 0);
  assert.equal(c.stats.membership_total.value, 4);
  assert.equal(c.stats.membership_healthy.value, 3);
  c.close();
});

test('round robin over a healthy priority 0', () => {
  const c = new Cluster(simpleCluster('web', 3), new StatsStore(), { random: zero });
  assert.deepEqual([0, 1, 2, 3].map(() => c.chooseHost(null)!.key), ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.1:80']);
});

test('P0 half healthy keeps 70% of traffic; 30% fails over to P1 (overprovisioning 1.4)', () => {
  const cfg = clusterConfig('web', [
    locality([endpoint('10.0.0.1', 80), endpoint('10.0.0.2', 80), endpoint('10.0.0.3', 80, 1, 'UNHEALTHY'),
      endpoint('10.0.0.4', 80, 1, 'UNHEALTHY')], { priority: 0 }),
    locality([endpoint('10.0.1.1', 80), endpoint('10.0.1.2', 80)], { priority: 1 }),
  ]);
  // A random source cycling through 0.00, 0.01, ... 0.99: 100 picks see every percent once.
  let k = 0;
  const c = new Cluster(cfg, new StatsStore(), { random: () => (k++ % 100) / 100 });
  const counts = tally(c, 100);
  const p0 = (counts.get('10.0.0.1:80') ?? 0) + (counts.get('10.0.0.2:80') ?? 0);
  const p1 = (counts.get('10.0.1.1:80') ?? 0) + (counts.get('10.0.1.2:80') ?? 0);
  assert.equal(p0, 70);
  assert.equal(p1, 30);
  assert.equal(counts.get('10.0.0.3:80'), undefined);
  assert.equal(c.stats.lb_healthy_panic.value, 0);

  // With random priority choice the split holds statistically.
  const r = new Cluster(cfg, new StatsStore(), { random: seededRandom(1) });
  const rc = tally(r, 20000);
  const rp0 = ((rc.get('10.0.0.1:80') ?? 0) + (rc.get('10.0.0.2:80') ?? 0)) / 20000;
  assert.ok(Math.abs(rp0 - 0.7) < 0.02, `P0 share ${rp0}`);
});

test('hash policies pick the priority level from the hash', () => {
  const cfg = clusterConfig('web', [
    locality([endpoint('10.0.0.1', 80), endpoint('10.0.0.2', 80, 1, 'UNHEALTHY')], { priority: 0 }),
    locality([endpoint('10.0.1.1', 80)], { priority: 1 }),
  ], { lbPolicy: 'MAGLEV', maglev: { tableSize: 101 } });
  const c = new Cluster(cfg, new StatsStore());
  // P0 health 70: hash % 100 < 70 → P0.
  let p0 = 0;
  for (let h = 0; h < 1000; h++) if (c.chooseHost(h)!.priority === 0) { p0++; assert.ok(h % 100 < 70); }
  assert.equal(p0, 700);
});

test('a cluster whose hosts are all in a lower priority uses that level', () => {
  const c = new Cluster(clusterConfig('p2', [locality([endpoint('10.0.2.1', 80)], { priority: 2 })]), new StatsStore());
  assert.deepEqual(c.hostsByPriority().map((l) => l.length), [0, 0, 1]);
  assert.equal(c.chooseHost(null)!.key, '10.0.2.1:80');
});

test('below the panic threshold the level balances over all its hosts and counts lb_healthy_panic', () => {
  const cfg = clusterConfig('web', [locality([endpoint('10.0.0.1', 80), endpoint('10.0.0.2', 80, 1, 'UNHEALTHY'),
    endpoint('10.0.0.3', 80, 1, 'UNHEALTHY'), endpoint('10.0.0.4', 80, 1, 'UNHEALTHY')])]);
  const c = new Cluster(cfg, new StatsStore(), { random: zero });
  const counts = tally(c, 8);
  assert.equal(counts.size, 4, 'all four hosts, healthy or not');
  assert.equal(c.stats.lb_healthy_panic.value, 8);

  // 2 of 4 healthy = 50%, not below the 50% threshold: only healthy hosts.
  c.hosts[1]!.healthy = true;
  c.refreshHealth();
  assert.deepEqual([...tally(c, 8).keys()].sort(), ['10.0.0.1:80', '10.0.0.2:80']);
  assert.equal(c.stats.lb_healthy_panic.value, 8);
  assert.equal(c.stats.membership_healthy.value, 2);
});

test('with panic disabled and no healthy host, or with no host at all, chooseHost returns null', () => {
  const cfg = clusterConfig('web', [locality([endpoint('10.0.0.1', 80, 1, 'UNHEALTHY')])], { healthyPanicThresholdPercent: 0 });
  const c = new Cluster(cfg, new StatsStore());
  assert.equal(c.chooseHost(null), null);
  assert.equal(c.chooseHost(12345), null);
  const empty = new Cluster(clusterConfig('none', []), new StatsStore());
  assert.equal(empty.chooseHost(null), null);
  assert.deepEqual(empty.hostsByPriority(), []);
});

test('refreshHealth takes an unhealthy host out of rotation and is a no-op when nothing changed', () => {
  const c = new Cluster(simpleCluster('web', 4), new StatsStore(), { random: zero });
  assert.equal(c.chooseHost(null)!.key, '10.0.0.1:80');
  c.refreshHealth(); // nothing changed: the rotation continues
  assert.equal(c.chooseHost(null)!.key, '10.0.0.2:80');
  c.hosts[2]!.healthy = false;
  c.refreshHealth();
  const counts = tally(c, 300);
  assert.equal(counts.get('10.0.0.3:80'), undefined);
  assert.equal(counts.get('10.0.0.1:80'), 100);
  assert.equal(c.stats.membership_healthy.value, 3);
});

test('locality weights split traffic by weight × healthy share', () => {
  const cfg = clusterConfig('web', [
    locality([endpoint('10.0.0.1', 80)], { zone: 'a', weight: 1 }),
    locality([endpoint('10.0.1.1', 80), endpoint('10.0.1.2', 80)], { zone: 'b', weight: 3 }),
    locality([endpoint('10.0.2.1', 80)], { zone: 'c' }), // no weight: never picked while others have one
  ]);
  const c = new Cluster(cfg, new StatsStore(), { random: zero });
  const counts = tally(c, 400);
  assert.equal(counts.get('10.0.0.1:80'), 100);
  assert.equal(counts.get('10.0.1.1:80'), 150);
  assert.equal(counts.get('10.0.1.2:80'), 150);
  assert.equal(counts.get('10.0.2.1:80'), undefined);

  // Zone b half healthy: its effective weight is 3 × 0.7 = 2.1 against 1.
  c.hosts[2]!.healthy = false;
  c.refreshHealth();
  const after = tally(c, 3100);
  assert.ok(Math.abs(after.get('10.0.0.1:80')! - 1000) <= 1, `zone a ${after.get('10.0.0.1:80')}`);
  assert.ok(Math.abs(after.get('10.0.1.1:80')! - 2100) <= 1);
});

test('RING_HASH and MAGLEV: the same hash picks the same host; locality weights shape the ring', () => {
  for (const lbPolicy of ['RING_HASH', 'MAGLEV'] as const) {
    const c = new Cluster(simpleCluster('h', 5, { lbPolicy }), new StatsStore());
    for (let h = 0; h < 5000; h += 7) assert.equal(c.chooseHost(h * 2654435761 >>> 0), c.chooseHost(h * 2654435761 >>> 0));
    assert.notEqual(c.chooseHost(null), null);

    const cfg = clusterConfig('lw', [
      locality([endpoint('10.0.0.1', 80)], { zone: 'a', weight: 1 }),
      locality([endpoint('10.0.1.1', 80)], { zone: 'b', weight: 3 }),
    ], { lbPolicy });
    const w = new Cluster(cfg, new StatsStore());
    const rnd = seededRandom(4);
    const counts = tally(w, 20000, () => (rnd() * 4294967296) >>> 0);
    const a = counts.get('10.0.0.1:80')! / 20000;
    assert.ok(Math.abs(a - 0.25) < 0.06, `${lbPolicy}: zone a share ${a}`);
  }
});

test('a MAGLEV cluster with a non-prime table size is rejected', () => {
  assert.throws(() => new Cluster(simpleCluster('m', 2, { lbPolicy: 'MAGLEV', maglev: { tableSize: 1000 } }), new StatsStore()), /prime/);
});

test('LEAST_REQUEST avoids the busy host', () => {
  const c = new Cluster(simpleCluster('lr', 2, { lbPolicy: 'LEAST_REQUEST' }), new StatsStore(), { random: seededRandom(2) });
  c.hosts[0]!.activeRequests = 4;
  const counts = tally(c, 4000);
  assert.ok(counts.get('10.0.0.2:80')! > 2800, `idle host ${counts.get('10.0.0.2:80')}`);
});

test('RANDOM spreads over hosts', () => {
  const c = new Cluster(simpleCluster('r', 4, { lbPolicy: 'RANDOM' }), new StatsStore(), { random: seededRandom(8) });
  const counts = tally(c, 8000);
  for (const v of counts.values()) assert.ok(Math.abs(v - 2000) < 200);
});

test('cluster stats carry Envoy names, tag-extracted Prometheus names and the cluster label', () => {
  const store = new StatsStore();
  const c = new Cluster(simpleCluster('web', 1), store);
  c.stats.upstream_rq_total.inc();
  const s = store.get('cluster.web.upstream_rq_total') as Counter;
  assert.equal(s.promName, 'cluster_upstream_rq_total');
  assert.deepEqual(s.labels, { envoy_cluster_name: 'web' });
  assert.equal(s.value, 1);
  assert.equal(store.get('cluster.web.upstream_rq_active')!.constructor.name, 'Gauge');
  assert.equal(store.get('cluster.web.upstream_rq_time')!.constructor.name, 'Histogram');
  for (const n of ['upstream_cx_none_healthy', 'lb_healthy_panic', 'membership_change', 'update_attempt', 'update_success', 'update_failure']) {
    assert.ok(store.get(`cluster.web.${n}`) instanceof Counter, n);
  }
  assert.equal(c.stats.membership_change.value, 1, 'the initial population is a membership change');
});

test('rqStatus counts upstream_rq_<code> and upstream_rq_<N>xx as Envoy tag extraction names them', () => {
  const store = new StatsStore();
  const c = new Cluster(simpleCluster('web', 1), store);
  c.rqStatus(200);
  c.rqStatus(200);
  c.rqStatus(503);
  c.stats.rqStatus(204);
  c.rqStatus(42); // not an HTTP status: ignored
  const ok = store.get('cluster.web.upstream_rq_200') as Counter;
  assert.equal(ok.value, 2);
  assert.equal(ok.promName, 'cluster_upstream_rq');
  assert.deepEqual(Object.entries(ok.labels), [['envoy_response_code', '200'], ['envoy_cluster_name', 'web']]);
  const twoxx = store.get('cluster.web.upstream_rq_2xx') as Counter;
  assert.equal(twoxx.value, 3);
  assert.equal(twoxx.promName, 'cluster_upstream_rq_xx');
  assert.deepEqual(Object.entries(twoxx.labels), [['envoy_response_code_class', '2'], ['envoy_cluster_name', 'web']]);
  assert.equal((store.get('cluster.web.upstream_rq_5xx') as Counter).value, 1);
  assert.equal((store.get('cluster.web.upstream_rq_503') as Counter).value, 1);
  assert.equal(store.get('cluster.web.upstream_rq_42'), undefined);
});

test('hosts that survive are the same objects (pool slot and counters kept)', () => {
  const c = new Cluster(simpleCluster('web', 2), new StatsStore());
  const h: Host = c.hosts[0]!;
  h.pool = 'mine';
  h.healthy = false;
  c.refreshHealth();
  assert.equal(c.hosts[0], h);
  assert.equal(c.hosts[0]!.pool, 'mine');
});
