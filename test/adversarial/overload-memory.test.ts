// A memory-eating attack against a proxy with an overload manager: hundreds of uploads to an
// upstream that accepts them and never reads, so the proxy holds each connection's buffer. The
// fixed_heap monitor sees the memory climb, disable_http_keepalive then stop_accepting_requests
// trigger, new requests get 503 "envoy overloaded" (the attack stops growing), the process stays
// up with its RSS bounded (without the manager the 200 uploads would make it hold 1.6 GB), and
// once the attackers go it serves again: the uploads answered early are closed (the HTTP/1.1
// codec used to leave a connection whose reading flow control had paused open, buffers and all).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { bootstrap, cluster, direct, hcm, listener, request, toCluster } from '../helpers/bootstrap.js';
import { startProxyChild, waitUntil } from '../helpers/adversarial.js';

const MiB = 1024 * 1024;
const MAX_HEAP = 128 * MiB;
const HEAP = 'envoy.resource_monitors.fixed_heap';

test('a memory-eating upload attack: the overload manager sheds requests, the proxy stays up and recovers', { timeout: 180_000 }, async (t) => {
  // The upstream accepts every connection and never reads or answers.
  const held: net.Socket[] = [];
  const sink = net.createServer((s) => { held.push(s); s.on('error', () => {}); s.pause(); });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const sinkPort = (sink.address() as net.AddressInfo).port;
  const yaml = bootstrap({
    admin: true,
    // Each upload may hold up to 8 MiB in the proxy (kept for a retry while the upstream does not read).
    listeners: [{ ...listener({ name: 'main', filter: hcm({ routes: [direct({ prefix: '/ok' }, 'ok'), toCluster('/', 'sink', { timeout: '120s' })] }) }), per_connection_buffer_limit_bytes: 8 * MiB }],
    clusters: [cluster('sink', [sinkPort], { circuit_breakers: { thresholds: [{ max_connections: 100000, max_pending_requests: 100000, max_requests: 100000 }] } })],
  }) + `overload_manager:
  refresh_interval: 0.1s
  resource_monitors:
    - name: ${HEAP}
      typed_config: { "@type": type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig, max_heap_size_bytes: ${MAX_HEAP} }
  actions:
    - name: envoy.overload_actions.disable_http_keepalive
      triggers: [{ name: ${HEAP}, threshold: { value: 0.7 } }]
    - name: envoy.overload_actions.stop_accepting_requests
      triggers: [{ name: ${HEAP}, threshold: { value: 0.85 } }]
`;
  const px = await startProxyChild(yaml, ['main']);
  const attackers: net.Socket[] = [];
  t.after(async () => {
    for (const s of attackers) s.destroy();
    for (const s of held) s.destroy();
    await px.close();
    await new Promise<void>((r) => sink.close(() => r()));
  });
  const port = px.port('main');
  const baseline = px.rss();
  let peak = baseline;
  const sampler = setInterval(() => { try { peak = Math.max(peak, px.rss()); } catch { /* exited */ } }, 50);
  t.after(() => clearInterval(sampler));

  // A stat read that gives up after a while instead of hanging on a struggling proxy.
  const stat = async (name: string): Promise<number> => {
    const res = await fetch(`http://127.0.0.1:${px.adminPort}/stats?format=json`, { signal: AbortSignal.timeout(5000) }).catch(() => null);
    if (res === null) return -1;
    const j = await res.json() as { stats: Array<{ name: string; value?: number }> };
    return j.stats.find((x) => x.name === name)?.value ?? 0;
  };

  // 200 uploads of 16 MiB each, in waves (one shared buffer: the attacker itself holds no copies),
  // written as fast as the proxy takes them.
  const body = Buffer.alloc(16 * MiB, 0x61);
  let refused = 0;
  for (let i = 0; i < 200; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.on('data', (d: Buffer) => { if (d.toString('latin1').startsWith('HTTP/1.1 503')) refused++; });
    s.write(`POST /upload/${i} HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n`);
    s.write(body);
    attackers.push(s);
    if (i % 10 === 9) await new Promise((r) => setTimeout(r, 100));
  }
  await waitUntil(async () => (await stat('overload.envoy.overload_actions.stop_accepting_requests.active')) === 1, 60_000, 'stop_accepting_requests to trigger');
  let shed = { status: 0, body: '' };
  await waitUntil(async () => { shed = await request(port, '/ok'); return shed.status === 503; }, 30_000, 'a request to be refused');
  assert.equal(shed.body, 'envoy overloaded');
  await waitUntil(() => refused > 0, 30_000, 'attack requests to be refused');
  assert.ok(await stat('http.ingress.downstream_rq_overload_close') > 0);
  assert.equal(px.proc.child.exitCode, null, 'the proxy is still running');

  // The attackers go: memory is released and the proxy serves again.
  for (const s of attackers) s.destroy();
  for (const s of held) s.destroy();
  await waitUntil(async () => (await request(port, '/ok').catch(() => ({ status: 0 }))).status === 200, 90_000, 'the proxy to serve again');
  clearInterval(sampler);
  t.diagnostic(`RSS baseline ${(baseline / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB; ${refused} attack requests refused`);
  assert.ok(peak - baseline < 640 * MiB, `RSS grew by ${((peak - baseline) / MiB).toFixed(0)} MiB`);
  assert.equal(await stat('overload.envoy.overload_actions.stop_accepting_requests.active'), 0);
});
