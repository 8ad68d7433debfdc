// Behaviour of the HTTP/1.1 parser on valid input (RFC 9112): heads, bodies, pipelining, pause,
// chunked with trailers, 1xx, upgrades, no-body responses, close-delimited bodies, limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buf, parser, parsePieces, parseWhole, type Event } from './recorder.js';

const GET =
  'GET /api/items?id=7&x=%20 HTTP/1.1\r\n' +
  'Host: api.example.com:8080\r\n' +
  'User-Agent: curl/8.5.0 \r\n' +
  'Accept:*/*\r\n' +
  'X-Dup: a\r\n' +
  'x-dup:\t b \t\r\n' +
  'X-Empty:\r\n' +
  'Connection: keep-alive\r\n' +
  '\r\n';

const POST_CHUNKED =
  'POST /upload HTTP/1.1\r\n' +
  'Host: a\r\n' +
  'Transfer-Encoding: chunked\r\n' +
  '\r\n' +
  '5\r\nhello\r\n' +
  'A;name=value;x="q"\r\n0123456789\r\n' +
  '0\r\n' +
  'X-Checksum: abc\r\n' +
  'Grpc-Status: 0\r\n' +
  '\r\n';

const RESPONSE =
  'HTTP/1.1 200 OK\r\n' +
  'Content-Type: text/plain\r\n' +
  'Content-Length: 11\r\n' +
  '\r\n' +
  'hello world';

function only<T extends Event['type']>(events: Event[], type: T): Extract<Event, { type: T }>[] {
  return events.filter((e): e is Extract<Event, { type: T }> => e.type === type);
}

test('parses a request head: method, target, version, lower-cased names, trimmed values, order and duplicates', () => {
  const ev = parseWhole('request', GET);
  assert.equal(ev.length, 2);
  const head = only(ev, 'head')[0]!.head;
  assert.equal(head.method, 'GET');
  assert.equal(head.url, '/api/items?id=7&x=%20');
  assert.equal(head.versionMinor, 1);
  assert.equal(head.statusCode, 0);
  assert.deepEqual(head.headers, [
    'host', 'api.example.com:8080',
    'user-agent', 'curl/8.5.0',
    'accept', '*/*',
    'x-dup', 'a',
    'x-dup', 'b',
    'x-empty', '',
    'connection', 'keep-alive',
  ]);
  assert.equal(head.contentLength, -1);
  assert.equal(head.chunked, false);
  assert.equal(head.keepAlive, true);
  assert.equal(head.upgrade, null);
  assert.equal(head.expectContinue, false);
  assert.equal(head.headBytes, Buffer.byteLength(GET));
  assert.deepEqual(ev[1], { type: 'complete', trailers: null });
});

test('parses a response head and a Content-Length body', () => {
  const ev = parseWhole('response', RESPONSE);
  const head = only(ev, 'head')[0]!.head;
  assert.equal(head.statusCode, 200);
  assert.equal(head.reason, 'OK');
  assert.equal(head.method, '');
  assert.equal(head.url, '');
  assert.equal(head.contentLength, 11);
  assert.equal(head.keepAlive, true);
  assert.deepEqual(ev.slice(1), [{ type: 'data', data: 'hello world' }, { type: 'complete', trailers: null }]);
});

test('a status line without reason phrase, with or without the SP, is accepted', () => {
  for (const line of ['HTTP/1.1 204\r\n', 'HTTP/1.1 204 \r\n']) {
    const ev = parseWhole('response', line + '\r\n');
    assert.equal(only(ev, 'head')[0]!.head.statusCode, 204);
    assert.equal(only(ev, 'head')[0]!.head.reason, '');
    assert.equal(ev.at(-1)!.type, 'complete');
  }
});

test('keeps obs-text in values (not in the request-target), and reason phrases with spaces', () => {
  const ev = parseWhole('request', 'GET /caf%C3%A9 HTTP/1.1\r\nHost: h\r\nX-Name: J\xfcrgen  M\r\n\r\n');
  const head = only(ev, 'head')[0]!.head;
  assert.equal(head.url, '/caf%C3%A9');
  assert.deepEqual(head.headers.slice(2), ['x-name', 'J\xfcrgen  M']);
  const r = only(parseWhole('response', 'HTTP/1.1 404 Not  Found\t!\r\nContent-Length: 0\r\n\r\n'), 'head')[0]!.head;
  assert.equal(r.reason, 'Not  Found\t!');
});

test('keepAlive follows the version and the Connection tokens', () => {
  const cases: [string, string, boolean][] = [
    ['1.1', '', true],
    ['1.1', 'Connection: close\r\n', false],
    ['1.1', 'Connection: Keep-Alive, CLOSE\r\n', false],
    ['1.1', 'Connection: foo\r\nConnection: ,, Close ,\r\n', false],
    ['1.0', '', false],
    ['1.0', 'Connection: keep-alive\r\n', true],
    ['1.0', 'Connection: x, Keep-Alive\r\n', true],
    ['1.0', 'Connection: keep-alive, close\r\n', false],
  ];
  for (const [v, fields, keepAlive] of cases) {
    const ev = parseWhole('request', `GET / HTTP/${v}\r\nHost: h\r\n${fields}\r\n`);
    assert.equal(only(ev, 'head')[0]!.head.keepAlive, keepAlive, `${v} ${JSON.stringify(fields)}`);
  }
});

test('expectContinue for HTTP/1.1 `Expect: 100-continue` only', () => {
  const h = (s: string) => only(parseWhole('request', s), 'head')[0]!.head;
  assert.equal(h('PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 0\r\n\r\n').expectContinue, true);
  assert.equal(h('PUT / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n').expectContinue, false);
  assert.equal(h('PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n').expectContinue, false);
});

test('a request with neither Content-Length nor Transfer-Encoding has no body', () => {
  const ev = parseWhole('request', 'POST /x HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.deepEqual(ev.map((e) => e.type), ['head', 'complete']);
});

test('repeated identical Content-Length values collapse to one field with the plain value', () => {
  for (const fields of ['Content-Length: 3\r\nX: y\r\ncontent-length: 3\r\n', 'Content-Length: 3, 3\r\nX: y\r\n', 'Content-Length: 003\r\nX: y\r\n']) {
    const ev = parseWhole('request', `POST / HTTP/1.1\r\nHost: h\r\n${fields}\r\nabc`);
    const head = only(ev, 'head')[0]!.head;
    assert.equal(head.contentLength, 3);
    assert.deepEqual(head.headers, ['host', 'h', 'content-length', '3', 'x', 'y'], fields);
    assert.deepEqual(ev.slice(1), [{ type: 'data', data: 'abc' }, { type: 'complete', trailers: null }]);
  }
  const plain = only(parseWhole('request', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length:  0 \r\n\r\n'), 'head')[0]!.head;
  assert.deepEqual(plain.headers, ['host', 'h', 'content-length', '0']);
});

test('chunked body is de-chunked, extensions ignored, trailers reported', () => {
  const ev = parseWhole('request', POST_CHUNKED);
  const head = only(ev, 'head')[0]!.head;
  assert.equal(head.chunked, true);
  assert.equal(head.contentLength, -1);
  assert.deepEqual(ev.slice(1), [
    { type: 'data', data: 'hello0123456789' },
    { type: 'complete', trailers: ['x-checksum', 'abc', 'grpc-status', '0'] },
  ]);
});

test('chunked without trailers completes with null; upper-case hex and leading zeros work', () => {
  const ev = parseWhole('response', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00B\r\nhello world\r\n0000\r\n\r\n');
  assert.deepEqual(ev.slice(1), [{ type: 'data', data: 'hello world' }, { type: 'complete', trailers: null }]);
});

test('transfer-coding names are case-insensitive and list whitespace is tolerated', () => {
  const ev = parseWhole('request', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , Chunked \r\n\r\n1\r\nx\r\n0\r\n\r\n');
  assert.equal(only(ev, 'head')[0]!.head.chunked, true);
  assert.deepEqual(ev.slice(1), [{ type: 'data', data: 'x' }, { type: 'complete', trailers: null }]);
});

test('body chunks are delivered without copying (subarrays of the input)', () => {
  const input = buf('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd');
  const { p, r } = parser('request');
  let seen: Buffer | null = null;
  r.onData = (chunk: Buffer) => {
    seen = chunk;
  };
  p.execute(input);
  assert.ok(seen !== null);
  assert.equal((seen as Buffer).buffer, input.buffer);
});

// ---- the same result whatever the split ---------------------------------------------------

const SPLIT_CASES: { name: string; kind: 'request' | 'response'; input: string; eof?: boolean; noBody?: boolean }[] = [
  { name: 'GET', kind: 'request', input: GET },
  { name: 'chunked POST with trailers', kind: 'request', input: POST_CHUNKED },
  { name: 'response with body', kind: 'response', input: RESPONSE },
  { name: 'pipelined requests with leading CRLF', kind: 'request', input: '\r\n' + GET + 'POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz\r\n' + POST_CHUNKED + GET },
  { name: '100 Continue then chunked response', kind: 'response', input: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n' },
  { name: 'close-delimited response', kind: 'response', input: 'HTTP/1.0 200 OK\r\nServer: x\r\n\r\nall of this until EOF', eof: true },
  { name: 'upgrade request with trailing tunnel bytes', kind: 'request', input: 'GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello' },
];

test('splitting the input at any byte boundary gives the same events', () => {
  for (const c of SPLIT_CASES) {
    const whole = parseWhole(c.kind, c.input, { eof: c.eof });
    assert.ok(!whole.some((e) => e.type === 'error'), c.name);
    for (let i = 0; i <= c.input.length; i++) {
      const got = parsePieces(c.kind, [c.input.slice(0, i), c.input.slice(i)], { eof: c.eof });
      assert.deepEqual(got, whole, `${c.name}: split at ${i}`);
    }
  }
});

test('feeding one byte at a time, and in pseudo-random pieces, gives the same events', () => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (const c of SPLIT_CASES) {
    const whole = parseWhole(c.kind, c.input, { eof: c.eof });
    assert.deepEqual(parsePieces(c.kind, [...c.input], { eof: c.eof }), whole, `${c.name}: bytewise`);
    for (let round = 0; round < 50; round++) {
      const pieces: string[] = [];
      for (let i = 0; i < c.input.length; ) {
        const n = 1 + rnd(12);
        pieces.push(c.input.slice(i, i + n));
        i += n;
      }
      assert.deepEqual(parsePieces(c.kind, pieces, { eof: c.eof }), whole, `${c.name}: round ${round}`);
    }
  }
});

// ---- pipelining and pause ------------------------------------------------------------------

test('pipelined requests in one buffer are all parsed in order', () => {
  const ev = parseWhole('request', GET + 'DELETE /r/1 HTTP/1.1\r\nHost: h\r\n\r\n' + GET);
  assert.deepEqual(ev.map((e) => (e.type === 'head' ? e.head.method : e.type)), ['GET', 'complete', 'DELETE', 'complete', 'GET', 'complete']);
});

test('pause() inside onHead stops parsing; input is queued; resume() continues synchronously', () => {
  const { p, r } = parser('request');
  r.after = (e) => {
    if (e.type === 'head') p.pause();
  };
  p.execute(buf('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc' + GET));
  assert.equal(p.paused, true);
  assert.deepEqual(r.events.map((e) => e.type), ['head']);
  p.execute(buf('GET /late HTTP/1.1\r\nHost: h\r\n\r\n'));
  assert.deepEqual(r.events.map((e) => e.type), ['head']);
  p.resume();
  assert.deepEqual(r.events.map((e) => e.type), ['head', 'data', 'complete', 'head']);
  p.resume();
  p.resume();
  assert.deepEqual(
    r.normalized().map((e) => (e.type === 'head' ? e.head.url : e.type)),
    ['/', 'data', 'complete', '/api/items?id=7&x=%20', 'complete', '/late', 'complete'],
  );
  assert.equal(p.paused, false);
});

test('pause() in onData before the last byte defers onComplete until resume()', () => {
  const { p, r } = parser('request');
  r.after = (e) => {
    if (e.type === 'data') p.pause();
  };
  p.execute(buf('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok'));
  assert.deepEqual(r.events.map((e) => e.type), ['head', 'data']);
  r.after = () => {};
  p.resume();
  assert.deepEqual(r.events.map((e) => e.type), ['head', 'data', 'complete']);
});

test('pause() then resume() inside the same callback keeps going', () => {
  const { p, r } = parser('request');
  r.after = (e) => {
    if (e.type === 'head') {
      p.pause();
      p.resume();
    }
  };
  p.execute(buf(GET + GET));
  assert.deepEqual(r.events.map((e) => e.type), ['head', 'complete', 'head', 'complete']);
});

test('pause() in onComplete holds the next pipelined request', () => {
  const { p, r } = parser('request');
  r.after = (e) => {
    if (e.type === 'complete') p.pause();
  };
  p.execute(buf(GET + GET + GET));
  assert.equal(r.heads().length, 1);
  p.resume();
  assert.equal(r.heads().length, 2);
  p.resume();
  assert.equal(r.heads().length, 3);
  p.resume();
  assert.equal(r.heads().length, 3);
});

test('execute() re-entered from a callback queues the input after the current buffer', () => {
  const { p, r } = parser('request');
  let fed = false;
  r.after = (e) => {
    if (e.type === 'head' && !fed) {
      fed = true;
      p.execute(buf('GET /third HTTP/1.1\r\nHost: h\r\n\r\n'));
    }
  };
  p.execute(buf(GET + 'GET /second HTTP/1.1\r\nHost: h\r\n\r\n'));
  assert.deepEqual(r.heads().map((h) => h.url), ['/api/items?id=7&x=%20', '/second', '/third']);
});

test('finish() while paused is applied after resume()', () => {
  const { p, r } = parser('response');
  r.after = (e) => {
    if (e.type === 'head') p.pause();
  };
  p.execute(buf('HTTP/1.1 200 OK\r\n\r\nbody'));
  p.finish();
  assert.deepEqual(r.events.map((e) => e.type), ['head']);
  r.after = () => {};
  p.resume();
  assert.deepEqual(r.normalized(), [r.events[0], { type: 'data', data: 'body' }, { type: 'complete', trailers: null }]);
});

test('bytes after a Connection: close message are ignored', () => {
  const ev = parseWhole('request', 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n' + GET);
  assert.deepEqual(ev.map((e) => e.type), ['head', 'complete']);
});

// ---- responses: 1xx, no-body, close-delimited ----------------------------------------------

test('1xx responses go to onInformational, then the final response is parsed', () => {
  const ev = parseWhole('response', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n' + RESPONSE);
  assert.deepEqual(ev.map((e) => e.type), ['info', 'info', 'head', 'data', 'complete']);
  const infos = only(ev, 'info');
  assert.equal(infos[0]!.head.statusCode, 100);
  assert.deepEqual(infos[1]!.head.headers, ['link', '</a.css>; rel=preload']);
});

test('response to HEAD (onHead returns true), 204 and 304 have no body whatever the headers', () => {
  const head = parseWhole('response', 'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n' + RESPONSE, { noBody: true });
  assert.deepEqual(head.map((e) => e.type), ['head', 'complete', 'head', 'complete']);
  const headChunked = parseWhole('response', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', { noBody: true });
  assert.deepEqual(headChunked.map((e) => e.type), ['head', 'complete']);
  for (const status of ['204 No Content', '304 Not Modified']) {
    const ev = parseWhole('response', `HTTP/1.1 ${status}\r\nContent-Length: 10\r\n\r\n` + RESPONSE);
    assert.deepEqual(ev.map((e) => e.type), ['head', 'complete', 'head', 'data', 'complete'], status);
  }
});

test('keepAlive of a response without framing fields: false while close-delimited, restored when onHead says no body', () => {
  const { p, r } = parser('response');
  let seenInOnHead: boolean | null = null;
  r.noBody = (h) => {
    seenInOnHead ??= h.keepAlive;
    return true; // the request was HEAD
  };
  p.execute(buf('HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n' + RESPONSE));
  assert.equal(seenInOnHead, false);
  assert.equal(r.heads()[0]!.keepAlive, true);
  assert.equal(r.heads().length, 2); // the connection stays usable: the next response is parsed
  const ev = parseWhole('response', 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n');
  assert.equal(only(ev, 'head')[0]!.head.keepAlive, true);
});

test('a response with neither Content-Length nor chunked reads until close', () => {
  const { p, r } = parser('response');
  p.execute(buf('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, '));
  p.execute(buf('part two'));
  const head = r.heads()[0]!;
  assert.equal(head.keepAlive, false);
  assert.deepEqual(r.normalized().map((e) => e.type), ['head', 'data']);
  p.finish();
  assert.deepEqual(r.normalized().slice(1), [{ type: 'data', data: 'part one, part two' }, { type: 'complete', trailers: null }]);
  p.execute(buf('ignored'));
  p.finish();
  assert.equal(r.events.length, 4);
});

test('a response whose final transfer coding is not chunked reads until close', () => {
  const ev = parseWhole('response', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n\x1f\x8b...', { eof: true });
  const head = only(ev, 'head')[0]!.head;
  assert.equal(head.chunked, false);
  assert.equal(head.keepAlive, false);
  assert.deepEqual(ev.slice(1), [{ type: 'data', data: '\x1f\x8b...' }, { type: 'complete', trailers: null }]);
});

test('finish() between messages is a clean close; inside a message it is an error', () => {
  assert.deepEqual(parseWhole('request', GET, { eof: true }).map((e) => e.type), ['head', 'complete']);
  const cases = [
    'GET / HTTP/1.1\r\nHost',
    'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab',
    'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab',
    'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n',
  ];
  for (const input of cases) {
    const ev = parseWhole('request', input, { eof: true });
    assert.deepEqual(ev.at(-1), { type: 'error', code: 'HPE_INVALID_EOF_STATE', status: 400 }, input);
  }
});

// ---- upgrades -------------------------------------------------------------------------------

test('101 response: onHead, onComplete, then the rest is kept for takeRemaining()', () => {
  const { p, r } = parser('response');
  p.execute(buf('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: WebSocket\r\n\r\n\x81\x02hi'));
  assert.deepEqual(r.events.map((e) => e.type), ['head', 'complete']);
  assert.equal(r.heads()[0]!.upgrade, 'websocket');
  p.execute(buf('more'));
  assert.equal(r.events.length, 2);
  assert.equal(p.takeRemaining()!.toString('latin1'), '\x81\x02himore');
  assert.equal(p.takeRemaining(), null);
  p.execute(buf('later'));
  assert.equal(p.takeRemaining()!.toString('latin1'), 'later');
});

test('an upgrade request (after its body) and CONNECT stop the parser; takeRemaining() has the tunnel bytes', () => {
  {
    const { p, r } = parser('request');
    p.execute(buf('POST /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c, websocket\r\nContent-Length: 2\r\n\r\nokGET / HTTP/1.1\r\n'));
    assert.deepEqual(r.normalized().map((e) => e.type), ['head', 'data', 'complete']);
    assert.equal(r.heads()[0]!.upgrade, 'h2c, websocket');
    assert.equal(p.takeRemaining()!.toString('latin1'), 'GET / HTTP/1.1\r\n');
  }
  {
    const { p, r } = parser('request');
    r.after = (e) => {
      if (e.type === 'complete') p.pause();
    };
    p.execute(buf('CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\nContent-Length: 3\r\n\r\n\x00\x01\x02\x03'));
    assert.deepEqual(r.events.map((e) => e.type), ['head', 'complete']);
    assert.equal(r.heads()[0]!.method, 'CONNECT');
    assert.equal(r.heads()[0]!.url, 'db.internal:5432');
    p.execute(buf('\x04'));
    assert.deepEqual([...p.takeRemaining()!], [0, 1, 2, 3, 4]);
  }
});

test('Upgrade without the Connection token, or in HTTP/1.0, is not an upgrade', () => {
  const h = (s: string) => only(parseWhole('request', s + GET), 'head');
  assert.equal(h('GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n').length, 2);
  assert.equal(h('GET / HTTP/1.0\r\nConnection: upgrade, keep-alive\r\nUpgrade: websocket\r\n\r\n').length, 2);
  assert.equal(h('GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n')[0]!.head.upgrade, null);
});

test('takeRemaining() called from onComplete includes the rest of the input being parsed', () => {
  for (const kind of ['request', 'response'] as const) {
    const { p, r } = parser(kind);
    let taken: Buffer | null = null;
    r.after = (e) => {
      if (e.type === 'complete') taken = p.takeRemaining();
    };
    p.execute(buf(kind === 'request'
      ? 'GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nframe-1'
      : 'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nframe-1'));
    assert.equal((taken as Buffer | null)?.toString(), 'frame-1', kind);
    p.execute(buf('frame-2'));
    assert.equal(p.takeRemaining()?.toString(), 'frame-2', kind);
    assert.deepEqual(r.events.map((e) => e.type), ['head', 'complete'], kind);
  }
});

test('takeRemaining() from onHead of a response to CONNECT stops the parser there', () => {
  const { p, r } = parser('response');
  let taken: Buffer | null = null;
  r.after = (e) => {
    if (e.type === 'head') taken = p.takeRemaining();
  };
  p.execute(buf('HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01'));
  assert.deepEqual([...(taken as unknown as Buffer)], [0x16, 3, 1]);
  assert.deepEqual(r.events.map((e) => e.type), ['head']);
  p.finish();
  assert.deepEqual(r.events.map((e) => e.type), ['head']);
});

test('a declined upgrade: takeRemaining(), reset(), execute() continues as HTTP', () => {
  const { p, r } = parser('request');
  p.execute(buf('GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n' + GET));
  const rest = p.takeRemaining()!;
  p.reset();
  p.execute(rest);
  assert.deepEqual(r.heads().map((h) => h.url), ['/ws', '/api/items?id=7&x=%20']);
});

test('takeRemaining() on a paused keep-alive parser hands over the queued bytes and stops it', () => {
  const { p, r } = parser('response');
  r.noBody = () => true; // e.g. a 200 to CONNECT
  r.after = (e) => {
    if (e.type === 'complete') p.pause();
  };
  p.execute(buf('HTTP/1.1 200 Connection established\r\n\r\ntunnel'));
  assert.equal(p.takeRemaining()!.toString(), 'tunnel');
  p.resume();
  p.execute(buf('HTTP/1.1 200 OK\r\n\r\n'));
  assert.equal(r.heads().length, 1);
  assert.equal(p.takeRemaining()!.toString(), 'HTTP/1.1 200 OK\r\n\r\n');
});

// ---- limits and reuse -----------------------------------------------------------------------

test('a head over maxHeaderBytes is a 431, detected before the head is complete', () => {
  const max = 256;
  const big = 'GET / HTTP/1.1\r\nHost: h\r\nX-Big: ' + 'a'.repeat(300);
  const { p, r } = parser('request', max);
  p.execute(buf(big.slice(0, 100)));
  assert.equal(r.events.length, 0);
  p.execute(buf(big.slice(100)));
  assert.deepEqual(r.events, [{ type: 'error', code: 'HPE_HEADER_OVERFLOW', status: 431 }]);
  // a complete head, one byte too long, in one buffer
  const head = 'GET / HTTP/1.1\r\nHost: h\r\nX: ' + 'b'.repeat(max - 31) + '\r\n\r\n';
  assert.equal(head.length, max + 1);
  assert.deepEqual(parseWhole('request', head, { max }), [{ type: 'error', code: 'HPE_HEADER_OVERFLOW', status: 431 }]);
  assert.equal(only(parseWhole('request', head.slice(1), { max }), 'head')[0]!.head.headBytes, max);
  // and split just before its end
  assert.deepEqual(parsePieces('request', [head.slice(0, max - 2), head.slice(max - 2)], { max }), [{ type: 'error', code: 'HPE_HEADER_OVERFLOW', status: 431 }]);
});

test('a trailer section over maxHeaderBytes is a 431', () => {
  const input = 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ' + 'a'.repeat(400) + '\r\n\r\n';
  const ev = parseWhole('request', input, { max: 256 });
  assert.deepEqual(ev.at(-1), { type: 'error', code: 'HPE_HEADER_OVERFLOW', status: 431 });
  assert.equal(only(ev, 'head').length, 1);
});

test('endless empty lines before a request line hit the head limit', () => {
  const { p, r } = parser('request', 64);
  for (let i = 0; i < 40; i++) p.execute(buf('\r\n'));
  assert.deepEqual(r.events, [{ type: 'error', code: 'HPE_HEADER_OVERFLOW', status: 431 }]);
});

test('after an error the parser ignores input; reset() makes it usable again', () => {
  const { p, r } = parser('request');
  p.execute(buf('GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n'));
  p.execute(buf(GET));
  p.finish();
  assert.deepEqual(r.events, [{ type: 'error', code: 'HPE_INVALID_HEADER_TOKEN', status: 400 }]);
  p.reset();
  p.execute(buf(GET));
  assert.deepEqual(r.events.slice(1).map((e) => e.type), ['head', 'complete']);
});

test('reset() from inside a callback drops the rest of the current input', () => {
  const { p, r } = parser('request');
  r.after = (e) => {
    if (e.type === 'complete' && r.heads().length === 1) p.reset();
  };
  p.execute(buf(GET + GET));
  assert.equal(r.heads().length, 1);
  p.execute(buf(GET));
  assert.equal(r.heads().length, 2);
});
