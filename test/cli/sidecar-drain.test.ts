// `weft sidecar` stopped with SIGTERM, during its drain duration (Istio's terminationDrainDuration):
// its inbound listener keeps accepting but tells callers to go elsewhere, as Envoy's drain manager
// does with Istio's immediate strategy: a keep-alive HTTP/1.1 caller gets `Connection: close` on
// its next response and reconnects, an HTTP/2 caller gets GOAWAY and opens a new connection; not
// one request fails; then the sidecar exits 0. A real control plane and sidecar (processes).

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { startControl, startSidecar, startVersionApp } from '../helpers/mesh.js';
import { waitUntil } from '../helpers/adversarial.js';

/** One GET / on a keep-alive socket; resolves with the raw response (rejects if the connection closes first). */
function get(s: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const len = /content-length: (\d+)/i.exec(text);
      if (end >= 0 && len !== null && text.length >= end + 4 + Number(len[1])) { s.off('data', onData); s.off('close', onClose); resolve(text); }
    };
    const onClose = () => reject(new Error(`closed before a response: ${JSON.stringify(text)}`));
    s.on('data', onData);
    s.once('close', onClose);
    s.write('GET / HTTP/1.1\r\nHost: backend\r\n\r\n');
  });
}

function connect(t: TestContext, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
    t.after(() => s.destroy());
  });
}

function h2get(session: http2.ClientHttp2Session): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': '/', ':authority': 'backend' });
    req.on('response', (h) => resolve(Number(h[':status'])));
    req.on('error', reject);
    req.resume();
    req.end();
  });
}

test('weft sidecar on SIGTERM: during the drain duration HTTP/1.1 callers get Connection: close and reconnect, HTTP/2 callers get GOAWAY; nothing fails', async (t) => {
  const control = await startControl();
  t.after(() => control.stop());
  const app = await startVersionApp('a');
  t.after(() => app.close());
  const sc = await startSidecar(control, { service: 'backend', appPort: app.port, servicePort: 9080, extra: ['--drain-duration', '4s', '--drain-time-s', '2'] });
  t.after(() => sc.stop());
  await waitUntil(async () => (await fetch(`http://127.0.0.1:${sc.inbound}/`).catch(() => null))?.status === 200, 20_000, 'the inbound listener to serve the app');

  let h1 = await connect(t, sc.inbound);
  const first = await get(h1);
  assert.match(first, /^HTTP\/1\.1 200/);
  assert.doesNotMatch(first, /connection: close/i);
  let session = http2.connect(`http://127.0.0.1:${sc.inbound}`);
  t.after(() => session.destroy());
  session.on('error', () => {});
  assert.equal(await h2get(session), 200);
  const goaway = new Promise<void>((r) => session.once('goaway', () => r()));

  sc.proc.kill('SIGTERM');
  await goaway;
  // HTTP/2: a new connection serves.
  session = http2.connect(`http://127.0.0.1:${sc.inbound}`);
  session.on('error', () => {});
  t.after(() => session.destroy());
  assert.equal(await h2get(session), 200);
  // HTTP/1.1: the next response closes the connection; the caller reconnects and is served.
  const last = await get(h1);
  assert.match(last, /^HTTP\/1\.1 200/);
  assert.match(last, /connection: close/i);
  await new Promise<void>((r) => { if (h1.destroyed) r(); else h1.once('close', () => r()); });
  h1 = await connect(t, sc.inbound);
  const again = await get(h1);
  assert.match(again, /^HTTP\/1\.1 200/);
  assert.match(again, /connection: close/i, 'every response closes its connection while the sidecar leaves');
  assert.equal(await sc.proc.exited, 0, sc.proc.output());
});
