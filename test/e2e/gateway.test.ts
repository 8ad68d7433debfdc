// An ingress gateway driven by the control plane: `weft proxy` with a `router~` node id and
// dynamic_resources gets listeners from a Gateway and routes from the VirtualServices bound to it,
// and forwards to a workload registered through the registry API.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { deadPort, request } from '../helpers/bootstrap.js';
import { apply, proxyStatus, startControl, startVersionApp, waitUntil } from '../helpers/mesh.js';
import { startWeft } from '../helpers/process.js';

test('a gateway proxy serves a Gateway and the VirtualService bound to it, by Host', async (t) => {
  // `weft proxy` with a hand-written bootstrap has no certificate agent: plaintext xDS.
  const control = await startControl(['--insecure-xds']);
  t.after(() => control.stop());
  const app = await startVersionApp('echo-v1');
  t.after(() => app.close());
  const r = await fetch(`http://${control.api}/v1/registry/workloads`, {
    method: 'POST',
    body: JSON.stringify({ service: 'echo', namespace: 'default', address: '127.0.0.1', ttl: '300s', ports: [{ name: 'http', port: 80, targetPort: app.port, protocol: 'HTTP' }] }),
  });
  assert.ok(r.ok, await r.text());
  const gwPort = await deadPort();
  await apply(control.api, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${gwPort}, name: http, protocol: HTTP}
    hosts: ["shop.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: ["shop.example.com"]
  gateways: [istio-system/web]
  http:
  - match: [{uri: {prefix: /api}}]
    rewrite: {uri: /v1}
    route: [{destination: {host: echo, port: {number: 80}}}]
`);

  const dir = mkdtempSync(join(tmpdir(), 'weft-gw-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gateway.json');
  writeFileSync(file, JSON.stringify({
    node: {
      id: 'router~127.0.0.1~ingress-1.istio-system~istio-system.svc.cluster.local', cluster: 'ingress',
      metadata: { NAMESPACE: 'istio-system', LABELS: { istio: 'ingressgateway' } },
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      clusters: [{
        name: 'xds-grpc', type: 'STATIC', connect_timeout: '1s',
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
            '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
            explicit_http_config: { http2_protocol_options: {} },
          },
        },
        load_assignment: { cluster_name: 'xds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: control.xdsPort } } } }] }] },
      }],
    },
    dynamic_resources: {
      ads_config: { api_type: 'DELTA_GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] },
      lds_config: { ads: {} },
      cds_config: { ads: {} },
    },
  }));
  const gw = startWeft(['proxy', '-c', file, '--concurrency', '1', '-l', 'warning']);
  t.after(async () => { gw.kill(); await gw.exited; });
  await waitUntil('the gateway SYNCED', async () => {
    const row = (await proxyStatus(control.api)).find((p) => p.id.startsWith('router~'));
    return row !== undefined && Object.values(row.types).filter((s) => s.state === 'SYNCED').length >= 4;
  }, 20_000, gw);

  const ok = await request(gwPort, '/api/items', { headers: { host: 'shop.example.com' } });
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse(ok.body), { version: 'echo-v1', user: null, path: '/v1/items' });
  assert.equal((await request(gwPort, '/api', { headers: { host: 'other.example.com' } })).status, 404);
  assert.equal((await request(gwPort, '/elsewhere', { headers: { host: 'shop.example.com' } })).status, 404);
});
