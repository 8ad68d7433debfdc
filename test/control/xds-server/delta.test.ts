// The xDS server's incremental (delta) ADS: per-resource versions, only changed resources plus
// removals on a push, initial_resource_versions, subscribe/unsubscribe, ACK/NACK by nonce.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import { XdsServer } from '../../../src/control/xds-server/index.js';
import { ResourceCache } from '../../../src/control/xds-server/resource-cache.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from '../../../src/xds/resource-types.js';
import { setSink } from '../../../src/observe/logger.js';
import { cluster, decode, deltaStream, endpoints, FakeGenerator, node, type DeltaStream } from '../../helpers/ads-client.js';

setSink(() => {});

const ID = 'sidecar~127.0.0.1~app.default~default.svc.cluster.local';

function shape(clusters: Record<string, object>, eps: Record<string, object> = {}) {
  return { [CLUSTER_TYPE]: clusters, [ENDPOINT_TYPE]: eps };
}

async function serve(t: TestContext, gen: FakeGenerator) {
  const server = new XdsServer({ generator: gen, port: 0, host: '127.0.0.1', debounceMs: 5 });
  const { port } = await server.start();
  t.after(() => server.close());
  return { server, port };
}

function open(t: TestContext, port: number): DeltaStream {
  const s = deltaStream(port);
  t.after(() => s.close());
  return s;
}

const version = (o: object) => {
  const r = new ResourceCache().encode(CLUSTER_TYPE, o);
  assert.ok('version' in r);
  return r.version;
};

test('delta: the first response has every resource with its version; a push sends only changed ones plus removals', async (t) => {
  const a = cluster('a'), b = cluster('b'), c = cluster('c');
  const gen = new FakeGenerator({ '*': shape({ a, b, c }) });
  const { server, port } = await serve(t, gen);
  const s = open(t, port);
  s.send({ node: node(ID), type_url: CLUSTER_TYPE });
  const r1 = await s.next();
  assert.deepEqual(r1.resources.map((r) => r.name).sort(), ['a', 'b', 'c']);
  assert.equal(r1.resources.find((r) => r.name === 'a')!.version, version(a));
  assert.deepEqual(decode(r1.resources.find((r) => r.name === 'b')!.resource), { name: 'b', type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {} } } });
  assert.deepEqual(r1.removed_resources ?? [], []);
  assert.equal(server.status()[0]!.variant, 'delta');
  assert.equal(server.status()[0]!.types.CDS!.state, 'STALE');
  s.send({ type_url: CLUSTER_TYPE, response_nonce: r1.nonce });
  await s.expectNothingElse();
  assert.equal(server.status()[0]!.types.CDS!.state, 'SYNCED');
  assert.equal(server.status()[0]!.types.CDS!.resourceCount, 3);

  const b2 = cluster('b', '7s');
  gen.set('*', shape({ a, b: b2, d: cluster('d') }));
  server.push();
  const r2 = await s.next();
  assert.deepEqual(r2.resources.map((r) => r.name).sort(), ['b', 'd']);
  assert.equal(r2.resources.find((r) => r.name === 'b')!.version, version(b2));
  assert.deepEqual(r2.removed_resources, ['c']);
  assert.equal(r2.system_version_info, String(gen.version));
  await s.expectNothingElse();

  // No change: nothing.
  server.push();
  await once(server, 'pushed');
  await s.expectNothingElse();
  assert.ok(server.stats().bytesSent.delta > 0);
});

test('delta: initial_resource_versions are honoured (nothing resent at the same version, gone ones removed)', async (t) => {
  const a = cluster('a'), b = cluster('b');
  const gen = new FakeGenerator({ '*': shape({ a, b }) });
  const { port } = await serve(t, gen);
  const s = open(t, port);
  s.send({ node: node(ID), type_url: CLUSTER_TYPE, initial_resource_versions: { a: version(a), b: 'old', gone: 'x' } });
  const r = await s.next();
  assert.deepEqual(r.resources.map((x) => x.name), ['b']);
  assert.deepEqual(r.removed_resources, ['gone']);
});

test('delta: EDS by name — subscribe, a missing name is reported removed, unsubscribe stops updates', async (t) => {
  const gen = new FakeGenerator({ '*': shape({}, { a: endpoints('a', 1), b: endpoints('b', 2) }) });
  const { server, port } = await serve(t, gen);
  const s = open(t, port);
  s.send({ node: node(ID), type_url: ENDPOINT_TYPE, resource_names_subscribe: ['a'] });
  const r1 = await s.next();
  assert.deepEqual(r1.resources.map((x) => x.name), ['a']);
  s.send({ type_url: ENDPOINT_TYPE, response_nonce: r1.nonce, resource_names_subscribe: ['b', 'nope'] });
  const r2 = await s.next();
  assert.deepEqual(r2.resources.map((x) => x.name), ['b']);
  assert.deepEqual(r2.removed_resources, ['nope']);
  s.send({ type_url: ENDPOINT_TYPE, response_nonce: r2.nonce, resource_names_unsubscribe: ['a'] });
  await s.expectNothingElse();

  gen.set('*', shape({}, { a: endpoints('a', 11), b: endpoints('b', 22) }));
  server.push();
  const r3 = await s.next();
  assert.deepEqual(r3.resources.map((x) => x.name), ['b'], 'a was unsubscribed');
  assert.deepEqual(r3.removed_resources ?? [], []);
  assert.equal(decode(r3.resources[0]!.resource).cluster_name, 'b');
  await s.expectNothingElse();
  assert.equal(server.status()[0]!.types.EDS!.resourceCount, 1);
});

test('delta: a NACK is recorded, nothing is resent, the next change is sent', async (t) => {
  const gen = new FakeGenerator({ '*': shape({ a: cluster('a') }) });
  const { server, port } = await serve(t, gen);
  const s = open(t, port);
  s.send({ node: node(ID), type_url: CLUSTER_TYPE });
  const r1 = await s.next();
  s.send({ type_url: CLUSTER_TYPE, response_nonce: r1.nonce });
  gen.set('*', shape({ a: cluster('a', '2s') }));
  server.push();
  const r2 = await s.next();
  s.send({ type_url: CLUSTER_TYPE, response_nonce: r2.nonce, error_detail: { code: 3, message: 'a: bad timeout' } });
  await s.expectNothingElse();
  const st = server.status()[0]!.types.CDS!;
  assert.equal(st.state, 'NACKED');
  assert.equal(st.error, 'a: bad timeout');
  assert.deepEqual(st.rejectedResources, ['a']);
  assert.notEqual(st.ackedVersion, '', 'the earlier ACK is kept');
  assert.notEqual(st.ackedVersion, st.sentVersion);

  server.push();
  await once(server, 'pushed');
  await s.expectNothingElse();

  gen.set('*', shape({ a: cluster('a', '3s') }));
  server.push();
  const r3 = await s.next();
  assert.equal(decode(r3.resources[0]!.resource).connect_timeout, '3s');
  s.send({ type_url: CLUSTER_TYPE, response_nonce: r3.nonce });
  await s.expectNothingElse();
  assert.equal(server.status()[0]!.types.CDS!.state, 'SYNCED');
});
