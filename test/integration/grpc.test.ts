// gRPC through the router. Part one runs over HTTP/1.1 downstream (chunked bodies, trailers) to
// HTTP/2 upstreams: trailers-only local replies, grpc-timeout as the stream duration, retry_on
// `unavailable`, per-method gRPC stats. Part two is grpc-js client → proxy → grpc-js server (all
// four call kinds, deadlines, 4 MiB messages, cancellation, UNAVAILABLE without an upstream); it
// needs HTTP/2 downstream and skips, saying so, while the proxy does not speak it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { rawExchange, startProxy } from '../helpers/proxy.js';
import { cluster, simple, toCluster, type Obj } from '../helpers/bootstrap.js';
import { h2Options, startH2Upstream } from '../helpers/h2-upstream.js';

type T = { after(fn: () => Promise<void> | void): void };

// ───────────────────────────── a generic Echo service (raw Buffer messages) ─────────────────────────────

const id = (b: Buffer): Buffer => b;
function method(name: string, requestStream: boolean, responseStream: boolean) {
  return {
    path: `/test.Echo/${name}`, requestStream, responseStream,
    requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id,
  };
}
const ECHO: grpc.ServiceDefinition = {
  Unary: method('Unary', false, false),
  Collect: method('Collect', true, false),
  Spray: method('Spray', false, true),
  Chat: method('Chat', true, true),
};
const EchoClient = grpc.makeGenericClientConstructor(ECHO, 'Echo');
const BIG = { 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.max_send_message_length': 16 * 1024 * 1024 };

interface EchoServer { port: number; calls: string[]; close(): Promise<void> }

/** A grpc-js server; `failFirst` answers the first Unary with that status (trailers-only). */
async function startEchoServer(opts: { failFirst?: grpc.status; hang?: boolean } = {}): Promise<EchoServer> {
  const server = new grpc.Server(BIG);
  const calls: string[] = [];
  let failed = false;
  server.addService(ECHO, {
    Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      calls.push('Unary');
      if (opts.hang) return;
      if (opts.failFirst !== undefined && !failed) { failed = true; cb({ code: opts.failFirst, details: 'try again' }); return; }
      cb(null, call.request);
    },
    Collect: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      calls.push('Collect');
      const parts: Buffer[] = [];
      call.on('data', (b: Buffer) => parts.push(b));
      call.on('end', () => cb(null, Buffer.concat(parts)));
    },
    Spray: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      calls.push('Spray');
      const n = Number(call.request.toString());
      for (let i = 0; i < n; i++) call.write(Buffer.from(`m${i}`));
      call.end();
    },
    Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      calls.push('Chat');
      call.on('data', (b: Buffer) => call.write(Buffer.concat([Buffer.from('re:'), b])));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, calls, close: () => new Promise<void>((r) => server.tryShutdown(() => r())).then(() => server.forceShutdown()) };
}

/** A gRPC frame: uncompressed flag, 4-byte length, message. */
function frame(msg: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(msg.length, 1);
  return Buffer.concat([h, msg]);
}

/** A gRPC call over raw HTTP/1.1 (chunked request with one frame). */
function h1GrpcCall(port: number, path: string, msg: Buffer, extraHeaders = ''): Promise<string> {
  const body = frame(msg);
  const req = Buffer.concat([
    Buffer.from(`POST ${path} HTTP/1.1\r\nHost: grpc.test\r\nContent-Type: application/grpc\r\nTE: trailers\r\n${extraHeaders}Transfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n`, 'latin1'),
    body, Buffer.from('\r\n0\r\n\r\n', 'latin1'),
  ]);
  return rawExchange(port, req, { until: (s) => /\r\n\r\n/.test(s) && (/content-length: 0\r\n\r\n/i.test(s) || /\r\n0\r\n[\s\S]*\r\n\r\n$/.test(s)) });
}

async function proxyFor(t: T, clusters: Obj[], routes: Obj[]) {
  const px = await startProxy(simple({ routes, clusters }));
  t.after(() => px.close());
  return px;
}

// ───────────────────────────── HTTP/1.1 downstream (runs now) ─────────────────────────────

test('a gRPC local reply is trailers-only: 200, grpc-status and grpc-message in the headers', async (t) => {
  const px = await proxyFor(t, [cluster('empty', [], h2Options())], [toCluster('/test.Echo/', 'empty')]);
  const noHost = await h1GrpcCall(px.port, '/test.Echo/Unary', Buffer.from('x'));
  assert.match(noHost, /^HTTP\/1\.1 200 /);
  assert.match(noHost, /\r\ncontent-type: application\/grpc\r\n/);
  assert.match(noHost, /\r\ngrpc-status: 14\r\n/);
  assert.match(noHost, /\r\ngrpc-message: no healthy upstream\r\n/);
  assert.match(noHost, /\r\ncontent-length: 0\r\n/);

  const noRoute = await h1GrpcCall(px.port, '/other.Svc/M', Buffer.from('x'));
  assert.match(noRoute, /^HTTP\/1\.1 200 /);
  assert.match(noRoute, /\r\ngrpc-status: 12\r\n/);

  // Not gRPC: the ordinary local reply.
  const plain = await rawExchange(px.port, 'GET /test.Echo/Unary HTTP/1.1\r\nHost: a\r\n\r\n', { until: (s) => s.includes('no healthy upstream') });
  assert.match(plain, /^HTTP\/1\.1 503 /);
});

test('grpc-timeout bounds the stream when grpc_timeout_header_max is set: DEADLINE_EXCEEDED at the capped value', async (t) => {
  const up = await startH2Upstream(() => { /* never answers */ }, { early: true });
  t.after(() => up.close());
  const px = await proxyFor(t, [cluster('up', [up.port], h2Options())],
    [toCluster('/', 'up', { timeout: '0s', max_stream_duration: { grpc_timeout_header_max: '0.2s' } })]);
  const start = performance.now();
  const r = await h1GrpcCall(px.port, '/test.Echo/Unary', Buffer.from('x'), 'grpc-timeout: 10S\r\n');
  const took = performance.now() - start;
  assert.match(r, /^HTTP\/1\.1 200 /);
  assert.match(r, /\r\ngrpc-status: 4\r\n/);
  assert.ok(took >= 150 && took < 5000, `took ${took} ms`);
  assert.equal(px.server.stats.value('http.ingress.downstream_rq_max_duration_reached'), 1);

  // Without a cap (0), the header is used as is.
  const fast = performance.now();
  const r2 = await h1GrpcCall(px.port, '/test.Echo/Unary', Buffer.from('x'), 'grpc-timeout: 50m\r\n');
  assert.match(r2, /\r\ngrpc-status: 4\r\n/);
  assert.ok(performance.now() - fast < 5000);
});

test('retry_on unavailable retries a trailers-only UNAVAILABLE; trailers and per-method gRPC stats come through', async (t) => {
  const srv = await startEchoServer({ failFirst: grpc.status.UNAVAILABLE });
  t.after(() => srv.close());
  const px = await proxyFor(t, [cluster('up', [srv.port], h2Options())],
    [toCluster('/', 'up', { retry_policy: { retry_on: 'unavailable', num_retries: 2 } })]);
  const r = await h1GrpcCall(px.port, '/test.Echo/Unary', Buffer.from('ping'));
  assert.match(r, /^HTTP\/1\.1 200 /);
  assert.match(r, /transfer-encoding: chunked/i);
  assert.ok(r.includes('ping'), r);
  assert.match(r, /\r\n0\r\n(?:[\s\S]*\r\n)?grpc-status: 0\r\n/);
  assert.deepEqual(srv.calls, ['Unary', 'Unary']);
  const v = (n: string) => px.server.stats.value(n);
  assert.equal(v('cluster.up.upstream_rq_retry'), 1);
  assert.equal(v('cluster.up.grpc.test.Echo.Unary.0'), 1);
  assert.equal(v('cluster.up.grpc.test.Echo.Unary.success'), 1);
  assert.equal(v('cluster.up.grpc.test.Echo.Unary.total'), 1);
});

test('without retry_on unavailable the UNAVAILABLE goes to the client and counts as a failure', async (t) => {
  const srv = await startEchoServer({ failFirst: grpc.status.UNAVAILABLE });
  t.after(() => srv.close());
  const px = await proxyFor(t, [cluster('up', [srv.port], h2Options())], [toCluster('/', 'up', { retry_policy: { retry_on: 'cancelled' } })]);
  const r = await h1GrpcCall(px.port, '/test.Echo/Unary', Buffer.from('ping'));
  assert.match(r, /grpc-status: 14/);
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_retry'), 0);
  assert.equal(px.server.stats.value('cluster.up.grpc.test.Echo.Unary.failure'), 1);
});

// ───────────────────────────── grpc-js client end to end (needs HTTP/2 downstream) ─────────────────────────────

/** Whether the proxy answers a prior-knowledge HTTP/2 request. */
async function speaksH2(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    let done = false;
    const finish = (v: boolean) => { if (!done) { done = true; s.destroy(); resolve(v); } };
    s.on('error', () => finish(false));
    s.on('close', () => finish(false));
    s.on('goaway', () => finish(false));
    const rq = s.request({ ':path': '/__h2_probe', ':method': 'GET' });
    rq.on('response', () => finish(true));
    rq.on('error', () => finish(false));
    rq.on('close', () => finish(false));
    rq.end();
    setTimeout(() => finish(false), 3000).unref();
  });
}

async function e2e(t: T & { skip(reason: string): void }, srvOpts: Parameters<typeof startEchoServer>[0] = {}, clusterEndpoints?: number[]) {
  const srv = await startEchoServer(srvOpts);
  t.after(() => srv.close());
  const px = await proxyFor(t, [cluster('up', clusterEndpoints ?? [srv.port], h2Options())],
    [toCluster('/', 'up', { timeout: '0s', max_stream_duration: { grpc_timeout_header_max: '0s' } })]);
  if (!(await speaksH2(px.port))) {
    t.skip('the proxy does not serve HTTP/2 downstream yet (prior-knowledge h2 request failed)');
    return null;
  }
  const client = new EchoClient(`127.0.0.1:${px.port}`, grpc.credentials.createInsecure(), BIG) as unknown as Record<string, any> & grpc.Client;
  t.after(() => client.close());
  return { srv, px, client };
}

test('grpc-js end to end: unary, client streaming, server streaming, bidi', async (t) => {
  const e = await e2e(t);
  if (e === null) return;
  const { client } = e;
  const unary = await new Promise<Buffer>((res, rej) => client.Unary(Buffer.from('hi'), (err: Error | null, b: Buffer) => (err ? rej(err) : res(b))));
  assert.equal(unary.toString(), 'hi');

  const collected = await new Promise<Buffer>((res, rej) => {
    const call = client.Collect((err: Error | null, b: Buffer) => (err ? rej(err) : res(b)));
    for (const p of ['a', 'b', 'c']) call.write(Buffer.from(p));
    call.end();
  });
  assert.equal(collected.toString(), 'abc');

  const sprayed = await new Promise<string[]>((res, rej) => {
    const out: string[] = [];
    const call = client.Spray(Buffer.from('5'));
    call.on('data', (b: Buffer) => out.push(b.toString()));
    call.on('error', rej);
    call.on('end', () => res(out));
  });
  assert.deepEqual(sprayed, ['m0', 'm1', 'm2', 'm3', 'm4']);

  const chat = client.Chat();
  const replies: string[] = [];
  const ended = new Promise<void>((res, rej) => { chat.on('end', res); chat.on('error', rej); });
  await new Promise<void>((res) => {
    chat.on('data', (b: Buffer) => {
      replies.push(b.toString());
      if (replies.length === 1) chat.write(Buffer.from('two'));
      else { chat.end(); res(); }
    });
    chat.write(Buffer.from('one'));
  });
  await ended;
  assert.deepEqual(replies, ['re:one', 're:two']);
});

test('grpc-js end to end: 4 MiB messages both ways', async (t) => {
  const e = await e2e(t);
  if (e === null) return;
  const big = Buffer.alloc(4 * 1024 * 1024, 7);
  const back = await new Promise<Buffer>((res, rej) => e.client.Unary(big, (err: Error | null, b: Buffer) => (err ? rej(err) : res(b))));
  assert.equal(back.length, big.length);
  assert.ok(back.equals(big));
});

test('grpc-js end to end: a deadline gives DEADLINE_EXCEEDED; cancellation reaches the server', async (t) => {
  const e = await e2e(t, { hang: true });
  if (e === null) return;
  const err = await new Promise<grpc.ServiceError>((res) =>
    e.client.Unary(Buffer.from('x'), { deadline: Date.now() + 200 }, (er: grpc.ServiceError) => res(er)));
  assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);

  const call = e.client.Unary(Buffer.from('y'), (er: grpc.ServiceError) => { assert.equal(er.code, grpc.status.CANCELLED); });
  await new Promise<void>((res) => { const tick = () => (e.srv.calls.length >= 2 ? res() : setImmediate(tick)); tick(); });
  call.cancel();
});

test('grpc-js end to end: no healthy upstream is UNAVAILABLE', async (t) => {
  const e = await e2e(t, {}, []);
  if (e === null) return;
  const err = await new Promise<grpc.ServiceError>((res) => e.client.Unary(Buffer.from('x'), (er: grpc.ServiceError) => res(er)));
  assert.equal(err.code, grpc.status.UNAVAILABLE);
  assert.equal(err.details, 'no healthy upstream');
});

// ───────────────────────────── upstream gRPC errors reach the client intact ─────────────────────────────

/** A grpc-js server whose Unary fails with the status named in the request (`CODE` or `CODE:message`); Spray fails after `n` messages. */
async function startFailingServer(): Promise<{ port: number; close(): Promise<void> }> {
  const server = new grpc.Server();
  const fail = (req: string): grpc.ServiceError => {
    const [name, message] = req.split(':');
    const md = new grpc.Metadata();
    md.set('x-why', `because ${name}`);
    md.set('x-bin-bin', Buffer.from([0, 1, 2, 255]));
    return Object.assign(new Error(message ?? ''), { code: grpc.status[name as keyof typeof grpc.status] as number, details: message ?? '', metadata: md });
  };
  server.addService(ECHO, {
    Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(fail(call.request.toString())),
    Collect: () => { /* unused */ },
    Spray: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const [n, err] = call.request.toString().split('/');
      for (let i = 0; i < Number(n); i++) call.write(Buffer.from(`m${i}`));
      call.emit('error', fail(err!));
    },
    Chat: () => { /* unused */ },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, close: () => new Promise<void>((r) => server.tryShutdown(() => r())).then(() => server.forceShutdown()) };
}

test('grpc-js end to end: upstream error statuses, messages and metadata reach the client (trailers-only stays trailers-only)', async (t) => {
  const srv = await startFailingServer();
  t.after(() => srv.close());
  const px = await proxyFor(t, [cluster('up', [srv.port], h2Options())], [toCluster('/', 'up')]);
  const client = new EchoClient(`127.0.0.1:${px.port}`, grpc.credentials.createInsecure()) as unknown as Record<string, any> & grpc.Client;
  t.after(() => client.close());
  const cases: Array<[keyof typeof grpc.status, string]> = [
    ['NOT_FOUND', 'no such thing'], ['PERMISSION_DENIED', 'go away'], ['UNAVAILABLE', 'later'],
    ['INVALID_ARGUMENT', 'bad % arg é'], ['RESOURCE_EXHAUSTED', 'quota'], ['UNAUTHENTICATED', 'who are you'],
  ];
  for (const [name, msg] of cases) {
    const err = await new Promise<grpc.ServiceError>((res, rej) =>
      client.Unary(Buffer.from(`${name}:${msg}`), (er: grpc.ServiceError | null) => (er ? res(er) : rej(new Error('no error')))));
    assert.equal(err.code, grpc.status[name], `${name}: ${err.message}`);
    assert.equal(err.details, msg);
    assert.deepEqual(err.metadata.get('x-why'), [`because ${name}`]);
    assert.deepEqual(err.metadata.get('x-bin-bin'), [Buffer.from([0, 1, 2, 255])]);
  }
  // Server streaming: an error before any message (trailers-only) and after two messages (trailers).
  for (const n of [0, 2]) {
    const got: string[] = [];
    const err = await new Promise<grpc.ServiceError>((res, rej) => {
      const call = client.Spray(Buffer.from(`${n}/NOT_FOUND:gone after ${n}`));
      call.on('data', (b: Buffer) => got.push(b.toString()));
      call.on('error', res);
      call.on('end', () => rej(new Error('ended without an error')));
    });
    assert.equal(err.code, grpc.status.NOT_FOUND, err.message);
    assert.equal(err.details, `gone after ${n}`);
    assert.equal(got.length, n);
  }
  // The trailers-only shape on the wire: one HEADERS frame with END_STREAM, grpc-status in it.
  const s = http2.connect(`http://127.0.0.1:${px.port}`);
  t.after(() => s.close());
  const body = frame(Buffer.from('PERMISSION_DENIED:no'));
  const rq = s.request({ ':method': 'POST', ':path': '/test.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers' });
  rq.end(body);
  const [headers, flags] = await new Promise<[http2.IncomingHttpHeaders, number]>((res) => rq.on('response', (h, f) => res([h, f])));
  assert.equal(headers['grpc-status'], String(grpc.status.PERMISSION_DENIED));
  assert.equal(headers['grpc-message'], 'no');
  assert.ok((flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0, 'END_STREAM on the response HEADERS');
  rq.resume();
  await new Promise((r) => rq.on('close', r));
});

test('an HTTP/1.1 upstream answering a gRPC call with 503 and no body: the client gets UNAVAILABLE', async (t) => {
  const { startUpstream } = await import('../helpers/upstream.js');
  const up = await startUpstream((_req, res) => { res.writeHead(503, { 'content-length': '0' }); res.end(); });
  t.after(() => up.close());
  const px = await proxyFor(t, [cluster('up', [up.port])], [toCluster('/', 'up')]);
  const client = new EchoClient(`127.0.0.1:${px.port}`, grpc.credentials.createInsecure()) as unknown as Record<string, any> & grpc.Client;
  t.after(() => client.close());
  const err = await new Promise<grpc.ServiceError>((res, rej) =>
    client.Unary(Buffer.from('x'), (er: grpc.ServiceError | null) => (er ? res(er) : rej(new Error('no error')))));
  assert.equal(err.code, grpc.status.UNAVAILABLE, err.message);
});
