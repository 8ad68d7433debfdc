// Clusters and load balancing end to end: ROUND_ROBIN, weighted endpoints, LEAST_REQUEST,
// RING_HASH and MAGLEV with a header hash policy, priority failover and panic, circuit breakers,
// connect failures, and the upstream connection pool (reuse, max_requests_per_connection,
// idle_timeout).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { echo, startEchoUpstreams, startUpstream, type Upstream } from '../helpers/upstream.js';
import { startProxy } from '../helpers/proxy.js';
import {
  cluster, deadPort, endpoint, eventually, FILE_LOG_TYPE, parallel, request, simple, toCluster, UPSTREAM_HTTP_OPTIONS_KEY, waitForLines,
  type Obj, type Reply,
} from '../helpers/bootstrap.js';

type T = { after(fn: () => Promise<void> | void): void };

const upstreams = startEchoUpstreams;

/** typed_extension_protocol_options with the given common_http_protocol_options (HTTP/1.1 upstream). */
function upstreamHttpOptions(common: Obj): Obj {
  return {
    typed_extension_protocol_options: {
      [UPSTREAM_HTTP_OPTIONS_KEY]: {
        '@type': `type.googleapis.com/${UPSTREAM_HTTP_OPTIONS_KEY}`,
        common_http_protocol_options: common,
        explicit_http_config: { http_protocol_options: {} },
      },
    },
  };
}

/** An upstream that holds every request until release() answers them all with 200. */
async function holdingUpstream(t: T, name: string): Promise<Upstream & { held: http.ServerResponse[]; release(): void; received(n: number): Promise<void> }> {
  const held: http.ServerResponse[] = [];
  const u = await startUpstream((_req, res) => { held.push(res); });
  t.after(() => u.close());
  const release = (): void => {
    for (const res of held.splice(0)) { res.writeHead(200, { 'x-upstream': name, 'content-length': '4' }); res.end('held'); }
  };
  const received = (n: number): Promise<void> => new Promise((resolve) => {
    const check = (): void => { if (u.requests.length >= n) { u.server.off('request', on); resolve(); } };
    const on = (): void => { setImmediate(check); };
    u.server.on('request', on);
    check();
  });
  return Object.assign(u, { held, release, received });
}

function tmpLog(t: T): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-clusters-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'access.log');
}

const accessLog = (path: string): Obj => ({
  access_log: [{ name: 'file', typed_config: { '@type': FILE_LOG_TYPE, path, log_format: { text_format: '%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_HOST%\n' } } }],
});

function tally(replies: Reply[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of replies) {
    assert.equal(r.status, 200, r.body);
    const n = String(r.headers['x-upstream']);
    out[n] = (out[n] ?? 0) + 1;
  }
  return out;
}

function keepAlive(t: T, maxSockets = 8): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  t.after(() => agent.destroy());
  return agent;
}

test('ROUND_ROBIN spreads requests evenly over three upstreams', async (t) => {
  const ups = await upstreams(t, 'a', 'b', 'c');
  const px = await startProxy(simple({
    routes: [toCluster('/', 'rr')],
    clusters: [cluster('rr', ups.map((u) => u.port), { lb_policy: 'ROUND_ROBIN' })],
  }));
  t.after(() => px.close());
  const agent = keepAlive(t);
  const counts = tally(await parallel(300, 8, () => request(px.port, '/', { agent })));
  assert.deepEqual(counts, { a: 100, b: 100, c: 100 });
});

test('weighted endpoints: load_balancing_weight 1 and 3', async (t) => {
  const [light, heavy] = await upstreams(t, 'light', 'heavy');
  const px = await startProxy(simple({
    routes: [toCluster('/', 'w')],
    clusters: [cluster('w', [endpoint(light!.port, { load_balancing_weight: 1 }), endpoint(heavy!.port, { load_balancing_weight: 3 })])],
  }));
  t.after(() => px.close());
  const agent = keepAlive(t);
  const counts = tally(await parallel(400, 8, () => request(px.port, '/', { agent })));
  assert.deepEqual(counts, { light: 100, heavy: 300 });
});

test('LEAST_REQUEST avoids the host that is busy with requests', async (t) => {
  const busy = await holdingUpstream(t, 'busy');
  const [idle] = await upstreams(t, 'idle');
  const px = await startProxy(simple({
    routes: [toCluster('/', 'lr')],
    // A large choice_count makes power-of-N-choices see both hosts on practically every pick.
    clusters: [cluster('lr', [busy.port, idle!.port], { lb_policy: 'LEAST_REQUEST', least_request_lb_config: { choice_count: 64 } })],
  }));
  t.after(() => px.close());
  const pending: Promise<Reply>[] = [];
  for (let i = 0; i < 20; i++) {
    const before = busy.requests.length;
    const p = request(px.port, `/${i}`);
    pending.push(p);
    // Wait until this request has landed: answered by `idle`, or held by `busy`.
    await Promise.race([p, busy.received(before + 1)]);
  }
  // Once `busy` holds one request it has more active requests than `idle` (0), so it gets no more.
  assert.ok(busy.requests.length <= 1, `busy got ${busy.requests.length}`);
  assert.equal(idle!.requests.length + busy.requests.length, 20);
  busy.release();
  for (const r of await Promise.all(pending)) assert.equal(r.status, 200);
});

for (const policy of ['RING_HASH', 'MAGLEV'] as const) {
  test(`${policy} with a header hash policy: same key → same upstream, keys spread`, async (t) => {
    const ups = await upstreams(t, 'a', 'b', 'c');
    const lbConfig = policy === 'MAGLEV' ? { maglev_lb_config: { table_size: 65537 } } : { ring_hash_lb_config: { minimum_ring_size: 1024 } };
    const px = await startProxy(simple({
      routes: [toCluster('/', 'h', { hash_policy: [{ header: { header_name: 'x-user' } }] })],
      clusters: [cluster('h', ups.map((u) => u.port), { lb_policy: policy, ...lbConfig })],
    }));
    t.after(() => px.close());
    const agent = keepAlive(t);
    const owner = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
      const replies = await parallel(users.length, 8, (i) => request(px.port, '/', { agent, headers: { 'x-user': users[i]! } }));
      replies.forEach((r, i) => {
        assert.equal(r.status, 200);
        const up = String(r.headers['x-upstream']);
        const first = owner.get(users[i]!);
        if (first === undefined) owner.set(users[i]!, up);
        else assert.equal(up, first, `${users[i]} moved from ${first} to ${up}`);
      });
    }
    const used = new Set(owner.values());
    assert.ok(used.size >= 2, `40 keys all went to ${[...used].join()}`);
    // Without the header the request still goes somewhere.
    assert.equal((await request(px.port, '/', { agent })).status, 200);
  });
}

test('priority failover: UNHEALTHY P0 endpoints send traffic to P1; partial health spills over', async (t) => {
  const [p0a, p0b, p1] = await upstreams(t, 'p0a', 'p0b', 'p1');
  const px = await startProxy(simple({
    routes: [toCluster('/all', 'down'), toCluster('/half', 'half')],
    clusters: [
      cluster('down', [], {}, [
        { priority: 0, lb_endpoints: [endpoint(p0a!.port, { health_status: 'UNHEALTHY' })] },
        { priority: 1, lb_endpoints: [endpoint(p1!.port)] },
      ]),
      cluster('half', [], {}, [
        { priority: 0, lb_endpoints: [endpoint(p0a!.port), endpoint(p0b!.port, { health_status: 'UNHEALTHY' })] },
        { priority: 1, lb_endpoints: [endpoint(p1!.port)] },
      ]),
    ],
  }));
  t.after(() => px.close());
  const agent = keepAlive(t);
  assert.deepEqual(tally(await parallel(30, 8, () => request(px.port, '/all', { agent }))), { p1: 30 });
  // P0 at 50% healthy has health min(100, 1.4 × 50) = 70: it takes 70% and P1 the other 30%.
  const half = tally(await parallel(600, 8, () => request(px.port, '/half', { agent })));
  assert.equal(half.p0b, undefined);
  assert.ok(Math.abs(half.p1! - 180) <= 50, `p1 got ${half.p1} of 600`);
  assert.equal(half.p0a! + half.p1!, 600);
  assert.equal(px.server.stats.value('cluster.down.lb_healthy_panic'), 0);
});

test('healthy_panic_threshold: below it every host gets traffic; 0 disables panic (then UH)', async (t) => {
  const [ok, bad1, bad2] = await upstreams(t, 'ok', 'bad1', 'bad2');
  const three = [endpoint(ok!.port), endpoint(bad1!.port, { health_status: 'UNHEALTHY' }), endpoint(bad2!.port, { health_status: 'UNHEALTHY' })];
  const noPanic = { common_lb_config: { healthy_panic_threshold: { value: 0 } } };
  const px = await startProxy(simple({
    routes: [toCluster('/panic', 'panic'), toCluster('/nopanic', 'nopanic'), toCluster('/none', 'none')],
    clusters: [
      cluster('panic', three),
      cluster('nopanic', three, noPanic),
      cluster('none', [endpoint(ok!.port, { health_status: 'UNHEALTHY' })], noPanic),
    ],
  }));
  t.after(() => px.close());
  const agent = keepAlive(t);
  // 1 of 3 healthy (33%) is below the default 50%: panic, round robin over all three.
  assert.deepEqual(tally(await parallel(30, 4, () => request(px.port, '/panic', { agent }))), { ok: 10, bad1: 10, bad2: 10 });
  assert.equal(px.server.stats.value('cluster.panic.lb_healthy_panic'), 30);
  assert.deepEqual(tally(await parallel(30, 4, () => request(px.port, '/nopanic', { agent }))), { ok: 30 });
  assert.equal(px.server.stats.value('cluster.nopanic.lb_healthy_panic'), 0);
  const none = await request(px.port, '/none', { agent });
  assert.equal(none.status, 503);
  assert.equal(none.body, 'no healthy upstream');
  assert.equal(px.server.stats.value('cluster.none.upstream_cx_none_healthy'), 1);
});

test('circuit breakers: max_requests and max_pending_requests overflow → 503 UO', async (t) => {
  const held = await holdingUpstream(t, 'held');
  const log = tmpLog(t);
  const px = await startProxy(simple({
    routes: [toCluster('/rq', 'rq'), toCluster('/pending', 'pending')],
    extra: accessLog(log),
    clusters: [
      cluster('rq', [held.port], { circuit_breakers: { thresholds: [{ max_requests: 1 }] } }),
      cluster('pending', [held.port], { circuit_breakers: { thresholds: [{ max_connections: 1, max_pending_requests: 1 }] } }),
    ],
  }));
  t.after(() => px.close());

  // max_requests: 1 — a second request while one is active overflows.
  const first = request(px.port, '/rq/1');
  await held.received(1);
  const over = await request(px.port, '/rq/2');
  assert.equal(over.status, 503);
  assert.equal(over.body, 'upstream connect error or disconnect/reset before headers. reset reason: overflow');
  held.release();
  assert.equal((await first).status, 200);
  assert.equal(px.server.stats.value('cluster.rq.upstream_rq_pending_overflow'), 1);

  // max_connections: 1, max_pending_requests: 1 — one active, one queued, the third overflows.
  const a = request(px.port, '/pending/a');
  await held.received(2);
  const b = request(px.port, '/pending/b');
  // b is queued inside the proxy (no event marks that): poll the gauge briefly, with a deadline.
  await eventually(() => px.server.stats.value('cluster.pending.upstream_rq_pending_active') === 1, 'b to be pending');
  const c = await request(px.port, '/pending/c');
  assert.equal(c.status, 503);
  held.release();
  assert.equal((await a).status, 200);
  await held.received(3);   // b got the connection once a was done
  held.release();
  assert.equal((await b).status, 200);
  assert.equal(px.server.stats.value('cluster.pending.upstream_rq_pending_overflow'), 1);
  assert.equal(px.server.stats.value('cluster.pending.upstream_cx_total'), 1);

  const lines = await waitForLines(log, 5);
  const flags = lines.map((l) => l.split(' ').slice(0, 2).join(' ')).sort();
  assert.deepEqual(flags, ['200 -', '200 -', '200 -', '503 UO', '503 UO']);
});

test('a dead endpoint gives 503 UF with the connect failure in stats', async (t) => {
  const port = await deadPort();
  const log = tmpLog(t);
  const px = await startProxy(simple({ routes: [toCluster('/', 'dead')], extra: accessLog(log), clusters: [cluster('dead', [port])] }));
  t.after(() => px.close());
  const r = await request(px.port, '/');
  assert.equal(r.status, 503);
  assert.match(r.body, /^upstream connect error or disconnect\/reset before headers\. reset reason: connection failure/);
  assert.equal(px.server.stats.value('cluster.dead.upstream_cx_connect_fail'), 1);
  const [line] = await waitForLines(log, 1);
  assert.equal(line, `503 UF 127.0.0.1:${port}`);
});

test('the connection pool reuses upstream connections across downstream connections', async (t) => {
  const [up] = await upstreams(t, 'up');
  let connections = 0;
  up!.server.on('connection', () => connections++);
  const px = await startProxy(simple({ routes: [toCluster('/', 'up')], clusters: [cluster('up', [up!.port])] }));
  t.after(() => px.close());
  for (let i = 0; i < 20; i++) assert.equal((await request(px.port, `/${i}`)).status, 200); // a new client connection each time
  assert.equal(connections, 1);
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_total'), 1);
  assert.equal(px.server.stats.value('http.ingress.downstream_cx_total'), 20);
});

test('max_requests_per_connection (HttpProtocolOptions) caps requests per upstream connection', async (t) => {
  const [up] = await upstreams(t, 'up');
  let connections = 0;
  up!.server.on('connection', () => connections++);
  const px = await startProxy(simple({
    routes: [toCluster('/', 'up')],
    clusters: [cluster('up', [up!.port], {
      ...upstreamHttpOptions({ max_requests_per_connection: 3 }),
    })],
  }));
  t.after(() => px.close());
  for (let i = 0; i < 9; i++) assert.equal((await request(px.port, `/${i}`)).status, 200);
  assert.equal(connections, 3);
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_total'), 3);
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_max_requests'), 3);
});

test('upstream idle_timeout closes an idle pooled connection; the next request opens a new one', async (t) => {
  const [up] = await upstreams(t, 'up');
  const sockets: net.Socket[] = [];
  up!.server.on('connection', (s: net.Socket) => sockets.push(s));
  const px = await startProxy(simple({
    routes: [toCluster('/', 'up')],
    clusters: [cluster('up', [up!.port], {
      ...upstreamHttpOptions({ idle_timeout: '0.15s' }),
    })],
  }));
  t.after(() => px.close());
  const started = performance.now();
  assert.equal((await request(px.port, '/1')).status, 200);
  assert.equal(sockets.length, 1);
  await new Promise((r) => sockets[0]!.once('close', r));  // the proxy closed it
  assert.ok(performance.now() - started >= 140, 'closed before the idle timeout');
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_idle_timeout'), 1);
  assert.equal((await request(px.port, '/2')).status, 200);
  assert.equal(sockets.length, 2);
});
