// Observability end to end: file access logs with a custom text format and json_format, Envoy's
// response flags, and the admin endpoints of a running proxy (/ready, /server_info, /stats,
// /stats/prometheus, /clusters, /config_dump, /listeners, /drain_listeners, /logging).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { echo, startUpstream } from '../helpers/upstream.js';
import { startProxy } from '../helpers/proxy.js';
import { splitResponses } from '../helpers/proxy.js';
import {
  cluster, deadPort, direct, endpoint, FILE_LOG_TYPE, request, simple, toCluster, waitForLines, type Obj,
} from '../helpers/bootstrap.js';

type T = { after(fn: () => Promise<void> | void): void };

function tmpDir(t: T): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-obs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const fileLog = (path: string, format: Obj): Obj => ({ name: 'envoy.access_loggers.file', typed_config: { '@type': FILE_LOG_TYPE, path, ...format } });

/** Sends one request on a fresh socket; resolves with the client's local port and the raw response. */
function exchange(port: number, data: string): Promise<{ localPort: number; text: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    let localPort = 0;
    s.on('connect', () => { localPort = s.localPort!; s.write(data); });
    s.on('data', (d) => { text += d.toString('latin1'); });
    s.on('error', reject);
    s.on('close', () => resolve({ localPort, text }));
  });
}

test('file access log: a custom text format with every common operator, and a json_format logger', async (t) => {
  const up = await startUpstream(echo('up'));
  t.after(() => up.close());
  const dir = tmpDir(t);
  const textLog = join(dir, 'text.log');
  const jsonLog = join(dir, 'json.log');
  const format = '[%START_TIME%] %START_TIME(%s)% "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
    + '%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
    + '%UPSTREAM_HOST% %UPSTREAM_CLUSTER% %DOWNSTREAM_REMOTE_ADDRESS% "%REQ(X-CUSTOM)%" "%REQ(X-MISSING)%" '
    + '"%RESP(X-UPSTREAM)%" "%RESP(CONTENT-TYPE)%" %REQ(USER-AGENT):5%\n';
  const px = await startProxy(simple({
    routes: [toCluster('/v2/', 'up', { prefix_rewrite: '/' }), toCluster('/', 'up')],
    clusters: [cluster('up', [up.port])],
    extra: {
      access_log: [
        fileLog(textLog, { log_format: { text_format: format } }),
        fileLog(jsonLog, {
          log_format: {
            json_format: {
              code: '%RESPONSE_CODE%', flags: '%RESPONSE_FLAGS%', method: '%REQ(:METHOD)%', path: '%REQ(:PATH)%',
              bytes_in: '%BYTES_RECEIVED%', bytes_out: '%BYTES_SENT%', upstream: '%UPSTREAM_HOST%', cluster: '%UPSTREAM_CLUSTER%',
              missing: '%REQ(X-MISSING)%', nested: { protocol: '%PROTOCOL%', fixed: 'constant' },
            },
          },
        }),
      ],
    },
  }));
  t.after(() => px.close());

  const before = Date.now();
  const body = 'hello world';
  const { localPort, text } = await exchange(px.port,
    `POST /v2/items?x=1 HTTP/1.1\r\nHost: logs.example\r\nUser-Agent: curl-ish/8.0\r\nX-Custom: abc\r\n`
    + `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  const after = Date.now();
  const [res] = splitResponses(text);
  assert.equal(res!.status, 200);

  const [line] = await waitForLines(textLog, 1);
  const m = line!.match(/^\[(\S+)\] (\d+) "(\S+) (\S+) (\S+)" (\d+) (\S+) (\d+) (\d+) (\d+) (\S+) (\S+) (\S+) "(.*)" "(.*)" "(.*)" "(.*)" (\S+)$/);
  assert.ok(m, line);
  const [, start, epoch, method, path, proto, code, flags, bytesIn, bytesOut, duration, upHost, upCluster, remote, custom, missing, respUp, ctype, ua] = m;
  assert.match(start!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const t0 = Date.parse(start!);
  assert.ok(t0 >= before - 1 && t0 <= after, `${start} not within the request`);
  assert.equal(Number(epoch), Math.floor(t0 / 1000));
  assert.equal(method, 'POST');
  assert.equal(path, '/v2/items?x=1');         // X-ENVOY-ORIGINAL-PATH: the path before the rewrite
  assert.equal(proto, 'HTTP/1.1');
  assert.equal(code, '200');
  assert.equal(flags, '-');
  assert.equal(Number(bytesIn), body.length);
  assert.equal(Number(bytesOut), Buffer.byteLength(res!.body));
  assert.ok(Number(duration) >= 0 && Number(duration) <= after - before + 1);
  assert.equal(upHost, `127.0.0.1:${up.port}`);
  assert.equal(upCluster, 'up');
  assert.equal(remote, `127.0.0.1:${localPort}`);
  assert.equal(custom, 'abc');
  assert.equal(missing, '-');
  assert.equal(respUp, 'up');
  assert.equal(ctype, 'application/json');
  assert.equal(ua, 'curl-');                   // %REQ(USER-AGENT):5% truncates

  const [jsonLine] = await waitForLines(jsonLog, 1);
  assert.deepEqual(JSON.parse(jsonLine!), {
    code: 200, flags: '-', method: 'POST', path: '/v2/items?x=1', bytes_in: body.length, bytes_out: Buffer.byteLength(res!.body),
    upstream: `127.0.0.1:${up.port}`, cluster: 'up', missing: null, nested: { protocol: 'HTTP/1.1', fixed: 'constant' },
  });
});

test('response flags NR, UF, UH, UT and URX appear in the access log', async (t) => {
  const hang = await startUpstream(() => { /* never answers */ });
  t.after(() => hang.close());
  const failing = await startUpstream((_req, res) => { res.writeHead(503, { 'content-length': '4' }); res.end('nope'); });
  t.after(() => failing.close());
  const dead = await deadPort();
  const log = join(tmpDir(t), 'flags.log');
  const px = await startProxy(simple({
    virtualHosts: [{
      name: 'vh',
      domains: ['flags.example'],
      routes: [
        toCluster('/uh', 'unhealthy'),
        toCluster('/ut', 'hang', { timeout: '0.1s' }),
        toCluster('/urx', 'failing', { retry_policy: { retry_on: '5xx', num_retries: 1, retry_back_off: { base_interval: '0.001s' } } }),
        toCluster('/ufurx', 'dead', { retry_policy: { retry_on: 'connect-failure', num_retries: 1, retry_back_off: { base_interval: '0.001s' } } }),
        toCluster('/uf', 'dead'),
      ],
    }],
    clusters: [
      cluster('dead', [dead]),
      cluster('unhealthy', [endpoint(hang.port, { health_status: 'UNHEALTHY' })], { common_lb_config: { healthy_panic_threshold: { value: 0 } } }),
      cluster('hang', [hang.port]),
      cluster('failing', [failing.port]),
    ],
    extra: { access_log: [fileLog(log, { log_format: { text_format: '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\n' } })] },
  }));
  t.after(() => px.close());
  const get = (path: string, host = 'flags.example') => request(px.port, path, { headers: { host } });
  assert.equal((await get('/nr', 'elsewhere.example')).status, 404);
  assert.equal((await get('/nr')).status, 404);
  assert.equal((await get('/uf')).status, 503);
  assert.equal((await get('/uh')).status, 503);
  assert.equal((await get('/ut')).status, 504);
  const urx = await get('/urx');
  assert.equal(urx.status, 503);
  assert.equal(urx.body, 'nope');             // the last upstream response is passed on
  assert.equal((await get('/ufurx')).status, 503);
  const lines = await waitForLines(log, 7);
  assert.deepEqual(lines, ['/nr 404 NR', '/nr 404 NR', '/uf 503 UF', '/uh 503 UH', '/ut 504 UT', '/urx 503 URX', '/ufurx 503 URX,UF']);
  assert.equal(failing.requests.length, 2);
  assert.equal(px.server.stats.value('cluster.failing.upstream_rq_retry_limit_exceeded'), 1);
  assert.equal(px.server.stats.value('cluster.dead.upstream_rq_retry_limit_exceeded'), 1);
});

// ───────────────────────────── admin ─────────────────────────────

interface Sample { name: string; labels: Record<string, string>; value: number }

/**
 * Parses the Prometheus text exposition format 0.0.4 strictly: TYPE before a family's samples, each
 * family's samples contiguous, valid names, label syntax and values, histogram buckets cumulative
 * and ending with +Inf equal to _count. Throws on the first violation.
 */
function parsePrometheus(text: string): Sample[] {
  assert.ok(text.endsWith('\n'), 'exposition must end with a newline');
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([^ ]+)(?: (-?\d+))?$/;
  const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/y;
  const types = new Map<string, string>();
  const finished = new Set<string>();
  let current: string | null = null;
  const samples: Sample[] = [];
  const familyOf = (name: string): string => {
    for (const suffix of ['_bucket', '_sum', '_count']) {
      const base = name.slice(0, -suffix.length);
      if (name.endsWith(suffix) && types.get(base) === 'histogram') return base;
    }
    return name;
  };
  text.slice(0, -1).split('\n').forEach((line, i) => {
    const where = `line ${i + 1}: ${line}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = line.match(/^# (HELP|TYPE) (\S+)(?: (.*))?$/);
      if (m === null) return; // a plain comment
      assert.match(m[2]!, NAME, where);
      if (m[1] === 'TYPE') {
        assert.ok(!types.has(m[2]!), `second TYPE for ${m[2]} at ${where}`);
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3]!), where);
        types.set(m[2]!, m[3]!);
      }
      return;
    }
    const m = line.match(SAMPLE);
    assert.ok(m, `not a sample: ${where}`);
    const [, name, rawLabels, rawValue] = m;
    const family = familyOf(name!);
    assert.ok(types.has(family), `sample before its TYPE: ${where}`);
    if (current !== family) {
      assert.ok(!finished.has(family), `family ${family} is not contiguous: ${where}`);
      if (current !== null) finished.add(current);
      current = family;
    }
    const labels: Record<string, string> = {};
    if (rawLabels !== undefined && rawLabels !== '') {
      LABEL.lastIndex = 0;
      while (LABEL.lastIndex < rawLabels.length) {
        const start = LABEL.lastIndex;
        const l = LABEL.exec(rawLabels);
        assert.ok(l !== null && l.index === start, `bad labels: ${where}`);
        assert.ok(!(l[1]! in labels), `repeated label ${l[1]}: ${where}`);
        labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      }
    }
    assert.match(rawValue!, /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|NaN|[+-]Inf)$/, `bad value: ${where}`);
    const value = rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : Number(rawValue);
    samples.push({ name: name!, labels, value });
  });
  // Histograms: cumulative buckets ending with le="+Inf" equal to _count.
  for (const [family, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const s of samples.filter((x) => x.name === `${family}_bucket`)) {
      const { le, ...rest } = s.labels;
      assert.ok(le !== undefined, `${family}_bucket without le`);
      const key = JSON.stringify(rest);
      series.set(key, [...(series.get(key) ?? []), s]);
    }
    for (const [key, buckets] of series) {
      for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, `${family} buckets not cumulative`);
      assert.equal(buckets.at(-1)!.labels.le, '+Inf');
      const count = samples.find((x) => x.name === `${family}_count` && JSON.stringify(x.labels) === key);
      assert.equal(count?.value, buckets.at(-1)!.value, `${family}_count`);
    }
  }
  return samples;
}

async function adminGet(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() };
}

test('admin endpoints of a running proxy: ready, server_info, stats, prometheus, clusters, config_dump, listeners', async (t) => {
  const up = await startUpstream(echo('up'));
  t.after(() => up.close());
  const px = await startProxy(simple({
    admin: true,
    routes: [toCluster('/up', 'up'), direct({ path: '/direct' }, 'hi')],
    clusters: [cluster('up', [up.port])],
  }));
  t.after(() => px.close());
  assert.ok(px.adminPort > 0);
  for (let i = 0; i < 3; i++) assert.equal((await request(px.port, '/up')).status, 200);
  assert.equal((await request(px.port, '/nowhere')).status, 404);
  assert.equal((await request(px.port, '/direct')).status, 200);

  const ready = await adminGet(px.adminPort, '/ready');
  assert.deepEqual([ready.status, ready.body], [200, 'LIVE\n']);

  const info = JSON.parse((await adminGet(px.adminPort, '/server_info')).body) as { state: string; node: unknown; uptime_current_epoch: string };
  assert.equal(info.state, 'LIVE');
  assert.match(info.uptime_current_epoch, /^\d+s$/);

  const stats = await adminGet(px.adminPort, '/stats');
  assert.equal(stats.status, 200);
  const values = new Map<string, string>();
  for (const l of stats.body.split('\n')) {
    const i = l.indexOf(': ');
    if (i > 0) values.set(l.slice(0, i), l.slice(i + 2));
  }
  assert.equal(values.get('cluster.up.upstream_rq_total'), '3');
  assert.equal(values.get('cluster.up.upstream_rq_2xx'), '3');
  assert.equal(values.get('cluster.up.upstream_rq_200'), '3');
  assert.equal(values.get('cluster.up.upstream_cx_total'), '1');
  assert.equal(values.get('http.ingress.downstream_rq_total'), '5');
  assert.equal(values.get('http.ingress.downstream_rq_2xx'), '4');
  assert.equal(values.get('http.ingress.downstream_rq_4xx'), '1');
  assert.equal(values.get('http.ingress.no_route'), '1');
  assert.equal(values.get('http.ingress.rq_direct_response'), '1');
  assert.equal(values.get('listener.127.0.0.1_0.downstream_cx_total'), '5');
  assert.match(stats.body, /^http\.ingress\.downstream_rq_time: P0\(nan,/m);
  const filtered = await adminGet(px.adminPort, '/stats?filter=^cluster\\.up\\.upstream_rq_total$');
  assert.equal(filtered.body, 'cluster.up.upstream_rq_total: 3\n');
  const json = JSON.parse((await adminGet(px.adminPort, '/stats?format=json&filter=upstream_rq_total')).body) as { stats: Array<{ name: string; value: number }> };
  assert.deepEqual(json.stats, [{ name: 'cluster.up.upstream_rq_total', value: 3 }]);

  const prom = await adminGet(px.adminPort, '/stats/prometheus');
  assert.equal(prom.status, 200);
  assert.match(prom.type, /^text\/plain; version=0\.0\.4/);
  const samples = parsePrometheus(prom.body);
  const sample = (name: string, labels: Record<string, string>) =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(sample('envoy_cluster_upstream_rq_total', { envoy_cluster_name: 'up' })?.value, 3);
  assert.equal(sample('envoy_cluster_upstream_rq_xx', { envoy_cluster_name: 'up', envoy_response_code_class: '2' })?.value, 3);
  assert.equal(sample('envoy_cluster_upstream_rq', { envoy_cluster_name: 'up', envoy_response_code: '200' })?.value, 3);
  assert.equal(sample('envoy_http_downstream_rq_total', { envoy_http_conn_manager_prefix: 'ingress' })?.value, 5);
  assert.equal(sample('envoy_http_downstream_rq_time_count', { envoy_http_conn_manager_prefix: 'ingress' })?.value, 5);
  assert.match(prom.body, /^envoy_cluster_upstream_rq_total\{envoy_cluster_name="up"\} 3$/m);
  assert.match(prom.body, /^# TYPE envoy_cluster_upstream_rq_total counter$/m);

  const clusters = await adminGet(px.adminPort, '/clusters');
  const host = `up::127.0.0.1:${up.port}::`;
  assert.match(clusters.body, /^up::observability_name::up$/m);
  assert.ok(clusters.body.includes(`${host}rq_total::3\n`), clusters.body);
  assert.ok(clusters.body.includes(`${host}health_flags::healthy\n`), clusters.body);
  assert.ok(clusters.body.includes(`${host}cx_total::1\n`), clusters.body);
  const clustersJson = JSON.parse((await adminGet(px.adminPort, '/clusters?format=json')).body) as {
    cluster_statuses: Array<{ name: string; host_statuses: Array<{ address: { socket_address: { address: string; port_value: number } } }> }>;
  };
  const status = clustersJson.cluster_statuses.find((c) => c.name === 'up')!;
  assert.deepEqual(status.host_statuses[0]!.address.socket_address, { address: '127.0.0.1', port_value: up.port });

  const dump = JSON.parse((await adminGet(px.adminPort, '/config_dump')).body) as { configs: Array<Record<string, unknown>> };
  assert.ok(Array.isArray(dump.configs) && dump.configs.length > 0);
  assert.ok(dump.configs.every((c) => typeof c['@type'] === 'string'));
  const staticClusters = JSON.parse((await adminGet(px.adminPort, '/config_dump?resource=static_clusters')).body) as { configs: Array<{ name: string }> };
  assert.deepEqual(staticClusters.configs.map((c) => c.name), ['up']);

  const listeners = await adminGet(px.adminPort, '/listeners');
  assert.equal(listeners.body, 'main::127.0.0.1:0\n');
  assert.equal((await adminGet(px.adminPort, '/nope')).status, 404);
});

test('admin POST /logging?level= changes the process log level', async (t) => {
  const px = await startProxy(simple({ admin: true, routes: [direct({ prefix: '/' }, 'x')] }));
  // Put the process-wide level back even when an assertion fails, then close.
  t.after(async () => { await adminGet(px.adminPort, '/logging?level=info', 'POST').catch(() => undefined); await px.close(); });
  assert.equal((await adminGet(px.adminPort, '/logging?level=debug')).status, 405);   // changing needs POST
  const set = await adminGet(px.adminPort, '/logging?level=debug', 'POST');
  assert.equal(set.status, 200);
  assert.match(set.body, /^active loggers:\n/);
  assert.match(set.body, /: debug$/m);
  assert.match((await adminGet(px.adminPort, '/logging')).body, /  main: debug\n/);
  assert.equal((await adminGet(px.adminPort, '/logging?level=loud', 'POST')).status, 400);
  const back = await adminGet(px.adminPort, '/logging?level=info', 'POST');
  assert.match(back.body, /  main: info\n/);
});

test('admin POST /drain_listeners: idle connections close and new connections are refused', async (t) => {
  const px = await startProxy(simple({ admin: true, routes: [direct({ prefix: '/' }, 'served')] }));
  t.after(() => px.close());
  // A keep-alive connection that has served one request and sits idle.
  const idle = net.connect(px.port, '127.0.0.1');
  t.after(() => idle.destroy());
  const idleClosed = new Promise<void>((r) => idle.on('close', () => r()));
  let got = '';
  await new Promise<void>((resolve) => {
    idle.on('connect', () => idle.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    idle.on('data', (d) => { got += d.toString(); if (got.endsWith('served')) resolve(); });
  });
  assert.equal((await adminGet(px.adminPort, '/drain_listeners')).status, 405);   // needs POST
  const drained = await adminGet(px.adminPort, '/drain_listeners', 'POST');
  assert.deepEqual([drained.status, drained.body], [200, 'OK\n']);
  await idleClosed;
  await assert.rejects(request(px.port, '/'), { code: 'ECONNREFUSED' });
  // The admin endpoint itself keeps answering.
  assert.equal((await adminGet(px.adminPort, '/ready')).status, 200);
});
