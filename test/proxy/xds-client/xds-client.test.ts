// The proxy as an xDS client against a scripted fake ADS server: listeners, routes, clusters and
// endpoints delivered over ADS serve real traffic; endpoint updates keep the cluster; bad resources
// are NACKed with their field paths; warming; reconnection; the delta variant.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { decodeBootstrap } from '../../../src/envoy/bootstrap.js';
import type { BootstrapConfig } from '../../../src/proxy/config/types.js';
import { ProxyServer } from '../../../src/proxy/server.js';
import { XdsClient } from '../../../src/proxy/xds-client/client.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../../src/xds/resource-types.js';
import { cluster, endpoint, request, ROUTER_TYPE, HCM_TYPE, type Obj } from '../../helpers/bootstrap.js';
import { startFakeAds, type FakeAds } from '../../helpers/fake-ads.js';
import { startEchoUpstreams } from '../../helpers/upstream.js';

// ───────────────────────────── resources ─────────────────────────────

function rdsListener(name: string, routeName: string, fetchTimeout?: string): Obj {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': HCM_TYPE,
          stat_prefix: name,
          rds: { route_config_name: routeName, config_source: { ads: {}, ...(fetchTimeout ? { initial_fetch_timeout: fetchTimeout } : {}) } },
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }],
        },
      }],
    }],
  };
}

function routes(name: string, clusterName: string): Obj {
  return {
    name,
    virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: clusterName } }] }],
  };
}

function edsCluster(name: string, extra: Obj = {}): Obj {
  return { name, type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {} } }, ...extra };
}

function assignment(name: string, ports: number[]): Obj {
  return { cluster_name: name, endpoints: [{ lb_endpoints: ports.map((p) => endpoint(p)) }] };
}

// ───────────────────────────── harness ─────────────────────────────

function adsBootstrap(adsPort: number, o: { delta?: boolean; staticExtra?: Obj } = {}): BootstrapConfig {
  const r = decodeBootstrap({
    node: { id: 'sidecar~127.0.0.1~test.default~default.svc.cluster.local', cluster: 'test' },
    dynamic_resources: {
      ads_config: {
        api_type: o.delta ? 'DELTA_GRPC' : 'GRPC', transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }],
      },
      lds_config: { ads: {}, resource_api_version: 'V3' },
      cds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [cluster('xds-grpc', [adsPort])],
      ...o.staticExtra,
    },
  }, { baseDir: process.cwd() });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.value;
}

interface Harness {
  ads: FakeAds;
  client: XdsClient;
  server: ProxyServer;
}

async function setup(t: TestContext, o: { delta?: boolean } = {}): Promise<Harness> {
  const ads = await startFakeAds();
  t.after(() => ads.close());
  const client = new XdsClient(adsBootstrap(ads.port, o), { baseDir: process.cwd(), backoff: { initialMs: 50, maxMs: 200 } });
  t.after(() => client.close());
  const server = new ProxyServer(client.initialConfig());
  t.after(() => server.close());
  await server.start();
  client.start(server);
  return { ads, client, server };
}

/** Resolves with the first applied config satisfying `pred` (the current one if it already does). */
function applied(h: Harness, pred: (c: BootstrapConfig) => boolean, what: string): Promise<BootstrapConfig> {
  if (pred(h.server.config)) return Promise.resolve(h.server.config);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 10_000);
    const on = (c: BootstrapConfig) => {
      if (!pred(c)) return;
      clearTimeout(timer);
      h.client.off('applied', on);
      resolve(c);
    };
    h.client.on('applied', on);
  });
}

const hasListener = (name: string) => (c: BootstrapConfig) => c.listeners.some((l) => l.name === name);
const byType = (t: string) => (r: { type_url?: string }) => r.type_url === t;
const ackOf = (t: string, nonce: string) => (r: { type_url?: string; response_nonce?: string }) => r.type_url === t && r.response_nonce === nonce;

/** Delivers cluster `web` (EDS, endpoints at `ports`), listener `l1` and route config `r1` → web, in Envoy's order. */
async function deliverAll(h: Harness, ports: number[]): Promise<void> {
  const { ads } = h;
  const cds = await ads.next(byType(CLUSTER_TYPE));
  assert.equal(cds.node?.id, 'sidecar~127.0.0.1~test.default~default.svc.cluster.local');
  assert.deepEqual(cds.resource_names ?? [], []);
  await ads.next(byType(LISTENER_TYPE));
  const n1 = ads.send(CLUSTER_TYPE, [edsCluster('web')], 'c1');
  const ack = await ads.next(ackOf(CLUSTER_TYPE, n1));
  assert.equal(ack.version_info, 'c1');
  assert.equal(ack.error_detail, undefined);
  const eds = await ads.next(byType(ENDPOINT_TYPE));
  assert.deepEqual(eds.resource_names, ['web']);
  // The listener arrives before the endpoints: it waits for the cluster to warm.
  const n2 = ads.send(LISTENER_TYPE, [rdsListener('l1', 'r1')], 'l1');
  ads.send(ENDPOINT_TYPE, [assignment('web', ports)], 'e1');
  await ads.next(ackOf(LISTENER_TYPE, n2));
  const rds = await ads.next(byType(ROUTE_TYPE));
  assert.deepEqual(rds.resource_names, ['r1']);
  await h.client.settled();
  assert.equal(hasListener('l1')(h.server.config), false, 'l1 must warm until r1 arrives');
  assert.throws(() => h.server.listenerPort('l1'));
  assert.ok(h.server.clusters.get('web'), 'the EDS cluster is in once its endpoints arrived');
  ads.send(ROUTE_TYPE, [routes('r1', 'web')], 'r1');
  await applied(h, hasListener('l1'), 'listener l1');
}

// ───────────────────────────── tests ─────────────────────────────

test('listener, RDS route config and EDS cluster over ADS serve real requests; the listener warms until its routes arrive', async (t) => {
  const [up] = await startEchoUpstreams(t, 'up1');
  const h = await setup(t);
  await deliverAll(h, [up!.port]);
  const r = await request(h.server.listenerPort('l1'), '/hello');
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-upstream'], 'up1');
  assert.equal(h.server.stats.value('control_plane.connected_state'), 1);
  assert.equal(h.server.stats.value('cluster_manager.cds.update_success'), 1);
  assert.equal(h.server.stats.value('listener_manager.lds.update_success'), 1);
  assert.equal(h.server.stats.value('http.l1.rds.r1.update_success'), 1);
  const dump = JSON.stringify(h.server.adminContext().configDump());
  assert.match(dump, /"dynamic_listeners":\[\{"name":"l1","version_info":"l1","warming":false/);
  assert.match(dump, /"dynamic_clusters":\[\{"name":"web","version_info":"c1","warming":false/);
});

test('an endpoint update moves traffic without rebuilding the cluster; surviving hosts keep their Host (and pool)', async (t) => {
  const [up1, up2] = await startEchoUpstreams(t, 'up1', 'up2');
  const h = await setup(t);
  await deliverAll(h, [up1!.port]);
  const port = h.server.listenerPort('l1');
  assert.equal((await request(port, '/')).headers['x-upstream'], 'up1');
  const web = h.server.clusters.get('web')!;
  const host1 = web.hosts[0]!;

  h.ads.send(ENDPOINT_TYPE, [assignment('web', [up1!.port, up2!.port])], 'e2');
  await applied(h, (c) => c.clusters.find((x) => x.name === 'web')!.loadAssignment.endpoints[0]!.lbEndpoints.length === 2, 'two endpoints');
  assert.equal(h.server.clusters.get('web'), web, 'same Cluster object');
  assert.equal(web.hosts.length, 2);
  assert.equal(web.hosts.find((x) => x.port === up1!.port), host1, 'the surviving host is the same Host');

  h.ads.send(ENDPOINT_TYPE, [assignment('web', [up2!.port])], 'e3');
  await applied(h, (c) => c.clusters.find((x) => x.name === 'web')!.loadAssignment.endpoints[0]!.lbEndpoints[0]!.address.port === up2!.port, 'only up2');
  assert.equal(h.server.clusters.get('web'), web, 'still the same Cluster object');
  for (let i = 0; i < 3; i++) assert.equal((await request(port, '/')).headers['x-upstream'], 'up2');
});

test('a response with a bad resource is NACKed naming it and its field path; the last good config keeps serving', async (t) => {
  const [up] = await startEchoUpstreams(t, 'up1');
  const h = await setup(t);
  await deliverAll(h, [up!.port]);
  const port = h.server.listenerPort('l1');

  const n = h.ads.send(CLUSTER_TYPE, [edsCluster('web'), edsCluster('other'), edsCluster('bad', { lb_policy: 'CLUSTER_PROVIDED' })], 'c2');
  const nack = await h.ads.next(ackOf(CLUSTER_TYPE, n));
  assert.equal(nack.version_info, 'c1', 'a NACK carries the last accepted version');
  assert.equal(nack.error_detail?.code, 3);
  assert.match(nack.error_detail?.message ?? '', /^Error adding\/updating cluster\(s\) bad: lb_policy: /);
  assert.doesNotMatch(nack.error_detail?.message ?? '', /other/);
  assert.equal(h.server.stats.value('cluster_manager.cds.update_rejected'), 1);
  assert.equal(h.server.clusters.get('other'), undefined, 'nothing of the rejected update is applied');

  // (An HCM without http_filters is valid: it gets the router. HTTP/3 is not supported.)
  const http3 = rdsListener('l2', 'r1') as { filter_chains: { filters: { typed_config: Obj }[] }[] };
  http3.filter_chains[0]!.filters[0]!.typed_config.codec_type = 'HTTP3';
  const n2 = h.ads.send(LISTENER_TYPE, [rdsListener('l1', 'r2'), http3], 'l2');
  const nack2 = await h.ads.next(ackOf(LISTENER_TYPE, n2));
  assert.equal(nack2.version_info, 'l1');
  assert.match(nack2.error_detail?.message ?? '', /^Error adding\/updating listener\(s\) l2: filter_chains\[0\]\.filters\[0\]\.typed_config\.codec_type: expected /);
  assert.equal(h.server.listenerPort('l1'), port);
  assert.throws(() => h.server.listenerPort('l2'));
  assert.equal(h.server.stats.value('listener_manager.lds.update_rejected'), 1);
  const r = await request(port, '/');
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-upstream'], 'up1');
});

test('the control plane going away leaves the proxy serving; when it is back the client resubscribes and takes updates', async (t) => {
  const [up1, up2] = await startEchoUpstreams(t, 'up1', 'up2');
  const h = await setup(t);
  await deliverAll(h, [up1!.port]);
  const port = h.server.listenerPort('l1');

  const gone = new Promise((r) => h.client.once('disconnected', r));
  await h.ads.close();
  await gone;
  assert.equal(h.server.stats.value('control_plane.connected_state'), 0);
  assert.equal((await request(port, '/')).headers['x-upstream'], 'up1', 'still serving while disconnected');

  const ads2 = await startFakeAds(h.ads.port);
  t.after(() => ads2.close());
  const cds = await ads2.next(byType(CLUSTER_TYPE));
  assert.equal(cds.version_info, 'c1', 'resubscribes with the last accepted version');
  const eds = await ads2.next(byType(ENDPOINT_TYPE));
  assert.deepEqual(eds.resource_names, ['web']);
  assert.equal(eds.version_info, 'e1');
  const lds = await ads2.next(byType(LISTENER_TYPE));
  assert.equal(lds.version_info, 'l1');
  const rds = await ads2.next(byType(ROUTE_TYPE));
  assert.deepEqual(rds.resource_names, ['r1']);

  const n = ads2.send(ENDPOINT_TYPE, [assignment('web', [up2!.port])], 'e2');
  await ads2.next(ackOf(ENDPOINT_TYPE, n));
  await applied(h, (c) => c.clusters.find((x) => x.name === 'web')!.loadAssignment.endpoints[0]!.lbEndpoints[0]!.address.port === up2!.port, 'endpoints from the new stream');
  assert.equal((await request(port, '/')).headers['x-upstream'], 'up2');
  assert.equal(h.server.stats.value('control_plane.connected_state'), 1);
});

test('delta ADS: wildcard LDS/CDS, EDS/RDS subscribe by name, ACKs by nonce, removals remove', async (t) => {
  const [up] = await startEchoUpstreams(t, 'up1');
  const h = await setup(t, { delta: true });
  const { ads } = h;
  const cds = await ads.next(byType(CLUSTER_TYPE));
  assert.deepEqual(cds.resource_names_subscribe ?? [], []);
  assert.equal(cds.node?.cluster, 'test');
  const n1 = ads.sendDelta(CLUSTER_TYPE, [edsCluster('web')], { version: 'c1' });
  const ack = await ads.next(ackOf(CLUSTER_TYPE, n1));
  assert.equal(ack.error_detail, undefined);
  const eds = await ads.next((r) => r.type_url === ENDPOINT_TYPE);
  assert.deepEqual(eds.resource_names_subscribe, ['web']);
  ads.sendDelta(ENDPOINT_TYPE, [assignment('web', [up!.port])], { version: 'e1' });
  ads.sendDelta(LISTENER_TYPE, [rdsListener('l1', 'r1')], { version: 'l1' });
  const rds = await ads.next((r) => r.type_url === ROUTE_TYPE);
  assert.deepEqual(rds.resource_names_subscribe, ['r1']);
  ads.sendDelta(ROUTE_TYPE, [routes('r1', 'web')], { version: 'r1' });
  await applied(h, hasListener('l1'), 'listener l1');
  assert.equal((await request(h.server.listenerPort('l1'), '/')).headers['x-upstream'], 'up1');

  // A bad resource is NACKed by nonce; then a removal removes the listener and unsubscribes its routes.
  const bad = ads.sendDelta(CLUSTER_TYPE, [edsCluster('x', { connect_timeout: '-1s' })], { version: 'c2' });
  const nack = await ads.next(ackOf(CLUSTER_TYPE, bad));
  assert.match(nack.error_detail?.message ?? '', /cluster\(s\) x: connect_timeout: /);
  ads.sendDelta(LISTENER_TYPE, [], { removed: ['l1'], version: 'l2' });
  const unsub = await ads.next((r) => r.type_url === ROUTE_TYPE && (r.resource_names_unsubscribe ?? []).length > 0);
  assert.deepEqual(unsub.resource_names_unsubscribe, ['r1']);
  await applied(h, (c) => !hasListener('l1')(c), 'l1 removed');
});

test('a listener whose route config never comes starts after initial_fetch_timeout with no routes (404)', async (t) => {
  const h = await setup(t);
  await h.ads.next(byType(LISTENER_TYPE));
  h.ads.send(LISTENER_TYPE, [rdsListener('l1', 'r1', '0.2s')], 'l1');
  await h.ads.next(byType(ROUTE_TYPE));
  assert.equal(hasListener('l1')(h.server.config), false);
  await applied(h, hasListener('l1'), 'l1 after the initial fetch timeout');
  assert.equal((await request(h.server.listenerPort('l1'), '/')).status, 404);
});

test('a listener update naming a new route config keeps serving with the old routes until the new ones arrive', async (t) => {
  const [up1, up2] = await startEchoUpstreams(t, 'up1', 'up2');
  const h = await setup(t);
  await deliverAll(h, [up1!.port]);
  const port = h.server.listenerPort('l1');
  const n = h.ads.send(CLUSTER_TYPE, [edsCluster('web'), { name: 'other', type: 'STATIC', connect_timeout: '1s', load_assignment: assignment('other', [up2!.port]) }], 'c2');
  await h.ads.next(ackOf(CLUSTER_TYPE, n));
  const n2 = h.ads.send(LISTENER_TYPE, [rdsListener('l1', 'r2')], 'l2');
  await h.ads.next(ackOf(LISTENER_TYPE, n2));
  const sub = await h.ads.next((r) => r.type_url === ROUTE_TYPE && (r.resource_names ?? []).includes('r2'));
  assert.deepEqual([...sub.resource_names!].sort(), ['r1', 'r2'], 'r1 stays subscribed while the old listener serves');
  await h.client.settled();
  assert.equal((await request(port, '/')).headers['x-upstream'], 'up1', 'old listener, old routes');

  h.ads.send(ROUTE_TYPE, [routes('r2', 'other')], 'r2');
  const dropped = await h.ads.next((r) => r.type_url === ROUTE_TYPE && !(r.resource_names ?? []).includes('r1'));
  assert.deepEqual(dropped.resource_names, ['r2'], 'r1 is unsubscribed once the new listener is active');
  assert.equal(h.server.listenerPort('l1'), port, 'same listener, updated in place');
  assert.equal((await request(port, '/')).headers['x-upstream'], 'up2');
});

test('delta ADS reconnect: initial_resource_versions carry what the proxy has', async (t) => {
  const [up] = await startEchoUpstreams(t, 'up1');
  const h = await setup(t, { delta: true });
  await h.ads.next(byType(CLUSTER_TYPE));
  h.ads.sendDelta(CLUSTER_TYPE, [edsCluster('web')], { version: 'c1' });
  await h.ads.next(byType(ENDPOINT_TYPE));
  const n = h.ads.sendDelta(ENDPOINT_TYPE, [assignment('web', [up!.port])], { version: 'e7' });
  await h.ads.next(ackOf(ENDPOINT_TYPE, n));

  const gone = new Promise((r) => h.client.once('disconnected', r));
  await h.ads.close();
  await gone;
  const ads2 = await startFakeAds(h.ads.port);
  t.after(() => ads2.close());
  const cds = await ads2.next(byType(CLUSTER_TYPE));
  assert.deepEqual(cds.initial_resource_versions, { web: 'c1' });
  const eds = await ads2.next(byType(ENDPOINT_TYPE));
  assert.deepEqual(eds.resource_names_subscribe, ['web']);
  assert.deepEqual(eds.initial_resource_versions, { web: 'e7' });
});

test('a route naming a cluster the proxy does not have is accepted (no NACK) and answers 503 at request time', async (t) => {
  const h = await setup(t);
  await h.ads.next(byType(LISTENER_TYPE));
  const inline = {
    name: 'l1',
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{ filters: [{ name: 'hcm', typed_config: {
      '@type': HCM_TYPE, stat_prefix: 'l1',
      route_config: routes('inline', 'nope'),
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }],
    } }] }],
  };
  const n = h.ads.send(LISTENER_TYPE, [inline], 'l1');
  const ack = await h.ads.next(ackOf(LISTENER_TYPE, n));
  assert.equal(ack.error_detail, undefined);
  await applied(h, hasListener('l1'), 'l1');
  const r = await request(h.server.listenerPort('l1'), '/');
  assert.equal(r.status, 503);
});
