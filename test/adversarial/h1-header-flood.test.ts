// Adversarial: HTTP/1.1 requests with 14,000 tiny header fields (within the byte limit) on several
// connections at once. max_headers_count (Envoy's default, 100) answers each with 431 before
// anything is routed; the upstream sees none of them, the proxy counts them as protocol errors
// (Envoy's downstream_cx_protocol_error), its memory stays flat and a bystander is served.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream } from '../helpers/upstream.js';
import { bystander, connect, proxyInFrontOf, waitUntil } from '../helpers/adversarial.js';

const MiB = 1024 * 1024;
const FIELDS = 14_000;
const CONNECTIONS = 8;
const ROUNDS = 25;

test('14,000 header fields: 431 every time, nothing forwarded, memory flat', { timeout: 120_000 }, async (t) => {
  const up = await startUpstream((req, res) => { res.writeHead(200, { 'content-length': '2', 'x-fields': String(req.rawHeaders.length / 2) }); res.end('ok'); });
  t.after(() => up.close());
  const px = await proxyInFrontOf(t, up.port);
  const port = px.port('main');
  for (let i = 0; i < 50; i++) await (await fetch(`http://127.0.0.1:${port}/`)).arrayBuffer();
  const seenBefore = up.requests.length;
  const base = { rss: px.rss(), fds: px.fds() };
  let peak = base.rss;
  const sampler = setInterval(() => { peak = Math.max(peak, px.rss()); }, 50);
  t.after(() => clearInterval(sampler));
  const by = bystander(port);

  // 4 bytes a field: 56 KB, under max_request_headers_kb (60 KiB), so only the count can stop it.
  const request = Buffer.from(`GET /flood HTTP/1.1\r\nHost: a\r\n${'a:\r\n'.repeat(FIELDS)}\r\n`, 'latin1');
  const statuses: string[] = [];
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    for (let r = 0; r < ROUNDS; r++) {
      const s = await connect(port);
      let got = '';
      s.on('error', () => { /* the proxy may reset while we still write */ });
      // Until the response head (then the proxy closes; a keep-alive answer would be a failure anyway).
      await new Promise<void>((resolve) => {
        s.on('data', (d: Buffer) => { got += d.toString('latin1'); if (got.includes('\r\n\r\n')) resolve(); });
        s.once('close', () => resolve());
        s.write(request);
      });
      statuses.push(got.slice(0, 12));
      if (!/\r\nconnection: close\r\n/i.test(got)) statuses.push('no Connection: close');
      s.destroy();
    }
  }));
  clearInterval(sampler);
  const report = await by.stop();
  t.diagnostic(`${statuses.length} flood requests; proxy RSS peak +${((peak - base.rss) / MiB).toFixed(1)} MiB; bystander p50 ${report.p50Ms.toFixed(1)} ms, p99 ${report.p99Ms.toFixed(1)} ms`);
  assert.deepEqual(new Set(statuses), new Set(['HTTP/1.1 431']));
  assert.equal(up.requests.length - seenBefore, report.ok, 'only the bystander reached the upstream');
  assert.equal(await px.stat('http.ingress.downstream_cx_protocol_error'), CONNECTIONS * ROUNDS);
  assert.ok(peak - base.rss < 64 * MiB, `proxy RSS grew by ${((peak - base.rss) / MiB).toFixed(1)} MiB`);
  assert.equal(report.errors, 0);
  assert.ok(report.p50Ms < 200, `bystander p50 ${report.p50Ms} ms`);
  await waitUntil(() => px.fds() <= base.fds + 10, 10_000, 'open fds back near the baseline');
});
