// HTTP/1.1 serialization helpers (RFC 9112 §3-§5, §7.1; hop-by-hop fields RFC 9110 §7.6.1),
// checked byte for byte and by parsing their output back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chunkHeader, LAST_CHUNK, requestHead,
  responseHead, STATUS_REASONS, trailersBlock,
} from '../../../../src/proxy/codec/http1/serialize.js';
import { parseWhole } from './recorder.js';

test('requestHead writes the request line, the fields in order and the empty line', () => {
  assert.equal(
    requestHead('GET', '/a?b=c', ['host', 'h.example', 'x-dup', '1', 'x-dup', '2']),
    'GET /a?b=c HTTP/1.1\r\nhost: h.example\r\nx-dup: 1\r\nx-dup: 2\r\n\r\n',
  );
  assert.equal(requestHead('OPTIONS', '*', [], 0), 'OPTIONS * HTTP/1.0\r\n\r\n');
});

test('responseHead uses the standard reason unless one is given, and keeps the SP for unknown codes', () => {
  assert.equal(responseHead(200, ['content-length', '0']), 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
  assert.equal(responseHead(404, [], 0), 'HTTP/1.0 404 Not Found\r\n\r\n');
  assert.equal(responseHead(200, [], 1, 'Fine'), 'HTTP/1.1 200 Fine\r\n\r\n');
  assert.equal(responseHead(299, []), 'HTTP/1.1 299 \r\n\r\n');
  assert.equal(STATUS_REASONS[503], 'Service Unavailable');
  assert.equal(STATUS_REASONS[431], 'Request Header Fields Too Large');
});

test('chunk framing helpers', () => {
  assert.equal(chunkHeader(0), '0\r\n');
  assert.equal(chunkHeader(255), 'ff\r\n');
  assert.equal(chunkHeader(65536), '10000\r\n');
  assert.equal(LAST_CHUNK.toString('latin1'), '0\r\n\r\n');
  assert.equal(trailersBlock(['grpc-status', '0', 'grpc-message', 'ok']), '0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n');
  assert.equal(trailersBlock([]), '0\r\n\r\n');
});

test('serialized messages parse back to the same head, body and trailers', () => {
  const headers = ['host', 'a.example', 'transfer-encoding', 'chunked', 'x-v', 'caf\xe9 au lait'];
  const input = requestHead('PATCH', '/r/1', headers) + chunkHeader(5) + 'hello\r\n' + chunkHeader(16) + '0123456789abcdef\r\n' + trailersBlock(['x-sum', '42']);
  const ev = parseWhole('request', input);
  assert.equal(ev[0]!.type === 'head' && ev[0].head.method, 'PATCH');
  assert.deepEqual(ev[0]!.type === 'head' && ev[0].head.headers, headers);
  assert.deepEqual(ev.slice(1), [{ type: 'data', data: 'hello0123456789abcdef' }, { type: 'complete', trailers: ['x-sum', '42'] }]);
  const res = parseWhole('response', responseHead(201, ['content-length', '2']) + 'ok');
  assert.equal(res[0]!.type === 'head' && res[0].head.reason, 'Created');
  assert.deepEqual(res.slice(1), [{ type: 'data', data: 'ok' }, { type: 'complete', trailers: null }]);
});

