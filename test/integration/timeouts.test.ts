// Timeouts and forwarding end to end: request_headers_timeout, stream_idle_timeout, the connection
// idle_timeout, route idle_timeout; x-forwarded-for / -proto with use_remote_address and
// xff_num_trusted_hops, x-request-id; retries (per_try_timeout, connect-failure, retriable status
// codes, back-off).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { echo, startUpstream } from '../helpers/upstream.js';
import { splitResponses, startProxy } from '../helpers/proxy.js';
import { bootstrap, cluster, deadPort, eventually, hcm, listener, request, simple, toCluster, type Obj } from '../helpers/bootstrap.js';

type T = { after(fn: () => Promise<void> | void): void };

/** A raw client connection with helpers to wait for bytes and for the close. */
async function connect(t: T, port: number): Promise<{ sock: net.Socket; received(): string; until(pred: (s: string) => boolean): Promise<string>; closed: Promise<number> }> {
  const sock = net.connect(port, '127.0.0.1');
  t.after(() => { sock.destroy(); });
  let got = '';
  const waiters: Array<() => void> = [];
  sock.on('data', (d) => { got += d.toString('latin1'); for (const w of waiters.splice(0)) w(); });
  sock.on('error', () => { /* close follows */ });
  const closed = new Promise<number>((r) => sock.on('close', () => { for (const w of waiters.splice(0)) w(); r(performance.now()); }));
  await new Promise((r) => sock.once('connect', r));
  return {
    sock,
    received: () => got,
    until: (pred) => new Promise((resolve, reject) => {
      const check = (): void => {
        if (pred(got)) resolve(got);
        else if (sock.destroyed) reject(new Error(`closed before the expected bytes; got ${JSON.stringify(got)}`));
        else waiters.push(check);
      };
      check();
    }),
    closed,
  };
}

const never = async (t: T) => {
  const up = await startUpstream(() => { /* never answers */ });
  t.after(() => up.close());
  return up;
};

test('request_headers_timeout closes a connection whose request head never completes (slowloris)', async (t) => {
  const [up] = [await startUpstream(echo('up'))];
  t.after(() => up!.close());
  const px = await startProxy(simple({
    routes: [toCluster('/', 'up')], clusters: [cluster('up', [up!.port])], extra: { request_headers_timeout: '0.15s' },
  }));
  t.after(() => px.close());
  // A complete request is unaffected, and the idle keep-alive connection after it is not timed.
  const ok = await connect(t, px.port);
  ok.sock.write('GET /ok HTTP/1.1\r\nHost: a\r\n\r\n');
  await ok.until((s) => splitResponses(s).length === 1 && s.includes('"url":"/ok"'));

  const slow = await connect(t, px.port);
  const start = performance.now();
  slow.sock.write('GET / HTTP/1.1\r\nHost: a\r\n');
  // Keep trickling header bytes: the timeout runs from the first byte, not from the last.
  const trickle = setInterval(() => { if (!slow.sock.destroyed) slow.sock.write('X-A: b\r\n'); }, 30);
  t.after(() => clearInterval(trickle));
  const closedAt = await slow.closed;
  clearInterval(trickle);
  assert.equal(slow.received(), '');
  assert.ok(closedAt - start >= 140, `closed after ${closedAt - start} ms`);
  assert.ok(closedAt - start < 1000, `closed after ${closedAt - start} ms`);
  assert.equal(px.server.stats.value('http.ingress.downstream_rq_header_timeout'), 1);
  assert.equal(ok.sock.destroyed, false);
  assert.equal(up!.requests.length, 1);
});

test('stream_idle_timeout: 504 once the request is complete, 408 while it is not (Envoy)', async (t) => {
  const up = await never(t);
  const px = await startProxy(simple({
    routes: [toCluster('/', 'up', { timeout: '10s' })], clusters: [cluster('up', [up.port])], extra: { stream_idle_timeout: '0.15s' },
  }));
  t.after(() => px.close());
  const start = performance.now();
  const r = await request(px.port, '/hang');
  assert.ok(performance.now() - start >= 140);
  assert.equal(r.status, 504);
  assert.equal(r.body, 'stream timeout');

  const partial = await connect(t, px.port);
  partial.sock.write('POST /partial HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc');
  const text = await partial.until((s) => s.includes('stream timeout'));
  assert.match(text, /^HTTP\/1\.1 408 /);
  await partial.closed;   // the rest of the request body will never come: the connection closes
  assert.equal(px.server.stats.value('http.ingress.downstream_rq_idle_timeout'), 2);
});

test('stream_idle_timeout does not cut a response that keeps making progress', async (t) => {
  const up = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    let n = 0;
    const timer = setInterval(() => { res.write(`tick${n}\n`); if (++n === 6) { clearInterval(timer); res.end(); } }, 40);
  });
  t.after(() => up.close());
  const px = await startProxy(simple({ routes: [toCluster('/', 'up')], clusters: [cluster('up', [up.port])], extra: { stream_idle_timeout: '0.1s' } }));
  t.after(() => px.close());
  const r = await request(px.port, '/slow');
  assert.equal(r.status, 200);
  assert.equal(r.body.split('\n').filter(Boolean).length, 6);
});

test('connection idle_timeout closes an idle keep-alive connection', async (t) => {
  const px = await startProxy(simple({
    routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'ok' } } }],
    extra: { common_http_protocol_options: { idle_timeout: '0.15s' } },
  }));
  t.after(() => px.close());
  const c = await connect(t, px.port);
  c.sock.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await c.until((s) => s.endsWith('ok'));
  const idleFrom = performance.now();
  const closedAt = await c.closed;
  // The proxy's idle clock starts when it wrote the response, a little before the client saw it.
  assert.ok(closedAt - idleFrom >= 100, `closed after ${closedAt - idleFrom} ms idle`);
  assert.equal(splitResponses(c.received()).length, 1);
  assert.equal(px.server.stats.value('http.ingress.downstream_cx_idle_timeout'), 1);
});

test('route idle_timeout overrides the stream idle timeout; 0 disables it', async (t) => {
  const up = await never(t);
  const px = await startProxy(simple({
    routes: [
      toCluster('/short', 'up', { timeout: '10s', idle_timeout: '0.15s' }),          // HCM default is 5 min
      toCluster('/off', 'up', { timeout: '0.4s', idle_timeout: '0s' }),             // HCM says 0.1s
    ],
    clusters: [cluster('up', [up.port])],
    extra: {
      stream_idle_timeout: '0.1s',
      access_log: [{ name: 'x', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog', log_format: { text_format: '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\n' } } }],
    },
  }));
  t.after(() => px.close());
  let start = performance.now();
  const short = await request(px.port, '/short');
  assert.equal(short.status, 504);
  assert.equal(short.body, 'stream timeout');
  assert.ok(performance.now() - start >= 140);
  start = performance.now();
  const off = await request(px.port, '/off');
  assert.equal(off.status, 504);
  assert.equal(off.body, 'upstream request timeout');   // the route timeout, not the (disabled) idle one
  assert.ok(performance.now() - start >= 390);
  assert.equal(px.server.stats.value('http.ingress.downstream_rq_idle_timeout'), 1);
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_timeout'), 1);
});

test('a route idle_timeout applies to its own request only, not to the next one on the connection', async (t) => {
  const up = await startUpstream((req, res) => {
    const answer = (): void => { res.writeHead(200, { 'content-length': '2' }); res.end('ok'); };
    if (req.url === '/slow') setTimeout(answer, 250); else answer();
  });
  t.after(() => up.close());
  const px = await startProxy(simple({
    routes: [toCluster('/fast', 'up', { idle_timeout: '0.1s' }), toCluster('/slow', 'up')],
    clusters: [cluster('up', [up.port])],
    extra: { stream_idle_timeout: '0s' },
  }));
  t.after(() => px.close());
  const c = await connect(t, px.port);
  c.sock.write('GET /fast HTTP/1.1\r\nHost: a\r\n\r\n');
  await c.until((s) => splitResponses(s).length === 1 && s.endsWith('ok'));
  c.sock.write('GET /slow HTTP/1.1\r\nHost: a\r\n\r\n');
  const text = await c.until((s) => splitResponses(s).length === 2 && s.endsWith('ok'));
  assert.deepEqual(splitResponses(text).map((r) => r.status), [200, 200]);
  assert.equal(px.server.stats.value('http.ingress.downstream_rq_idle_timeout'), 0);
});

test('use_remote_address, xff_num_trusted_hops, x-forwarded-proto and x-request-id', async (t) => {
  const up = await startUpstream(echo('up'));
  t.after(() => up.close());
  const mgr = (name: string, extra: Obj): Obj => hcm({
    statPrefix: name,
    routes: [toCluster('/', 'up', {}, {
      request_headers_to_add: [{ header: { key: 'x-trusted-client', value: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%' } }],
    })],
    extra,
  });
  const px = await startProxy(bootstrap({
    listeners: [
      listener({ name: 'edge', filter: mgr('edge', { use_remote_address: true }) }),
      listener({ name: 'trust1', filter: mgr('trust1', { use_remote_address: true, xff_num_trusted_hops: 1 }) }),
      listener({ name: 'trust2', filter: mgr('trust2', { use_remote_address: true, xff_num_trusted_hops: 2 }) }),
      listener({ name: 'inner', filter: mgr('inner', { generate_request_id: false }) }),
    ],
    clusters: [cluster('up', [up.port])],
  }));
  t.after(() => px.close());
  const seen = async (listenerName: string, headers: Record<string, string> = {}) =>
    (JSON.parse((await request(px.portOf(listenerName), '/', { headers })).body) as { headers: Record<string, string> }).headers;

  // Edge: the connection's address is appended to x-forwarded-for; x-forwarded-proto is the real scheme.
  let h = await seen('edge');
  assert.equal(h['x-forwarded-for'], '127.0.0.1');
  assert.equal(h['x-forwarded-proto'], 'http');
  assert.equal(h['x-trusted-client'], '127.0.0.1');
  assert.match(h['x-request-id']!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  h = await seen('edge', { 'x-forwarded-for': '192.0.2.1', 'x-forwarded-proto': 'https', 'x-request-id': 'keep-me-123' });
  assert.equal(h['x-forwarded-for'], '192.0.2.1, 127.0.0.1');
  assert.equal(h['x-forwarded-proto'], 'http');          // an untrusted hop's value is overwritten
  assert.equal(h['x-trusted-client'], '127.0.0.1');      // no trusted hops: the peer is the client
  assert.equal(h['x-request-id'], 'keep-me-123');         // from an internal (loopback) peer: kept

  // One trusted hop: the client is the last x-forwarded-for entry.
  h = await seen('trust1', { 'x-forwarded-for': '10.9.9.9, 192.0.2.1' });
  assert.equal(h['x-forwarded-for'], '10.9.9.9, 192.0.2.1, 127.0.0.1');
  assert.equal(h['x-trusted-client'], '192.0.2.1');
  h = await seen('trust2', { 'x-forwarded-for': '10.9.9.9, 192.0.2.1' });
  assert.equal(h['x-trusted-client'], '10.9.9.9');

  // Not an edge: x-forwarded-for is passed on untouched; no request id is generated.
  h = await seen('inner', { 'x-forwarded-for': '192.0.2.1', 'x-forwarded-proto': 'https' });
  assert.equal(h['x-forwarded-for'], '192.0.2.1');
  assert.equal(h['x-forwarded-proto'], 'https');
  assert.equal(h['x-request-id'], undefined);
  h = await seen('inner', { 'x-request-id': 'abc' });
  assert.equal(h['x-request-id'], 'abc');
  h = await seen('inner');
  assert.equal(h['x-forwarded-for'], undefined);
  assert.equal(h['x-forwarded-proto'], 'http');
});

test('per_try_timeout: a hung try is abandoned and retried; without a reset-type retry_on it is not', async (t) => {
  let n = 0;
  const up = await startUpstream((_req, res) => {
    if (++n === 1) return;   // the first try hangs
    res.writeHead(200, { 'content-length': '2' }); res.end('ok');
  });
  t.after(() => up.close());
  const stuck = await never(t);
  const px = await startProxy(simple({
    routes: [
      toCluster('/retry', 'up', { retry_policy: { retry_on: '5xx', num_retries: 2, per_try_timeout: '0.1s', retry_back_off: { base_interval: '0.001s' } } }),
      toCluster('/codes', 'stuck', { retry_policy: { retry_on: 'retriable-status-codes', retriable_status_codes: [503], num_retries: 2, per_try_timeout: '0.1s' } }),
    ],
    clusters: [cluster('up', [up.port]), cluster('stuck', [stuck.port])],
  }));
  t.after(() => px.close());
  const start = performance.now();
  const r = await request(px.port, '/retry');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'ok');
  assert.ok(performance.now() - start >= 95);
  assert.equal(up.requests.length, 2);
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_per_try_timeout'), 1);
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_retry'), 1);
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_retry_success'), 1);

  const c = await request(px.port, '/codes');
  assert.equal(c.status, 504);
  assert.equal(c.body, 'upstream request timeout');
  assert.equal(stuck.requests.length, 1);
  assert.equal(px.server.stats.value('cluster.stuck.upstream_rq_retry'), 0);
});

test('retry_on connect-failure moves from a dead endpoint to a live one', async (t) => {
  const up = await startUpstream(echo('live'));
  t.after(() => up.close());
  const dead = await deadPort();
  const px = await startProxy(simple({
    routes: [toCluster('/', 'two', { retry_policy: { retry_on: 'connect-failure', num_retries: 1, retry_back_off: { base_interval: '0.001s' } } })],
    clusters: [cluster('two', [dead, up.port], { lb_policy: 'ROUND_ROBIN' })],
  }));
  t.after(() => px.close());
  for (let i = 0; i < 10; i++) {
    const r = await request(px.port, `/${i}`);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-upstream'], 'live');
  }
  const fails = px.server.stats.value('cluster.two.upstream_cx_connect_fail') ?? 0;
  assert.ok(fails >= 4, `only ${fails} connect failures`);   // round robin puts about every other try on the dead one
  assert.equal(px.server.stats.value('cluster.two.upstream_rq_retry'), fails);
  assert.equal(up.requests.length, 10);
});

test('retriable-status-codes retries only the listed codes', async (t) => {
  const seen = new Map<string, number>();
  const up = await startUpstream((req, res) => {
    const k = req.url!;
    const n = (seen.get(k) ?? 0) + 1;
    seen.set(k, n);
    const status = k === '/teapot' && n === 1 ? 418 : k === '/error' ? 500 : 200;
    res.writeHead(status, { 'content-length': String(String(n).length) });
    res.end(String(n));
  });
  t.after(() => up.close());
  const px = await startProxy(simple({
    routes: [toCluster('/', 'up', { retry_policy: { retry_on: 'retriable-status-codes', retriable_status_codes: [418], num_retries: 2, retry_back_off: { base_interval: '0.001s' } } })],
    clusters: [cluster('up', [up.port])],
  }));
  t.after(() => px.close());
  const teapot = await request(px.port, '/teapot');
  assert.deepEqual([teapot.status, teapot.body], [200, '2']);
  const error = await request(px.port, '/error');
  assert.deepEqual([error.status, error.body], [500, '1']);
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_retry'), 1);
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_418'), 1);
});

test('retry back-off: jittered waits bounded by max_interval between attempts', async (t) => {
  const arrivals: number[] = [];
  const up = await startUpstream((_req, res) => { arrivals.push(performance.now()); res.writeHead(503, { 'content-length': '4' }); res.end('busy'); });
  t.after(() => up.close());
  const px = await startProxy(simple({
    routes: [toCluster('/', 'up', { retry_policy: { retry_on: '5xx', num_retries: 4, retry_back_off: { base_interval: '0.05s', max_interval: '0.05s' } } })],
    clusters: [cluster('up', [up.port])],
  }));
  t.after(() => px.close());
  const r = await request(px.port, '/');
  assert.equal(r.status, 503);
  assert.equal(r.body, 'busy');
  assert.equal(arrivals.length, 5);
  const gaps = arrivals.slice(1).map((a, i) => a - arrivals[i]!);
  // Each wait is uniform in [0, 50 ms) (max_interval caps the doubling); allow scheduling slack
  // above, and expect some waiting overall (four waits under 5 ms in total: probability ~4e-6).
  for (const g of gaps) assert.ok(g < 50 + 150, `gap ${g} ms`);
  assert.ok(gaps.reduce((a, b) => a + b, 0) >= 5, `gaps ${gaps.join(', ')}`);
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_retry'), 4);
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_retry_limit_exceeded'), 1);
});

test('stream_idle_timeout runs per stream: 32 keep-alive requests of 300 ms each under a 1 s timeout all succeed', async (t) => {
  const up = await startUpstream((_req, res) => {
    setTimeout(() => { res.writeHead(200, { 'content-length': '2' }); res.end('ok'); }, 300);
  });
  t.after(() => up.close());
  const px = await startProxy(simple({ routes: [toCluster('/', 'up')], clusters: [cluster('up', [up.port])], extra: { stream_idle_timeout: '1s' } }));
  t.after(() => px.close());
  const c = await connect(t, px.port);
  for (let i = 0; i < 32; i++) {
    c.sock.write(`GET /r${i} HTTP/1.1\r\nHost: a\r\n\r\n`);
    await c.until((s) => {
      const rs = splitResponses(s);
      return rs.length === i + 1 && rs[i]!.body.length === Number(rs[i]!.headers['content-length']);
    });
  }
  assert.deepEqual(splitResponses(c.received()).map((r) => r.status), new Array(32).fill(200));
  assert.equal(px.server.stats.value('http.ingress.downstream_rq_idle_timeout'), 0);
});

test('request_headers_timeout also covers a request head begun while the previous response was pending', async (t) => {
  let answer: (() => void) | null = null;
  const up = await startUpstream((_req, res) => { answer = () => { res.writeHead(200, { 'content-length': '2' }); res.end('ok'); }; });
  t.after(() => up.close());
  const px = await startProxy(simple({
    routes: [toCluster('/', 'up')], clusters: [cluster('up', [up.port])], extra: { request_headers_timeout: '0.2s' },
  }));
  t.after(() => px.close());
  const c = await connect(t, px.port);
  // A complete request, then (while it waits for its response) the start of a second one that never ends.
  c.sock.write('GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n');
  await eventually(() => answer !== null, 'the first request upstream');
  answer!();
  const respondedAt = performance.now();
  await c.until((s) => s.endsWith('ok'));
  const closedAt = await c.closed;
  assert.ok(closedAt - respondedAt < 3000, `closed ${closedAt - respondedAt} ms after the first response`);
  assert.equal(px.server.stats.value('http.ingress.downstream_rq_header_timeout'), 1);
});

test('max_connection_duration: an idle connection is closed, a busy one gets Connection: close (Envoy drain)', async (t) => {
  let answer: (() => void) | null = null;
  const up = await startUpstream((req, res) => {
    const reply = () => { res.writeHead(200, { 'content-length': '2' }); res.end('ok'); };
    if (req.url === '/hold') answer = reply; else reply();
  });
  t.after(() => up.close());
  const px = await startProxy(simple({
    routes: [toCluster('/', 'up')], clusters: [cluster('up', [up.port])],
    extra: { common_http_protocol_options: { max_connection_duration: '0.3s' } },
  }));
  t.after(() => px.close());
  // Idle when the duration is reached: closed then.
  const idle = await connect(t, px.port);
  const opened = performance.now();
  idle.sock.write('GET /a HTTP/1.1\r\nHost: a\r\n\r\n');
  await idle.until((s) => s.endsWith('ok'));
  assert.doesNotMatch(idle.received(), /connection: close/i);
  const closedAt = await idle.closed;
  assert.ok(closedAt - opened >= 280, `closed after ${closedAt - opened} ms`);
  // Busy when the duration is reached: the response in progress carries Connection: close, then the close.
  const busy = await connect(t, px.port);
  busy.sock.write('GET /hold HTTP/1.1\r\nHost: a\r\n\r\n');
  await eventually(() => answer !== null, 'the request upstream');
  await eventually(() => px.server.stats.value('http.ingress.downstream_cx_max_duration_reached') === 2, 'the second connection to reach its duration', 3000);
  answer!();
  await busy.closed;
  const rs = splitResponses(busy.received());
  assert.equal(rs.length, 1);
  assert.equal(rs[0]!.status, 200);
  assert.equal(rs[0]!.headers['connection'], 'close');
});
