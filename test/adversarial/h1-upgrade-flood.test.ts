// Adversarial: HTTP/1.1 connections that make the proxy hold bytes it has not parsed. After a
// CONNECT (which the HTTP/1.1 connection manager refuses), after an upgrade the upstream does not
// accept, and behind a request whose response is pending (pipelining), a client streams hundreds
// of MiB as fast as it can. The proxy must close the connection (a refused upgrade or CONNECT, as
// Envoy does) or stop reading at per_connection_buffer_limit_bytes; its RSS stays bounded, a
// bystander keeps being served, and with --concurrency 2 no worker dies.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { startUpstream, startRawServer } from '../helpers/upstream.js';
import { bootstrap, cluster, hcm, listener, toCluster } from '../helpers/bootstrap.js';
import {
  bystander, childPids, connect, flood, rssOf, settle, startProxyChild, waitUntil, type Flood, type ProxyChild,
} from '../helpers/adversarial.js';

type T = { after(fn: () => unknown): void };
const MiB = 1024 * 1024;
/** per_connection_buffer_limit_bytes of the listener. */
const LIMIT = MiB;
/** What one attacking connection tries to send. */
const ATTACK = 300 * MiB;
/** RSS growth the proxy is allowed (and the point where an attack is stopped, so an unfixed proxy fails without eating the machine). */
const RSS_BOUND = 64 * MiB;
const RSS_CAP = 256 * MiB;

/** Upstreams: `up` answers everything at once (the bystander); `hold` keeps each request until the test answers it. */
async function upstreams(t: T) {
  const up = await startUpstream((_req, res) => { res.writeHead(200, { 'content-length': '2' }); res.end('ok'); });
  t.after(() => up.close());
  const held: net.Socket[] = [];
  const hold = await startRawServer((s) => {
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) { s.off('data', onData); held.push(s); }
    };
    s.on('data', onData);
  });
  t.after(() => hold.close());
  return { up, hold, held };
}

function config(upPort: number, holdPort: number): string {
  const l = listener({
    name: 'main',
    filter: hcm({ routes: [toCluster('/hold', 'hold'), toCluster('/', 'up')], extra: { upgrade_configs: [{ upgrade_type: 'websocket' }] } }),
  });
  l.per_connection_buffer_limit_bytes = LIMIT;
  return bootstrap({ admin: true, listeners: [l], clusters: [cluster('up', [upPort]), cluster('hold', [holdPort])] });
}

/** Stops the flood if the proxy's memory runs away (an unfixed proxy), so the test fails on its bound instead of the machine. */
function watchdog(rss: () => number, base: number, floods: Flood[]): () => void {
  const timer = setInterval(() => { if (rss() - base > RSS_CAP) for (const f of floods) f.stop(); }, 50);
  return () => clearInterval(timer);
}

/** Everything a connection receives, and whether it has closed. */
function collect(sock: net.Socket): { text(): string; closed(): boolean } {
  let got = '', closed = false;
  sock.on('data', (d: Buffer) => { got += d.toString('latin1'); });
  sock.once('close', () => { closed = true; });
  return { text: () => got, closed: () => closed };
}

/** Waits (bounded) until every connection in `rs` has been closed. */
const allClosed = (rs: Array<{ closed(): boolean }>, what: string) => waitUntil(() => rs.every((r) => r.closed()), 30_000, what);

async function baseline(px: ProxyChild, port: number): Promise<{ rss: number; fds: number }> {
  // Warm up the paths the bystander takes, so lazily compiled code is not counted as growth.
  for (let i = 0; i < 50; i++) await (await fetch(`http://127.0.0.1:${port}/`)).arrayBuffer();
  return { rss: px.rss(), fds: px.fds() };
}

test('CONNECT followed by a flood: 400, the connection closes, nothing is kept', { timeout: 120_000 }, async (t) => {
  const { up, hold } = await upstreams(t);
  const px = await startProxyChild(config(up.port, hold.port), ['main']);
  t.after(() => px.close());
  const port = px.port('main');
  const base = await baseline(px, port);
  const by = bystander(port);
  const floods: Flood[] = [];
  const replies: Array<ReturnType<typeof collect>> = [];
  for (let i = 0; i < 3; i++) {
    const s = await connect(port);
    t.after(() => s.destroy());
    replies.push(collect(s));
    s.write(`CONNECT victim${i}.example:443 HTTP/1.1\r\nHost: victim${i}.example:443\r\n\r\n`);
    floods.push(flood(s, ATTACK));
  }
  const stopWatch = watchdog(() => px.rss(), base.rss, floods);
  let peak = base.rss;
  const sampler = setInterval(() => { peak = Math.max(peak, px.rss()); }, 50);
  // The proxy ends each connection (after Envoy's delayed close) while the attacker still sends.
  await allClosed(replies, 'the proxy to close the CONNECT connections');
  const sent = await Promise.all(floods.map((f) => f.done));
  clearInterval(sampler);
  stopWatch();
  const report = await by.stop();
  t.diagnostic(`attack bytes accepted by the kernel: ${sent.map((n) => (n / MiB).toFixed(1)).join(', ')} MiB; proxy RSS peak +${((peak - base.rss) / MiB).toFixed(1)} MiB; bystander p50 ${report.p50Ms.toFixed(1)} ms, p99 ${report.p99Ms.toFixed(1)} ms, ${report.ok} ok`);
  for (const r of replies) assert.match(r.text(), /^HTTP\/1\.1 400 [^]*\r\nconnection: close\r\n/i);
  for (const n of sent) assert.ok(n < ATTACK, 'the proxy closed the connection before the attack was over');
  assert.equal(await px.stat('http.ingress.downstream_rq_4xx'), 3);
  assert.ok(peak - base.rss < RSS_BOUND, `proxy RSS grew by ${((peak - base.rss) / MiB).toFixed(1)} MiB`);
  assert.equal(report.errors, 0);
  assert.ok(report.ok > 0);
  assert.ok(report.p50Ms < 200, `bystander p50 ${report.p50Ms} ms`);
  await waitUntil(() => px.fds() <= base.fds + 10, 10_000, 'open fds back near the baseline');
});

test('an upgrade the upstream has not answered, and pipelined bytes behind a pending response, stop being read at the buffer limit', { timeout: 120_000 }, async (t) => {
  const { up, hold, held } = await upstreams(t);
  const px = await startProxyChild(config(up.port, hold.port), ['main']);
  t.after(() => px.close());
  const port = px.port('main');
  const base = await baseline(px, port);
  const by = bystander(port);
  const heads = [
    // The upstream will refuse this upgrade (a 200, not a 101), but only once the test lets it.
    'GET /hold/ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    // A plain request whose response is pending, then (pipelined) as much as the client can send.
    'GET /hold/slow HTTP/1.1\r\nHost: a\r\n\r\n',
  ];
  const socks: net.Socket[] = [];
  const floods: Flood[] = [];
  const replies: Array<ReturnType<typeof collect>> = [];
  for (const h of heads) {
    const s = await connect(port);
    t.after(() => s.destroy());
    socks.push(s);
    replies.push(collect(s));
    s.write(h);
    floods.push(flood(s, ATTACK));
  }
  const stopWatch = watchdog(() => px.rss(), base.rss, floods);
  let peak = base.rss;
  const sampler = setInterval(() => { peak = Math.max(peak, px.rss()); }, 50);
  await waitUntil(() => held.length === 2, 10_000, 'both requests upstream');
  // The proxy stops reading: each flood stalls once the kernel buffers are full.
  const stalled = await Promise.all(floods.map((f) => settle(() => f.sent(), 1000, 60_000, 'the flood')));
  t.diagnostic(`floods stalled after ${stalled.map((n) => (n / MiB).toFixed(1)).join(', ')} MiB; proxy RSS +${((px.rss() - base.rss) / MiB).toFixed(1)} MiB`);
  for (const n of stalled) assert.ok(n < 64 * MiB, `the client could send ${(n / MiB).toFixed(1)} MiB`);
  // Answer both: the refused upgrade ends its connection; the pipelined junk is then a 400.
  for (const s of held) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno');
  await allClosed(replies, 'both connections to close');
  for (const f of floods) f.stop();
  clearInterval(sampler);
  stopWatch();
  const report = await by.stop();
  assert.match(replies[0]!.text(), /^HTTP\/1\.1 200 [^]*\r\nconnection: close\r\n\r\nno$/i);
  assert.match(replies[1]!.text(), /^HTTP\/1\.1 200 [^]*\r\n\r\nnoHTTP\/1\.1 4\d\d /i);
  assert.ok(peak - base.rss < RSS_BOUND, `proxy RSS grew by ${((peak - base.rss) / MiB).toFixed(1)} MiB`);
  assert.equal(report.errors, 0);
  assert.ok(report.p50Ms < 200, `bystander p50 ${report.p50Ms} ms`);
  await waitUntil(() => px.fds() <= base.fds + 10, 10_000, 'open fds back near the baseline');
});

test('--concurrency 2: CONNECT and refused-upgrade floods on five connections kill no worker', { timeout: 180_000 }, async (t) => {
  const { up, hold, held } = await upstreams(t);
  const px = await startProxyChild(config(up.port, hold.port), ['main'], ['--concurrency', '2']);
  t.after(() => px.close());
  const port = px.port('main');
  await waitUntil(() => childPids(px.pid).length === 2, 10_000, 'two workers');
  const workers = childPids(px.pid).sort();
  const treeRss = () => rssOf(px.pid) + workers.reduce((a, p) => a + rssOf(p), 0);
  for (let i = 0; i < 50; i++) await (await fetch(`http://127.0.0.1:${port}/`)).arrayBuffer();
  const base = treeRss();
  const by = bystander(port);
  const floods: Flood[] = [];
  const replies: Array<ReturnType<typeof collect>> = [];
  for (let i = 0; i < 5; i++) {
    const s = await connect(port);
    t.after(() => s.destroy());
    replies.push(collect(s));
    s.write(i % 2 === 0 ? `CONNECT v${i}.example:443 HTTP/1.1\r\nHost: v${i}.example:443\r\n\r\n`
      : `GET /hold/${i} HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`);
    floods.push(flood(s, ATTACK));
  }
  const stopWatch = watchdog(treeRss, base, floods);
  let peak = base;
  const sampler = setInterval(() => { peak = Math.max(peak, treeRss()); }, 50);
  // The CONNECTs are closed by the proxy; the upgrades wait for their upstream and stop being read.
  await allClosed([0, 2, 4].map((i) => replies[i]!), 'the proxy to close the CONNECT connections');
  await waitUntil(() => held.length === 2, 10_000, 'both upgrade requests upstream');
  await Promise.all([1, 3].map((i) => settle(() => floods[i]!.sent(), 1000, 60_000, 'the flood')));
  for (const s of held) s.write('HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n');
  await allClosed([1, 3].map((i) => replies[i]!), 'the refused upgrades to close');
  for (const f of floods) f.stop();
  clearInterval(sampler);
  stopWatch();
  const report = await by.stop();
  t.diagnostic(`process tree RSS peak +${((peak - base) / MiB).toFixed(1)} MiB; bystander p50 ${report.p50Ms.toFixed(1)} ms, ${report.ok} ok`);
  assert.deepEqual(childPids(px.pid).sort(), workers, 'the same two workers are still running');
  assert.doesNotMatch(px.proc.output(), /exited unexpectedly|giving up/);
  assert.ok(peak - base < 2 * RSS_BOUND, `process tree RSS grew by ${((peak - base) / MiB).toFixed(1)} MiB`);
  assert.equal(report.errors, 0);
  assert.ok(report.p50Ms < 200, `bystander p50 ${report.p50Ms} ms`);
  assert.match(replies[1]!.text(), /^HTTP\/1\.1 426 [^]*\r\nconnection: close\r\n/i);
});
