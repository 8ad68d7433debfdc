// The control-plane CLI commands as real processes (`node dist/src/cli/main.js ...`) against an
// API server on port 0 (fakes for the validator, analyzer and xDS server), and `weft control`
// itself restarted over one --data-dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net, { type AddressInfo } from 'node:net';
import { runWeft, startWeft } from '../helpers/process.js';
import { startTestApi } from '../helpers/control-api.js';
import { fakeAnalyzer } from '../helpers/control-fakes.js';
import type { ProxyStatus } from '../../src/control/model.js';

const VS = (name: string, extra = '') => `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ${name}}\nspec: {hosts: [${name}], http: [{route: [{destination: {host: ${name}}}]}]${extra}}\n`;
const DR = `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews, namespace: prod}\nspec: {host: reviews}\n`;

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('apply, get, delete against the control plane', async (t) => {
  const api = await startTestApi(t);
  const dir = tmp(t);
  const control = ['--control', `127.0.0.1:${api.port}`];
  mkdirSync(join(dir, 'conf'));
  writeFileSync(join(dir, 'conf', 'a.yaml'), `${VS('reviews')}---\n${DR}`);
  writeFileSync(join(dir, 'conf', 'b.yml'), VS('ratings'));

  let r = await runWeft(['apply', '-f', join(dir, 'conf'), ...control]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'virtualservice.networking.istio.io/reviews created\ndestinationrule.networking.istio.io/reviews created\nvirtualservice.networking.istio.io/ratings created\n');

  // One bad document in another file: every error printed, exit 1, nothing applied.
  writeFileSync(join(dir, 'bad.yaml'), `${VS('details')}---\n${VS('broken', ', invalid: yes')}`);
  r = await runWeft(['apply', '-f', join(dir, 'conf', 'b.yml'), '-f', join(dir, 'bad.yaml'), ...control]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /weft apply: 1 error, nothing applied\n {2}.*bad\.yaml#2: VirtualService default\/broken: spec\.invalid: expected nothing, got "yes"/);
  assert.equal(api.store.get('VirtualService', 'default', 'details').length, 0);

  r = await runWeft(['get', 'vs', ...control]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^NAME\s+NAMESPACE\s+GATEWAYS\s+HOSTS\s+AGE$/);
  assert.match(lines[1]!, /^ratings\s+default\s+\[ratings\]\s+\d+s$/);
  assert.match(lines[2]!, /^reviews\s+default\s+\[reviews\]\s+\d+s$/);

  r = await runWeft(['get', 'destinationrule', 'reviews', '-n', 'prod', '-o', 'json', ...control]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).spec, { host: 'reviews' });
  r = await runWeft(['get', 'dr', '-A', '-o', 'yaml', ...control]);
  assert.match(r.stdout, /kind: DestinationRule\nmetadata:\n {2}name: reviews\n {2}namespace: prod/);
  r = await runWeft(['get', 'dr', 'nope', ...control]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /DestinationRule default\/nope not found/);

  r = await runWeft(['delete', 'vs', 'ratings', ...control]);
  assert.deepEqual([r.code, r.stdout], [0, 'virtualservice.networking.istio.io "ratings" deleted\n']);
  r = await runWeft(['delete', '-f', join(dir, 'conf', 'a.yaml'), ...control]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'virtualservice.networking.istio.io "reviews" deleted\ndestinationrule.networking.istio.io "reviews" deleted\n');
  assert.equal(api.store.list().length, 0);
  r = await runWeft(['delete', 'vs', 'ratings', ...control]);
  assert.equal(r.code, 1);
});

test('proxy-status prints the sync table and NACK reasons; analyze prints findings and exits 1 on an Error', async (t) => {
  const types = (lds: ProxyStatus['types'][string]): ProxyStatus['types'] => ({
    CDS: { state: 'SYNCED', sentVersion: '4', ackedVersion: '4', resourceCount: 3 },
    LDS: lds,
    EDS: { state: 'STALE', sentVersion: '4', ackedVersion: '3', resourceCount: 3 },
  });
  const statuses: ProxyStatus[] = [
    { id: 'sidecar~127.0.0.1~b.default~default.svc.cluster.local', kind: 'sidecar', namespace: 'default', variant: 'sotw', connectedAt: '', peer: '',
      types: types({ state: 'NACKED', sentVersion: '4', ackedVersion: '3', resourceCount: 2, error: 'listener x: bad port', rejectedResources: ['x'] }) },
    { id: 'sidecar~127.0.0.1~a.default~default.svc.cluster.local', kind: 'sidecar', namespace: 'default', variant: 'delta', connectedAt: '', peer: '',
      types: types({ state: 'SYNCED', sentVersion: '4', ackedVersion: '4', resourceCount: 2 }),
      identity: 'spiffe://cluster.local/ns/default/sa/a', certExpiry: '2030-01-01T00:00:00.000Z' },
  ];
  const api = await startTestApi(t, { statuses, analyzer: fakeAnalyzer('Error') });
  const control = ['--control', `127.0.0.1:${api.port}`];
  let r = await runWeft(['proxy-status', ...control]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^NAME\s+CDS\s+LDS\s+EDS\s+RDS\s+IDENTITY\s+CERT EXPIRES\s+VERSION$/);
  assert.match(lines[1]!, /^sidecar~127\.0\.0\.1~a\S+\s+SYNCED\s+SYNCED\s+STALE\s+NOT SENT\s+spiffe:\/\/cluster\.local\/ns\/default\/sa\/a\s+2030-01-01T00:00:00\.000Z\s+4$/);
  assert.match(lines[2]!, /^sidecar~127\.0\.0\.1~b\S+\s+SYNCED\s+NACKED\s+STALE\s+NOT SENT\s+-\s+-\s+4$/);
  assert.equal(lines[4], 'sidecar~127.0.0.1~b.default~default.svc.cluster.local LDS NACKED version 4 (resources: x): listener x: bad port');

  r = await runWeft(['analyze', ...control]);
  assert.deepEqual([r.code, r.stdout], [0, 'No validation issues found when analyzing the mesh.\n']);
  await api.call('POST', '/v1/apply', VS('reviews'));
  r = await runWeft(['analyze', ...control]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, 'Error [IST0101] (VirtualService default/reviews) spec.http[0].route[0].destination.host: Referenced host not found: "nowhere"\n');
});

test('WEFT_CONTROL picks the address; an unreachable control plane is a clear error', async (t) => {
  const api = await startTestApi(t);
  await api.call('POST', '/v1/apply', VS('reviews'));
  const saved = process.env.WEFT_CONTROL;
  process.env.WEFT_CONTROL = `127.0.0.1:${api.port}`;
  t.after(() => { if (saved === undefined) delete process.env.WEFT_CONTROL; else process.env.WEFT_CONTROL = saved; });
  let r = await runWeft(['get', 'vs', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).items.length, 1);
  await api.call('DELETE', '/v1/config/vs/default/reviews');
  const closed = net.createServer();
  await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((res) => closed.close(() => res()));
  r = await runWeft(['get', 'vs', '--control', `127.0.0.1:${port}`]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `weft get: cannot reach the control plane at 127.0.0.1:${port}: ECONNREFUSED\n`);
});

test('weft control keeps applied resources across a restart with --data-dir', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'vs.yaml');
  writeFileSync(file, VS('reviews'));
  const start = async () => {
    const p = startWeft(['control', '--http-port', '0', '--xds-port', '0', '--ca-port', '0', '--data-dir', join(dir, 'data')]);
    t.after(() => p.kill());
    const m = await p.waitFor(/HTTP API on 127\.0\.0\.1:(\d+)/);
    return { p, control: ['--control', `127.0.0.1:${m[1]}`] };
  };
  const a = await start();
  let r = await runWeft(['apply', '-f', file, ...a.control]);
  assert.equal(r.stdout, 'virtualservice.networking.istio.io/reviews created\n', r.stderr);
  a.p.kill();
  assert.equal(await a.p.exited, 0);

  const b = await start();
  r = await runWeft(['get', 'vs', 'reviews', '-o', 'json', ...b.control]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([JSON.parse(r.stdout).metadata.name, JSON.parse(r.stdout).metadata.resourceVersion], ['reviews', '1']);
  r = await runWeft(['apply', '-f', file, ...b.control]);
  assert.equal(r.stdout, 'virtualservice.networking.istio.io/reviews unchanged\n');
  b.p.kill();
  assert.equal(await b.p.exited, 0);
});
