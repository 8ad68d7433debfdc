// Interop of Weft's own HTTP/2 server session (src/proxy/codec/http2/session.ts) with another
// independent implementation: the Python `h2` library (Debian python3-h2) as the client, over a
// plain TCP socket. Requests with and without bodies, trailers, a body larger than the windows,
// and a header list that uses HPACK's dynamic table across requests.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startH2Server, field } from './session-helpers.js';
import type { H2Stream } from '../../../../src/proxy/codec/http2/types.js';

const CLIENT = String.raw`
import json, socket, sys
import h2.connection, h2.config, h2.events

port = int(sys.argv[1])
sock = socket.create_connection(('127.0.0.1', port))
conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding='utf-8'))
conn.initiate_connection()
sock.sendall(conn.data_to_send())

def hdrs(method, path):
    return [(':method', method), (':scheme', 'http'), (':authority', 'py.test'), (':path', path), ('x-repeat', 'same-value-every-time')]

big = bytes(range(256)) * 1024  # 256 KiB: above the 64 KiB windows
conn.send_headers(1, hdrs('GET', '/get'), end_stream=True)
conn.send_headers(3, hdrs('POST', '/post'))
conn.send_data(3, b'hello from python', end_stream=True)
conn.send_headers(5, hdrs('POST', '/trailers'))
conn.send_data(5, b'with trailers')
conn.send_headers(5, [('x-trailer', 'tv')], end_stream=True)
conn.send_headers(7, hdrs('PUT', '/big'))
pending_big = big
sock.sendall(conn.data_to_send())

results = {}
done = set()
def pump_big():
    global pending_big
    while pending_big:
        n = min(len(pending_big), conn.local_flow_control_window(7), conn.max_outbound_frame_size)
        if n <= 0:
            break
        conn.send_data(7, pending_big[:n], end_stream=(n == len(pending_big)))
        pending_big = pending_big[n:]
pump_big()
sock.sendall(conn.data_to_send())
while len(done) < 4:
    data = sock.recv(65536)
    if not data:
        break
    for ev in conn.receive_data(data):
        if isinstance(ev, h2.events.ResponseReceived):
            results.setdefault(ev.stream_id, {'body': b''})['headers'] = dict(ev.headers)
        elif isinstance(ev, h2.events.DataReceived):
            results.setdefault(ev.stream_id, {'body': b''})['body'] += ev.data
            conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.TrailersReceived):
            results[ev.stream_id]['trailers'] = dict(ev.headers)
        elif isinstance(ev, h2.events.StreamEnded):
            done.add(ev.stream_id)
        elif isinstance(ev, h2.events.WindowUpdated):
            pump_big()
        elif isinstance(ev, h2.events.StreamReset):
            results.setdefault(ev.stream_id, {'body': b''})['reset'] = ev.error_code
            done.add(ev.stream_id)
    sock.sendall(conn.data_to_send())
conn.close_connection()
sock.sendall(conn.data_to_send())
sock.close()
out = {}
for k, v in results.items():
    v['len'] = len(v['body'])
    v['body_ok'] = (v['body'] == big) if k == 7 else None
    v['body'] = v['body'][:64].decode('latin1')
    out[str(k)] = v
print(json.dumps(out))
`;

function runPython(port: number): Promise<Record<string, { headers: Record<string, string>; body: string; len: number; body_ok: boolean | null; trailers?: Record<string, string>; reset?: number }>> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/python3', ['-c', CLIENT, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('python client timed out: ' + err)); }, 20_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`python exited ${code}: ${err}`));
      else resolve(JSON.parse(out));
    });
  });
}

test('python h2 client ↔ our server session: GET, POST, trailers, 256 KiB upload echoed over 64 KiB windows', async (t) => {
  const srv = await startH2Server(t, (st: H2Stream, h: string[]) => {
    const chunks: Buffer[] = [];
    const respond = (trailers: string[] | null): void => {
      const body = Buffer.concat(chunks);
      st.sendHeaders([':status', '200', 'x-path', field(h, ':path')!, 'x-repeat-seen', field(h, 'x-repeat') ?? ''], false);
      if (field(h, ':path') === '/big') { st.sendData(body, true); return; }
      st.sendData(Buffer.from(`${field(h, ':method')} ${body.toString()}`), trailers === null);
      if (trailers !== null) st.sendTrailers(['x-trailer-echo', field(trailers, 'x-trailer') ?? '']);
    };
    st.handler = {
      onHeaders: (tr, end, isTrailers) => { if (isTrailers && end) respond(tr); },
      onData: (d, end) => { chunks.push(Buffer.from(d)); if (end) respond(null); },
      onReset: () => {},
      onDrain: () => {},
    };
    if (field(h, ':method') === 'GET') respond(null);
  });
  const r = await runPython(srv.port);
  assert.equal(r['1']!.headers[':status'], '200');
  assert.equal(r['1']!.body, 'GET ');
  assert.equal(r['3']!.body, 'POST hello from python');
  assert.equal(r['5']!.body, 'POST with trailers');
  assert.equal(r['5']!.trailers?.['x-trailer-echo'], 'tv');
  assert.equal(r['7']!.len, 256 * 1024);
  assert.equal(r['7']!.body_ok, true);
  for (const id of ['1', '3', '5', '7']) {
    assert.equal(r[id]!.headers['x-repeat-seen'], 'same-value-every-time');
    assert.equal(r[id]!.reset, undefined);
  }
  assert.deepEqual(srv.events.protocolErrors, []);
});
