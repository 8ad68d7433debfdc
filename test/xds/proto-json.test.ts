// The proto3 JSON mapping both ways over real Envoy messages: what the control plane writes is what
// the proxy reads back, well-known types take their JSON forms, and bad input names its field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeToJson, encodeFromJson, ProtoJsonError } from '../../src/xds/proto-json.js';
import { messageType } from '../../src/xds/protos.js';
import { CLUSTER_TYPE, LISTENER_TYPE, messageName } from '../../src/xds/resource-types.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

test('a listener with an HCM in an Any, durations, wrappers and enums survives binary and back', () => {
  const listener = {
    name: 'virtualOutbound',
    address: { socket_address: { address: '0.0.0.0', port_value: 15001 } },
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': HCM,
          stat_prefix: 'outbound_0.0.0.0_15001',
          codec_type: 'AUTO',
          rds: { route_config_name: '15001', config_source: { ads: {}, resource_api_version: 'V3' } },
          stream_idle_timeout: '1.5s',
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
        },
      }],
    }],
    per_connection_buffer_limit_bytes: 32768,
  };
  const t = messageType(messageName(LISTENER_TYPE));
  const back = decodeToJson(t, encodeFromJson(t, listener));
  assert.deepEqual(back, listener);
});

test('camelCase keys are read, snake_case written; 64-bit integers become strings; Struct is plain JSON', () => {
  const t = messageType(messageName(CLUSTER_TYPE));
  const back = decodeToJson(t, encodeFromJson(t, {
    name: 'outbound|9080|v2|reviews.default.svc.cluster.local',
    type: 'EDS',
    edsClusterConfig: { edsConfig: { ads: {} }, serviceName: 'x' },
    connectTimeout: '10s',
    maxRequestsPerConnection: 5,
    metadata: { filter_metadata: { istio: { subset: 'v2', weights: [1, 2], nested: { ok: true, none: null } } } },
    ring_hash_lb_config: { minimum_ring_size: '1024' },
  }));
  assert.deepEqual(back, {
    name: 'outbound|9080|v2|reviews.default.svc.cluster.local',
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {} }, service_name: 'x' },
    connect_timeout: '10s',
    max_requests_per_connection: 5,
    metadata: { filter_metadata: { istio: { subset: 'v2', weights: [1, 2], nested: { ok: true, none: null } } } },
    ring_hash_lb_config: { minimum_ring_size: '1024' },
  });
});

test('a bad field or an unknown Any type is an error naming the field path', () => {
  const t = messageType(messageName(CLUSTER_TYPE));
  assert.throws(() => encodeFromJson(t, { name: 'a', connect_timeout: 'soon' }),
    (e: unknown) => e instanceof ProtoJsonError && e.message === 'connect_timeout: expected a duration like "1.5s", got "soon"');
  assert.throws(() => encodeFromJson(t, { name: 'a', colour: 'red' }), /^Error: colour: no such field in envoy.config.cluster.v3.Cluster$|colour: no such field/);
  const lt = messageType(messageName(LISTENER_TYPE));
  assert.throws(() => encodeFromJson(lt, { filter_chains: [{ filters: [{ name: 'x', typed_config: { '@type': 'type.googleapis.com/acme.Thing' } }] }] }),
    /filter_chains\[0\]\.filters\[0\]\.typed_config\.@type: unknown type URL "type.googleapis.com\/acme.Thing"/);
  // The decode side: an Any the proxy cannot read becomes an error with the path.
  const any = messageType('google.protobuf.Any');
  const bytes = lt.encode(lt.fromObject({ name: 'l', filter_chains: [{ filters: [{ name: 'x', typed_config: any.fromObject({ type_url: 'type.googleapis.com/acme.Thing', value: Buffer.from([8, 1]) }) }] }] })).finish();
  assert.throws(() => decodeToJson(lt, bytes), /filter_chains\[0\]\.filters\[0\]\.typed_config: unknown type URL "type.googleapis.com\/acme.Thing" in an Any/);
});

test('durations with fractions and negative values, and wrapper defaults', () => {
  const t = messageType('envoy.config.route.v3.RouteAction');
  const back = decodeToJson(t, encodeFromJson(t, { cluster: 'c', timeout: '0.25s', idle_timeout: '0s', max_grpc_timeout: '3.000000001s' }));
  assert.deepEqual(back, { cluster: 'c', timeout: '0.25s', idle_timeout: '0s', max_grpc_timeout: '3.000000001s' });
  const rt = messageType('envoy.config.route.v3.RetryPolicy');
  assert.deepEqual(decodeToJson(rt, encodeFromJson(rt, { num_retries: 0, retry_on: '5xx' })), { num_retries: 0, retry_on: '5xx' });
});
