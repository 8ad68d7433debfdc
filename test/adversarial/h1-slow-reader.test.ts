// Adversarial: HTTP/1.1 clients (and upstreams) that stop reading while the other side sends as
// fast as it can. The proxy must pass the backpressure on instead of buffering: a client that
// stops reading a 1 GiB download stops the upstream; in a tunnel after a 101, a stopped reader on
// either side stops the writer on the other. Proof: the writer stalls after a bounded number of
// bytes (the proxy's counters say the same), the proxy's RSS stays bounded, a bystander is served.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { startUpstream } from '../helpers/upstream.js';
import { bootstrap, cluster, hcm, listener, toCluster } from '../helpers/bootstrap.js';
import { bystander, connect, flood, settle, startProxyChild, waitUntil, type Flood } from '../helpers/adversarial.js';

type T = { after(fn: () => unknown): void };
const MiB = 1024 * 1024;
const HUGE = 1024 * MiB;
/** How far a writer may get ahead of a reader that stopped: the proxy's buffers plus four kernel socket buffers. */
const AHEAD_BOUND = 64 * MiB;
const RSS_BOUND = 64 * MiB;

/**
 * The upstream: GET /big sends HUGE bytes (with Content-Length) as fast as its socket takes them;
 * an upgrade to `flood` answers 101 and floods the tunnel; an upgrade to `sink` answers 101 and
 * never reads. Everything else: 200 ok.
 */
async function upstream(t: T) {
  const state = { bigSent: 0, tunnelSent: 0, sinkSocket: null as net.Socket | null };
  const up = await startUpstream((req, res) => {
    if (req.url !== '/big') { res.writeHead(200, { 'content-length': '2' }); res.end('ok'); return; }
    res.writeHead(200, { 'content-length': String(HUGE) });
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    const pump = (): void => {
      while (state.bigSent < HUGE) {
        state.bigSent += chunk.length;
        if (!res.write(chunk)) { res.once('drain', pump); return; }
      }
      res.end();
    };
    res.on('close', () => { state.bigSent = Math.min(state.bigSent, HUGE); });
    pump();
  });
  t.after(() => up.close());
  up.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    socket.on('error', () => { /* the test ends it */ });
    const kind = req.headers.upgrade;
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${kind}\r\nConnection: Upgrade\r\n\r\n`);
    if (kind === 'flood') {
      const f = flood(socket, HUGE);
      const timer = setInterval(() => { state.tunnelSent = f.sent(); }, 20);
      socket.once('close', () => clearInterval(timer));
    } else {
      socket.pause(); // never reads
      state.sinkSocket = socket;
    }
  });
  return { up, state };
}

function config(upPort: number): string {
  return bootstrap({
    admin: true,
    listeners: [listener({
      name: 'main',
      filter: hcm({
        routes: [toCluster('/', 'up', { timeout: '0s' })],
        extra: { upgrade_configs: [{ upgrade_type: 'flood' }, { upgrade_type: 'sink' }] },
      }),
    })],
    clusters: [cluster('up', [upPort])],
  });
}

/** Sends `head` and resolves with the socket once the response head has arrived; the socket is then paused (a reader that stopped). */
async function stoppedReader(t: T, port: number, head: string): Promise<{ sock: net.Socket; head: string }> {
  const sock = await connect(port);
  t.after(() => sock.destroy());
  sock.on('error', () => { /* closed by the test */ });
  let got = '';
  await new Promise<void>((resolve) => {
    const onData = (d: Buffer): void => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) { sock.off('data', onData); sock.pause(); resolve(); }
    };
    sock.on('data', onData);
    sock.write(head);
  });
  return { sock, head: got.slice(0, got.indexOf('\r\n\r\n')) };
}

test('slow readers: a stopped download stops the upstream, and a stopped reader on either side of a tunnel stops the writer', { timeout: 180_000 }, async (t) => {
  const { up, state } = await upstream(t);
  const px = await startProxyChild(config(up.port), ['main']);
  t.after(() => px.close());
  const port = px.port('main');
  for (let i = 0; i < 50; i++) await (await fetch(`http://127.0.0.1:${port}/`)).arrayBuffer();
  const base = px.rss();
  let peak = base;
  const sampler = setInterval(() => { peak = Math.max(peak, px.rss()); }, 50);
  t.after(() => clearInterval(sampler));
  const by = bystander(port);

  // 1. A download of 1 GiB whose client reads the head and then nothing.
  const dl = await stoppedReader(t, port, 'GET /big HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.match(dl.head, /^HTTP\/1\.1 200 /);
  const bigAhead = await settle(() => state.bigSent, 1000, 60_000, 'the upstream writer');
  const rxUp = await px.stat('cluster.up.upstream_cx_rx_bytes_total');

  // 2. A tunnel whose upstream floods and whose client does not read.
  const tunnel = await stoppedReader(t, port, 'GET /t HTTP/1.1\r\nHost: a\r\nUpgrade: flood\r\nConnection: Upgrade\r\n\r\n');
  assert.match(tunnel.head, /^HTTP\/1\.1 101 /);
  const tunnelAhead = await settle(() => state.tunnelSent, 1000, 60_000, 'the upstream flooding the tunnel');

  // 3. A tunnel whose client floods and whose upstream does not read.
  const sink = await stoppedReader(t, port, 'GET /s HTTP/1.1\r\nHost: a\r\nUpgrade: sink\r\nConnection: Upgrade\r\n\r\n');
  assert.match(sink.head, /^HTTP\/1\.1 101 /);
  const f: Flood = flood(sink.sock, HUGE);
  const clientAhead = await settle(() => f.sent(), 1000, 60_000, 'the client flooding the tunnel');
  f.stop();

  const report = await by.stop();
  clearInterval(sampler);
  t.diagnostic(`writers stalled after: download ${(bigAhead / MiB).toFixed(1)} MiB (proxy read ${(rxUp / MiB).toFixed(1)} MiB from upstream), ` +
    `tunnel down ${(tunnelAhead / MiB).toFixed(1)} MiB, tunnel up ${(clientAhead / MiB).toFixed(1)} MiB; ` +
    `proxy RSS peak +${((peak - base) / MiB).toFixed(1)} MiB; bystander p50 ${report.p50Ms.toFixed(1)} ms, ${report.ok} ok`);
  assert.ok(bigAhead < AHEAD_BOUND, `the upstream sent ${(bigAhead / MiB).toFixed(1)} MiB to a stopped reader`);
  assert.ok(rxUp < AHEAD_BOUND, `the proxy read ${(rxUp / MiB).toFixed(1)} MiB from the upstream`);
  assert.ok(tunnelAhead < AHEAD_BOUND, `the upstream sent ${(tunnelAhead / MiB).toFixed(1)} MiB into the tunnel`);
  assert.ok(clientAhead < AHEAD_BOUND, `the client sent ${(clientAhead / MiB).toFixed(1)} MiB into the tunnel`);
  assert.ok(peak - base < RSS_BOUND, `proxy RSS grew by ${((peak - base) / MiB).toFixed(1)} MiB`);
  assert.equal(report.errors, 0);
  assert.ok(report.p50Ms < 200, `bystander p50 ${report.p50Ms} ms`);

  // Closing the stopped readers frees everything.
  const fds = px.fds();
  for (const s of [dl.sock, tunnel.sock, sink.sock]) s.destroy();
  state.sinkSocket?.destroy();
  await waitUntil(async () => (await px.stat('http.ingress.downstream_cx_upgrades_active')) === 0, 10_000, 'the tunnels to close');
  await waitUntil(() => px.fds() <= fds - 3, 10_000, 'the proxy to close the sockets');
});
