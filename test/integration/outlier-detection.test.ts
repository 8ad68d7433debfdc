// Outlier detection end to end (envoy.config.cluster.v3.OutlierDetection): a proxy in front of real
// upstreams on port 0, some answering 503; ejection, re-admission, max_ejection_percent, stats and /clusters.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js';
import { startProxy } from '../helpers/proxy.js';
import { cluster, deadPort, request, simple, toCluster } from '../helpers/bootstrap.js';

type T = { after(fn: () => Promise<void> | void): void };

async function upstream(t: T, name: string, status: number): Promise<Upstream> {
  const u = await startUpstream(status === 200 ? echo(name) : (_req, res) => {
    res.writeHead(status, { 'x-upstream': name, 'content-length': '4' });
    res.end('fail');
  });
  t.after(() => u.close());
  return u;
}

async function stat(adminPort: number, name: string): Promise<number> {
  const r = await request(adminPort, `/stats?filter=${encodeURIComponent(`^${name.replaceAll('.', '\\.')}$`)}`);
  const m = new RegExp(`^${name.replaceAll('.', '\\.')}: (\\d+)$`, 'm').exec(r.body);
  assert.ok(m, `no ${name} in /stats:\n${r.body}`);
  return Number(m[1]);
}

test('a host answering 503 is ejected after consecutive_5xx failures and re-admitted after base_ejection_time', async (t) => {
  const good = await upstream(t, 'good', 200);
  const bad = await upstream(t, 'bad', 503);
  const px = await startProxy(simple({
    admin: true,
    routes: [toCluster('/', 'web')],
    clusters: [cluster('web', [good.port, bad.port], {
      outlier_detection: { consecutive_5xx: 3, interval: '0.05s', base_ejection_time: '1s', max_ejection_percent: 50 },
    })],
  }));
  t.after(() => px.close());

  // Round robin alternates: the bad host sees its third 503 within six requests.
  let sent = 0;
  while (bad.requests.length < 3) {
    assert.ok(++sent <= 6, `bad host saw ${bad.requests.length} requests after ${sent - 1}`);
    await request(px.port, '/');
  }
  for (let i = 0; i < 10; i++) {
    const r = await request(px.port, `/after-${i}`);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-upstream'], 'good');
  }
  assert.equal(bad.requests.length, 3);
  assert.equal(await stat(px.adminPort, 'cluster.web.outlier_detection.ejections_active'), 1);
  assert.equal(await stat(px.adminPort, 'cluster.web.outlier_detection.ejections_enforced_consecutive_5xx'), 1);
  assert.equal(await stat(px.adminPort, 'cluster.web.outlier_detection.ejections_enforced_total'), 1);
  const clusters = (await request(px.adminPort, '/clusters')).body;
  assert.match(clusters, new RegExp(`^web::127\\.0\\.0\\.1:${bad.port}::health_flags::/failed_outlier_check$`, 'm'));
  assert.match(clusters, new RegExp(`^web::127\\.0\\.0\\.1:${good.port}::health_flags::healthy$`, 'm'));

  // No event announces the re-admission: poll the gauge (the sweep runs every 50 ms after the 1 s ejection).
  const deadline = Date.now() + 5000;
  while (await stat(px.adminPort, 'cluster.web.outlier_detection.ejections_active') !== 0) {
    assert.ok(Date.now() < deadline, 'the bad host was not re-admitted within 5 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  const before = bad.requests.length;
  for (let i = 0; i < 4 && bad.requests.length === before; i++) await request(px.port, `/back-${i}`);
  assert.equal(bad.requests.length, before + 1, 'the re-admitted host gets traffic again');
});

test('max_ejection_percent: with three failing hosts and 50%, two are ejected and the third keeps serving (panic off)', async (t) => {
  const ups = await Promise.all(['a', 'b', 'c'].map((n) => upstream(t, n, 503)));
  const px = await startProxy(simple({
    admin: true,
    routes: [toCluster('/', 'web')],
    clusters: [cluster('web', ups.map((u) => u.port), {
      outlier_detection: { consecutive_5xx: 2, max_ejection_percent: 50 },
      // Otherwise one healthy host of three is below the 50% panic threshold and all three serve.
      common_lb_config: { healthy_panic_threshold: { value: 0 } },
    })],
  }));
  t.after(() => px.close());
  for (let i = 0; i < 12; i++) assert.equal((await request(px.port, `/${i}`)).status, 503);
  assert.equal(await stat(px.adminPort, 'cluster.web.outlier_detection.ejections_active'), 2);
  assert.ok(await stat(px.adminPort, 'cluster.web.outlier_detection.ejections_overflow') >= 1);
  const seen = ups.map((u) => u.requests.length);
  for (let i = 0; i < 6; i++) await request(px.port, `/more-${i}`);
  const grew = ups.filter((u, i) => u.requests.length > seen[i]!);
  assert.equal(grew.length, 1, 'only the one host left in service gets requests');
  assert.equal(grew[0]!.requests.length - seen[ups.indexOf(grew[0]!)]!, 6);
});

test('connect failures count as local-origin errors: a dead endpoint is ejected and requests stop failing', async (t) => {
  const good = await upstream(t, 'good', 200);
  const dead = await deadPort();
  const px = await startProxy(simple({
    admin: true,
    routes: [toCluster('/', 'web')],
    clusters: [cluster('web', [good.port, dead], {
      outlier_detection: { consecutive_5xx: 2, max_ejection_percent: 50 },
    })],
  }));
  t.after(() => px.close());
  let failures = 0;
  for (let i = 0; i < 6; i++) if ((await request(px.port, `/${i}`)).status === 503) failures++;
  assert.equal(failures, 2, 'two connect failures (UF), then the dead endpoint is ejected');
  for (let i = 0; i < 6; i++) assert.equal((await request(px.port, `/after-${i}`)).status, 200);
  assert.equal(await stat(px.adminPort, 'cluster.web.outlier_detection.ejections_enforced_consecutive_5xx'), 1);
  const clusters = (await request(px.adminPort, '/clusters')).body;
  assert.match(clusters, new RegExp(`^web::127\\.0\\.0\\.1:${dead}::health_flags::/failed_outlier_check$`, 'm'));
});
