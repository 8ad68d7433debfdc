// Request-smuggling and syntax defences of the HTTP/1.1 parser (RFC 9112 §2.2, §3, §5, §6, §7;
// RFC 9110 §5.5, §5.6.2, §8.6): every case is rejected with a stable code and status, and a bad
// head is never delivered, whether the input arrives whole or byte by byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX, parsePieces, parseWhole, Recorder } from './recorder.js';
import { Http1Parser } from '../../../../src/proxy/codec/http1/parser.js';

type Case = [name: string, input: string, code: string, status: number];

const H = 'Host: h\r\n';
const req = (fields: string, line = 'POST / HTTP/1.1') => `${line}\r\n${fields}\r\n`;

/** Requests rejected at the head: onHead must not be called. */
const REQUEST_HEADS: Case[] = [
  // framing conflicts (RFC 9112 §6.1, §6.3)
  ['CL then TE', req(H + 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n'), 'HPE_CL_AND_TE', 400],
  ['TE then CL', req(H + 'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n'), 'HPE_CL_AND_TE', 400],
  ['TE then CL 0', req(H + 'Transfer-Encoding: chunked\r\nContent-Length: 0\r\n'), 'HPE_CL_AND_TE', 400],
  ['TE gzip only', req(H + 'Transfer-Encoding: gzip\r\n'), 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['TE identity', req(H + 'Transfer-Encoding: identity\r\n'), 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['TE chunked not final', req(H + 'Transfer-Encoding: chunked, gzip\r\n'), 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['TE chunked not final over two lines', req(H + 'Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n'), 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['TE coding before chunked', req(H + 'Transfer-Encoding: gzip, chunked\r\n'), 'HPE_UNKNOWN_TRANSFER_ENCODING', 501],
  ['TE coding before chunked over two lines', req(H + 'Transfer-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n'), 'HPE_UNKNOWN_TRANSFER_ENCODING', 501],
  ['TE chunked twice in one line', req(H + 'Transfer-Encoding: chunked, chunked\r\n'), 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['TE chunked twice in two lines', req(H + 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n'), 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['TE chunked with parameter', req(H + 'Transfer-Encoding: chunked;q=1\r\n'), 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['TE xchunked', req(H + 'Transfer-Encoding: xchunked\r\n'), 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['TE "chunked"', req(H + 'Transfer-Encoding: "chunked"\r\n'), 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['TE empty', req(H + 'Transfer-Encoding: \r\n'), 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['TE only commas', req(H + 'Transfer-Encoding: , ,\r\n'), 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['TE with vertical tab', req(H + 'Transfer-Encoding: \x0bchunked\r\n'), 'HPE_INVALID_HEADER_VALUE', 400],
  ['TE in HTTP/1.0', req('Transfer-Encoding: chunked\r\n', 'POST / HTTP/1.0'), 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['TE name with space before colon', req(H + 'Transfer-Encoding : chunked\r\n'), 'HPE_INVALID_HEADER_TOKEN', 400],
  // Content-Length (RFC 9110 §8.6)
  ['CL conflicting lines', req(H + 'Content-Length: 5\r\nContent-Length: 6\r\n'), 'HPE_CONFLICTING_CONTENT_LENGTH', 400],
  ['CL conflicting list', req(H + 'Content-Length: 5, 6\r\n'), 'HPE_CONFLICTING_CONTENT_LENGTH', 400],
  ['CL conflicting list and line', req(H + 'Content-Length: 5, 5\r\nContent-Length: 7\r\n'), 'HPE_CONFLICTING_CONTENT_LENGTH', 400],
  ['CL negative', req(H + 'Content-Length: -1\r\n'), 'HPE_INVALID_CONTENT_LENGTH', 400],
  ['CL plus sign', req(H + 'Content-Length: +5\r\n'), 'HPE_INVALID_CONTENT_LENGTH', 400],
  ['CL trailing letter', req(H + 'Content-Length: 5a\r\n'), 'HPE_INVALID_CONTENT_LENGTH', 400],
  ['CL hex', req(H + 'Content-Length: 0x10\r\n'), 'HPE_INVALID_CONTENT_LENGTH', 400],
  ['CL inner space', req(H + 'Content-Length: 1 0\r\n'), 'HPE_INVALID_CONTENT_LENGTH', 400],
  ['CL empty', req(H + 'Content-Length: \r\n'), 'HPE_INVALID_CONTENT_LENGTH', 400],
  ['CL empty list element', req(H + 'Content-Length: 5,\r\n'), 'HPE_INVALID_CONTENT_LENGTH', 400],
  ['CL decimal', req(H + 'Content-Length: 5.0\r\n'), 'HPE_INVALID_CONTENT_LENGTH', 400],
  ['CL 2^53', req(H + 'Content-Length: 9007199254740992\r\n'), 'HPE_INVALID_CONTENT_LENGTH', 400],
  ['CL overlong', req(H + 'Content-Length: 99999999999999999999999\r\n'), 'HPE_INVALID_CONTENT_LENGTH', 400],
  // line syntax (RFC 9112 §2.2, §5)
  ['obs-fold with SP', req(H + 'X-A: one\r\n two\r\n'), 'HPE_OBS_FOLD', 400],
  ['obs-fold with HTAB', req(H + 'X-A: one\r\n\ttwo\r\n'), 'HPE_OBS_FOLD', 400],
  ['obs-fold on the first field line', req(' Host: h\r\n'), 'HPE_OBS_FOLD', 400],
  ['obs-fold hiding TE', req(H + 'X-A: b\r\n Transfer-Encoding: chunked\r\n'), 'HPE_OBS_FOLD', 400],
  ['bare LF ending the request line', 'GET / HTTP/1.1\nHost: h\r\n\r\n', 'HPE_BARE_LF', 400],
  ['bare LF ending a field line', 'GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n', 'HPE_BARE_LF', 400],
  ['bare LF ending the head', 'GET / HTTP/1.1\r\nHost: h\r\n\n', 'HPE_BARE_LF', 400],
  ['bare LFs only', 'GET / HTTP/1.1\nHost: h\n\n', 'HPE_BARE_LF', 400],
  ['bare LF inside a value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\nb\r\n\r\n', 'HPE_BARE_LF', 400],
  ['bare LF inside the target', 'GET /a\nb HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_BARE_LF', 400],
  ['bare LF as a leading empty line', '\nGET / HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_BARE_LF', 400],
  ['bare CR inside a value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n', 'HPE_LF_EXPECTED', 400],
  ['bare CR as a leading empty line', '\rGET / HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_LF_EXPECTED', 400],
  ['space before colon', req(H + 'X-A : 1\r\n'), 'HPE_INVALID_HEADER_TOKEN', 400],
  ['tab before colon', req(H + 'X-A\t: 1\r\n'), 'HPE_INVALID_HEADER_TOKEN', 400],
  ['space before colon in Host', req('Host : h\r\n'), 'HPE_INVALID_HEADER_TOKEN', 400],
  ['name with (', req(H + 'X(A): 1\r\n'), 'HPE_INVALID_HEADER_TOKEN', 400],
  ['name with @', req(H + 'X@A: 1\r\n'), 'HPE_INVALID_HEADER_TOKEN', 400],
  ['name with obs-text', req(H + 'X\xe9: 1\r\n'), 'HPE_INVALID_HEADER_TOKEN', 400],
  ['name with NUL', req(H + 'X\x00A: 1\r\n'), 'HPE_INVALID_HEADER_TOKEN', 400],
  ['empty name', req(H + ': 1\r\n'), 'HPE_INVALID_HEADER_TOKEN', 400],
  ['no colon', req(H + 'X-A 1\r\n'), 'HPE_INVALID_HEADER_TOKEN', 400],
  ['NUL in value', req(H + 'X-A: a\x00b\r\n'), 'HPE_INVALID_HEADER_VALUE', 400],
  ['SOH in value', req(H + 'X-A: \x01\r\n'), 'HPE_INVALID_HEADER_VALUE', 400],
  ['ESC in value', req(H + 'X-A: \x1b[31m\r\n'), 'HPE_INVALID_HEADER_VALUE', 400],
  ['DEL in value', req(H + 'X-A: a\x7f\r\n'), 'HPE_INVALID_HEADER_VALUE', 400],
  // request line (RFC 9112 §3)
  ['method with (', 'G(T / HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_METHOD', 400],
  ['method with tab', 'GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_METHOD', 400],
  ['method with obs-text', 'G\xc9T / HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_METHOD', 400],
  ['empty method', ' / HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_METHOD', 400],
  ['empty target', 'GET  HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_URL', 400],
  ['two spaces before target', 'GET  / HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_URL', 400],
  ['space inside target', 'GET /a b HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_VERSION', 400],
  ['NUL in target', 'GET /a\x00b HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_URL', 400],
  ['tab in target', 'GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_URL', 400],
  ['DEL in target', 'GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_URL', 400],
  ['fragment in target', 'GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_URL', 400],
  // Non-ASCII in the target (RFC 3986 has no raw bytes above 0x7F; Envoy rejects them in :path)
  ['obs-text in target', 'GET /caf\xe9 HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_URL', 400],
  ['0x80 in target', 'GET /\x80 HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_URL', 400],
  ['0xff in the query', 'GET /a?b=\xff HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_URL', 400],
  ['UTF-8 in an absolute-form path', 'GET http://h/\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_URL', 400],
  ['asterisk-form with GET', 'GET * HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_URL', 400],
  ['asterisk-form with CONNECT', 'CONNECT * HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_URL', 400],
  ['asterisk followed by more', 'OPTIONS *a HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_URL', 400],
  ['origin-form with CONNECT', 'CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_URL', 400],
  ['HTTP/0.9 request line', 'GET /\r\n\r\n', 'HPE_INVALID_VERSION', 400],
  ['truncated version then empty line', 'GET / HTTP/1\r\n\r\n', 'HPE_INVALID_VERSION', 400],
  ['truncated version then bare LF', 'GET / HTTP/1.1\n\n', 'HPE_BARE_LF', 400],
  ['lower-case version', 'GET / http/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_VERSION', 400],
  ['short version', 'GET / HTTP/1\r\nHost: h\r\n\r\n', 'HPE_INVALID_VERSION', 400],
  ['long version', 'GET / HTTP/1.10\r\nHost: h\r\n\r\n', 'HPE_INVALID_VERSION', 400],
  ['space after version', 'GET / HTTP/1.1 \r\nHost: h\r\n\r\n', 'HPE_INVALID_VERSION', 400],
  ['HTTP/1.2', 'GET / HTTP/1.2\r\nHost: h\r\n\r\n', 'HPE_UNSUPPORTED_VERSION', 505],
  ['HTTP/2.0', 'GET / HTTP/2.0\r\nHost: h\r\n\r\n', 'HPE_UNSUPPORTED_VERSION', 505],
  ['HTTP/0.9', 'GET / HTTP/0.9\r\nHost: h\r\n\r\n', 'HPE_UNSUPPORTED_VERSION', 505],
  // Host (RFC 9112 §3.2)
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', 'HPE_MISSING_HOST', 400],
  ['two Host lines', 'GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n', 'HPE_MULTIPLE_HOST', 400],
  ['two Host lines in HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n', 'HPE_MULTIPLE_HOST', 400],
  ['Host with a slash', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', 'HPE_INVALID_HOST', 400],
  ['Host with userinfo', 'GET / HTTP/1.1\r\nHost: u@a\r\n\r\n', 'HPE_INVALID_HOST', 400],
  ['Host with a space', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 'HPE_INVALID_HOST', 400],
  // absolute-form: its authority becomes the Host, so it is checked as a Host (RFC 9112 §3.2.2)
  ['absolute-form authority with quote and brackets', 'GET http://ev"il<>{}/x HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_HOST', 400],
  ['absolute-form authority with a backslash', 'GET http://a\\b/ HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_HOST', 400],
  ['absolute-form authority with userinfo', 'GET http://u:p@a/ HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_HOST', 400],
  ['absolute-form authority with a caret, no path', 'GET https://a^b HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_HOST', 400],
  ['absolute-form with an empty authority', 'GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n', 'HPE_INVALID_HOST', 400],
];

/** Responses rejected at the head (a malformed upstream response; the proxy answers 502). */
const RESPONSE_HEADS: Case[] = [
  ['CL and TE', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 'HPE_CL_AND_TE', 400],
  ['conflicting CL', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n', 'HPE_CONFLICTING_CONTENT_LENGTH', 400],
  ['invalid CL', 'HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH', 400],
  ['chunked twice', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['empty TE', 'HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['TE in HTTP/1.0', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING', 400],
  ['obs-fold', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n', 'HPE_OBS_FOLD', 400],
  ['bare LF', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n', 'HPE_BARE_LF', 400],
  ['bare LF in reason', 'HTTP/1.1 200 O\nK\r\n\r\n', 'HPE_BARE_LF', 400],
  ['NUL in reason', 'HTTP/1.1 200 O\x00K\r\n\r\n', 'HPE_INVALID_STATUS', 400],
  ['four-digit status', 'HTTP/1.1 2000 OK\r\n\r\n', 'HPE_INVALID_STATUS', 400],
  ['two-digit status', 'HTTP/1.1 20 OK\r\n\r\n', 'HPE_INVALID_STATUS', 400],
  ['status below 100', 'HTTP/1.1 099 Low\r\n\r\n', 'HPE_INVALID_STATUS', 400],
  ['non-digit status', 'HTTP/1.1 2x0 OK\r\n\r\n', 'HPE_INVALID_STATUS', 400],
  ['no space after version', 'HTTP/1.1200 OK\r\n\r\n', 'HPE_INVALID_VERSION', 400],
  ['HTTP/2 status line', 'HTTP/2.0 200 OK\r\n\r\n', 'HPE_UNSUPPORTED_VERSION', 505],
  ['truncated status line then empty line', 'HTTP/1.1 20\r\n\r\n', 'HPE_INVALID_STATUS', 400],
  ['truncated status code then empty line', 'HTTP/1.1 2\r\n\r\n', 'HPE_INVALID_STATUS', 400],
  ['no status code then empty line', 'HTTP/1.1\r\n\r\n', 'HPE_INVALID_VERSION', 400],
  ['truncated version then empty line', 'HTTP/1\r\n\r\n', 'HPE_INVALID_VERSION', 400],
  ['space before colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN', 400],
  ['CR in value', 'HTTP/1.1 200 OK\r\nX: a\rContent-Length: 0\r\n\r\n', 'HPE_LF_EXPECTED', 400],
];

const CHUNKED = 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n';

/** Chunked framing errors, found after the head was delivered (RFC 9112 §7.1). */
const CHUNK_BODIES: Case[] = [
  ['non-hex size', 'zz\r\n', 'HPE_INVALID_CHUNK_SIZE', 400],
  ['negative size', '-3\r\nabc\r\n', 'HPE_INVALID_CHUNK_SIZE', 400],
  ['0x prefix', '0x3\r\nabc\r\n', 'HPE_INVALID_CHUNK_SIZE', 400],
  ['empty size', '\r\nabc\r\n', 'HPE_INVALID_CHUNK_SIZE', 400],
  ['leading space', ' 3\r\nabc\r\n', 'HPE_INVALID_CHUNK_SIZE', 400],
  ['trailing space', '3 \r\nabc\r\n', 'HPE_INVALID_CHUNK_SIZE', 400],
  ['size 2^53', '20000000000000\r\n', 'HPE_INVALID_CHUNK_SIZE', 400],
  ['size with 17 hex digits', 'fffffffffffffffff\r\n', 'HPE_INVALID_CHUNK_SIZE', 400],
  ['size overflowing 32 bits is still huge, not wrapped', '100000000000000000000003\r\nabc\r\n', 'HPE_INVALID_CHUNK_SIZE', 400],
  ['bare LF after size', '3\nabc\r\n0\r\n\r\n', 'HPE_BARE_LF', 400],
  ['bare LF after extension', '3;a=b\nabc\r\n0\r\n\r\n', 'HPE_BARE_LF', 400],
  ['CR without LF after size', '3\rabc\r\n', 'HPE_LF_EXPECTED', 400],
  ['data longer than size', '3\r\nabcd\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_DATA', 400],
  ['data without CRLF', '3\r\nabc0\r\n\r\n', 'HPE_INVALID_CHUNK_DATA', 400],
  ['data followed by CR only', '3\r\nabc\r0\r\n\r\n', 'HPE_INVALID_CHUNK_DATA', 400],
  ['data followed by bare LF', '3\r\nabc\n0\r\n\r\n', 'HPE_BARE_LF', 400],
  ['NUL in extension', '3;a=\x00\r\nabc\r\n', 'HPE_INVALID_CHUNK_SIZE', 400],
  ['junk before extension', '3 x;a\r\nabc\r\n', 'HPE_INVALID_CHUNK_SIZE', 400],
  ['extension too long', '3;' + 'a'.repeat(5000) + '\r\nabc\r\n', 'HPE_CHUNK_EXTENSIONS_OVERFLOW', 400],
  ['endless leading zeros', '0'.repeat(5000) + '3\r\nabc\r\n', 'HPE_CHUNK_EXTENSIONS_OVERFLOW', 400],
  ['bare LF ending the trailers', '0\r\n\n', 'HPE_BARE_LF', 400],
  ['bare LF inside trailers', '0\r\nX: 1\nY: 2\r\n\r\n', 'HPE_BARE_LF', 400],
  ['obs-fold in trailers', '0\r\nX: 1\r\n 2\r\n\r\n', 'HPE_OBS_FOLD', 400],
  ['bad trailer name', '0\r\nX Y: 1\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN', 400],
  ['NUL in trailer value', '0\r\nX: \x00\r\n\r\n', 'HPE_INVALID_HEADER_VALUE', 400],
];

function checkRejected(kind: 'request' | 'response', [name, input, code, status]: Case): void {
  const expected = [{ type: 'error', code, status }];
  assert.deepEqual(parseWhole(kind, input), expected, `${name} (whole)`);
  assert.deepEqual(parsePieces(kind, [...input]), expected, `${name} (byte by byte)`);
  // followed by a valid message, which must not be parsed either
  const next = kind === 'request' ? 'GET / HTTP/1.1\r\nHost: h\r\n\r\n' : 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
  assert.deepEqual(parseWhole(kind, input + next), expected, `${name} (+ next message)`);
}

test('smuggling-prone request heads are rejected without delivering the head', () => {
  for (const c of REQUEST_HEADS) checkRejected('request', c);
});

test('malformed response heads are rejected without delivering the head', () => {
  for (const c of RESPONSE_HEADS) checkRejected('response', c);
});

test('chunk framing errors end the message with an error after its head', () => {
  for (const [name, body, code, status] of CHUNK_BODIES) {
    for (const ev of [parseWhole('request', CHUNKED + body), parsePieces('request', [...(CHUNKED + body)])]) {
      assert.equal(ev[0]!.type, 'head', name);
      assert.deepEqual(ev.at(-1), { type: 'error', code, status }, name);
      assert.ok(!ev.some((e) => e.type === 'complete'), name);
    }
  }
});

test('the largest safe chunk size is accepted (and waits for its data)', () => {
  const ev = parseWhole('request', CHUNKED + '1fffffffffffff\r\nabc');
  assert.deepEqual(ev.slice(1), [{ type: 'data', data: 'abc' }]);
});

test('valid lookalikes are accepted', () => {
  const ok: string[] = [
    req(H + 'Transfer-Encoding: Chunked\r\n') + '0\r\n\r\n',
    req(H + 'Content-Length: 0\r\nContent-Length: 0\r\n'),
    req(H + 'X-Transfer-Encoding: gzip\r\nContent-Length: 0\r\n'),
    req(H + 'Content-Length:\t 0 \t\r\n'),
    'GET / HTTP/1.0\r\n\r\n',
    'OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n',
    'CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n',
    'GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n',
    'GET http://a.example:8080?y HTTP/1.1\r\nHost: a.example\r\n\r\n',
    'GET https://[::1]:8443/p%C3%A9?q=%FF HTTP/1.1\r\nHost: h\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n',
    'GET / HTTP/1.1\r\nHost:\r\n\r\n',
    "M-SEARCH!#$%&'*+.^_`|~ / HTTP/1.1\r\nHost: h\r\n\r\n",
  ];
  for (const input of ok) {
    const ev = parseWhole('request', input);
    assert.deepEqual(ev.map((e) => e.type), ['head', 'complete'], JSON.stringify(input));
  }
});

test('max_headers_count: a head or trailer section with more fields than the limit is a 431', () => {
  const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: v\r\n`).join('');
  const run = (kind: 'request' | 'response', input: string, max: number, whole = true) => {
    const r = new Recorder();
    const p = new Http1Parser(kind, r, { maxHeaderBytes: 64 * 1024, maxHeadersCount: max });
    if (whole) p.execute(Buffer.from(input, 'latin1'));
    else for (const c of input) p.execute(Buffer.from(c, 'latin1'));
    return r.normalized();
  };
  // Host is a field too: 1 + 99 = 100 is allowed, 1 + 100 is not.
  assert.equal(run('request', `GET / HTTP/1.1\r\nHost: h\r\n${fields(99)}\r\n`, 100)[0]!.type, 'head');
  for (const whole of [true, false]) {
    assert.deepEqual(run('request', `GET / HTTP/1.1\r\nHost: h\r\n${fields(100)}\r\n`, 100, whole),
      [{ type: 'error', code: 'HPE_TOO_MANY_HEADERS', status: 431 }]);
  }
  assert.deepEqual(run('response', `HTTP/1.1 200 OK\r\n${fields(3)}Content-Length: 0\r\n\r\n`, 3),
    [{ type: 'error', code: 'HPE_TOO_MANY_HEADERS', status: 431 }]);
  // Trailers count on their own, with the same limit (as Envoy's codec).
  const chunked = 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n';
  assert.equal(run('request', chunked + fields(3) + '\r\n', 3).at(-1)!.type, 'complete');
  assert.deepEqual(run('request', chunked + fields(4) + '\r\n', 3).at(-1), { type: 'error', code: 'HPE_TOO_MANY_HEADERS', status: 431 });
  // No limit given: no limit.
  assert.equal(parseWhole('request', `GET / HTTP/1.1\r\nHost: h\r\n${fields(2000)}\r\n`, { max: 64 * 1024 })[0]!.type, 'head');
});

test('held: bytes queued while paused or after an upgrade are counted, and discard() drops them', () => {
  const r = new Recorder();
  const p = new Http1Parser('request', r, { maxHeaderBytes: MAX });
  r.after = (e) => { if (e.type === 'complete') p.pause(); };
  p.execute(Buffer.from('GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HT', 'latin1'));
  assert.equal(p.held, 9);
  p.execute(Buffer.from('TP/1.1\r\nHost: h\r\n\r\n', 'latin1'));
  assert.equal(p.held, 9 + 19);
  p.resume();
  assert.equal(r.heads().length, 2);
  assert.equal(p.held, 0);
  // An upgrade request: later bytes are held raw until takeRemaining().
  const u = new Http1Parser('request', new Recorder(), { maxHeaderBytes: MAX });
  u.execute(Buffer.from('GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nabc', 'latin1'));
  assert.equal(u.switching, true);
  u.execute(Buffer.from('defg', 'latin1'));
  assert.equal(u.held, 7);
  u.discard();
  assert.equal(u.held, 0);
  u.execute(Buffer.from('more', 'latin1'));
  assert.equal(u.held, 0);
  assert.equal(u.takeRemaining(), null);
});
