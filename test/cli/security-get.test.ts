// `weft apply` / `weft get` / `weft delete` with security.istio.io kinds (AuthorizationPolicy here)
// as real processes against an API server on port 0: kubectl's `kind.group/name` lines with the
// security group, plural and short names, the ACTION column, YAML output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWeft } from '../helpers/process.js';
import { startTestApi } from '../helpers/control-api.js';

const AP = (name: string, ns: string, spec: string): string =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: ${spec}\n`;

test('apply, get and delete AuthorizationPolicies', async (t) => {
  const api = await startTestApi(t);
  const dir = mkdtempSync(join(tmpdir(), 'weft-cli-authz-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const control = ['--control', `127.0.0.1:${api.port}`];
  writeFileSync(join(dir, 'p.yaml'), [
    AP('allow-nothing', 'default', '{}'),
    AP('deny-admin', 'istio-system', '{action: DENY, rules: [{to: [{operation: {paths: ["/admin/*"]}}]}]}'),
  ].join('---\n'));
  let r = await runWeft(['apply', '-f', join(dir, 'p.yaml'), ...control]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'authorizationpolicy.security.istio.io/allow-nothing created\nauthorizationpolicy.security.istio.io/deny-admin created\n');

  r = await runWeft(['get', 'authorizationpolicies', '-A', ...control]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^NAME\s+NAMESPACE\s+ACTION\s+AGE$/);
  assert.match(lines[1]!, /^allow-nothing\s+default\s+ALLOW\s+\d+s$/);
  assert.match(lines[2]!, /^deny-admin\s+istio-system\s+DENY\s+\d+s$/);

  r = await runWeft(['get', 'ap', 'deny-admin', '-n', 'istio-system', '-o', 'yaml', ...control]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /apiVersion: security\.istio\.io\/v1\nkind: AuthorizationPolicy\nmetadata:\n {2}name: deny-admin\n {2}namespace: istio-system/);
  r = await runWeft(['get', 'authorizationpolicy.security.istio.io', ...control]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /allow-nothing/);

  r = await runWeft(['delete', 'authorizationpolicies', 'allow-nothing', ...control]);
  assert.deepEqual([r.code, r.stdout], [0, 'authorizationpolicy.security.istio.io "allow-nothing" deleted\n']);
});
