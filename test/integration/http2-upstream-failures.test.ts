// The HTTP/2 session pool (src/proxy/pool/http2-pool.ts) when the upstream misbehaves or fails:
// a GOAWAY in the middle of a load (streams above its last-stream-id retried or refused, never
// lost), stream resets before and after the response head, an upstream whose socket vanishes with
// streams in flight (each one answered, the pool recovers on a new session), a trailers-only gRPC
// error, an upstream allowing one stream at a time (requests queue, none fails), malformed
// responses (RFC 9113 §8.1.1: content-length mismatch, DATA before HEADERS, too many fields).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startProxy } from '../helpers/proxy.js';
import { cluster, parallel, request, simple, toCluster, type Obj, type Reply } from '../helpers/bootstrap.js';
import { h2Options, startH2Upstream } from '../helpers/h2-upstream.js';
import { waitUntil } from '../helpers/adversarial.js';

type T = { after(fn: () => Promise<void> | void): void };

async function proxyTo(t: T, port: number, clusterExtra: Obj = h2Options(), action: Obj = {}) {
  const px = await startProxy(simple({ routes: [toCluster('/', 'up', action)], clusters: [cluster('up', [port], clusterExtra)] }));
  t.after(() => px.close());
  return px;
}

/** A request that resolves with the reply, or with status 0 and the error when the response was cut short. */
function tryRequest(port: number, path: string, o: Parameters<typeof request>[2] = {}): Promise<Reply & { error?: string }> {
  return request(port, path, o).catch((e: Error) => ({ status: 0, headers: {}, body: '', error: e.message }));
}

test('a GOAWAY in the middle of a load: streams above last-stream-id are retried on a new session, every request completes', async (t) => {
  const n = 120;
  let goneAway = false;
  const up = await startH2Upstream((stream, seen, session) => {
    if (seen.sessionId === 1 && !goneAway && up.seen.filter((s) => s.sessionId === 1).length === 25) {
      goneAway = true;
      // Everything the proxy opened after this stream is refused (never processed).
      session.goaway(0, stream.id!);
    }
    stream.respond({ ':status': 200 });
    stream.end(`s${seen.sessionId}`);
  });
  t.after(() => up.close());
  // Retries are bounded by the cluster's max_retries circuit breaker (Envoy's default is 3 at a time).
  const px = await proxyTo(t, up.port, { ...h2Options(), circuit_breakers: { thresholds: [{ max_retries: 1000 }] } },
    { retry_policy: { retry_on: 'refused-stream', num_retries: 3 } });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 30 });
  t.after(() => agent.destroy());
  const replies = await parallel(n, 30, (i) => request(px.port, `/load/${i}`, { agent }));
  assert.deepEqual(replies.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.body}`), []);
  const stats = px.server.stats;
  assert.ok((stats.value('cluster.up.upstream_cx_total') ?? 0) >= 2, 'a new session took over');
  // Every retry was a refused stream, and every refused stream was retried.
  assert.equal(stats.value('cluster.up.upstream_rq_retry'), stats.value('cluster.up.upstream_rq_rx_reset'));
  assert.equal(stats.value('cluster.up.upstream_rq_completed'), n);
  assert.equal(stats.value('cluster.up.upstream_rq_active'), 0);
  assert.equal(stats.value('cluster.up.upstream_rq_pending_active'), 0);
});

test('a GOAWAY without a retry policy: streams above last-stream-id are answered 503, none hangs', async (t) => {
  const held: http2.ServerHttp2Stream[] = [];
  const up = await startH2Upstream((stream, seen, session) => {
    if (seen.sessionId !== 1) { stream.respond({ ':status': 200 }); stream.end('new'); return; }
    held.push(stream);
    if (held.length === 6) {
      const ids = held.map((s) => s.id!).sort((a, b) => a - b);
      session.goaway(0, ids[2]!);
      for (const s of held) if (s.id! <= ids[2]!) { s.respond({ ':status': 200 }); s.end('old'); }
    }
  }, { early: true });
  t.after(() => up.close());
  const px = await proxyTo(t, up.port);
  const replies = await parallel(6, 6, (i) => request(px.port, `/g/${i}`));
  assert.deepEqual(replies.map((r) => r.status).sort(), [200, 200, 200, 503, 503, 503]);
  assert.ok(replies.filter((r) => r.status === 503).every((r) => /reset/.test(r.body)), 'refused streams are upstream resets');
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_rx_reset'), 3);
  assert.equal(px.server.stats.value('cluster.up.http2.stream_refused_errors'), 3);
  assert.equal((await request(px.port, '/after')).body, 'new');
});

test('an upstream that vanishes with streams in flight: each one is answered 503, the pool opens a new session', async (t) => {
  const held: http2.ServerHttp2Stream[] = [];
  let vanish!: () => void;
  const allHeld = new Promise<void>((r) => { vanish = r; });
  const up = await startH2Upstream((stream, seen) => {
    if (seen.sessionId === 1) { held.push(stream); if (held.length === 5) vanish(); return; }
    stream.respond({ ':status': 200 });
    stream.end('second');
  }, { early: true });
  t.after(() => up.close());
  const sockets: net.Socket[] = [];
  up.server.on('connection', (s: net.Socket) => sockets.push(s));
  const px = await proxyTo(t, up.port);
  const inflight = parallel(5, 5, (i) => tryRequest(px.port, `/v/${i}`));
  await allHeld;
  sockets[0]!.destroy();
  const replies = await inflight;
  assert.deepEqual(replies.map((r) => r.status), [503, 503, 503, 503, 503]);
  const after = await request(px.port, '/after');
  assert.equal(after.status, 200);
  assert.equal(after.body, 'second');
  const stats = px.server.stats;
  assert.equal(stats.value('cluster.up.upstream_cx_total'), 2);
  assert.equal(stats.value('cluster.up.upstream_cx_destroy_remote'), 1);
  assert.equal(stats.value('cluster.up.upstream_cx_destroy_with_active_rq'), 1);
  assert.equal(stats.value('cluster.up.upstream_rq_rx_reset'), 5);
  assert.equal(stats.value('cluster.up.upstream_rq_active'), 0);
});

test('a trailers-only gRPC error from upstream reaches an HTTP/2 client as one HEADERS frame with grpc-status and grpc-message', async (t) => {
  const up = await startH2Upstream((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'backend%20down' }, { endStream: true });
  });
  t.after(() => up.close());
  const px = await proxyTo(t, up.port);
  const s = http2.connect(`http://127.0.0.1:${px.port}`);
  t.after(() => s.close());
  const rq = s.request({ ':method': 'POST', ':path': '/pkg.Svc/Call', 'content-type': 'application/grpc', te: 'trailers' });
  rq.end(Buffer.from([0, 0, 0, 0, 0]));
  const [headers, flags] = await new Promise<[http2.IncomingHttpHeaders, number]>((res) => rq.on('response', (h, f) => res([h, f])));
  assert.equal(headers[':status'], 200);
  assert.equal(headers['grpc-status'], '14');
  assert.equal(headers['grpc-message'], 'backend%20down');
  assert.ok((flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0, 'END_STREAM on the response HEADERS');
  rq.resume();
  await new Promise((r) => rq.on('close', r));
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_completed'), 1);
});

test('an upstream allowing one stream at a time with one connection: requests queue on the session, none fails', async (t) => {
  let open = 0, maxOpen = 0;
  const up = await startH2Upstream((stream) => {
    open++;
    maxOpen = Math.max(maxOpen, open);
    stream.on('close', () => { open--; });
    setImmediate(() => { stream.respond({ ':status': 200 }); stream.end('one'); });
  }, { settings: { maxConcurrentStreams: 1 } });
  t.after(() => up.close());
  const px = await proxyTo(t, up.port, { ...h2Options(), circuit_breakers: { thresholds: [{ max_connections: 1 }] } });
  const replies = await parallel(12, 12, (i) => tryRequest(px.port, `/q/${i}`));
  assert.deepEqual(replies.map((r) => r.status), new Array(12).fill(200));
  assert.equal(maxOpen, 1, 'never more than the peer allows');
  const stats = px.server.stats;
  assert.equal(stats.value('cluster.up.upstream_cx_total'), 1);
  assert.ok((stats.value('cluster.up.upstream_rq_pending_total') ?? 0) >= 11, 'the others waited');
  assert.equal(stats.value('cluster.up.upstream_rq_pending_active'), 0);
});

// ─────────────── malformed responses from a raw HTTP/2 upstream (RFC 9113 §8.1.1) ───────────────

/** HPACK literal fields without indexing, plain strings (short names and values only). */
function block(fields: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [n, v] of fields) parts.push(Buffer.from([0x00, n.length]), Buffer.from(n, 'latin1'), Buffer.from([v.length]), Buffer.from(v, 'latin1'));
  return Buffer.concat(parts);
}
function rst(id: number, code: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code, 0);
  return frame(3, 0, id, p);
}
function frame(type: number, flags: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type; h[4] = flags; h.writeUInt32BE(id, 5);
  return Buffer.concat([h, payload]);
}

/**
 * A raw HTTP/2 server: sends an empty SETTINGS, ACKs the client's, and calls `onRequest(id, write)`
 * for every HEADERS frame the client opens a stream with (the request block is not decoded).
 * Counts the RST_STREAM frames it receives.
 */
async function rawUpstream(onRequest: (id: number, write: (b: Buffer) => void) => void) {
  const sockets = new Set<net.Socket>();
  const resets: Array<{ id: number; code: number }> = [];
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => { /* the proxy may reset */ });
    let buf = Buffer.alloc(0), preface = false;
    sock.write(frame(4, 0, 0));
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!preface) { if (buf.length < 24) return; buf = buf.subarray(24); preface = true; }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3]!, flags = buf[4]!, id = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = buf.subarray(9, 9 + len);
        buf = buf.subarray(9 + len);
        if (type === 4 && (flags & 1) === 0) sock.write(frame(4, 1, 0));
        else if (type === 1) onRequest(id, (b) => sock.write(b));
        else if (type === 3) resets.push({ id, code: payload.readUInt32BE(0) });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    resets,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

test('malformed responses are upstream protocol errors (502), the stream is reset, the session goes on', async (t) => {
  const up = await rawUpstream((id, write) => {
    const n = (id - 1) / 2;
    const status: Array<[string, string]> = [[':status', '200']];
    if (n === 0) {
      // content-length 10, 3 bytes of DATA with END_STREAM.
      write(frame(1, 4, id, block([...status, ['content-length', '10']])));
      write(frame(0, 1, id, Buffer.from('abc')));
    } else if (n === 1) {
      // DATA before any HEADERS.
      write(frame(0, 1, id, Buffer.from('abc')));
    } else if (n === 2) {
      // A regular field before a pseudo-header.
      write(frame(1, 5, id, block([['x-a', '1'], ...status])));
    } else if (n === 3) {
      // 150 fields: more than max_headers_count (100 by default).
      const many: Array<[string, string]> = [];
      for (let i = 0; i < 150; i++) many.push([`x-${i}`, 'v']);
      write(frame(1, 5, id, block([...status, ...many])));
    } else {
      write(frame(1, 4, id, block([...status, ['content-length', '2']])));
      write(frame(0, 1, id, Buffer.from('ok')));
    }
  });
  t.after(() => up.close());
  const px = await proxyTo(t, up.port);
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await tryRequest(px.port, `/m/${i}`);
    statuses.push(r.status);
    if (i === 4) assert.equal(r.body, 'ok');
  }
  // A content-length mismatch is found once the head is out: the downstream response is cut short.
  assert.deepEqual(statuses.slice(1), [502, 502, 502, 200]);
  assert.equal(statuses[0], 0, 'the response with too few bytes is cut short');
  await waitUntil(() => up.resets.length >= 4, 5000, 'RST_STREAM for each malformed response');
  assert.deepEqual(up.resets.map((r) => r.code), [1, 1, 1, 1]);
  assert.equal(px.server.stats.value('cluster.up.upstream_cx_total'), 1);
  assert.equal(px.server.stats.value('cluster.up.http2.rx_messaging_error'), 3);
  assert.equal(px.server.stats.value('cluster.up.http2.header_overflow'), 1);
});

test('upstream stream resets: REFUSED_STREAM is retried with refused-stream, a reset after the head cuts the response short, the session stays in use', async (t) => {
  const up = await rawUpstream((id, write) => {
    const n = (id - 1) / 2;
    if (n === 0) { write(rst(id, 7 /* REFUSED_STREAM */)); return; }
    if (n === 2) {
      write(frame(1, 4, id, block([[':status', '200'], ['content-length', '100000']])));
      write(frame(0, 0, id, Buffer.alloc(1000, 'x')));
      write(rst(id, 2 /* INTERNAL_ERROR */));
      return;
    }
    write(frame(1, 4, id, block([[':status', '200']])));
    write(frame(0, 1, id, Buffer.from('fine')));
  });
  t.after(() => up.close());
  const px = await proxyTo(t, up.port, h2Options(), { retry_policy: { retry_on: 'refused-stream', num_retries: 1 } });
  const r1 = await request(px.port, '/refuse');
  assert.equal(r1.status, 200);
  assert.equal(r1.body, 'fine');
  assert.equal(px.server.stats.value('cluster.up.upstream_rq_retry'), 1);
  const r2 = await tryRequest(px.port, '/midway');
  assert.equal(r2.status, 0, 'the response cut short by the reset is not presented as complete');
  const r3 = await request(px.port, '/ok');
  assert.equal(r3.body, 'fine');
  const stats = px.server.stats;
  assert.equal(stats.value('cluster.up.upstream_cx_total'), 1, 'stream resets do not cost the session');
  assert.equal(stats.value('cluster.up.upstream_rq_rx_reset'), 2);
  assert.equal(stats.value('cluster.up.http2.rx_reset'), 2);
  assert.equal(stats.value('cluster.up.http2.stream_refused_errors'), 1);
  assert.deepEqual(up.resets, [], 'nothing to reset from our side');
});

