// Adversarial: HTTP/2 flow control as a weapon. (1) Several connections upload big bodies to an
// upstream that never reads: with the 64 KiB / 1 MiB windows and backpressure the proxy's RSS
// stays bounded (it was ~778 MB with 256 MiB windows). (2) A client with
// SETTINGS_INITIAL_WINDOW_SIZE 0 opens as many streams as it can to large responses and never
// reads: max_concurrent_streams (100) bounds what it can pin, a bystander on the same cluster
// keeps getting 200, and the stream idle timeout (which counts flow-control-blocked time as idle)
// releases the pinned upstream connections.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { startUpstream } from '../helpers/upstream.js';
import { bootstrap, cluster, hcm, listener, toCluster } from '../helpers/bootstrap.js';
import { bystander, h2Get, h2Request, H2_PREFACE, h2Settings, connect, startProxyChild, waitUntil } from '../helpers/adversarial.js';

test('uploads to an upstream that never reads: RSS stays bounded', async (t) => {
  // Accepts and never reads: the kernel buffers fill, then the proxy must stop reading the clients.
  const held = new Set<net.Socket>();
  const sink = net.createServer((s) => { s.pause(); held.add(s); s.on('error', () => { /* */ }); s.on('close', () => held.delete(s)); });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { for (const s of held) s.destroy(); sink.close(() => r()); }));
  const fast = await startUpstream();
  t.after(() => fast.close());
  const px = await startProxyChild(bootstrap({
    admin: true,
    listeners: [listener({ name: 'main', filter: hcm({ routes: [toCluster('/upload', 'sink'), toCluster('/', 'fast')] }) })],
    clusters: [cluster('sink', [(sink.address() as net.AddressInfo).port]), cluster('fast', [fast.port])],
  }), ['main']);
  t.after(() => px.close());
  const port = px.port('main');
  const by = bystander(port);
  let stopped = false;
  t.after(async () => { if (!stopped) await by.stop(); });
  await waitUntil(async () => (await px.stat('http.ingress.downstream_rq_2xx')) > 0, 10_000, 'the bystander served');
  const rss0 = px.rss();

  const CONNECTIONS = 4, STREAMS = 4, CHUNK = Buffer.alloc(1 << 20, 0x61);
  const sessions: http2.ClientHttp2Session[] = [];
  let written = 0;
  for (let c = 0; c < CONNECTIONS; c++) {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.on('error', () => { /* closed at the end */ });
    sessions.push(s);
    for (let k = 0; k < STREAMS; k++) {
      const rq = s.request({ ':method': 'POST', ':path': `/upload/${c}/${k}` });
      rq.on('error', () => { /* reset at the end */ });
      // Keep 64 MiB offered per stream; the client only queues what flow control lets out.
      const pump = () => { while (written < CONNECTIONS * STREAMS * 64 * 2 ** 20 && rq.write(CHUNK)) written += CHUNK.length; };
      rq.on('drain', pump);
      pump();
    }
  }
  t.after(() => { for (const s of sessions) s.destroy(); });
  await waitUntil(async () => (await px.stat('cluster.sink.upstream_rq_active')) === CONNECTIONS * STREAMS, 10_000, 'every upload upstream');
  // Let the uploads push for a while and watch the proxy's RSS.
  let peak = 0;
  const until = Date.now() + 4000;
  while (Date.now() < until) { peak = Math.max(peak, px.rss()); await new Promise((r) => setTimeout(r, 100)); }
  const received = await px.stat('http.ingress.downstream_cx_rx_bytes_total');
  assert.ok(peak - rss0 < 96 * 2 ** 20, `RSS grew by ${((peak - rss0) / 2 ** 20).toFixed(0)} MiB (received ${(received / 2 ** 20).toFixed(0)} MiB of request bodies)`);
  for (const s of sessions) s.destroy();
  await waitUntil(async () => (await px.stat('cluster.sink.upstream_rq_active')) === 0, 10_000, 'uploads released');
  stopped = true;
  const r = await by.stop();
  assert.equal(r.errors, 0);
  assert.ok(r.p50Ms < 200, `bystander p50 ${r.p50Ms.toFixed(1)} ms`);
});

test('a zero-window client opening its streams to large responses pins at most max_concurrent_streams upstreams; the stream idle timeout frees them', async (t) => {
  const big = Buffer.alloc(512 * 1024, 0x62);
  const up = await startUpstream((_req, res) => { res.writeHead(200, { 'content-length': String(big.length) }); res.end(big); });
  t.after(() => up.close());
  const px = await startProxyChild(bootstrap({
    admin: true,
    listeners: [listener({ name: 'main', filter: hcm({ routes: [toCluster('/', 'up')], extra: { stream_idle_timeout: '3s' } }) })],
    // A cluster small enough for the attack to exhaust it without the per-connection bound.
    clusters: [cluster('up', [up.port], { circuit_breakers: { thresholds: [{ max_connections: 150, max_pending_requests: 150, max_requests: 150 }] } })],
  }), ['main']);
  t.after(() => px.close());
  const port = px.port('main');
  const by = bystander(port, '/small');
  let stopped = false;
  t.after(async () => { if (!stopped) await by.stop(); });
  await waitUntil(async () => (await px.stat('http.ingress.downstream_rq_2xx')) > 0, 10_000, 'the bystander served');

  // Before even reading the proxy's SETTINGS: window 0, 300 streams at once.
  const s = await connect(port);
  s.on('error', () => { /* */ });
  s.pause(); // and it never reads
  s.write(Buffer.concat([H2_PREFACE, h2Settings([[4, 0]]), ...Array.from({ length: 300 }, (_, i) => h2Request(1 + 2 * i, h2Get(`/big/${i}`), true))]));
  await waitUntil(async () => (await px.stat('cluster.up.upstream_rq_total')) >= 100, 10_000, 'the attacker\'s streams upstream');
  // Give the proxy time to take everything it will take.
  await new Promise((r) => setTimeout(r, 1000));
  const active = await px.stat('cluster.up.upstream_rq_active');
  assert.ok(active <= 101, `at most max_concurrent_streams upstream requests held (+ the bystander's): ${active}`);
  const mid = await by.stop();
  assert.equal(mid.errors, 0, `the bystander on the same cluster kept getting 200: ${JSON.stringify(mid)}`);
  const by2 = bystander(port, '/small');
  let stopped2 = false;
  t.after(async () => { if (!stopped2) await by2.stop(); });
  // The stream idle timeout (3 s) resets the blocked streams and releases their upstreams.
  try {
    await waitUntil(async () => (await px.stat('cluster.up.upstream_rq_active')) <= 1, 20_000, 'blocked streams released');
  } finally { s.destroy(); }
  s.destroy();
  const idle = await px.stat('http.ingress.downstream_rq_idle_timeout'), flush = await px.stat('http2.tx_flush_timeout');
  assert.ok(idle + flush >= 90, `stream idle timeouts counted: ${idle} + ${flush} (tx_reset ${await px.stat('http.ingress.downstream_rq_tx_reset')}, rx_reset ${await px.stat('http.ingress.downstream_rq_rx_reset')}, 2xx ${await px.stat('http.ingress.downstream_rq_2xx')}, cx_destroy ${await px.stat('http.ingress.downstream_cx_destroy')}, proto ${await px.stat('http.ingress.downstream_cx_protocol_error')}, ocf ${await px.stat('http2.outbound_control_flood')}, iem ${await px.stat('http2.inbound_empty_frames_flood')})\n${px.proc.output().slice(-2000)}`);
  stopped2 = true;
  const r = await by2.stop();
  assert.equal(r.errors, 0, `bystander errors after the attack: ${JSON.stringify(r)}; 5xx ${await px.stat('http.ingress.downstream_rq_5xx')}`);
  assert.ok(r.p50Ms < 200, `bystander p50 ${r.p50Ms.toFixed(1)} ms`);
});
