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
import { eventually } from '../helpers/bootstrap.js';

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

/** `until` for rawExchange: one whole response (with Content-Length) has arrived. */
const oneResponse = (s: string): boolean => {
  const r = splitResponses(s)[0];
  return r !== undefined && r.body.length === Number(r.headers['content-length'] ?? 0);
};

/** A raw client connection: everything received so far, and promises for bytes and for the close. */
async function rawClient(t: { after(fn: () => void): void }, port: number) {
  const sock = net.connect(port, '127.0.0.1');
  t.after(() => { sock.destroy(); });
  let got = '';
  const waiters: Array<() => void> = [];
  sock.on('data', (d) => { got += d.toString('latin1'); for (const w of waiters.splice(0)) w(); });
  sock.on('error', () => { /* close follows */ });
  const closedP = new Promise<void>((r) => sock.on('close', () => { for (const w of waiters.splice(0)) w(); r(); }));
  // Bounded, so that a proxy that keeps the connection open fails the test instead of hanging it.
  const closed = Promise.race([closedP, new Promise<never>((_, rej) => {
    const timer = setTimeout(() => rej(new Error(`the proxy did not close the connection; got ${JSON.stringify(got)}`)), 10_000);
    void closedP.then(() => clearTimeout(timer));
  })]);
  await new Promise((r) => sock.once('connect', r));
  return {
    sock, closed,
    received: () => got,
    until: (pred: (s: string) => boolean) => new Promise<string>((resolve, reject) => {
      const check = (): void => {
        if (pred(got)) resolve(got);
        else if (sock.destroyed) reject(new Error(`closed before the expected bytes; got ${JSON.stringify(got)}`));
        else waiters.push(check);
      };
      check();
    }),
  };
}

test('a refused upgrade or a CONNECT ends the connection: what follows is not parsed as HTTP', async (t) => {
  // The upstream does not switch protocols: a plain 200 to the upgrade request.
  const up = await startUpstream(echo('a'));
  t.after(() => up.close());
  const px = await startProxy(simpleBootstrap({ ports: [up.port], hcmExtra: '                upgrade_configs: [ { upgrade_type: websocket } ]' }));
  t.after(() => px.close());
  // The bytes after the upgrade request look like a request: they must never reach the upstream.
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n';
  const c = await rawClient(t, px.port);
  c.sock.write('GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n' + smuggled);
  await c.closed;
  const rs = splitResponses(c.received());
  assert.equal(rs.length, 1);
  assert.equal(rs[0]!.status, 200);
  assert.equal(rs[0]!.headers['connection'], 'close');
  // CONNECT (not supported by the HTTP/1.1 connection manager): 400 and the connection closes.
  const k = await rawClient(t, px.port);
  k.sock.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n' + smuggled);
  await k.closed;
  assert.match(k.received(), /^HTTP\/1\.1 400 [^]*\r\nconnection: close\r\n/i);
  assert.equal(splitResponses(k.received()).length, 1);
  // An upgrade refused by the route (no upgrade_configs for it): 403, and closed too.
  const r = await rawClient(t, px.port);
  r.sock.write('GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: h2c-other\r\nConnection: Upgrade\r\n\r\n' + smuggled);
  await r.closed;
  assert.match(r.received(), /^HTTP\/1\.1 403 [^]*\r\nconnection: close\r\n/i);
  assert.deepEqual(up.requests.map((q) => q.url), ['/ws']);
  await eventually(() => px.server.stats.value('http.ingress.downstream_cx_active') === 0, 'the proxy to close its side');
});

test('an upstream 101 to a request without Upgrade is a 502 and its connection is not reused', async (t) => {
  let conns = 0;
  const up = await startRawServer((s) => {
    const n = ++conns;
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        // The first connection switches protocols unasked; later ones answer normally.
        s.write(n === 1 ? 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'
          : 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }
    });
  });
  t.after(() => up.close());
  const px = await startProxy(simpleBootstrap({ ports: [up.port] }));
  t.after(() => px.close());
  const r1 = await fetch(`http://127.0.0.1:${px.port}/a`, { signal: AbortSignal.timeout(5000) });
  assert.equal(r1.status, 502);
  assert.match(await r1.text(), /protocol error/);
  const t0 = performance.now();
  const r2 = await fetch(`http://127.0.0.1:${px.port}/b`, { signal: AbortSignal.timeout(5000) });
  assert.equal(r2.status, 200);
  assert.equal(await r2.text(), 'ok');
  assert.ok(performance.now() - t0 < 2000, 'the next request is answered at once');
  assert.equal(conns, 2);
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_destroy'), 1);
});

test('absolute-form authorities are checked as Host values, and raw non-ASCII path bytes are refused', async (t) => {
  const up = await startUpstream(echo('a'));
  t.after(() => up.close());
  const px = await startProxy(simpleBootstrap({ ports: [up.port] }));
  t.after(() => px.close());
  for (const target of ['http://ev"il<>{}/x', 'http://a b/', 'http://u@h/', '/caf\xe9', '/\x80\xff', 'http://h/\xc3\xa9']) {
    const res = await rawExchange(px.port, Buffer.from(`GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`, 'latin1'), { until: oneResponse });
    assert.match(res, /^HTTP\/1\.1 400 /, JSON.stringify(target));
  }
  assert.equal(up.requests.length, 0);
  // The same authority in a Host header was already refused; a valid absolute form still works.
  assert.match(await rawExchange(px.port, 'GET / HTTP/1.1\r\nHost: ev"il\r\n\r\n'), /^HTTP\/1\.1 400 /);
  const ok = await rawExchange(px.port, 'GET http://good.example:8080/p%C3%A9?q=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.match(ok, /^HTTP\/1\.1 200 /);
  assert.equal(up.requests[0]!.headers.host, 'good.example:8080');
  assert.equal(up.requests[0]!.url, '/p%C3%A9?q=1');
});

test('max_headers_count: 431 for a request with too many fields, 502 for such a response', async (t) => {
  const many = (n: number) => Array.from({ length: n }, (_, i) => `x-h${i}: v`).join('\r\n') + '\r\n';
  const up = await startRawServer((s) => {
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      const n = /GET \/(\d+)/.exec(buf)?.[1];
      buf = '';
      s.write(`HTTP/1.1 200 OK\r\n${many(Number(n))}Content-Length: 2\r\n\r\nok`);
    });
  });
  t.after(() => up.close());
  const px = await startProxy(simpleBootstrap({
    ports: [up.port],
    hcmExtra: '                common_http_protocol_options: { max_headers_count: 20 }',
    clusterExtra: `      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          common_http_protocol_options: { max_headers_count: 30 }
          explicit_http_config: { http_protocol_options: {} }`,
  }));
  t.after(() => px.close());
  // Host + 19 = 20 fields pass, Host + 20 do not.
  const ok = await rawExchange(px.port, `GET /1 HTTP/1.1\r\nHost: a\r\n${many(19)}\r\n`, { until: (s) => s.endsWith('ok') });
  assert.match(ok, /^HTTP\/1\.1 200 /);
  const tooMany = await rawExchange(px.port, `GET /1 HTTP/1.1\r\nHost: a\r\n${many(20)}\r\n`, { until: oneResponse });
  assert.match(tooMany, /^HTTP\/1\.1 431 [^]*\r\nconnection: close\r\n/i);
  assert.equal(px.server.stats.value('http.ingress.downstream_cx_protocol_error'), 1);
  // Responses: the cluster's limit (30 here; content-length is one of them).
  assert.equal((await fetch(`http://127.0.0.1:${px.port}/29`)).status, 200);
  const bad = await fetch(`http://127.0.0.1:${px.port}/30`);
  assert.equal(bad.status, 502);
  assert.match(await bad.text(), /protocol error/);
});

test('headers_with_underscores_action: REJECT_REQUEST answers 400, DROP_HEADER removes the fields (with Envoy stats)', async (t) => {
  const up = await startUpstream(echo('a'));
  t.after(() => up.close());
  const reject = await startProxy(simpleBootstrap({ ports: [up.port], hcmExtra: '                common_http_protocol_options: { headers_with_underscores_action: REJECT_REQUEST }' }));
  t.after(() => reject.close());
  const r = await rawExchange(reject.port, 'GET / HTTP/1.1\r\nHost: a\r\nX_Auth: admin\r\n\r\n', { until: oneResponse });
  assert.match(r, /^HTTP\/1\.1 400 [^]*\r\nconnection: close\r\n/i);
  assert.equal(up.requests.length, 0);
  assert.equal(reject.server.stats.value('http1.requests_rejected_with_underscores_in_headers'), 1);
  // Hyphens are fine.
  assert.match(await rawExchange(reject.port, 'GET / HTTP/1.1\r\nHost: a\r\nX-Auth: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /);

  const drop = await startProxy(simpleBootstrap({ ports: [up.port], hcmExtra: '                common_http_protocol_options: { headers_with_underscores_action: DROP_HEADER }' }));
  t.after(() => drop.close());
  const res = await fetch(`http://127.0.0.1:${drop.port}/d`, { headers: { 'x_auth': 'admin', 'x-keep': '1', 'a_b_c': '2' } });
  assert.equal(res.status, 200);
  const seen = up.requests.at(-1)!.headers;
  assert.equal(seen['x_auth'], undefined);
  assert.equal(seen['a_b_c'], undefined);
  assert.equal(seen['x-keep'], '1');
  assert.equal(drop.server.stats.value('http1.dropped_headers_with_underscores'), 2);
});

test('max_requests_per_connection: the Nth response says Connection: close and the connection ends', async (t) => {
  const up = await startUpstream(echo('a'));
  t.after(() => up.close());
  const px = await startProxy(simpleBootstrap({ ports: [up.port], hcmExtra: '                common_http_protocol_options: { max_requests_per_connection: 3 }' }));
  t.after(() => px.close());
  const c = await rawClient(t, px.port);
  // Four pipelined requests: three are answered, the fourth is never parsed.
  c.sock.write(['/1', '/2', '/3', '/4'].map((p) => `GET ${p} HTTP/1.1\r\nHost: a\r\n\r\n`).join(''));
  await c.closed;
  const rs = splitResponses(c.received());
  assert.deepEqual(rs.map((r) => r.status), [200, 200, 200]);
  assert.equal(rs[1]!.headers['connection'], undefined);
  assert.equal(rs[2]!.headers['connection'], 'close');
  assert.deepEqual(up.requests.map((q) => q.url), ['/1', '/2', '/3']);
  assert.equal(px.server.stats.value('http.ingress.downstream_cx_max_requests_reached'), 1);
});
