// The ClientHello reader and the tls_inspector peek: SNI and ALPN from a real Node ClientHello,
// byte by byte and split over records; plaintext recognised from the first byte; the peeked bytes
// handed on intact (what TLS passthrough relies on).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { parseClientHello } from '../../../src/proxy/tls/client-hello.js';
import { inspectTls, type InspectedTls } from '../../../src/proxy/listener/tls-inspector.js';

/** The first flight a Node TLS client sends with the given SNI / ALPN, captured by a raw server. */
async function captureClientHello(opts: { servername?: string; alpn?: string[] }): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const got = new Promise<Buffer>((resolve) => server.once('connection', (s) => s.once('data', (d: Buffer) => { resolve(d); s.destroy(); })));
  const c = tls.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, rejectUnauthorized: false,
    ...(opts.servername ? { servername: opts.servername } : {}), ...(opts.alpn ? { ALPNProtocols: opts.alpn } : {}) });
  c.on('error', () => { /* the capture server hangs up */ });
  const hello = await got;
  c.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return hello;
}

test('reads SNI (lower-cased) and ALPN from a ClientHello', async () => {
  const hello = await captureClientHello({ servername: 'API.Example.com', alpn: ['h2', 'http/1.1'] });
  assert.deepEqual(parseClientHello(hello), { state: 'tls', serverName: 'api.example.com', alpn: ['h2', 'http/1.1'] });
  const bare = await captureClientHello({});
  assert.deepEqual(parseClientHello(bare), { state: 'tls', serverName: null, alpn: [] });
});

test('asks for more bytes until the ClientHello is complete, also across records', async () => {
  const hello = await captureClientHello({ servername: 'a.test' });
  for (const n of [1, 5, 9, hello.length - 1]) assert.equal(parseClientHello(hello.subarray(0, n)).state, 'more', `at ${n} bytes`);
  // The same handshake message split into two records.
  const body = hello.subarray(5);
  const half = Math.floor(body.length / 2);
  const rec = (b: Buffer) => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, b.length >> 8, b.length & 0xff]), b]);
  const split = Buffer.concat([rec(body.subarray(0, half)), rec(body.subarray(half))]);
  assert.equal(parseClientHello(split.subarray(0, 5 + half + 3)).state, 'more');
  assert.deepEqual(parseClientHello(split), { state: 'tls', serverName: 'a.test', alpn: [] });
});

test('anything that does not start like a TLS handshake is not TLS, from the first byte', () => {
  assert.equal(parseClientHello(Buffer.from('G')).state, 'not-tls');
  assert.equal(parseClientHello(Buffer.from('PRI * HTTP/2.0')).state, 'not-tls');
  assert.equal(parseClientHello(Buffer.from([0x16, 0x01])).state, 'not-tls');
  assert.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0, 0, 1, 0])).state, 'not-tls', 'not a ClientHello');
});

test('the inspector hands every peeked byte on: a TLS server behind it completes the handshake', async (t) => {
  // A TLS server reached through a socket that was inspected first (what passthrough does).
  const backend = tls.createServer({ ...(await selfSigned()) }, (s) => s.end('through'));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => backend.close(() => r())));
  const seen: InspectedTls[] = [];
  const front = net.createServer((s) => {
    inspectTls(s, { timeoutMs: 2000, continueOnTimeout: false }, (r) => {
      if (r === null) return;
      seen.push(r);
      const up = net.connect((backend.address() as net.AddressInfo).port, '127.0.0.1');
      s.pipe(up).pipe(s);
      up.on('error', () => s.destroy());
      s.on('error', () => up.destroy());
    });
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => front.close(() => r())));
  const body = await new Promise<string>((resolve, reject) => {
    const c = tls.connect({ host: '127.0.0.1', port: (front.address() as net.AddressInfo).port, servername: 'pass.test', rejectUnauthorized: false });
    let got = '';
    c.on('data', (d: Buffer) => { got += d.toString(); if (got === 'through') { c.destroy(); resolve(got); } });
    c.on('error', reject);
  });
  assert.equal(body, 'through');
  assert.deepEqual(seen, [{ transportProtocol: 'tls', serverName: 'pass.test', applicationProtocols: [] }]);
});

/** A throwaway self-signed certificate via the openssl CLI. */
async function selfSigned(): Promise<{ cert: Buffer; key: Buffer }> {
  const { makePki } = await import('../../helpers/certs.js');
  const pki = await makePki();
  try {
    const leaf = await pki.issue('s', { sans: ['DNS:pass.test'] });
    const { readFileSync } = await import('node:fs');
    return { cert: readFileSync(leaf.cert), key: readFileSync(leaf.key) };
  } finally {
    pki.close();
  }
}
