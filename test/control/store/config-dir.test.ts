// ConfigDirSource: files loaded at start and watched; an edit re-applies, a bad edit keeps the last
// good resources, a removed file's resources go; API and files share keys (last writer wins).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigStore } from '../../../src/control/store/config-store.js';
import { ConfigDirSource, type ConfigDirReport } from '../../../src/control/store/config-dir.js';
import { fakeValidator, vs, waitForEvent } from '../../helpers/control-fakes.js';

const yamlOf = (...names: string[]) => names.map((n) => `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ${n}}\nspec: {hosts: [${n}]}\n`).join('---\n');

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'weft-confdir-'));
  const store = new ConfigStore({ validator: fakeValidator });
  const listeners = new Set<(r: ConfigDirReport) => void>();
  const src = new ConfigDirSource(store, dir, { debounceMs: 20, onSync: (r) => { for (const l of [...listeners]) l(r); } });
  const nextSync = (pred: (r: ConfigDirReport) => boolean = () => true) =>
    waitForEvent<ConfigDirReport>((cb) => { listeners.add(cb); return () => listeners.delete(cb); }, pred);
  t.after(() => { src.close(); rmSync(dir, { recursive: true, force: true }); });
  const names = () => store.list().map((r) => r.metadata.name);
  return { dir, store, src, nextSync, names };
}

test('loads every file at start; an edit re-applies its file and deletes what it no longer defines', async (t) => {
  const { dir, store, src, nextSync, names } = setup(t);
  writeFileSync(join(dir, 'a.yaml'), yamlOf('a1', 'a2'));
  writeFileSync(join(dir, 'b.yml'), yamlOf('b1'));
  writeFileSync(join(dir, 'notes.txt'), 'not config');
  const first = src.start();
  assert.equal(first.applied.length, 2);
  assert.deepEqual(names(), ['a1', 'a2', 'b1']);

  const synced = nextSync((r) => r.applied.length > 0);
  writeFileSync(join(dir, 'a.yaml'), yamlOf('a2', 'a3'));
  await synced;
  assert.deepEqual(names(), ['a2', 'a3', 'b1']);
  assert.equal(store.get('VirtualService', 'default', 'a2')[0]!.metadata.resourceVersion, '2', 'a2 unchanged by the edit');
});

test('a bad edit is logged with its errors and the file keeps its last good resources', async (t) => {
  const { dir, src, nextSync, names } = setup(t);
  writeFileSync(join(dir, 'a.yaml'), yamlOf('a1', 'a2'));
  src.start();

  let rejected = nextSync((r) => r.rejected.length > 0);
  writeFileSync(join(dir, 'a.yaml'), `${yamlOf('a1')}---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a9}\nspec: {invalid: 7}\n`);
  let r = await rejected;
  assert.match(r.rejected[0]!.errors[0]!, /a\.yaml#2: VirtualService default\/a9: spec\.invalid: expected nothing, got 7/);
  assert.deepEqual(names(), ['a1', 'a2']);

  rejected = nextSync((x) => x.rejected.length > 0);
  writeFileSync(join(dir, 'a.yaml'), 'metadata: [\n');
  r = await rejected;
  assert.match(r.rejected[0]!.errors[0]!, /a\.yaml:2:1: YAML syntax error/);
  assert.deepEqual(names(), ['a1', 'a2']);
});

test("a removed file's resources are deleted, except those the API has re-applied since (last writer wins)", async (t) => {
  const { dir, store, src, nextSync, names } = setup(t);
  writeFileSync(join(dir, 'a.yaml'), yamlOf('a1', 'shared'));
  writeFileSync(join(dir, 'b.yaml'), yamlOf('b1'));
  src.start();
  store.apply([{ doc: vs('shared', { hosts: ['from-api'] }), source: 'api' }]);

  const removed = nextSync((r) => r.removed.length > 0);
  unlinkSync(join(dir, 'a.yaml'));
  assert.deepEqual((await removed).removed, [join(dir, 'a.yaml')]);
  assert.deepEqual(names(), ['b1', 'shared']);
  assert.deepEqual(store.get('VirtualService', 'default', 'shared')[0]!.spec, { hosts: ['from-api'] });
});
