// Table tests for the HTTP sniffer: each case is checked on the whole input and on every split
// point (the result for a prefix must be `more` or the final answer, never a different decision).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { H2_PREFACE, HTTP1_METHODS, sniffHttp, type SniffResult } from '../../../src/proxy/listener/http-sniff.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

const CASES: Array<[string, string | Buffer, SniffResult]> = [
  ['empty', '', 'more'],
  ['HTTP/1.1 GET', 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', 'http/1.1'],
  ['HTTP/1.0 POST', 'POST /submit?a=b HTTP/1.0\r\n', 'http/1.0'],
  ['request line only, no headers yet', 'GET /x HTTP/1.1\r\n', 'http/1.1'],
  ['absolute-form target', 'GET http://example.com/ HTTP/1.1\r\n', 'http/1.1'],
  ['authority-form CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\n', 'http/1.1'],
  ['asterisk-form OPTIONS', 'OPTIONS * HTTP/1.1\r\n', 'http/1.1'],
  ['M-SEARCH (a method with a dash)', 'M-SEARCH * HTTP/1.1\r\n', 'http/1.1'],
  ['WebDAV PROPFIND (starts like the preface)', 'PROPFIND /d HTTP/1.1\r\n', 'http/1.1'],
  ['PATCH', 'PATCH /p HTTP/1.1\r\n', 'http/1.1'],
  ['partial request line', 'GET /index.ht', 'more'],
  ['method only', 'DELETE', 'more'],
  ['version cut short', 'GET / HTTP/1.', 'more'],
  ['waiting for LF', 'GET / HTTP/1.1\r', 'more'],
  ['h2c preface', H2_PREFACE, 'h2c'],
  ['h2c preface and a SETTINGS frame', Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]), 'h2c'],
  ['a prefix of the preface', 'PRI * HTTP/2.0\r\n', 'more'],
  ['preface diverging at the end', 'PRI * HTTP/2.0\r\n\r\nSX\r\n\r\n', 'other'],
  ['PRI as an HTTP/1 method', 'PRI / HTTP/1.1\r\n', 'other'],
  ['TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), 'other'],
  ['lower-case method', 'get / HTTP/1.1\r\n', 'other'],
  ['MySQL-ish binary', Buffer.from([0x4a, 0x00, 0x00, 0x00, 0x0a]), 'other'],
  ['Redis inline command', 'PING\r\n', 'other'],
  ['SMTP-ish text', 'EHLO mail.example.com\r\n', 'other'],
  ['unknown method of known letters', 'GETS / HTTP/1.1\r\n', 'other'],
  ['method longer than any known', 'ABCDEFGHIJKLMNOP', 'other'],
  ['uppercase but not a method prefix', 'XYZ', 'other'],
  ['two spaces after the method', 'GET  / HTTP/1.1\r\n', 'other'],
  ['control character in the target', 'GET /a\tb HTTP/1.1\r\n', 'other'],
  ['HTTP/0.9 request (no version)', 'GET /\r\n', 'other'],
  ['HTTP/2.0 request line', 'GET / HTTP/2.0\r\n', 'other'],
  ['HTTP/1.2', 'GET / HTTP/1.2\r\n', 'other'],
  ['lower-case version', 'GET / http/1.1\r\n', 'other'],
  ['bare LF after the version', 'GET / HTTP/1.1\nHost: a\n\n', 'other'],
  ['garbage after the version', 'GET / HTTP/1.1x\r\n', 'other'],
];

for (const [name, input, want] of CASES) {
  test(`sniff: ${name} → ${want}`, () => {
    const bytes = typeof input === 'string' ? b(input) : input;
    assert.equal(sniffHttp(bytes), want);
    // Split reads: every prefix is either undecided or already the final answer.
    for (let k = 0; k < bytes.length; k++) {
      const r = sniffHttp(bytes.subarray(0, k));
      assert.ok(r === 'more' || r === want, `prefix of ${k} bytes gave ${r}, expected more or ${want}`);
    }
  });
}

test('sniff: decides `other` at the first byte that cannot start HTTP', () => {
  assert.equal(sniffHttp(Buffer.from([0x16])), 'other');
  assert.equal(sniffHttp(b('a')), 'other');
  assert.equal(sniffHttp(b('G')), 'more');
  assert.equal(sniffHttp(b('GX')), 'other');
});

test('sniff: decides h2c exactly when the 24th preface byte arrives', () => {
  for (let k = 1; k < H2_PREFACE.length; k++) assert.equal(sniffHttp(H2_PREFACE.subarray(0, k)), 'more', `at ${k}`);
  assert.equal(sniffHttp(H2_PREFACE), 'h2c');
});

test('sniff: decides HTTP/1.x at the LF that ends the request line', () => {
  const line = b('PUT /upload HTTP/1.0\r\n');
  for (let k = 1; k < line.length; k++) assert.equal(sniffHttp(line.subarray(0, k)), 'more', `at ${k}`);
  assert.equal(sniffHttp(line), 'http/1.0');
});

test('sniff: every known method is accepted', () => {
  for (const m of HTTP1_METHODS) assert.equal(sniffHttp(b(`${m} / HTTP/1.1\r\n`)), 'http/1.1', m);
});

test('sniff: a request line longer than maxBytes gives up as other', () => {
  const long = b(`GET /${'a'.repeat(100)}`);
  assert.equal(sniffHttp(long), 'more');
  assert.equal(sniffHttp(long, { maxBytes: 64 }), 'other');
  assert.equal(sniffHttp(b(`GET /${'a'.repeat(9000)}`)), 'other');
});
