// Adversarial: an HTTP/2 upstream that stops reading request bodies (it never grants flow-control
// window beyond the initial 64 KiB). A client uploads 512 MiB through the proxy to it: the
// upstream stream's queue fills to the cluster's per_connection_buffer_limit_bytes, the router
// stops reading the client (RFC 9113 §5.2 flow control carried back to TCP), so the client can
// hand over only a bounded amount, the proxy's RSS stays bounded, a bystander is served
// throughout, and when the stalled request times out (stream_idle_timeout) the upstream stream
// is reset and everything returns to its baseline (http2.streams_active 0, fds and RSS near
// where they were).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { startUpstream } from '../helpers/upstream.js';
import { bootstrap, cluster, hcm, listener, toCluster } from '../helpers/bootstrap.js';
import { h2Options, startH2Upstream } from '../helpers/h2-upstream.js';
import { bystander, connect, flood, settle, startProxyChild, waitUntil } from '../helpers/adversarial.js';

const MiB = 1024 * 1024;

test('an HTTP/2 upstream that stops reading: request bodies are backpressured, proxy memory stays bounded, the stream is reset when the stalled request times out', async (t) => {
  const streams: http2.ServerHttp2Stream[] = [];
  let resetByProxy = 0;
  // `early`: nobody reads the request body, so node:http2 grants no window after the first 64 KiB.
  const slow = await startH2Upstream((stream) => {
    streams.push(stream);
    stream.on('aborted', () => { resetByProxy++; });
    stream.on('close', () => { if (stream.rstCode === http2.constants.NGHTTP2_CANCEL) resetByProxy++; });
  }, { early: true });
  t.after(() => slow.close());
  const fast = await startUpstream();
  t.after(() => fast.close());
  const px = await startProxyChild(bootstrap({
    admin: true,
    listeners: [listener({ name: 'main', filter: hcm({ routes: [toCluster('/upload', 'slow'), toCluster('/', 'fast')], extra: { stream_idle_timeout: '5s' } }) })],
    clusters: [cluster('slow', [slow.port], h2Options()), cluster('fast', [fast.port])],
  }), ['main']);
  t.after(() => px.close());
  const port = px.port('main');

  const by = bystander(port);
  let report: Awaited<ReturnType<typeof by.stop>> | null = null;
  t.after(async () => { report ??= await by.stop(); });
  await waitUntil(async () => (await px.stat('http.ingress.downstream_rq_2xx')) > 0, 10_000, 'the bystander served');
  const rss0 = px.rss();
  const fds0 = px.fds();

  const total = 512 * MiB;
  const sock = await connect(port);
  t.after(() => sock.destroy());
  sock.write(`POST /upload HTTP/1.1\r\nHost: adv.test\r\nContent-Length: ${total}\r\n\r\n`);
  const up = flood(sock, total, 256 * 1024);
  await waitUntil(() => streams.length === 1, 10_000, 'the upload reached the upstream');
  const sent = await settle(() => up.sent(), 1000, 60_000, 'the upload stalled by backpressure');
  const grown = px.rss() - rss0;
  t.diagnostic(`upload stalled after ${(sent / MiB).toFixed(1)} MiB; proxy RSS +${(grown / MiB).toFixed(1)} MiB`);
  assert.ok(sent < 64 * MiB, `the client could hand over only a bounded amount (${(sent / MiB).toFixed(1)} MiB of 512)`);
  assert.ok(grown < 64 * MiB, `proxy RSS grew ${(grown / MiB).toFixed(1)} MiB while the upload was stalled`);
  assert.equal(await px.stat('cluster.slow.http2.streams_active'), 1);

  // The stalled upload ends on the connection manager's stream_idle_timeout (a client that just
  // goes away is not noticed while its socket is not being read: a downstream matter): the
  // upstream stream is reset, the session stays for later requests.
  up.stop();
  await waitUntil(() => resetByProxy > 0, 20_000, 'the upstream stream reset');
  await waitUntil(async () => (await px.stat('cluster.slow.http2.streams_active')) === 0, 15_000, 'no stream left');
  assert.equal(await px.stat('cluster.slow.upstream_rq_active'), 0);
  assert.equal(await px.stat('cluster.slow.upstream_cx_active'), 1, 'the session survives a reset stream');
  await settle(() => px.fds(), 500, 15_000, 'fds settled');
  assert.ok(px.fds() <= fds0 + 10, `fds ${px.fds()} vs ${fds0} before`);
  assert.ok(px.rss() - rss0 < 64 * MiB, `RSS ${((px.rss() - rss0) / MiB).toFixed(1)} MiB above the baseline after the upload`);

  report = await by.stop();
  assert.equal(report.errors, 0, 'bystander errors');
  assert.ok(report.ok > 0);
  assert.ok(report.p50Ms < 200, `bystander p50 ${report.p50Ms.toFixed(1)} ms`);
});

test('a client that stops reading a response from an HTTP/2 upstream: the upstream stream gets no window, proxy memory stays bounded, reading again finishes the response', async (t) => {
  const total = 160 * MiB;
  const chunk = Buffer.alloc(64 * 1024, 'r');
  let written = 0;
  const up = await startH2Upstream((stream) => {
    stream.respond({ ':status': 200, 'content-length': String(total) });
    const pump = (): void => {
      while (written < total) {
        written += chunk.length;
        if (!stream.write(chunk)) { stream.once('drain', pump); return; }
      }
      stream.end();
    };
    pump();
  });
  t.after(() => up.close());
  const fast = await startUpstream();
  t.after(() => fast.close());
  const px = await startProxyChild(bootstrap({
    admin: true,
    listeners: [listener({ name: 'main', filter: hcm({ routes: [toCluster('/download', 'h2'), toCluster('/', 'fast')] }) })],
    // A 1 MiB stream window: what the upstream may send ahead of the client is bounded by it.
    clusters: [cluster('h2', [up.port], h2Options({ initial_stream_window_size: MiB })), cluster('fast', [fast.port])],
  }), ['main']);
  t.after(() => px.close());
  const port = px.port('main');
  const by = bystander(port);
  let report: Awaited<ReturnType<typeof by.stop>> | null = null;
  t.after(async () => { report ??= await by.stop(); });
  await waitUntil(async () => (await px.stat('http.ingress.downstream_rq_2xx')) > 0, 10_000, 'the bystander served');
  const rss0 = px.rss();

  const sock = await connect(port);
  t.after(() => sock.destroy());
  let got = 0;
  let headSeen = false;
  let done!: () => void;
  const finished = new Promise<void>((r) => { done = r; });
  sock.on('data', (d: Buffer) => {
    if (!headSeen) {
      const s = d.toString('latin1');
      const i = s.indexOf('\r\n\r\n');
      if (i < 0) return;
      headSeen = true;
      got += d.length - i - 4;
      sock.pause(); // stops reading right after the head
    } else {
      got += d.length;
    }
    if (got >= total) done();
  });
  sock.write('GET /download HTTP/1.1\r\nHost: adv.test\r\n\r\n');
  await waitUntil(() => headSeen, 10_000, 'the response head');
  const ahead = await settle(() => written, 1000, 60_000, 'the upstream writer stalled');
  const grown = px.rss() - rss0;
  t.diagnostic(`upstream stalled after ${(ahead / MiB).toFixed(1)} MiB of ${total / MiB}; proxy RSS +${(grown / MiB).toFixed(1)} MiB`);
  assert.ok(ahead < 48 * MiB, `the upstream sent ${(ahead / MiB).toFixed(1)} MiB to a stopped reader`);
  assert.ok(grown < 64 * MiB, `proxy RSS grew ${(grown / MiB).toFixed(1)} MiB`);

  sock.resume();
  await finished;
  assert.equal(got, total);
  report = await by.stop();
  assert.equal(report.errors, 0, 'bystander errors');
  assert.ok(report.p50Ms < 200, `bystander p50 ${report.p50Ms.toFixed(1)} ms`);
});
