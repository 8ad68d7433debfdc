// Tests for bootstrap text/file loading (src/envoy/load.ts): format detection and syntax errors
// with line and column.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBootstrapFile } from '../../src/envoy/load.js';
import { jsonErrorOffset, parseBootstrapText } from '../../src/envoy/text.js';

const opts = { baseDir: '.' };

test('JSON text is parsed as JSON whatever the file name', () => {
  const r = parseBootstrapText('{"node": {"id": "j"}}', 'bootstrap.yaml', opts);
  assert.ok(r.ok);
  assert.equal(r.value.node.id, 'j');
});

test('other text is parsed as YAML', () => {
  const r = parseBootstrapText('node:\n  id: y # comment\n', 'bootstrap.yaml', opts);
  assert.ok(r.ok);
  assert.equal(r.value.node.id, 'y');
});

test('an empty file is an empty bootstrap... which is an error at the root', () => {
  assert.deepEqual(parseBootstrapText('', 'b.yaml', opts), { ok: false, errors: ['(root): expected a Bootstrap object, got null'] });
});

test('YAML syntax errors carry file, line and column', () => {
  const r = parseBootstrapText('node:\n  id: a\n  cluster: [b\n', 'b.yaml', opts);
  assert.ok(!r.ok);
  assert.match(r.errors[0]!, /^b\.yaml:\d+:\d+: invalid YAML: .*[Ff]low sequence/);
  const tabs = parseBootstrapText('node:\n\tid: a\n', 'b.yaml', opts);
  assert.ok(!tabs.ok);
  assert.match(tabs.errors[0]!, /^b\.yaml:2:1: invalid YAML: /);
});

test('more than one YAML document is an error', () => {
  assert.deepEqual(parseBootstrapText('node: {}\n---\nnode: {}\n', 'b.yaml', opts), {
    ok: false, errors: ['b.yaml:2:1: expected a single YAML document, got 2'],
  });
});

test('YAML anchors and merge keys work, as in Envoy configs that share blocks', () => {
  const text = [
    'static_resources:',
    '  clusters:',
    '    - &base { name: a, connect_timeout: 2s, lb_policy: RANDOM }',
    '    - <<: *base',
    '      name: b',
  ].join('\n');
  const r = parseBootstrapText(text, 'b.yaml', opts);
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  assert.deepEqual(r.value.clusters.map((c) => [c.name, c.connectTimeoutMs, c.lbPolicy]), [['a', 2000, 'RANDOM'], ['b', 2000, 'RANDOM']]);
});

test('.json files must be JSON and report the error position', () => {
  assert.deepEqual(parseBootstrapText('{\n  "node": {"id": 1,}\n}', 'b.json', opts), {
    ok: false, errors: ['b.json:2:20: invalid JSON: Expected double-quoted property name'],
  });
  assert.deepEqual(parseBootstrapText('{"node": }', 'b.json', opts), {
    ok: false, errors: ["b.json:1:10: invalid JSON: Unexpected token '}'"],
  });
  assert.deepEqual(parseBootstrapText('node: {}', 'b.JSON', opts), {
    ok: false, errors: ["b.JSON:1:1: invalid JSON: Unexpected token 'o'"],
  });
});

test('jsonErrorOffset finds the first bad character', () => {
  assert.equal(jsonErrorOffset('{"a":}'), 5);
  assert.equal(jsonErrorOffset('[1,2'), 4);
  assert.equal(jsonErrorOffset('{"a":tru}'), 5);
  assert.equal(jsonErrorOffset('"\\x"'), 2);
  assert.equal(jsonErrorOffset('{"a": [1, {"b": null}]} x'), 24);
  assert.equal(jsonErrorOffset('-01'), 2);
});

test('loadBootstrapFile resolves relative file names against the file\'s directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-envoy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'bodies'));
  writeFileSync(join(dir, 'bodies', 'hello.txt'), 'hello');
  writeFileSync(join(dir, 'b.yaml'), `
static_resources:
  listeners:
    - address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
      filter_chains:
        - filters:
            - typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: t
                route_config:
                  virtual_hosts:
                    - name: v
                      domains: ["*"]
                      routes: [{ match: { prefix: / }, direct_response: { status: 200, body: { filename: bodies/hello.txt } } }]
                http_filters:
                  - name: router
                    typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
`);
  const r = await loadBootstrapFile(join(dir, 'b.yaml'));
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  const f = r.value.listeners[0]!.filterChains[0]!.filters[0]!;
  assert.ok(f.kind === 'http_connection_manager');
  const action = f.routeConfig.virtualHosts[0]!.routes[0]!.action;
  assert.deepEqual(action, { kind: 'direct_response', status: 200, body: 'hello' });
});

test('a missing file is one error naming it', async () => {
  const path = join(tmpdir(), 'weft-does-not-exist', 'b.yaml');
  assert.deepEqual(await loadBootstrapFile(path), { ok: false, errors: [`${path}: expected a readable bootstrap file, got ENOENT`] });
});
