// HTTP/2 interop: real clients and servers through the proxy. Downstream: curl (prior knowledge
// h2c, and TLS with ALPN h2), nghttp (-n with a POST body; a large download with small windows),
// h2load (all requests succeed), Python's `h2` package (Debian python3-h2; a strict state machine:
// concurrent GET, flow-controlled POST and download), Node's http2 client, grpc-js. Upstream (a
// cluster with http2_protocol_options): a Node http2 server (bodies both ways, trailers) and a
// grpc-js server (unary, client/server/bidi streaming, an error status), and a second Weft proxy
// (h2 → h2 through two hops, h2load over it).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { bootstrap, cluster, hcm, listener, toCluster } from '../../helpers/bootstrap.js';
import { startProxyChild, type ProxyChild } from '../../helpers/adversarial.js';
import { makePki, type TestPki } from '../../helpers/certs.js';
import { h2Options, startH2Upstream, type H2Upstream } from '../../helpers/h2-upstream.js';
import { curl } from '../../helpers/tls-clients.js';
import { startUpstream, type Upstream } from '../../helpers/upstream.js';
import { conformanceUpstream } from './target.js';

const run = promisify(execFile);
const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

// ─────────────────────────── gRPC: a generic Echo service over raw Buffers ───────────────────────────

const id = (b: Buffer): Buffer => b;
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/interop.Echo/${name}`, requestStream, responseStream,
  requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id,
});
const ECHO: grpc.ServiceDefinition = {
  Unary: method('Unary', false, false), Collect: method('Collect', true, false),
  Spray: method('Spray', false, true), Chat: method('Chat', true, true),
};
const EchoClient = grpc.makeGenericClientConstructor(ECHO, 'Echo');
type EchoClientT = InstanceType<typeof EchoClient> & Record<string, (...a: unknown[]) => unknown>;

async function startGrpcServer(): Promise<{ port: number; close(): Promise<void> }> {
  const server = new grpc.Server();
  server.addService(ECHO, {
    Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      if (call.request.toString() === 'fail') cb({ code: grpc.status.NOT_FOUND, details: 'no such echo' });
      else cb(null, Buffer.concat([Buffer.from('echo:'), call.request]));
    },
    Collect: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const parts: Buffer[] = [];
      call.on('data', (b: Buffer) => parts.push(b));
      call.on('end', () => cb(null, Buffer.from(parts.map(String).join(','))));
    },
    Spray: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      for (let i = 0; i < Number(call.request.toString()); i++) call.write(Buffer.from(`m${i}`));
      call.end();
    },
    Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (b: Buffer) => call.write(Buffer.concat([Buffer.from('re:'), b])));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, close: () => new Promise<void>((r) => server.tryShutdown(() => r())).then(() => server.forceShutdown()) };
}

// ─────────────────────────── Python h2 client ───────────────────────────

/** Concurrent GET, a 200 KB POST sent within the proxy's windows, and a 1 MB download acknowledged as read; prints JSON. */
const PY_CLIENT = String.raw`
import json, socket, sys
import h2.config, h2.connection, h2.events
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
c = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding='utf-8'))
c.initiate_connection()
c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 32768})
streams = {}
def start(name, method, path, body=None):
    sid = c.get_next_available_stream_id()
    hdrs = [(':method', method), (':scheme', 'http'), (':path', path), (':authority', 'python.test')]
    if body is not None: hdrs.append(('content-length', str(len(body))))
    c.send_headers(sid, hdrs, end_stream=body is None)
    streams[sid] = {'name': name, 'status': None, 'body': bytearray(), 'ended': False, 'pending': body}
def pump():
    for sid, st in streams.items():
        body = st['pending']
        while body:
            n = min(c.local_flow_control_window(sid), c.max_outbound_frame_size, len(body))
            if n <= 0: break
            c.send_data(sid, body[:n]); body = body[n:]
        if body is not None and len(body) == 0:
            c.end_stream(sid); body = None
        st['pending'] = body
start('get', 'GET', '/py?x=1')
start('post', 'POST', '/py-post', b'p' * 200000)
start('big', 'GET', '/big/1000000')
pump(); s.sendall(c.data_to_send())
errors = []
while not all(st['ended'] for st in streams.values()):
    d = s.recv(65536)
    if not d: errors.append('connection closed'); break
    for ev in c.receive_data(d):
        if isinstance(ev, h2.events.ResponseReceived):
            streams[ev.stream_id]['status'] = dict(ev.headers)[':status']
        elif isinstance(ev, h2.events.DataReceived):
            streams[ev.stream_id]['body'] += ev.data
            c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            streams[ev.stream_id]['ended'] = True
        elif isinstance(ev, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
            errors.append(repr(ev))
            if isinstance(ev, h2.events.ConnectionTerminated): break
    pump(); s.sendall(c.data_to_send())
    if errors: break
c.close_connection(); s.sendall(c.data_to_send()); s.close()
out = {'errors': errors}
for st in streams.values():
    out[st['name']] = {'status': st['status'], 'len': len(st['body']), 'head': bytes(st['body'][:300]).decode('latin1')}
print(json.dumps(out))
`;

// ─────────────────────────── the proxies ───────────────────────────

interface Env {
  px: ProxyChild;
  /** The second hop: listener main → HTTP/1.1 upstream; the first proxy's cluster `hop` points at it. */
  hop: ProxyChild;
  h2c: number;
  tls: number;
  pki: TestPki;
  up: Upstream;
  h2up: H2Upstream;
  grpcPort: number;
}

function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer):
  Promise<{ status: number; body: Buffer; trailers: http2.IncomingHttpHeaders | null; headers: http2.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    let status = 0, got: http2.IncomingHttpHeaders = {}, trailers: http2.IncomingHttpHeaders | null = null;
    const chunks: Buffer[] = [];
    req.on('response', (h) => { status = Number(h[':status']); got = h; });
    req.on('trailers', (t) => { trailers = t; });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status, body: Buffer.concat(chunks), trailers, headers: got }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

describe('HTTP/2 interop through the proxy', () => {
  let env: Env;
  const closers: Array<() => Promise<void> | void> = [];

  before(async () => {
    const pki = await makePki();
    closers.push(() => pki.close());
    const leaf = await pki.issue('interop', { sans: ['DNS:interop.test'] });
    const up = await startUpstream(conformanceUpstream);
    closers.push(() => up.close());
    const h2up = await startH2Upstream((stream, seen) => {
      stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-h2-upstream': 'yes' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-up-trailer': 'done' }));
      stream.end(JSON.stringify({ path: seen.headers[':path'], bodyLength: seen.body.length, trailer: seen.trailers?.['x-req-trailer'] ?? null }));
    });
    closers.push(() => h2up.close());
    const g = await startGrpcServer();
    closers.push(() => g.close());
    const hop = await startProxyChild(bootstrap({
      admin: true,
      listeners: [listener({ name: 'main', filter: hcm({ statPrefix: 'hop', routes: [toCluster('/', 'up')] }) })],
      clusters: [cluster('up', [up.port])],
    }), ['main']);
    closers.push(() => hop.close());
    // /hop/ goes to the second proxy with the prefix stripped, so it sees the path the client meant.
    const filter = hcm({
      routes: [toCluster('/interop.Echo/', 'grpc'), toCluster('/h2up/', 'h2up'), toCluster('/hop/', 'hop', { prefix_rewrite: '/' }), toCluster('/', 'up')],
      extra: { http2_protocol_options: {} },
    });
    const px = await startProxyChild(bootstrap({
      admin: true,
      listeners: [
        listener({ name: 'h2c', filter }),
        listener({ name: 'tls', chains: [{
          filters: [filter],
          transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: {
            '@type': DOWNSTREAM_TLS,
            common_tls_context: { tls_certificates: [{ certificate_chain: { filename: leaf.cert }, private_key: { filename: leaf.key } }], alpn_protocols: ['h2', 'http/1.1'] },
          } },
        }] }),
      ],
      clusters: [
        cluster('up', [up.port]),
        cluster('h2up', [h2up.port], h2Options()),
        cluster('grpc', [g.port], h2Options()),
        cluster('hop', [hop.port('main')], h2Options()),
      ],
    }), ['h2c', 'tls']);
    closers.push(() => px.close());
    env = { px, hop, h2c: px.port('h2c'), tls: px.port('tls'), pki, up, h2up, grpcPort: g.port };
  });

  after(async () => { for (const c of closers.reverse()) await c(); });

  test('curl --http2-prior-knowledge: GET and POST', async () => {
    const url = `http://127.0.0.1:${env.h2c}`;
    const get = await curl(['--http2-prior-knowledge', '-w', '\n%{http_version} %{http_code}', `${url}/curl?x=1`]);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stdout, /\n2 200$/);
    assert.equal(JSON.parse(get.stdout.slice(0, get.stdout.lastIndexOf('\n'))).url, '/curl?x=1');
    const post = await curl(['--http2-prior-knowledge', '--data-binary', 'name=weft', `${url}/form`]);
    assert.equal(JSON.parse(post.stdout).body, 'name=weft');
  });

  test('curl over TLS negotiates h2 by ALPN', async () => {
    const r = await curl(['--http2', '--cacert', env.pki.cert, '--resolve', `interop.test:${env.tls}:127.0.0.1`, '-w', '\n%{http_version} %{http_code}',
      `https://interop.test:${env.tls}/tls`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\n2 200$/);
    const e = JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf('\n'))) as { headers: Record<string, string> };
    assert.equal(e.headers['x-forwarded-proto'], 'https');
  });

  test('nghttp -n with a POST body, and a 4 MB download through 64 KiB windows (flow control)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-nghttp-'));
    try {
      const file = join(dir, 'body');
      writeFileSync(file, Buffer.alloc(300_000, 'n'));
      const post = await run('nghttp', ['-n', '-v', '-d', file, `http://127.0.0.1:${env.h2c}/ng-post`]);
      assert.match(post.stdout, /recv \(stream_id=\d+\) :status: 200/);
      assert.match(post.stdout, /recv DATA frame <length=\d+, flags=0x01, stream_id=\d+>/);
      const seen = env.up.requests.find((r) => r.url === '/ng-post');
      assert.equal(seen?.body.length, 300_000);
      const big = await run('nghttp', ['-w', '16', '-W', '16', `http://127.0.0.1:${env.h2c}/big/4000000`], { maxBuffer: 16 * 1024 * 1024, encoding: 'buffer' });
      assert.equal(big.stdout.length, 4_000_000);
      assert.ok((big.stdout as Buffer).every((b) => b === 0x78));
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  test('h2load: 400 requests on 4 connections, 10 streams each, all succeed', async () => {
    const r = await run('h2load', ['-n', '400', '-c', '4', '-m', '10', `http://127.0.0.1:${env.h2c}/h2load`]);
    assert.match(r.stdout, /400 succeeded, 0 failed, 0 errored/);
    assert.match(r.stdout, /status codes: 400 2xx/);
  });

  test('Python h2 (python3-h2): concurrent GET, flow-controlled 200 KB POST and 1 MB download', async () => {
    const r = await run('/usr/bin/python3', ['-c', PY_CLIENT, String(env.h2c)], { timeout: 30_000 });
    const out = JSON.parse(r.stdout) as Record<string, { status: string; len: number; head: string }> & { errors: string[] };
    assert.deepEqual(out.errors, []);
    assert.equal(out.get!.status, '200');
    assert.equal(JSON.parse(out.get!.head).url, '/py?x=1');
    assert.equal(out.post!.status, '200');
    assert.match(out.post!.head, /"method":"POST"/);
    assert.equal(out.big!.len, 1_000_000);
  });

  test('Node http2 client: 50 concurrent streams, a 1 MB POST, request trailers', async () => {
    const s = http2.connect(`http://127.0.0.1:${env.h2c}`);
    s.on('error', () => { /* asserted through requests */ });
    try {
      const many = await Promise.all(Array.from({ length: 50 }, (_, i) => h2request(s, { ':path': `/node/${i}` })));
      many.forEach((r, i) => { assert.equal(r.status, 200); assert.equal(JSON.parse(r.body.toString()).url, `/node/${i}`); });
      const big = await h2request(s, { ':method': 'POST', ':path': '/node-post' }, Buffer.alloc(1_000_000, 'b'));
      assert.equal(JSON.parse(big.body.toString()).body.length, 1_000_000);
    } finally { s.close(); }
  });

  test('h2 → h2: a Node http2 upstream gets the body and the request trailers; response trailers come back', async () => {
    const s = http2.connect(`http://127.0.0.1:${env.h2c}`);
    s.on('error', () => { /* asserted through requests */ });
    try {
      const r = await new Promise<{ status: number; body: string; trailers: http2.IncomingHttpHeaders | null }>((resolve, reject) => {
        const req = s.request({ ':method': 'POST', ':path': '/h2up/echo' }, { waitForTrailers: true });
        let status = 0, trailers: http2.IncomingHttpHeaders | null = null, body = '';
        req.on('response', (h) => { status = Number(h[':status']); });
        req.on('trailers', (t) => { trailers = t; });
        req.on('data', (c: Buffer) => { body += c.toString(); });
        req.on('end', () => resolve({ status, body, trailers }));
        req.on('error', reject);
        req.on('wantTrailers', () => req.sendTrailers({ 'x-req-trailer': 'sent' }));
        req.end(Buffer.alloc(2_000_000, 'u'));
      });
      assert.equal(r.status, 200);
      const e = JSON.parse(r.body) as { path: string; bodyLength: number; trailer: string | null };
      assert.deepEqual(e, { path: '/h2up/echo', bodyLength: 2_000_000, trailer: 'sent' });
      assert.equal(r.trailers?.['x-up-trailer'], 'done');
    } finally { s.close(); }
  });

  test('h2 → h2 through a second Weft proxy: curl and h2load over two hops', async () => {
    const r = await curl(['--http2-prior-knowledge', `http://127.0.0.1:${env.h2c}/hop/two-hops?x=2`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).url, '/two-hops?x=2');
    const load = await run('h2load', ['-n', '200', '-c', '2', '-m', '10', `http://127.0.0.1:${env.h2c}/hop/load`]);
    assert.match(load.stdout, /200 succeeded, 0 failed, 0 errored/);
    assert.ok(await env.hop.stat('http.hop.downstream_rq_http2_total') >= 201, 'the second hop served HTTP/2');
  });

  test('grpc-js client → proxy → grpc-js server: unary, client/server/bidi streaming, an error status', async () => {
    const client = new EchoClient(`127.0.0.1:${env.h2c}`, grpc.credentials.createInsecure()) as EchoClientT;
    try {
      const unary = await new Promise<Buffer>((resolve, reject) =>
        client.Unary(Buffer.from('hi'), (e: grpc.ServiceError | null, r: Buffer) => (e ? reject(e) : resolve(r))));
      assert.equal(unary.toString(), 'echo:hi');
      const err = await new Promise<grpc.ServiceError>((resolve, reject) =>
        client.Unary(Buffer.from('fail'), (e: grpc.ServiceError | null) => (e ? resolve(e) : reject(new Error('expected an error')))));
      assert.equal(err.code, grpc.status.NOT_FOUND);
      assert.equal(err.details, 'no such echo');
      const collected = await new Promise<Buffer>((resolve, reject) => {
        const call = client.Collect((e: grpc.ServiceError | null, r: Buffer) => (e ? reject(e) : resolve(r))) as grpc.ClientWritableStream<Buffer>;
        for (const m of ['a', 'b', 'c']) call.write(Buffer.from(m));
        call.end();
      });
      assert.equal(collected.toString(), 'a,b,c');
      const sprayed = await new Promise<string[]>((resolve, reject) => {
        const got: string[] = [];
        const call = client.Spray(Buffer.from('100')) as grpc.ClientReadableStream<Buffer>;
        call.on('data', (b: Buffer) => got.push(b.toString()));
        call.on('end', () => resolve(got));
        call.on('error', reject);
      });
      assert.equal(sprayed.length, 100);
      assert.equal(sprayed[99], 'm99');
      const chat = await new Promise<string[]>((resolve, reject) => {
        const got: string[] = [];
        const call = client.Chat() as grpc.ClientDuplexStream<Buffer, Buffer>;
        call.on('data', (b: Buffer) => { got.push(b.toString()); if (got.length < 3) call.write(Buffer.from(`q${got.length}`)); else call.end(); });
        call.on('end', () => resolve(got));
        call.on('error', reject);
        call.write(Buffer.from('q0'));
      });
      assert.deepEqual(chat, ['re:q0', 're:q1', 're:q2']);
    } finally { client.close(); }
  });
});
