// Unit tests for typed_config dispatch (src/envoy/decode/typed.ts) and the built-in extension list.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ctx } from '../../../src/envoy/decode/context.js';
import { defineMessage, string } from '../../../src/envoy/decode/readers.js';
import { ExtensionRegistry, typedConfig, type Extension } from '../../../src/envoy/decode/typed.js';
import { BUILTIN_EXTENSIONS, builtinExtensions } from '../../../src/envoy/extensions.js';

const STDOUT = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

const ctx = (): Ctx => Ctx.root({ baseDir: '.', extensions: builtinExtensions(), clusterRefs: [] }, 'typed_config');

test('the built-in list registers exactly the supported type URLs', () => {
  assert.deepEqual(BUILTIN_EXTENSIONS.map((e) => e.typeUrl).sort(), [
    'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
    'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog',
    STDOUT,
    'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors',
    'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
    'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
    'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute',
    // HTTPFault is both the filter config and its per-route config.
    'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
    'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
    'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
    'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig',
    'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
    'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute',
    ROUTER,
    'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector',
    'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
    'type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit',
    'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC',
    'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
    'type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig',
    'type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig',
    'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
    'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
    'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  ]);
});

test('dispatches on "@type" and decodes the remaining keys', () => {
  const c = ctx();
  const log = typedConfig('access_logger', { name: 'x' })(c, { '@type': STDOUT, log_format: { text_format: 'hi\n' } });
  assert.deepEqual(c.errors, []);
  assert.deepEqual(log, { sink: { kind: 'stdout' }, format: { kind: 'text', template: 'hi\n' } });
});

test('the type URL host part does not matter, only the message name', () => {
  const c = ctx();
  const f = typedConfig('http_filter', { name: 'r' })(c, { '@type': 'example.com/envoy.extensions.filters.http.router.v3.Router' });
  assert.deepEqual(c.errors, []);
  assert.deepEqual(f, { kind: 'router', name: 'r' });
});

test('a type from another category, an unknown type or a missing "@type" is an error', () => {
  const c = ctx();
  const read = typedConfig('http_filter', { name: 'f' });
  read(c, { '@type': STDOUT });
  read(c, { '@type': 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer' });
  // A per-route type is not a filter type (CorsPolicy goes in typed_per_filter_config only).
  read(c, { '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy' });
  read(c, {});
  read(c, 'router');
  const filters = [
    ROUTER, 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault', 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors',
    'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
    'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
    'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
  ];
  const expected = `expected a supported HTTP filter type (${filters.join(' | ')})`;
  assert.deepEqual(c.errors, [
    `typed_config["@type"]: ${expected}, got "${STDOUT}"`,
    `typed_config["@type"]: ${expected}, got "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer"`,
    `typed_config["@type"]: ${expected}, got "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy"`,
    `typed_config["@type"]: ${expected}, got nothing`,
    'typed_config: expected an object with "@type", got "router"',
  ]);
});

test('a registry refuses the same type twice and can be given to decoders instead of the built-ins', () => {
  const ext: Extension<'http_filter'> = {
    category: 'http_filter',
    typeUrl: 'type.googleapis.com/test.Filter',
    spec: defineMessage({ name: 'test.Filter', fields: ['label'] }),
    decode: (m, info) => ({ kind: 'router', name: `${info.name}:${m.get('label', string, '')}` }),
  };
  assert.throws(() => new ExtensionRegistry([ext, ext]), /registered twice/);
  const registry = new ExtensionRegistry([ext]);
  const c = Ctx.root({ baseDir: '.', extensions: registry, clusterRefs: [] }, 't');
  assert.deepEqual(typedConfig('http_filter', { name: 'n' })(c, { '@type': ext.typeUrl, label: 'L' }), { kind: 'router', name: 'n:L' });
  assert.deepEqual(registry.typeUrls('http_filter'), [ext.typeUrl]);
  assert.deepEqual(registry.typeUrls('network_filter'), []);
});
