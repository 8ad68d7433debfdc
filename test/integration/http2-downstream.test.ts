// HTTP/2 clients talking to the proxy (RFC 9113) in front of HTTP/1.1 upstreams: prior-knowledge
// h2c from curl, nghttp, h2load and node:http2; AUTO serving HTTP/1.1 and HTTP/2 on one port;
// trailers both ways; concurrency and max_concurrent_streams; resets of one stream; GOAWAY on
// drain; flow control towards a slow upstream and from a slow client; stats and the access log.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startProxy } from '../helpers/proxy.js';
import { startUpstream, echo } from '../helpers/upstream.js';
import { cluster, eventually, settled, FILE_LOG_TYPE, simple, toCluster, waitForLines, type Obj } from '../helpers/bootstrap.js';
import type { RunningProxy } from '../helpers/proxy.js';

const run = promisify(execFile);

interface H2Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | null;
}

/** One request on an HTTP/2 session; `trailers` are sent after the body. */
function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | string,
                   trailers?: http2.OutgoingHttpHeaders): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined && trailers === undefined, waitForTrailers: trailers !== undefined });
    if (trailers !== undefined) req.on('wantTrailers', () => req.sendTrailers(trailers));
    let status = 0;
    let got: http2.IncomingHttpHeaders = {};
    let tr: http2.IncomingHttpHeaders | null = null;
    const chunks: Buffer[] = [];
    req.on('response', (h) => { status = Number(h[':status']); got = h; });
    req.on('trailers', (t) => { tr = t; });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status, headers: got, body: Buffer.concat(chunks), trailers: tr }));
    req.on('error', reject);
    if (body !== undefined || trailers !== undefined) req.end(body);
  });
}

function connect(port: number): http2.ClientHttp2Session {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', () => { /* asserted through requests */ });
  return s;
}

async function statsOf(p: RunningProxy): Promise<Map<string, number>> {
  const text = await fetch(`http://127.0.0.1:${p.adminPort}/stats`).then((r) => r.text());
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(': ');
    if (i > 0) m.set(line.slice(0, i), Number(line.slice(i + 2)));
  }
  return m;
}

function proxyTo(port: number, o: { extra?: Obj; routes?: Obj[]; admin?: boolean } = {}): string {
  return simple({ routes: o.routes ?? [toCluster('/', 'up')], clusters: [cluster('up', [port])], extra: o.extra, admin: o.admin ?? true });
}

test('curl --http2-prior-knowledge GET and POST reach an HTTP/1.1 upstream; :authority becomes Host; stats and %PROTOCOL% say HTTP/2', async (t) => {
  const up = await startUpstream();
  t.after(() => up.close());
  const dir = mkdtempSync(join(tmpdir(), 'weft-h2-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'access.log');
  const p = await startProxy(proxyTo(up.port, {
    extra: { access_log: [{ name: 'f', typed_config: { '@type': FILE_LOG_TYPE, path: log, log_format: { text_format: '%PROTOCOL% %REQ(:METHOD)% %RESPONSE_CODE%\n' } } }] },
  }));
  t.after(() => p.close());
  const url = `http://127.0.0.1:${p.port}`;

  const get = await run('curl', ['-s', '-i', '--http2-prior-knowledge', `${url}/hello?x=1`]);
  assert.match(get.stdout, /^HTTP\/2 200/);
  const head = get.stdout.slice(0, get.stdout.indexOf('\r\n\r\n'));
  for (const line of head.split('\r\n').slice(1)) assert.equal(line.split(':')[0], line.split(':')[0]!.toLowerCase());
  assert.doesNotMatch(head, /^(connection|keep-alive|transfer-encoding):/mi);
  const body = JSON.parse(get.stdout.slice(get.stdout.indexOf('\r\n\r\n') + 4));
  assert.equal(body.url, '/hello?x=1');
  assert.equal(body.headers.host, `127.0.0.1:${p.port}`);
  assert.equal(body.headers['x-forwarded-proto'], 'http');
  assert.equal(up.requests[0]!.httpVersion, '1.1');

  const post = await run('curl', ['-s', '--http2-prior-knowledge', '--data-binary', 'name=weft', `${url}/form`]);
  const echoed = JSON.parse(post.stdout);
  assert.equal(echoed.method, 'POST');
  assert.equal(echoed.body, 'name=weft');
  assert.equal(echoed.headers['content-length'], '9');

  const lines = await waitForLines(log, 2);
  assert.deepEqual(lines, ['HTTP/2 GET 200', 'HTTP/2 POST 200']);
  const s = await statsOf(p);
  assert.equal(s.get('http.ingress.downstream_cx_http2_total'), 2);
  assert.equal(s.get('http.ingress.downstream_rq_http2_total'), 2);
  assert.equal(s.get('http.ingress.downstream_cx_http1_total'), 0);
  assert.equal(s.get('http.ingress.downstream_rq_http1_total'), 0);
});

test('nghttp fetches through the proxy; SETTINGS carry the edge defaults (100 streams, 64 KiB / 1 MiB windows)', async (t) => {
  const up = await startUpstream();
  t.after(() => up.close());
  const p = await startProxy(proxyTo(up.port));
  t.after(() => p.close());
  const r = await run('nghttp', ['-v', `http://127.0.0.1:${p.port}/ng`]);
  assert.match(r.stdout, /SETTINGS_MAX_CONCURRENT_STREAMS\(0x03\):100/);
  assert.match(r.stdout, /SETTINGS_INITIAL_WINDOW_SIZE\(0x04\):65536/);
  assert.match(r.stdout, /window_size_increment=983041/); // connection window raised to 1 MiB
  assert.match(r.stdout, /recv \(stream_id=\d+\) :status: 200/);
  assert.match(r.stdout, /"url":"\/ng"/);
});

test('AUTO serves HTTP/1.1 and HTTP/2 (prior knowledge) on the same port', async (t) => {
  const up = await startUpstream();
  t.after(() => up.close());
  const p = await startProxy(proxyTo(up.port));
  t.after(() => p.close());
  const url = `http://127.0.0.1:${p.port}/both`;
  const [h1, h2] = await Promise.all([
    run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', url]),
    run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', '--http2-prior-knowledge', url]),
  ]);
  assert.equal(h1.stdout, '1.1 200');
  assert.equal(h2.stdout, '2 200');
  // A client whose preface arrives in pieces is still recognised.
  const sock = net.connect(p.port, '127.0.0.1');
  await once(sock, 'connect');
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  for (let i = 0; i < 5; i++) sock.write(preface.subarray(i, i + 1));
  sock.write(preface.subarray(5));
  sock.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])); // empty SETTINGS
  const [first] = await once(sock, 'data') as [Buffer];
  assert.equal(first[3], 4, 'the server answers with SETTINGS');
  sock.destroy();
  const s = await statsOf(p);
  assert.equal(s.get('http.ingress.downstream_cx_http1_total'), 1);
  assert.equal(s.get('http.ingress.downstream_cx_http2_total'), 2);
});

test('codec_type HTTP1 never speaks HTTP/2; HTTP2 serves prior knowledge', async (t) => {
  const up = await startUpstream();
  t.after(() => up.close());
  const p1 = await startProxy(proxyTo(up.port, { extra: { codec_type: 'HTTP1' } }));
  t.after(() => p1.close());
  const p2 = await startProxy(proxyTo(up.port, { extra: { codec_type: 'HTTP2' } }));
  t.after(() => p2.close());
  const r1 = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--http2-prior-knowledge', `http://127.0.0.1:${p1.port}/`]).catch((e: { stdout: string }) => e);
  assert.notEqual(r1.stdout, '200');
  const r2 = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', '--http2-prior-knowledge', `http://127.0.0.1:${p2.port}/`]);
  assert.equal(r2.stdout, '2 200');
});

test('request trailers reach the upstream as chunked trailers; upstream trailers come back as HTTP/2 trailers', async (t) => {
  const up = await startUpstream((req, res, body) => {
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
    res.write(`got ${body.length} bytes, trailer ${req.trailers['x-client-trailer']}`);
    res.addTrailers({ 'x-checksum': 'abc123' });
    res.end();
  });
  t.after(() => up.close());
  const p = await startProxy(proxyTo(up.port));
  t.after(() => p.close());
  const session = connect(p.port);
  t.after(() => session.close());
  const r = await h2request(session, { ':method': 'POST', ':path': '/t', te: 'trailers' }, 'hello', { 'x-client-trailer': 'yes' });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'got 5 bytes, trailer yes');
  assert.equal(r.trailers?.['x-checksum'], 'abc123');
  assert.equal(r.headers['transfer-encoding'], undefined);
  assert.equal(r.headers.trailer, undefined, 'the HTTP/1.1 Trailer field is not forwarded');
  assert.equal(up.requests[0]!.headers['transfer-encoding'], 'chunked');
  assert.equal(up.requests[0]!.headers.te, 'trailers');
});

test('100 concurrent streams on one connection, repeated fields and cookies', async (t) => {
  const up = await startUpstream();
  t.after(() => up.close());
  const p = await startProxy(proxyTo(up.port));
  t.after(() => p.close());
  const session = connect(p.port);
  t.after(() => session.close());
  const replies = await Promise.all(Array.from({ length: 100 }, (_, i) =>
    h2request(session, { ':path': `/c/${i}`, cookie: ['a=1', 'b=2'], 'x-multi': ['one', 'two'] })));
  replies.forEach((r, i) => {
    assert.equal(r.status, 200);
    const b = JSON.parse(r.body.toString());
    assert.equal(b.url, `/c/${i}`);
    assert.equal(b.headers.cookie, 'a=1; b=2');
    assert.equal(b.headers['x-multi'], 'one, two');
  });
  const s = await statsOf(p);
  assert.equal(s.get('http.ingress.downstream_cx_http2_total'), 1);
  assert.equal(s.get('http.ingress.downstream_rq_http2_total'), 100);
});

test('h2load -n 2000 -c 4 -m 10 completes without errors', async (t) => {
  const up = await startUpstream(echo('load'));
  t.after(() => up.close());
  const p = await startProxy(proxyTo(up.port));
  t.after(() => p.close());
  const r = await run('h2load', ['-n', '2000', '-c', '4', '-m', '10', `http://127.0.0.1:${p.port}/load`], { timeout: 60_000 });
  assert.match(r.stdout, /requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored, 0 timeout/);
  assert.match(r.stdout, /status codes: 2000 2xx/);
});

/** An upstream that answers /hold/* only when released; other paths echo. */
async function holdingUpstream(t: { after(fn: () => unknown): void }) {
  const held: Array<() => void> = [];
  const closedEarly: string[] = [];
  const up = await startUpstream((req, res, body) => {
    if (req.url!.startsWith('/hold')) {
      res.on('close', () => { if (!res.writableFinished) closedEarly.push(req.url!); });
      held.push(() => { if (!res.destroyed) res.end(`released ${req.url}`); });
      return;
    }
    echo('up')(req, res, body);
  });
  t.after(() => up.close());
  return { up, held, closedEarly };
}

test('max_concurrent_streams is advertised and enforced with REFUSED_STREAM', async (t) => {
  const { up, held } = await holdingUpstream(t);
  const p = await startProxy(proxyTo(up.port, { extra: { http2_protocol_options: { max_concurrent_streams: 2 } } }));
  t.after(() => p.close());

  // A raw client that ignores the setting: three requests at once.
  const sock = net.connect(p.port, '127.0.0.1');
  t.after(() => sock.destroy());
  await once(sock, 'connect');
  const frame = (type: number, flags: number, id: number, payload: Buffer) => {
    const h = Buffer.alloc(9);
    h.writeUIntBE(payload.length, 0, 3); h[3] = type; h[4] = flags; h.writeUInt32BE(id, 5);
    return Buffer.concat([h, payload]);
  };
  // :method GET, :path /, :scheme http (static table), :authority "a" (literal, name index 1).
  const block = (path: string) => Buffer.concat([Buffer.from([0x82, 0x86, 0x41, 0x01, 0x61, 0x04, path.length]), Buffer.from(path)]);
  const frames: Array<{ type: number; flags: number; id: number; payload: Buffer }> = [];
  let acc = Buffer.alloc(0);
  const wanted = new Set<string>();
  let notify: (() => void) | null = null;
  sock.on('data', (d: Buffer) => {
    acc = Buffer.concat([acc, d]);
    while (acc.length >= 9) {
      const len = acc.readUIntBE(0, 3);
      if (acc.length < 9 + len) break;
      frames.push({ type: acc[3]!, flags: acc[4]!, id: acc.readUInt32BE(5) & 0x7fffffff, payload: acc.subarray(9, 9 + len) });
      acc = acc.subarray(9 + len);
    }
    notify?.();
  });
  const waitFor = (what: string, pred: () => boolean) => new Promise<void>((resolve) => {
    wanted.add(what);
    const check = () => { if (pred()) { notify = null; resolve(); } };
    notify = check;
    check();
  });
  sock.write(Buffer.concat([
    Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0)),
    frame(1, 5, 1, block('/hold/1')), frame(1, 5, 3, block('/hold/3')), frame(1, 5, 5, block('/hold/5')),
  ]));
  await waitFor('settings and RST_STREAM', () => frames.some((f) => f.type === 3 && f.id === 5));
  const settings = frames.find((f) => f.type === 4 && (f.flags & 1) === 0)!;
  const values = new Map<number, number>();
  for (let i = 0; i < settings.payload.length; i += 6) values.set(settings.payload.readUInt16BE(i), settings.payload.readUInt32BE(i + 2));
  assert.equal(values.get(3), 2, 'SETTINGS_MAX_CONCURRENT_STREAMS');
  const rst = frames.find((f) => f.type === 3 && f.id === 5)!;
  assert.equal(rst.payload.readUInt32BE(0), http2.constants.NGHTTP2_REFUSED_STREAM);
  // The two admitted streams are answered.
  await eventually(() => held.length === 2, 'two requests upstream');
  for (const r of held.splice(0)) r();
  await waitFor('two responses', () => frames.filter((f) => f.type === 1 && (f.id === 1 || f.id === 3)).length === 2);

  // node:http2 honours the setting once it has it: 6 requests on one session succeed, 2 at a time.
  const session = connect(p.port);
  t.after(() => session.close());
  const [remote] = await once(session, 'remoteSettings') as [http2.Settings];
  assert.equal(remote.maxConcurrentStreams, 2);
  const all = Promise.all(Array.from({ length: 6 }, (_, i) => h2request(session, { ':path': `/hold/n${i}` })));
  for (let done = 0; done < 6;) {
    await eventually(() => held.length > 0, 'a held request');
    assert.ok(held.length <= 2, `at most 2 streams at once, saw ${held.length}`);
    done += held.length;
    for (const r of held.splice(0)) r();
  }
  for (const r of await all) assert.equal(r.status, 200);
});

test('a client RST_STREAM cancels its upstream request and leaves the other streams alone', async (t) => {
  const { up, held, closedEarly } = await holdingUpstream(t);
  const p = await startProxy(proxyTo(up.port));
  t.after(() => p.close());
  const session = connect(p.port);
  t.after(() => session.close());
  const doomed = session.request({ ':path': '/hold/doomed' });
  doomed.on('error', () => { /* cancelled by us */ });
  const survivor = h2request(session, { ':path': '/hold/survivor' });
  await eventually(() => held.length === 2, 'both requests upstream');
  doomed.close(http2.constants.NGHTTP2_CANCEL);
  await eventually(() => closedEarly.includes('/hold/doomed'), 'the upstream request of the reset stream to be aborted');
  for (const r of held.splice(0)) r();
  const r = await survivor;
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'released /hold/survivor');
  const again = await h2request(session, { ':path': '/after' });
  assert.equal(again.status, 200);
  const s = await statsOf(p);
  assert.equal(s.get('http.ingress.downstream_rq_rx_reset'), 1);
  assert.equal(s.get('http.ingress.downstream_cx_http2_total'), 1);
});

test('drain sends GOAWAY; streams in flight finish, then the connection closes', async (t) => {
  const { up, held } = await holdingUpstream(t);
  const p = await startProxy(proxyTo(up.port));
  t.after(() => p.close());
  const session = connect(p.port);
  const inflight = [h2request(session, { ':path': '/hold/a' }), h2request(session, { ':path': '/hold/b' })];
  await eventually(() => held.length === 2, 'both requests upstream');
  const goaway = once(session, 'goaway');
  const closed = once(session, 'close');
  const shutdown = p.server.shutdown(5000);
  const [code] = await goaway as [number];
  assert.equal(code, http2.constants.NGHTTP2_NO_ERROR);
  for (const r of held.splice(0)) r();
  const replies = await Promise.all(inflight);
  assert.deepEqual(replies.map((r) => r.body.toString()), ['released /hold/a', 'released /hold/b']);
  await closed;
  await shutdown;
});

test('route timeout and stream idle timeout apply per stream', async (t) => {
  const { up, held } = await holdingUpstream(t);
  const p = await startProxy(proxyTo(up.port, {
    routes: [toCluster('/hold/slow', 'up', { timeout: '0.2s' }), toCluster('/', 'up')],
    extra: { stream_idle_timeout: '0.3s' },
  }));
  t.after(() => p.close());
  const session = connect(p.port);
  t.after(() => session.close());
  const slow = h2request(session, { ':path': '/hold/slow' });
  const idle = h2request(session, { ':path': '/hold/idle' });
  const fine = await h2request(session, { ':path': '/ok' });
  assert.equal(fine.status, 200);
  const [a, b] = await Promise.all([slow, idle]);
  assert.equal(a.status, 504);
  assert.equal(a.body.toString(), 'upstream request timeout');
  assert.equal(b.status, 504);
  assert.equal(b.body.toString(), 'stream timeout');
  held.splice(0);
  const after = await h2request(session, { ':path': '/ok' });
  assert.equal(after.status, 200, 'the connection outlives its streams\' timeouts');
});

/** A masked client text frame (RFC 6455 §5.2), payload under 126 bytes. */
function clientTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

test('WebSocket over HTTP/2 (RFC 8441): extended CONNECT becomes an HTTP/1.1 upgrade, 101 becomes 200, frames flow both ways', async (t) => {
  const { WebSocketServer } = await import('ws');
  const up = await startUpstream();
  t.after(() => up.close());
  const wss = new WebSocketServer({ server: up.server });
  t.after(() => new Promise<void>((r) => wss.close(() => r())));
  const upgradeHeaders: Array<Record<string, string | string[] | undefined>> = [];
  wss.on('headers', (_h, req) => upgradeHeaders.push(req.headers));
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo: ${String(m)}`)));

  const p = await startProxy(proxyTo(up.port, { extra: { upgrade_configs: [{ upgrade_type: 'websocket' }] } }));
  t.after(() => p.close());
  const session = connect(p.port);
  t.after(() => session.close());
  const [settings] = await once(session, 'remoteSettings') as [http2.Settings];
  assert.equal(settings.enableConnectProtocol, true);

  const stream = session.request({
    ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': '/chat',
    'sec-websocket-version': '13', 'sec-websocket-protocol': 'chat',
  }, { endStream: false });
  const [resp] = await once(stream, 'response') as [http2.IncomingHttpHeaders];
  assert.equal(resp[':status'], 200);
  assert.equal(resp['sec-websocket-protocol'], 'chat');
  assert.equal(resp['sec-websocket-accept'], undefined);
  assert.equal(resp.upgrade, undefined);

  const h = upgradeHeaders[0]!;
  assert.equal(h.upgrade, 'websocket');
  assert.equal(h.connection, 'upgrade');
  assert.match(String(h['sec-websocket-key']), /^[A-Za-z0-9+/]{22}==$/);
  assert.equal(h['sec-websocket-version'], '13');
  assert.equal(up.requests.length, 0, 'the upgrade is not a plain request');

  let got = Buffer.alloc(0);
  const reply = new Promise<string>((resolve) => {
    stream.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 2 && got.length >= 2 + got[1]!) resolve(got.subarray(2, 2 + got[1]!).toString());
    });
  });
  stream.write(clientTextFrame('hello over h2'));
  assert.equal(await reply, 'echo: hello over h2');
  assert.equal(got[0], 0x81, 'an unmasked text frame from the server');

  // Ending our side ends the upstream socket; the upstream closes and the stream ends cleanly.
  const closed = once(stream, 'close');
  stream.end();
  await closed;
  assert.equal(stream.rstCode, http2.constants.NGHTTP2_NO_ERROR);
  await eventually(() => wss.clients.size === 0, 'the upstream websocket to close');
  const s = await statsOf(p);
  assert.equal(s.get('http.ingress.downstream_cx_upgrades_total'), 1);
  assert.equal(s.get('http.ingress.downstream_cx_upgrades_active'), 0);
  const after = await h2request(session, { ':path': '/plain' });
  assert.equal(after.status, 200, 'the connection carries on after the tunnel');
});

test('extended CONNECT is refused when websocket upgrades are not enabled', async (t) => {
  const up = await startUpstream();
  t.after(() => up.close());
  const p = await startProxy(proxyTo(up.port, { extra: { http2_protocol_options: { allow_connect: true } } }));
  t.after(() => p.close());
  const session = connect(p.port);
  t.after(() => session.close());
  const [settings] = await once(session, 'remoteSettings') as [http2.Settings];
  assert.equal(settings.enableConnectProtocol, true);
  const stream = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': '/chat' }, { endStream: false });
  const [resp] = await once(stream, 'response') as [http2.IncomingHttpHeaders];
  assert.equal(resp[':status'], 403);
  stream.resume();
  stream.on('error', () => { /* the stream is reset once the reply is out */ });
  await once(stream, 'close');
  const s = await statsOf(p);
  assert.equal(s.get('http.ingress.downstream_rq_ws_on_non_ws_route'), 1);
});

const MiB = 1024 * 1024;
const BLOCK = Buffer.alloc(64 * 1024, 'weft h2 flow control. ');


test('a slow upstream stops the client: the stream\'s WINDOW_UPDATEs are withheld, nothing is lost', async (t) => {
  const total = 16 * MiB;
  let received = 0;
  let release: (() => void) | null = null;
  const up = await startUpstream((_req, res, body) => res.end(`got ${body.length}`));
  t.after(() => up.close());
  // Hold the upload: the upstream reads nothing until released.
  up.server.prependListener('request', (req) => {
    req.pause();
    release = () => req.resume();
    req.on('data', (c: Buffer) => { received += c.length; });
  });
  const p = await startProxy(proxyTo(up.port, { extra: { http2_protocol_options: { initial_stream_window_size: 65535 } } }));
  t.after(() => p.close());
  const session = connect(p.port);
  t.after(() => session.close());
  const req = session.request({ ':method': 'POST', ':path': '/upload', 'content-length': String(total) });
  const reply = new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
    req.on('error', reject);
  });
  // Written as the stream accepts it: `accepted` is what node:http2 took (and flow control let out).
  let accepted = 0;
  const pump = (): void => {
    while (accepted < total) {
      accepted += BLOCK.length;
      if (!req.write(BLOCK)) { req.once('drain', pump); return; }
    }
    req.end();
  };
  pump();
  await eventually(() => release !== null, 'the request upstream');
  const sent = await settled(() => accepted, 'the client to stall');
  assert.ok(sent < total / 2, `the client could send only what windows and socket buffers hold, sent ${sent} of ${total}`);
  release!();
  assert.equal(await reply, `got ${total}`);
  assert.equal(received, total);
});

test('a slow client stops the upstream: sendResponseData pushes back, the upstream resumes on drain', async (t) => {
  const total = 16 * MiB;
  let written = 0;
  const up = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-length': String(total) });
    const pump = (): void => {
      while (written < total) {
        written += BLOCK.length;
        if (!res.write(BLOCK)) { res.once('drain', pump); return; }
      }
      res.end();
    };
    pump();
  });
  t.after(() => up.close());
  const p = await startProxy(proxyTo(up.port));
  t.after(() => p.close());
  const session = connect(p.port);
  t.after(() => session.close());
  const req = session.request({ ':path': '/download' });
  req.pause(); // read nothing: the client's stream window (64 KiB by default) fills
  await once(req, 'response');
  const stalledAt = await settled(() => written, 'the upstream to stall');
  assert.ok(stalledAt < total / 2, `the proxy buffered only a bounded amount, upstream wrote ${stalledAt} of ${total}`);
  let got = 0;
  req.on('data', (c: Buffer) => { got += c.length; });
  req.resume();
  await once(req, 'end');
  assert.equal(got, total);
});

test('an upstream reset mid-response resets only that stream (RST_STREAM), the connection carries on', async (t) => {
  const { startRawServer } = await import('../helpers/upstream.js');
  const up = await startRawServer((s) => {
    s.once('data', (d: Buffer) => {
      if (d.toString('latin1').startsWith('GET /broken')) {
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial', () => s.destroy());
      } else {
        s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
      }
    });
  });
  t.after(() => up.close());
  const p = await startProxy(proxyTo(up.port));
  t.after(() => p.close());
  const session = connect(p.port);
  t.after(() => session.close());
  const broken = session.request({ ':path': '/broken' });
  let status: unknown;
  broken.on('response', (h) => { status = h[':status']; });
  broken.on('error', () => { /* expected: the reset */ });
  broken.resume();
  await new Promise((r) => broken.on('close', r)); // (events.once would reject on the 'error')
  assert.equal(status, 200);
  assert.equal(broken.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR);
  const fine = await h2request(session, { ':path': '/fine' });
  assert.deepEqual([fine.status, fine.body.toString()], [200, 'ok']);
  const s = await statsOf(p);
  assert.equal(s.get('http.ingress.downstream_rq_tx_reset'), 1);
});

test('idle_timeout closes an HTTP/2 connection without streams with GOAWAY', async (t) => {
  const up = await startUpstream();
  t.after(() => up.close());
  const p = await startProxy(proxyTo(up.port, { extra: { common_http_protocol_options: { idle_timeout: '0.2s' } } }));
  t.after(() => p.close());
  const session = connect(p.port);
  const r = await h2request(session, { ':path': '/once' });
  assert.equal(r.status, 200);
  const [code] = await once(session, 'goaway') as [number];
  assert.equal(code, http2.constants.NGHTTP2_NO_ERROR);
  await once(session, 'close');
  const s = await statsOf(p);
  assert.equal(s.get('http.ingress.downstream_cx_idle_timeout'), 1);
  assert.equal(s.get('http.ingress.downstream_cx_http2_active'), 0);
  assert.equal(s.get('http.ingress.downstream_cx_active'), 0);
});
