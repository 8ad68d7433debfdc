// dns_lookup_family selection and the system resolver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SystemDnsResolver, selectFamily } from '../../../src/proxy/cluster/dns.js';

const mixed = ['10.0.0.1', '2001:db8::1', '10.0.0.2', '10.0.0.1', '2001:db8::2'];

test('lookup families pick addresses as Envoy does', () => {
  assert.deepEqual(selectFamily(mixed, 'V4_ONLY'), ['10.0.0.1', '10.0.0.2']);
  assert.deepEqual(selectFamily(mixed, 'V6_ONLY'), ['2001:db8::1', '2001:db8::2']);
  assert.deepEqual(selectFamily(mixed, 'AUTO'), ['2001:db8::1', '2001:db8::2']);
  assert.deepEqual(selectFamily(['10.0.0.1'], 'AUTO'), ['10.0.0.1']);
  assert.deepEqual(selectFamily(mixed, 'V4_PREFERRED'), ['10.0.0.1', '10.0.0.2']);
  assert.deepEqual(selectFamily(['2001:db8::1'], 'V4_PREFERRED'), ['2001:db8::1']);
  assert.deepEqual(selectFamily(mixed, 'ALL'), ['10.0.0.1', '2001:db8::1', '10.0.0.2', '2001:db8::2']);
});

test('the system resolver answers from /etc/hosts and passes literals through', async () => {
  const r = new SystemDnsResolver();
  const v4 = await r.resolve('localhost', 'V4_ONLY');
  assert.ok(v4.includes('127.0.0.1'), `localhost → ${v4}`);
  assert.deepEqual(await r.resolve('192.0.2.7', 'V4_ONLY'), ['192.0.2.7']);
  await assert.rejects(r.resolve('no-such-host.invalid', 'V4_ONLY'));
});
