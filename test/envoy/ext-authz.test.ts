// Decoding of Envoy's external authorization filter (src/envoy/ext-authz.ts):
// envoy.extensions.filters.http.ext_authz.v3.ExtAuthz (gRPC and HTTP services, buffer settings,
// status_on_error, filter_enabled(_metadata), deny_at_disable) and ExtAuthzPerRoute. Every accepted
// field lands in the decoded config; what Weft does not implement is refused with its path.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBootstrap } from '../../src/envoy/bootstrap.js';
import { oneFilterBootstrap } from '../helpers/bootstrap.js';
import type { BootstrapConfig, ExtAuthzFilterConfig, HttpConnectionManagerConfig } from '../../src/proxy/config/types.js';

type Obj = Record<string, unknown>;

const EXT_AUTHZ = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';
const FILTER_PATH = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config';
const ROUTE_PATH = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].typed_per_filter_config["envoy.filters.http.ext_authz"]';

const cluster = (name: string): Obj => ({ name, type: 'STATIC', load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 1 } } } }] }] } });

function bootstrap(extAuthz: Obj, routeExtra: Obj = {}): Obj {
  return oneFilterBootstrap({ name: 'envoy.filters.http.ext_authz', typed_config: { '@type': EXT_AUTHZ, ...extAuthz } }, [cluster('app'), cluster('authz')], routeExtra);
}

function decode(input: Obj): BootstrapConfig {
  const r = decodeBootstrap(input, { baseDir: '.' });
  if (!r.ok) assert.fail(r.errors.join('\n'));
  return r.value;
}

function filterOf(b: BootstrapConfig): ExtAuthzFilterConfig {
  const hcm = b.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerConfig;
  const f = hcm.httpFilters[0]!;
  assert.equal(f.kind, 'ext_authz');
  return f as ExtAuthzFilterConfig;
}

function errors(input: Obj): string[] {
  const r = decodeBootstrap(input, { baseDir: '.' });
  assert.equal(r.ok, false, 'expected the config to be refused');
  return r.ok ? [] : r.errors;
}

function assertError(errs: readonly string[], path: string, text: string | RegExp): void {
  const hit = errs.some((e) => e.startsWith(path + ': ') && (typeof text === 'string' ? e.includes(text) : text.test(e)));
  assert.ok(hit, `no error at ${path} matching ${String(text)} in:\n${errs.join('\n')}`);
}

const GRPC = { grpc_service: { envoy_grpc: { cluster_name: 'authz' } } };
const HTTP = { http_service: { server_uri: { uri: 'http://authz:9000', cluster: 'authz', timeout: '0.25s' } } };

test('gRPC service: defaults (200 ms timeout, 403 on error, authority = cluster) and every field', () => {
  const d = filterOf(decode(bootstrap(GRPC))).config;
  assert.deepEqual(d.service, { kind: 'grpc', clusterName: 'authz', authority: 'authz', timeoutMs: 200, initialMetadata: [] });
  assert.equal(d.statusOnError, 403);
  assert.equal(d.failureModeAllow, false);
  assert.equal(d.withRequestBody, null);
  assert.equal(d.allowedHeaders, null);

  const full = filterOf(decode(bootstrap({
    grpc_service: { envoy_grpc: { cluster_name: 'authz', authority: 'authz.svc' }, timeout: '1s', initial_metadata: [{ key: 'X-Key', value: 'v' }] },
    transport_api_version: 'V3',
    failure_mode_allow: true, failure_mode_allow_header_add: true,
    with_request_body: { max_request_bytes: 1024, allow_partial_message: true, pack_as_bytes: true },
    status_on_error: { code: 'ServiceUnavailable' },
    stat_prefix: 'waf', include_peer_certificate: true, include_tls_session: true,
    allowed_headers: { patterns: [{ exact: 'x-a' }] }, disallowed_headers: { patterns: [{ prefix: 'x-b' }] },
    filter_enabled: { default_value: { numerator: 50, denominator: 'HUNDRED' } },
    filter_enabled_metadata: { filter: 'envoy.filters.http.rbac', path: [{ key: 'k' }], value: { string_match: { prefix: 'istio-ext-authz' } } },
    deny_at_disable: { default_value: true },
    metadata_context_namespaces: ['envoy.filters.http.jwt_authn'],
  }))).config;
  assert.deepEqual(full.service, { kind: 'grpc', clusterName: 'authz', authority: 'authz.svc', timeoutMs: 1000, initialMetadata: ['x-key', 'v'] });
  assert.deepEqual(full.withRequestBody, { maxRequestBytes: 1024, allowPartialMessage: true, packAsBytes: true });
  assert.equal(full.statusOnError, 503);
  assert.equal(full.statPrefix, 'waf');
  assert.equal(full.filterEnabled, 0.5);
  assert.deepEqual(full.filterEnabledMetadata, { filter: 'envoy.filters.http.rbac', path: ['k'], invert: false, value: { kind: 'string', match: { kind: 'prefix', value: 'istio-ext-authz', ignoreCase: false } } });
  assert.equal(full.denyAtDisable, true);
  assert.deepEqual(full.metadataContextNamespaces, ['envoy.filters.http.jwt_authn']);
  assert.equal(full.includePeerCertificate, true);
});

test('HTTP service: server_uri, path_prefix, authorization_request / authorization_response', () => {
  const d = filterOf(decode(bootstrap({
    http_service: {
      ...HTTP.http_service,
      path_prefix: '/authz',
      authorization_request: { allowed_headers: { patterns: [{ exact: 'x-ext-authz' }] }, headers_to_add: [{ key: 'x-from', value: 'weft' }] },
      authorization_response: {
        allowed_upstream_headers: { patterns: [{ exact: 'x-user' }] },
        allowed_upstream_headers_to_append: { patterns: [{ exact: 'x-tag' }] },
        allowed_client_headers: { patterns: [{ exact: 'x-reason' }] },
        allowed_client_headers_on_success: { patterns: [{ exact: 'x-ok' }] },
      },
    },
    status_on_error: { code: 500 },
  }))).config;
  assert.equal(d.service.kind, 'http');
  if (d.service.kind !== 'http') return;
  assert.equal(d.service.timeoutMs, 250);
  assert.equal(d.service.pathPrefix, '/authz');
  assert.deepEqual(d.service.headersToAdd, [{ key: 'x-from', value: 'weft' }]);
  assert.equal(d.service.allowedClientHeaders?.length, 1);
  // The deprecated authorization_request.allowed_headers becomes the filter's allowed_headers.
  assert.deepEqual(d.allowedHeaders, [{ kind: 'exact', value: 'x-ext-authz', ignoreCase: false }]);
  assert.equal(d.statusOnError, 500);
});

test('refused: what Weft does not implement, and contradictions, each named by path', () => {
  assertError(errors(bootstrap({ grpc_service: { google_grpc: { target_uri: 'x', stat_prefix: 's' } } })), `${FILTER_PATH}.grpc_service.google_grpc`, 'unsupported');
  assertError(errors(bootstrap({ ...GRPC, clear_route_cache: true })), `${FILTER_PATH}.clear_route_cache`, 'not supported yet');
  assertError(errors(bootstrap({ ...GRPC, validate_mutations: true })), `${FILTER_PATH}.validate_mutations`, 'unsupported');
  assertError(errors(bootstrap({ ...GRPC, transport_api_version: 'V2' })), `${FILTER_PATH}.transport_api_version`, 'not supported');
  assertError(errors(bootstrap({ ...GRPC, filter_enabled: { default_value: { numerator: 1 }, runtime_key: 'k' } })), `${FILTER_PATH}.filter_enabled.runtime_key`, 'unsupported');
  assertError(errors(bootstrap({ ...HTTP, metadata_context_namespaces: ['a'] })), `${FILTER_PATH}.metadata_context_namespaces`, 'gRPC');
  assertError(errors(bootstrap({ ...HTTP, with_request_body: { max_request_bytes: 10, pack_as_bytes: true } })), `${FILTER_PATH}.with_request_body.pack_as_bytes`, 'gRPC');
  assertError(errors(bootstrap({ ...GRPC, with_request_body: { max_request_bytes: 0 } })), `${FILTER_PATH}.with_request_body.max_request_bytes`, '1..');
  assertError(errors(bootstrap({ ...GRPC, ...HTTP })), FILTER_PATH, /grpc_service.*http_service|at most one/);
  assertError(errors(bootstrap({})), FILTER_PATH, /grpc_service|http_service/);
  assertError(errors(bootstrap({ http_service: { server_uri: { uri: 'http://a', cluster: 'authz' } } })), `${FILTER_PATH}.http_service.server_uri.timeout`, 'expected');
  assertError(errors(bootstrap({ ...GRPC, status_on_error: { code: 'Empty' } })), `${FILTER_PATH}.status_on_error.code`, 'HTTP status');
  assertError(errors(bootstrap({
    http_service: { ...HTTP.http_service, authorization_request: { allowed_headers: { patterns: [{ exact: 'a' }] } } },
    allowed_headers: { patterns: [{ exact: 'b' }] },
  })), `${FILTER_PATH}.http_service.authorization_request.allowed_headers`, 'at most one');
});

test('ExtAuthzPerRoute: disabled, or check_settings with context_extensions and body settings', () => {
  const on = (cfg: Obj): Obj => bootstrap(GRPC, { typed_per_filter_config: { 'envoy.filters.http.ext_authz': { '@type': PER_ROUTE, ...cfg } } });
  const routeCfg = (b: BootstrapConfig): unknown => {
    const hcm = b.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerConfig;
    const rc = hcm.routeConfig!;
    return (rc as unknown as { virtualHosts: { routes: { typedPerFilterConfig?: Record<string, unknown> }[] }[] }).virtualHosts[0]!.routes[0]!.typedPerFilterConfig!['envoy.filters.http.ext_authz'];
  };
  assert.deepEqual(routeCfg(decode(on({ disabled: true }))), { kind: 'ext_authz', config: { disabled: true, contextExtensions: new Map(), disableRequestBodyBuffering: false, withRequestBody: null } });
  assert.deepEqual(routeCfg(decode(on({ check_settings: { context_extensions: { a: 'b' }, disable_request_body_buffering: true } }))),
    { kind: 'ext_authz', config: { disabled: false, contextExtensions: new Map([['a', 'b']]), disableRequestBodyBuffering: true, withRequestBody: null } });
  assertError(errors(on({ disabled: false })), `${ROUTE_PATH}.disabled`, 'true');
  assertError(errors(on({})), ROUTE_PATH, /disabled|check_settings/);
  assertError(errors(on({ check_settings: { disable_request_body_buffering: true, with_request_body: { max_request_bytes: 5 } } })), `${ROUTE_PATH}.check_settings`, 'at most one');
});
