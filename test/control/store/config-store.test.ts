// ConfigStore: atomic validated apply, store-owned metadata, change events, persistence across a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigStore, type ConfigChange } from '../../../src/control/store/config-store.js';
import { fakeValidator, vs } from '../../helpers/control-fakes.js';

const docs = (...ds: unknown[]) => ds.map((doc, i) => ({ doc, source: `t.yaml#${i + 1}` }));

test('an apply with one invalid document among valid ones applies nothing and lists every error', () => {
  const store = new ConfigStore({ validator: fakeValidator });
  const changes: ConfigChange[][] = [];
  store.onChange((c) => changes.push([...c]));
  const r = store.apply(docs(vs('a'), vs('b', { invalid: 120 }), vs('c'), { kind: 'Nope', spec: {} }));
  assert.equal(r.ok, false);
  assert.ok(!r.ok);
  assert.equal(r.errors.length, 4);
  assert.match(r.errors[0]!, /^t\.yaml#2: VirtualService default\/b: spec\.invalid: expected nothing, got 120$/);
  assert.ok(r.errors.slice(1).every((e) => e.startsWith('t.yaml#4: ')));
  assert.deepEqual(store.list(), []);
  assert.deepEqual(changes, []);
});

test('two documents naming one resource in a single apply are an error', () => {
  const store = new ConfigStore({ validator: fakeValidator });
  const r = store.apply(docs(vs('a'), vs('a', { hosts: ['x'] })));
  assert.ok(!r.ok);
  assert.match(r.errors[0]!, /t\.yaml#2: VirtualService\/default\/a is also defined by t\.yaml#1/);
});

test('fills resourceVersion, creationTimestamp and generation; unchanged re-applies change nothing', () => {
  let now = new Date('2026-01-01T00:00:00Z');
  const store = new ConfigStore({ validator: fakeValidator, now: () => now });
  const changes: ConfigChange[][] = [];
  store.onChange((c) => changes.push([...c]));
  const r1 = store.apply(docs(vs('a'), vs('b', undefined, 'prod')));
  assert.deepEqual(r1, { ok: true, results: [{ key: 'VirtualService/default/a', action: 'created' }, { key: 'VirtualService/prod/b', action: 'created' }] });
  const a1 = store.get('VirtualService', 'default', 'a')[0]!;
  assert.deepEqual([a1.metadata.resourceVersion, a1.metadata.creationTimestamp, a1.metadata.generation], ['1', '2026-01-01T00:00:00Z', 1]);
  assert.ok(Object.isFrozen(a1) && Object.isFrozen(a1.metadata));

  now = new Date('2026-01-02T00:00:00Z');
  assert.deepEqual(store.apply(docs(vs('a'))), { ok: true, results: [{ key: 'VirtualService/default/a', action: 'unchanged' }] });
  assert.equal(store.get('VirtualService', 'default', 'a')[0], a1);
  assert.equal(changes.length, 1);

  assert.deepEqual(store.apply(docs(vs('a', { hosts: ['other'] }))), { ok: true, results: [{ key: 'VirtualService/default/a', action: 'configured' }] });
  const a2 = store.get('VirtualService', 'default', 'a')[0]!;
  assert.deepEqual([a2.metadata.resourceVersion, a2.metadata.creationTimestamp, a2.metadata.generation], ['3', '2026-01-01T00:00:00Z', 2]);

  // A label change is a change (new resourceVersion) but not a new generation.
  const labelled = { ...(vs('a', { hosts: ['other'] }) as object), metadata: { name: 'a', labels: { v: '1' } } };
  assert.equal(store.apply(docs(labelled)).ok, true);
  const a3 = store.get('VirtualService', 'default', 'a')[0]!;
  assert.deepEqual([a3.metadata.resourceVersion, a3.metadata.generation, a3.metadata.labels], ['4', 2, { v: '1' }]);

  assert.equal(store.get('VirtualService').length, 2);
  assert.equal(store.get('VirtualService', 'prod').length, 1);
  assert.equal(store.delete('VirtualService', 'prod', 'b'), true);
  assert.equal(store.delete('VirtualService', 'prod', 'b'), false);
  assert.deepEqual(changes.at(-1), [{ key: 'VirtualService/prod/b', action: 'deleted' }]);
});

test('a dry run reports the actions and changes nothing', () => {
  const store = new ConfigStore({ validator: fakeValidator });
  store.apply(docs(vs('a')));
  const r = store.apply(docs(vs('a', { hosts: ['z'] }), vs('b')), { dryRun: true });
  assert.deepEqual(r, { ok: true, results: [{ key: 'VirtualService/default/a', action: 'configured' }, { key: 'VirtualService/default/b', action: 'created' }] });
  assert.equal(store.list().length, 1);
  assert.deepEqual(store.list()[0]!.spec, { hosts: ['a'] });
});

test('with a data dir, a restarted store has every resource with its metadata, and the counter goes on', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const s1 = new ConfigStore({ validator: fakeValidator, dataDir: join(dir, 'data') });
  s1.start();
  s1.apply(docs(vs('a'), vs('b'), vs('c')));
  s1.apply(docs(vs('a', { hosts: ['new'] })));
  s1.delete('VirtualService', 'default', 'c');

  const s2 = new ConfigStore({ validator: fakeValidator, dataDir: join(dir, 'data') });
  s2.start();
  assert.deepEqual(s2.list(), s1.list());
  assert.deepEqual(s2.list().map((r) => r.metadata.name), ['a', 'b']);
  assert.equal(s2.get('VirtualService', 'default', 'a')[0]!.metadata.generation, 2);
  s2.apply(docs(vs('d')));
  assert.equal(s2.get('VirtualService', 'default', 'd')[0]!.metadata.resourceVersion, String(s1.revision + 1));
});
