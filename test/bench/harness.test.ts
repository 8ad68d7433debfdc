// The `npm run bench` harness's parsing and arithmetic, without running a benchmark: the load
// generators' output (h2load, wrk, iperf3, peers.sh's table and cpu_us_per_req line), CPU µs per
// request from CPU use and rate, the per-scenario figures and the summary table built from them,
// `--only`/`--quick` parsing for every scenario, and how a partial run keeps earlier sections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  costComment,
  cpuUsPerUnit,
  medianCpuUs,
  parseCostComments,
  parseCpuLine,
  summaryRows,
  summaryText,
  SUMMARY_HEADER,
  type ScenarioCost,
} from '../../bench/lib/cost.js';
import { parseH2load, parseIperf3, parseWrk } from '../../bench/lib/loadgen.js';
import { ALL_SCENARIOS, parseOptions, scenarioNamed } from '../../bench/lib/options.js';
import { handWrittenSections, keepOtherSections } from '../../bench/lib/report.js';
import { PROTOCOL_SCENARIOS, type ProtocolResult } from '../../bench/scenarios/protocol-common.js';
import { protocolCost, renderProtocol } from '../../bench/scenarios/protocol-render.js';
import { parseTable, saturationCost, type SaturationResult } from '../../bench/scenarios/saturation.js';
import { fixedRateCost, type FixedRateScenarioResult } from '../../bench/scenarios/fixed-rate.js';

const H2LOAD = `starting benchmark...
finished in 2.00s, 8650.50 req/s, 1.23MB/s
requests: 17299 total, 17399 started, 17299 done, 17262 succeeded, 37 failed, 0 errored, 0 timeout
status codes: 17262 2xx, 0 3xx, 0 4xx, 37 5xx
traffic: 2.46MB (2579283) total, 340.51KB (348684) headers (space savings 90.12%), 1.02MB (1069560) data
                     min         max         mean         sd        +/- sd
time for request:      449us     98.31ms     11.25ms      6.21ms    71.23%
`;

test('h2load: rate and mean latency; a 5xx is one error, not two (it is in "failed" and in the status codes)', () => {
  const r = parseH2load({ code: 0, out: H2LOAD });
  assert.equal(r.value, 8650.5);
  assert.equal(r.meanMs, 11.25);
  assert.equal(r.errors, 37);
  assert.match(r.errorDetail ?? '', /37 failed/);
});

test('h2load: 3xx responses count as errors (h2load itself counts them as succeeded); no 2xx at all is a failed run', () => {
  const redirects = H2LOAD.replace('17262 2xx, 0 3xx', '17252 2xx, 10 3xx');
  assert.equal(parseH2load({ code: 0, out: redirects }).errors, 47);
  const none = H2LOAD.replace('17262 2xx', '0 2xx');
  const r = parseH2load({ code: 0, out: none });
  assert.equal(r.value, undefined);
  assert.match(r.error ?? '', /no 2xx/);
  assert.equal(parseH2load({ code: 1, out: 'connect error' }).value, undefined);
});

test('wrk: rate, percentiles in ms, socket errors', () => {
  const out = `Running 2s test @ http://127.0.0.1:18002/
  1 threads and 50 connections
  Latency Distribution
     50%  850.00us
     75%    2.00ms
     90%    3.10ms
     99%    1.20s
  39256 requests in 2.00s, 5.50MB read
  Socket errors: connect 0, read 3, write 1, timeout 0
Requests/sec:  19628.00
Transfer/sec:      2.75MB
`;
  const r = parseWrk({ code: 0, out });
  assert.equal(r.value, 19628);
  assert.equal(r.p50Ms, 0.85);
  assert.equal(r.p99Ms, 1200);
  assert.equal(r.errors, 4);
});

test('iperf3: MB/s received by the server', () => {
  const r = parseIperf3({ code: 0, out: JSON.stringify({ end: { sum_received: { bits_per_second: 8e9 } } }) });
  assert.equal(r.value, 1000);
  assert.equal(parseIperf3({ code: 1, out: '{"error":"unable to connect"}' }).value, undefined);
});

test('CPU µs per unit: cores ÷ rate, and the median over rounds of each round\'s own ratio', () => {
  assert.equal(cpuUsPerUnit(0.5, 10_000), 50);
  assert.equal(cpuUsPerUnit(1, 1000), 1000);
  assert.equal(cpuUsPerUnit(0.5, 0), undefined);
  assert.equal(cpuUsPerUnit(undefined, 100), undefined);
  // rounds: 100 µs, 50 µs, 80 µs → median 80 (not median(cpu) / median(rate) = 0.9 / 10000 = 90)
  assert.equal(medianCpuUs([1, 0.5, 0.8], [10_000, 10_000, 10_000]), 80);
  assert.equal(medianCpuUs([1, 0.9, 0.8], [10_000, undefined, 10_000]), 90);
});

const PEERS_SH = `target              rps    p50_ms    p99_ms   (median of 3 rounds, 8s each, 50 connections, 64-byte body)
direct            20639     2.340     4.620
nginx             19628     2.140     6.040
haproxy           22948     1.900     5.410
candidate         19200     2.040     6.210
cpu_us_per_req direct=0.00 nginx=39.31 haproxy=37.62 candidate=46.97
RESULT rps_vs_nginx=0.98 rps_vs_haproxy=0.84 p99_added_ms=1.590 rss_mb=66.6 cpu_us_per_req=46.97 cpu_vs_nginx=1.19
`;

test('peers.sh: the table and its cpu_us_per_req line (0 = not measured, as for direct)', () => {
  assert.deepEqual(parseCpuLine(PEERS_SH), { nginx: 39.31, haproxy: 37.62, candidate: 46.97 });
  assert.deepEqual(parseCpuLine('no such line'), {});
  const rows = parseTable(PEERS_SH, (name) => ({ direct: 9216, nginx: 9626, haproxy: 7270, candidate: 68198 })[name]);
  assert.equal(rows.length, 4);
  const cand = rows.find((r) => r.name === 'candidate')!;
  assert.deepEqual(cand, { name: 'candidate', rps: 19200, p50Ms: 2.04, p99Ms: 6.21, rssPeakKiB: 68198, cpuUsPerReq: 46.97 });
  assert.equal(rows.find((r) => r.name === 'direct')!.cpuUsPerReq, undefined);
  const sat: SaturationResult = {
    opts: { peersSh: 'peers.sh', cwd: '.', bodyBytes: 16384, rounds: 3, durationS: 8, connections: 50 },
    commands: [],
    rows,
    output: PEERS_SH,
    resultLine: undefined,
    notes: [],
  };
  const cost = saturationCost(sat, false);
  assert.equal(cost.key, 'a (16 KiB)');
  assert.equal(cost.rows.find((r) => r.role === 'nginx')!.cpuUs, 39.31);
});

function protocolResult(over: Partial<ProtocolResult> = {}): ProtocolResult {
  const target = (role: 'direct' | 'nginx' | 'haproxy' | 'candidate', port: number) => ({ role, label: role, port, roots: () => [] });
  const ok = (value: number, errors = 0) => ({ value, meanMs: 5, errors });
  return {
    id: 'd',
    title: 'd. test',
    short: 'h2c → HTTP/1.1',
    unit: 'req',
    intro: 'intro',
    metric: 'req/s',
    decimals: 0,
    latency: 'mean',
    pinned: true,
    rows: [
      { target: target('direct', 1), results: [ok(20_000), ok(20_000)], cpu: [0.6, 0.6], rssKiB: [9000, 9100] },
      { target: target('nginx', 2), results: [ok(20_000), ok(10_000)], cpu: [0.8, 0.6], rssKiB: [10_000, 10_240] },
      { target: target('haproxy', 3), results: [ok(20_000), ok(20_000, 3)], cpu: [0.5, 0.7], rssKiB: [8000, 8000] },
      { target: target('candidate', 4), results: [ok(8000), ok(6000)], cpu: [1, 0.9], rssKiB: [80_000, 90_000] },
    ],
    candidateError: undefined,
    goal: undefined,
    notes: [],
    setup: [],
    load: [],
    configs: {},
    candidateCmd: undefined,
    ...over,
  };
}

test('protocol scenarios: CPU µs per request, peak RSS and errors per target, and a section that carries them', () => {
  const r = protocolResult();
  const cost = protocolCost(r, true);
  assert.equal(cost.quick, true);
  const by = (role: string) => cost.rows.find((x) => x.role === role)!;
  assert.equal(by('nginx').cpuUs, 50); // rounds: 40 µs and 60 µs
  assert.equal(by('haproxy').cpuUs, 30); // 25 and 35
  assert.equal(by('haproxy').errors, 3);
  assert.equal(by('candidate').cpuUs, 137.5); // 125 and 150
  assert.equal(by('candidate').rssKiB, 90_000);
  assert.equal(by('candidate').rate, 7000);
  const text = renderProtocol(r, 2, 8, 1, true);
  assert.match(text, /\| target \| req\/s \| mean ms \| CPU \| CPU µs\/req \| CPU vs nginx \| CPU vs haproxy \|/);
  assert.match(text, /\| candidate \| 7,000 \| 5\.000 \| 0\.95 \| 137\.5 \| 2\.75 \| 4\.58 \| 0\.47 \| 0\.35 \| 87\.9 \| 0 \|/);
  const carried = parseCostComments(text);
  assert.equal(carried.length, 1);
  assert.deepEqual(carried[0]!.rows.map((x) => [x.role, x.rate, x.cpuUs, x.rssKiB]), [
    ['direct', 20_000, 30, 9100],
    ['nginx', 15_000, 50, 10_240],
    ['haproxy', 20_000, 30, 8000],
    ['candidate', 7000, 137.5, 90_000],
  ]);
});

test('fixed rate: CPU µs per completed request', () => {
  const result = (completed: number) => ({
    scheduled: completed, completed, errors: 0, non2xx: 0, unanswered: 0, achievedRps: 1000,
    latencyMs: { p50: 1, p99: 2, p999: 3, max: 4 }, serviceMs: { p50: 1, p99: 2, p999: 3, max: 4 }, sendLagMs: { p50: 0, p99: 0, p999: 0, max: 0 },
  });
  const r = {
    opts: { rate: 1000 },
    rows: [
      { name: 'nginx', command: '', result: result(15_000), cpuS: 0.6, rssPeakKiB: 9000, error: undefined },
      { name: 'candidate', command: '', result: result(15_000), cpuS: 1.95, rssPeakKiB: 64_000, error: undefined },
      { name: 'haproxy', command: '', result: undefined, cpuS: undefined, rssPeakKiB: undefined, error: 'generator exited' },
    ],
  } as unknown as FixedRateScenarioResult;
  const cost = fixedRateCost(r, false);
  assert.equal(cost.rows.length, 2);
  assert.equal(cost.rows[0]!.cpuUs, 40);
  assert.ok(Math.abs(cost.rows[1]!.cpuUs! - 130) < 1e-9);
});

test('summary: proxies side by side, Weft\'s CPU per unit relative to nginx and HAProxy, absent figures as dashes', () => {
  const costs: ScenarioCost[] = [
    {
      key: 'h', name: 'TCP proxy', unit: 'MB',
      rows: [
        { role: 'haproxy', rate: 1821, cpuUs: 543.7, rssKiB: 6349, errors: 0 },
        { role: 'candidate', rate: 1606, cpuUs: 1087.4, rssKiB: 100_147, errors: 0 },
      ],
    },
    { key: 'j', name: 'two sidecars', unit: 'req', keptFrom: '2026-12-01', rows: [{ role: 'nginx', rate: 5000, cpuUs: 90, rssKiB: 20_480, errors: 1 }] },
  ];
  const rows = summaryRows(costs);
  assert.equal(rows[0]!.length, SUMMARY_HEADER.length);
  assert.deepEqual(rows[0], ['h. TCP proxy', 'µs/MB', '–', '–', '–', '1,821', '543.7', '6.2', '1,606', '1,087', '97.8', '–', '2.00']);
  assert.equal(rows[1]![0], 'j. two sidecars (kept from 2026-12-01)');
  assert.deepEqual(rows[1]!.slice(-2), ['–', '–']);
  assert.match(summaryText(costs), /^scenario +unit +nginx \/s/);
});

test('figure comments: round trip, and a broken one is skipped', () => {
  const c: ScenarioCost = { key: 'k', name: 'mixed', unit: 'req', rows: [{ role: 'candidate', rate: 1234.5678, cpuUs: 12.34567, rssKiB: 1, errors: 0 }] };
  const text = `## k. x\n\n${costComment(c)}\n<!-- weft-bench-cost {not json} -->`;
  assert.deepEqual(parseCostComments(text), [{ ...c, rows: [{ role: 'candidate', rate: 1234.57, cpuUs: 12.346, rssKiB: 1, errors: 0 }] }]);
  assert.equal(parseCostComments(text, '2026-12-07')[0]!.keptFrom, '2026-12-07');
});

test('--only takes every scenario by letter and by name; --quick; unknown names are refused', () => {
  for (const s of ALL_SCENARIOS) assert.deepEqual([...parseOptions(['--only', s], '/r').scenarios], [s]);
  for (const [letter, name] of Object.entries(PROTOCOL_SCENARIOS)) assert.equal(scenarioNamed(name), letter);
  assert.equal(scenarioNamed('saturation'), 'a');
  assert.equal(scenarioNamed('C'), 'a');
  assert.equal(scenarioNamed('fixed-rate'), 'b');
  assert.equal(scenarioNamed('h2h2'), 'j');
  const o = parseOptions(['--quick', '--only', 'mixed, grpc-sidecars', '--only', 'a'], '/r');
  assert.equal(o.quick, true);
  assert.equal(o.partial, true);
  assert.deepEqual([...o.scenarios].sort(), ['a', 'j', 'k']);
  const all = parseOptions([], '/r');
  assert.equal(all.partial, false);
  assert.deepEqual([...all.scenarios], [...ALL_SCENARIOS]);
  assert.equal(all.out, '/r/bench/RESULTS.md');
  assert.throws(() => parseOptions(['--only', 'nope'], '/r'), /unknown scenario "nope"/);
  assert.throws(() => parseOptions(['--only', ','], '/r'), /no scenario/);
  assert.throws(() => parseOptions(['--rounds', '0'], '/r'), /--rounds/);
});

const OLD_REPORT = `# Weft benchmark results

Written by \`npm run bench\` (bench/run.ts) on 2026-11-22T03:47:36.695Z.

## Machine

| what | value |

## Summary: CPU per request, rate and memory

old summary

## d. HTTP/2 (h2c) requests per second

old d

${costComment({ key: 'd', name: 'h2c', unit: 'req', rows: [{ role: 'nginx', rate: 1, cpuUs: 2, rssKiB: 3, errors: 0 }] })}

## h. TCP proxy throughput

old h

## Reproduce

\`\`\`sh
npm run bench
\`\`\`

## Hardening A/B: the proxy before and after

hand-written
`;

test('a partial run keeps the sections it did not redo (marked, with their figures) and hand-written sections', () => {
  const kept = keepOtherSections(OLD_REPORT, ['## e. gRPC\n\nnew e', '## h. TCP\n\nnew h']);
  assert.deepEqual(kept.sections.map((s) => s.slice(0, 5)), ['## d.', '## e.', '## h.']);
  assert.match(kept.sections[0]!, /^## d\. HTTP\/2 \(h2c\) requests per second\n\n_Kept from the report written by `npm run bench` on 2026-11-22T03:47:36\.695Z; not re-run by this command\._\n\nold d/);
  assert.equal(kept.costs.length, 1);
  assert.equal(kept.costs[0]!.keptFrom, '2026-11-22');
  // kept twice: the mark is not repeated and the date stays the first run's
  const again = keepOtherSections(`Written by \`x\` (bench/run.ts) on 2026-12-09T00:00:00.000Z.\n\n${kept.sections[0]}`, []);
  assert.equal(again.sections[0]!.match(/_Kept from/g)!.length, 1);
  assert.equal(again.costs[0]!.keptFrom, '2026-11-22');
  assert.deepEqual(handWrittenSections(OLD_REPORT), ['## Hardening A/B: the proxy before and after\n\nhand-written']);
});
