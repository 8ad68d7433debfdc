// The xDS server's state-of-the-world ADS: warming order, versions, ACK/NACK, stale nonces,
// subscriptions by name, pushes that send only what changed, proxyless gRPC listener names.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import { XdsServer } from '../../../src/control/xds-server/index.js';
import { typeVersion, ResourceCache } from '../../../src/control/xds-server/resource-cache.js';
import type { ProxyInfo, ProxyLifecycle } from '../../../src/control/model.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../../src/xds/resource-types.js';
import { setSink } from '../../../src/observe/logger.js';
import {
  cluster, decode, endpoints, FakeGenerator, listener, node, PROBE_TYPE, route, sotwStream, type SotwStream,
} from '../../helpers/ads-client.js';

const logs: string[] = [];
setSink((line) => { logs.push(line); });

function shapeA() {
  return {
    [CLUSTER_TYPE]: { a: cluster('a'), b: cluster('b') },
    [ENDPOINT_TYPE]: { a: endpoints('a', 1001), b: endpoints('b', 1002) },
    [LISTENER_TYPE]: { l1: listener('l1', 8001, 'r1') },
    [ROUTE_TYPE]: { r1: route('r1', 'a'), r2: route('r2', 'b') },
  };
}

async function serve(t: TestContext, gen: FakeGenerator, lifecycle?: ProxyLifecycle) {
  const server = new XdsServer({ generator: gen, port: 0, host: '127.0.0.1', debounceMs: 5, maxDebounceMs: 50, controlPlaneId: 'weft-test', lifecycle });
  const { port } = await server.start();
  t.after(() => server.close());
  return { server, port };
}

function open(t: TestContext, port: number): SotwStream {
  const s = sotwStream(port);
  t.after(() => s.close());
  return s;
}

/** Subscribes to all four types as Envoy does (CDS with the node first) and returns the four responses in CDS, EDS, LDS, RDS order. */
async function subscribeAll(s: SotwStream, id: string, eds = ['a', 'b'], rds = ['r1']) {
  s.send({ node: node(id), type_url: CLUSTER_TYPE });
  const cds = await s.next();
  assert.equal(cds.type_url, CLUSTER_TYPE);
  s.send({ type_url: ROUTE_TYPE, resource_names: rds });
  s.send({ type_url: LISTENER_TYPE });
  s.send({ type_url: ENDPOINT_TYPE, resource_names: eds });
  const rest = await s.take(3);
  const order = [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE];
  return [cds, ...rest].sort((a, b) => order.indexOf(a.type_url) - order.indexOf(b.type_url));
}

async function ackAll(s: SotwStream, responses: { type_url: string; nonce: string; version_info: string }[], names: Record<string, string[]> = {}) {
  for (const r of responses) s.send({ type_url: r.type_url, response_nonce: r.nonce, version_info: r.version_info, resource_names: names[r.type_url] ?? [] });
}

test('first responses carry the proxy\'s resources with content versions, and ACKs make the proxy SYNCED', async (t) => {
  const gen = new FakeGenerator({ '*': shapeA() });
  const connected: [ProxyInfo, string][] = [];
  const { server, port } = await serve(t, gen, { onConnected: (p, peer) => connected.push([p, peer]), onDisconnected: () => {} });
  const s = open(t, port);
  const res = await subscribeAll(s, 'sidecar~127.0.0.1~app-1.default~default.svc.cluster.local');
  const [cds, eds, lds, rds] = res as [typeof res[0], typeof res[0], typeof res[0], typeof res[0]];
  assert.deepEqual(cds.resources.map((a) => decode(a).name), ['a', 'b']);
  assert.deepEqual(eds.resources.map((a) => decode(a).cluster_name), ['a', 'b']);
  assert.deepEqual(lds.resources.map((a) => decode(a).name), ['l1']);
  assert.deepEqual(rds.resources.map((a) => decode(a).name), ['r1'], 'RDS carries only the subscribed route');
  assert.deepEqual(decode(cds.resources[0]!), { name: 'a', type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {} } } });
  assert.equal(cds.control_plane?.identifier, 'weft-test');
  assert.equal(new Set(res.map((r) => r.nonce)).size, 4, 'every response has its own nonce');
  assert.notEqual(cds.version_info, '');
  assert.notEqual(cds.version_info, eds.version_info);
  assert.equal(connected.length, 1);
  assert.equal(connected[0]![0].id, 'sidecar~127.0.0.1~app-1.default~default.svc.cluster.local');
  assert.match(connected[0]![1], /^127\.0\.0\.1:\d+$/);

  let st = server.status();
  assert.equal(st.length, 1);
  assert.equal(st[0]!.variant, 'sotw');
  assert.deepEqual(Object.values(st[0]!.types).map((x) => x.state), ['STALE', 'STALE', 'STALE', 'STALE']);
  ackAll(s, res, { [ENDPOINT_TYPE]: ['a', 'b'], [ROUTE_TYPE]: ['r1'] });
  await s.expectNothingElse();
  st = server.status();
  assert.deepEqual(Object.keys(st[0]!.types).slice(0, 4), ['CDS', 'EDS', 'LDS', 'RDS']);
  for (const [k, r] of [['CDS', cds], ['EDS', eds], ['LDS', lds], ['RDS', rds]] as const) {
    assert.equal(st[0]!.types[k]!.state, 'SYNCED', k);
    assert.equal(st[0]!.types[k]!.ackedVersion, r.version_info, k);
  }
  assert.equal(st[0]!.types.CDS!.resourceCount, 2);
  assert.equal(st[0]!.types.RDS!.resourceCount, 1);
  assert.equal(st[0]!.types.weft_test_Probe, undefined);
  assert.equal(st[0]!.types['weft.test.Probe']!.resourceCount, 0, 'an unknown type gets an empty response');
});

test('a push that changes every type sends them in warming order: CDS, EDS, LDS, RDS', async (t) => {
  const gen = new FakeGenerator({ '*': shapeA() });
  const { server, port } = await serve(t, gen);
  const s = open(t, port);
  const res = await subscribeAll(s, 'sidecar~127.0.0.1~app.default~default.svc.cluster.local');
  ackAll(s, res, { [ENDPOINT_TYPE]: ['a', 'b'], [ROUTE_TYPE]: ['r1'] });
  await s.expectNothingElse();
  gen.set('*', {
    [CLUSTER_TYPE]: { a: cluster('a', '3s'), b: cluster('b') },
    [ENDPOINT_TYPE]: { a: endpoints('a', 3001), b: endpoints('b', 1002) },
    [LISTENER_TYPE]: { l1: listener('l1', 8001, 'r1'), l2: listener('l2', 8002, 'r1') },
    [ROUTE_TYPE]: { r1: route('r1', 'b') },
  });
  server.push();
  const pushed = await s.take(4);
  assert.deepEqual(pushed.map((r) => r.type_url), [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE]);
  for (let i = 0; i < 4; i++) assert.notEqual(pushed[i]!.version_info, res[i]!.version_info);
  assert.deepEqual(pushed[2]!.resources.map((a) => decode(a).name), ['l1', 'l2'], 'LDS carries the complete set');
  await s.expectNothingElse();
});

test('a version changes exactly when the content changes', () => {
  const cache = new ResourceCache();
  const a1 = cache.encode(CLUSTER_TYPE, cluster('a'));
  const a2 = cache.encode(CLUSTER_TYPE, cluster('a'));
  const a3 = cache.encode(CLUSTER_TYPE, cluster('a', '2s'));
  assert.ok('version' in a1 && 'version' in a2 && 'version' in a3);
  assert.equal(a1.version, a2.version);
  assert.notEqual(a1.version, a3.version);
  assert.match(a1.version, /^[A-Za-z0-9_-]{12}$/);
  assert.equal(typeVersion([['a', '1'], ['b', '2']]), typeVersion([['b', '2'], ['a', '1']]));
  assert.notEqual(typeVersion([['a', '1'], ['b', '2']]), typeVersion([['a', '1'], ['b', '3']]));
  assert.notEqual(typeVersion([['a', '1']]), typeVersion([['a', '1'], ['b', '2']]));
});

test('each resource object is encoded once however many proxies receive it', async (t) => {
  const gen = new FakeGenerator({ '*': shapeA() });
  const { server, port } = await serve(t, gen);
  for (let i = 0; i < 5; i++) {
    const s = open(t, port);
    await subscribeAll(s, `sidecar~127.0.0.${i + 1}~p${i}.default~default.svc.cluster.local`, ['a', 'b'], ['r1', 'r2']);
  }
  assert.equal(server.stats().encodings, 7, '2 clusters + 2 endpoints + 1 listener + 2 routes');
  assert.equal(server.stats().connected, 5);
  assert.equal(server.stats().responses, 20);
  assert.ok(server.stats().bytesSent.sotw > 0);
  assert.equal(server.stats().bytesSent.delta, 0);
});

test('a NACK is recorded with its message and resources, nothing is resent, and the next real change is sent', async (t) => {
  const gen = new FakeGenerator({ '*': shapeA() });
  const { server, port } = await serve(t, gen);
  const s = open(t, port);
  const res = await subscribeAll(s, 'sidecar~127.0.0.1~app.default~default.svc.cluster.local');
  const cds = res[0]!;
  ackAll(s, res.slice(1), { [ENDPOINT_TYPE]: ['a', 'b'], [ROUTE_TYPE]: ['r1'] });
  s.send({ type_url: CLUSTER_TYPE, response_nonce: cds.nonce, version_info: '', error_detail: { code: 3, message: 'clusters[0]: connect_timeout too short' } });
  await s.expectNothingElse();
  const cdsStatus = server.status()[0]!.types.CDS!;
  assert.equal(cdsStatus.state, 'NACKED');
  assert.equal(cdsStatus.error, 'clusters[0]: connect_timeout too short');
  assert.deepEqual(cdsStatus.rejectedResources, ['a', 'b']);
  assert.equal(cdsStatus.ackedVersion, '');
  assert.ok(logs.some((l) => l.includes('[warning][xds]') && l.includes('connect_timeout too short')), 'the NACK is logged at warning');

  // A push with the same content resends nothing.
  server.push();
  await once(server, 'pushed');
  await s.expectNothingElse();
  assert.equal(server.status()[0]!.types.CDS!.state, 'NACKED');

  // A real change goes out.
  gen.set('*', { ...shapeA(), [CLUSTER_TYPE]: { a: cluster('a', '5s'), b: cluster('b') } });
  server.push();
  const next = await s.next();
  assert.equal(next.type_url, CLUSTER_TYPE);
  assert.notEqual(next.version_info, cds.version_info);
  assert.equal(decode(next.resources[0]!).connect_timeout, '5s');
  await s.expectNothingElse();
  s.send({ type_url: CLUSTER_TYPE, response_nonce: next.nonce, version_info: next.version_info });
  await s.expectNothingElse();
  assert.equal(server.status()[0]!.types.CDS!.state, 'SYNCED');
  assert.equal(server.status()[0]!.types.CDS!.error, undefined);
});

test('a request with a stale nonce is ignored; one with the current nonce and new names is answered for them', async (t) => {
  const gen = new FakeGenerator({ '*': shapeA() });
  const { server, port } = await serve(t, gen);
  const s = open(t, port);
  const res = await subscribeAll(s, 'sidecar~127.0.0.1~app.default~default.svc.cluster.local');
  ackAll(s, res, { [ENDPOINT_TYPE]: ['a', 'b'], [ROUTE_TYPE]: ['r1'] });
  const rds1 = res[3]!;
  gen.set('*', { ...shapeA(), [ROUTE_TYPE]: { r1: route('r1', 'b'), r2: route('r2', 'b') } });
  server.push();
  const rds2 = await s.next();
  assert.equal(rds2.type_url, ROUTE_TYPE);
  assert.deepEqual(rds2.resources.map((a) => decode(a).name), ['r1']);

  // The client answers the first response late, asking for r2 as well: stale, so ignored.
  s.send({ type_url: ROUTE_TYPE, response_nonce: rds1.nonce, version_info: rds1.version_info, resource_names: ['r1', 'r2'] });
  await s.expectNothingElse();
  assert.equal(server.status()[0]!.types.RDS!.state, 'STALE');

  s.send({ type_url: ROUTE_TYPE, response_nonce: rds2.nonce, version_info: rds2.version_info, resource_names: ['r1', 'r2'] });
  const rds3 = await s.next();
  assert.deepEqual(rds3.resources.map((a) => decode(a).name), ['r1', 'r2']);
  assert.equal(server.status()[0]!.types.RDS!.ackedVersion, rds2.version_info);
});

test('EDS follows the subscribed names: adding one sends both, dropping one sends the rest', async (t) => {
  const gen = new FakeGenerator({ '*': shapeA() });
  const { port } = await serve(t, gen);
  const s = open(t, port);
  const res = await subscribeAll(s, 'sidecar~127.0.0.1~app.default~default.svc.cluster.local', ['a']);
  assert.deepEqual(res[1]!.resources.map((a) => decode(a).cluster_name), ['a']);
  s.send({ type_url: ENDPOINT_TYPE, response_nonce: res[1]!.nonce, resource_names: ['a', 'b'] });
  const e2 = await s.next();
  assert.deepEqual(e2.resources.map((a) => decode(a).cluster_name), ['a', 'b']);
  s.send({ type_url: ENDPOINT_TYPE, response_nonce: e2.nonce, resource_names: ['b', 'missing'] });
  const e3 = await s.next();
  assert.deepEqual(e3.resources.map((a) => decode(a).cluster_name), ['b']);
  // Re-sending the same names with the current nonce is just an ACK.
  s.send({ type_url: ENDPOINT_TYPE, response_nonce: e3.nonce, resource_names: ['missing', 'b'] });
  await s.expectNothingElse();
});

test('a push sends only the types that changed, and nothing to a proxy whose resources did not change', async (t) => {
  const gen = new FakeGenerator({ '*': shapeA(), 'sidecar~127.0.0.2~other.default~default.svc.cluster.local': shapeA() });
  const { server, port } = await serve(t, gen);
  const s1 = open(t, port);
  const s2 = open(t, port);
  const r1 = await subscribeAll(s1, 'sidecar~127.0.0.1~app.default~default.svc.cluster.local');
  const r2 = await subscribeAll(s2, 'sidecar~127.0.0.2~other.default~default.svc.cluster.local');
  ackAll(s1, r1, { [ENDPOINT_TYPE]: ['a', 'b'], [ROUTE_TYPE]: ['r1'] });
  ackAll(s2, r2, { [ENDPOINT_TYPE]: ['a', 'b'], [ROUTE_TYPE]: ['r1'] });
  await s1.expectNothingElse();
  await s2.expectNothingElse();

  // Nothing changed at all: a round regenerates but sends nothing.
  const callsBefore = gen.calls.length;
  server.push();
  const [round] = await once(server, 'pushed');
  assert.deepEqual(round, { round: 1, proxies: 2, responses: 0 });
  assert.equal(gen.calls.length, callsBefore + 2, 'the generator is asked once per proxy');
  await s1.expectNothingElse();
  await s2.expectNothingElse();

  // Only the first proxy's endpoints change (a new shape with new EDS, the rest shared objects).
  const base = shapeA();
  gen.set('*', { ...shapeA(), [ENDPOINT_TYPE]: { a: endpoints('a', 2001), b: base[ENDPOINT_TYPE].b } });
  server.push();
  const [round2] = await once(server, 'pushed');
  assert.equal(round2.responses, 1);
  const e = await s1.next();
  assert.equal(e.type_url, ENDPOINT_TYPE);
  assert.deepEqual(e.resources.map((a) => decode(a).cluster_name), ['a', 'b']);
  await s1.expectNothingElse();
  await s2.expectNothingElse();
});

test('ten push() calls within the debounce window make one round; a steady stream still pushes by maxDebounceMs', async (t) => {
  const gen = new FakeGenerator({ '*': shapeA() });
  const { server, port } = await serve(t, gen);
  const s = open(t, port);
  await subscribeAll(s, 'sidecar~127.0.0.1~app.default~default.svc.cluster.local');
  let rounds = 0;
  server.on('pushed', () => rounds++);
  const calls = gen.calls.length;
  for (let i = 0; i < 10; i++) server.push();
  await once(server, 'pushed');
  // One more push() after the burst: its round comes after any the burst could have scheduled.
  server.push();
  await once(server, 'pushed');
  assert.equal(rounds, 2);
  assert.equal(server.stats().pushes, 2);
  assert.equal(gen.calls.length, calls + 2);

  // push() every 2 ms (under debounceMs 5) for up to a second: maxDebounceMs 50 forces a round well before that.
  let triggers = 0;
  const timer = setInterval(() => { triggers++; server.push(); if (triggers >= 500) clearInterval(timer); }, 2);
  t.after(() => clearInterval(timer));
  await once(server, 'pushed');
  const at = triggers;
  clearInterval(timer);
  assert.ok(at < 500, `a round ran while push() kept coming (after ${at} calls)`);
});

test('a proxyless gRPC client subscribes to listeners by name; the generator sees them and a change of names regenerates', async (t) => {
  const gen = new FakeGenerator({
    '*': (requested) => {
      const l: Record<string, object> = {};
      for (const n of requested) l[n] = listener(n, 9000, `route-${n}`);
      return { [LISTENER_TYPE]: l, [CLUSTER_TYPE]: { a: cluster('a') } };
    },
  });
  const { server, port } = await serve(t, gen);
  const s = open(t, port);
  const id = 'grpc~127.0.0.1~client.default~default.svc.cluster.local';
  s.send({ node: node(id, { grpc: true }), type_url: LISTENER_TYPE, resource_names: ['svc-a:8080'] });
  const l1 = await s.next();
  assert.deepEqual(l1.resources.map((a) => decode(a).name), ['svc-a:8080']);
  assert.deepEqual(gen.calls.at(-1), { id, requested: ['svc-a:8080'] });
  assert.equal(server.status()[0]!.kind, 'grpc');

  s.send({ type_url: LISTENER_TYPE, response_nonce: l1.nonce, version_info: l1.version_info, resource_names: ['svc-a:8080', 'svc-b:9090'] });
  const l2 = await s.next();
  assert.deepEqual(l2.resources.map((a) => decode(a).name), ['svc-a:8080', 'svc-b:9090']);
  assert.deepEqual(gen.calls.at(-1), { id, requested: ['svc-a:8080', 'svc-b:9090'] });
  await s.expectNothingElse();
});

test('the lifecycle hears of a disconnect and the proxy leaves status(); a first request without node is refused', async (t) => {
  const gen = new FakeGenerator({ '*': shapeA() });
  let resolveGone!: (p: ProxyInfo) => void;
  const gone = new Promise<ProxyInfo>((r) => { resolveGone = r; });
  const { server, port } = await serve(t, gen, { onConnected: () => {}, onDisconnected: (p) => resolveGone(p) });
  const s = open(t, port);
  await subscribeAll(s, 'sidecar~127.0.0.1~bye.default~default.svc.cluster.local');
  assert.equal(server.status().length, 1);
  s.close();
  assert.equal((await gone).id, 'sidecar~127.0.0.1~bye.default~default.svc.cluster.local');
  assert.equal(server.status().length, 0);
  assert.equal(server.stats().connected, 0);

  const bad = open(t, port);
  bad.send({ type_url: CLUSTER_TYPE });
  const end = await bad.ended;
  assert.equal(end.code, 3);
  assert.match(end.details, /node\.id/);
  void PROBE_TYPE;
});

test('a generator that throws keeps the proxy on its previous resources; a resource that cannot be encoded is left out and logged', async (t) => {
  const gen = new FakeGenerator({ '*': shapeA() });
  const { server, port } = await serve(t, gen);
  const s = open(t, port);
  const res = await subscribeAll(s, 'sidecar~127.0.0.1~app.default~default.svc.cluster.local');
  ackAll(s, res, { [ENDPOINT_TYPE]: ['a', 'b'], [ROUTE_TYPE]: ['r1'] });
  await s.expectNothingElse();

  const real = gen.generate.bind(gen);
  gen.generate = () => { throw new Error('translation exploded'); };
  server.push();
  await once(server, 'pushed');
  await s.expectNothingElse();
  assert.ok(logs.some((l) => l.includes('translation exploded')));
  assert.equal(server.status()[0]!.types.CDS!.state, 'SYNCED');

  gen.generate = real;
  gen.set('*', { ...shapeA(), [CLUSTER_TYPE]: { a: cluster('a'), bad: Object.freeze({ name: 'bad', connect_timeout: 'soon' }) } });
  server.push();
  const cds = await s.next();
  assert.deepEqual(cds.resources.map((a) => decode(a).name), ['a']);
  assert.ok(logs.some((l) => l.includes('[error][xds]') && l.includes('"bad"') && l.includes('connect_timeout')));
  await s.expectNothingElse();
});
