// Micro-benchmark: RouteTable.match ns/op on a table of 50 virtual hosts × 20 routes (exact,
// port-fallback and wildcard hosts; prefix, header, regex and query routes), plus compile time.
// Run: npx tsx bench/micro/router.ts [case-filter]   (or node dist/bench/micro/router.js after tsc)
import { pathToFileURL } from 'node:url';
import type {
  HeaderMutations, RouteActionConfig, RouteConfig, RouteConfiguration, RouteMatchConfig, VirtualHostConfig,
} from '../../src/proxy/config/types.js';
import { compileRouteTable, type RouteRequest, type RouteTable } from '../../src/proxy/router/route-table.js';

const NONE: HeaderMutations = { requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [] };

function action(cluster: string): RouteActionConfig {
  return {
    kind: 'route', cluster, clusterHeader: null, weightedClusters: null, prefixRewrite: null, regexRewrite: null,
    hostRewriteLiteral: null, autoHostRewrite: false, timeoutMs: 15000, idleTimeoutMs: null, retryPolicy: null,
    requestMirrorPolicies: [], hashPolicy: [], upgradeConfigs: [],
    maxStreamDuration: null, maxGrpcTimeoutMs: null, grpcTimeoutOffsetMs: 0,
  };
}

function match(path: RouteMatchConfig['path'], extra: Partial<RouteMatchConfig> = {}): RouteMatchConfig {
  return { path, caseSensitive: true, headers: [], queryParameters: [], ...extra };
}

/** 20 routes in the order a mesh typically generates them: specific first, catch-all last. */
function routes(svc: number): RouteConfig[] {
  const out: RouteConfig[] = [];
  const r = (name: string, m: RouteMatchConfig) => out.push({ ...NONE, name, match: m, action: action(`svc${svc}-${name}`) });
  r('canary', match({ kind: 'prefix', value: '/api' }, {
    headers: [{ name: 'x-canary', spec: { kind: 'exact', value: 'true', ignoreCase: false }, invertMatch: false }],
  }));
  for (let j = 0; j < 8; j++) r(`v${j}-exact`, match({ kind: 'path', value: `/api/v${j}/health` }));
  for (let j = 0; j < 6; j++) r(`v${j}`, match({ kind: 'prefix', value: `/api/v${j}/` }));
  r('static', match({ kind: 'path_separated_prefix', value: '/static' }));
  r('users', match({ kind: 'safe_regex', regex: '/users/[0-9]+(/.*)?' }));
  r('debug', match({ kind: 'prefix', value: '/' }, { queryParameters: [{ name: 'debug', stringMatch: null }] }));
  r('admin', match({ kind: 'prefix', value: '/ADMIN' }, { caseSensitive: false }));
  r('default', match({ kind: 'prefix', value: '/' }));
  return out;
}

export function benchConfig(): RouteConfiguration {
  const virtualHosts: VirtualHostConfig[] = [];
  for (let i = 0; i < 50; i++) {
    const fqdn = `svc${i}.ns${i % 5}.svc.cluster.local`;
    virtualHosts.push({
      ...NONE, name: `svc${i}`, retryPolicy: null, routes: routes(i),
      domains: i % 10 === 9 ? [`*.svc${i}.example.com`] : [fqdn, `${fqdn}:80`, `svc${i}`, `svc${i}.ns${i % 5}`],
    });
  }
  virtualHosts.push({ ...NONE, name: 'fallback', retryPolicy: null, routes: routes(99), domains: ['*'] });
  return { ...NONE, name: 'bench', virtualHosts };
}

interface Case { name: string; req: RouteRequest; expect: string | null }

const hdrs = ['user-agent', 'curl/8.0', 'accept', '*/*', 'x-request-id', '0f3c7a52-7d1e-4a55-9d0a-4e3b0c9a1d11'];
const mk = (name: string, authority: string, path: string, expect: string | null, headers = hdrs): Case =>
  ({ name, req: { authority, path, method: 'GET', headers }, expect });

const cases: Case[] = [
  mk('typical: exact host, 11th route (prefix)', 'svc25.ns0.svc.cluster.local', '/api/v1/items/42?x=1', 'v1'),
  mk('exact host with port', 'svc25.ns0.svc.cluster.local:80', '/api/v1/items/42', 'v1'),
  mk('port fallback (host:8080)', 'svc25:8080', '/api/v1/items/42', 'v1'),
  mk('suffix wildcard host', 'web.svc19.example.com', '/api/v1/items/42', 'v1'),
  mk('mixed-case host', 'SVC25.ns0.svc.cluster.local', '/api/v1/items/42', 'v1'),
  mk('first route by header', 'svc25.ns0.svc.cluster.local', '/api/v1/items', 'canary', [...hdrs, 'x-canary', 'true']),
  mk('exact path (2nd route)', 'svc25.ns0.svc.cluster.local', '/api/v0/health', 'v0-exact'),
  mk('regex route (17th)', 'svc25.ns0.svc.cluster.local', '/users/1234/profile', 'users'),
  mk('query route (18th)', 'svc25.ns0.svc.cluster.local', '/other?debug=1', 'debug'),
  mk('case-insensitive route (19th)', 'svc25.ns0.svc.cluster.local', '/Admin/x', 'admin'),
  mk('catch-all (20th route)', 'svc25.ns0.svc.cluster.local', '/index.html', 'default'),
  mk('unknown host → `*`', 'unknown.example.org', '/index.html', 'default'),
];

function measure(t: RouteTable, req: RouteRequest, n: number): number {
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink += t.match(req)!.route.name.length;
  const ns = Number(process.hrtime.bigint() - t0) / n;
  if (sink === -1) console.log(sink);
  return ns;
}

export function run(only?: string): { name: string; nsPerOp: number }[] {
  const t = compileRouteTable(benchConfig());
  const out: { name: string; nsPerOp: number }[] = [];
  for (const c of cases) {
    if (only !== undefined && !c.name.includes(only)) continue;
    const got = t.match(c.req)?.route.name ?? null;
    if (got !== c.expect) throw new Error(`${c.name}: matched ${got}, expected ${c.expect}`);
    measure(t, c.req, 300_000); // warm-up
    // Best of 5: the least disturbed run (shared machines add noise, never remove it).
    let best = Infinity;
    for (let k = 0; k < 5; k++) best = Math.min(best, measure(t, c.req, 500_000));
    out.push({ name: c.name, nsPerOp: best });
  }
  return out;
}

/** ns of one Map.get on a 28-character key: a yardstick for how loaded the machine is. */
export function referenceNs(): number {
  const m = new Map<string, number>();
  for (let i = 0; i < 200; i++) m.set(`svc${i}.ns0.svc.cluster.local`, i);
  const key = 'svc25.ns0.svc.cluster.local';
  let best = Infinity;
  let sink = 0;
  for (let k = 0; k < 5; k++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 1_000_000; i++) sink += m.get(key)!;
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1_000_000);
  }
  if (sink === -1) console.log(sink);
  return best;
}

/** Milliseconds to compile the 50 × 20 table (what a config push costs). */
export function compileMs(): number {
  const cfg = benchConfig();
  for (let i = 0; i < 5; i++) compileRouteTable(cfg);
  const t0 = performance.now();
  const reps = 20;
  for (let i = 0; i < reps; i++) compileRouteTable(cfg);
  return (performance.now() - t0) / reps;
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  console.log(`RouteTable.match, 50 virtual hosts × 20 routes (+ \`*\`), node ${process.version}`);
  for (const r of run(process.argv[2])) console.log(`${r.name.padEnd(44)} ${r.nsPerOp.toFixed(1).padStart(7)} ns/op`);
  console.log(`${'compile the table'.padEnd(44)} ${compileMs().toFixed(3).padStart(7)} ms`);
  console.log(`${'(reference: one Map.get, 28-char key)'.padEnd(44)} ${referenceNs().toFixed(1).padStart(7)} ns`);
}
