// Connection limits: the connection_limit network filter (max_connections, delay, stats
// connection_limit.<prefix>.limited_connections / active_connections), the listener limit from the
// runtime key envoy.resource_limits.listener.<name>.connection_limit (listener.<addr>.downstream_cx_overflow),
// and file descriptor exhaustion: thousands of idle connections against a proxy limited to a few
// hundred descriptors must leave it up, its admin port usable, the refusals counted and logged,
// and the listener serving again once the hogs go.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startProxy } from '../helpers/proxy.js';
import { bootstrap, direct, hcm, listener, request, type Obj } from '../helpers/bootstrap.js';
import { parseBootstrapText } from '../../src/envoy/text.js';
import { connect, startProxyChildWithFdLimit, waitUntil } from '../helpers/adversarial.js';

const CONNECTION_LIMIT = 'type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit';

function connectionLimit(max: number, extra: Obj = {}): Obj {
  return { name: 'envoy.filters.network.connection_limit', typed_config: { '@type': CONNECTION_LIMIT, stat_prefix: 'cl', max_connections: max, ...extra } };
}

const answer = (body: string): Obj => hcm({ statPrefix: 'ingress', routes: [direct({ prefix: '/' }, body)] });

/** One keep-alive connection that sent a request and read its answer; resolves with the socket and the response text ('' when the proxy closed it). */
function exchange(port: number): Promise<{ socket: net.Socket; text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    let settled = false;
    const done = (closed: boolean) => { if (!settled) { settled = true; resolve({ socket: s, text, closed }); } };
    s.on('connect', () => s.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    s.on('data', (d) => { text += d.toString('latin1'); if (/\r\n\r\n[\s\S]*ok$/.test(text)) done(false); });
    s.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'ECONNRESET' || e.code === 'EPIPE') done(true); else if (!settled) reject(e); });
    s.on('close', () => done(true));
  });
}

test('connection_limit: the max_connections+1th connection is closed and counted; closing one lets a new one in', async (t) => {
  const px = await startProxy(bootstrap({
    listeners: [listener({ chains: [{ filters: [connectionLimit(3), answer('ok')] }] })],
  }));
  t.after(() => px.close());
  const stat = (n: string) => px.server.stats.value(`connection_limit.cl.${n}`) ?? 0;
  const open = await Promise.all([exchange(px.port), exchange(px.port), exchange(px.port)]);
  t.after(() => { for (const o of open) o.socket.destroy(); });
  for (const o of open) assert.match(o.text, /^HTTP\/1\.1 200/);
  assert.equal(stat('active_connections'), 3);
  const fourth = await exchange(px.port);
  assert.equal(fourth.closed, true);
  assert.equal(fourth.text, '');
  assert.equal(stat('limited_connections'), 1);
  assert.equal(stat('active_connections'), 3);
  open[0]!.socket.destroy();
  await waitUntil(() => stat('active_connections') === 2, 5000, 'the closed connection to be released');
  const fifth = await exchange(px.port);
  t.after(() => fifth.socket.destroy());
  assert.match(fifth.text, /^HTTP\/1\.1 200/);
  assert.equal(stat('limited_connections'), 1);
  assert.equal(stat('active_connections'), 3);
});

test('connection_limit with a delay holds a refused connection (unread) for the delay, then closes it', async (t) => {
  const px = await startProxy(bootstrap({
    listeners: [listener({ chains: [{ filters: [connectionLimit(1, { delay: '0.4s' }), answer('ok')] }] })],
  }));
  t.after(() => px.close());
  const first = await exchange(px.port);
  t.after(() => first.socket.destroy());
  const t0 = performance.now();
  const refused = await exchange(px.port);
  const held = performance.now() - t0;
  assert.equal(refused.text, '');
  assert.ok(held >= 350, `closed after ${held.toFixed(0)} ms, expected about 400`);
  assert.equal(px.server.stats.value('connection_limit.cl.limited_connections'), 1);
});

test('connection_limit: runtime_enabled false turns it off; a chain must still end with a terminal filter', async (t) => {
  const px = await startProxy(bootstrap({
    listeners: [listener({ chains: [{ filters: [connectionLimit(1, { runtime_enabled: { default_value: false, runtime_key: 'x.enabled' } }), answer('ok')] }] })],
  }));
  t.after(() => px.close());
  const a = await exchange(px.port);
  const b = await exchange(px.port);
  t.after(() => { a.socket.destroy(); b.socket.destroy(); });
  assert.match(b.text, /^HTTP\/1\.1 200/);
  const bad = parseBootstrapText(bootstrap({ listeners: [listener({ chains: [{ filters: [connectionLimit(1)] }] })] }), 'bad.yaml', { baseDir: process.cwd() });
  assert.equal(bad.ok, false);
  assert.match(bad.ok ? '' : bad.errors.join('\n'), /filter_chains\[0\]\.filters\[0\]: expected a terminal filter last/);
});

test('runtime listener connection limit (layered_runtime static layer): downstream_cx_overflow; other runtime keys are rejected', async (t) => {
  const yaml = bootstrap({ listeners: [listener({ name: 'main', filter: answer('ok') })] })
    + 'layered_runtime:\n  layers:\n    - name: static\n      static_layer:\n        envoy.resource_limits.listener.main.connection_limit: 2\n';
  const px = await startProxy(yaml);
  t.after(() => px.close());
  const a = await exchange(px.port);
  const b = await exchange(px.port);
  t.after(() => { a.socket.destroy(); b.socket.destroy(); });
  assert.match(b.text, /^HTTP\/1\.1 200/);
  const c = await exchange(px.port);
  assert.equal(c.text, '');
  assert.equal(px.server.stats.value('listener.127.0.0.1_0.downstream_cx_overflow'), 1);
  a.socket.destroy();
  await waitUntil(async () => (await exchange(px.port).then((d) => { d.socket.destroy(); return d.text; })).startsWith('HTTP/1.1 200'), 5000, 'a free slot');

  const nested = parseBootstrapText(bootstrap({ listeners: [listener({ name: 'main', filter: answer('ok') })] })
    + 'layered_runtime:\n  layers:\n    - name: s\n      static_layer: { envoy: { resource_limits: { listener: { main: { connection_limit: 7 } } } } }\n', 'n.yaml', { baseDir: process.cwd() });
  assert.ok(nested.ok);
  assert.deepEqual(nested.value.runtime?.listenerConnectionLimits, { main: 7 });
  const bad = parseBootstrapText(bootstrap({ listeners: [listener({ name: 'main', filter: answer('ok') })] })
    + 'layered_runtime:\n  layers:\n    - name: s\n      static_layer: { overload.global_downstream_max_connections: 10, re2.max_program_size.error_level: 200 }\n    - name: a\n      admin_layer: {}\n',
  'bad.yaml', { baseDir: process.cwd() });
  assert.equal(bad.ok, false);
  const errors = bad.ok ? '' : bad.errors.join('\n');
  assert.match(errors, /layered_runtime\.layers\[0\]\.static_layer\["overload\.global_downstream_max_connections"\]: unsupported runtime key/);
  assert.match(errors, /layered_runtime\.layers\[0\]\.static_layer\["re2\.max_program_size\.error_level"\]: unsupported runtime key/);
  assert.match(errors, /layered_runtime\.layers\[1\]\.admin_layer: unsupported field/);
});

test('file descriptors run out: refusals are counted and logged, the admin port keeps answering, the listener recovers', { timeout: 120_000 }, async (t) => {
  const yaml = bootstrap({ listeners: [listener({ name: 'main', filter: answer('ok') })], admin: true });
  const px = await startProxyChildWithFdLimit(yaml, ['main'], 256);
  t.after(() => px.close());
  const port = px.port('main');
  const baseline = px.fds();
  // Far more idle connections than the proxy has descriptors.
  const hogs: net.Socket[] = [];
  t.after(() => { for (const s of hogs) s.destroy(); });
  for (let i = 0; i < 600; i++) {
    const s = await connect(port).catch(() => null);
    if (s === null) continue;
    s.on('error', () => {});
    hogs.push(s);
  }
  await waitUntil(async () => (await px.stat('listener.127.0.0.1_0.downstream_cx_overflow')) > 0, 20_000, 'refusals to be counted');
  // The admin port still answers while the hogs are connected.
  const admin = await request(px.adminPort, '/ready');
  assert.equal(admin.status, 200);
  await px.proc.waitFor(/listener main: connection refused, file descriptors nearly exhausted/);
  assert.ok(px.fds() <= 256);
  for (const s of hogs) s.destroy();
  await waitUntil(() => px.fds() <= baseline + 10, 20_000, `descriptors back near ${baseline} (now ${px.fds()})`);
  const after = await request(port, '/');
  assert.equal(after.status, 200);
  assert.equal(after.body, 'ok');
});
