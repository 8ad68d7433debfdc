// Envoy's parser leniency and error precision in the bootstrap adapter (src/envoy/): what Envoy's
// proto3-JSON loading accepts (enum names in any case, a single item for a repeated field, an HTTP
// connection manager without http_filters) and error lists that name the real cause only (full type
// URLs, case hints for field names, no follow-on errors blaming a field for another one's rejection).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBootstrap } from '../../src/envoy/bootstrap.js';
import { parseBootstrapText } from '../../src/envoy/text.js';
import { startProxy } from '../helpers/proxy.js';
import { startUpstream } from '../helpers/upstream.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const HCM_PATH = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';

/** One listener, one HCM (with `hcm` merged in), one route to cluster `app`, and the given clusters. */
function bootstrap(opts: { hcm?: Record<string, unknown>; clusters?: unknown[]; routeCluster?: string } = {}): Record<string, unknown> {
  return {
    static_resources: {
      listeners: [{
        name: 'main',
        address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
        filter_chains: [{
          filters: [{
            name: 'hcm',
            typed_config: {
              '@type': HCM,
              stat_prefix: 't',
              route_config: {
                virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: opts.routeCluster ?? 'app' } }] }],
              },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
              ...opts.hcm,
            },
          }],
        }],
      }],
      clusters: opts.clusters ?? [staticCluster('app')],
    },
  };
}

function staticCluster(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8080 } } } }] }],
    },
    ...extra,
  };
}

function errorsOf(input: unknown): string[] {
  const r = decodeBootstrap(input, { baseDir: '.' });
  return r.ok ? [] : r.errors;
}

// ───────────────────────────── leniency ─────────────────────────────

test('enum names are accepted in any case, as Envoy parses them (case_insensitive_enum_parsing)', () => {
  const input = bootstrap({
    hcm: { codec_type: 'auto' },
    clusters: [{
      ...staticCluster('app', { type: 'strict_dns', lb_policy: 'round_robin', dns_lookup_family: 'v4_only' }),
      load_assignment: {
        cluster_name: 'app',
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'web_service', port_value: 80 } } } }] }],
      },
    }],
  });
  const r = decodeBootstrap(input, { baseDir: '.' });
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  const c = r.value.clusters[0]!;
  assert.equal(c.type, 'STRICT_DNS');
  assert.equal(c.lbPolicy, 'ROUND_ROBIN');
  assert.equal(c.dnsLookupFamily, 'V4_ONLY');
  const hcm = r.value.listeners[0]!.filterChains[0]!.filters[0]!;
  assert.ok(hcm.kind === 'http_connection_manager');
  assert.equal(hcm.codecType, 'AUTO');
});

test('a single item where a list is expected is accepted (protobuf JSON legacy syntax, which Envoy uses)', () => {
  const input = bootstrap();
  const sr = input.static_resources as { listeners: Record<string, unknown>[]; clusters: unknown[] };
  const listener = sr.listeners[0]!;
  const chains = listener.filter_chains as Record<string, unknown>[];
  const hcmFilter = (chains[0]!.filters as unknown[])[0];
  // filter_chains and filters as single objects, domains as a single string, clusters as one object.
  const single = {
    static_resources: {
      listeners: { ...listener, filter_chains: { filters: hcmFilter } },
      clusters: sr.clusters[0],
    },
  };
  const vhosts = (((hcmFilter as Record<string, Record<string, unknown>>).typed_config!.route_config as Record<string, unknown>)
    .virtual_hosts as Record<string, unknown>[]);
  vhosts[0]!.domains = '*';
  const r = decodeBootstrap(single, { baseDir: '.' });
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  assert.equal(r.value.listeners.length, 1);
  assert.equal(r.value.listeners[0]!.filterChains.length, 1);
  assert.equal(r.value.clusters[0]!.name, 'app');
  const hcm = r.value.listeners[0]!.filterChains[0]!.filters[0]!;
  assert.ok(hcm.kind === 'http_connection_manager');
  assert.deepEqual(hcm.routeConfig.virtualHosts[0]!.domains, ['*']);
});

test('an HTTP connection manager without http_filters (or with an empty list) gets the router', () => {
  for (const hcm of [{ http_filters: undefined }, { http_filters: [] }]) {
    const r = decodeBootstrap(bootstrap({ hcm }), { baseDir: '.' });
    assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
    const f = r.value.listeners[0]!.filterChains[0]!.filters[0]!;
    assert.ok(f.kind === 'http_connection_manager');
    assert.deepEqual(f.httpFilters, [{ kind: 'router', name: 'envoy.filters.http.router' }]);
  }
  // A non-empty list must still end with the router, as in Envoy (a non-terminal filter may not be last).
  const fault = { name: 'fault', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault', abort: { http_status: 503, percentage: { numerator: 0 } } } };
  const errors = errorsOf(bootstrap({ hcm: { http_filters: [fault] } }));
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /typed_config\.http_filters: expected a list of HTTP filters ending with the router/);
});

test('a proxy whose HTTP connection manager has no http_filters routes requests', async (t) => {
  const up = await startUpstream();
  t.after(() => up.close());
  const yaml = `
static_resources:
  listeners:
    - name: main
      address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": ${HCM}
                stat_prefix: ingress
                codec_type: auto
                route_config:
                  virtual_hosts:
                    - name: all
                      domains: "*"
                      routes: { match: { prefix: "/" }, route: { cluster: up } }
  clusters:
    - name: up
      type: static
      lb_policy: round_robin
      load_assignment:
        cluster_name: up
        endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${up.port} } } } } }
`;
  const proxy = await startProxy(yaml);
  t.after(() => proxy.close());
  const res = await fetch(`http://127.0.0.1:${proxy.port}/hello`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-upstream'), 'up');
  await res.arrayBuffer();
  assert.equal(up.requests.length, 1);
  assert.equal(up.requests[0]!.url, '/hello');
});

// ───────────────────────────── error precision ─────────────────────────────

test('unknown type URLs are shown in full, never truncated', () => {
  const grpc = 'type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig';
  const errors = errorsOf(bootstrap({ hcm: { access_log: [{ name: 'grpc', typed_config: { '@type': grpc } }] } }));
  assert.equal(errors.length, 1);
  assert.ok(errors[0]!.endsWith(`got "${grpc}"`), errors[0]);
  // Also inside an unsupported field's value: the "@type" string is kept whole.
  const zipkin = 'type.googleapis.com/envoy.config.trace.v3.ZipkinConfig';
  const tracing = { provider: { name: 'envoy.tracers.zipkin', typed_config: { '@type': zipkin, collector_cluster: 'zipkin' } } };
  const [unsupported] = errorsOf(bootstrap({ hcm: { tracing } }));
  assert.ok(unsupported!.startsWith(`${HCM_PATH}.tracing: unsupported field, got `), unsupported);
  assert.ok(unsupported!.includes(`"@type":"${zipkin}"`), unsupported);
});

test('a field name that differs only in case gets a hint naming the right spelling', () => {
  const errors = errorsOf(bootstrap({ clusters: [staticCluster('app', { Type: 'STRICT_DNS', ConnectTimeout: '2s' })] }));
  assert.deepEqual(errors, [
    `static_resources.clusters[0].Type: unknown field 'Type' (field names are case-sensitive: did you mean 'type'?), got "STRICT_DNS"`,
    `static_resources.clusters[0].ConnectTimeout: unknown field 'ConnectTimeout' (field names are case-sensitive: did you mean 'connectTimeout'?), got "2s"`,
  ]);
});

test('a rejected cluster is not reported again as missing at the routes that name it', () => {
  const errors = errorsOf(bootstrap({ clusters: [staticCluster('app', { type: 'ORIGINAL_DST' })] }));
  assert.deepEqual(errors, [
    'static_resources.clusters[0].type: expected one of STATIC, STRICT_DNS, LOGICAL_DNS, EDS (ORIGINAL_DST is not supported yet), got "ORIGINAL_DST"',
  ]);
  // A cluster that really is missing is still reported at the route.
  const missing = errorsOf(bootstrap({ routeCluster: 'ghost' }));
  assert.deepEqual(missing, [
    `${HCM_PATH}.route_config.virtual_hosts[0].routes[0].route.cluster: expected the name of a cluster in static_resources.clusters, got "ghost"`,
  ]);
});

test('an invalid cluster type or lb_policy is reported once, without follow-on errors on the fields that depend on it', () => {
  // A bad type must not make the endpoints be checked as a STATIC cluster's (IP literals only).
  const dns = {
    ...staticCluster('app', { type: 'STRICTDNS' }),
    load_assignment: { cluster_name: 'app', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'web', port_value: 80 } } } }] }] },
  };
  assert.deepEqual(errorsOf(bootstrap({ clusters: [dns] })), [
    'static_resources.clusters[0].type: expected one of STATIC, STRICT_DNS, LOGICAL_DNS, EDS, ORIGINAL_DST, got "STRICTDNS"',
  ]);
  // A bad lb_policy must not make its lb config be blamed for not matching the default ROUND_ROBIN.
  const lc = staticCluster('app', { lb_policy: 'LEAST_REQUESTS', least_request_lb_config: { choice_count: 3 } });
  assert.deepEqual(errorsOf(bootstrap({ clusters: [lc] })), [
    'static_resources.clusters[0].lb_policy: expected one of ROUND_ROBIN, LEAST_REQUEST, RING_HASH, RANDOM, MAGLEV, CLUSTER_PROVIDED, LOAD_BALANCING_POLICY_CONFIG, got "LEAST_REQUESTS"',
  ]);
  // A bad type must not make eds_cluster_config be blamed for "type unknown".
  const eds = { name: 'app', type: 'ED', eds_cluster_config: { eds_config: { ads: {} } } };
  assert.deepEqual(errorsOf(bootstrap({ clusters: [eds] })), [
    'static_resources.clusters[0].type: expected one of STATIC, STRICT_DNS, LOGICAL_DNS, EDS, ORIGINAL_DST, got "ED"',
  ]);
});

test('a UDP listener is reported as unsupported once, not also for lacking TCP filter chains', () => {
  const text = `
static_resources:
  listeners:
    - name: udp
      address: { socket_address: { protocol: UDP, address: 127.0.0.1, port_value: 0 } }
`;
  const r = parseBootstrapText(text, 'udp.yaml', { baseDir: '.' });
  assert.deepEqual(r.ok ? [] : r.errors, [
    'static_resources.listeners[0].address.socket_address.protocol: expected one of TCP (UDP is not supported yet), got "UDP"',
  ]);
});

test('a config source that was rejected (path_config_source) does not also ask for ads_config', () => {
  const errors = errorsOf({ dynamic_resources: { lds_config: { path_config_source: { path: '/var/lib/envoy/lds.yaml' } } } });
  assert.deepEqual(errors, [
    'dynamic_resources.lds_config.path_config_source: unsupported field, got {"path":"/var/lib/envoy/lds.yaml"}',
  ]);
  // A config source that decoded (ADS) still needs it.
  assert.deepEqual(errorsOf({ dynamic_resources: { lds_config: { ads: {} } } }), [
    'dynamic_resources.ads_config: expected an ApiConfigSource (lds_config/cds_config use ADS), got nothing',
  ]);
});

test('require_client_certificate is not blamed when the trusted_ca it needs was itself rejected', () => {
  const input = bootstrap();
  const listener = (input.static_resources as { listeners: Record<string, unknown>[] }).listeners[0]!;
  const chain = (listener.filter_chains as Record<string, unknown>[])[0]!;
  const tlsFile = (name: string): Record<string, string> => ({ filename: `/nonexistent/weft-test/${name}` });
  chain.transport_socket = {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      require_client_certificate: true,
      common_tls_context: {
        tls_certificates: [{ certificate_chain: tlsFile('cert.pem'), private_key: tlsFile('key.pem') }],
        validation_context: { trusted_ca: tlsFile('ca.pem') },
      },
    },
  };
  const errors = errorsOf(input);
  assert.equal(errors.length, 3, errors.join('\n'));
  for (const e of errors) assert.match(e, /\.filename: expected a readable UTF-8 file \(ENOENT\)/);
});
