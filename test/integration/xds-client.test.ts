// `weft proxy -c FILE` with dynamic_resources, as a child process against the fake ADS server: the
// static listener serves at once, the dynamic one once it arrives (single process and with
// workers), and a reload of the file replaces the static parts and keeps the dynamic ones.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE } from '../../src/xds/resource-types.js';
import { cluster, direct, endpoint, hcm, listener, request, toCluster, type Obj } from '../helpers/bootstrap.js';
import { startFakeAds } from '../helpers/fake-ads.js';
import { startWeft } from '../helpers/process.js';
import { startEchoUpstreams } from '../helpers/upstream.js';

function bootstrapJson(adsPort: number, staticBody: string): string {
  return JSON.stringify({
    node: { id: 'proxy-1', cluster: 'it' },
    dynamic_resources: {
      ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds' } }] },
      lds_config: { ads: {} },
      cds_config: { ads: {} },
    },
    static_resources: {
      listeners: [listener({ name: 'static', filter: hcm({ routes: [direct({ prefix: '/' }, staticBody)] }) })],
      clusters: [cluster('xds', [adsPort])],
    },
  });
}

for (const concurrency of [1, 2]) {
  test(`weft proxy (concurrency ${concurrency}) follows ADS: static listener at once, dynamic ones as they arrive, reloads keep them`, async (t) => {
    const [up] = await startEchoUpstreams(t, 'up1');
    const ads = await startFakeAds();
    t.after(() => ads.close());
    const dir = mkdtempSync(join(tmpdir(), 'weft-xds-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'bootstrap.json');
    writeFileSync(file, bootstrapJson(ads.port, 'static-v1'));

    const weft = startWeft(['proxy', '-c', file, '--concurrency', String(concurrency), '--drain-time-s', '0']);
    t.after(async () => { weft.kill(); await weft.exited; });
    const staticPort = Number((await weft.waitFor(/listener static on 127\.0\.0\.1:(\d+)/))[1]);
    assert.equal((await request(staticPort, '/')).body, 'static-v1');

    await ads.next((r) => r.type_url === CLUSTER_TYPE);
    ads.send(CLUSTER_TYPE, [{ name: 'web', type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {} } } }], 'c1');
    await ads.next((r) => r.type_url === ENDPOINT_TYPE && (r.resource_names ?? []).includes('web'));
    ads.send(ENDPOINT_TYPE, [{ cluster_name: 'web', endpoints: [{ lb_endpoints: [endpoint(up!.port)] }] }], 'e1');
    const dyn: Obj = listener({ name: 'dyn', filter: hcm({ routes: [toCluster('/', 'web')] }) });
    const n = ads.send(LISTENER_TYPE, [dyn], 'l1');
    await ads.next((r) => r.type_url === LISTENER_TYPE && r.response_nonce === n);
    const dynPort = Number((await weft.waitFor(/listener dyn on 127\.0\.0\.1:(\d+)/))[1]);
    const r = await request(dynPort, '/x');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-upstream'], 'up1');

    // Reload with a changed static listener: the dynamic listener and cluster stay.
    const mark = weft.output().length;
    writeFileSync(`${file}.tmp`, bootstrapJson(ads.port, 'static-v2'));
    renameSync(`${file}.tmp`, file);
    await weft.waitFor(/new config applied/, mark);
    assert.equal((await request(staticPort, '/')).body, 'static-v2');
    assert.equal((await request(dynPort, '/y')).headers['x-upstream'], 'up1');
  });
}

test('weft proxy with dynamic_resources is not ready until its first LDS and CDS are in force, warming included', async (t) => {
  const [up] = await startEchoUpstreams(t, 'up1');
  const ads = await startFakeAds();
  t.after(() => ads.close());
  const dir = mkdtempSync(join(tmpdir(), 'weft-xds-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'bootstrap.json');
  const b = JSON.parse(bootstrapJson(ads.port, 'static')) as Obj;
  b.admin = { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } };
  writeFileSync(file, JSON.stringify(b));
  const weft = startWeft(['proxy', '-c', file, '--concurrency', '1', '--drain-time-s', '0']);
  t.after(async () => { weft.kill(); await weft.exited; });
  const admin = Number((await weft.waitFor(/admin on 127\.0\.0\.1:(\d+)/))[1]);
  const ready = async () => (await request(admin, '/ready')).status;

  await ads.next((r) => r.type_url === CLUSTER_TYPE);
  assert.equal(await ready(), 503, 'nothing received yet');
  ads.send(CLUSTER_TYPE, [{ name: 'web', type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {} } } }], 'c1');
  await ads.next((r) => r.type_url === ENDPOINT_TYPE && (r.resource_names ?? []).includes('web'));
  ads.send(LISTENER_TYPE, [listener({ name: 'dyn', filter: hcm({ routes: [toCluster('/', 'web')] }) })], 'l1');
  // (The listener update waits behind the warming cluster, so there is no ACK to wait for here.)
  assert.equal(await ready(), 503, 'the EDS cluster is still warming');
  ads.send(ENDPOINT_TYPE, [{ cluster_name: 'web', endpoints: [{ lb_endpoints: [endpoint(up!.port)] }] }], 'e1');
  await weft.waitFor(/listener dyn on/);
  const deadline = Date.now() + 5000;
  while (await ready() !== 200) {
    assert.ok(Date.now() < deadline, '/ready turns 200 once the first config is in force');
    await new Promise((r) => setTimeout(r, 10));
  }
});
