// Downstream HTTP/2 behaviours of the connection manager on Weft's own session, with raw frames
// (and, for h2 negotiated by ALPN on a TLS listener, curl and node:http2 over https):
// Expect: 100-continue (an interim 100 HEADERS before the final head), a response complete
// before the request (RST_STREAM(NO_ERROR) once the response is out, RFC 9113 §8.1, also when
// the client's window held the response back), a request body arriving in the same read as its
// HEADERS, and a bodiless local reply whose END_STREAM closes the stream inside the send (no
// downstream reset counted, no DC flag).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProxy } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { bootstrap, cluster, direct, FILE_LOG_TYPE, hcm, listener, simple, toCluster, waitForLines, type Obj } from '../helpers/bootstrap.js';
import { makePki } from '../helpers/certs.js';
import { curl } from '../helpers/tls-clients.js';
import { Flag, FrameType, h2Frame, h2Request, h2WindowUpdate, rawH2Client, type H2Frame, type RawH2Client } from '../helpers/adversarial.js';
import { createHpackDecoder } from '../../src/proxy/codec/http2/hpack/index.js';

type T = { after(fn: () => unknown): void };

async function setup(t: T, extra: Obj = {}, routes?: Obj[]): Promise<{ port: number; up: Upstream; stat(name: string): number }> {
  const up = await startUpstream();
  t.after(() => up.close());
  const p = await startProxy(simple({ routes: routes ?? [toCluster('/', 'up')], clusters: [cluster('up', [up.port])], extra }));
  t.after(() => p.close());
  return { port: p.port, up, stat: (n) => p.server.stats.value(n) ?? 0 };
}

async function client(t: T, port: number, settings: Array<[number, number]> = []): Promise<RawH2Client> {
  const c = await rawH2Client(port, { settings });
  t.after(() => c.close());
  return c;
}

const post = (path: string, extra: Array<[string, string]> = []): Array<[string, string]> =>
  [[':method', 'POST'], [':scheme', 'http'], [':authority', 'edge.test'], [':path', path], ...extra];
const heads = (c: RawH2Client, id: number) => c.frames.filter((f) => f.type === FrameType.HEADERS && f.streamId === id);
const ended = (c: RawH2Client, id: number) =>
  c.frames.some((f) => f.streamId === id && (f.type === FrameType.HEADERS || f.type === FrameType.DATA) && (f.flags & Flag.END_STREAM) !== 0);
/** Every header block of the connection decoded in order (the dynamic table needs them all): frame → fields. */
function decodeAll(c: RawH2Client): Map<H2Frame, string[]> {
  const dec = createHpackDecoder(4096);
  const out = new Map<H2Frame, string[]>();
  for (const f of c.frames) {
    if (f.type !== FrameType.HEADERS) continue;
    let b = f.payload;
    if ((f.flags & Flag.PADDED) !== 0) b = b.subarray(1, b.length - b[0]!);
    if ((f.flags & Flag.PRIORITY) !== 0) b = b.subarray(5);
    const fields: string[] = [];
    dec.decode(b, fields, 1 << 20);
    out.set(f, fields);
  }
  return out;
}
const statusOf = (fields: string[] | undefined) => fields?.[fields.indexOf(':status') + 1];
const bodyOf = (c: RawH2Client, id: number) =>
  Buffer.concat(c.frames.filter((f) => f.type === FrameType.DATA && f.streamId === id).map((f) => f.payload)).toString();

test('Expect: 100-continue gets an interim 100 HEADERS first; the body then reaches the upstream', async (t) => {
  const { port, up } = await setup(t);
  const c = await client(t, port);
  c.write(h2Request(1, post('/upload', [['expect', '100-continue'], ['content-length', '5']]), false));
  await c.waitFor(() => heads(c, 1).length === 1, 'the interim head');
  assert.equal(statusOf(decodeAll(c).get(heads(c, 1)[0]!)), '100');
  assert.equal((heads(c, 1)[0]!.flags & Flag.END_STREAM), 0);
  assert.equal(up.requests.length, 0, 'nothing upstream before the body');
  c.write(h2Frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from('hello')));
  await c.waitFor(() => ended(c, 1), 'the response');
  assert.equal(statusOf(decodeAll(c).get(heads(c, 1)[1]!)), '200');
  assert.equal(up.requests[0]!.body.toString(), 'hello');
});

test('a request body in the same read as its HEADERS reaches the upstream whole', async (t) => {
  const { port, up } = await setup(t);
  const c = await client(t, port);
  c.write([
    h2Request(1, post('/same-read'), false),
    h2Frame(FrameType.DATA, 0, 1, Buffer.from('abc')),
    h2Frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from('def')),
  ]);
  await c.waitFor(() => ended(c, 1), 'the response');
  assert.equal(up.requests[0]!.body.toString(), 'abcdef');
});

test('a response complete before the request: RST_STREAM(NO_ERROR) after it, the connection goes on', async (t) => {
  const { port, up, stat } = await setup(t, {}, [direct({ prefix: '/early' }, 'early answer', 413), toCluster('/', 'up')]);
  const c = await client(t, port);
  c.write([h2Request(1, post('/early'), false), h2Frame(FrameType.DATA, 0, 1, Buffer.from('part of a body'))]);
  await c.waitFor(() => c.rstCode(1) !== undefined, 'RST_STREAM on stream 1');
  assert.equal(c.rstCode(1), 0, 'NO_ERROR');
  assert.ok(ended(c, 1), 'the response was complete before the reset');
  assert.equal(statusOf(decodeAll(c).get(heads(c, 1)[0]!)), '413');
  assert.equal(bodyOf(c, 1), 'early answer');
  const rstAt = c.frames.findIndex((f) => f.type === FrameType.RST_STREAM && f.streamId === 1);
  assert.ok(c.frames.findIndex((f) => f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0) < rstAt, 'END_STREAM before RST_STREAM');
  assert.equal(stat('http2.tx_reset'), 0, 'NO_ERROR is no reset');
  c.write(h2Request(3, post('/next'), true));
  await c.waitFor(() => ended(c, 3), 'the next stream answered');
  assert.equal(statusOf(decodeAll(c).get(heads(c, 3)[0]!)), '200');
  assert.equal(up.requests.length, 1);
});

test('an early response held back by the client\'s window: RST_STREAM(NO_ERROR) once the window lets it out', async (t) => {
  const body = 'x'.repeat(3000);
  const { port } = await setup(t, { stream_idle_timeout: '0.5s' }, [direct({ prefix: '/early' }, body, 200), toCluster('/', 'up')]);
  // A stream window of 1000 bytes: the 3000-byte body waits for WINDOW_UPDATEs.
  const c = await client(t, port, [[4, 1000]]);
  c.write([h2Request(1, post('/early'), false), h2Frame(FrameType.DATA, 0, 1, Buffer.from('x'))]);
  await c.waitFor(() => bodyOf(c, 1).length === 1000, 'the first 1000 bytes');
  assert.equal(c.rstCode(1), undefined, 'no reset while the response is held back');
  c.write(h2WindowUpdate(1, 5000));
  await c.waitFor(() => c.rstCode(1) !== undefined, 'RST_STREAM on stream 1');
  assert.equal(c.rstCode(1), 0, 'NO_ERROR, not a flush timeout');
  assert.equal(bodyOf(c, 1), body, 'the whole response first');
});

test('a bodiless local reply ends the stream inside the send: no downstream reset, no DC flag', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-h2e-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'access.log');
  const { port, stat } = await setup(t, {
    access_log: [{ name: 'envoy.access_loggers.file', typed_config: { '@type': FILE_LOG_TYPE, path: log, log_format: { text_format_source: { inline_string: '%RESPONSE_CODE% %RESPONSE_FLAGS%\n' } } } }],
  }, [direct({ prefix: '/empty' }, '', 204), toCluster('/', 'up')]);
  const c = await client(t, port);
  c.write(h2Request(1, [[':method', 'GET'], [':scheme', 'http'], [':authority', 'edge.test'], [':path', '/empty']], true));
  await c.waitFor(() => ended(c, 1), 'the response');
  assert.deepEqual(await waitForLines(log, 1), ['204 -']);
  assert.equal(stat('http.ingress.downstream_rq_rx_reset'), 0);
  assert.equal(stat('http2.rx_reset'), 0);
});

test('h2 by ALPN on a TLS listener: curl --http2 and node:http2 over https, a POST with trailers, the scheme is https', async (t) => {
  const pki = await makePki();
  t.after(() => pki.close());
  const leaf = await pki.issue('h2', { sans: ['DNS:localhost'] });
  const up = await startUpstream();
  t.after(() => up.close());
  const tlsSocket = {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      common_tls_context: { tls_certificates: [{ certificate_chain: { filename: leaf.cert }, private_key: { filename: leaf.key } }], alpn_protocols: ['h2', 'http/1.1'] },
    },
  };
  const p = await startProxy(bootstrap({
    listeners: [listener({ chains: [{ filters: [hcm({ routes: [toCluster('/', 'up')] })], transport_socket: tlsSocket }] })],
    clusters: [cluster('up', [up.port])],
  }));
  t.after(() => p.close());
  const r = await curl(['-sS', '--http2', '--cacert', pki.cert, '-o', '-', '-w', '\n%{http_version} %{http_code}', `https://localhost:${p.port}/curl`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\n2 200$/);
  assert.equal(up.requests[0]!.headers['x-forwarded-proto'], 'https');

  const session = http2.connect(`https://localhost:${p.port}`, { ca: readFileSync(pki.cert) });
  t.after(() => session.close());
  const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': '/post' }, { waitForTrailers: true });
    req.on('wantTrailers', () => req.sendTrailers({ 'x-check': 'tls' }));
    let status = 0, body = '';
    req.on('response', (h) => { status = Number(h[':status']); });
    req.setEncoding('utf8');
    req.on('data', (d: string) => { body += d; });
    req.on('end', () => resolve({ status, body }));
    req.on('error', reject);
    req.end('over tls');
  });
  assert.equal(reply.status, 200);
  const seen = up.requests.find((q) => q.url === '/post')!;
  assert.equal(seen.body.toString(), 'over tls');
  assert.equal(seen.trailers['x-check'], 'tls');
  assert.equal(p.server.stats.value('http.ingress.downstream_cx_http2_total'), 2);
});
