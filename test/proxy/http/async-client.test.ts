// The proxy's async HTTP client (src/proxy/http/async-client.ts) against real upstreams, through
// the clusters of an in-process proxy: a GET and a POST with their whole responses, HTTP/2 with
// trailers, and each failure reason (no cluster, connect failure, timeout, body too large).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startProxy, type RunningProxy } from '../../helpers/proxy.js';
import { cluster, deadPort, simple, toCluster, UPSTREAM_HTTP_OPTIONS_KEY } from '../../helpers/bootstrap.js';
import { startUpstream } from '../../helpers/upstream.js';
import { AsyncClientError, sendAsync } from '../../../src/proxy/http/async-client.js';

type T = { after(fn: () => Promise<void> | void): void };

async function proxyWith(t: T, clusters: object[]): Promise<RunningProxy> {
  const p = await startProxy(simple({ routes: [toCluster('/', (clusters[0] as { name: string }).name)], clusters: clusters as never }));
  t.after(() => p.close());
  return p;
}

async function rejection(p: Promise<unknown>): Promise<AsyncClientError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof AsyncClientError, String(err));
    return err;
  }
  assert.fail('expected a rejection');
}

test('GET and POST through a cluster return status, headers and the whole body', async (t) => {
  const up = await startUpstream((req, res, body) => {
    const out = JSON.stringify({ method: req.method, url: req.url, host: req.headers.host, x: req.headers['x-a'], body: body.toString() });
    res.writeHead(201, { 'content-type': 'application/json', 'x-b': 'yes', 'content-length': Buffer.byteLength(out) });
    res.end(out);
  });
  t.after(() => up.close());
  const p = await proxyWith(t, [cluster('svc', [up.port])]);
  const get = await sendAsync(p.server.clusters, 'svc', { method: 'GET', path: '/k?a=1', authority: 'svc.local', headers: ['x-a', '1'], timeoutMs: 2000 });
  assert.equal(get.status, 201);
  assert.ok(get.headers.includes('x-b'));
  assert.deepEqual(JSON.parse(get.body.toString()), { method: 'GET', url: '/k?a=1', host: 'svc.local', x: '1', body: '' });
  const post = await sendAsync(p.server.clusters, 'svc', { method: 'POST', path: '/p', authority: 'svc.local', body: Buffer.from('hello'), timeoutMs: 2000 });
  assert.equal(JSON.parse(post.body.toString()).body, 'hello');
  // Concurrent exchanges share the pool.
  const many = await Promise.all(Array.from({ length: 5 }, () => sendAsync(p.server.clusters, 'svc', { method: 'GET', path: '/', authority: 'a', timeoutMs: 2000 })));
  assert.deepEqual(many.map((r) => r.status), [201, 201, 201, 201, 201]);
});

test('HTTP/2 to an h2c cluster returns trailers', async (t) => {
  const server = http2.createServer();
  server.on('stream', (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(Buffer.from([0, 0, 0, 0, 0]));
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { for (const s of sessions) s.destroy(); server.close(() => r()); }));
  const h2Options = { typed_extension_protocol_options: { [UPSTREAM_HTTP_OPTIONS_KEY]: { '@type': `type.googleapis.com/${UPSTREAM_HTTP_OPTIONS_KEY}`, explicit_http_config: { http2_protocol_options: {} } } } };
  const p = await proxyWith(t, [cluster('grpc', [(server.address() as AddressInfo).port], h2Options)]);
  const r = await sendAsync(p.server.clusters, 'grpc', {
    method: 'POST', path: '/pkg.S/M', authority: 'grpc', headers: ['content-type', 'application/grpc', 'te', 'trailers'],
    body: Buffer.from([0, 0, 0, 0, 0]), timeoutMs: 2000, http2: true,
  });
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 5);
  assert.ok(r.trailers !== null && r.trailers.includes('grpc-status'), String(r.trailers));
});

test('failures: unknown cluster, connection refused, timeout, body too large', async (t) => {
  const silent = net.createServer((s) => { s.on('error', () => {}); s.resume(); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const sockets = new Set<net.Socket>();
  silent.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  t.after(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); silent.close(() => r()); }));
  const big = await startUpstream((_req, res) => { res.writeHead(200, { 'content-length': 4096 }); res.end(Buffer.alloc(4096)); });
  t.after(() => big.close());
  const p = await proxyWith(t, [
    cluster('dead', [await deadPort()]), cluster('silent', [(silent.address() as AddressInfo).port]), cluster('big', [big.port]),
  ]);
  const c = p.server.clusters;
  const req = { method: 'GET', path: '/', authority: 'x', timeoutMs: 300 };
  assert.equal((await rejection(sendAsync(c, 'nope', req))).reason, 'no_cluster');
  const refused = await rejection(sendAsync(c, 'dead', req));
  assert.notEqual(refused.reason, 'timeout');
  const started = Date.now();
  assert.equal((await rejection(sendAsync(c, 'silent', req))).reason, 'timeout');
  assert.ok(Date.now() - started >= 250);
  assert.equal((await rejection(sendAsync(c, 'big', { ...req, timeoutMs: 2000, maxResponseBytes: 1000 }))).reason, 'too_large');
  // The pool is still usable after an aborted exchange.
  assert.equal((await sendAsync(c, 'big', { ...req, timeoutMs: 2000 })).body.length, 4096);
});
