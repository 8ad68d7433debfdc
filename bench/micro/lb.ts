// Micro-benchmark: Cluster.chooseHost ns/op per lb_policy with 10 hosts, and the rebuild cost of a health
// change. Run: npx tsx bench/micro/lb.ts [case-substring]  (or node dist/bench/micro/lb.js).
import { pathToFileURL } from 'node:url';
import { StatsStore } from '../../src/observe/stats.js';
import { Cluster } from '../../src/proxy/cluster/cluster.js';
import { DEFAULT_HTTP2_OPTIONS } from '../../src/envoy/protocol-options.js';
import type { ClusterConfig, LbEndpointConfig, LbPolicy, LocalityLbEndpointsConfig } from '../../src/proxy/config/types.js';

function ep(i: number, weight = 1, healthy = true): LbEndpointConfig {
  return { address: { address: `10.0.0.${i + 1}`, port: 80 }, loadBalancingWeight: weight, healthStatus: healthy ? 'HEALTHY' : 'UNHEALTHY' };
}

function loc(eps: LbEndpointConfig[], priority = 0, weight: number | null = null, zone = ''): LocalityLbEndpointsConfig {
  return { locality: { region: '', zone, subZone: '' }, loadBalancingWeight: weight, priority, lbEndpoints: eps };
}

function config(lbPolicy: LbPolicy, endpoints: LocalityLbEndpointsConfig[]): ClusterConfig {
  return {
    name: 'bench', type: 'STATIC', connectTimeoutMs: 5000, lbPolicy, loadAssignment: { endpoints },
    dnsRefreshRateMs: 5000, dnsLookupFamily: 'AUTO', healthyPanicThresholdPercent: 50,
    leastRequest: { choiceCount: 2 }, ringHash: { minimumRingSize: 1024, maximumRingSize: 8388608 },
    maglev: { tableSize: 65537 },
    connectionPool: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3, idleTimeoutMs: 3600000, maxRequestsPerConnection: 0 },
    perConnectionBufferLimitBytes: 1048576,
    upstreamProtocol: 'HTTP1',
    http2: DEFAULT_HTTP2_OPTIONS,
    transportSocket: null,
  };
}

const ten = (w?: (i: number) => number) => Array.from({ length: 10 }, (_, i) => ep(i, w ? w(i) : 1));

interface Case { name: string; cfg: ClusterConfig; hashed: boolean }

const cases: Case[] = [
  { name: 'ROUND_ROBIN', cfg: config('ROUND_ROBIN', [loc(ten())]), hashed: false },
  { name: 'ROUND_ROBIN weighted', cfg: config('ROUND_ROBIN', [loc(ten((i) => i + 1))]), hashed: false },
  { name: 'LEAST_REQUEST (P2C)', cfg: config('LEAST_REQUEST', [loc(ten())]), hashed: false },
  { name: 'LEAST_REQUEST weighted', cfg: config('LEAST_REQUEST', [loc(ten((i) => i + 1))]), hashed: false },
  { name: 'RANDOM', cfg: config('RANDOM', [loc(ten())]), hashed: false },
  { name: 'RING_HASH', cfg: config('RING_HASH', [loc(ten())]), hashed: true },
  { name: 'MAGLEV', cfg: config('MAGLEV', [loc(ten())]), hashed: true },
  { name: 'ROUND_ROBIN 2 localities', cfg: config('ROUND_ROBIN', [loc(ten().slice(0, 5), 0, 1, 'a'), loc(ten().slice(5), 0, 2, 'b')]), hashed: false },
  // P0: 3 of 6 healthy → 70% of traffic; P1's 4 hosts take the rest.
  { name: 'ROUND_ROBIN P0 50% + P1', cfg: config('ROUND_ROBIN', [loc([ep(0), ep(1), ep(2), ep(3, 1, false), ep(4, 1, false), ep(5, 1, false)], 0), loc(ten().slice(6), 1)]), hashed: false },
  // 1 of 10 healthy: below the 50% panic threshold, balance over all hosts.
  { name: 'ROUND_ROBIN panic', cfg: config('ROUND_ROBIN', [loc([ep(0), ...Array.from({ length: 9 }, (_, i) => ep(i + 1, 1, false))])]), hashed: false },
];

function measure(c: Cluster, hashed: boolean, n: number): number {
  const hashes = new Uint32Array(1024);
  for (let i = 0; i < hashes.length; i++) hashes[i] = (Math.random() * 4294967296) >>> 0;
  let sink = 0;
  const t0 = process.hrtime.bigint();
  if (hashed) {
    for (let i = 0; i < n; i++) sink ^= c.chooseHost(hashes[i & 1023]!)!.port;
  } else {
    for (let i = 0; i < n; i++) sink ^= c.chooseHost(null)!.port;
  }
  const ns = Number(process.hrtime.bigint() - t0) / n;
  if (sink === -1) console.log(sink);
  return ns;
}

/** @param only run just the cases whose name contains this (each policy alone keeps call sites monomorphic). */
export function run(only?: string): { name: string; nsPerOp: number; rebuildMs: number }[] {
  const out: { name: string; nsPerOp: number; rebuildMs: number }[] = [];
  for (const k of cases) {
    if (only !== undefined && !k.name.includes(only)) continue;
    const c = new Cluster(k.cfg, new StatsStore());
    measure(c, k.hashed, 2_000_000); // warm-up
    // Best of 7 runs: the machine's noise only ever adds time.
    let best = Infinity;
    for (let r = 0; r < 7; r++) best = Math.min(best, measure(c, k.hashed, 2_000_000));
    // Rebuild cost: flip one host's health and refresh (membership unchanged).
    const t0 = performance.now();
    const reps = 20;
    for (let r = 0; r < reps; r++) {
      c.hosts[0]!.healthy = !c.hosts[0]!.healthy;
      c.refreshHealth();
      if (k.hashed) c.chooseHost(1); // hash tables are built on first use of a panic set only
    }
    const rebuildMs = (performance.now() - t0) / reps;
    out.push({ name: k.name, nsPerOp: best, rebuildMs });
    c.close();
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  console.log(`chooseHost, 10 hosts, node ${process.version}`);
  for (const r of run(process.argv[2])) {
    console.log(`${r.name.padEnd(28)} ${r.nsPerOp.toFixed(1).padStart(7)} ns/op   rebuild ${r.rebuildMs.toFixed(3)} ms`);
  }
}
