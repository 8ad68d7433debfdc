// End-to-end HTTP/1.1 proxying: real upstream servers on port 0, the proxy in-process, real
// clients (fetch, curl, raw sockets).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { echo, startRawServer, startUpstream } from '../helpers/upstream.js';
import { rawExchange, simpleBootstrap, splitResponses, startProxy } from '../helpers/proxy.js';

const run = promisify(execFile);

test('forwards a GET and returns the upstream response', async (t) => {
  const up = await startUpstream(echo('a'));
  t.after(() => up.close());
  const px = await startProxy(simpleBootstrap({ ports: [up.port] }));
  t.after(() => px.close());
  const res = await fetch(`http://127.0.0.1:${px.port}/hello?x=1`, { headers: { 'x-custom': 'v' } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-upstream'), 'a');
  assert.equal(res.headers.get('server'), 'weft');
  const body = await res.json() as { url: string; headers: Record<string, string> };
  assert.equal(body.url, '/hello?x=1');
  assert.equal(body.headers['x-custom'], 'v');
  assert.equal(body.headers['x-forwarded-proto'], 'http');
  assert.match(body.headers['x-request-id']!, /^[0-9a-f-]{36}$/);
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_total'), 1);
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_200'), 1);
  assert.equal(px.server.stats.value('http.ingress.downstream_rq_2xx'), 1);
});

test('streams request bodies with Content-Length and chunked encoding, trailers included', async (t) => {
  const up = await startUpstream((req, res, body) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked', trailer: 'x-sum' });
    res.write(`len=${body.length};`);
    res.addTrailers({ 'x-sum': String(body.length), ...(req.trailers['x-req-trailer'] ? { 'x-echo': req.trailers['x-req-trailer'] } : {}) });
    res.end('done');
  });
  t.after(() => up.close());
  const px = await startProxy(simpleBootstrap({ ports: [up.port] }));
  t.after(() => px.close());

  const r1 = await fetch(`http://127.0.0.1:${px.port}/cl`, { method: 'POST', body: 'x'.repeat(10_000) });
  assert.equal(await r1.text(), 'len=10000;done');

  const raw = await rawExchange(px.port,
    'POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
    '5\r\nhello\r\n6\r\n world\r\n0\r\nX-Req-Trailer: t1\r\n\r\n');
  assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(raw, /transfer-encoding: chunked/i);
  assert.match(raw, /len=11;/);
  assert.match(raw, /\r\nx-sum: 11\r\n/i);
  assert.match(raw, /\r\nx-echo: t1\r\n/i);
  assert.equal(up.requests[1]!.body.toString(), 'hello world');
  assert.equal(up.requests[1]!.trailers['x-req-trailer'], 't1');
});

test('reuses upstream connections and answers pipelined requests in order', async (t) => {
  let n = 0;
  const up = await startUpstream((req, res) => {
    const i = ++n;
    // Answer the first request last, to prove ordering does not depend on upstream timing.
    setImmediate(() => { res.writeHead(200, { 'content-length': String(req.url!.length) }); res.end(req.url); });
    void i;
  });
  t.after(() => up.close());
  let upstreamConnections = 0;
  up.server.on('connection', () => upstreamConnections++);
  const px = await startProxy(simpleBootstrap({ ports: [up.port] }));
  t.after(() => px.close());
  const reqs = ['/one', '/two', '/three'].map((p) => `GET ${p} HTTP/1.1\r\nHost: a\r\n\r\n`).join('');
  const text = await rawExchange(px.port, reqs, { until: (s) => splitResponses(s).length === 3 && s.endsWith('/three') });
  const rs = splitResponses(text);
  assert.deepEqual(rs.map((r) => r.body), ['/one', '/two', '/three']);
  assert.equal(upstreamConnections, 1);
});

test('HTTP/1.0 and Connection: close', async (t) => {
  const up = await startUpstream(echo('a'));
  t.after(() => up.close());
  const px = await startProxy(simpleBootstrap({ ports: [up.port] }));
  t.after(() => px.close());
  const r10 = await rawExchange(px.port, 'GET /old HTTP/1.0\r\n\r\n');
  assert.match(r10, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(r10, /connection: close/i);
  const rc = await rawExchange(px.port, 'GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(rc, /connection: close/i);
  assert.match(rc, /"url":"\/c"/);
});

test('answers Expect: 100-continue and removes hop-by-hop headers', async (t) => {
  const up = await startUpstream(echo('a'));
  t.after(() => up.close());
  const px = await startProxy(simpleBootstrap({ ports: [up.port] }));
  t.after(() => px.close());
  const sock = net.connect(px.port, '127.0.0.1');
  t.after(() => sock.destroy());
  await new Promise((r) => sock.once('connect', r));
  sock.write('POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: keep-alive, x-drop\r\nX-Drop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n\r\n');
  const first = await new Promise<string>((r) => sock.once('data', (d) => r(d.toString())));
  assert.equal(first, 'HTTP/1.1 100 Continue\r\n\r\n');
  sock.write('body');
  let text = '';
  await new Promise<void>((r) => sock.on('data', (d) => { text += d.toString(); if (splitResponses(text).length === 1 && text.includes('"body"')) r(); }));
  const seen = up.requests[0]!;
  assert.equal(seen.body.toString(), 'body');
  for (const h of ['x-drop', 'keep-alive', 'proxy-connection', 'expect']) assert.equal(seen.headers[h], undefined, h);
});

test('local replies: 404 NR, 503 UF, 504 UT, 502 UPE, with flags in the access log', async (t) => {
  const slow = await startUpstream(() => { /* never answers */ });
  t.after(() => slow.close());
  const bad = await startRawServer((s) => s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n')));
  t.after(() => bad.close());
  const dead = await startRawServer(() => {});
  const deadPort = dead.port;
  await dead.close();
  const yaml = simpleBootstrap({
    ports: [slow.port],
    vhostRoutes: `
                      - match: { prefix: "/slow" }
                        route: { cluster: up, timeout: 0.2s }
                      - match: { prefix: "/dead" }
                        route: { cluster: dead }
                      - match: { prefix: "/bad" }
                        route: { cluster: bad }`,
  }).replace('  clusters:\n', `  clusters:
    - name: dead
      type: STATIC
      connect_timeout: 1s
      load_assignment: { cluster_name: dead, endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${deadPort} } } } } ] } ] }
    - name: bad
      type: STATIC
      load_assignment: { cluster_name: bad, endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${bad.port} } } } } ] } ] }
`);
  const px = await startProxy(yaml);
  t.after(() => px.close());
  const base = `http://127.0.0.1:${px.port}`;
  // Only /slow, /dead and /bad are routed here.
  assert.equal((await fetch(`${base}/nothing`)).status, 404);
  assert.equal((await fetch(`${base}/zzz`)).status, 404);
  const uf = await fetch(`${base}/dead`);
  assert.equal(uf.status, 503);
  assert.match(await uf.text(), /upstream connect error/);
  const ut = await fetch(`${base}/slow`);
  assert.equal(ut.status, 504);
  assert.equal(await ut.text(), 'upstream request timeout');
  const upe = await fetch(`${base}/bad`);
  assert.equal(upe.status, 502);
  assert.equal(px.server.stats.value('http.ingress.no_route'), 2);
  assert.equal(px.server.stats.value('cluster.dead.upstream_cx_connect_fail'), 1);
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_timeout'), 1);
});

test('rejects request-smuggling attempts with 400 and forwards nothing', async (t) => {
  const up = await startUpstream(echo('a'));
  t.after(() => up.close());
  const px = await startProxy(simpleBootstrap({ ports: [up.port] }));
  t.after(() => px.close());
  const cases = [
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n',
    'GET / HTTP/1.1\nHost: a\n\n',
  ];
  for (const c of cases) {
    const res = await rawExchange(px.port, c);
    assert.match(res, /^HTTP\/1\.1 400 /, JSON.stringify(c));
  }
  const big = await rawExchange(px.port, `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
  assert.match(big, /^HTTP\/1\.1 431 /);
  assert.equal(up.requests.length, 0);
});

test('retries 5xx per retry_policy and reports the retry in stats', async (t) => {
  let n = 0;
  const up = await startUpstream((_req, res) => {
    n++;
    if (n < 3) { res.writeHead(503, { 'content-length': '4' }); res.end('fail'); return; }
    res.writeHead(200, { 'content-length': '2' }); res.end('ok');
  });
  t.after(() => up.close());
  const px = await startProxy(simpleBootstrap({
    ports: [up.port],
    routeExtra: `                          retry_policy: { retry_on: "5xx", num_retries: 3, retry_back_off: { base_interval: 0.001s } }`,
  }));
  t.after(() => px.close());
  const res = await fetch(`http://127.0.0.1:${px.port}/r`, { method: 'POST', body: 'payload' });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'ok');
  assert.equal(n, 3);
  assert.equal(up.requests[2]!.body.toString(), 'payload');
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_retry'), 2);
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_retry_success'), 1);
});

test('tunnels a WebSocket upgrade after 101 when upgrade_configs allows it', async (t) => {
  const up = await startUpstream(echo('a'));
  t.after(() => up.close());
  up.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    if (head.length) socket.write(head);
    socket.on('data', (d) => socket.write(Buffer.from(d.toString().toUpperCase())));
    void req;
  });
  const px = await startProxy(simpleBootstrap({ ports: [up.port], hcmExtra: '                upgrade_configs: [ { upgrade_type: websocket } ]' }));
  t.after(() => px.close());
  const sock = net.connect(px.port, '127.0.0.1');
  t.after(() => sock.destroy());
  await new Promise((r) => sock.once('connect', r));
  sock.write('GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  let got = '';
  await new Promise<void>((r) => sock.on('data', function on(d) { got += d.toString(); if (got.includes('\r\n\r\n')) { sock.off('data', on); r(); } }));
  assert.match(got, /^HTTP\/1\.1 101 /);
  sock.write('ping');
  const echoed = await new Promise<string>((r) => sock.once('data', (d) => r(d.toString())));
  assert.equal(echoed, 'PING');
});

test('curl through the proxy', async (t) => {
  const up = await startUpstream(echo('a'));
  t.after(() => up.close());
  const px = await startProxy(simpleBootstrap({ ports: [up.port] }));
  t.after(() => px.close());
  const { stdout } = await run('curl', ['-sS', '-i', '--data-binary', 'abc', `http://127.0.0.1:${px.port}/curl`]);
  assert.match(stdout, /^HTTP\/1\.1 200 OK/);
  assert.match(stdout, /"body":"abc"/);
});
