// The CLI against a real `weft control` (kernel-given ports): kubectl's names for every kind,
// `weft get -o yaml|json` printing resources as written so that `weft apply` takes them back,
// `weft delete -f` naming kinds Weft does not serve, `weft analyze` lines with the code once, one
// version everywhere, and what a sidecar says while it waits for its first configuration.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fromRoot } from '../helpers/paths.js';
import { runWeft } from '../helpers/process.js';
import { startControl, startSidecar, startVersionApp, type ControlProcess } from '../helpers/mesh.js';

const RESOURCES: Record<string, string> = {
  VirtualService: `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, labels: {team: books}}
spec:
  hosts: [reviews]
  http:
  - timeout: 7s
    retries: {attempts: 3, perTryTimeout: 1.5s}
    route:
    - destination: {host: reviews}
`,
  DestinationRule: `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    connectionPool: {tcp: {connectTimeout: 30ms}}
    outlierDetection: {interval: 1s, baseEjectionTime: 30s}
`,
  Gateway: `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
`,
  ServiceEntry: `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: payments}
spec:
  hosts: [payments.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
  location: MESH_EXTERNAL
`,
  Sidecar: `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  egress:
  - hosts: ["./*"]
`,
};

const NAMES: Record<string, string[]> = {
  VirtualService: ['virtualservice', 'virtualservices', 'vs', 'VirtualService', 'virtualservices.networking.istio.io'],
  DestinationRule: ['destinationrule', 'destinationrules', 'dr', 'destinationrule.networking.istio.io'],
  Gateway: ['gateway', 'gateways', 'gw', 'Gateway', 'gateways.networking.istio.io'],
  ServiceEntry: ['serviceentry', 'serviceentries', 'se'],
  Sidecar: ['sidecar', 'sidecars'],
};

let control: ControlProcess;
let dir: string;
let ctl: string[];
before(async () => {
  control = await startControl();
  dir = mkdtempSync(join(tmpdir(), 'weft-cli-'));
  ctl = ['--control', control.api];
  const file = join(dir, 'all.yaml');
  writeFileSync(file, Object.values(RESOURCES).join('---\n'));
  const r = await runWeft(['apply', '-f', file, ...ctl]);
  assert.equal(r.code, 0, r.stderr);
});
after(async () => { await control.stop(); rmSync(dir, { recursive: true, force: true }); });

test('weft get takes every kind by its kubectl names (singular, plural, short, kind.group)', async () => {
  for (const [kind, names] of Object.entries(NAMES)) {
    const name = /metadata: \{name: ([a-z-]+)/.exec(RESOURCES[kind]!)![1]!;
    for (const n of names) {
      const r = await runWeft(['get', n, ...ctl]);
      assert.equal(r.code, 0, `weft get ${n}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^${name}\\s+default\\s`, 'm'), `weft get ${n} lists ${name}`);
    }
  }
});

test('weft get -o yaml|json prints every kind as written, and weft apply takes it back unchanged', async () => {
  for (const kind of Object.keys(RESOURCES)) {
    const name = /metadata: \{name: ([a-z-]+)/.exec(RESOURCES[kind]!)![1]!;
    for (const format of ['yaml', 'json']) {
      const got = await runWeft(['get', kind, name, '-o', format, ...ctl]);
      assert.equal(got.code, 0, got.stderr);
      assert.doesNotMatch(got.stdout, /\bms\b["']?:/, `${kind} -o ${format}: no {ms: N} durations:\n${got.stdout}`);
      const file = join(dir, `${kind}.${format}`);
      writeFileSync(file, got.stdout);
      const r = await runWeft(['apply', '-f', file, ...ctl]);
      assert.equal(r.code, 0, `${kind} -o ${format} applied back: ${r.stderr}\n${got.stdout}`);
      assert.match(r.stdout, / unchanged\n$/, `${kind} -o ${format}: ${r.stdout}`);
    }
  }
  const vs = (await runWeft(['get', 'vs', 'reviews', '-o', 'yaml', ...ctl])).stdout;
  assert.match(vs, /timeout: 7s\n/);
  assert.match(vs, /perTryTimeout: 1\.5s\n/);
  assert.match(vs, /labels:\n\s+team: books\n/);
  const dr = JSON.parse((await runWeft(['get', 'dr', 'reviews', '-o', 'json', ...ctl])).stdout) as { spec: unknown };
  assert.deepEqual(dr.spec, { host: 'reviews', trafficPolicy: { connectionPool: { tcp: { connectTimeout: '30ms' } }, outlierDetection: { interval: '1s', baseEjectionTime: '30s' } } });
});

test('weft delete -f names a kind Weft does not serve with the line apply prints, and deletes the rest', async () => {
  const file = join(dir, 'mixed.yaml');
  writeFileSync(file, `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default}
spec: {accessLogging: [{providers: [{name: envoy}]}]}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec: {egress: [{hosts: ["./*"]}]}
`);
  const r = await runWeft(['delete', '-f', file, ...ctl]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `${file}#1: Telemetry (telemetry.istio.io/v1) is not supported yet\n`);
  assert.equal(r.stdout, 'sidecar.networking.istio.io "default" deleted\n');
});

test('weft analyze prints each finding with its code once', async () => {
  const r = await runWeft(['analyze', ...ctl]);
  const lines = r.stdout.trimEnd().split('\n');
  assert.ok(lines.some((l) => l.includes('[WEFT0002]')), r.stdout);
  for (const l of lines) {
    const code = /\[([A-Z]+\d+)\]/.exec(l)?.[1];
    if (code !== undefined) assert.equal(l.split(code).length - 1, 1, `code once: ${l}`);
  }
});

test('one version: weft --version and the sidecar\'s /server_info say package.json\'s; the sidecar says it waits for its configuration', async (t) => {
  const pkg = JSON.parse(readFileSync(fromRoot('package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', 'version']) {
    const r = await runWeft([flag]);
    assert.equal(r.stdout, `${pkg.version}\n`);
  }
  const app = await startVersionApp('v1');
  t.after(() => app.close());
  const sidecar = await startSidecar(control, { service: 'ratings', appPort: app.port, extra: ['-l', 'info'] });
  t.after(() => sidecar.stop());
  const info = await (await fetch(`http://127.0.0.1:${sidecar.admin}/server_info`)).json() as { version: string };
  assert.equal(info.version, pkg.version);
  assert.match(sidecar.proc.output(), /waiting for its configuration \(listeners, clusters\) from the control plane at 127\.0\.0\.1:\d+/);
  assert.doesNotMatch(sidecar.proc.output(), /0 listeners/);
});
