// Outlier detection (src/proxy/cluster/outlier.ts) on a real Cluster with a fake clock: consecutive
// 5xx / gateway / local-origin detectors, enforcement, ejection time, max_ejection_percent, EDS updates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../../../src/proxy/cluster/cluster.js';
import type { Host } from '../../../src/proxy/cluster/host.js';
import { StatsStore } from '../../../src/observe/stats.js';
import { OUTLIER_DETECTION_DEFAULTS } from '../../../src/envoy/outlier-detection.js';
import type { ClusterConfig, OutlierDetectionConfig } from '../../../src/proxy/config/types.js';
import { clusterConfig, endpoint, locality, simpleCluster } from './fixtures.js';

interface Rig { c: Cluster; store: StatsStore; clock: { now: number }; stat: (s: string) => number }

function rig(n: number, od: Partial<OutlierDetectionConfig>, over: Partial<ClusterConfig> = {}, random = () => 0): Rig {
  const store = new StatsStore();
  const clock = { now: 0 };
  const cfg = simpleCluster('web', n, { outlierDetection: { ...OUTLIER_DETECTION_DEFAULTS, ...od }, ...over });
  const c = new Cluster(cfg, store, { outlier: { now: () => clock.now, random, timer: false } });
  const stat = (s: string): number => {
    const name = `cluster.web.outlier_detection.${s}`;
    return s === 'ejections_active' ? store.gauge(name).value : store.counter(name).value;
  };
  return { c, store, clock, stat };
}

/** Hosts chooseHost returns over `n` picks. */
function picked(c: Cluster, n = 40): Set<string> {
  const s = new Set<string>();
  for (let i = 0; i < n; i++) s.add(c.chooseHost(null)!.key);
  return s;
}

const status = (r: Rig, h: Host, code: number, times = 1): void => {
  for (let i = 0; i < times; i++) r.c.outlier!.putHttpStatus(h, code);
};

test('a cluster without outlier_detection has no detector', (t) => {
  const c = new Cluster(simpleCluster('plain', 2), new StatsStore());
  t.after(() => c.close());
  assert.equal(c.outlier, null);
});

test('consecutive_5xx ejects on the Nth consecutive 5xx; a success in between resets the count', (t) => {
  const r = rig(2, { maxEjectionPercent: 50 });
  t.after(() => r.c.close());
  const [a, b] = r.c.hosts as Host[];
  status(r, a!, 500, 4);
  status(r, a!, 200);
  status(r, a!, 500, 4);
  assert.equal(a!.ejected, false);
  assert.deepEqual(picked(r.c), new Set([a!.key, b!.key]));
  status(r, a!, 500);
  assert.equal(a!.ejected, true);
  assert.deepEqual(picked(r.c), new Set([b!.key]));
  assert.equal(r.stat('ejections_active'), 1);
  assert.equal(r.stat('ejections_total'), 1);
  assert.equal(r.stat('ejections_enforced_total'), 1);
  assert.equal(r.stat('ejections_enforced_consecutive_5xx'), 1);
  assert.equal(r.stat('ejections_enforced_consecutive_gateway_failure'), 0);
  assert.equal(r.store.gauge('cluster.web.membership_healthy').value, 1);
});

test('gateway failures are detected but not enforced by default (enforcing 0); consecutive_5xx still ejects', (t) => {
  const r = rig(2, { consecutiveGatewayFailure: 2, consecutive5xx: 3, maxEjectionPercent: 50 });
  t.after(() => r.c.close());
  const a = r.c.hosts[0]!;
  status(r, a, 503, 2);
  assert.equal(a.ejected, false);
  assert.equal(r.stat('ejections_detected_consecutive_gateway_failure'), 1);
  assert.equal(r.stat('ejections_enforced_consecutive_gateway_failure'), 0);
  status(r, a, 503);
  assert.equal(a.ejected, true);
  assert.equal(r.stat('ejections_enforced_consecutive_5xx'), 1);
});

test('enforcing_consecutive_gateway_failure 100 ejects on 502/503/504; a 500 breaks the gateway run', (t) => {
  const r = rig(4, { consecutiveGatewayFailure: 2, enforcingConsecutiveGatewayFailure: 100, consecutive5xx: 100, maxEjectionPercent: 100 });
  t.after(() => r.c.close());
  const [a, b] = r.c.hosts as Host[];
  status(r, a!, 502);
  status(r, a!, 500);
  status(r, a!, 504);
  assert.equal(a!.ejected, false);
  status(r, a!, 503);
  assert.equal(a!.ejected, true);
  status(r, b!, 500, 5);
  assert.equal(b!.ejected, false);
  assert.equal(r.stat('ejections_enforced_consecutive_gateway_failure'), 1);
});

test('enforcing percentages below 100 eject only when the random draw falls under them', (t) => {
  let draw = 0.6;
  const r = rig(2, { consecutive5xx: 1, enforcingConsecutive5xx: 50, maxEjectionPercent: 100 }, {}, () => draw);
  t.after(() => r.c.close());
  const a = r.c.hosts[0]!;
  status(r, a, 500);
  assert.equal(a.ejected, false);
  assert.equal(r.stat('ejections_detected_consecutive_5xx'), 1);
  draw = 0.4;
  status(r, a, 500);
  assert.equal(a.ejected, true);
});

test('ejection lasts base_ejection_time × times ejected, capped at max_ejection_time, re-admitted by the sweep', (t) => {
  const r = rig(2, { consecutive5xx: 1, baseEjectionTimeMs: 1000, maxEjectionTimeMs: 2500, maxEjectionPercent: 50 });
  t.after(() => r.c.close());
  const [a, b] = r.c.hosts as Host[];
  const od = r.c.outlier!;
  status(r, a!, 500);
  r.clock.now = 999; od.tick();
  assert.equal(a!.ejected, true);
  r.clock.now = 1000; od.tick();
  assert.equal(a!.ejected, false);
  assert.equal(r.stat('ejections_active'), 0);
  assert.deepEqual(picked(r.c), new Set([a!.key, b!.key]));
  // Second ejection right away: 2 × base.
  status(r, a!, 500);
  r.clock.now = 2999; od.tick();
  assert.equal(a!.ejected, true);
  r.clock.now = 3000; od.tick();
  assert.equal(a!.ejected, false);
  // Third: 3 × base = 3 s, capped at 2.5 s.
  status(r, a!, 500);
  r.clock.now = 5499; od.tick();
  assert.equal(a!.ejected, true);
  r.clock.now = 5500; od.tick();
  assert.equal(a!.ejected, false);
  // The multiplier decays by one per sweep spent admitted: after enough sweeps, back to 1 × base.
  for (let i = 0; i < 3; i++) od.tick();
  status(r, a!, 500);
  r.clock.now = 6500; od.tick();
  assert.equal(a!.ejected, false);
});

test('max_ejection_percent: one host can always be ejected; more only while the ejected share is below it', (t) => {
  const ten = rig(4, { consecutive5xx: 1, maxEjectionPercent: 10 });
  t.after(() => ten.c.close());
  const [a, b] = ten.c.hosts as Host[];
  status(ten, a!, 500);
  status(ten, b!, 500);
  assert.deepEqual([a!.ejected, b!.ejected], [true, false]);
  assert.equal(ten.stat('ejections_overflow'), 1);
  assert.equal(ten.stat('ejections_active'), 1);

  const half = rig(4, { consecutive5xx: 1, maxEjectionPercent: 50 });
  t.after(() => half.c.close());
  for (const h of half.c.hosts) status(half, h, 500);
  assert.deepEqual(half.c.hosts.map((h) => h.ejected), [true, true, false, false]);

  const none = rig(4, { consecutive5xx: 1, maxEjectionPercent: 0 });
  t.after(() => none.c.close());
  status(none, none.c.hosts[0]!, 500);
  assert.equal(none.c.hosts[0]!.ejected, false);
});

test('split_external_local_origin_errors: local-origin failures count on their own; otherwise they count as 503/504', (t) => {
  const split = rig(2, { consecutive5xx: 2, consecutiveLocalOriginFailure: 3, splitExternalLocalOriginErrors: true, maxEjectionPercent: 50 });
  t.after(() => split.c.close());
  const a = split.c.hosts[0]!;
  const od = split.c.outlier!;
  od.putLocalOrigin(a, 'connect-failed');
  od.putLocalOrigin(a, 'reset');
  status(split, a, 500); // an answer resets the local-origin run, and counts one 5xx
  od.putLocalOrigin(a, 'timeout');
  od.putLocalOrigin(a, 'connect-failed');
  assert.equal(a.ejected, false);
  od.putLocalOrigin(a, 'connect-failed');
  assert.equal(a.ejected, true);
  assert.equal(split.stat('ejections_enforced_consecutive_local_origin_failure'), 1);
  assert.equal(split.stat('ejections_detected_consecutive_5xx'), 0);

  const lumped = rig(2, { consecutive5xx: 2, maxEjectionPercent: 50 });
  t.after(() => lumped.c.close());
  const x = lumped.c.hosts[0]!;
  lumped.c.outlier!.putLocalOrigin(x, 'connect-failed');
  lumped.c.outlier!.putLocalOrigin(x, 'timeout');
  assert.equal(x.ejected, true);
  assert.equal(lumped.stat('ejections_enforced_consecutive_5xx'), 1);
  assert.equal(lumped.stat('ejections_detected_consecutive_gateway_failure'), 0); // 2 of 5
});

test('ejecting every host of a level puts it in panic: all hosts are used again, as in Envoy', (t) => {
  const r = rig(2, { consecutive5xx: 1, maxEjectionPercent: 100 });
  t.after(() => r.c.close());
  for (const h of r.c.hosts) status(r, h, 500);
  assert.deepEqual(r.c.hosts.map((h) => h.ejected), [true, true]);
  assert.equal(picked(r.c).size, 2);
  assert.ok(r.store.counter('cluster.web.lb_healthy_panic').value > 0);
});

test('an EDS update keeps the ejection of surviving hosts and forgets removed ones', (t) => {
  const eds = (...last: number[]): ClusterConfig => clusterConfig('web', [locality(last.map((n) => endpoint(`10.0.0.${n}`, 80)))], {
    type: 'EDS', eds: { serviceName: 'web', configSource: { initialFetchTimeoutMs: 15000 } },
    outlierDetection: { ...OUTLIER_DETECTION_DEFAULTS, consecutive5xx: 1, maxEjectionPercent: 100 },
  });
  const store = new StatsStore();
  const c = new Cluster(eds(1, 2, 3), store, { outlier: { timer: false } });
  t.after(() => c.close());
  const [a, b] = c.hosts as Host[];
  c.outlier!.putHttpStatus(a!, 500);
  c.outlier!.putHttpStatus(b!, 500);
  assert.equal(c.outlier!.activeEjections, 2);
  c.updateLoadAssignment(eds(1, 3, 4));
  assert.equal(c.hosts[0], a);
  assert.equal(a!.ejected, true);
  assert.equal(c.outlier!.activeEjections, 1);
  assert.equal(store.gauge('cluster.web.outlier_detection.ejections_active').value, 1);
  const keys = new Set<string>();
  for (let i = 0; i < 30; i++) keys.add(c.chooseHost(null)!.key);
  assert.deepEqual(keys, new Set(['10.0.0.3:80', '10.0.0.4:80']));
});

test('close() stops the sweep and takes this cluster out of the ejections_active gauge', () => {
  const r = rig(2, { consecutive5xx: 1, maxEjectionPercent: 50 });
  status(r, r.c.hosts[0]!, 500);
  assert.equal(r.stat('ejections_active'), 1);
  r.c.close();
  assert.equal(r.stat('ejections_active'), 0);
});

test('TCP connect outcomes: a successful connect breaks a run of connect failures', (t) => {
  const r = rig(2, { consecutive5xx: 2, maxEjectionPercent: 50 });
  t.after(() => r.c.close());
  const a = r.c.hosts[0]!;
  const od = r.c.outlier!;
  od.putLocalOrigin(a, 'connect-failed');
  od.putConnectSuccess(a);
  od.putLocalOrigin(a, 'connect-failed');
  assert.equal(a.ejected, false);
  od.putLocalOrigin(a, 'connect-failed');
  assert.equal(a.ejected, true);
});
