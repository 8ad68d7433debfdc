// envoy.overload_actions.reset_high_memory_stream end to end on an in-process proxy: uploads the
// proxy keeps in memory (the request body held for a retry while the upstream has not answered)
// are tracked by buffer_factory_config.minimum_account_to_track_power_of_two, and when the action
// fires (fixed_heap fed through a mocked process.memoryUsage) the streams in the top memory
// classes are reset, the biggest first, as the pressure rises: counted in
// envoy.overload_actions.reset_high_memory_stream.count and downstream_rq_rx_reset, logged with
// flag OL; a small upload beside them completes. Also the memory classes themselves.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProxy } from '../../helpers/proxy.js';
import { bootstrap, cluster, hcm, listener, toCluster, FILE_LOG_TYPE, waitForLines } from '../../helpers/bootstrap.js';
import { waitUntil } from '../../helpers/adversarial.js';
import { BufferAccounts } from '../../../src/proxy/overload/accounts.js';

const HEAP = 'envoy.resource_monitors.fixed_heap';
const MAX_HEAP = 1_000_000_000;
const MiB = 1024 * 1024;

test('memory classes: [2^N, 2^(N+1)) is class 0, >= 2^(N+7) class 7; the top floor(s*8)+1 classes are reset, biggest first, at most 50', () => {
  const a = new BufferAccounts();
  a.configure(20);
  assert.equal(a.classOf(MiB - 1), -1);
  assert.equal(a.classOf(MiB), 0);
  assert.equal(a.classOf(2 * MiB - 1), 0);
  assert.equal(a.classOf(2 * MiB), 1);
  assert.equal(a.classOf(127 * MiB), 6);
  assert.equal(a.classOf(128 * MiB), 7);
  assert.equal(a.classOf(1024 * MiB), 7);
  const reset: number[] = [];
  const stream = (bytes: number) => ({ bytes, bufferedBytes() { return this.bytes; }, resetForOverload() { reset.push(this.bytes); } });
  const shrunk = stream(5 * MiB);
  for (const s of [stream(MiB), stream(3 * MiB), stream(200 * MiB), stream(9 * MiB), shrunk]) a.track(s);
  shrunk.bytes = 1000; // fell below the minimum since it was tracked
  assert.equal(a.resetGivenPressure(0), 1); // class 7 only
  assert.deepEqual(reset, [200 * MiB]);
  assert.equal(a.trackedCount, 3, 'the reset stream and the one below the minimum are no longer tracked');
  assert.equal(a.resetGivenPressure(0.5), 1); // floor(4)+1 = 5 classes: 3..7
  assert.deepEqual(reset, [200 * MiB, 9 * MiB]);
  assert.equal(a.resetGivenPressure(1), 2); // every class, biggest first
  assert.deepEqual(reset, [200 * MiB, 9 * MiB, 3 * MiB, MiB]);
  for (let i = 0; i < 60; i++) a.track(stream(MiB));
  assert.equal(a.resetGivenPressure(1), 50);
  assert.equal(a.trackedCount, 10);
  a.configure(null);
  assert.equal(a.trackedCount, 0);
  assert.equal(a.classOf(1e12), -1);
});

test('reset_high_memory_stream: the biggest buffered uploads are reset as pressure rises (OL, counted), a small one beside them completes', async (t) => {
  const used = { bytes: MAX_HEAP * 0.1 };
  t.mock.method(process, 'memoryUsage', () => ({ rss: 0, heapTotal: 0, heapUsed: used.bytes, external: 0, arrayBuffers: 0 }));
  // The upstream reads every upload and answers only /small, once released.
  const received = new Map<string, number>();
  let release: () => void = () => {};
  const released = new Promise<void>((r) => { release = r; });
  const held: http.ServerResponse[] = [];
  const up = http.createServer((req, res) => {
    let n = 0;
    req.on('data', (d: Buffer) => { n += d.length; received.set(req.url!, n); });
    req.on('end', () => {
      if (req.url === '/small') void released.then(() => res.end(`got ${n}`));
      else held.push(res);
    });
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { up.closeAllConnections(); up.close(() => r()); }));
  const dir = mkdtempSync(join(tmpdir(), 'weft-reset-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logFile = join(dir, 'access.log');
  const yaml = bootstrap({
    listeners: [{
      ...listener({ filter: hcm({
        routes: [toCluster('/', 'up', { timeout: '60s' })],
        extra: {
          access_log: [{ name: 'envoy.access_loggers.file', typed_config: { '@type': FILE_LOG_TYPE, path: logFile, log_format: { text_format_source: { inline_string: '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n' } } } }],
        },
      }) }),
      // The proxy keeps each upload (for a retry) up to this much.
      per_connection_buffer_limit_bytes: 32 * MiB,
    }],
    clusters: [cluster('up', [(up.address() as net.AddressInfo).port])],
  }) + `overload_manager:
  refresh_interval: 0.02s
  buffer_factory_config: { minimum_account_to_track_power_of_two: 20 }
  resource_monitors:
    - name: ${HEAP}
      typed_config: { "@type": type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig, max_heap_size_bytes: ${MAX_HEAP} }
  actions:
    - name: envoy.overload_actions.reset_high_memory_stream
      triggers: [{ name: ${HEAP}, scaled: { scaling_threshold: 0.5, saturation_threshold: 0.9 } }]
`;
  const px = await startProxy(yaml);
  t.after(() => px.close());
  const stat = (n: string) => px.server.stats.value(n) ?? 0;

  // Three uploads on HTTP/1.1: 8 MiB (memory class 3), 2 MiB (class 1), 64 KiB (not tracked).
  const upload = (path: string, size: number) => {
    const s = net.connect(px.port, '127.0.0.1');
    s.on('error', () => {});
    let text = '';
    s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    const closed = new Promise<string>((r) => s.once('close', () => r(text)));
    s.write(`POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: ${size}\r\n\r\n`);
    s.write(Buffer.alloc(size, 0x61));
    t.after(() => s.destroy());
    return { socket: s, closed, text: () => text };
  };
  const big = upload('/big', 8 * MiB);
  const medium = upload('/medium', 2 * MiB);
  const small = upload('/small', 64 * 1024);
  // And one on HTTP/2 in class 2 (4 MiB): reset with RST_STREAM, its connection stays.
  const session = http2.connect(`http://127.0.0.1:${px.port}`);
  t.after(() => session.destroy());
  session.on('error', () => {});
  const h2 = session.request({ ':method': 'POST', ':path': '/h2' });
  h2.on('error', () => {});
  const h2closed = new Promise<number>((r) => h2.once('close', () => r(h2.rstCode)));
  h2.end(Buffer.alloc(4 * MiB, 0x62));
  await waitUntil(() => received.get('/big') === 8 * MiB && received.get('/medium') === 2 * MiB
    && received.get('/small') === 64 * 1024 && received.get('/h2') === 4 * MiB, 20_000, 'the uploads to reach the upstream');

  // State 0.55: floor(4.4)+1 = 5 classes (3..7): only the 8 MiB upload.
  used.bytes = MAX_HEAP * 0.72;
  await waitUntil(() => stat('envoy.overload_actions.reset_high_memory_stream.count') === 1, 5000, 'the first reset');
  assert.equal(await big.closed, '', 'the 8 MiB upload was reset without a response');
  assert.equal(stat('overload.envoy.overload_actions.reset_high_memory_stream.scale_percent'), 55);
  assert.equal(stat('http.ingress.downstream_rq_rx_reset'), 1);
  assert.equal(medium.socket.destroyed, false);

  // State 0.8: floor(6.4)+1 = 7 classes (1..7): the 4 MiB (HTTP/2) and 2 MiB ones, not the small one.
  used.bytes = MAX_HEAP * 0.82;
  await waitUntil(() => stat('envoy.overload_actions.reset_high_memory_stream.count') === 3, 5000, 'the next resets');
  assert.equal(await medium.closed, '');
  assert.notEqual(await h2closed, 0, 'the HTTP/2 stream was reset');
  assert.equal(session.destroyed, false, 'the HTTP/2 connection stays');
  assert.equal(stat('http.ingress.downstream_rq_rx_reset'), 3);

  // The pressure goes; the small upload completes.
  used.bytes = MAX_HEAP * 0.1;
  await waitUntil(() => stat('overload.envoy.overload_actions.reset_high_memory_stream.scale_percent') === 0, 5000, 'pressure gone');
  release();
  await waitUntil(() => small.text().endsWith('got 65536'), 5000, 'the small upload to be answered');
  assert.match(small.text(), /^HTTP\/1\.1 200/);
  const lines = await waitForLines(logFile, 4, 10_000);
  assert.ok(lines.includes('/big 0 OL overload'), lines.join('\n'));
  assert.ok(lines.includes('/medium 0 OL overload'), lines.join('\n'));
  assert.ok(lines.includes('/h2 0 OL overload'), lines.join('\n'));
  assert.ok(lines.includes('/small 200 - via_upstream'), lines.join('\n'));
  assert.equal(stat('envoy.overload_actions.reset_high_memory_stream.count'), 3);
  for (const r of held) r.destroy();
});
