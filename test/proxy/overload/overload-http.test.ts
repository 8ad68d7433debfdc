// Overload actions end to end on an in-process proxy whose fixed_heap monitor is fed through a
// mocked process.memoryUsage (the monitor reads it every refresh_interval): disable_http_keepalive
// closes HTTP/1.1 connections (Connection: close) and drains HTTP/2 ones (GOAWAY); stop_accepting_requests
// answers new requests 503 "envoy overloaded" with response flag OL; both recover when the pressure
// goes; global_downstream_max_connections refuses connections beyond its maximum.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProxy } from '../../helpers/proxy.js';
import { bootstrap, direct, hcm, listener, request, FILE_LOG_TYPE, waitForLines } from '../../helpers/bootstrap.js';
import { waitUntil } from '../../helpers/adversarial.js';

const HEAP = 'envoy.resource_monitors.fixed_heap';
const CONNS = 'envoy.resource_monitors.global_downstream_max_connections';
const MAX_HEAP = 1_000_000_000;

/** Feeds the fixed_heap monitor: it will see `used.bytes` in use. */
function mockHeap(t: TestContext): { bytes: number } {
  const used = { bytes: 0 };
  t.mock.method(process, 'memoryUsage', () => ({ rss: 0, heapTotal: 0, heapUsed: used.bytes, external: 0, arrayBuffers: 0 }));
  return used;
}

function overloadYaml(logFile: string): string {
  return bootstrap({
    listeners: [listener({
      filter: hcm({
        statPrefix: 'ingress',
        routes: [direct({ prefix: '/' }, 'ok')],
        extra: {
          codec_type: 'AUTO',
          access_log: [{ name: 'envoy.access_loggers.file', typed_config: { '@type': FILE_LOG_TYPE, path: logFile, log_format: { text_format_source: { inline_string: '%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n' } } } }],
        },
      }),
    })],
  }) + `overload_manager:
  refresh_interval: 0.02s
  resource_monitors:
    - name: ${HEAP}
      typed_config: { "@type": type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig, max_heap_size_bytes: ${MAX_HEAP} }
  actions:
    - name: envoy.overload_actions.disable_http_keepalive
      triggers: [{ name: ${HEAP}, threshold: { value: 0.8 } }]
    - name: envoy.overload_actions.stop_accepting_requests
      triggers: [{ name: ${HEAP}, threshold: { value: 0.95 } }]
`;
}

/** Sends GET / on an open keep-alive socket; resolves with the raw response. */
function get(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const len = /content-length: (\d+)/i.exec(text);
      if (end >= 0 && len !== null && text.length >= end + 4 + Number(len[1])) { s.off('data', onData); resolve(text); }
    };
    s.on('data', onData);
    s.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  });
}

test('fixed_heap over its thresholds: keep-alive off (HTTP/1.1 close, HTTP/2 GOAWAY), then 503 envoy overloaded (OL), then recovery', async (t) => {
  const used = mockHeap(t);
  used.bytes = MAX_HEAP * 0.1;
  const dir = mkdtempSync(join(tmpdir(), 'weft-overload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logFile = join(dir, 'access.log');
  const px = await startProxy(overloadYaml(logFile));
  t.after(() => px.close());
  const stat = (n: string) => px.server.stats.value(n) ?? 0;
  const action = (a: string) => stat(`overload.envoy.overload_actions.${a}.active`);

  const s = net.connect(px.port, '127.0.0.1');
  t.after(() => s.destroy());
  s.on('error', () => {});
  const first = await get(s);
  assert.match(first, /^HTTP\/1\.1 200/);
  assert.doesNotMatch(first, /connection: close/i);
  assert.equal(stat(`overload.${HEAP}.pressure`), 10);

  // Keep-alive disabled: the next response closes the connection; HTTP/2 clients get GOAWAY.
  used.bytes = MAX_HEAP * 0.85;
  await waitUntil(() => action('disable_http_keepalive') === 1, 5000, 'disable_http_keepalive');
  const closing = await get(s);
  assert.match(closing, /^HTTP\/1\.1 200/);
  assert.match(closing, /connection: close/i);
  await new Promise<void>((r) => { if (s.destroyed || s.readableEnded) r(); else s.once('close', () => r()); });
  assert.equal(stat('http.ingress.downstream_cx_overload_disable_keepalive'), 1);
  const session = http2.connect(`http://127.0.0.1:${px.port}`);
  t.after(() => session.destroy());
  session.on('error', () => {});
  const goaway = new Promise<void>((r) => session.once('goaway', () => r()));
  const h2status = await new Promise<number>((resolve, reject) => {
    const req = session.request({ ':path': '/' });
    req.on('response', (h) => resolve(Number(h[':status'])));
    req.on('error', reject);
    req.resume();
    req.end();
  });
  assert.equal(h2status, 200);
  await goaway;
  assert.equal(stat('http.ingress.downstream_cx_overload_disable_keepalive'), 2);

  // Requests refused.
  used.bytes = MAX_HEAP * 0.97;
  await waitUntil(() => action('stop_accepting_requests') === 1, 5000, 'stop_accepting_requests');
  const refused = await request(px.port, '/');
  assert.equal(refused.status, 503);
  assert.equal(refused.body, 'envoy overloaded');
  assert.equal(stat('http.ingress.downstream_rq_overload_close'), 1);
  assert.equal(stat(`overload.${HEAP}.pressure`), 97);
  assert.equal(stat('overload.envoy.overload_actions.stop_accepting_requests.scale_percent'), 100);

  // Pressure gone: served again, keep-alive again.
  used.bytes = MAX_HEAP * 0.2;
  await waitUntil(() => action('stop_accepting_requests') === 0 && action('disable_http_keepalive') === 0, 5000, 'recovery');
  const s2 = net.connect(px.port, '127.0.0.1');
  t.after(() => s2.destroy());
  s2.on('error', () => {});
  const again = await get(s2);
  assert.match(again, /^HTTP\/1\.1 200/);
  assert.doesNotMatch(again, /connection: close/i);
  const lines = await waitForLines(logFile, 5);
  assert.ok(lines.includes('503 OL overload'), lines.join('\n'));
  assert.equal(readFileSync(logFile, 'utf8').split('\n').filter((l) => l.startsWith('503')).length, 1);
});

test('global_downstream_max_connections: connections beyond the maximum are refused (downstream_global_cx_overflow), pressure is active/max', async (t) => {
  const px = await startProxy(bootstrap({ listeners: [listener({ filter: hcm({ routes: [direct({ prefix: '/' }, 'ok')] }) })] }) + `overload_manager:
  refresh_interval: 0.02s
  resource_monitors:
    - name: ${CONNS}
      typed_config: { "@type": type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig, max_active_downstream_connections: 2 }
`);
  t.after(() => px.close());
  const stat = (n: string) => px.server.stats.value(n) ?? 0;
  const open: net.Socket[] = [];
  t.after(() => { for (const s of open) s.destroy(); });
  for (let i = 0; i < 2; i++) {
    const s = net.connect(px.port, '127.0.0.1');
    s.on('error', () => {});
    open.push(s);
    assert.match(await get(s), /^HTTP\/1\.1 200/);
  }
  await waitUntil(() => stat(`overload.${CONNS}.pressure`) === 100, 5000, 'pressure 100%');
  const third = net.connect(px.port, '127.0.0.1');
  third.on('error', () => {});
  await new Promise<void>((r) => third.once('close', () => r()));
  assert.equal(stat('listener.127.0.0.1_0.downstream_global_cx_overflow'), 1);
  open.shift()!.destroy();
  await waitUntil(() => stat(`overload.${CONNS}.pressure`) === 50, 5000, 'pressure back to 50%');
  assert.equal((await request(px.port, '/')).status, 200);
});
