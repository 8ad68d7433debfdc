// envoy.overload_actions.reduce_timeouts (ScaleTimersOverloadActionConfig): under pressure the
// downstream HTTP idle timeout (HTTP_DOWNSTREAM_CONNECTION_IDLE) and stream idle timeout
// (HTTP_DOWNSTREAM_STREAM_IDLE) shrink towards their minimum, also for timers already armed; the
// scaling arithmetic of Envoy's docs; and the decoder's errors for timers Weft does not scale.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { startProxy } from '../../helpers/proxy.js';
import { bootstrap, cluster, direct, hcm, listener, toCluster } from '../../helpers/bootstrap.js';
import { waitUntil } from '../../helpers/adversarial.js';
import { ScaledTimers } from '../../../src/proxy/overload/scaled-timers.js';
import { parseBootstrapText } from '../../../src/envoy/text.js';

const HEAP = 'envoy.resource_monitors.fixed_heap';
const MAX_HEAP = 1_000_000_000;
const SCALE_TIMERS_TYPE = 'type.googleapis.com/envoy.config.overload.v3.ScaleTimersOverloadActionConfig';

test('scaled timers: min + (max - min) * (1 - state), min_timeout capped at the timer, min_scale a share of it', () => {
  const s = new ScaledTimers();
  s.configure([
    { timer: 'HTTP_DOWNSTREAM_CONNECTION_IDLE', min: { kind: 'timeout', ms: 2000 } },
    { timer: 'HTTP_DOWNSTREAM_STREAM_IDLE', min: { kind: 'scale', percent: 10 } },
  ]);
  assert.equal(s.connectionIdleMs(600_000), 600_000);
  s.setState(0.7); // Envoy's docs: 2s + (600s - 2s) * 0.3 = 181.4 s
  assert.ok(Math.abs(s.connectionIdleMs(600_000) - 181_400) < 1e-6);
  assert.ok(Math.abs(s.streamIdleMs(600_000) - (60_000 + 540_000 * 0.3)) < 1e-6);
  s.setState(1);
  assert.equal(s.connectionIdleMs(600_000), 2000);
  assert.equal(s.connectionIdleMs(1000), 1000, 'a minimum above the timer is the timer');
  assert.equal(s.streamIdleMs(600_000), 60_000);
  assert.equal(s.connectionIdleMs(0), 0, 'no timeout stays none');
  s.configure(null);
  assert.equal(s.connectionIdleMs(600_000), 600_000);
});

test('reduce_timeouts: idle connections and idle streams time out at the minimum under pressure, timers already armed included', async (t) => {
  const used = { bytes: MAX_HEAP * 0.1 };
  t.mock.method(process, 'memoryUsage', () => ({ rss: 0, heapTotal: 0, heapUsed: used.bytes, external: 0, arrayBuffers: 0 }));
  // An upstream that takes requests and never answers.
  const held: net.Socket[] = [];
  const sink = net.createServer((s) => { held.push(s); s.on('error', () => {}); });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  t.after(() => { for (const s of held) s.destroy(); return new Promise<void>((r) => sink.close(() => r())); });
  const px = await startProxy(bootstrap({
    listeners: [listener({ filter: hcm({
      routes: [direct({ prefix: '/ok' }, 'ok'), toCluster('/', 'sink', { timeout: '0s' })],
      extra: { common_http_protocol_options: { idle_timeout: '60s' }, stream_idle_timeout: '60s' },
    }) })],
    clusters: [cluster('sink', [(sink.address() as net.AddressInfo).port])],
  }) + `overload_manager:
  refresh_interval: 0.02s
  resource_monitors:
    - name: ${HEAP}
      typed_config: { "@type": type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig, max_heap_size_bytes: ${MAX_HEAP} }
  actions:
    - name: envoy.overload_actions.reduce_timeouts
      triggers: [{ name: ${HEAP}, scaled: { scaling_threshold: 0.8, saturation_threshold: 0.9 } }]
      typed_config:
        "@type": ${SCALE_TIMERS_TYPE}
        timer_scale_factors:
          - { timer: HTTP_DOWNSTREAM_CONNECTION_IDLE, min_timeout: 0.2s }
          - { timer: HTTP_DOWNSTREAM_STREAM_IDLE, min_scale: { value: 0.5 } }
`);
  t.after(() => px.close());
  const stat = (n: string) => px.server.stats.value(n) ?? 0;

  // An idle keep-alive connection (its 60 s timer armed) and a request waiting on the upstream.
  const idle = net.connect(px.port, '127.0.0.1');
  t.after(() => idle.destroy());
  idle.on('error', () => {});
  const idleClosed = new Promise<void>((r) => idle.once('close', () => r()));
  await new Promise<void>((r) => { idle.once('data', () => r()); idle.write('GET /ok HTTP/1.1\r\nHost: a\r\n\r\n'); });
  const waiting = net.connect(px.port, '127.0.0.1');
  t.after(() => waiting.destroy());
  waiting.on('error', () => {});
  let answer = '';
  waiting.on('data', (d: Buffer) => { answer += d.toString('latin1'); });
  waiting.write('GET /slow HTTP/1.1\r\nHost: a\r\n\r\n');
  await waitUntil(() => held.length === 1, 5000, 'the request to reach the upstream');
  // The same over HTTP/2 (Weft's own codec): an idle h2c connection, and a stream waiting on the upstream.
  const h2idle = http2.connect(`http://127.0.0.1:${px.port}`);
  t.after(() => h2idle.destroy());
  h2idle.on('error', () => {});
  const h2idleClosed = new Promise<void>((r) => h2idle.once('close', () => r()));
  await new Promise<void>((resolve, reject) => {
    const rq = h2idle.request({ ':path': '/ok' });
    rq.on('response', () => { rq.resume(); rq.on('end', resolve); });
    rq.on('error', reject);
    rq.end();
  });
  const h2wait = http2.connect(`http://127.0.0.1:${px.port}`);
  t.after(() => h2wait.destroy());
  h2wait.on('error', () => {});
  const h2status = new Promise<number>((resolve, reject) => {
    const rq = h2wait.request({ ':path': '/slow-h2' });
    rq.on('response', (h) => { rq.resume(); resolve(Number(h[':status'])); });
    rq.on('error', reject);
    rq.end();
  });
  await waitUntil(() => held.length === 2, 5000, 'the HTTP/2 request to reach the upstream');

  const before = performance.now();
  used.bytes = MAX_HEAP * 0.95; // saturated: 0.2 s idle, 0.3 s stream idle (0.5% of 60 s)
  await idleClosed;
  await waitUntil(() => answer.includes('stream timeout'), 5000, 'the stream idle timeout');
  assert.equal(await h2status, 504);
  await h2idleClosed;
  const took = performance.now() - before;
  assert.ok(took < 5000, `timed out after ${took.toFixed(0)} ms, not after 60 s`);
  assert.match(answer, /^HTTP\/1\.1 504/);
  // Both idle connections (and possibly the HTTP/2 one whose stream just ended, idle since).
  assert.ok(stat('http.ingress.downstream_cx_idle_timeout') >= 2);
  assert.equal(stat('http.ingress.downstream_rq_idle_timeout'), 2);
  assert.equal(stat('overload.envoy.overload_actions.reduce_timeouts.active'), 1);
});

function decode(overload: string): string {
  const yaml = `static_resources: { listeners: [], clusters: [] }\noverload_manager:\n  resource_monitors:\n    - name: ${HEAP}\n      typed_config: { "@type": type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig, max_heap_size_bytes: 1000 }\n${overload}`;
  const r = parseBootstrapText(yaml, 'o.yaml', { baseDir: process.cwd() });
  return r.ok ? '' : r.errors.join('\n');
}

test('reduce_timeouts decoding: typed_config required, timers Weft does not have are errors naming the field', () => {
  const action = (typed: string) => `  actions:\n    - name: envoy.overload_actions.reduce_timeouts\n      triggers: [{ name: ${HEAP}, threshold: { value: 0.9 } }]\n${typed}`;
  assert.equal(decode(action(`      typed_config: { "@type": ${SCALE_TIMERS_TYPE}, timer_scale_factors: [{ timer: HTTP_DOWNSTREAM_STREAM_IDLE, min_timeout: 1s }] }\n`)), '');
  assert.match(decode(action('')), /overload_manager\.actions\[0\]\.typed_config: expected a envoy\.config\.overload\.v3\.ScaleTimersOverloadActionConfig typed_config, got nothing/);
  assert.match(decode(action(`      typed_config: { "@type": ${SCALE_TIMERS_TYPE}, timer_scale_factors: [{ timer: TRANSPORT_SOCKET_CONNECT, min_timeout: 1s }] }\n`)),
    /actions\[0\]\.typed_config\.timer_scale_factors\[0\]\.timer: not supported: Weft has no transport_socket_connect_timeout/);
  assert.match(decode(action(`      typed_config: { "@type": ${SCALE_TIMERS_TYPE}, timer_scale_factors: [{ timer: HTTP_DOWNSTREAM_CONNECTION_IDLE }] }\n`)),
    /timer_scale_factors\[0\]: expected exactly one of min_timeout, min_scale/);
  assert.match(decode(action(`      typed_config: { "@type": type.googleapis.com/envoy.config.overload.v3.ShrinkHeapConfig }\n`)),
    /actions\[0\]\.typed_config\["@type"\]: expected "type\.googleapis\.com\/envoy\.config\.overload\.v3\.ScaleTimersOverloadActionConfig"/);
  assert.match(decode(`  buffer_factory_config: { minimum_account_to_track_power_of_two: 5 }\n`),
    /overload_manager\.buffer_factory_config\.minimum_account_to_track_power_of_two: expected an integer in 10\.\.56/);
});
