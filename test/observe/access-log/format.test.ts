// Tests for Envoy format strings and json_format dictionaries (src/observe/access-log/format.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { StreamInfo } from '../../../src/proxy/stream-info.js';
import {
  DEFAULT_FORMAT, FormatError, compileJsonFormat, compileTemplate, compileTimeFormat, validateJsonFormat, validateTemplate,
} from '../../../src/observe/access-log/format.js';

const START = Date.UTC(2016, 3, 15, 20, 17, 0, 310); // 2016-04-15T20:17:00.310Z

function sample(): StreamInfo {
  const i = new StreamInfo();
  i.startTime = START;
  i.startMono = 1000;
  i.endMono = 1226.7;
  i.protocol = 'HTTP/2';
  i.method = 'POST';
  i.path = '/api/v1/locations?x=1';
  i.authority = 'locations';
  i.requestHeaders = [
    'host', 'locations', 'x-forwarded-for', '10.0.35.28', 'user-agent', 'nsq2http',
    'x-request-id', 'cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2', 'x-multi', 'a', 'x-multi', 'b',
  ];
  i.responseHeaders = ['x-envoy-upstream-service-time', '100', 'content-type', 'text/plain'];
  i.responseTrailers = ['grpc-status', '0'];
  i.responseCode = 204;
  i.bytesReceived = 154;
  i.bytesSent = 0;
  i.upstreamHost = '10.0.2.1:80';
  i.upstreamCluster = 'locations';
  i.downstreamRemoteAddress = '10.0.35.28:51000';
  i.downstreamDirectRemoteAddress = '[::1]:40000';
  i.downstreamLocalAddress = '10.0.0.5:8080';
  i.routeName = 'r1';
  i.requestId = 'cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2';
  return i;
}

test('the default format renders Envoy\'s documented example line', () => {
  const line = compileTemplate(DEFAULT_FORMAT)(sample());
  assert.equal(line,
    '[2016-04-15T20:17:00.310Z] "POST /api/v1/locations?x=1 HTTP/2" 204 - 154 0 226 100 "10.0.35.28" ' +
    '"nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "10.0.2.1:80"\n');
});

test('X-ENVOY-ORIGINAL-PATH wins over :PATH when present (alternative header after ?)', () => {
  const info = sample();
  info.requestHeaders.push('x-envoy-original-path', '/orig');
  assert.equal(compileTemplate('%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%')(info), '/orig');
});

test('missing values print - in text', () => {
  const info = new StreamInfo();
  info.startMono = performance.now();
  info.endMono = info.startMono;
  const line = compileTemplate('%REQ(USER-AGENT)% %RESP(X-FOO)% %TRAILER(GRPC-STATUS)% %RESPONSE_FLAGS% ' +
    '%RESPONSE_CODE_DETAILS% %UPSTREAM_HOST% %UPSTREAM_CLUSTER% %ROUTE_NAME% %DOWNSTREAM_REMOTE_ADDRESS% %REQ(:METHOD)%')(info);
  assert.equal(line, '- - - - - - - - - -');
});

test('numbers print as numbers; an unanswered stream has RESPONSE_CODE 0', () => {
  const info = new StreamInfo();
  assert.equal(compileTemplate('%RESPONSE_CODE% %BYTES_RECEIVED% %UPSTREAM_REQUEST_ATTEMPT_COUNT%')(info), '0 0 0');
  info.upstreamHost = '1.2.3.4:80';
  info.retries = 2;
  assert.equal(compileTemplate('%UPSTREAM_REQUEST_ATTEMPT_COUNT%')(info), '3');
});

test('REQ/RESP/TRAILER: names are case-insensitive, repeated headers comma-joined, pseudo-headers from StreamInfo', () => {
  const info = sample();
  assert.equal(compileTemplate('%REQ(User-Agent)%')(info), 'nsq2http');
  assert.equal(compileTemplate('%REQ(X-MULTI)%')(info), 'a,b');
  assert.equal(compileTemplate('%REQ(:method)% %REQ(:AUTHORITY)% %REQ(HOST)%')(info), 'POST locations locations');
  assert.equal(compileTemplate('%RESP(Content-Type)% %RESP(:STATUS)% %TRAILER(grpc-status)%')(info), 'text/plain 204 0');
  assert.equal(compileTemplate('%REQUEST_HEADER(USER-AGENT)% %RESPONSE_HEADER(CONTENT-TYPE)%')(info), 'nsq2http text/plain');
  assert.equal(compileTemplate('%REQ_WITHOUT_QUERY(:PATH)%')(info), '/api/v1/locations');
  assert.equal(compileTemplate('%REQ(X-MISSING?USER-AGENT)%')(info), 'nsq2http');
});

test('max length truncates after the closing parenthesis or the command', () => {
  const info = sample();
  assert.equal(compileTemplate('%REQ(USER-AGENT):3%')(info), 'nsq');
  assert.equal(compileTemplate('%UPSTREAM_HOST:4%')(info), '10.0');
  assert.equal(compileTemplate('%REQ(X-MISSING):3%')(info), '-');
});

test('addresses with and without port', () => {
  const info = sample();
  assert.equal(
    compileTemplate('%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_DIRECT_REMOTE_ADDRESS% ' +
      '%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_PORT%')(info),
    '10.0.35.28:51000 10.0.35.28 [::1]:40000 ::1 10.0.0.5:8080 8080');
});

test('stream fields: protocol, details, flags, route, cluster, hostname', () => {
  const info = sample();
  info.responseFlags = 'UH,UF';
  info.responseCodeDetails = 'via_upstream';
  assert.equal(
    compileTemplate('%PROTOCOL% %RESPONSE_CODE_DETAILS% %RESPONSE_FLAGS% %ROUTE_NAME% %UPSTREAM_CLUSTER% %HOSTNAME% %DURATION%')(info),
    `HTTP/2 via_upstream UH,UF r1 locations ${hostname()} 226`);
});

test('%% is a literal percent', () => {
  assert.equal(compileTemplate('100%% %RESPONSE_CODE%%%')(sample()), '100% 204%');
});

test('START_TIME with strftime formats, %s and fractional seconds, in UTC', () => {
  const info = sample();
  assert.equal(compileTemplate('%START_TIME(%Y/%m/%dT%H:%M:%S%z %s)%')(info), '2016/04/15T20:17:00+0000 1460751420');
  assert.equal(compileTemplate('%START_TIME(%s.%3f)%')(info), '1460751420.310');
  assert.equal(compileTemplate('%START_TIME(%s.%6f)%')(info), '1460751420.310000');
  assert.equal(compileTemplate('%START_TIME(%s.%9f)%')(info), '1460751420.310000000');
  assert.equal(compileTemplate('%START_TIME(%Y-%m-%dT%H:%M:%E3SZ)%')(info), '2016-04-15T20:17:00.310Z');
  assert.equal(compileTemplate('%START_TIME(%Y-%m-%dT%H:%M:%S.%3fZ)%')(info), '2016-04-15T20:17:00.310Z');
  assert.equal(compileTemplate('%START_TIME(%a %b %e %T %Y %j)%')(info), 'Fri Apr 15 20:17:00 2016 106');
});

test('START_TIME caching per second still renders each millisecond and each new second', () => {
  for (const fmt of [undefined, '%H:%M:%S.%3f']) {
    const f = compileTimeFormat(fmt);
    const base = Date.UTC(2024, 0, 1, 23, 59, 59, 0);
    const seen: string[] = [];
    for (const ms of [0, 1, 999, 1000, 1001]) seen.push(f(base + ms));
    const iso = (ms: number): string => new Date(base + ms).toISOString();
    if (fmt === undefined) assert.deepEqual(seen, [0, 1, 999, 1000, 1001].map(iso));
    else assert.deepEqual(seen, ['23:59:59.000', '23:59:59.001', '23:59:59.999', '00:00:00.000', '00:00:00.001']);
  }
});

test('unknown commands throw FormatError UNKNOWN_COMMAND with the command name', () => {
  assert.throws(() => compileTemplate('x %NOPE% y'), (err: unknown) => {
    assert.ok(err instanceof FormatError);
    assert.equal(err.code, 'UNKNOWN_COMMAND');
    assert.equal(err.command, 'NOPE');
    assert.equal(err.position, 2);
    return true;
  });
  assert.throws(() => compileTemplate('%REQUEST_ID%'), { code: 'UNKNOWN_COMMAND', command: 'REQUEST_ID' });
});

test('malformed format strings throw INVALID_FORMAT', () => {
  for (const bad of ['50% off', '%REQ%', '%REQ(A?B?C)%', '%PROTOCOL(x)%', '%lower%', 'trailing %']) {
    assert.throws(() => compileTemplate(bad), { name: 'FormatError', code: 'INVALID_FORMAT' }, bad);
  }
});

test('validateTemplate lists errors instead of throwing', () => {
  assert.deepEqual(validateTemplate(DEFAULT_FORMAT), []);
  const errs = validateTemplate('%FOO%');
  assert.equal(errs.length, 1);
  assert.match(errs[0]!, /FOO/);
});

test('json_format: a lone operator keeps its type, unset is null, mixed values are strings, keys sorted, one line', () => {
  const info = sample();
  info.responseFlags = '';
  const f = compileJsonFormat({
    status: '%RESPONSE_CODE%',
    bytes: '%BYTES_RECEIVED%',
    method: '%REQ(:METHOD)%',
    missing: '%REQ(X-MISSING)%',
    flags: '%RESPONSE_FLAGS%',
    mixed: '%DURATION%ms %REQ(X-MISSING)%',
    constant: 'literal 100%%',
    nested: { host: '%UPSTREAM_HOST%', list: ['%RESPONSE_CODE%', 'x'] },
    start: '%START_TIME%',
    n: 7,
    b: true,
  });
  const line = f(info);
  assert.ok(line.endsWith('}\n'));
  assert.equal(line.indexOf('\n'), line.length - 1);
  const obj = JSON.parse(line);
  assert.deepEqual(obj, {
    status: 204, bytes: 154, method: 'POST', missing: null, flags: '-', mixed: '226ms -', constant: 'literal 100%',
    nested: { host: '10.0.2.1:80', list: [204, 'x'] }, start: '2016-04-15T20:17:00.310Z', n: 7, b: true,
  });
  assert.deepEqual(Object.keys(obj), Object.keys(obj).sort());
});

test('json_format escapes header values into valid JSON', () => {
  const info = sample();
  info.requestHeaders.push('user-agent', 'evil"\n\\ua');
  const line = compileJsonFormat({ ua: '%REQ(USER-AGENT)%' })(info);
  assert.equal(JSON.parse(line).ua, 'nsq2http,evil"\n\\ua');
});

test('json_format reports every bad value with its path; the thrown error keeps the first code and command', () => {
  const fields = { a: '%NOPE%', b: { c: '%BAD(' } };
  assert.throws(() => compileJsonFormat(fields), (err: unknown) => {
    assert.ok(err instanceof FormatError);
    assert.equal(err.code, 'UNKNOWN_COMMAND');
    assert.equal(err.command, 'NOPE');
    assert.match(err.message, /^a: .*NOPE.*; b\.c: /);
    return true;
  });
  assert.equal(validateJsonFormat(fields).length, 2);
  assert.deepEqual(validateJsonFormat({ ok: '%PROTOCOL%' }), []);
});
