// The ext_authz filter and its per-route config travel over ADS as google.protobuf.Any: the
// protos are loaded (src/xds/protos.ts), so a listener carrying them survives binary and back
// (and the translated CUSTOM filter reaches proxies over xDS, not only in static bootstraps).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeToJson, encodeFromJson } from '../../src/xds/proto-json.js';
import { messageType } from '../../src/xds/protos.js';
import { LISTENER_TYPE, messageName } from '../../src/xds/resource-types.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const EXT_AUTHZ = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';

test('a listener with ext_authz (HTTP service, metadata matcher) and ExtAuthzPerRoute survives binary and back', () => {
  const extAuthz = {
    '@type': EXT_AUTHZ,
    http_service: { server_uri: { uri: 'http://authz:8000', cluster: 'outbound|8000||authz', timeout: '0.5s' }, path_prefix: '/check' },
    transport_api_version: 'V3',
    failure_mode_allow: true,
    status_on_error: { code: 'ServiceUnavailable' },
    with_request_body: { max_request_bytes: 2048, allow_partial_message: true },
    filter_enabled_metadata: { filter: 'envoy.filters.http.rbac', path: [{ key: 'istio_ext_authz_shadow_effective_policy_id' }], value: { string_match: { prefix: 'istio-ext-authz' } } },
  };
  const listener = {
    name: 'virtualInbound',
    address: { socket_address: { address: '0.0.0.0', port_value: 15006 } },
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': HCM,
          stat_prefix: 'inbound',
          route_config: {
            name: 'r',
            virtual_hosts: [{
              name: 'v', domains: ['*'],
              routes: [{ match: { prefix: '/' }, route: { cluster: 'c' }, typed_per_filter_config: { 'envoy.filters.http.ext_authz': { '@type': PER_ROUTE, check_settings: { context_extensions: { k: 'v' } } } } }],
            }],
          },
          http_filters: [
            { name: 'envoy.filters.http.ext_authz', typed_config: extAuthz },
            { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
          ],
        },
      }],
    }],
  };
  const t = messageType(messageName(LISTENER_TYPE));
  const back = decodeToJson(t, encodeFromJson(t, listener)) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const hcm = back.filter_chains[0].filters[0].typed_config;
  assert.deepEqual(hcm.http_filters[0].typed_config, extAuthz);
  assert.deepEqual(hcm.route_config.virtual_hosts[0].routes[0].typed_per_filter_config['envoy.filters.http.ext_authz'], { '@type': PER_ROUTE, check_settings: { context_extensions: { k: 'v' } } });
});
