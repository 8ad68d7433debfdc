// Unit tests for the proto3-JSON decoding toolkit (src/envoy/decode/): context paths, scalar and
// well-known-type readers, messages with unknown/unsupported fields, oneofs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ctx, show } from '../../../src/envoy/decode/context.js';
import { deepFreeze } from '../../../src/envoy/decode/freeze.js';
import {
  asList, bool, defineMessage, double, duration, enumeration, int64, integer, jsonName, list, mapOf, message, positiveDuration,
  itemCtx, readMessage, string, struct, supportedValue, uint32, wrapped, type Reader,
} from '../../../src/envoy/decode/readers.js';
import { runDecoder } from '../../../src/envoy/decode/result.js';
import { ExtensionRegistry } from '../../../src/envoy/decode/typed.js';

function ctx(path = 'x'): Ctx {
  return Ctx.root({ baseDir: '.', extensions: new ExtensionRegistry([]), clusterRefs: [] }, path);
}

/** Runs a reader on one value; returns its result and the errors it recorded. */
function run<T>(r: Reader<T>, value: unknown): { value: T | undefined; errors: string[] } {
  const c = ctx();
  return { value: r(c, value), errors: c.errors };
}

test('context paths use snake_case fields, [i] indexes and quoted map keys', () => {
  const c = ctx('');
  c.field('static_resources').field('listeners').index(2).field('name').expected('a string', 3);
  c.field('typed_extension_protocol_options').key('a.b').fail('bad');
  c.expected('an object', null);
  assert.deepEqual(c.errors, [
    'static_resources.listeners[2].name: expected a string, got 3',
    'typed_extension_protocol_options["a.b"]: bad',
    '(root): expected an object, got null',
  ]);
});

test('show never cuts a type URL in two: it keeps it whole and truncates after it', () => {
  const url = 'type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig';
  assert.equal(show(url), JSON.stringify(url));
  const shown = show({ provider: { name: 'envoy.tracers.zipkin', typed_config: { '@type': url, collector_cluster: 'z'.repeat(100) } } });
  assert.ok(shown.includes(`"@type":"${url}"`), shown);
  assert.ok(shown.endsWith('...'), shown);
  assert.ok(!shown.includes('zzzz'), shown);
});

test('show renders JSON, truncates long values and says "nothing" for absent ones', () => {
  assert.equal(show('abc'), '"abc"');
  assert.equal(show(undefined), 'nothing');
  assert.equal(show({ a: [1, 2] }), '{"a":[1,2]}');
  const long = show('y'.repeat(200));
  assert.equal(long.length, 80);
  assert.ok(long.endsWith('...'));
});

test('string and bool accept only their JSON types', () => {
  assert.deepEqual(run(string, 'a'), { value: 'a', errors: [] });
  assert.deepEqual(run(string, 1).errors, ['x: expected a string, got 1']);
  assert.deepEqual(run(bool, false), { value: false, errors: [] });
  assert.deepEqual(run(bool, 'true').errors, ['x: expected true or false, got "true"']);
});

test('integers check range and accept decimal strings (proto3 JSON 64-bit form)', () => {
  assert.equal(run(uint32, 7).value, 7);
  assert.equal(run(uint32, '4294967295').value, 4294967295);
  assert.deepEqual(run(uint32, -1).errors, ['x: expected an integer in 0..4294967295, got -1']);
  assert.deepEqual(run(uint32, 1.5).errors, ['x: expected an integer in 0..4294967295, got 1.5']);
  assert.deepEqual(run(integer(1, 8192), 9000).errors, ['x: expected an integer in 1..8192, got 9000']);
  assert.deepEqual(run(integer(1, 10, 'a port'), 0).errors, ['x: expected a port, got 0']);
  assert.equal(run(int64, '-12').value, -12);
  assert.deepEqual(run(int64, '1e3').errors.length, 1);
});

test('double accepts numbers and numeric strings within bounds', () => {
  assert.equal(run(double(0, 100), 25.5).value, 25.5);
  assert.equal(run(double(0, 100), '50').value, 50);
  assert.deepEqual(run(double(0, 100), 101).errors, ['x: expected a number in 0..100, got 101']);
  assert.equal(run(double(), 'NaN').errors.length, 1);
});

test('enum names match in any case (Envoy parses with case_insensitive_enum_parsing) and numbers may be strings', () => {
  const type = enumeration({ STATIC: 0, STRICT_DNS: 1, LOGICAL_DNS: 2 });
  assert.deepEqual(run(type, 'strict_dns'), { value: 'STRICT_DNS', errors: [] });
  assert.deepEqual(run(type, 'Logical_Dns'), { value: 'LOGICAL_DNS', errors: [] });
  assert.deepEqual(run(type, 'static'), { value: 'STATIC', errors: [] });
  assert.deepEqual(run(type, '1'), { value: 'STRICT_DNS', errors: [] });
  // Only case is forgiven: other spellings are still errors.
  assert.deepEqual(run(type, 'strict-dns').errors, ['x: expected one of STATIC, STRICT_DNS, LOGICAL_DNS, got "strict-dns"']);
  assert.deepEqual(run(type, 'STRICTDNS').errors, ['x: expected one of STATIC, STRICT_DNS, LOGICAL_DNS, got "STRICTDNS"']);
  assert.deepEqual(run(type, '9').errors, ['x: expected one of STATIC, STRICT_DNS, LOGICAL_DNS, got "9"']);
});

test('enums decode from name or number to the name, and supportedValue narrows them', () => {
  const codec = enumeration({ AUTO: 0, HTTP1: 1, HTTP2: 2 });
  assert.equal(run(codec, 'HTTP1').value, 'HTTP1');
  assert.equal(run(codec, 2).value, 'HTTP2');
  assert.deepEqual(run(codec, 'SPDY').errors, ['x: expected one of AUTO, HTTP1, HTTP2, got "SPDY"']);
  assert.deepEqual(run(codec, 7).errors, ['x: expected one of AUTO, HTTP1, HTTP2, got 7']);
  const c = ctx();
  assert.equal(supportedValue(c, 'HTTP2' as 'AUTO' | 'HTTP1' | 'HTTP2', ['AUTO', 'HTTP1']), undefined);
  assert.deepEqual(c.errors, ['x: expected one of AUTO, HTTP1 (HTTP2 is not supported yet), got "HTTP2"']);
});

test('durations decode "1.5s" strings and {seconds, nanos} objects to milliseconds', () => {
  assert.equal(run(duration, '1.5s').value, 1500);
  assert.equal(run(duration, '0s').value, 0);
  assert.equal(run(duration, '0.000001s').value, 0.001);
  assert.equal(run(duration, '3600s').value, 3_600_000);
  assert.equal(run(duration, { seconds: 2, nanos: 500_000_000 }).value, 2500);
  assert.equal(run(duration, { seconds: '10' }).value, 10_000);
  assert.equal(run(duration, { nanos: 1_000_000 }).value, 1);
  for (const bad of ['abc', '1.5', '1.5ms', '-1s', '1.0000000001s', 5, { seconds: 1, millis: 2 }, { nanos: 2e9 }]) {
    assert.deepEqual(run(duration, bad).errors, [`x: expected a duration like "1.5s", got ${JSON.stringify(bad)}`], String(bad));
  }
  assert.deepEqual(run(positiveDuration, '0s').errors, ['x: expected a positive duration like "1.5s", got "0s"']);
  assert.equal(run(positiveDuration, '0.001s').value, 1);
});

test('wrapper types accept the bare value or {value}', () => {
  const w = wrapped(uint32);
  assert.equal(run(w, 5).value, 5);
  assert.equal(run(w, { value: 5 }).value, 5);
  assert.deepEqual(run(w, { value: -5 }).errors, ['x.value: expected an integer in 0..4294967295, got -5']);
  assert.deepEqual(run(w, { value: 5, extra: 1 }).errors, ['x: expected an integer in 0..4294967295, got {"value":5,"extra":1}']);
  assert.equal(run(wrapped(bool), { value: true }).value, true);
});

test('lists report every bad item with its index and keep the good ones', () => {
  const r = run(list(uint32), [1, 'a', 3, -1]);
  assert.deepEqual(r.value, [1, 3]);
  assert.deepEqual(r.errors, [
    'x[1]: expected an integer in 0..4294967295, got "a"',
    'x[3]: expected an integer in 0..4294967295, got -1',
  ]);
  assert.deepEqual(run(list(uint32, { minItems: 1 }), []).errors, ['x: expected a list of at least 1 item, got []']);
  // Not a list and not a valid single item either: the item's error, at the field itself.
  assert.deepEqual(run(list(uint32), { a: 1 }).errors, ['x: expected an integer in 0..4294967295, got {"a":1}']);
});

test('a single item stands for a one-item list, as protobuf\'s JSON parser (legacy syntax) lets Envoy read it', () => {
  assert.deepEqual(run(list(uint32), 7), { value: [7], errors: [] });
  assert.deepEqual(run(list(string, { minItems: 1 }), '*'), { value: ['*'], errors: [] });
  const inner = message(SAMPLE, (m) => m.req('port_value', integer(1, 65535)));
  assert.deepEqual(run(list(inner), { port_value: 80 }), { value: [80], errors: [] });
  assert.deepEqual(run(list(inner), { port_value: 0 }).errors, ['x.port_value: expected an integer in 1..65535, got 0']);
  assert.deepEqual(asList([1, 2]), [1, 2]);
  assert.deepEqual(asList('a'), ['a']);
  assert.deepEqual(asList(undefined), []);
  assert.deepEqual(asList(null), []);
  assert.equal(itemCtx(ctx(), [1], 0).path, 'x[0]');
  assert.equal(itemCtx(ctx(), 1, 0).path, 'x');
});

test('maps keep their keys verbatim and quote them in paths', () => {
  const r = run(mapOf(uint32), { 'envoy.x': 1, fooBar: 'no' });
  assert.deepEqual([...(r.value ?? new Map()).entries()], [['envoy.x', 1]]);
  assert.deepEqual(r.errors, ['x["fooBar"]: expected an integer in 0..4294967295, got "no"']);
});

test('struct copies arbitrary JSON objects', () => {
  const input = { a: { b: [1] } };
  const r = run(struct, input);
  assert.deepEqual(r.value, input);
  assert.notEqual(r.value, input);
  assert.equal(run(struct, []).errors.length, 1);
});

const SAMPLE = defineMessage({
  name: 'test.v3.Sample',
  fields: ['port_value', 'accept_http_10', 'name', 'a', 'b'],
  unsupported: ['c', 'named_port'],
  informational: ['stat_prefix'],
});

test('jsonName follows protoc: accept_http_10 → acceptHttp10', () => {
  assert.equal(jsonName('port_value'), 'portValue');
  assert.equal(jsonName('accept_http_10'), 'acceptHttp10');
  assert.equal(jsonName('name'), 'name');
});

test('messages accept snake_case and lowerCamelCase keys and report paths in snake_case', () => {
  const c = ctx();
  const m = readMessage(c, { portValue: 80, acceptHttp10: true, statPrefix: 'ignored' }, SAMPLE)!;
  assert.equal(m.get('port_value', uint32, 0), 80);
  assert.equal(m.get('accept_http_10', bool, false), true);
  assert.equal(m.has('stat_prefix'), true);
  m.at('port_value').expected('something', 80);
  assert.deepEqual(c.errors, ['x.port_value: expected something, got 80']);
});

test('messages report unknown and unsupported fields separately, and nulls count as absent', () => {
  const c = ctx();
  const m = readMessage(c, { name: 'n', colourCode: 1, c: { deep: true }, named_port: null, a: null }, SAMPLE)!;
  assert.deepEqual(c.errors, [
    'x.colour_code: unknown field, got 1',
    'x.c: unsupported field, got {"deep":true}',
  ]);
  assert.equal(m.has('a'), false);
  assert.equal(m.raw('name'), 'n');
});

test('an unknown field that matches a known one but for case gets a "did you mean" hint', () => {
  const c = ctx();
  readMessage(c, { Name: 'n', PortValue: 1, Accept_Http_10: true, Stat_prefix: 's', nmae: 'x' }, SAMPLE);
  assert.deepEqual(c.errors, [
    `x.Name: unknown field 'Name' (field names are case-sensitive: did you mean 'name'?), got "n"`,
    `x.PortValue: unknown field 'PortValue' (field names are case-sensitive: did you mean 'portValue'?), got 1`,
    `x.Accept_Http_10: unknown field 'Accept_Http_10' (field names are case-sensitive: did you mean 'accept_http_10'?), got true`,
    `x.Stat_prefix: unknown field 'Stat_prefix' (field names are case-sensitive: did you mean 'stat_prefix'?), got "s"`,
    'x.nmae: unknown field, got "x"',
  ]);
});

test('orDefault gives the default when absent and undefined when invalid (so dependent checks can be skipped)', () => {
  const c = ctx();
  const m = readMessage(c, { a: 'bad', b: 3 }, SAMPLE)!;
  assert.equal(m.orDefault('a', uint32, 7), undefined);
  assert.equal(m.orDefault('b', uint32, 7), 3);
  assert.equal(m.orDefault('name', uint32, 7), 7);
  assert.deepEqual(c.errors, ['x.a: expected an integer in 0..4294967295, got "bad"']);
});

test('a field given in both spellings is an error', () => {
  const c = ctx();
  readMessage(c, { port_value: 1, portValue: 2 }, SAMPLE);
  assert.deepEqual(c.errors, ['x.port_value: expected the field once, got it as both port_value and portValue']);
});

test('req reports missing fields with what the reader expects; get falls back to defaults', () => {
  const c = ctx();
  const m = readMessage(c, { a: 'str' }, SAMPLE)!;
  assert.equal(m.req('name', string), undefined);
  assert.equal(m.get('a', uint32, 9), 9);
  assert.deepEqual(c.errors, [
    'x.name: expected a string, got nothing',
    'x.a: expected an integer in 0..4294967295, got "str"',
  ]);
});

test('non-objects are rejected with the message name', () => {
  const c = ctx();
  assert.equal(readMessage(c, [1], SAMPLE), undefined);
  assert.deepEqual(c.errors, ['x: expected a Sample object, got [1]']);
});

test('oneof: exactly one / at most one, with unsupported members counted but not named', () => {
  const check = (input: Record<string, unknown>, required: boolean): { which: string | undefined; errors: string[] } => {
    const c = ctx();
    const m = readMessage(c, input, SAMPLE)!;
    return { which: m.oneof(['a', 'b'], { required, others: ['c'] }), errors: c.errors };
  };
  assert.deepEqual(check({ a: 1 }, true), { which: 'a', errors: [] });
  assert.deepEqual(check({}, false), { which: undefined, errors: [] });
  assert.deepEqual(check({}, true), { which: undefined, errors: ['x: expected exactly one of a, b, got nothing'] });
  assert.deepEqual(check({ a: 1, b: 2 }, false), { which: undefined, errors: ['x: expected at most one of a, b, got ["a","b"]'] });
  // The unsupported member is reported once, as unsupported, and does not trigger "exactly one".
  assert.deepEqual(check({ c: 1 }, true), { which: undefined, errors: ['x.c: unsupported field, got 1'] });
});

test('message() builds a reader that decodes nested messages with full paths', () => {
  const inner = message(SAMPLE, (m) => m.req('port_value', integer(1, 65535)));
  const r = run(list(inner), [{ port_value: 1 }, { portValue: 0 }, 'x']);
  assert.deepEqual(r.value, [1]);
  assert.deepEqual(r.errors, [
    'x[1].port_value: expected an integer in 1..65535, got 0',
    'x[2]: expected a Sample object, got "x"',
  ]);
});

test('deepFreeze freezes nested objects and arrays', () => {
  const v = deepFreeze({ a: [{ b: 1 }], c: { d: 'e' } });
  assert.ok(Object.isFrozen(v) && Object.isFrozen(v.a) && Object.isFrozen(v.a[0]) && Object.isFrozen(v.c));
  assert.throws(() => { (v.a as unknown as number[]).push(1); }, TypeError);
});

test('runDecoder returns a frozen value or every error', () => {
  const env = { baseDir: '.', extensions: new ExtensionRegistry([]), clusterRefs: [] };
  const ok = runDecoder(list(uint32), [1, 2], env, 'ports');
  assert.deepEqual(ok, { ok: true, value: [1, 2] });
  assert.ok(ok.ok && Object.isFrozen(ok.value));
  assert.deepEqual(runDecoder(list(uint32), [1, 'x', -1], env, 'ports'), {
    ok: false,
    errors: ['ports[1]: expected an integer in 0..4294967295, got "x"', 'ports[2]: expected an integer in 0..4294967295, got -1'],
  });
});
