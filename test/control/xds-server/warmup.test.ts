// The xDS server's warm-up after a (re)start: a proxy that reconnects saying what it had (SotW:
// a version on its first requests, EDS names; delta: initial_resource_versions) is sent nothing
// until every resource it had exists again (endpoints with at least one endpoint), or the window
// ends; a proxy connecting for the first time is answered at once.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { XdsServer } from '../../../src/control/xds-server/index.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../../src/xds/resource-types.js';
import { setSink } from '../../../src/observe/logger.js';
import { cluster, deltaStream, endpoints, FakeGenerator, listener, node, route, sotwStream } from '../../helpers/ads-client.js';

const logs: string[] = [];
setSink((line) => { logs.push(line); });

/** Before the peers re-register: only the proxy's own cluster `a`; later `b` comes back. */
const partial = () => ({
  [CLUSTER_TYPE]: { a: cluster('a') },
  [ENDPOINT_TYPE]: { a: endpoints('a', 1001) },
  [LISTENER_TYPE]: { l1: listener('l1', 8001, 'r1') },
  [ROUTE_TYPE]: { r1: route('r1', 'a') },
});
const full = () => ({
  [CLUSTER_TYPE]: { a: cluster('a'), b: cluster('b') },
  [ENDPOINT_TYPE]: { a: endpoints('a', 1001), b: endpoints('b', 1002) },
  [LISTENER_TYPE]: { l1: listener('l1', 8001, 'r1') },
  [ROUTE_TYPE]: { r1: route('r1', 'a') },
});

async function serve(t: TestContext, gen: FakeGenerator, reconnectHoldMs: number) {
  const server = new XdsServer({ generator: gen, port: 0, host: '127.0.0.1', debounceMs: 5, maxDebounceMs: 50, reconnectHoldMs, reconnectMinHoldMs: 20 });
  const { port } = await server.start();
  t.after(() => server.close());
  return { server, port };
}

test('SotW: a reconnecting proxy is held until what it had exists again; a new proxy is served at once', async (t) => {
  const gen = new FakeGenerator({ '*': partial() });
  const { server, port } = await serve(t, gen, 30_000);

  const fresh = sotwStream(port);
  t.after(() => fresh.close());
  fresh.send({ node: node('new-proxy'), type_url: CLUSTER_TYPE });
  assert.deepEqual((await fresh.next()).type_url, CLUSTER_TYPE, 'a first connection is answered at once');

  const back = sotwStream(port);
  t.after(() => back.close());
  back.send({ node: node('old-proxy'), type_url: CLUSTER_TYPE, version_info: 'v-before' });
  back.send({ type_url: ENDPOINT_TYPE, version_info: 'v-before', resource_names: ['a', 'b'] });
  let got = false;
  const first = back.next().then((r) => { got = true; return r; });
  // Pushes while `b` is still unknown send nothing to it.
  server.push();
  await new Promise((r) => server.once('pushed', r));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(got, false, 'nothing sent while b is missing');
  assert.ok(logs.some((l) => /warm-up: old-proxy reconnected; holding its updates/.test(l)), logs.join('\n'));

  gen.set('*', full());
  server.push();
  const cds = await first;
  assert.equal(cds.type_url, CLUSTER_TYPE);
  assert.equal(cds.resources.length, 2, 'the released config has both clusters');
  const eds = await back.next();
  assert.equal(eds.type_url, ENDPOINT_TYPE);
  assert.equal(eds.resources.length, 2);
  assert.ok(logs.some((l) => /warm-up: old-proxy released after \d+ ms: everything it had is known again/.test(l)), logs.join('\n'));
});

test('delta: initial_resource_versions mark a reconnect; when the window ends, a proxy still held gets the current config', async (t) => {
  const gen = new FakeGenerator({ '*': partial() });
  const { port } = await serve(t, gen, 400);
  const back = deltaStream(port);
  t.after(() => back.close());
  const started = Date.now();
  back.send({ node: node('delta-proxy'), type_url: CLUSTER_TYPE, initial_resource_versions: { a: 'x', b: 'y' } });
  const cds = await back.next();
  assert.ok(Date.now() - started >= 300, `held until the window ended (${Date.now() - started} ms)`);
  assert.equal(cds.type_url, CLUSTER_TYPE);
  assert.deepEqual(cds.removed_resources, ['b'], 'then told what no longer exists');
  assert.ok(logs.some((l) => /warm-up: delta-proxy released after \d+ ms: the warm-up window ended/.test(l)), logs.join('\n'));
});
