// HTTP/1.1 downstream → HTTP/2 upstream through the session pool: translation both ways (bodies,
// trailers, hop-by-hop fields, host ↔ :authority), multiplexing on one session, opening a second
// session at the peer's max_concurrent_streams, GOAWAY with retries of refused streams,
// max_requests_per_connection, idle timeout, protocol selection (use_downstream_protocol_config,
// auto_config over plaintext).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startProxy, rawExchange } from '../helpers/proxy.js';
import { cluster, parallel, request, simple, toCluster, UPSTREAM_HTTP_OPTIONS_KEY } from '../helpers/bootstrap.js';
import { h2Options, startH2Upstream } from '../helpers/h2-upstream.js';
import { startUpstream, echo } from '../helpers/upstream.js';

type T = { after(fn: () => Promise<void> | void): void };

async function proxyTo(t: T, port: number, clusterExtra: Record<string, unknown> = h2Options(), action: Record<string, unknown> = {}) {
  const px = await startProxy(simple({ routes: [toCluster('/', 'up', action)], clusters: [cluster('up', [port], clusterExtra)] }));
  t.after(() => px.close());
  return px;
}

/** Resolves when `n` requests are being held by the upstream. */
function gate(n: number): { arrived(release: () => void): void; all: Promise<void> } {
  const held: Array<() => void> = [];
  let open!: () => void;
  const all = new Promise<void>((r) => { open = r; });
  return {
    all,
    arrived(release) {
      held.push(release);
      if (held.length === n) { open(); for (const f of held.splice(0)) f(); }
    },
  };
}

test('GET and POST go upstream as HTTP/2 with :authority, without hop-by-hop fields, te: trailers kept', async (t) => {
  const up = await startH2Upstream((stream, seen) => {
    stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-up': 'h2' });
    stream.end(`got ${seen.body.length} bytes`);
  });
  t.after(() => up.close());
  const px = await proxyTo(t, up.port);

  const get = await request(px.port, '/a?b=1', { headers: { host: 'svc.local', connection: 'keep-alive, x-hop', 'x-hop': '1', te: 'trailers', 'keep-alive': 'timeout=5' } });
  assert.equal(get.status, 200);
  assert.equal(get.body, 'got 0 bytes');
  assert.equal(get.headers['x-up'], 'h2');
  const h = up.seen[0]!.headers;
  assert.equal(h[':authority'], 'svc.local');
  assert.equal(h[':path'], '/a?b=1');
  assert.equal(h[':method'], 'GET');
  assert.equal(h[':scheme'], 'http');
  assert.equal(h.host, undefined);
  assert.equal(h.te, 'trailers');
  for (const hop of ['connection', 'keep-alive', 'x-hop', 'transfer-encoding']) assert.equal(h[hop], undefined, hop);

  const post = await request(px.port, '/p', { method: 'POST', body: 'hello' });
  assert.equal(post.body, 'got 5 bytes');
  assert.equal(up.seen[1]!.headers['content-length'], '5');
  assert.equal(up.seen[1]!.body.toString(), 'hello');
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_http2_total'), 1);
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_200'), 2);
});

test('large bodies stream both ways (2 MiB up, 3 MiB down)', async (t) => {
  const down = Buffer.alloc(3 * 1024 * 1024, 'd');
  const up = await startH2Upstream((stream, seen) => {
    stream.respond({ ':status': 200, 'x-got': String(seen.body.length) });
    stream.end(down);
  });
  t.after(() => up.close());
  const px = await proxyTo(t, up.port);
  const body = Buffer.alloc(2 * 1024 * 1024, 'u');
  const r = await request(px.port, '/big', { method: 'POST', body });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-got'], String(body.length));
  assert.equal(r.body.length, down.length);
});

test('trailers: HTTP/1.1 chunked request trailers become HTTP/2 trailers and HTTP/2 response trailers come back chunked', async (t) => {
  const up = await startH2Upstream((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/x-test' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc', 'grpc-status': '0' }));
    stream.end('body');
  });
  t.after(() => up.close());
  const px = await proxyTo(t, up.port);
  const text = await rawExchange(px.port,
    'POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\nTrailer: x-req\r\n\r\n3\r\nabc\r\n0\r\nx-req: done\r\n\r\n',
    { until: (s) => s.includes('\r\n0\r\n') && s.endsWith('\r\n\r\n') });
  assert.match(text, /^HTTP\/1\.1 200/);
  assert.match(text, /transfer-encoding: chunked/i);
  assert.match(text, /\r\n0\r\nx-checksum: abc\r\ngrpc-status: 0\r\n\r\n$/);
  const seen = up.seen[0]!;
  assert.equal(seen.body.toString(), 'abc');
  assert.equal(seen.trailers?.['x-req'], 'done');
  assert.equal(seen.headers.te, 'trailers');
});

test('parallel requests share one session (upstream_cx_total stays 1)', async (t) => {
  const n = 20;
  const g = gate(n);
  const up = await startH2Upstream((stream) => g.arrived(() => { stream.respond({ ':status': 200 }); stream.end('ok'); }));
  t.after(() => up.close());
  const px = await proxyTo(t, up.port);
  const replies = await parallel(n, n, () => request(px.port, '/m'));
  assert.ok(replies.every((r) => r.status === 200 && r.body === 'ok'));
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_total'), 1);
  assert.equal(up.sessions(), 1);
});

test("the peer's max_concurrent_streams opens a second session when the first is full", async (t) => {
  const g = gate(4);
  const up = await startH2Upstream((stream) => g.arrived(() => { stream.respond({ ':status': 200 }); stream.end(); }),
    { settings: { maxConcurrentStreams: 2 } });
  t.after(() => up.close());
  const px = await proxyTo(t, up.port);
  const replies = await parallel(4, 4, () => request(px.port, '/c'));
  assert.ok(replies.every((r) => r.status === 200));
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_total'), 2);
  assert.deepEqual([...new Set(up.seen.map((s) => s.sessionId))].sort(), [1, 2]);
});

test('our max_concurrent_streams bounds streams per session too', async (t) => {
  const g = gate(3);
  const up = await startH2Upstream((stream) => g.arrived(() => { stream.respond({ ':status': 200 }); stream.end(); }));
  t.after(() => up.close());
  const px = await proxyTo(t, up.port, h2Options({ max_concurrent_streams: 1 }));
  const replies = await parallel(3, 3, () => request(px.port, '/c'));
  assert.ok(replies.every((r) => r.status === 200));
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_total'), 3);
});

test('a GOAWAY mid-traffic: streams above last-stream-id are retried on a new session, none fails', async (t) => {
  let first = true;
  const held: Array<{ stream: import('node:http2').ServerHttp2Stream; id: number }> = [];
  const up = await startH2Upstream((stream, seen, session) => {
    if (seen.sessionId !== 1) { stream.respond({ ':status': 200 }); stream.end('second'); return; }
    held.push({ stream, id: stream.id! });
    if (held.length === 3 && first) {
      first = false;
      const lowest = Math.min(...held.map((h) => h.id));
      // Only the lowest stream is processed; the others are refused by the GOAWAY.
      session.goaway(0, lowest);
      const keep = held.find((h) => h.id === lowest)!;
      keep.stream.respond({ ':status': 200 });
      keep.stream.end('first');
    }
  });
  t.after(() => up.close());
  const px = await proxyTo(t, up.port, h2Options(), { retry_policy: { retry_on: 'refused-stream', num_retries: 2 } });
  const replies = await parallel(3, 3, () => request(px.port, '/g'));
  assert.deepEqual(replies.map((r) => r.status), [200, 200, 200]);
  assert.deepEqual(replies.map((r) => r.body).sort(), ['first', 'second', 'second']);
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_retry'), 2);
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_total'), 2);
  // Later requests go to the new session only.
  const after = await request(px.port, '/later');
  assert.equal(after.body, 'second');
});

test('a graceful GOAWAY from the upstream lets in-flight streams finish and new ones use a new session', async (t) => {
  const up = await startH2Upstream((stream, seen, session) => {
    stream.respond({ ':status': 200 });
    stream.end(String(seen.sessionId));
    if (seen.sessionId === 1) session.close();
  });
  t.after(() => up.close());
  const px = await proxyTo(t, up.port);
  const bodies: string[] = [];
  for (let i = 0; i < 3; i++) bodies.push((await request(px.port, '/s')).body);
  assert.equal(bodies[0], '1');
  assert.notEqual(bodies[1], '1');
  assert.ok(bodies.every((b, i) => i === 0 || b !== '1'));
});

test('max_requests_per_connection drains a session after that many streams', async (t) => {
  const up = await startH2Upstream((stream, seen) => { stream.respond({ ':status': 200 }); stream.end(String(seen.sessionId)); });
  t.after(() => up.close());
  const px = await proxyTo(t, up.port, h2Options({}, { max_requests_per_connection: 2 }));
  const bodies: string[] = [];
  for (let i = 0; i < 4; i++) bodies.push((await request(px.port, '/r')).body);
  assert.deepEqual(bodies, ['1', '1', '2', '2']);
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_max_requests'), 2);
});

test('an idle session closes after idle_timeout', async (t) => {
  const up = await startH2Upstream((stream) => { stream.respond({ ':status': 200 }); stream.end(); });
  t.after(() => up.close());
  const px = await proxyTo(t, up.port, h2Options({}, { idle_timeout: '0.1s' }));
  const closed = new Promise<void>((r) => up.server.once('session', (s) => s.once('close', () => r())));
  assert.equal((await request(px.port, '/i')).status, 200);
  await closed;
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_idle_timeout'), 1);
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_active'), 0);
});

test('a connect failure to an HTTP/2 upstream is a 503 UF', async (t) => {
  const px = await proxyTo(t, 1, h2Options());
  const r = await request(px.port, '/x');
  assert.equal(r.status, 503);
  assert.match(r.body, /connection failure/);
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_connect_fail'), 1);
});

test('an upstream stream reset before the response is a 503 and counts upstream_rq_rx_reset', async (t) => {
  const up = await startH2Upstream((stream) => { stream.close(2 /* INTERNAL_ERROR */); });
  t.after(() => up.close());
  const px = await proxyTo(t, up.port);
  const r = await request(px.port, '/reset');
  assert.equal(r.status, 503);
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_rx_reset'), 1);
});

test('use_downstream_protocol_config sends HTTP/1.1 requests as HTTP/1.1; auto_config over plaintext uses HTTP/1.1', async (t) => {
  const h1 = await startUpstream(echo('h1'));
  t.after(() => h1.close());
  for (const mode of ['use_downstream_protocol_config', 'auto_config']) {
    const px = await proxyTo(t, h1.port, {
      typed_extension_protocol_options: {
        [UPSTREAM_HTTP_OPTIONS_KEY]: { '@type': `type.googleapis.com/${UPSTREAM_HTTP_OPTIONS_KEY}`, [mode]: { http2_protocol_options: {} } },
      },
    });
    const r = await request(px.port, '/d');
    assert.equal(r.status, 200, mode);
    assert.equal(r.headers['x-upstream'], 'h1', mode);
    const again = await request(px.port, '/d2', { agent: new http.Agent({ keepAlive: false }) });
    assert.equal(again.status, 200, mode);
  }
  assert.equal(h1.requests.every((q) => q.httpVersion === '1.1'), true);
});
