// HTTP filters through a real proxy: envoy.filters.http.fault (aborts, delays, percentages,
// per-route overrides and FilterConfig.disabled, header controls, max_active_faults, gRPC aborts,
// a delayed request whose client leaves) and envoy.filters.http.cors (preflights, simple
// requests, refused origins, per-level policies), over HTTP/1.1 and HTTP/2 (h2c).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import {
  cluster, eventually, FILE_LOG_TYPE, parallel, request, ROUTER_TYPE, simple, toCluster, waitForLines, type Obj,
} from '../helpers/bootstrap.js';
import { startUpstream } from '../helpers/upstream.js';

type T = { after(fn: () => Promise<void> | void): void };

const FAULT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
const CORS_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors';
const CORS_POLICY_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';
const FILTER_CONFIG_TYPE = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';

const fault = (cfg: Obj): Obj => ({ '@type': FAULT_TYPE, ...cfg });
const abort = (status: number, numerator = 100): Obj => ({ abort: { http_status: status, percentage: { numerator } } });
const delay = (d: string, numerator = 100): Obj => ({ delay: { fixed_delay: d, percentage: { numerator } } });
const corsPolicy = (cfg: Obj): Obj => ({ '@type': CORS_POLICY_TYPE, ...cfg });

/** http_filters: the given filters, then the router. */
function filters(...fs: Array<[string, Obj]>): Obj[] {
  return [
    ...fs.map(([name, typed_config]) => ({ name, typed_config })),
    { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
  ];
}

interface Setup { p: RunningProxy; upstreamCalls: () => number; log: string }

/** An upstream answering 200 `ok`, and a proxy with `httpFilters` in front of it. */
async function setup(t: T, o: { httpFilters: Obj[]; routes?: Obj[]; virtualHosts?: Obj[]; routeConfig?: Obj; logFormat?: string }): Promise<Setup> {
  const up = await startUpstream((_req, res) => { res.writeHead(200, { 'content-length': 2, 'access-control-allow-origin': 'stale' }); res.end('ok'); });
  t.after(() => up.close());
  const dir = mkdtempSync(join(tmpdir(), 'weft-filters-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'access.log');
  const format = o.logFormat ?? '%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n';
  const p = await startProxy(simple({
    routes: o.routes ?? [toCluster('/', 'up')],
    virtualHosts: o.virtualHosts,
    routeConfig: o.routeConfig,
    clusters: [cluster('up', [up.port])],
    extra: {
      http_filters: o.httpFilters,
      access_log: [{ name: 'f', typed_config: { '@type': FILE_LOG_TYPE, path: log, log_format: { text_format: format } } }],
    },
  }));
  t.after(() => p.close());
  return { p, upstreamCalls: () => up.requests.length, log };
}

const stat = (p: RunningProxy, name: string): number | undefined => p.server.stats.value(name);

interface H2Reply { status: number; headers: http2.IncomingHttpHeaders; body: string; at: number }

/** One HTTP/2 request on `session`; `at` is performance.now() when the response headers arrived. */
function h2(session: http2.ClientHttp2Session, path: string, headers: http2.OutgoingHttpHeaders = {}, body?: string): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path, ':method': body === undefined ? 'GET' : 'POST', ...headers }, { endStream: body === undefined });
    let status = 0, at = 0, got: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => { status = Number(h[':status']); got = h; at = performance.now(); });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status, headers: got, body: Buffer.concat(chunks).toString(), at }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

function h2connect(t: T, port: number): http2.ClientHttp2Session {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', () => { /* asserted through requests */ });
  t.after(() => new Promise<void>((r) => {
    if (s.destroyed) { r(); return; }
    s.once('close', () => r());
    s.close();
  }));
  return s;
}

/** An HTTP/1.1 GET; `at` is performance.now() when the response head arrived. */
function timedGet(port: number, path: string, agent: http.Agent | false = false): Promise<{ status: number; at: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      const at = performance.now();
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, at }));
    });
    req.on('error', reject);
  });
}

// ───────────────────────────── fault: aborts ─────────────────────────────

test('fault: a 100% abort answers with the configured status over HTTP/1.1 and HTTP/2, never reaching the upstream (FI, fault_filter_abort, aborts_injected)', async (t) => {
  const s = await setup(t, { httpFilters: filters(['envoy.filters.http.fault', fault(abort(503))]) });
  const r1 = await request(s.p.port, '/x');
  assert.equal(r1.status, 503);
  assert.equal(r1.body, 'fault filter abort');
  const r2 = await h2(h2connect(t, s.p.port), '/y');
  assert.equal(r2.status, 503);
  assert.equal(r2.body, 'fault filter abort');
  assert.equal(s.upstreamCalls(), 0);
  assert.equal(stat(s.p, 'http.ingress.fault.aborts_injected'), 2);
  assert.equal(stat(s.p, 'http.ingress.fault.delays_injected'), 0);
  assert.deepEqual(await waitForLines(s.log, 2), ['503 FI fault_filter_abort', '503 FI fault_filter_abort']);
  // Active faults end with their streams.
  await eventually(() => stat(s.p, 'http.ingress.fault.active_faults') === 0, 'active_faults back to 0');
});

test('fault: a 50% abort over 400 requests aborts a share within a sane band (HTTP/1.1 keep-alive)', async (t) => {
  const s = await setup(t, { httpFilters: filters(['envoy.filters.http.fault', fault({ abort: { http_status: 500, percentage: { numerator: 5000, denominator: 'TEN_THOUSAND' } } })]) });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  t.after(() => agent.destroy());
  const statuses = await parallel(400, 8, () => request(s.p.port, '/', { agent }).then((r) => r.status));
  const aborted = statuses.filter((x) => x === 500).length;
  assert.equal(aborted + statuses.filter((x) => x === 200).length, 400);
  // Binomial(400, 0.5): sd 10; 140..260 is 6 sd either way.
  assert.ok(aborted >= 140 && aborted <= 260, `aborted ${aborted} of 400`);
  assert.equal(s.upstreamCalls(), 400 - aborted);
  assert.equal(stat(s.p, 'http.ingress.fault.aborts_injected'), aborted);
});

test('fault: a 0% abort (percentage absent: proto default) never aborts', async (t) => {
  const s = await setup(t, { httpFilters: filters(['envoy.filters.http.fault', fault({ abort: { http_status: 503 } })]) });
  for (let i = 0; i < 5; i++) assert.equal((await request(s.p.port, '/')).status, 200);
  assert.equal(stat(s.p, 'http.ingress.fault.aborts_injected'), 0);
});

test('fault: a gRPC abort is a trailers-only reply with the grpc-status (HTTP 200), over HTTP/2 and HTTP/1.1', async (t) => {
  const s = await setup(t, { httpFilters: filters(['envoy.filters.http.fault', fault({ abort: { grpc_status: 14, percentage: { numerator: 100 } } })]) });
  const r = await h2(h2connect(t, s.p.port), '/pkg.Svc/Method', { 'content-type': 'application/grpc', te: 'trailers' }, '\0\0\0\0\0');
  assert.equal(r.status, 200);
  assert.equal(r.headers['grpc-status'], '14');
  assert.equal(r.headers['grpc-message'], 'fault filter abort');
  assert.equal(r.headers['content-type'], 'application/grpc');
  assert.equal(r.body, '');
  // An HTTP status abort of a gRPC request maps to a grpc-status too (503 → UNAVAILABLE).
  const s2 = await setup(t, { httpFilters: filters(['envoy.filters.http.fault', fault(abort(503))]) });
  const r2 = await request(s2.p.port, '/pkg.Svc/Method', { method: 'POST', headers: { 'content-type': 'application/grpc' }, body: '\0\0\0\0\0' });
  assert.equal(r2.status, 200);
  assert.equal(r2.headers['grpc-status'], '14');
  assert.equal(s.upstreamCalls() + s2.upstreamCalls(), 0);
});

test('fault: a grpc-js client sees the injected gRPC status and message (per-route HTTPFault on the gRPC route)', async (t) => {
  const name = 'envoy.filters.http.fault';
  const s = await setup(t, {
    httpFilters: filters([name, fault({})]),
    routes: [toCluster('/test.Echo/', 'up', {}, { typed_per_filter_config: { [name]: fault({ abort: { grpc_status: 8, percentage: { numerator: 100 } } }) } })],
  });
  const id = (b: Buffer): Buffer => b;
  const Echo = grpc.makeGenericClientConstructor({
    Unary: { path: '/test.Echo/Unary', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
  }, 'Echo');
  const client = new Echo(`127.0.0.1:${s.p.port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Unary(req: Buffer, cb: (err: grpc.ServiceError | null) => void): void;
  };
  t.after(() => client.close());
  const err = await new Promise<grpc.ServiceError | null>((resolve) => client.Unary(Buffer.from('hi'), (e) => resolve(e)));
  assert.equal(err?.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.equal(err?.details, 'fault filter abort');
  assert.equal(s.upstreamCalls(), 0);
});

test('fault: header_abort takes the status from x-envoy-fault-abort-request; without the header nothing happens', async (t) => {
  const s = await setup(t, { httpFilters: filters(['envoy.filters.http.fault', fault({ abort: { header_abort: {}, percentage: { numerator: 100 } } })]) });
  assert.equal((await request(s.p.port, '/', { headers: { 'x-envoy-fault-abort-request': '429' } })).status, 429);
  assert.equal((await request(s.p.port, '/', { headers: { 'x-envoy-fault-abort-request': '429', 'x-envoy-fault-abort-request-percentage': '0' } })).status, 200);
  assert.equal((await request(s.p.port, '/')).status, 200);
  assert.equal(s.upstreamCalls(), 2);
});

test('fault: headers matchers and upstream_cluster restrict which requests are faulted', async (t) => {
  const s = await setup(t, {
    httpFilters: filters(
      ['only-tagged', fault({ ...abort(418), headers: [{ name: 'x-fault', string_match: { exact: 'yes' } }] })],
      ['other-cluster', fault({ ...abort(419), upstream_cluster: 'elsewhere' })],
    ),
  });
  assert.equal((await request(s.p.port, '/', { headers: { 'x-fault': 'yes' } })).status, 418);
  assert.equal((await request(s.p.port, '/', { headers: { 'x-fault': 'no' } })).status, 200);
  assert.equal((await request(s.p.port, '/')).status, 200);
});

// ───────────────────────────── fault: delays ─────────────────────────────

test('fault: a fixed delay holds the request at least that long over HTTP/1.1 and HTTP/2 (DI, delays_injected), then forwards it', async (t) => {
  const s = await setup(t, { httpFilters: filters(['envoy.filters.http.fault', fault(delay('0.3s'))]) });
  const t0 = performance.now();
  const r1 = await timedGet(s.p.port, '/a');
  assert.equal(r1.status, 200);
  assert.ok(r1.at - t0 >= 295, `HTTP/1.1 answered after ${r1.at - t0} ms`);
  const session = h2connect(t, s.p.port);
  const t1 = performance.now();
  const r2 = await h2(session, '/b', {}, 'a body sent during the delay');
  assert.equal(r2.status, 200);
  assert.ok(r2.at - t1 >= 295, `HTTP/2 answered after ${r2.at - t1} ms`);
  assert.ok(r2.at - t1 < 10_000);
  assert.equal(s.upstreamCalls(), 2);
  assert.equal(stat(s.p, 'http.ingress.fault.delays_injected'), 2);
  assert.deepEqual(await waitForLines(s.log, 2), ['200 DI via_upstream', '200 DI via_upstream']);
});

test('fault: a delay then an abort (both 100%) answers the abort after the delay, flagged DI and FI', async (t) => {
  const s = await setup(t, { httpFilters: filters(['envoy.filters.http.fault', fault({ ...delay('0.1s'), ...abort(504) })]) });
  const t0 = performance.now();
  const r = await timedGet(s.p.port, '/');
  assert.equal(r.status, 504);
  assert.ok(r.at - t0 >= 95, `answered after ${r.at - t0} ms`);
  const [line] = await waitForLines(s.log, 1);
  assert.match(line!, /^504 (DI,FI|FI,DI) fault_filter_abort$/);
  assert.equal(s.upstreamCalls(), 0);
});

test('fault: a delayed request whose client goes away (HTTP/1.1 reset, HTTP/2 stream cancel) is cleaned up: timer cleared, never forwarded, active_faults back to 0', async (t) => {
  const s = await setup(t, { httpFilters: filters(['envoy.filters.http.fault', fault(delay('30s'))]) });
  const sock = net.connect(s.p.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
  await eventually(() => stat(s.p, 'http.ingress.fault.active_faults') === 1, 'the delay to start');
  sock.resetAndDestroy();
  await eventually(() => stat(s.p, 'http.ingress.fault.active_faults') === 0, 'the delayed HTTP/1.1 stream to be destroyed');

  const session = h2connect(t, s.p.port);
  const req = session.request({ ':path': '/' }, { endStream: true });
  req.on('error', () => { /* cancelled below */ });
  await eventually(() => stat(s.p, 'http.ingress.fault.active_faults') === 1, 'the HTTP/2 delay to start');
  req.close(http2.constants.NGHTTP2_CANCEL);
  await eventually(() => stat(s.p, 'http.ingress.fault.active_faults') === 0, 'the delayed HTTP/2 stream to be destroyed');

  assert.equal(stat(s.p, 'http.ingress.downstream_rq_active'), 0);
  assert.equal(stat(s.p, 'http.ingress.downstream_rq_rx_reset'), 2);
  assert.equal(stat(s.p, 'http.ingress.fault.delays_injected'), 2);
  assert.equal(s.upstreamCalls(), 0);
  for (const line of await waitForLines(s.log, 2)) assert.match(line, /^0 (DI,DC|DC,DI) /);
});

test('fault: max_active_faults bounds concurrent faults; the overflow goes through untouched (faults_overflow)', async (t) => {
  const s = await setup(t, { httpFilters: filters(['envoy.filters.http.fault', fault({ ...delay('30s'), max_active_faults: 1 })]) });
  const slow = net.connect(s.p.port, '127.0.0.1');
  t.after(() => { slow.destroy(); });
  await new Promise((r) => slow.once('connect', r));
  slow.write('GET /slow HTTP/1.1\r\nhost: x\r\n\r\n');
  await eventually(() => stat(s.p, 'http.ingress.fault.active_faults') === 1, 'the first delay to start');
  const fast = await request(s.p.port, '/fast');
  assert.equal(fast.status, 200);
  // Answered while the first request is still held.
  assert.equal(stat(s.p, 'http.ingress.fault.active_faults'), 1);
  assert.equal(stat(s.p, 'http.ingress.fault.faults_overflow'), 1);
  assert.equal(stat(s.p, 'http.ingress.fault.delays_injected'), 1);
  assert.equal(s.upstreamCalls(), 1);
  slow.resetAndDestroy();
  await eventually(() => stat(s.p, 'http.ingress.fault.active_faults') === 0, 'the held stream to end');
});

// ───────────────────────────── fault: per-route config ─────────────────────────────

test('fault: typed_per_filter_config replaces the filter config per route, virtual host and route configuration; FilterConfig.disabled turns it off', async (t) => {
  const name = 'envoy.filters.http.fault';
  const s = await setup(t, {
    httpFilters: filters([name, fault(abort(503))]),
    routeConfig: { typed_per_filter_config: { [name]: fault(abort(502)) } },
    virtualHosts: [
      {
        name: 'vh', domains: ['vh.test'],
        typed_per_filter_config: { [name]: fault(abort(429)) },
        routes: [
          toCluster('/route', 'up', {}, { typed_per_filter_config: { [name]: fault(abort(418)) } }),
          toCluster('/off', 'up', {}, { typed_per_filter_config: { [name]: { '@type': FILTER_CONFIG_TYPE, disabled: true } } }),
          toCluster('/wrapped', 'up', {}, { typed_per_filter_config: { [name]: { '@type': FILTER_CONFIG_TYPE, config: fault(abort(451)) } } }),
          toCluster('/', 'up'),
        ],
      },
      { name: 'rest', domains: ['*'], routes: [toCluster('/', 'up')] },
    ],
  });
  const get = (path: string, host: string) => request(s.p.port, path, { headers: { host } }).then((r) => r.status);
  assert.equal(await get('/route', 'vh.test'), 418);
  assert.equal(await get('/off', 'vh.test'), 200);
  assert.equal(await get('/wrapped', 'vh.test'), 451);
  assert.equal(await get('/', 'vh.test'), 429);
  assert.equal(await get('/', 'other.test'), 502);
  assert.equal(s.upstreamCalls(), 1);
});

// ───────────────────────────── CORS ─────────────────────────────

const CORS_NAME = 'envoy.filters.http.cors';
const POLICY = corsPolicy({
  allow_origin_string_match: [{ exact: 'https://app.example' }, { suffix: '.trusted.example' }],
  allow_methods: 'GET, PUT',
  allow_headers: 'x-custom, content-type',
  expose_headers: 'x-exposed',
  max_age: '600',
  allow_credentials: true,
});

async function corsSetup(t: T, policy: Obj = POLICY, extraRoutes: Obj[] = []): Promise<Setup> {
  return setup(t, {
    httpFilters: filters([CORS_NAME, { '@type': CORS_TYPE }]),
    virtualHosts: [{
      name: 'vh', domains: ['*'],
      typed_per_filter_config: { [CORS_NAME]: policy },
      routes: [...extraRoutes, toCluster('/', 'up')],
    }],
  });
}

test('cors: a preflight from an allowed origin is answered by the proxy with 200 and the allow headers (HTTP/1.1 and HTTP/2)', async (t) => {
  const s = await corsSetup(t);
  const preflight = { origin: 'https://app.example', 'access-control-request-method': 'PUT' };
  const r = await request(s.p.port, '/api', { method: 'OPTIONS', headers: preflight });
  assert.equal(r.status, 200);
  assert.equal(r.headers['access-control-allow-origin'], 'https://app.example');
  assert.equal(r.headers['access-control-allow-methods'], 'GET, PUT');
  assert.equal(r.headers['access-control-allow-headers'], 'x-custom, content-type');
  assert.equal(r.headers['access-control-max-age'], '600');
  assert.equal(r.headers['access-control-allow-credentials'], 'true');
  assert.equal(r.body, '');
  const r2 = await h2(h2connect(t, s.p.port), '/api', { ':method': 'OPTIONS', origin: 'https://a.trusted.example', 'access-control-request-method': 'GET' });
  assert.equal(r2.status, 200);
  assert.equal(r2.headers['access-control-allow-origin'], 'https://a.trusted.example');
  assert.equal(s.upstreamCalls(), 0);
  assert.equal(stat(s.p, 'http.ingress.cors.origin_valid'), 2);
  assert.deepEqual(await waitForLines(s.log, 2), ['200 - cors_response', '200 - cors_response']);
});

test('cors: a simple request from an allowed origin gets allow-origin, credentials and expose headers on the upstream response', async (t) => {
  const s = await corsSetup(t);
  const r = await request(s.p.port, '/api', { headers: { origin: 'https://app.example' } });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'ok');
  assert.equal(r.headers['access-control-allow-origin'], 'https://app.example'); // replaces the upstream's
  assert.equal(r.headers['access-control-allow-credentials'], 'true');
  assert.equal(r.headers['access-control-expose-headers'], 'x-exposed');
  assert.equal(r.headers['access-control-allow-methods'], undefined);
  const r2 = await h2(h2connect(t, s.p.port), '/api', { origin: 'https://b.trusted.example' });
  assert.equal(r2.headers['access-control-allow-origin'], 'https://b.trusted.example');
  assert.equal(s.upstreamCalls(), 2);
});

test('cors: a refused origin gets no CORS headers and its preflight goes upstream (origin_invalid); no Origin, no CORS', async (t) => {
  const s = await corsSetup(t);
  const r = await request(s.p.port, '/api', { headers: { origin: 'https://evil.example' } });
  assert.equal(r.headers['access-control-allow-origin'], 'stale'); // the upstream's own, untouched
  assert.equal(r.headers['access-control-allow-credentials'], undefined);
  const pre = await request(s.p.port, '/api', { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'PUT' } });
  assert.equal(pre.body, 'ok');
  const none = await request(s.p.port, '/api');
  assert.equal(none.headers['access-control-expose-headers'], undefined);
  assert.equal(s.upstreamCalls(), 3);
  assert.equal(stat(s.p, 'http.ingress.cors.origin_invalid'), 2);
  assert.equal(stat(s.p, 'http.ingress.cors.origin_valid'), 0);
});

test('cors: a route-level policy overrides the virtual host field by field; filter_enabled 0% and FilterConfig.disabled turn CORS off; shadow mode only counts', async (t) => {
  const s = await corsSetup(t, POLICY, [
    toCluster('/narrow', 'up', {}, { typed_per_filter_config: { [CORS_NAME]: corsPolicy({ allow_origin_string_match: [{ exact: 'https://other.example' }] }) } }),
    toCluster('/off', 'up', {}, { typed_per_filter_config: { [CORS_NAME]: corsPolicy({ filter_enabled: { default_value: { numerator: 0 } } }) } }),
    toCluster('/shadow', 'up', {}, { typed_per_filter_config: { [CORS_NAME]: corsPolicy({ filter_enabled: { default_value: { numerator: 0 } }, shadow_enabled: { default_value: { numerator: 100 } } }) } }),
    toCluster('/disabled', 'up', {}, { typed_per_filter_config: { [CORS_NAME]: { '@type': FILTER_CONFIG_TYPE, disabled: true } } }),
  ]);
  const narrow = await request(s.p.port, '/narrow', { headers: { origin: 'https://other.example' } });
  assert.equal(narrow.headers['access-control-allow-origin'], 'https://other.example');
  assert.equal(narrow.headers['access-control-expose-headers'], 'x-exposed'); // inherited from the virtual host
  const refused = await request(s.p.port, '/narrow', { headers: { origin: 'https://app.example' } });
  assert.equal(refused.headers['access-control-allow-origin'], 'stale');
  for (const path of ['/off', '/shadow', '/disabled']) {
    const r = await request(s.p.port, path, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'PUT' } });
    assert.equal(r.body, 'ok', path); // forwarded, not answered
    assert.equal(r.headers['access-control-allow-origin'], 'stale', path);
  }
  assert.equal(stat(s.p, 'http.ingress.cors.origin_valid'), 2); // /narrow and /shadow
  assert.equal(stat(s.p, 'http.ingress.cors.origin_invalid'), 1);
});

test('cors before fault: the fault abort reply carries the CORS headers (filters before the replying one see its response)', async (t) => {
  const s = await setup(t, {
    httpFilters: filters([CORS_NAME, { '@type': CORS_TYPE }], ['envoy.filters.http.fault', fault(abort(503))]),
    virtualHosts: [{ name: 'vh', domains: ['*'], typed_per_filter_config: { [CORS_NAME]: POLICY }, routes: [toCluster('/', 'up')] }],
  });
  const r = await request(s.p.port, '/', { headers: { origin: 'https://app.example' } });
  assert.equal(r.status, 503);
  assert.equal(r.headers['access-control-allow-origin'], 'https://app.example');
});
