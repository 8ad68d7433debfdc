// HTTP/2 conformance of the proxy as a client (RFC 9113, RFC 7541): clusters with
// http2_protocol_options point at hand-driven HTTP/2 servers (raw-upstream.ts) that answer with
// valid and invalid frames; HTTP/1.1 clients send the requests. The proxy must treat a server
// preface that is not SETTINGS, invalid SETTINGS, PUSH_PROMISE (it sent ENABLE_PUSH 0),
// server-initiated streams, DATA on stream 0 and undecodable header blocks as connection errors
// (GOAWAY with the RFC's code), malformed responses (RFC 9113 §8.1.1, §8.3.2: upper-case or
// connection-specific names, no :status, request pseudo-headers, pseudo-headers in trailers,
// content-length mismatch) as stream errors PROTOCOL_ERROR with a 5xx for the client, and it must
// honour the server's SETTINGS (max concurrent streams, initial window, header table size), answer
// its PINGs, and accept 1xx heads, CONTINUATION, padding and dynamic-table references.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrap, cluster, hcm, listener, request, toCluster, type Reply } from '../../helpers/bootstrap.js';
import { startProxyChild, waitUntil, type ProxyChild } from '../../helpers/adversarial.js';
import { h2Options } from '../../helpers/h2-upstream.js';
import { continuation, data, E, errorName, F, headers, ping, pushPromise, S, settings, T } from '../../helpers/h2-frames.js';
import { encodeReps } from '../../helpers/h2-hpack.js';
import { startRawH2Upstream, type RawH2Upstream, type UpConn, type UpStream } from './raw-upstream.js';

const respond = (conn: UpConn, s: UpStream, fields: Array<[string, string]>, body?: string) => {
  conn.send(headers(s.id, fields, { end: body === undefined }), ...(body === undefined ? [] : [data(s.id, body, { end: true })]));
};

/** The main upstream's answers, by :path. */
function mainHandler(conn: UpConn, s: UpStream): void {
  const path = conn.path(s);
  const ok: Array<[string, string]> = [[':status', '200']];
  switch (path) {
    case '/ok': return respond(conn, s, ok, 'ok');
    case '/upper': return respond(conn, s, [[':status', '200'], ['X-Upper', '1']], 'x');
    case '/conn-hdr': return respond(conn, s, [[':status', '200'], ['connection', 'close']], 'x');
    case '/no-status': return respond(conn, s, [['x-a', '1']], 'x');
    case '/req-pseudo': return respond(conn, s, [[':status', '200'], [':path', '/']], 'x');
    case '/trailer-pseudo':
      return conn.send(headers(s.id, ok), data(s.id, 'x'), headers(s.id, [[':status', '200']], { end: true }));
    case '/cl-mismatch': return respond(conn, s, [[':status', '200'], ['content-length', '10']], 'abcd');
    case '/push': return conn.send(pushPromise(s.id, 2, [[':method', 'GET'], [':scheme', 'http'], [':path', '/pushed'], [':authority', 'x']]));
    case '/even': return conn.send(headers(2, ok, { end: true }));
    case '/data0': return conn.send(data(0, 'x', { end: true }));
    case '/bad-hpack': return conn.send(headers(s.id, Buffer.from([0x80]), { end: true }));
    case '/dyn': return conn.send(headers(s.id, encodeReps([{ t: 'indexed', index: 8 }, { t: 'literal', mode: 'incremental', name: 'x-dyn', value: 'v1' }, { t: 'indexed', index: 62 }]), { end: true }));
    case '/continuation': {
      const block = headers(s.id, [[':status', '200'], ['x-a', 'a'.repeat(50)], ['x-b', 'b'.repeat(50)]]).subarray(9);
      return conn.send(headers(s.id, block.subarray(0, 10), { endHeaders: false }), continuation(s.id, block.subarray(10, 60), false),
        continuation(s.id, block.subarray(60), true), data(s.id, 'continued', { end: true }));
    }
    case '/padded': return conn.send(headers(s.id, ok, { pad: { length: 20 } }), data(s.id, 'padded', { end: true, pad: { length: 100 } }));
    case '/informational': return conn.send(headers(s.id, [[':status', '100']]), headers(s.id, ok), data(s.id, 'final', { end: true }));
    default: return respond(conn, s, ok, JSON.stringify({ path, length: s.body.length }));
  }
}

const SERVERS: Record<string, Omit<Parameters<typeof startRawH2Upstream>[0], 'onRequest'> & { onRequest?: Parameters<typeof startRawH2Upstream>[0]['onRequest'] }> = {
  main: {},
  pingfirst: { preface: ping(Buffer.from('notfirst')) },
  badsettings: { preface: settings([[S.MAX_FRAME_SIZE, 100]]) },
  window10: { settings: [[S.INITIAL_WINDOW_SIZE, 10]] },
  table0: { settings: [[S.HEADER_TABLE_SIZE, 0]], headerTableSize: 0 },
  pinger: { preface: Buffer.concat([settings(), ping(Buffer.from('pingpong'))]) },
};

describe('HTTP/2 conformance: the proxy as a client (upstream)', () => {
  let px: ProxyChild;
  const ups: Record<string, RawH2Upstream> = {};
  let held: Array<() => void> = [];
  let seen = 0;

  before(async () => {
    for (const [name, o] of Object.entries(SERVERS)) ups[name] = await startRawH2Upstream({ ...o, onRequest: o.onRequest ?? mainHandler });
    // streams1: one stream at a time; the first answer waits for a second request (or 500 ms), so a proxy that opens two streams shows it.
    ups.streams1 = await startRawH2Upstream({
      settings: [[S.MAX_CONCURRENT_STREAMS, 1]],
      onRequest: (conn, s) => {
        seen++;
        const answer = () => respond(conn, s, [[':status', '200']], 'one');
        if (seen === 1) { const t = setTimeout(() => { held = []; answer(); }, 500); held.push(() => { clearTimeout(t); answer(); }); } else { for (const h of held) h(); held = []; answer(); }
      },
    });
    // empties / empties3: three empty DATA frames in a row before the body (Envoy's
    // max_consecutive_inbound_frames_with_empty_payload: default 1; the cluster of empties3 sets 3).
    const empties = (conn: UpConn, s: UpStream) => conn.send(headers(s.id, [[':status', '200']]), data(s.id, ''), data(s.id, ''), data(s.id, ''), data(s.id, 'body', { end: true }));
    ups.empties = await startRawH2Upstream({ onRequest: empties });
    ups.empties3 = await startRawH2Upstream({ onRequest: empties });
    const names = Object.keys(ups);
    px = await startProxyChild(bootstrap({
      admin: true,
      listeners: [listener({ name: 'main', filter: hcm({ routes: [...names.filter((n) => n !== 'main').map((n) => toCluster(`/c/${n}/`, n, { prefix_rewrite: '/' })), toCluster('/', 'main')] }) })],
      clusters: names.map((n) => cluster(n, [ups[n]!.port], h2Options(n === 'empties3' ? { max_consecutive_inbound_frames_with_empty_payload: 3 } : {}))),
    }), ['main']);
  });

  after(async () => {
    await px?.close();
    for (const u of Object.values(ups)) await u.close();
  });

  const get = async (path: string, o: { method?: string; body?: string } = {}): Promise<Reply | Error> => {
    try { return await request(px.port('main'), path, o); } catch (e) { return e as Error; }
  };
  const framesOf = (conn: UpConn, type: number, streamId?: number) => conn.frames.filter((f) => f.type === type && (streamId === undefined || f.streamId === streamId));
  /** Waits for RST_STREAM (or GOAWAY) with `code` from the proxy about the stream of `path` on upstream `up`. */
  async function upstreamGot(up: RawH2Upstream, path: string, kind: 'rst' | 'goaway', code: number): Promise<void> {
    const check = () => {
      const f = up.find(path);
      if (f === undefined) return false;
      const frames = kind === 'rst' ? framesOf(f.conn, T.RST_STREAM, f.stream.id) : framesOf(f.conn, T.GOAWAY);
      return frames.some((x) => x.payload.readUInt32BE(kind === 'rst' ? 0 : 4) === code);
    };
    await waitUntil(check, 5_000, `${kind === 'rst' ? 'RST_STREAM' : 'GOAWAY'}(${errorName(code)}) from the proxy for ${path}`).catch(() => {
      const f = up.find(path);
      const got = f === undefined ? 'the request never arrived' : f.conn.frames.map((x) => `${x.type}/${x.streamId}${x.type === T.RST_STREAM ? `(${errorName(x.payload.readUInt32BE(0))})` : x.type === T.GOAWAY ? `(${errorName(x.payload.readUInt32BE(4))})` : ''}`).join(' ');
      assert.fail(`expected ${kind === 'rst' ? 'RST_STREAM' : 'GOAWAY'}(${errorName(code)}) from the proxy for ${path}; upstream saw frames (type/stream): ${got}`);
    });
  }
  const is5xx = (r: Reply | Error) => r instanceof Error || r.status >= 500;

  test('flood limits apply upstream and a cluster\'s http2_protocol_options sets them: 3 empty DATA frames in a row are a flood at Envoy\'s default (1), not at 3', async () => {
    assert.ok(is5xx(await get('/c/empties/x')));
    await waitUntil(() => ups.empties!.conns.some((c) => framesOf(c, T.GOAWAY).some((g) => g.payload.readUInt32BE(4) === E.ENHANCE_YOUR_CALM)), 5_000, 'GOAWAY(ENHANCE_YOUR_CALM) to the flooding upstream');
    assert.equal(await px.stat('cluster.empties.http2.inbound_empty_frames_flood'), 1);
    const r = await get('/c/empties3/x');
    assert.ok(!(r instanceof Error) && r.status === 200 && r.body === 'body', String(r instanceof Error ? r : r.status));
    assert.equal(await px.stat('cluster.empties3.http2.inbound_empty_frames_flood'), 0);
  });

  test('a valid response passes; the proxy\'s header blocks decode with the oracle', async () => {
    const r = await get('/ok');
    assert.ok(!(r instanceof Error) && r.status === 200 && r.body === 'ok', String(r instanceof Error ? r : r.status));
    for (const c of ups.main!.conns) assert.deepEqual(c.hpackErrors, []);
  });

  for (const [path, what] of [['/upper', 'an upper-case field name'], ['/conn-hdr', 'a connection-specific field'], ['/no-status', 'no :status'],
    ['/req-pseudo', 'a request pseudo-header'], ['/trailer-pseudo', 'a pseudo-header in trailers'], ['/cl-mismatch', 'content-length unequal to the DATA']] as const) {
    test(`a response with ${what} is malformed: RST_STREAM(PROTOCOL_ERROR) upstream, a 5xx or reset downstream`, async () => {
      const r = await get(path);
      if (path !== '/trailer-pseudo' && path !== '/cl-mismatch') assert.ok(is5xx(r), `client got ${r instanceof Error ? r.message : r.status}`);
      await upstreamGot(ups.main!, path, 'rst', E.PROTOCOL_ERROR);
    });
  }

  for (const [path, what, code] of [['/push', 'PUSH_PROMISE (the proxy sent SETTINGS_ENABLE_PUSH 0)', E.PROTOCOL_ERROR],
    ['/even', 'HEADERS on a server-initiated stream that was never promised', E.PROTOCOL_ERROR],
    ['/data0', 'DATA on stream 0', E.PROTOCOL_ERROR], ['/bad-hpack', 'an undecodable header block', E.COMPRESSION_ERROR]] as const) {
    test(`${what} is a connection error ${errorName(code)}`, async () => {
      const r = await get(path);
      assert.ok(is5xx(r), `client got ${r instanceof Error ? r.message : r.status}`);
      await upstreamGot(ups.main!, path, 'goaway', code);
    });
  }

  test('a server preface that is not SETTINGS is a connection error PROTOCOL_ERROR', async () => {
    assert.ok(is5xx(await get('/c/pingfirst/x')));
    await waitUntil(() => ups.pingfirst!.conns.some((c) => framesOf(c, T.GOAWAY).some((g) => g.payload.readUInt32BE(4) === E.PROTOCOL_ERROR)), 5_000,
      'GOAWAY(PROTOCOL_ERROR) to a server whose preface is a PING');
  });

  test('SETTINGS_MAX_FRAME_SIZE below 16384 from the server is a connection error PROTOCOL_ERROR', async () => {
    assert.ok(is5xx(await get('/c/badsettings/x')));
    await waitUntil(() => ups.badsettings!.conns.some((c) => framesOf(c, T.GOAWAY).some((g) => g.payload.readUInt32BE(4) === E.PROTOCOL_ERROR)), 5_000,
      'GOAWAY(PROTOCOL_ERROR) to a server with SETTINGS_MAX_FRAME_SIZE 100');
  });

  test('1xx heads, CONTINUATION, padding and dynamic-table references in responses are accepted', async () => {
    const dyn = await get('/dyn');
    assert.ok(!(dyn instanceof Error) && dyn.status === 200);
    assert.equal((dyn as Reply).headers['x-dyn'], 'v1, v1');
    const cont = await get('/continuation');
    assert.ok(!(cont instanceof Error) && cont.body === 'continued' && cont.headers['x-b'] === 'b'.repeat(50));
    const pad = await get('/padded');
    assert.ok(!(pad instanceof Error) && pad.body === 'padded');
    const info = await get('/informational');
    assert.ok(!(info instanceof Error) && info.status === 200 && info.body === 'final');
  });

  test('request DATA stays within the server\'s SETTINGS_MAX_FRAME_SIZE (16384)', async () => {
    const r = await get('/upload', { method: 'POST', body: 'u'.repeat(100_000) });
    assert.ok(!(r instanceof Error) && r.status === 200);
    const f = ups.main!.find('/upload')!;
    assert.equal(f.stream.body.length, 100_000);
    for (const n of f.stream.dataFrames) assert.ok(n <= 16384, `DATA of ${n} octets`);
  });

  test('the server\'s SETTINGS_INITIAL_WINDOW_SIZE of 10 bounds every request DATA frame', async () => {
    const r = await get('/c/window10/w', { method: 'POST', body: 'w'.repeat(100) });
    assert.ok(!(r instanceof Error) && r.status === 200, String(r instanceof Error ? r.message : r.status));
    const f = ups.window10!.find('/w')!;
    assert.equal(f.stream.body.length, 100);
    for (const n of f.stream.dataFrames) assert.ok(n <= 10, `DATA of ${n} octets in a 10-octet window`);
  });

  test('the server\'s SETTINGS_HEADER_TABLE_SIZE 0: the proxy signals a size update and uses no dynamic entry', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await get(`/c/table0/t${i}`, { method: 'GET' });
      assert.ok(!(r instanceof Error) && r.status === 200);
    }
    for (const c of ups.table0!.conns) assert.deepEqual(c.hpackErrors, []);
  });

  test('the server\'s SETTINGS_MAX_CONCURRENT_STREAMS 1 is honoured (never two open streams on a connection)', async () => {
    const [a, b] = await Promise.all([get('/c/streams1/a'), get('/c/streams1/b')]);
    assert.ok(!(a instanceof Error) && a.status === 200 && !(b instanceof Error) && b.status === 200);
    for (const c of ups.streams1!.conns) assert.ok(c.maxOpen <= 1, `a connection had ${c.maxOpen} open streams`);
  });

  test('a PING from the server is answered with PING ACK and the same payload', async () => {
    assert.ok(!(await get('/c/pinger/p') instanceof Error));
    await waitUntil(() => ups.pinger!.conns.some((c) => c.frames.some((f) => f.type === T.PING && (f.flags & F.ACK) !== 0 && f.payload.toString() === 'pingpong')), 5_000, 'PING ACK');
  });

  test('the proxy survived every case', () => {
    assert.equal(px.proc.child.exitCode, null, px.proc.output().slice(-3000));
  });
});
