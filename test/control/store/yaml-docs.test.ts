// Multi-document YAML parsing: sources per document, empty documents skipped, syntax errors with file:line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseYamlDocuments } from '../../../src/control/store/yaml-docs.js';

test('each document is tagged with its file and index; empty documents are skipped', () => {
  const r = parseYamlDocuments('a: 1\n---\n# only a comment\n---\nb: 2\n', 'x.yaml');
  assert.deepEqual(r, { ok: true, docs: [{ doc: { a: 1 }, source: 'x.yaml#1' }, { doc: { b: 2 }, source: 'x.yaml#3' }] });
});

test('a syntax error names the file, line and column', () => {
  const r = parseYamlDocuments('a: 1\n---\nb: [1\nc: 2\n', 'bad.yaml');
  assert.ok(!r.ok);
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0]!, /^bad\.yaml:4:1: YAML syntax error: Flow sequence/);
});

test('a duplicate key is an error', () => {
  const r = parseYamlDocuments('a: 1\na: 2\n', 'dup.yaml');
  assert.ok(!r.ok);
  assert.match(r.errors[0]!, /^dup\.yaml:2:1: YAML syntax error: .*[Mm]ap keys must be unique/);
});
