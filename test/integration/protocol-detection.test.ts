// Protocol detection with envoy.filters.listener.http_inspector end to end: one plaintext port
// carrying HTTP/1.1 (curl), HTTP/2 with prior knowledge (curl --http2-prior-knowledge) and other
// TCP protocols. HTTP goes to a connection manager chain matched by application_protocols, the
// rest to a tcp_proxy default chain. A server-speaks-first upstream (a greeting on connect, like
// MySQL) reaches a client that sends nothing without waiting for detection; the upstream that was
// pre-connected for that purpose is closed when the client turns out to speak HTTP. With
// tls_inspector on the same listener, TLS connections are not sniffed for HTTP.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { bootstrap, cluster, deadPort, direct, eventually, hcm, listener, type Obj } from '../helpers/bootstrap.js';
import { curl } from '../helpers/tls-clients.js';

type T = { after(fn: () => Promise<void> | void): void };

const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const HTTP_INSPECTOR = {
  name: 'envoy.filters.listener.http_inspector',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector' },
};
/** Every test here finishes long before; a detection stall would hit this, not a fixed sleep. */
const TIMEOUT = { timeout: 20_000 };

/** A TCP server recording its connections; `onSocket` gives each its behaviour. */
interface TcpUpstream {
  port: number;
  /** Resolves with the next connection the server accepts (or one already accepted and not yet taken). */
  nextConnection(): Promise<net.Socket>;
  accepted: number;
}

async function tcpServer(t: T, onSocket: (s: net.Socket) => void): Promise<TcpUpstream> {
  const sockets = new Set<net.Socket>();
  const queue: net.Socket[] = [];
  const waiters: Array<(s: net.Socket) => void> = [];
  const up: TcpUpstream = {
    port: 0,
    accepted: 0,
    nextConnection: () => new Promise((resolve) => {
      const s = queue.shift();
      if (s !== undefined) resolve(s); else waiters.push(resolve);
    }),
  };
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    up.accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onSocket(s);
    const w = waiters.shift();
    if (w !== undefined) w(s); else queue.push(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  up.port = (server.address() as net.AddressInfo).port;
  return up;
}

const echoSocket = (s: net.Socket): void => { s.pipe(s); };
const GREETING = '5.7.42-weft-test greeting\n';
/** Like a MySQL server: greets on connect, then echoes. */
const greetThenEcho = (s: net.Socket): void => { s.write(GREETING); s.pipe(s); };

/**
 * One plaintext listener with http_inspector: a connection-manager chain for `http/1.1` and `h2c`
 * answering `hcm:<path>`, and a tcp_proxy default chain to cluster `tcp` at `tcpPort`.
 */
async function detectingProxy(t: T, tcpPort: number, o: { filtersTimeout?: string; extraListener?: Obj } = {}): Promise<RunningProxy> {
  const l = listener({
    chains: [{
      filter_chain_match: { application_protocols: ['http/1.1', 'h2c'] },
      filters: [hcm({
        statPrefix: 'web',
        routes: [direct({ prefix: '/' }, 'hcm')],
        extra: { codec_type: 'AUTO' },
      })],
    }],
    defaultChain: {
      name: 'tcp-fallback',
      filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY_TYPE, stat_prefix: 'raw', cluster: 'tcp' } }],
    },
  });
  l.listener_filters = [HTTP_INSPECTOR];
  // Longer than the test timeout: nothing may depend on it expiring.
  l.listener_filters_timeout = o.filtersTimeout ?? '60s';
  Object.assign(l, o.extraListener ?? {});
  const px = await startProxy(bootstrap({ listeners: [l], clusters: [cluster('tcp', [tcpPort])] }));
  t.after(() => px.close());
  return px;
}

function connect(t: T, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    t.after(() => { s.destroy(); });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves once `s` has received `text` in total (as latin1); rejects if it closes first. */
function receive(s: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString('latin1');
      if (got.length >= text.length) { done(); resolve(got); }
    };
    const onClose = (): void => { done(); reject(new Error(`closed after ${JSON.stringify(got)}, expected ${JSON.stringify(text)}`)); };
    const done = (): void => { s.off('data', onData); s.off('close', onClose); };
    if (s.destroyed) { reject(new Error(`closed, expected ${JSON.stringify(text)}`)); return; }
    s.on('data', onData);
    s.once('close', onClose);
  });
}

/** Counts what it receives (in `received`), and ends its side when the peer ends. */
const sink = (s: net.Socket): void => {
  received.set(s, 0);
  s.on('data', (d: Buffer) => received.set(s, received.get(s)! + d.length));
  s.on('end', () => s.end());
};
const received = new WeakMap<net.Socket, number>();

const closed = (s: net.Socket): Promise<void> => new Promise((r) => { if (s.destroyed) r(); else s.once('close', () => r()); });
const stat = (px: RunningProxy, name: string): number | undefined => px.server.stats.value(name);
const inspector = (px: RunningProxy, n: string): number | undefined => stat(px, `listener.127.0.0.1_0.http_inspector.${n}`);

test('http_inspector: curl HTTP/1.1 goes to the connection manager chain', TIMEOUT, async (t) => {
  const up = await tcpServer(t, echoSocket);
  const px = await detectingProxy(t, up.port);
  const r = await curl(['-w', ' %{http_version}', `http://127.0.0.1:${px.port}/a`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hcm 1.1');
  assert.equal(inspector(px, 'http11_found'), 1);
  assert.equal(inspector(px, 'http2_found'), 0);
  assert.equal(inspector(px, 'http_not_found'), 0);
  assert.equal(stat(px, 'http.web.downstream_rq_total'), 1);
  assert.equal(stat(px, 'tcp.raw.downstream_cx_total') ?? 0, 0);
  // Prometheus form of the inspector's stats.
  const s = px.server.stats.get('listener.127.0.0.1_0.http_inspector.http11_found')!;
  assert.equal(s.promName, 'listener_http_inspector_http11_found');
  assert.deepEqual(s.labels, { envoy_listener_address: '127.0.0.1_0' });
});

test('http_inspector: curl --http2-prior-knowledge (h2c) goes to the connection manager chain over HTTP/2', TIMEOUT, async (t) => {
  const up = await tcpServer(t, echoSocket);
  const px = await detectingProxy(t, up.port);
  const r = await curl(['--http2-prior-knowledge', '-w', ' %{http_version}', `http://127.0.0.1:${px.port}/b`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hcm 2');
  assert.equal(inspector(px, 'http2_found'), 1);
  assert.equal(inspector(px, 'http11_found'), 0);
  assert.equal(stat(px, 'http.web.downstream_rq_total'), 1);
  assert.equal(stat(px, 'tcp.raw.downstream_cx_total') ?? 0, 0);
});

test('http_inspector: a client speaking something else first goes to the TCP chain at once', TIMEOUT, async (t) => {
  const up = await tcpServer(t, echoSocket);
  const px = await detectingProxy(t, up.port);
  const c = await connect(t, px.port);
  // 4 bytes are enough to tell: no HTTP method starts with "HELO".
  const echoed = receive(c, 'HELO');
  c.write('HELO');
  assert.equal(await echoed, 'HELO');
  const more = receive(c, ' there\n');
  c.write(' there\n');
  assert.equal(await more, ' there\n');
  assert.equal(inspector(px, 'http_not_found'), 1);
  assert.equal(stat(px, 'tcp.raw.downstream_cx_total'), 1);
  // The pre-connected upstream was the one used: one upstream connection in all.
  assert.equal(up.accepted, 1);
  assert.equal(stat(px, 'cluster.tcp.upstream_cx_total'), 1);
  c.end();
  await closed(c);
});

test('http_inspector: a server-speaks-first upstream greets a silent client without waiting for detection', TIMEOUT, async (t) => {
  const up = await tcpServer(t, greetThenEcho);
  const px = await detectingProxy(t, up.port);
  const c = await connect(t, px.port);
  // The client sends nothing: the greeting must come (listener_filters_timeout is 60 s, longer
  // than this test may run).
  assert.equal(await receive(c, GREETING), GREETING);
  const reply = receive(c, 'QUIT\n');
  c.write('QUIT\n');
  assert.equal(await reply, 'QUIT\n');
  assert.equal(stat(px, 'tcp.raw.downstream_cx_total'), 1);
  assert.equal(up.accepted, 1);
  // No bytes from the client were inspected: no inspector verdict at all.
  for (const n of ['http10_found', 'http11_found', 'http2_found', 'http_not_found']) assert.equal(inspector(px, n), 0, n);
  c.end();
  await closed(c);
});

test('http_inspector: the pre-connected upstream is closed when the client speaks HTTP', TIMEOUT, async (t) => {
  const up = await tcpServer(t, sink);
  const px = await detectingProxy(t, up.port);
  const upstreamConn = up.nextConnection();
  const r = await curl(['-w', ' %{http_version}', `http://127.0.0.1:${px.port}/c`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hcm 1.1');
  // The upstream saw the pre-connect, then its close, and not a byte of the HTTP request.
  const s = await upstreamConn;
  await closed(s);
  assert.equal(received.get(s), 0);
  assert.equal(up.accepted, 1);
  await eventually(() => stat(px, 'cluster.tcp.upstream_cx_active') === 0, 'the proxy to account for the closed upstream');
  assert.equal(stat(px, 'cluster.tcp.upstream_cx_total'), 1);
  // A cancelled pre-connect is no TCP proxy connection.
  assert.equal(stat(px, 'tcp.raw.downstream_cx_total') ?? 0, 0);
});

test('http_inspector: HTTP/1.0 is told apart (http10_found) and, not matched by [http/1.1, h2c], takes the default chain', TIMEOUT, async (t) => {
  const up = await tcpServer(t, echoSocket);
  const px = await detectingProxy(t, up.port);
  const c = await connect(t, px.port);
  const req = 'GET / HTTP/1.0\r\n\r\n';
  const echoed = receive(c, req);
  c.write(req);
  assert.equal(await echoed, req);
  assert.equal(inspector(px, 'http10_found'), 1);
  assert.equal(stat(px, 'tcp.raw.downstream_cx_total'), 1);
});

test('http_inspector: a request line split across reads is detected once complete', TIMEOUT, async (t) => {
  const up = await tcpServer(t, echoSocket);
  const px = await detectingProxy(t, up.port);
  const c = await connect(t, px.port);
  c.setNoDelay(true);
  c.write('GET /split HT');
  // The client has spoken, so the pre-connected upstream is not committed to; the rest decides.
  await eventually(() => up.accepted === 1, 'the pre-connect');
  const resp = receive(c, 'HTTP/1.1 200');
  c.write('TP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  assert.match(await resp, /^HTTP\/1\.1 200/);
  assert.equal(inspector(px, 'http11_found'), 1);
});

test('http_inspector: an unreachable TCP fallback does not fail HTTP clients; a silent client is closed at listener_filters_timeout', TIMEOUT, async (t) => {
  const dead = await deadPort();
  const px = await detectingProxy(t, dead, { filtersTimeout: '0.3s' });
  const c = await connect(t, px.port);
  // The pre-connect fails before the client says anything; the client is still served over HTTP.
  await eventually(() => (stat(px, 'cluster.tcp.upstream_cx_connect_fail') ?? 0) >= 1, 'the pre-connect to fail');
  const resp = receive(c, 'HTTP/1.1 200');
  c.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  assert.match(await resp, /^HTTP\/1\.1 200/);
  // A client that says nothing is closed when listener_filters_timeout expires (no continue).
  const silent = await connect(t, px.port);
  silent.on('error', () => {});
  await closed(silent);
  assert.equal(stat(px, 'tcp.raw.downstream_cx_total') ?? 0, 0);
});

/**
 * An HTTP-only listener with http_inspector: an h2c chain, a default chain answering over HTTP, no
 * tcp_proxy anywhere, and continue_on_listener_filters_timeout. The timeout is long enough that a
 * client started under load (curl) gets its first bytes in before it fires.
 */
function httpOnlyListener(): Obj {
  const l = listener({
    chains: [{ filter_chain_match: { application_protocols: ['h2c'] }, filters: [hcm({ statPrefix: 'h2', routes: [direct({ prefix: '/' }, 'h2-chain')] })] }],
    defaultChain: { filters: [hcm({ statPrefix: 'any', routes: [direct({ prefix: '/' }, 'default-chain')] })] },
  });
  l.listener_filters = [HTTP_INSPECTOR];
  l.listener_filters_timeout = '2s';
  l.continue_on_listener_filters_timeout = true;
  return l;
}

test('http_inspector: without a TCP fallback, continue_on_listener_filters_timeout sends a silent client to the default chain', TIMEOUT, async (t) => {
  const l = httpOnlyListener();
  const px = await startProxy(bootstrap({ listeners: [l] }));
  t.after(() => px.close());
  const c = await connect(t, px.port);
  await eventually(() => stat(px, 'listener.127.0.0.1_0.downstream_cx_total') === 1, 'the timeout to hand the connection over', 10000);
  assert.equal(inspector(px, 'http_not_found'), 0);
  const resp = receive(c, 'HTTP/1.1 200');
  c.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  const text = await resp;
  assert.match(text, /^HTTP\/1\.1 200/);
  await closed(c);
  assert.match(text, /default-chain$/);
  const h1 = await curl([`http://127.0.0.1:${px.port}/`]);
  assert.equal(h1.stdout, 'default-chain');
});

// A direct response on a request that ended with its HEADERS: the regression where the stream was
// reset (RST_STREAM NO_ERROR) before its END_STREAM went out, seen by curl as an empty reply.
test('http_inspector: h2c to an HTTP-only listener with a default chain goes to the h2c chain, every time', TIMEOUT, async (t) => {
  const l = httpOnlyListener();
  const px = await startProxy(bootstrap({ listeners: [l] }));
  t.after(() => px.close());
  for (let i = 0; i < 20; i++) {
    const h2 = await curl(['--http2-prior-knowledge', `http://127.0.0.1:${px.port}/`]);
    assert.equal(h2.stdout, 'h2-chain', `request ${i}: curl ${h2.code} ${h2.stderr}`);
  }
});

test('http_inspector: listener drain closes connections still in detection and their pre-connected upstream', TIMEOUT, async (t) => {
  const up = await tcpServer(t, sink);
  const px = await detectingProxy(t, up.port);
  const c = await connect(t, px.port);
  c.on('error', () => {});
  const upstreamConn = await up.nextConnection();
  px.server.drainListeners();
  await Promise.all([closed(c), closed(upstreamConn)]);
});

test('http_inspector with tls_inspector: TLS connections are not sniffed for HTTP, plaintext ones are', TIMEOUT, async (t) => {
  // The TLS "server" only records what arrives: the ClientHello must reach it untouched.
  let firstTlsBytes: Buffer | null = null;
  let gotTls!: () => void;
  const tlsSeen = new Promise<void>((r) => { gotTls = r; });
  const tlsUp = await tcpServer(t, (s) => {
    s.once('data', (d: Buffer) => { firstTlsBytes = d; gotTls(); });
    s.on('end', () => s.end());
  });
  const fallback = await tcpServer(t, sink);
  const tcpProxy = (prefix: string, clusterName: string): Obj =>
    ({ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY_TYPE, stat_prefix: prefix, cluster: clusterName } });
  const l = listener({
    chains: [
      { filter_chain_match: { transport_protocol: 'tls' }, filters: [tcpProxy('pass', 'tls')] },
      { filter_chain_match: { transport_protocol: 'raw_buffer', application_protocols: ['http/1.1', 'h2c'] }, filters: [hcm({ statPrefix: 'web', routes: [direct({ prefix: '/' }, 'hcm')] })] },
    ],
    defaultChain: { filters: [tcpProxy('raw', 'tcp')] },
  });
  l.listener_filters = [
    { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } },
    HTTP_INSPECTOR,
  ];
  l.listener_filters_timeout = '60s';
  const px = await startProxy(bootstrap({ listeners: [l], clusters: [cluster('tls', [tlsUp.port]), cluster('tcp', [fallback.port])] }));
  t.after(() => px.close());

  const client = tls.connect({ port: px.port, host: '127.0.0.1', servername: 'x.test', rejectUnauthorized: false });
  client.on('error', () => {});
  t.after(() => { client.destroy(); });
  await tlsSeen;
  assert.equal(firstTlsBytes![0], 0x16); // a TLS handshake record
  assert.equal(stat(px, 'tcp.pass.downstream_cx_total'), 1);
  for (const n of ['http10_found', 'http11_found', 'http2_found', 'http_not_found']) assert.equal(inspector(px, n), 0, n);
  // The fallback pre-connected for this connection is closed: the client spoke TLS.
  await closed(await fallback.nextConnection());

  const r = await curl([`http://127.0.0.1:${px.port}/`]);
  assert.equal(r.stdout, 'hcm');
  assert.equal(inspector(px, 'http11_found'), 1);
});
