// `weft proxy --concurrency N`: worker processes share the listeners, the primary's admin sums
// their stats, reloads reach every worker, SIGTERM drains them all, a dead worker is replaced (with
// back-off when it keeps dying, the other worker serving meanwhile), port-0 listeners resolve once for all. Which worker served a
// connection is read from Envoy's per-worker listener stats (`listener.<addr>.worker_<i>.…`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWeft, runWeft, type WeftProcess } from '../helpers/process.js';
import { bootstrap, cluster, direct, hcm, listener, request, simple, toCluster } from '../helpers/bootstrap.js';
import { startUpstream } from '../helpers/upstream.js';

type T = { after(fn: () => Promise<void> | void): void };

interface Running {
  p: WeftProcess;
  file: string;
  /** Listener ports by name, from the `listener <name> on <addr>:<port>` lines. */
  ports: Map<string, number>;
  admin: number;
}

function writeAtomic(path: string, text: string): void {
  writeFileSync(path + '.tmp', text);
  renameSync(path + '.tmp', path);
}

async function start(t: T, yaml: string, args: string[] = ['--concurrency', '2']): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-workers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'bootstrap.yaml');
  writeFileSync(file, yaml);
  const p = startWeft(['proxy', '-c', file, ...args]);
  t.after(() => p.kill('SIGKILL'));
  await p.waitFor(/weft proxy started/);
  const ports = new Map([...p.output().matchAll(/listener (\S+) on 127\.0\.0\.1:(\d+)/g)].map((m) => [m[1]!, Number(m[2])] as const));
  const admin = Number(p.output().match(/admin on port (\d+)/)?.[1] ?? 0);
  return { p, file, ports, admin };
}

async function adminGet(port: number, path: string, method = 'GET'): Promise<string> {
  const r = await request(port, path, { method });
  assert.equal(r.status, 200, `${method} ${path}: ${r.body}`);
  return r.body;
}

/** Counters and gauges of /stats?format=json by name. */
async function stats(admin: number): Promise<Map<string, number>> {
  const j = JSON.parse(await adminGet(admin, '/stats?format=json')) as { stats: Array<{ name?: string; value?: number }> };
  return new Map(j.stats.filter((s) => s.name !== undefined).map((s) => [s.name!, s.value!]));
}

/** Connections each worker accepted, summed over listeners: [worker 0, worker 1, …]. */
function perWorker(s: Map<string, number>, stat = 'downstream_cx_total'): number[] {
  const out: number[] = [];
  for (const [name, v] of s) {
    const m = new RegExp(`\\.worker_(\\d+)\\.${stat}$`).exec(name);
    if (m !== null) out[Number(m[1])] = (out[Number(m[1])] ?? 0) + v;
  }
  return Array.from(out, (v) => v ?? 0);
}

/** Fresh connections, one after another, until every worker has accepted more than `before` shows (at most `max`). */
async function untilBothServed(r: Running, port: number, before: number[], onReply: (body: string) => void, max = 300): Promise<number> {
  let sent = 0;
  for (;;) {
    const res = await request(port, '/');
    assert.equal(res.status, 200);
    onReply(res.body);
    sent++;
    if (sent % 5 === 0) {
      const now = perWorker(await stats(r.admin));
      if (now.length === 2 && now.every((v, i) => v > (before[i] ?? 0))) return sent;
    }
    assert.ok(sent < max, `${sent} connections did not reach both workers`);
  }
}

const workerPids = (out: string, slot: number): number[] =>
  [...out.matchAll(new RegExp(`worker ${slot} started \\(pid (\\d+)\\)`, 'g'))].map((m) => Number(m[1]));

test('connections land on both workers; the admin sums their stats, clusters and histograms', async (t) => {
  const up = await startUpstream();
  t.after(() => up.close());
  const r = await start(t, simple({ routes: [toCluster('/', 'up')], clusters: [cluster('up', [up.port])], admin: true }));
  const port = r.ports.get('main')!;
  const sent = await untilBothServed(r, port, [0, 0], () => {});

  const s = await stats(r.admin);
  assert.equal(s.get('http.ingress.downstream_rq_total'), sent);
  assert.equal(s.get('cluster.up.upstream_rq_total'), sent);
  const workers = perWorker(s);
  assert.equal(workers[0]! + workers[1]!, sent);
  assert.equal(s.get('listener.127.0.0.1_0.downstream_cx_total'), sent);
  assert.equal(s.get('server.concurrency'), 2);
  assert.equal(s.get('server.live'), 1);
  assert.equal(s.get('server.stats_missing_workers'), 0);

  const prom = await adminGet(r.admin, '/stats/prometheus');
  assert.match(prom, new RegExp(`^envoy_http_downstream_rq_time_count\\{envoy_http_conn_manager_prefix="ingress"\\} ${sent}$`, 'm'));
  assert.match(prom, new RegExp(`^envoy_http_downstream_rq_time_bucket\\{envoy_http_conn_manager_prefix="ingress",le="\\+Inf"\\} ${sent}$`, 'm'));
  assert.match(prom, /^envoy_server_concurrency 2$/m);
  assert.match(prom, /^envoy_listener_worker_downstream_cx_total\{envoy_listener_address="127\.0\.0\.1_0",envoy_worker_id="1"\} \d+$/m);
  assert.match(await adminGet(r.admin, '/stats'), /^http\.ingress\.downstream_rq_time: P0\(nan,/m);

  assert.match(await adminGet(r.admin, '/clusters'), new RegExp(`^up::127\\.0\\.0\\.1:${up.port}::rq_total::${sent}$`, 'm'));
  const info = JSON.parse(await adminGet(r.admin, '/server_info')) as { state: string; command_line_options: { concurrency: number } };
  assert.equal(info.state, 'LIVE');
  assert.equal(info.command_line_options.concurrency, 2);
  assert.equal(await adminGet(r.admin, '/ready'), 'LIVE\n');

  r.p.kill('SIGTERM');
  assert.equal(await r.p.exited, 0);
});

test('a reload reaches every worker once; an invalid file is rejected once and the old config stays everywhere', async (t) => {
  const cfg = (body: string): string => simple({ routes: [direct({ prefix: '/' }, body)], admin: true });
  const r = await start(t, cfg('v1'));
  const port = r.ports.get('main')!;
  await untilBothServed(r, port, [0, 0], (b) => assert.equal(b, 'v1'));

  let mark = r.p.output().length;
  writeAtomic(r.file, cfg('v2'));
  await r.p.waitFor(/new config applied/, mark);
  let before = perWorker(await stats(r.admin));
  await untilBothServed(r, port, before, (b) => assert.equal(b, 'v2'));
  assert.equal(r.p.output().slice(mark).match(/new config applied/g)?.length, 1, 'one line for the reload');
  assert.equal((await stats(r.admin)).get('server.config_reload'), 1);

  mark = r.p.output().length;
  writeAtomic(r.file, cfg('v3').replace('stat_prefix: ingress', 'stat_prefix: ingress\n        nonsense: true'));
  await r.p.waitFor(/rejected, keeping the running config/, mark);
  before = perWorker(await stats(r.admin));
  await untilBothServed(r, port, before, (b) => assert.equal(b, 'v2'));
  assert.equal(r.p.output().slice(mark).match(/rejected/g)?.length, 1, 'rejected once, by the primary');

  mark = r.p.output().length;
  writeFileSync(r.file, cfg('v4'));
  await r.p.waitFor(/new config applied/, mark);
  mark = r.p.output().length;
  r.p.child.kill('SIGHUP');
  await r.p.waitFor(/SIGHUP\): new config applied/, mark);
  before = perWorker(await stats(r.admin));
  await untilBothServed(r, port, before, (b) => assert.equal(b, 'v4'));

  r.p.kill('SIGTERM');
  assert.equal(await r.p.exited, 0);
});

test('SIGTERM drains every worker: in-flight requests on both finish, then the primary exits 0', async (t) => {
  const held: Array<() => void> = [];
  let arrived: (() => void) | null = null;
  const up = await startUpstream((_req, res) => {
    held.push(() => { res.writeHead(200, { 'content-length': '4' }); res.end('done'); });
    arrived?.();
  });
  t.after(() => up.close());
  const r = await start(t, simple({ routes: [toCluster('/', 'up')], clusters: [cluster('up', [up.port])], admin: true }), ['--concurrency', '2', '--drain-time-s', '20']);
  const port = r.ports.get('main')!;
  // Requests on fresh connections, each held by the upstream, until both workers have one in flight.
  const inflight: Array<Promise<{ status: number; body: string }>> = [];
  for (;;) {
    const got = new Promise<void>((resolve) => { arrived = resolve; });
    inflight.push(request(port, '/slow'));
    await got;
    const active = perWorker(await stats(r.admin), 'downstream_cx_active');
    if (active.length === 2 && active.every((v) => v > 0)) break;
    assert.ok(inflight.length < 100, 'requests did not reach both workers');
  }
  const mark = r.p.output().length;
  r.p.kill('SIGTERM');
  await r.p.waitFor(/draining/, mark);
  for (const release of held) release();
  for (const res of await Promise.all(inflight)) assert.deepEqual({ status: res.status, body: res.body }, { status: 200, body: 'done' });
  assert.equal(await r.p.exited, 0);
  await assert.rejects(request(port, '/'));
});

test('a killed worker is replaced and the counters it reported are kept', async (t) => {
  const r = await start(t, simple({ routes: [direct({ prefix: '/' }, 'ok')], admin: true }));
  const port = r.ports.get('main')!;
  const first = await untilBothServed(r, port, [0, 0], () => {});
  assert.equal((await stats(r.admin)).get('http.ingress.downstream_rq_total'), first);

  const [pid] = workerPids(r.p.output(), 0);
  const mark = r.p.output().length;
  process.kill(pid!, 'SIGKILL');
  await r.p.waitFor(new RegExp(`worker 0 \\(pid ${pid}\\) exited unexpectedly \\(signal SIGKILL\\); starting a replacement`), mark);
  const replacement = Number((await r.p.waitFor(/worker 0 started \(pid (\d+)\)/, mark))[1]);
  assert.notEqual(replacement, pid);

  const before = perWorker(await stats(r.admin));
  const second = await untilBothServed(r, port, before, (b) => assert.equal(b, 'ok'));
  assert.equal((await stats(r.admin)).get('http.ingress.downstream_rq_total'), first + second);
  r.p.kill('SIGTERM');
  assert.equal(await r.p.exited, 0);
});

test('a stuck worker does not hang the admin: its last report is used and counted as missing', async (t) => {
  const r = await start(t, simple({ routes: [direct({ prefix: '/' }, 'ok')], admin: true }));
  const sent = await untilBothServed(r, r.ports.get('main')!, [0, 0], () => {});
  assert.equal((await stats(r.admin)).get('http.ingress.downstream_rq_total'), sent);
  const [pid] = workerPids(r.p.output(), 1);
  process.kill(pid!, 'SIGSTOP');
  t.after(() => { try { process.kill(pid!, 'SIGCONT'); } catch { /* gone */ } });
  const mark = r.p.output().length;
  const s = await stats(r.admin);
  assert.equal(s.get('server.stats_missing_workers'), 1);
  assert.equal(s.get('http.ingress.downstream_rq_total'), sent, 'the stuck worker counts with its last report');
  await r.p.waitFor(/no stats from worker 1 within \d+ ms; using its last report/, mark);
  process.kill(pid!, 'SIGCONT');
  assert.equal((await stats(r.admin)).get('server.stats_missing_workers'), 0);
  r.p.kill('SIGTERM');
  assert.equal(await r.p.exited, 0);
});

test('a worker killed again and again is replaced each time, with back-off, while the other keeps serving', async (t) => {
  const r = await start(t, simple({ routes: [direct({ prefix: '/' }, 'ok')], admin: true }));
  const port = r.ports.get('main')!;
  // A client beside the deaths: fresh connections one after another; the kernel hands each to a
  // worker that is accepting. Only a request the killed worker was serving at that moment may fail.
  let running = true, ok = 0, failed = 0;
  const client = (async () => {
    while (running) {
      try { if ((await request(port, '/')).status === 200) ok++; else failed++; } catch { failed++; }
    }
  })();
  const delays: number[] = [];
  for (let deaths = 1; deaths <= 8; deaths++) {
    const pids = workerPids(r.p.output(), 1);
    const pid = pids[pids.length - 1]!;
    const mark = r.p.output().length;
    process.kill(pid, 'SIGKILL');
    const m = await r.p.waitFor(new RegExp(`worker 1 \\(pid ${pid}\\) exited unexpectedly \\(signal SIGKILL\\); starting a replacement in (\\d+) ms \\(killed`), mark);
    delays.push(Number(m[1]));
    await r.p.waitFor(/worker 1 started \(pid \d+\)/, mark);
  }
  running = false;
  await client;
  // Back-off: the first replacement at once, then doubling delays.
  assert.deepEqual(delays, [0, 50, 100, 200, 400, 800, 1600, 3200]);
  assert.doesNotMatch(r.p.output(), /giving up/);
  assert.ok(failed <= 8, `${failed} requests failed while worker 1 kept dying (${ok} succeeded)`);
  assert.ok(ok > 8 * 5, `only ${ok} requests succeeded`);
  const s = await stats(r.admin);
  assert.equal(s.get('server.worker_deaths'), 8);
  const before = perWorker(s);
  await untilBothServed(r, port, before, (b) => assert.equal(b, 'ok'));
  r.p.kill('SIGTERM');
  assert.equal(await r.p.exited, 0);
});

test('workers exit when the primary is killed', async (t) => {
  const r = await start(t, simple({ routes: [direct({ prefix: '/' }, 'ok')] }));
  // Workers inherit the primary's stdout and stderr: the pipes close once every process has exited.
  const closed = Promise.all([r.p.child.stdout!, r.p.child.stderr!].map((s) => new Promise<void>((res) => s.on('close', () => res()))));
  r.p.kill('SIGKILL');
  await closed;
  await assert.rejects(request(r.ports.get('main')!, '/'));
});

test('listeners on port 0 get one port each, shared by every worker and logged once', async (t) => {
  const r = await start(t, bootstrap({
    listeners: [
      listener({ name: 'a', filter: hcm({ statPrefix: 'a', routes: [direct({ prefix: '/' }, 'from a')] }) }),
      listener({ name: 'b', filter: hcm({ statPrefix: 'b', routes: [direct({ prefix: '/' }, 'from b')] }) }),
    ],
    admin: true,
  }));
  const [a, b] = [r.ports.get('a')!, r.ports.get('b')!];
  assert.ok(a > 0 && b > 0 && a !== b, `ports ${a} and ${b}`);
  assert.equal(r.p.output().match(/listener a on/g)?.length, 1);
  assert.equal(r.p.output().match(/listener b on/g)?.length, 1);
  assert.equal(await adminGet(r.admin, '/listeners'), `a::127.0.0.1:${a}\nb::127.0.0.1:${b}\n`);
  // Both listeners share one stat scope (listener.127.0.0.1_0), so this shows both workers serve
  // port a; every answer on each port comes from its own listener.
  await untilBothServed(r, a, [0, 0], (body) => assert.equal(body, 'from a'));
  const before = perWorker(await stats(r.admin));
  await untilBothServed(r, b, before, (body) => assert.equal(body, 'from b'));
  r.p.kill('SIGTERM');
  assert.equal(await r.p.exited, 0);
});

test('POST /drain_listeners stops every worker from accepting', async (t) => {
  const r = await start(t, simple({ routes: [direct({ prefix: '/' }, 'ok')], admin: true }));
  const port = r.ports.get('main')!;
  assert.equal((await request(port, '/')).body, 'ok');
  await adminGet(r.admin, '/drain_listeners', 'POST');
  // The shared socket closes once the last worker has let go of it; nothing announces that.
  const refused = (): Promise<boolean> => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(false); });
    s.on('error', () => resolve(true));
  });
  const deadline = Date.now() + 5000;
  while (!(await refused())) {
    assert.ok(Date.now() < deadline, 'the listener still accepts after /drain_listeners');
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(await adminGet(r.admin, '/ready'), 'LIVE\n');
  r.p.kill('SIGTERM');
  assert.equal(await r.p.exited, 0);
});

test('--concurrency 1 is the single-process proxy; a bad value is a usage error', async (t) => {
  const r = await start(t, simple({ routes: [direct({ prefix: '/' }, 'ok')], admin: true }), ['--concurrency', '1']);
  assert.equal((await request(r.ports.get('main')!, '/')).body, 'ok');
  const s = await stats(r.admin);
  assert.equal(s.get('server.concurrency'), 1);
  assert.equal(s.get('server.stats_missing_workers'), undefined);
  assert.doesNotMatch(r.p.output(), /worker \d started/);
  r.p.kill('SIGTERM');
  assert.equal(await r.p.exited, 0);
  for (const bad of ['0', '1.5', 'many']) {
    const out = await runWeft(['proxy', '-c', r.file, '--concurrency', bad]);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /--concurrency: expected a whole number >= 1/);
  }
});

// Keep-alive clients stay on the worker that accepted them; this only checks that the default
// (one worker per CPU) serves and stops cleanly whatever the machine.
test('the default concurrency serves and stops cleanly', async (t) => {
  const r = await start(t, simple({ routes: [direct({ prefix: '/' }, 'ok')] }), []);
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  for (let i = 0; i < 5; i++) assert.equal((await request(r.ports.get('main')!, '/', { agent })).body, 'ok');
  r.p.kill('SIGTERM');
  assert.equal(await r.p.exited, 0);
});

test('the overload manager runs in every worker: each refuses requests while its heap share is exceeded', async (t) => {
  // max_heap_size_bytes far below any real heap: every worker is saturated from its first refresh.
  const yaml = simple({ routes: [direct({ prefix: '/' }, 'ok')], admin: true }) + `overload_manager:
  refresh_interval: 0.05s
  resource_monitors:
    - name: envoy.resource_monitors.fixed_heap
      typed_config: { "@type": type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig, max_heap_size_bytes: 1048576 }
  actions:
    - name: envoy.overload_actions.stop_accepting_requests
      triggers: [{ name: envoy.resource_monitors.fixed_heap, threshold: { value: 0.9 } }]
`;
  const r = await start(t, yaml);
  const port = r.ports.get('main')!;
  let sent = 0;
  for (;;) {
    const res = await request(port, '/');
    assert.equal(res.status, 503);
    assert.equal(res.body, 'envoy overloaded');
    sent++;
    if (sent % 5 === 0) {
      const now = perWorker(await stats(r.admin));
      if (now.length === 2 && now.every((v) => v > 0)) break;
    }
    assert.ok(sent < 300, 'requests did not reach both workers');
  }
  const s = await stats(r.admin);
  assert.equal(s.get('http.ingress.downstream_rq_overload_close'), sent);
  // Per-worker states are shown as the highest, not summed.
  assert.equal(s.get('overload.envoy.overload_actions.stop_accepting_requests.active'), 1);
  assert.ok((s.get('overload.envoy.resource_monitors.fixed_heap.pressure') ?? 0) > 100);
  r.p.kill('SIGTERM');
  assert.equal(await r.p.exited, 0);
});
