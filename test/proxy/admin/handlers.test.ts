// Tests for the transport-free admin endpoints (src/proxy/admin/handlers.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getLevel, setLevel } from '../../../src/observe/logger.js';
import { handleAdmin, type AdminRequest } from '../../../src/proxy/admin/handlers.js';
import { fakeContext } from './fake-context.js';

function req(method: string, pathAndQuery: string): AdminRequest {
  const u = new URL(pathAndQuery, 'http://admin');
  return { method, path: u.pathname, query: u.searchParams, body: Buffer.alloc(0) };
}

const body = (r: { body: string | Buffer }): string => r.body.toString();

test('unknown paths are 404; the index lists the endpoints', () => {
  const ctx = fakeContext();
  assert.equal(handleAdmin(ctx, req('GET', '/nope')).status, 404);
  const index = handleAdmin(ctx, req('GET', '/'));
  assert.equal(index.status, 200);
  for (const p of ['/ready', '/stats', '/stats/prometheus', '/config_dump', '/clusters', '/drain_listeners', '/quitquitquit', '/logging']) {
    assert.ok(body(index).includes(p), p);
  }
  assert.equal(body(handleAdmin(ctx, req('GET', '/help'))), body(index));
});

test('/ready is 200 LIVE, or 503 with the server state', () => {
  const ctx = fakeContext();
  assert.deepEqual([handleAdmin(ctx, req('GET', '/ready')).status, body(handleAdmin(ctx, req('GET', '/ready')))], [200, 'LIVE\n']);
  ctx.ready = false;
  const r = handleAdmin(ctx, req('GET', '/ready'));
  assert.equal(r.status, 503);
  assert.equal(body(r), 'PRE_INITIALIZING\n');
});

test('/server_info serves the context JSON', () => {
  const r = handleAdmin(fakeContext(), req('GET', '/server_info'));
  assert.equal(r.contentType, 'application/json');
  assert.equal(JSON.parse(body(r)).version, 'weft/0.1.0');
});

test('/stats: text, filter, usedonly, json and prometheus formats; bad regex is 400', () => {
  const ctx = fakeContext();
  const t = body(handleAdmin(ctx, req('GET', '/stats')));
  assert.match(t, /^cluster\.web\.upstream_rq_total: 7\nserver\.live: 1\nserver\.unused_total: 0\ncluster\.web\.upstream_rq_time: P0/);
  assert.equal(body(handleAdmin(ctx, req('GET', '/stats?filter=^server'))), 'server.live: 1\nserver.unused_total: 0\n');
  assert.equal(body(handleAdmin(ctx, req('GET', '/stats?filter=^server&usedonly'))), 'server.live: 1\n');
  const j = JSON.parse(body(handleAdmin(ctx, req('GET', '/stats?format=json&filter=live'))));
  assert.deepEqual(j, { stats: [{ name: 'server.live', value: 1 }] });
  const p = handleAdmin(ctx, req('GET', '/stats?format=prometheus'));
  assert.match(p.contentType, /^text\/plain; version=0\.0\.4/);
  assert.match(body(p), /# TYPE envoy_cluster_upstream_rq_total counter\nenvoy_cluster_upstream_rq_total\{envoy_cluster_name="web"\} 7\n/);
  assert.equal(body(handleAdmin(ctx, req('GET', '/stats/prometheus'))), body(p));
  assert.equal(handleAdmin(ctx, req('GET', '/stats?filter=(')).status, 400);
  assert.equal(handleAdmin(ctx, req('GET', '/stats?format=xml')).status, 400);
});

test('/config_dump serves the dump, ?resource= picks a repeated field, ?mask= trims fields', () => {
  const ctx = fakeContext();
  const all = JSON.parse(body(handleAdmin(ctx, req('GET', '/config_dump'))));
  assert.equal(all.configs.length, 2);
  const clusters = JSON.parse(body(handleAdmin(ctx, req('GET', '/config_dump?resource=static_clusters'))));
  assert.deepEqual(clusters.configs.map((c: { cluster: { name: string } }) => c.cluster.name), ['web', 'api']);
  const masked = JSON.parse(body(handleAdmin(ctx, req('GET', '/config_dump?resource=static_clusters&mask=cluster.name,cluster.type'))));
  assert.deepEqual(masked.configs, [{ cluster: { name: 'web', type: 'STATIC' } }, { cluster: { name: 'api', type: 'STRICT_DNS' } }]);
  const top = JSON.parse(body(handleAdmin(ctx, req('GET', '/config_dump?mask=version_info'))));
  assert.deepEqual(top.configs[1], { '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump', version_info: 'v1' });
  assert.deepEqual(top.configs[0], { '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump' });
  assert.equal(handleAdmin(ctx, req('GET', '/config_dump?resource=nope')).status, 404);
});

test('/clusters prints Envoy\'s cluster::host::stat::value lines and ?format=json host statuses', () => {
  const ctx = fakeContext();
  const lines = body(handleAdmin(ctx, req('GET', '/clusters'))).trimEnd().split('\n');
  for (const l of [
    'web::10.0.0.1:80::cx_active::2', 'web::10.0.0.1:80::rq_total::9', 'web::10.0.0.1:80::health_flags::healthy',
    'web::10.0.0.1:80::weight::1', 'web::10.0.0.1:80::region::r', 'web::10.0.0.1:80::zone::z', 'web::10.0.0.1:80::sub_zone::',
    'web::10.0.0.1:80::priority::0', 'web::[::1]:81::health_flags::/failed_active_hc', 'web::[::1]:81::priority::1',
  ]) assert.ok(lines.includes(l), l);
  const j = JSON.parse(body(handleAdmin(ctx, req('GET', '/clusters?format=json'))));
  const hosts = j.cluster_statuses[0].host_statuses;
  assert.deepEqual(hosts[0].address, { socket_address: { address: '10.0.0.1', port_value: 80 } });
  assert.deepEqual(hosts[1].address, { socket_address: { address: '::1', port_value: 81 } });
  assert.deepEqual(hosts[0].stats, [{ type: 'GAUGE', name: 'cx_active', value: '2' }, { name: 'rq_total', value: '9' }]);
  assert.equal(hosts[0].health_status.eds_health_status, 'HEALTHY');
  assert.equal(hosts[1].health_status.eds_health_status, 'UNHEALTHY');
  assert.equal(hosts[1].weight, 3);
});

test('/listeners lists names and addresses; 404 when the context has none', () => {
  const ctx = fakeContext();
  assert.equal(body(handleAdmin(ctx, req('GET', '/listeners'))), 'ingress::0.0.0.0:10000\n');
  const j = JSON.parse(body(handleAdmin(ctx, req('GET', '/listeners?format=json'))));
  assert.deepEqual(j.listener_statuses[0].local_address.socket_address, { address: '0.0.0.0', port_value: 10000 });
  delete ctx.listeners;
  assert.equal(handleAdmin(ctx, req('GET', '/listeners')).status, 404);
});

test('state-changing endpoints need POST: GET is 405 and has no effect', () => {
  const ctx = fakeContext();
  for (const p of ['/drain_listeners', '/quitquitquit', '/logging?level=debug']) {
    const r = handleAdmin(ctx, req('GET', p));
    assert.equal(r.status, 405, p);
    assert.match(body(r), /POST required/);
  }
  assert.deepEqual(ctx.calls, []);
});

test('POST /drain_listeners passes ?graceful and ?inboundonly', () => {
  const ctx = fakeContext();
  assert.equal(handleAdmin(ctx, req('POST', '/drain_listeners')).status, 200);
  assert.equal(handleAdmin(ctx, req('POST', '/drain_listeners?graceful&inboundonly')).status, 200);
  assert.deepEqual(ctx.calls, ['drain graceful=false inbound=false', 'drain graceful=true inbound=true']);
});

test('POST /quitquitquit answers first and quits in afterSend', () => {
  const ctx = fakeContext();
  const r = handleAdmin(ctx, req('POST', '/quitquitquit'));
  assert.equal(r.status, 200);
  assert.deepEqual(ctx.calls, []);
  r.afterSend!();
  assert.deepEqual(ctx.calls, ['quit']);
});

test('/logging lists on GET, changes the level on POST, 400 for unknown levels', (t) => {
  const before = getLevel();
  t.after(() => { setLevel(before); });
  const ctx = fakeContext();
  const list = handleAdmin(ctx, req('GET', '/logging'));
  assert.equal(list.status, 200);
  assert.match(body(list), /^active loggers:\n( {2}\S+: \w+\n)+$/);
  const ok = handleAdmin(ctx, req('POST', '/logging?level=debug'));
  assert.equal(ok.status, 200);
  assert.equal(getLevel(), 'debug');
  assert.match(body(ok), /: debug\n/);
  const bad = handleAdmin(ctx, req('POST', '/logging?level=loud'));
  assert.equal(bad.status, 400);
  assert.match(body(bad), /usage/);
  assert.equal(getLevel(), 'debug');
});

test('a throwing context becomes a 500, not an exception', () => {
  const ctx = fakeContext();
  ctx.configDump = () => { throw new Error('boom'); };
  const r = handleAdmin(ctx, req('GET', '/config_dump'));
  assert.equal(r.status, 500);
  assert.match(body(r), /boom/);
});
