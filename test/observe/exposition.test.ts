// Tests for /stats text and JSON and the Prometheus text exposition (src/observe/exposition.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatsStore } from '../../src/observe/stats.js';
import { escapeLabelValue, prometheusText, statsJson, statsText } from '../../src/observe/exposition.js';

interface Sample { name: string; labels: Record<string, string>; value: number }
interface Family { type: string; samples: Sample[] }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * A strict reader of the Prometheus text format 0.0.4: every line is `# TYPE`/`# HELP`, or
 * `name{labels} value`; one TYPE per family, given before its samples; a family's samples contiguous.
 */
function parseExposition(text: string): Map<string, Family> {
  assert.ok(text === '' || text.endsWith('\n'), 'output ends with a newline');
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  let current: string | null = null;
  const familyOf = (sample: string, type: string | undefined): string => {
    for (const suffix of ['_bucket', '_sum', '_count']) {
      if (sample.endsWith(suffix)) {
        const base = sample.slice(0, -suffix.length);
        if (families.get(base)?.type === 'histogram') return base;
      }
    }
    void type;
    return sample;
  };
  for (const line of text.split('\n').slice(0, -1)) {
    if (line.startsWith('#')) {
      const m = /^# (TYPE|HELP) (\S+) (.*)$/.exec(line);
      assert.ok(m, `bad comment line: ${line}`);
      if (m[1] === 'TYPE') {
        const name = m[2]!;
        assert.match(name, NAME);
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3]!), `bad type in ${line}`);
        assert.ok(!families.has(name), `second TYPE for ${name}`);
        if (current !== null) closed.add(current);
        families.set(name, { type: m[3]!, samples: [] });
        current = name;
      }
      continue;
    }
    const m = /^([^{\s]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `bad sample line: ${JSON.stringify(line)}`);
    const name = m[1]!;
    assert.match(name, NAME);
    const labels: Record<string, string> = {};
    if (m[2] !== undefined && m[2] !== '') {
      const re = /([^=,]+)="((?:[^"\\]|\\[\\"n])*)"(,|$)/y;
      let pos = 0;
      while (pos < m[2].length) {
        re.lastIndex = pos;
        const lm = re.exec(m[2]);
        assert.ok(lm, `bad labels in ${line}`);
        assert.match(lm[1]!, LABEL);
        assert.ok(!(lm[1]! in labels), `repeated label in ${line}`);
        labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
        pos = re.lastIndex;
      }
    }
    const v = m[3]!;
    assert.ok(/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$|^(NaN|[+-]Inf)$/.test(v), `bad value in ${line}`);
    const fam = familyOf(name, undefined);
    assert.equal(fam, current, `sample ${name} outside its family block (current ${current})`);
    assert.ok(!closed.has(fam), `family ${fam} is not contiguous`);
    families.get(fam)!.samples.push({ name, labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
  }
  return families;
}

function fixture(): StatsStore {
  const s = new StatsStore();
  s.counter('cluster.web.upstream_rq_total', 'cluster_upstream_rq_total', { envoy_cluster_name: 'web' }).add(5);
  s.gauge('server.live', 'server_live').set(1);
  s.counter('http.ingress.downstream_rq_total', 'http_downstream_rq_total', { envoy_http_conn_manager_prefix: 'ingress' }).add(3);
  const h = s.histogram('cluster.web.upstream_rq_time', 'cluster_upstream_rq_time', { envoy_cluster_name: 'web' });
  for (const v of [0.3, 3, 3, 70, 20000]) h.record(v);
  s.histogram('cluster.idle.upstream_rq_time', 'cluster_upstream_rq_time', { envoy_cluster_name: 'idle' });
  // Same family created later, after other stats: must still be grouped with its siblings.
  s.counter('cluster.api.upstream_rq_total', 'cluster_upstream_rq_total', { envoy_cluster_name: 'api' }).add(2);
  s.gauge('cluster.web.membership_healthy', 'cluster_membership_healthy', { envoy_cluster_name: 'web' }).set(-2);
  s.counter('unused.rq_total');
  return s;
}

test('Prometheus output parses strictly: one TYPE per family, contiguous families, envoy_ prefix', () => {
  const fams = parseExposition(prometheusText(fixture()));
  assert.deepEqual([...fams.keys()], [
    'envoy_cluster_membership_healthy', 'envoy_cluster_upstream_rq_time', 'envoy_cluster_upstream_rq_total',
    'envoy_http_downstream_rq_total', 'envoy_server_live', 'envoy_unused_rq_total',
  ]);
  const total = fams.get('envoy_cluster_upstream_rq_total')!;
  assert.equal(total.type, 'counter');
  assert.deepEqual(total.samples.map((x) => [x.labels.envoy_cluster_name, x.value]), [['api', 2], ['web', 5]]);
  assert.equal(fams.get('envoy_cluster_membership_healthy')!.samples[0]!.value, -2);
  assert.deepEqual(fams.get('envoy_server_live')!.samples, [{ name: 'envoy_server_live', labels: {}, value: 1 }]);
});

test('histograms: cumulative buckets ending in +Inf, then _sum and _count, per label set', () => {
  const fam = parseExposition(prometheusText(fixture())).get('envoy_cluster_upstream_rq_time')!;
  assert.equal(fam.type, 'histogram');
  const web = fam.samples.filter((x) => x.labels.envoy_cluster_name === 'web');
  const buckets = web.filter((x) => x.name.endsWith('_bucket'));
  assert.equal(buckets.at(-1)!.labels.le, '+Inf');
  assert.equal(buckets.at(-1)!.value, 5);
  const byLe = Object.fromEntries(buckets.map((b) => [b.labels.le, b.value]));
  assert.equal(byLe['0.5'], 1);
  assert.equal(byLe['5'], 3);
  assert.equal(byLe['100'], 4);
  assert.equal(byLe['10000'], 4);
  assert.equal(byLe['30000'], 5);
  for (let k = 1; k < buckets.length; k++) assert.ok(buckets[k]!.value >= buckets[k - 1]!.value, 'cumulative');
  assert.equal(web.find((x) => x.name.endsWith('_sum'))!.value, 0.3 + 3 + 3 + 70 + 20000);
  assert.equal(web.find((x) => x.name.endsWith('_count'))!.value, 5);
  const idle = fam.samples.filter((x) => x.labels.envoy_cluster_name === 'idle');
  assert.equal(idle.find((x) => x.name.endsWith('_count'))!.value, 0);
  // The idle block comes first (label sets sorted) and the blocks do not interleave.
  assert.equal(fam.samples[0]!.labels.envoy_cluster_name, 'idle');
});

test('label values are escaped and label names sorted; odd characters in names are sanitized', () => {
  const s = new StatsStore();
  s.counter('x.a', 'weird.name-with/chars', { zeta: 'z', alpha: 'back\\slash "quoted"\nnewline', '0bad-label': 'v' }).inc();
  const text = prometheusText(s);
  assert.match(text, /^# TYPE envoy_weird_name_with_chars counter\n/);
  assert.match(text, /\{_0bad_label="v",alpha="back\\\\slash \\"quoted\\"\\nnewline",zeta="z"\} 1\n$/);
  const fam = parseExposition(text).get('envoy_weird_name_with_chars')!;
  assert.equal(fam.samples[0]!.labels.alpha, 'back\\slash "quoted"\nnewline');
  assert.equal(escapeLabelValue('plain'), 'plain');
});

test('stats whose promName clashes with another type, or repeats a label set, are left out', () => {
  const s = new StatsStore();
  s.counter('a.one', 'dup', { k: 'v' }).inc();
  s.counter('a.two', 'dup', { k: 'v' }).add(9);
  s.gauge('b.gauge', 'dup', { k: 'w' }).set(3);
  const fams = parseExposition(prometheusText(s));
  assert.deepEqual(fams.get('envoy_dup'), { type: 'counter', samples: [{ name: 'envoy_dup', labels: { k: 'v' }, value: 1 }] });
});

test('filter and usedonly narrow Prometheus output by dotted name', () => {
  const fams = parseExposition(prometheusText(fixture(), /^cluster\.web\./, true));
  assert.deepEqual([...fams.keys()], ['envoy_cluster_membership_healthy', 'envoy_cluster_upstream_rq_time', 'envoy_cluster_upstream_rq_total']);
  assert.equal(prometheusText(new StatsStore()), '');
});

test('/stats text: sorted name: value lines, then histograms with percentiles', () => {
  const lines = statsText(fixture()).trimEnd().split('\n');
  assert.deepEqual(lines.slice(0, 6), [
    'cluster.api.upstream_rq_total: 2',
    'cluster.web.membership_healthy: -2',
    'cluster.web.upstream_rq_total: 5',
    'http.ingress.downstream_rq_total: 3',
    'server.live: 1',
    'unused.rq_total: 0',
  ]);
  assert.equal(lines[6], 'cluster.idle.upstream_rq_time: No recorded values');
  assert.match(lines[7]!, /^cluster\.web\.upstream_rq_time: P0\(nan,[\d.]+\) P25\(nan,[\d.]+\) P50\(nan,[\d.]+\) P75\(nan,[\d.]+\) P90\(nan,[\d.]+\) P95\(nan,[\d.]+\) P99\(nan,[\d.]+\) P99\.5\(nan,[\d.]+\) P99\.9\(nan,[\d.]+\) P100\(nan,[\d.]+\)$/);
  assert.equal(lines.length, 8);
  assert.deepEqual(statsText(fixture(), /rq_total/, true).trimEnd().split('\n'), [
    'cluster.api.upstream_rq_total: 2', 'cluster.web.upstream_rq_total: 5', 'http.ingress.downstream_rq_total: 3',
  ]);
});

test('/stats JSON: {stats:[{name,value}…, {histograms}]}', () => {
  const j = statsJson(fixture()) as { stats: Array<Record<string, unknown>> };
  assert.deepEqual(j.stats[0], { name: 'cluster.api.upstream_rq_total', value: 2 });
  const h = j.stats.at(-1)!.histograms as { supported_quantiles: number[]; computed_quantiles: Array<{ name: string; values: Array<{ interval: null; cumulative: number | null }> }> };
  assert.equal(h.supported_quantiles.length, 10);
  assert.deepEqual(h.computed_quantiles.map((q) => q.name), ['cluster.idle.upstream_rq_time', 'cluster.web.upstream_rq_time']);
  assert.equal(h.computed_quantiles[0]!.values[0]!.cumulative, null);
  assert.equal(typeof h.computed_quantiles[1]!.values[5]!.cumulative, 'number');
  assert.deepEqual(statsJson(new StatsStore()), { stats: [] });
});

test('promtool accepts the output when it is installed (skipped otherwise)', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const bin = process.env.PROMTOOL ?? 'promtool';
  const r = spawnSync(bin, ['check', 'metrics'], { input: prometheusText(fixture()), encoding: 'utf8' });
  if (r.error !== undefined) { t.skip(`${bin} not found (Debian: apt-get install prometheus, or set PROMTOOL)`); return; }
  // Exit 3 means lint findings only; Envoy exports no HELP text, so that one finding is expected.
  const findings = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '' && !/no help text/.test(l));
  assert.deepEqual(findings, []);
  assert.ok(r.status === 0 || r.status === 3, `promtool exit ${r.status}`);
});
