// Proxyless gRPC: a @grpc/grpc-js-xds client with target `xds:///greeter:50051` and a bootstrap
// pointing at `weft control` gets API listeners, routes, clusters and endpoints from Weft, and
// follows weight and header-match changes without restarting. The client runs in a child process: grpc-js-xds keeps
// its xDS client (and bootstrap) for the life of its process.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GREETER } from '../helpers/grpc-xds-client.js';
import { apply, startControl, waitUntil } from '../helpers/mesh.js';

async function startGreeter(version: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = new grpc.Server();
  server.addService(GREETER, {
    hello: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(version)),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, close: () => new Promise<void>((r) => server.tryShutdown(() => r())) };
}

const vs = (v1: number, v2: number) => `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter, namespace: default}
spec:
  host: greeter
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter, namespace: default}
spec:
  hosts: [greeter]
  http:
  - route:
    - {destination: {host: greeter, subset: v1}, weight: ${v1}}
    - {destination: {host: greeter, subset: v2}, weight: ${v2}}
`;

test('a grpc-js-xds client resolves xds:///greeter:50051 through Weft and follows weight and header-match changes', async (t) => {
  const control = await startControl(['--insecure-xds']); // grpc-js-xds here connects with insecure channel creds
  t.after(() => control.stop());
  const v1 = await startGreeter('v1');
  const v2 = await startGreeter('v2');
  t.after(() => Promise.all([v1.close(), v2.close()]));
  for (const [g, version] of [[v1, 'v1'], [v2, 'v2']] as const) {
    const r = await fetch(`http://${control.api}/v1/registry/workloads`, {
      method: 'POST',
      body: JSON.stringify({
        service: 'greeter', namespace: 'default', address: '127.0.0.1', labels: { version }, ttl: '300s',
        ports: [{ name: 'grpc', port: 50051, targetPort: g.port, protocol: 'GRPC' }],
      }),
    });
    assert.equal(r.status < 300, true, await r.text());
  }
  await apply(control.api, vs(100, 0));

  const bootstrap = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${control.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'grpc~127.0.0.1~client-1.default~default.svc.cluster.local', locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE: 'default' } },
  });
  const child = fork(fileURLToPath(new URL('../helpers/grpc-xds-client.js', import.meta.url)), ['xds:///greeter:50051'], {
    env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: bootstrap }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  t.after(async () => { child.kill(); await exited; });
  const calls = (n: number, user?: string) => new Promise<string[]>((resolve) => { child.once('message', (m) => resolve(m as string[])); child.send({ n, user }); });
  const call = async () => (await calls(1))[0]!;

  await waitUntil('the first xDS-routed call', async () => (await call()) === 'v1', 20_000);
  const first = await calls(50);
  assert.deepEqual(new Set(first), new Set(['v1']));

  await apply(control.api, vs(0, 100));
  await waitUntil('calls move to v2 without a restart', async () => (await call()) === 'v2', 20_000);
  const after = await calls(50);
  assert.deepEqual(new Set(after), new Set(['v2']));

  await apply(control.api, vs(50, 50));
  await waitUntil('both versions answer after a 50/50 split', async () => {
    const seen = new Set(await calls(40));
    return seen.has('v1') && seen.has('v2');
  }, 20_000);
  // A header match: the user jason (gRPC metadata end-user) is pinned to v2, everyone else to v1.
  await apply(control.api, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter, namespace: default}
spec:
  hosts: [greeter]
  http:
  - match:
    - headers: {end-user: {exact: jason}}
    route:
    - destination: {host: greeter, subset: v2}
  - route:
    - destination: {host: greeter, subset: v1}
`);
  // (Ten in a row each way: under the 50/50 split before it, that happens by chance once in 2^20.)
  await waitUntil('jason pinned to v2 and others on v1', async () =>
    (await calls(10, 'jason')).every((v) => v === 'v2') && (await calls(10, 'kim')).every((v) => v === 'v1'), 20_000);
  assert.deepEqual(new Set(await calls(20, 'jason')), new Set(['v2']));
  assert.deepEqual(new Set(await calls(20, 'kim')), new Set(['v1']));
});
