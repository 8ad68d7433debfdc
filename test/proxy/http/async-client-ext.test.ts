// The async client (src/proxy/http/async-client.ts), used by ext_authz and jwt_authn: one request
// to a cluster by name through the proxy's own pools, whole response back. Real upstreams on port 0
// (HTTP/1.1 and HTTP/2), clusters from a running proxy's ClusterManager: status / headers / body
// both ways, the errors (no cluster, no host, timeout, too large, HTTP/2 asked of an
// HTTP/1.1-only cluster), and cancellation (no callback, the upstream exchange aborted).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { startProxy, type RunningProxy } from '../../helpers/proxy.js';
import { cluster, deadPort, simple, toCluster } from '../../helpers/bootstrap.js';
import { startUpstream } from '../../helpers/upstream.js';
import { h2Options, startH2Upstream } from '../../helpers/h2-upstream.js';
import { AsyncClientError, sendAsync, startAsync } from '../../../src/proxy/http/async-client.js';

type T = { after(fn: () => Promise<void> | void): void };

async function proxyWith(t: T, clusters: object[]): Promise<RunningProxy> {
  const p = await startProxy(simple({ routes: [toCluster('/', 'c0')], clusters: clusters as Record<string, unknown>[] }));
  t.after(() => p.close());
  return p;
}

test('HTTP/1.1: method, path, authority, headers and body out; status, headers and body back', async (t) => {
  const up = await startUpstream((req, res, body) => {
    res.writeHead(201, { 'x-seen': `${req.method} ${req.url} ${req.headers.host} ${req.headers['x-a']} ${body.toString()}` });
    res.end('done');
  });
  t.after(() => up.close());
  const p = await proxyWith(t, [cluster('c0', [up.port])]);
  const r = await sendAsync(p.server.clusters, 'c0', { method: 'POST', path: '/p?q', authority: 'svc', headers: ['x-a', '1'], body: Buffer.from('hi'), timeoutMs: 2000 });
  assert.equal(r.status, 201);
  assert.equal(r.body.toString(), 'done');
  const seen = r.headers[r.headers.indexOf('x-seen') + 1];
  assert.equal(seen, 'POST /p?q svc 1 hi');
  assert.equal(up.requests[0]!.headers['content-length'], '2');
});

test('HTTP/2 (gRPC-style): trailers come back', async (t) => {
  const up = await startH2Upstream((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
  });
  t.after(() => up.close());
  const p = await proxyWith(t, [cluster('c0', [up.port], h2Options())]);
  const r = await sendAsync(p.server.clusters, 'c0', { method: 'POST', path: '/s/M', authority: 'x', http2: true, body: Buffer.from([0, 0, 0, 0, 0]), headers: ['content-type', 'application/grpc', 'te', 'trailers'], timeoutMs: 2000 });
  assert.equal(r.status, 200);
  assert.deepEqual(r.trailers, ['grpc-status', '0']);
  assert.equal(r.body.length, 5);
});

test('errors: no cluster, no host, connect failure, timeout, too large, HTTP/2 on an HTTP/1.1-only cluster', async (t) => {
  const hang = await startUpstream(() => { /* never answers */ });
  t.after(() => hang.close());
  const big = await startUpstream((_q, res) => { res.end('x'.repeat(5000)); });
  t.after(() => big.close());
  const dead = await deadPort();
  const p = await proxyWith(t, [cluster('c0', [hang.port]), cluster('big', [big.port]), cluster('dead', [dead]), cluster('empty', [])]);
  const reason = (e: unknown): string => (e instanceof AsyncClientError ? e.reason : String(e));
  const req = { method: 'GET', path: '/', authority: 'a', timeoutMs: 300 };
  assert.equal(await sendAsync(p.server.clusters, 'nope', req).catch(reason), 'no_cluster');
  assert.equal(await sendAsync(p.server.clusters, 'empty', req).catch(reason), 'no_host');
  assert.equal(await sendAsync(p.server.clusters, 'dead', req).catch(reason), 'connect-failure');
  assert.equal(await sendAsync(p.server.clusters, 'c0', req).catch(reason), 'timeout');
  assert.equal(await sendAsync(p.server.clusters, 'big', { ...req, maxResponseBytes: 1000 }).catch(reason), 'too_large');
  assert.equal(await sendAsync(p.server.clusters, 'c0', { ...req, http2: true }).catch(reason), 'protocol');
});

test('cancel(): no callback, and the upstream exchange is aborted', async (t) => {
  let seen: http.IncomingMessage | null = null;
  const up = await startUpstream(() => { /* hold */ });
  up.server.on('request', (r: http.IncomingMessage) => { seen = r; });
  t.after(() => up.close());
  const p = await proxyWith(t, [cluster('c0', [up.port])]);
  let called = false;
  const h = startAsync(p.server.clusters, 'c0', { method: 'GET', path: '/', authority: 'a', timeoutMs: 30_000 }, {
    onAsyncSuccess: () => { called = true; },
    onAsyncFailure: () => { called = true; },
  });
  await new Promise<void>((r) => up.server.once('request', () => r()));
  const closed = new Promise<void>((r) => seen!.socket.once('close', () => r()));
  h.cancel();
  await closed;
  await new Promise((r) => setImmediate(r));
  assert.equal(called, false);
  // Cancelling a call that failed before any I/O silences it too.
  let early = false;
  startAsync(p.server.clusters, 'nope', { method: 'GET', path: '/', authority: 'a', timeoutMs: 100 }, {
    onAsyncSuccess: () => { early = true; }, onAsyncFailure: () => { early = true; },
  }).cancel();
  await new Promise((r) => setImmediate(r));
  assert.equal(early, false);
});
