// Istio's ext_authz extension providers in the mesh config (envoyExtAuthzHttp, envoyExtAuthzGrpc:
// src/control/translate/security/ext-authz.ts): validation with field paths, registration seen by
// what `weft control` loads, and the ext_authz filter they translate to (decoded by the proxy's own
// Envoy decoder, so the control plane never emits what the proxy refuses).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { parseMeshConfig } from '../../../src/control/mesh-config.js';
import { extAuthzHttpFilter } from '../../../src/control/translate/security/ext-authz.js';
import type { SecurityContext } from '../../../src/control/translate/security/index.js';
import type { ExtensionProvider } from '../../../src/control/model.js';
import { decodeBootstrap } from '../../../src/envoy/bootstrap.js';
import type { ExtAuthzFilterConfig, HttpConnectionManagerConfig } from '../../../src/proxy/config/types.js';

// Istio's ext-authz task (istio.io/latest/docs/tasks/security/authorization/authz-custom/), unchanged.
const ISTIO_TASK_MESH = `
mesh: |-
  extensionProviders:
  - name: "sample-ext-authz-grpc"
    envoyExtAuthzGrpc:
      service: "ext-authz.foo.svc.cluster.local"
      port: "9000"
  - name: "sample-ext-authz-http"
    envoyExtAuthzHttp:
      service: "ext-authz.foo.svc.cluster.local"
      port: "8000"
      includeRequestHeadersInCheck: ["x-ext-authz"]
`;

function providers(doc: unknown): readonly ExtensionProvider[] {
  const r = parseMeshConfig(doc);
  if (!r.ok) assert.fail(r.errors.join('\n'));
  return r.value.extensionProviders;
}

function errorsOf(doc: unknown): string[] {
  const r = parseMeshConfig(doc);
  assert.equal(r.ok, false, 'expected the mesh config to be refused');
  return r.ok ? [] : r.errors;
}

const ctx = {} as SecurityContext;

/** Decodes a translated filter inside a minimal bootstrap with the cluster it names. */
function decodeFilter(filter: object, clusterName: string): ExtAuthzFilterConfig {
  const cluster = { name: clusterName, type: 'STATIC', load_assignment: { cluster_name: clusterName, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 1 } } } }] }] } };
  const r = decodeBootstrap({
    static_resources: {
      listeners: [{
        name: 'in', address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
        filter_chains: [{ filters: [{ name: 'hcm', typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          stat_prefix: 'in', route_config: { virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: clusterName } }] }] },
          http_filters: [filter, { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
        } }] }],
      }],
      clusters: [cluster],
    },
  }, { baseDir: '.' });
  if (!r.ok) assert.fail(r.errors.join('\n'));
  const hcm = r.value.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerConfig;
  return hcm.httpFilters[0] as ExtAuthzFilterConfig;
}

test('Istio\'s ext-authz task mesh config: both providers read, with Istio\'s defaults', () => {
  // Istio's task writes port as a string; proto3 JSON accepts that for integers.
  const ps = providers(YAML.parse(ISTIO_TASK_MESH));
  assert.equal(ps.length, 2);
  assert.equal(ps[0]!.kind, 'envoyExtAuthzGrpc');
  assert.equal(ps[0]!.spec.service, 'ext-authz.foo.svc.cluster.local');
  assert.equal(ps[0]!.spec.timeout, '600s');
  assert.equal(ps[0]!.spec.statusOnError, 403);
  assert.equal(ps[0]!.spec.port, 9000);
  assert.deepEqual(ps[1]!.spec.includeRequestHeadersInCheck, ['x-ext-authz']);
});

test('provider validation names each bad field', () => {
  const errs = errorsOf({
    extensionProviders: [
      { name: 'a', envoyExtAuthzHttp: { service: 'Not A Host!', port: 0, timeout: 'soon', statusOnError: 'bad', pathPrefix: 'x', clearRouteCache: true, bogus: 1 } },
      { name: 'b', envoyExtAuthzGrpc: { service: 'authz.ns.svc.cluster.local', port: 9000, pathPrefix: '/x', includeRequestBodyInCheck: { maxRequestBytes: -1 } } },
      { name: 'c', envoyExtAuthzGrpc: {} },
    ],
  });
  const has = (path: string): void => assert.ok(errs.some((e) => e.includes(path)), `no error at ${path} in:\n${errs.join('\n')}`);
  has('extensionProviders[0].envoyExtAuthzHttp.service');
  has('extensionProviders[0].envoyExtAuthzHttp.port');
  has('extensionProviders[0].envoyExtAuthzHttp.timeout');
  has('extensionProviders[0].envoyExtAuthzHttp.statusOnError');
  has('extensionProviders[0].envoyExtAuthzHttp.pathPrefix');
  has('extensionProviders[0].envoyExtAuthzHttp.clearRouteCache');
  has('extensionProviders[0].envoyExtAuthzHttp.bogus');
  has('extensionProviders[1].envoyExtAuthzGrpc.pathPrefix');
  has('extensionProviders[1].envoyExtAuthzGrpc.includeRequestBodyInCheck.maxRequestBytes');
  has('extensionProviders[2].envoyExtAuthzGrpc.service: required');
  has('extensionProviders[2].envoyExtAuthzGrpc.port: required');
});

test('the providers are registered by what `weft control` loads (translate/index), not only by this test\'s import', async () => {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const script = `
    const { parseMeshConfig } = await import(${JSON.stringify(root + 'src/control/mesh-config.js')});
    await import(${JSON.stringify(root + 'src/control/translate/index.js')});
    const r = parseMeshConfig({ extensionProviders: [{ name: 'x', envoyExtAuthzHttp: { service: 'a.b.svc.cluster.local', port: 80 } }] });
    process.stdout.write(JSON.stringify(r.ok));`;
  const out = await new Promise<string>((resolve, reject) => execFile(process.execPath, ['--input-type=module', '-e', script], (e, so, se) => (e ? reject(new Error(se)) : resolve(so))));
  assert.equal(out, 'true');
});

test('envoyExtAuthzHttp → http_service filter on outbound|port||host, accepted by the proxy\'s decoder', () => {
  const [p] = providers({
    extensionProviders: [{
      name: 'http', envoyExtAuthzHttp: {
        service: 'foo/ext-authz.foo.svc.cluster.local', port: 8000, timeout: '0.5s', pathPrefix: '/check', failOpen: true, statusOnError: '503',
        includeRequestHeadersInCheck: ['x-ext-authz', 'x-user-*'], includeAdditionalHeadersInCheck: { 'x-from': 'weft' },
        includeRequestBodyInCheck: { maxRequestBytes: 2048, allowPartialMessage: true },
        headersToUpstreamOnAllow: ['x-authz-*'], headersToDownstreamOnDeny: ['x-reason'], headersToDownstreamOnAllow: ['x-ok'],
      },
    }],
  });
  const filter = extAuthzHttpFilter(p!, ctx)!;
  const d = decodeFilter(filter, 'outbound|8000||ext-authz.foo.svc.cluster.local').config;
  assert.equal(d.service.kind, 'http');
  if (d.service.kind !== 'http') return;
  assert.equal(d.service.clusterName, 'outbound|8000||ext-authz.foo.svc.cluster.local');
  assert.equal(d.service.timeoutMs, 500);
  assert.equal(d.service.pathPrefix, '/check');
  assert.deepEqual(d.service.headersToAdd, [{ key: 'x-from', value: 'weft' }]);
  assert.deepEqual(d.service.allowedUpstreamHeaders, [{ kind: 'prefix', value: 'x-authz-', ignoreCase: true }]);
  assert.deepEqual(d.service.allowedClientHeaders, [{ kind: 'exact', value: 'x-reason', ignoreCase: true }]);
  assert.deepEqual(d.service.allowedClientHeadersOnSuccess, [{ kind: 'exact', value: 'x-ok', ignoreCase: true }]);
  assert.deepEqual(d.allowedHeaders, [{ kind: 'exact', value: 'x-ext-authz', ignoreCase: true }, { kind: 'prefix', value: 'x-user-', ignoreCase: true }]);
  assert.equal(d.failureModeAllow, true);
  assert.equal(d.statusOnError, 503);
  assert.deepEqual(d.withRequestBody, { maxRequestBytes: 2048, allowPartialMessage: true, packAsBytes: false });
});

test('envoyExtAuthzGrpc → grpc_service filter with the service as authority', () => {
  const [p] = providers({ extensionProviders: [{ name: 'g', envoyExtAuthzGrpc: { service: 'ext-authz.foo.svc.cluster.local', port: 9000, includeRequestBodyInCheck: { packAsBytes: true } } }] });
  const d = decodeFilter(extAuthzHttpFilter(p!, ctx)!, 'outbound|9000||ext-authz.foo.svc.cluster.local').config;
  assert.deepEqual(d.service, { kind: 'grpc', clusterName: 'outbound|9000||ext-authz.foo.svc.cluster.local', authority: 'ext-authz.foo.svc.cluster.local', timeoutMs: 600_000, initialMetadata: [] });
  assert.equal(d.statusOnError, 403);
  assert.deepEqual(d.withRequestBody, { maxRequestBytes: 1024 * 1024, allowPartialMessage: false, packAsBytes: true });
  assert.equal(extAuthzHttpFilter({ name: 'z', kind: 'zipkin', spec: {} }, ctx), undefined);
});
