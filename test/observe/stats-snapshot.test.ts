// Stats snapshots across processes: counters and gauges summed, histograms merged bucket by bucket,
// names held by another kind or histograms with other bounds skipped and reported.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, StatsStore } from '../../src/observe/stats.js';
import { mergeStats, snapshotStats } from '../../src/observe/stats-snapshot.js';
import { prometheusText } from '../../src/observe/exposition.js';

function worker(rq: number, active: number, times: number[]): StatsStore {
  const s = new StatsStore();
  s.counter('http.in.downstream_rq_total', 'http_downstream_rq_total', { envoy_http_conn_manager_prefix: 'in' }).add(rq);
  s.gauge('http.in.downstream_rq_active', 'http_downstream_rq_active', { envoy_http_conn_manager_prefix: 'in' }).set(active);
  const h = s.histogram('http.in.downstream_rq_time', 'http_downstream_rq_time', { envoy_http_conn_manager_prefix: 'in' });
  for (const v of times) h.record(v);
  return s;
}

test('merging snapshots sums counters and gauges and merges histograms bucket-wise', () => {
  const a = worker(3, 1, [0.2, 7, 7]);
  const b = worker(4, 2, [7, 400, 99_999_999]);
  const merged = new StatsStore();
  // Snapshots are structured-clone safe (what crosses the IPC channel).
  for (const w of [a, b]) assert.deepEqual(mergeStats(merged, structuredClone(snapshotStats(w))), []);
  assert.equal(merged.value('http.in.downstream_rq_total'), 7);
  assert.equal(merged.value('http.in.downstream_rq_active'), 3);
  const h = merged.get('http.in.downstream_rq_time') as Histogram;
  const ha = a.get('http.in.downstream_rq_time') as Histogram;
  const hb = b.get('http.in.downstream_rq_time') as Histogram;
  assert.deepEqual(Array.from(h.counts), Array.from(ha.counts, (c, i) => c + hb.counts[i]!));
  assert.equal(h.count, 6);
  assert.equal(h.sum, ha.sum + hb.sum);
  assert.match(prometheusText(merged), /^envoy_http_downstream_rq_time_bucket\{envoy_http_conn_manager_prefix="in",le="10"\} 4$/m);
  assert.match(prometheusText(merged), /^envoy_http_downstream_rq_total\{envoy_http_conn_manager_prefix="in"\} 7$/m);
});

test('a name of another kind, a histogram with other bounds and skipped names are left out', () => {
  const merged = new StatsStore();
  merged.gauge('x');
  merged.histogram('h', 'h', {}, [1, 2]);
  const other = new StatsStore();
  other.counter('x').add(5);
  other.histogram('h', 'h', {}, [1, 2, 3]).record(1);
  other.counter('server.live').add(1);
  other.counter('y').add(2);
  assert.deepEqual(mergeStats(merged, snapshotStats(other), (n) => n.startsWith('server.')), ['h', 'x']);
  assert.equal(merged.value('x'), 0);
  assert.equal((merged.get('h') as Histogram).count, 0);
  assert.equal(merged.get('server.live'), undefined);
  assert.equal(merged.value('y'), 2);
});
