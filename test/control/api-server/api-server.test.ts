// The HTTP API end to end over real HTTP: apply (atomic, dry run, YAML errors), config get/delete
// with kind aliases, proxy status, analysis, registry and TTL registrations, readiness, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApi } from '../../helpers/control-api.js';
import { fakeAnalyzer, waitForEvent } from '../../helpers/control-fakes.js';
import type { MeshSnapshot, ProxyStatus } from '../../../src/control/model.js';

const YAML = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec: {hosts: [reviews]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: prod}
spec: {host: reviews}
`;

test('apply creates, then reports unchanged; a dry run changes nothing', async (t) => {
  const api = await startTestApi(t);
  let r = await api.call('POST', '/v1/apply?dryRun=true', YAML);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.results.map((x: { action: string }) => x.action), ['created', 'created']);
  assert.equal(api.store.list().length, 0);
  r = await api.call('POST', '/v1/apply', YAML);
  assert.deepEqual(r.body, { dryRun: false, results: [
    { kind: 'VirtualService', namespace: 'default', name: 'reviews', key: 'VirtualService/default/reviews', action: 'created' },
    { kind: 'DestinationRule', namespace: 'prod', name: 'reviews', key: 'DestinationRule/prod/reviews', action: 'created' },
  ] });
  r = await api.call('POST', '/v1/apply', YAML);
  assert.deepEqual(r.body.results.map((x: { action: string }) => x.action), ['unchanged', 'unchanged']);
});

test('an apply with invalid documents is a 400 listing every error, and nothing is applied', async (t) => {
  const api = await startTestApi(t);
  const bad = `${YAML}---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec: {invalid: 1}\n---\nkind: Mystery\n`;
  let r = await api.call('POST', '/v1/apply?source=bad.yaml', bad);
  assert.equal(r.status, 400);
  assert.equal(r.body.error, '5 errors, nothing applied');
  assert.match(r.body.details[0], /^bad\.yaml#3: Gateway default\/gw: spec\.invalid: expected nothing, got 1$/);
  assert.ok(r.body.details.slice(1).every((d: string) => d.startsWith('bad.yaml#4: ')));
  assert.equal(api.store.list().length, 0);

  r = await api.call('POST', '/v1/apply', JSON.stringify({ sources: [{ name: 'a.yaml', text: YAML }, { name: 'b.yaml', text: 'x: [\n' }] }), { 'content-type': 'application/json' });
  assert.equal(r.status, 400);
  assert.equal(r.body.error, 'invalid YAML, nothing applied');
  assert.match(r.body.details[0], /^b\.yaml:2:1: YAML syntax error/);
  assert.equal(api.store.list().length, 0);

  r = await api.call('POST', '/v1/apply', '# nothing\n');
  assert.deepEqual([r.status, r.body.error], [400, 'no resources in the request body']);
});

test('config is read by kind (any spelling), namespace and name, and deleted', async (t) => {
  const api = await startTestApi(t);
  await api.call('POST', '/v1/apply', YAML);
  for (const k of ['virtualservice', 'VirtualServices', 'vs', 'virtualservice.networking.istio.io']) {
    const r = await api.call('GET', `/v1/config/${k}`);
    assert.deepEqual(r.body.items.map((i: { metadata: { name: string } }) => i.metadata.name), ['reviews'], k);
  }
  assert.equal((await api.call('GET', '/v1/config/dr/prod')).body.items.length, 1);
  assert.equal((await api.call('GET', '/v1/config/dr/default')).body.items.length, 0);
  const one = await api.call('GET', '/v1/config/destinationrules/prod/reviews');
  assert.equal(one.status, 200);
  assert.deepEqual([one.body.kind, one.body.metadata.generation, one.body.spec], ['DestinationRule', 1, { host: 'reviews' }]);
  assert.equal((await api.call('GET', '/v1/config')).body.items.length, 2);
  let r = await api.call('GET', '/v1/config/dr/prod/nope');
  assert.deepEqual([r.status, r.body.error], [404, 'DestinationRule prod/nope not found']);
  r = await api.call('GET', '/v1/config/widgets');
  assert.equal(r.status, 404);
  assert.match(r.body.details[0], /virtualservice\/virtualservices\/vs/);
  r = await api.call('DELETE', '/v1/config/dr/prod/reviews');
  assert.deepEqual([r.status, r.body.action], [200, 'deleted']);
  assert.equal((await api.call('DELETE', '/v1/config/dr/prod/reviews')).status, 404);
  assert.equal((await api.call('DELETE', '/v1/config/dr/prod')).status, 400);
  assert.equal((await api.call('PUT', '/v1/apply', YAML)).status, 405);
  assert.equal((await api.call('GET', '/nothing')).status, 404);
});

test('proxy status comes from the xDS server; analysis runs over the current mesh snapshot', async (t) => {
  const status: ProxyStatus = { id: 'sidecar~127.0.0.1~a.default~default.svc.cluster.local', kind: 'sidecar', namespace: 'default', variant: 'sotw',
    connectedAt: '2026-01-01T00:00:00Z', peer: '127.0.0.1:4000', types: { CDS: { state: 'SYNCED', sentVersion: '3', ackedVersion: '3', resourceCount: 2 } } };
  const analyzer = fakeAnalyzer('Error');
  const api = await startTestApi(t, { statuses: [status], analyzer });
  assert.deepEqual((await api.call('GET', '/v1/proxy-status')).body, { proxies: [status] });
  // Subscribed before the apply: the debounced snapshot may be published before the apply's response arrives.
  const applied = waitForEvent<MeshSnapshot>((cb) => api.mesh.onSnapshot(cb), (m) => m.configs.length === 2);
  await api.call('POST', '/v1/apply', YAML);
  await applied;
  const r = await api.call('GET', '/v1/analyze');
  assert.equal(r.body.version, api.mesh.current.version);
  assert.deepEqual(r.body.messages.map((m: { level: string; resource: string }) => [m.level, m.resource]), [['Error', 'VirtualService default/reviews']]);
  assert.equal(analyzer.seen.at(-1), api.mesh.current);
});

test('workloads register with a TTL, renew with their id, deregister, and show in /v1/registry', async (t) => {
  const api = await startTestApi(t);
  let r = await api.call('POST', '/v1/registry/workloads', JSON.stringify({ service: 'ratings', address: '127.0.0.1', ports: { http: 9080 }, labels: { v: '1' }, ttl: '30s' }));
  assert.equal(r.status, 200);
  const id = r.body.id as string;
  assert.equal(r.body.ttl, '30s');
  r = await api.call('POST', '/v1/registry/workloads', JSON.stringify({ id, service: 'ratings', address: '127.0.0.1', ports: { http: 9080 }, ttl: '45s' }));
  assert.deepEqual(r.body, { id, ttl: '45s' });
  r = await api.call('GET', '/v1/registry');
  assert.deepEqual(r.body.services.map((s: { hostname: string }) => s.hostname), ['ratings.default.svc.cluster.local']);
  assert.equal(r.body.workloads.length, 1);
  assert.ok(Date.parse(r.body.workloads[0].expiresAt) > Date.now() + 40_000);
  r = await api.call('POST', '/v1/registry/workloads', JSON.stringify({ service: 'x', ports: 'http' }));
  assert.equal(r.status, 400);
  assert.deepEqual(r.body.details, ['address: expected a non-empty string, got nothing', 'ports: expected {name: port, ...} or [{name, port, targetPort?, protocol?}], got "http"']);
  assert.equal((await api.call('POST', '/v1/registry/workloads', '{not json')).status, 400);
  assert.equal((await api.call('DELETE', `/v1/registry/workloads/${id}`)).status, 200);
  assert.equal((await api.call('DELETE', `/v1/registry/workloads/${id}`)).status, 404);
  assert.deepEqual((await api.call('GET', '/v1/registry')).body, { services: [], workloads: [] });
  assert.deepEqual((await api.call('GET', '/ready')).body, { ready: true });
});
