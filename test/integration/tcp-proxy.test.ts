// The TCP proxy end to end: bytes both ways through a real listener, backpressure on large
// transfers, half-close in both directions, weighted clusters, connect failures and retries with
// their access-log flags and stats, no route, the idle timeout, and listener drain.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { parseBootstrapText } from '../../src/envoy/text.js';
import { bootstrap, cluster, deadPort, eventually, FILE_LOG_TYPE, listener, settled, waitForLines, type Obj } from '../helpers/bootstrap.js';

type T = { after(fn: () => Promise<void> | void): void };

const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const LOG_FORMAT = '%UPSTREAM_CLUSTER% %UPSTREAM_HOST% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %PROTOCOL% %RESPONSE_CODE% %UPSTREAM_REQUEST_ATTEMPT_COUNT%\n';

function tcpProxy(o: { statPrefix?: string; cluster?: string; extra?: Obj; logPath?: string }): Obj {
  const cfg: Obj = { '@type': TCP_PROXY_TYPE, stat_prefix: o.statPrefix ?? 'tcp', ...o.extra };
  if (o.cluster !== undefined) cfg.cluster = o.cluster;
  if (o.logPath !== undefined) {
    cfg.access_log = [{ name: 'file', typed_config: { '@type': FILE_LOG_TYPE, path: o.logPath, log_format: { text_format: LOG_FORMAT } } }];
  }
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: cfg };
}

function tmpDir(t: T): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-tcp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A raw TCP server on 127.0.0.1:0 (half-open allowed); closes its sockets with the test. */
async function tcpServer(t: T, onSocket: (s: net.Socket) => void): Promise<{ port: number; sockets: Set<net.Socket>; server: net.Server }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return { port: (server.address() as net.AddressInfo).port, sockets, server };
}

/** Echoes every byte back; ends its side when the client does. */
const echoSocket = (s: net.Socket): void => { s.pipe(s); };

async function proxyTo(t: T, o: { clusters: Obj[]; tcp: Obj; bufferLimit?: number }): Promise<RunningProxy> {
  const l = listener({ filter: o.tcp });
  if (o.bufferLimit !== undefined) l.per_connection_buffer_limit_bytes = o.bufferLimit;
  const px = await startProxy(bootstrap({ listeners: [l], clusters: o.clusters }));
  t.after(() => px.close());
  return px;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Everything a socket receives until it closes, and whether it saw a clean end. The client ends
 * its own side when the peer does, unless `keepOpen` (half-close tests).
 */
function collect(s: net.Socket, keepOpen = false): Promise<{ data: Buffer; ended: boolean; error: string | null }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let ended = false;
    let error: string | null = null;
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => { ended = true; if (!keepOpen) s.end(); });
    s.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; });
    s.on('close', () => resolve({ data: Buffer.concat(chunks), ended, error }));
  });
}

/** Resolves with the first `n` bytes a socket receives. */
function readBytes(s: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (d: Buffer): void => {
      chunks.push(d);
      got += d.length;
      if (got >= n) { s.off('data', onData); s.off('close', onClose); s.pause(); resolve(Buffer.concat(chunks)); }
    };
    const onClose = (): void => reject(new Error(`closed after ${got} of ${n} bytes`));
    s.on('data', onData);
    s.once('close', onClose);
    s.resume();
  });
}

const value = (px: RunningProxy, name: string): number | undefined => px.server.stats.value(name);

test('tcp_proxy: bytes go both ways; stats, Prometheus names and the access log say so', async (t) => {
  const up = await tcpServer(t, echoSocket);
  const log = join(tmpDir(t), 'tcp.log');
  const px = await proxyTo(t, { clusters: [cluster('echo', [up.port])], tcp: tcpProxy({ statPrefix: 'echo', cluster: 'echo', logPath: log }) });
  const c = await connect(px.port);
  c.write('hello');
  assert.equal((await readBytes(c, 5)).toString(), 'hello');
  c.write(' world!');
  assert.equal((await readBytes(c, 7)).toString(), ' world!');
  const done = collect(c);
  c.end();
  const r = await done;
  assert.equal(r.ended, true);
  const [line] = await waitForLines(log, 1);
  assert.equal(line, `echo 127.0.0.1:${up.port} - 12 12 - 0 1`);
  assert.equal(value(px, 'tcp.echo.downstream_cx_total'), 1);
  assert.equal(value(px, 'tcp.echo.downstream_cx_rx_bytes_total'), 12);
  assert.equal(value(px, 'tcp.echo.downstream_cx_tx_bytes_total'), 12);
  assert.equal(value(px, 'tcp.echo.downstream_cx_no_route'), 0);
  assert.equal(value(px, 'cluster.echo.upstream_cx_total'), 1);
  assert.equal(value(px, 'cluster.echo.upstream_cx_active'), 0);
  assert.equal(value(px, 'cluster.echo.upstream_cx_tx_bytes_total'), 12);
  assert.equal(value(px, 'cluster.echo.upstream_cx_rx_bytes_total'), 12);
  const stat = px.server.stats.get('tcp.echo.downstream_cx_total')!;
  assert.equal(stat.promName, 'tcp_downstream_cx_total');
  assert.deepEqual(stat.labels, { envoy_tcp_prefix: 'echo' });
  const length = px.server.stats.get('cluster.echo.upstream_cx_length_ms');
  assert.ok(length !== undefined && 'count' in length && length.count === 1);
});

test('tcp_proxy: a large upload pauses the client side at the buffer limit and arrives intact', async (t) => {
  // The upstream does not read until the proxy has had to pause the client, then reads it all
  // and answers with the size and digest of what it got.
  let upSocket: net.Socket | null = null;
  const up = await tcpServer(t, (s) => {
    upSocket = s;
    s.pause();
    const hash = createHash('sha256');
    let n = 0;
    s.on('data', (d: Buffer) => { hash.update(d); n += d.length; });
    s.on('end', () => s.end(`${n} ${hash.digest('hex')}`));
  });
  const px = await proxyTo(t, { clusters: [cluster('sink', [up.port])], tcp: tcpProxy({ statPrefix: 'up', cluster: 'sink' }), bufferLimit: 32 * 1024 });
  const c = await connect(px.port);
  const reply = collect(c);
  const payload = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < payload.length; i += 4096) payload.writeUInt32BE(i, i);
  const expected = `${payload.length} ${createHash('sha256').update(payload).digest('hex')}`;
  c.end(payload);
  await eventually(() => (value(px, 'tcp.up.downstream_flow_control_paused_reading_total') ?? 0) > 0 && upSocket !== null,
    'the proxy to pause reading from the client');
  upSocket!.resume();
  const r = await reply;
  assert.equal(r.data.toString(), expected);
  const paused = value(px, 'tcp.up.downstream_flow_control_paused_reading_total')!;
  assert.ok(paused >= 1);
  assert.equal(value(px, 'tcp.up.downstream_flow_control_resumed_reading_total'), paused);
  assert.equal(value(px, 'tcp.up.downstream_cx_rx_bytes_total'), payload.length);
});

test('tcp_proxy: a large download to a slow client arrives intact', async (t) => {
  const payload = Buffer.alloc(6 * 1024 * 1024);
  for (let i = 0; i < payload.length; i += 1024) payload.writeUInt32BE(i ^ 0x5a5a5a5a, i);
  const up = await tcpServer(t, (s) => { s.end(payload); s.resume(); });
  const px = await proxyTo(t, { clusters: [cluster('src', [up.port])], tcp: tcpProxy({ statPrefix: 'down', cluster: 'src' }), bufferLimit: 64 * 1024 });
  const c = await connect(px.port);
  // Read the first bytes, then stop reading until the upstream must have been held back.
  const head = await readBytes(c, 1);
  await eventually(() => (value(px, 'cluster.src.upstream_cx_rx_bytes_total') ?? 0) > 0, 'upstream bytes');
  const rest = collect(c);
  c.resume();
  c.end();
  const r = await rest;
  const got = Buffer.concat([head, r.data]);
  assert.equal(got.length, payload.length);
  assert.ok(got.equals(payload));
  assert.equal(value(px, 'tcp.down.downstream_cx_tx_bytes_total'), payload.length);
});

test('tcp_proxy: client half-close — the server still answers after the client FIN, then ends', async (t) => {
  const up = await tcpServer(t, (s) => {
    let got = '';
    s.on('data', (d: Buffer) => { got += d.toString(); });
    s.on('end', () => { s.write('got:'); s.end(got); });
  });
  const px = await proxyTo(t, { clusters: [cluster('app', [up.port])], tcp: tcpProxy({ cluster: 'app' }) });
  const c = await connect(px.port);
  const r = collect(c);
  c.write('abc');
  c.end('def');
  const out = await r;
  assert.equal(out.data.toString(), 'got:abcdef');
  assert.equal(out.ended, true);
  assert.equal(out.error, null);
  await eventually(() => px.server.stats.value('cluster.app.upstream_cx_active') === 0, 'the upstream connection to close');
});

test('tcp_proxy: server half-close — the client still sends after the server FIN', async (t) => {
  let serverGot = '';
  let serverEnded!: () => void;
  const serverDone = new Promise<void>((r) => { serverEnded = r; });
  const up = await tcpServer(t, (s) => {
    s.end('bye\n');
    s.on('data', (d: Buffer) => { serverGot += d.toString(); });
    s.on('end', () => serverEnded());
  });
  const px = await proxyTo(t, { clusters: [cluster('app', [up.port])], tcp: tcpProxy({ cluster: 'app' }) });
  const c = await connect(px.port);
  const r = collect(c, true);
  await new Promise<void>((resolve) => c.once('end', resolve));
  c.write('still here');
  c.end();
  await serverDone;
  assert.equal(serverGot, 'still here');
  const out = await r;
  assert.equal(out.data.toString(), 'bye\n');
});

test('tcp_proxy: weighted_clusters spread connections by weight', async (t) => {
  const named = (name: string) => (s: net.Socket) => { s.end(name); s.resume(); };
  const a = await tcpServer(t, named('a'));
  const b = await tcpServer(t, named('b'));
  const px = await proxyTo(t, {
    clusters: [cluster('a', [a.port]), cluster('b', [b.port])],
    tcp: tcpProxy({ statPrefix: 'split', extra: { weighted_clusters: { clusters: [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }] } } }),
  });
  const seen: Record<string, number> = { a: 0, b: 0 };
  for (let i = 0; i < 60; i++) {
    const c = await connect(px.port);
    const r = collect(c);
    c.end();
    seen[(await r).data.toString()]!++;
  }
  assert.equal(seen.a! + seen.b!, 60);
  // 1:1 over 60 connections: each side below 10 has odds under 1e-8.
  assert.ok(seen.a! >= 10 && seen.b! >= 10, JSON.stringify(seen));
  assert.equal(value(px, 'cluster.a.upstream_cx_total'), seen.a);
  assert.equal(value(px, 'tcp.split.downstream_cx_total'), 60);
});

test('tcp_proxy: a connect failure closes the client, logs UF,URX and counts upstream_cx_connect_fail', async (t) => {
  const dead = await deadPort();
  const log = join(tmpDir(t), 'tcp.log');
  const px = await proxyTo(t, { clusters: [cluster('gone', [dead])], tcp: tcpProxy({ statPrefix: 'f', cluster: 'gone', logPath: log }) });
  const c = await connect(px.port);
  const r = await collect(c);
  assert.equal(r.data.length, 0);
  const [line] = await waitForLines(log, 1);
  assert.equal(line, `gone 127.0.0.1:${dead} UF,URX 0 0 - 0 1`);
  assert.equal(value(px, 'cluster.gone.upstream_cx_connect_fail'), 1);
  assert.equal(value(px, 'cluster.gone.upstream_cx_connect_attempts_exceeded'), 1);
  assert.equal(value(px, 'cluster.gone.upstream_cx_active'), 0);
  assert.equal(px.server.stats.get('cluster.gone.upstream_cx_connect_attempts_exceeded')!.promName, 'cluster_upstream_cx_connect_attempts_exceeded');
});

test('tcp_proxy: max_connect_attempts tries another host after a connect failure', async (t) => {
  const dead = await deadPort();
  const up = await tcpServer(t, echoSocket);
  const log = join(tmpDir(t), 'tcp.log');
  const px = await proxyTo(t, {
    clusters: [cluster('mixed', [dead, up.port])],
    tcp: tcpProxy({ statPrefix: 'r', cluster: 'mixed', logPath: log, extra: { max_connect_attempts: 2 } }),
  });
  for (let i = 0; i < 2; i++) {
    const c = await connect(px.port);
    c.write('ping');
    assert.equal((await readBytes(c, 4)).toString(), 'ping');
    const r = collect(c);
    c.end();
    await r;
  }
  const lines = await waitForLines(log, 2);
  // Both connections end up on the live host; those that tried the dead one first needed 2 attempts.
  assert.deepEqual(lines.map((l) => l.split(' ').slice(1, 3).join(' ')), [`127.0.0.1:${up.port} -`, `127.0.0.1:${up.port} -`]);
  const retried = lines.filter((l) => l.endsWith(' 2')).length;
  assert.ok(retried >= 1);
  assert.equal(value(px, 'cluster.mixed.upstream_cx_connect_fail'), retried);
});

test('tcp_proxy: an unknown cluster counts downstream_cx_no_route and logs NC; a cluster without hosts logs UH', async (t) => {
  const dir = tmpDir(t);
  const px = await startProxy(bootstrap({
    listeners: [
      listener({ name: 'nc', filter: tcpProxy({ statPrefix: 'nc', cluster: 'missing', logPath: join(dir, 'nc.log') }) }),
      listener({ name: 'uh', filter: tcpProxy({ statPrefix: 'uh', cluster: 'sick', logPath: join(dir, 'uh.log') }) }),
    ],
    clusters: [cluster('sick', [])],
  }));
  t.after(() => px.close());
  await collect(await connect(px.portOf('nc')));
  await collect(await connect(px.portOf('uh')));
  assert.deepEqual(await waitForLines(join(dir, 'nc.log'), 1), ['- - NC 0 0 - 0 0']);
  assert.equal(value(px, 'tcp.nc.downstream_cx_no_route'), 1);
  assert.equal(value(px, 'tcp.nc.downstream_cx_total'), 1);
  const [uh] = await waitForLines(join(dir, 'uh.log'), 1);
  assert.match(uh!, /^sick - UH 0 0 - 0 0$/);
  assert.equal(value(px, 'cluster.sick.upstream_cx_none_healthy'), 1);
});

test('tcp_proxy: idle_timeout closes a quiet connection; traffic either way keeps it open', async (t) => {
  const up = await tcpServer(t, echoSocket);
  const px = await proxyTo(t, { clusters: [cluster('echo', [up.port])], tcp: tcpProxy({ statPrefix: 'idle', cluster: 'echo', extra: { idle_timeout: '0.3s' } }) });
  const c = await connect(px.port);
  const closed = collect(c);
  // Activity every 100 ms for 600 ms (twice the timeout) keeps it alive.
  for (let i = 0; i < 6; i++) {
    c.write('x');
    await readBytes(c, 1);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(value(px, 'tcp.idle.idle_timeout'), 0);
  c.resume();
  const started = performance.now();
  await closed;
  assert.ok(performance.now() - started >= 150, 'closed too early');
  assert.equal(value(px, 'tcp.idle.idle_timeout'), 1);
  await eventually(() => value(px, 'cluster.echo.upstream_cx_active') === 0, 'the upstream side to close');
});

test('tcp_proxy: listener drain lets an open connection run; close() ends it', async (t) => {
  const up = await tcpServer(t, echoSocket);
  const px = await proxyTo(t, { clusters: [cluster('echo', [up.port])], tcp: tcpProxy({ cluster: 'echo' }) });
  const c = await connect(px.port);
  px.server.drainListeners();
  c.write('still');
  assert.equal((await readBytes(c, 5)).toString(), 'still');
  const r = collect(c);
  await px.close();
  await r;
  assert.equal(up.sockets.size === 0 || [...up.sockets].every((s) => s.readableEnded || s.destroyed), true);
});

test('tcp_proxy: a reload sends new connections to the new cluster; an open one stays where it is', async (t) => {
  const named = (name: string) => (s: net.Socket) => { s.write(name); s.pipe(s); };
  const a = await tcpServer(t, named('a'));
  const b = await tcpServer(t, named('b'));
  const yamlFor = (target: string): string => bootstrap({
    listeners: [listener({ filter: tcpProxy({ statPrefix: 'rl', cluster: target }) })],
    clusters: [cluster('a', [a.port]), cluster('b', [b.port])],
  });
  const px = await startProxy(yamlFor('a'));
  t.after(() => px.close());
  const first = await connect(px.port);
  assert.equal((await readBytes(first, 1)).toString(), 'a');
  const next = parseBootstrapText(yamlFor('b'), 'reload.yaml', { baseDir: process.cwd() });
  assert.ok(next.ok);
  await px.server.applyConfig(next.value);
  const second = await connect(px.port);
  assert.equal((await readBytes(second, 1)).toString(), 'b');
  first.write('!');
  assert.equal((await readBytes(first, 1)).toString(), '!');
  for (const c of [first, second]) { const r = collect(c); c.end(); await r; }
});

test("tcp_proxy: the cluster's per_connection_buffer_limit_bytes bounds what waits for the upstream, whatever the listener's", async (t) => {
  // An upstream that never reads: the proxy takes from the client what the kernel buffers hold
  // plus what it queues for the upstream, which the cluster's limit bounds.
  const readFromClient = async (listenerLimit: number, clusterLimit: number, prefix: string): Promise<number> => {
    const up = await tcpServer(t, (s) => s.pause());
    const px = await proxyTo(t, {
      clusters: [cluster('sink', [up.port], { per_connection_buffer_limit_bytes: clusterLimit })],
      tcp: tcpProxy({ statPrefix: prefix, cluster: 'sink' }),
      bufferLimit: listenerLimit,
    });
    const c = await connect(px.port);
    t.after(() => c.destroy());
    c.on('error', () => {});
    const chunk = Buffer.alloc(64 * 1024);
    let stop = false;
    const pump = (): void => { while (!stop && c.write(chunk)); if (!stop) c.once('drain', pump); };
    pump();
    const n = await settled(() => value(px, `tcp.${prefix}.downstream_cx_rx_bytes_total`) ?? 0, 'the proxy to stop reading the client', 40);
    stop = true;
    assert.ok((value(px, `cluster.sink.upstream_flow_control_backed_up_total`) ?? 0) >= 1);
    return n;
  };
  const small = await readFromClient(64 * 1024, 64 * 1024, 'small');
  const bigListener = await readFromClient(32 * 1024 * 1024, 64 * 1024, 'big');
  // With the listener's 32 MiB applied to the upstream side, the proxy would read ~32 MiB more.
  assert.ok(bigListener - small < 8 * 1024 * 1024, `read ${bigListener} bytes with a 32 MiB listener limit vs ${small} with 64 KiB`);
});
