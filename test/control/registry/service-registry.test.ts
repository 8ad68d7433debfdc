// ServiceRegistry: sidecar grace period, TCP health checks, TTL registrations, the watched file source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceRegistry } from '../../../src/control/registry/service-registry.js';
import type { RegistrySnapshot } from '../../../src/control/model.js';
import { setSink } from '../../../src/observe/logger.js';
import { sidecar, waitForEvent } from '../../helpers/control-fakes.js';

function open(t: { after(fn: () => Promise<void> | void): void }, opts: ConstructorParameters<typeof ServiceRegistry>[0] = {}) {
  const reg = new ServiceRegistry({ healthCheckIntervalMs: 0, ...opts });
  reg.start();
  t.after(() => reg.close());
  const next = (pred: (s: RegistrySnapshot) => boolean) => waitForEvent<RegistrySnapshot>((cb) => reg.onChange(cb), pred);
  const ids = () => reg.snapshot().workloads.map((w) => w.id).sort();
  return { reg, next, ids };
}

test('a sidecar registers its workload and service; after a disconnect it stays for the grace period only', async (t) => {
  const { reg, next, ids } = open(t, { graceMs: 100 });
  const p = sidecar('sidecar~127.0.0.1~reviews-1.default~default.svc.cluster.local', 'reviews', { inboundPort: 15106, labels: { version: 'v1' } });
  reg.registerSidecar(p, '127.0.0.1:5000');
  reg.registerSidecar(sidecar('x', 'ratings', { register: false }), 'peer'); // not registering: ignored
  const snap = reg.snapshot();
  assert.deepEqual(snap.workloads.map((w) => [w.id, w.service, w.address, w.ports, w.labels, w.source]), [
    [p.id, 'reviews', '127.0.0.1', [{ name: 'http', port: 9080, targetPort: 15106, protocol: 'HTTP' }], { version: 'v1' }, 'sidecar'],
  ]);
  assert.deepEqual(snap.services.map((s) => [s.hostname, s.ports]), [['reviews.default.svc.cluster.local', [{ name: 'http', port: 9080, protocol: 'HTTP' }]]]);

  const gone = next((s) => s.workloads.length === 0);
  const t0 = Date.now();
  reg.unregisterSidecar(p);
  assert.deepEqual(ids(), [p.id], 'still there right after the disconnect');
  await gone;
  assert.ok(Date.now() - t0 >= 90, 'left only after the grace period');
  assert.deepEqual(reg.snapshot().services, []);
});

test('a sidecar that reconnects within the grace period keeps its workload', async (t) => {
  const { reg, next, ids } = open(t, { graceMs: 80 });
  const a = sidecar('a', 'reviews');
  const b = sidecar('b', 'reviews'); // disconnects for good: its removal marks the end of the grace period
  reg.registerSidecar(a, 'p');
  reg.registerSidecar(b, 'p');
  const bGone = next((s) => !s.workloads.some((w) => w.id === 'b'));
  reg.unregisterSidecar(a);
  reg.unregisterSidecar(b);
  reg.registerSidecar(a, 'p'); // reconnect
  await bGone;
  assert.deepEqual(ids(), ['a']);
});

test('a sidecar that is leaving (it ended its stream itself) loses its workload at once, not after the grace period', async (t) => {
  const { reg, ids } = open(t, { graceMs: 60_000 });
  const a = sidecar('a', 'reviews');
  const b = sidecar('b', 'reviews');
  reg.registerSidecar(a, 'peer');
  reg.registerSidecar(b, 'peer');
  const changes: RegistrySnapshot[] = [];
  reg.onChange((s) => changes.push(s));
  reg.unregisterSidecar(a, true);
  assert.deepEqual(ids(), ['b'], 'removed synchronously');
  assert.equal(changes.length, 1, 'one change, pushed to the proxies');
  reg.unregisterSidecar(b);
  assert.deepEqual(ids(), ['b'], 'a broken stream still gets the grace period');
});

test('health checks mark a sidecar workload unhealthy after 2 failed connects and healthy after 1 success', async (t) => {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  t.after(() => new Promise<void>((r) => { server.close(() => r()); }));
  const { reg, next } = open(t, { healthCheckIntervalMs: 25, healthCheckTimeoutMs: 500 });
  reg.registerSidecar(sidecar('a', 'reviews', { inboundPort: port }), 'p');
  const changes: RegistrySnapshot[] = [];
  reg.onChange((s) => changes.push(s));

  const down = next((s) => s.workloads[0]?.healthy === false);
  await new Promise<void>((r) => server.close(() => r()));
  await down;
  assert.equal(changes.length, 1, 'the first failure alone changed nothing');

  const up = next((s) => s.workloads[0]?.healthy === true);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  await up;
});

test('API registrations expire after their TTL; re-posting the id renews and updates it', async (t) => {
  const { reg, next } = open(t);
  const r1 = reg.registerWorkload({ service: 'ratings', address: '10.0.0.1', ports: { http: 9080 }, labels: { v: '1' }, ttl: '60s' });
  assert.ok(r1.ok);
  const r2 = reg.registerWorkload({ id: r1.value.id, service: 'ratings', address: '10.0.0.1', ports: { http: 9080 }, labels: { v: '2' }, ttl: '60s' });
  assert.deepEqual(r2, { ok: true, value: { id: r1.value.id, ttlMs: 60_000 } });
  assert.deepEqual(reg.snapshot().workloads.map((w) => [w.id, w.labels, w.source]), [[r1.value.id, { v: '2' }, 'api']]);
  assert.equal(reg.lookup('ratings', 'default')?.hostname, 'ratings.default.svc.cluster.local');

  const short = reg.registerWorkload({ service: 'details', namespace: 'prod', address: '10.0.0.2', ports: [{ name: 'grpc', port: 7070, targetPort: 17070 }], ttl: '50ms' });
  assert.ok(short.ok);
  assert.equal(reg.lookup('details.prod', 'default')?.ports[0]?.protocol, 'GRPC');
  await next((s) => !s.workloads.some((w) => w.id === short.value.id));
  assert.equal(reg.lookup('details.prod.svc.cluster.local', 'default'), undefined);
  assert.equal(reg.deregisterWorkload(r1.value.id), true);
  assert.equal(reg.deregisterWorkload(r1.value.id), false);
  assert.deepEqual(reg.snapshot().workloads, []);

  const bad = reg.registerWorkload({ service: 'Bad_Name', address: '', ports: { http: 70000 }, ttl: 'soon' });
  assert.ok(!bad.ok);
  assert.deepEqual(bad.errors, [
    'service: expected a DNS label (lower-case letters, digits, \'-\'), got "Bad_Name"',
    'address: expected a non-empty string, got ""',
    'ports.http: expected a port number in 1..65535, got 70000',
    'ttl: expected a duration like "30s", "500ms", "2m", got "soon"',
  ]);
});

test('the registry file: services and endpoints loaded, a bad edit keeps the last good content, a good edit applies', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-reg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'registry.yaml');
  writeFileSync(file, `services:
  - name: reviews
    ports: [{name: http, port: 9080}]
    endpoints:
      - {address: 127.0.0.1, ports: {http: 9081}, labels: {version: v1}, locality: us/east/a, weight: 3}
      - {address: 127.0.0.2}
`);
  const lines: string[] = [];
  const prev = setSink((l) => { lines.push(l); for (const w of waiters.splice(0)) w(); });
  const waiters: (() => void)[] = [];
  t.after(() => { setSink(prev); });
  const { reg, next } = open(t, { file });
  let s = reg.snapshot();
  assert.deepEqual(s.services.map((x) => [x.hostname, x.source]), [['reviews.default.svc.cluster.local', 'file']]);
  assert.deepEqual(s.workloads.map((w) => [w.address, w.ports[0]!.targetPort, w.weight, w.locality?.zone]), [['127.0.0.1', 9081, 3, 'east'], ['127.0.0.2', 9080, 1, undefined]]);

  const rejected = new Promise<string>((resolve) => {
    const check = () => { const l = lines.find((x) => x.includes('rejected')); if (l) resolve(l); else waiters.push(check); };
    check();
  });
  writeFileSync(file, 'services:\n  - name: reviews\n    ports: [{name: http, port: 0}]\n    endpoints: [{ports: {grpc: 1}}]\n');
  const line = await rejected;
  assert.match(line, /registry\.yaml: services\[0\]\.ports\[0\]\.port: expected a port number in 1\.\.65535, got 0/);
  assert.match(line, /registry\.yaml: services\[0\]\.endpoints\[0\]\.address: expected a non-empty string, got nothing/);
  assert.match(line, /services\[0\]\.endpoints\[0\]\.ports\.grpc: no service port is named 'grpc'/);
  assert.equal(reg.snapshot(), s, 'the last good content is kept');

  const applied = next((x) => x.workloads.length === 1);
  writeFileSync(file, 'services:\n  - {name: ratings, namespace: prod, ports: [{name: tcp-db, port: 5432}], endpoints: [{address: 10.1.1.1}]}\n');
  s = await applied;
  assert.deepEqual(s.services.map((x) => [x.hostname, x.ports[0]!.protocol]), [['ratings.prod.svc.cluster.local', 'TCP']]);
});

test('a registered sidecar workload is a mesh workload: tlsMode istio (auto mTLS) and its service account', (t) => {
  const { reg } = open(t);
  reg.registerSidecar(sidecar('sidecar~127.0.0.1~reviews-2.default~default.svc.cluster.local', 'reviews', { serviceAccount: 'bookinfo-reviews' }), 'peer');
  const [w] = reg.snapshot().workloads;
  assert.equal(w!.tlsMode, 'istio');
  assert.equal(w!.serviceAccount, 'bookinfo-reviews');
});
