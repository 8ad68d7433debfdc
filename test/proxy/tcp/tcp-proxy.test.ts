// CompiledTcpProxy used directly, the way a listener does: weighted cluster picks, and the
// pre-connect API for protocol detection (prepare → serve or cancel) against real servers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { StatsStore } from '../../../src/observe/stats.js';
import { ClusterManager } from '../../../src/proxy/cluster/manager.js';
import type { TcpProxyConfig } from '../../../src/proxy/config/types.js';
import { PLAIN_FACTS, type DownstreamConnectionHandle, type TcpSlot } from '../../../src/proxy/listener/chain.js';
import { CompiledTcpProxy, type PreparedUpstream, type UpstreamEarlyEvent } from '../../../src/proxy/tcp/tcp-proxy.js';
import type { AccessLogger } from '../../../src/observe/access-log/logger.js';
import type { StreamInfo } from '../../../src/proxy/stream-info.js';
import { clusterConfig, endpoint, locality } from '../cluster/fixtures.js';
import { deadPort } from '../../helpers/bootstrap.js';

type T = { after(fn: () => Promise<void> | void): void };

const config = (over: Partial<TcpProxyConfig> = {}): TcpProxyConfig => ({
  kind: 'tcp_proxy', statPrefix: 'db', cluster: 'db', weightedClusters: null, idleTimeoutMs: 3_600_000,
  maxConnectAttempts: 1, accessLogs: [], ...over,
});

class MemoryLog implements AccessLogger {
  readonly entries: StreamInfo[] = [];
  private waiters: (() => void)[] = [];
  log(info: StreamInfo): void { this.entries.push(info); for (const w of this.waiters.splice(0)) w(); }
  async close(): Promise<void> {}
  /** Resolves once there is at least one entry. */
  next(): Promise<StreamInfo> {
    if (this.entries.length > 0) return Promise.resolve(this.entries[0]!);
    return new Promise((r) => this.waiters.push(() => r(this.entries[0]!)));
  }
}

/** A raw TCP server on 127.0.0.1:0; every socket and the server close with the test. */
async function server(t: T, onSocket: (s: net.Socket) => void): Promise<{ port: number; server: net.Server }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); srv.close(() => r()); }));
  return { port: (srv.address() as net.AddressInfo).port, server: srv };
}

async function setup(t: T, upstreamPort: number, over: Partial<TcpProxyConfig> = {}) {
  const store = new StatsStore();
  const clusters = new ClusterManager(store);
  await clusters.update([clusterConfig('db', [locality([endpoint('127.0.0.1', upstreamPort)])], { connectTimeoutMs: 1000 })]);
  t.after(() => clusters.close());
  const log = new MemoryLog();
  const proxy = new CompiledTcpProxy(config(over), clusters, store, [log]);
  const slot: TcpSlot = { kind: 'tcp', tcp: proxy };
  return { store, clusters, proxy, slot, log };
}

/**
 * A stand-in listener: for each connection it pre-connects with prepare(), then calls `decide`
 * to choose when to serve. Returns its port and the handles it created.
 */
async function listenerWith(t: T, decide: (sock: net.Socket, prepared: PreparedUpstream, events: UpstreamEarlyEvent[], serve: () => void) => void,
                            proxy: CompiledTcpProxy, slot: TcpSlot) {
  const handles: DownstreamConnectionHandle[] = [];
  const closed: DownstreamConnectionHandle[] = [];
  const events: UpstreamEarlyEvent[] = [];
  let onEvent: (e: UpstreamEarlyEvent) => void = () => {};
  const l = await server(t, (sock) => {
    const prepared = proxy.prepare(sock, (e) => { events.push(e); onEvent(e); });
    const serve = (): void => { handles.push(proxy.serve(sock, slot, PLAIN_FACTS, 1 << 20, (h) => closed.push(h), prepared)); };
    decide(sock, prepared, events, serve);
  });
  return { port: l.port, handles, closed, events, setOnEvent: (f: (e: UpstreamEarlyEvent) => void) => { onEvent = f; } };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function readUntil(s: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString();
      if (got.includes(text)) { s.off('data', onData); s.off('close', onClose); resolve(got); }
    };
    const onClose = (): void => reject(new Error(`closed before ${JSON.stringify(text)}; got ${JSON.stringify(got)}`));
    s.on('data', onData);
    s.once('close', onClose);
  });
}

function closed(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    s.on('data', (d: Buffer) => { got += d.toString(); });
    s.on('error', () => {});
    s.on('close', () => resolve(got));
  });
}

test('weighted_clusters: the pick follows the weights over the random draw', () => {
  const draws = [0, 0.5, 0.74, 0.75, 0.99];
  let i = 0;
  const proxy = new CompiledTcpProxy(config({
    cluster: null,
    weightedClusters: { clusters: [{ name: 'a', weight: 3 }, { name: 'b', weight: 1 }], totalWeight: 4 },
  }), new ClusterManager(new StatsStore()), new StatsStore(), [], { random: () => draws[i++]! });
  assert.deepEqual(draws.map(() => proxy.pickCluster()), ['a', 'a', 'a', 'b', 'b']);
});

test('prepare: a server-speaks-first greeting reaches a client that has sent nothing', async (t) => {
  const up = await server(t, (s) => {
    s.write('220 db ready\r\n');
    s.on('data', (d: Buffer) => { if (d.toString() === 'QUIT\r\n') s.end('221 bye\r\n'); });
  });
  const { proxy, slot, log, store } = await setup(t, up.port);
  // The listener serves the TCP proxy as soon as the server has spoken.
  const l = await listenerWith(t, (_sock, _p, _events, serve) => { l.setOnEvent((e) => { if (e === 'data') serve(); }); }, proxy, slot);
  const c = await connect(l.port);
  assert.equal(await readUntil(c, '\r\n'), '220 db ready\r\n');
  assert.deepEqual(l.events, ['data']);
  const rest = closed(c);
  c.end('QUIT\r\n');
  assert.equal(await rest, '221 bye\r\n');
  const info = await log.next();
  assert.equal(info.bytesSent, '220 db ready\r\n221 bye\r\n'.length);
  assert.equal(info.bytesReceived, 'QUIT\r\n'.length);
  assert.equal(info.upstreamHost, `127.0.0.1:${up.port}`);
  assert.equal(info.responseFlags, '');
  assert.equal(l.closed.length, 1);
  assert.equal(store.value('tcp.db.downstream_cx_total'), 1);
  assert.equal(store.value('cluster.db.upstream_cx_active'), 0);
});

test('prepare: bytes the listener read and put back go upstream first', async (t) => {
  const up = await server(t, (s) => { s.pipe(s); });
  const { proxy, slot } = await setup(t, up.port);
  // The listener sniffs the first bytes (not HTTP), puts them back and serves.
  const l = await listenerWith(t, (sock, _p, _e, serve) => {
    sock.once('data', (d: Buffer) => { sock.pause(); sock.unshift(d); serve(); });
  }, proxy, slot);
  const c = await connect(l.port);
  c.write('\x00\x01binary');
  assert.equal(await readUntil(c, 'binary'), '\x00\x01binary');
  c.write('more');
  assert.equal(await readUntil(c, 'more'), 'more');
  const done = closed(c);
  c.end();
  await done;
});

test('prepare: cancel() closes the upstream connection and leaves no trace in tcp stats or logs', async (t) => {
  let upClosed!: () => void;
  const upGone = new Promise<void>((r) => { upClosed = r; });
  let upConnected!: () => void;
  const upHere = new Promise<void>((r) => { upConnected = r; });
  const up = await server(t, (s) => { upConnected(); s.resume(); s.on('end', () => s.end()); s.on('close', () => upClosed()); });
  const { proxy, log, store } = await setup(t, up.port);
  const prepared = proxy.prepare({ remoteAddress: '127.0.0.1', remotePort: 5555 }, () => assert.fail('no event after cancel'));
  await upHere;
  prepared.cancel();
  await upGone;
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(store.value('cluster.db.upstream_cx_total'), 1);
  assert.equal(store.value('cluster.db.upstream_cx_active'), 0);
  assert.equal(store.value('tcp.db.downstream_cx_total'), 0);
  assert.equal(log.entries.length, 0);
});

test('prepare: an unreachable upstream is reported (error) and serve() closes the client with UF,URX', async (t) => {
  const dead = await deadPort();
  const { proxy, slot, log, store } = await setup(t, dead);
  const l = await listenerWith(t, (_sock, _p, _e, serve) => { l.setOnEvent((e) => { if (e === 'error') serve(); }); }, proxy, slot);
  const c = await connect(l.port);
  assert.equal(await closed(c), '');
  const info = await log.next();
  assert.equal(info.responseFlags, 'UF,URX');
  assert.deepEqual(l.events, ['error']);
  assert.equal(store.value('cluster.db.upstream_cx_connect_fail'), 1);
  assert.equal(store.value('tcp.db.downstream_cx_total'), 1);
});

test('prepare: a server that greets and ends before serve() still has its greeting delivered', async (t) => {
  const up = await server(t, (s) => { s.end('hello and goodbye\n'); s.resume(); });
  const { proxy, slot, log } = await setup(t, up.port);
  // Serve only once the upstream has closed its side too.
  const l = await listenerWith(t, (_sock, _p, _e, serve) => { l.setOnEvent((e) => { if (e === 'data') setImmediate(serve); }); }, proxy, slot);
  const c = await connect(l.port);
  assert.equal(await closed(c), 'hello and goodbye\n');
  const info = await log.next();
  assert.equal(info.bytesSent, 'hello and goodbye\n'.length);
});

test('serve without prepare: the client speaks first (connect happens at serve)', async (t) => {
  const up = await server(t, (s) => { s.pipe(s); });
  const { proxy, slot, store } = await setup(t, up.port);
  const closedHandles: DownstreamConnectionHandle[] = [];
  const l = await server(t, (sock) => { proxy.serve(sock, slot, PLAIN_FACTS, 1 << 20, (h) => closedHandles.push(h)); });
  const c = await connect(l.port);
  c.write('ping');
  assert.equal(await readUntil(c, 'ping'), 'ping');
  const done = closed(c);
  c.end();
  await done;
  assert.equal(store.value('cluster.db.upstream_cx_total'), 1);
});

test('destroy() closes both sides at once', async (t) => {
  let upClosed!: () => void;
  const upGone = new Promise<void>((r) => { upClosed = r; });
  const up = await server(t, (s) => { s.pipe(s); s.on('close', () => upClosed()); });
  const { proxy, slot, log } = await setup(t, up.port);
  let handle: DownstreamConnectionHandle | null = null;
  const l = await server(t, (sock) => { handle = proxy.serve(sock, slot, PLAIN_FACTS, 1 << 20, () => {}); });
  const c = await connect(l.port);
  c.write('x');
  await readUntil(c, 'x');
  const done = closed(c);
  handle!.drain(); // a drain leaves it running
  c.write('y');
  await readUntil(c, 'y');
  handle!.destroy();
  await Promise.all([done, upGone]);
  await log.next();
});

test('circuit breaker: past max_connections a new connection is closed with UO and upstream_cx_overflow', async (t) => {
  const up = await server(t, (s) => { s.pipe(s); });
  const store = new StatsStore();
  const clusters = new ClusterManager(store);
  const base = clusterConfig('db', [locality([endpoint('127.0.0.1', up.port)])]);
  await clusters.update([{ ...base, connectionPool: { ...base.connectionPool, maxConnections: 1 } }]);
  t.after(() => clusters.close());
  const log = new MemoryLog();
  const proxy = new CompiledTcpProxy(config(), clusters, store, [log]);
  const slot: TcpSlot = { kind: 'tcp', tcp: proxy };
  const l = await server(t, (sock) => { proxy.serve(sock, slot, PLAIN_FACTS, 1 << 20, () => {}); });
  const first = await connect(l.port);
  first.write('1');
  await readUntil(first, '1');
  const second = await connect(l.port);
  assert.equal(await closed(second), '');
  const info = await log.next();
  assert.equal(info.responseFlags, 'UO');
  assert.equal(store.value('cluster.db.upstream_cx_overflow'), 1);
  const done = closed(first);
  first.end();
  await done;
});
