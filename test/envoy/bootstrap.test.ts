// Behaviour tests for decodeBootstrap (src/envoy/bootstrap.ts) beyond the golden files: freezing,
// the shipped example, pre-parsed input, error collection and cross-checks.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { decodeBootstrap } from '../../src/envoy/bootstrap.js';
import { loadBootstrapFile } from '../../src/envoy/load.js';
import { fromRoot } from '../helpers/paths.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

/** A one-listener bootstrap with a single route (`action` is its route / direct_response / redirect) and the given clusters. */
function bootstrap(action: Record<string, unknown>, clusters: string[]): Record<string, unknown> {
  return {
    static_resources: {
      listeners: [{
        address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
        filter_chains: [{
          filters: [{
            typed_config: {
              '@type': HCM,
              stat_prefix: 't',
              route_config: { virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, ...action }] }] },
              http_filters: [{ name: 'router', typed_config: { '@type': ROUTER } }],
            },
          }],
        }],
      }],
      clusters: clusters.map((name) => ({ name })),
    },
  };
}

test('examples/basic/bootstrap.yaml decodes cleanly', async () => {
  const result = await loadBootstrapFile(fromRoot('examples', 'basic', 'bootstrap.yaml'));
  assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  const { value } = result;
  assert.deepEqual(value.admin?.address, { address: '127.0.0.1', port: 9901 });
  const [listener] = value.listeners;
  assert.deepEqual(listener?.address, { address: '127.0.0.1', port: 10000 });
  const hcm = listener!.filterChains[0]!.filters[0]!;
  assert.ok(hcm.kind === 'http_connection_manager');
  assert.equal(hcm.accessLogs[0]?.sink.kind, 'stdout');
  assert.equal(hcm.routeConfig.virtualHosts[0]?.routes[0]?.action.kind, 'route');
  assert.deepEqual(value.clusters[0]?.loadAssignment.endpoints[0]?.lbEndpoints[0]?.address, { address: '127.0.0.1', port: 8080 });
});

test('the decoded config is deep-frozen', () => {
  const result = decodeBootstrap(bootstrap({ route: { cluster: 'a' } }, ['a']), { baseDir: '.' });
  assert.ok(result.ok);
  const { value } = result;
  assert.ok(Object.isFrozen(value));
  assert.ok(Object.isFrozen(value.listeners));
  const f = value.listeners[0]!.filterChains[0]!.filters[0]!;
  assert.ok(f.kind === 'http_connection_manager');
  const route = f.routeConfig.virtualHosts[0]!.routes[0]!;
  assert.ok(Object.isFrozen(route.match.path));
  assert.ok(Object.isFrozen(value.clusters[0]!.connectionPool));
  assert.throws(() => { (value.clusters as unknown as unknown[]).push({}); }, TypeError);
});

test('node metadata is copied, so freezing the output leaves the input alone', () => {
  const input = { node: { id: 'n', metadata: { labels: { app: 'x' } } } };
  const result = decodeBootstrap(input, { baseDir: '.' });
  assert.ok(result.ok);
  assert.deepEqual(result.value.node.metadata, { labels: { app: 'x' } });
  assert.equal(Object.isFrozen(input.node.metadata), false);
});

test('an empty bootstrap is valid and has no admin, listeners or clusters', () => {
  assert.deepEqual(decodeBootstrap({}, { baseDir: '.' }), {
    ok: true,
    value: { node: { id: '', cluster: '', metadata: {} }, admin: null, listeners: [], clusters: [] },
  });
});

test('a non-object bootstrap is one error at the root', () => {
  assert.deepEqual(decodeBootstrap(null, { baseDir: '.' }), { ok: false, errors: ['(root): expected a Bootstrap object, got null'] });
  assert.deepEqual(decodeBootstrap([1], { baseDir: '.' }), { ok: false, errors: ['(root): expected a Bootstrap object, got [1]'] });
});

test('routes to missing clusters are reported at the route, all of them', () => {
  const input = bootstrap({ route: { cluster: 'ghost' } }, ['a']);
  const clusters = (input.static_resources as { clusters: unknown[] }).clusters;
  clusters.push({ name: 'a' });
  const result = decodeBootstrap(input, { baseDir: '.' });
  assert.deepEqual(result, {
    ok: false,
    errors: [
      'static_resources.clusters[1].name: expected a cluster name not already used (by [0]), got "a"',
      'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.cluster: expected the name of a cluster in static_resources.clusters, got "ghost"',
    ],
  });
});

test('direct response files are read relative to baseDir', () => {
  const text = readFileSync(fromRoot('test', 'envoy', 'golden', 'direct-response.yaml'), 'utf8');
  const fromGolden = decodeBootstrap(parse(text), { baseDir: fromRoot('test', 'envoy', 'golden') });
  assert.ok(fromGolden.ok);
  const elsewhere = decodeBootstrap(parse(text), { baseDir: fromRoot('examples') });
  assert.ok(!elsewhere.ok);
  assert.match(elsewhere.errors[0]!, /routes\[2\]\.direct_response\.body\.filename: expected a readable UTF-8 file \(ENOENT\), got "files\/maintenance.txt"$/);
});

test('a direct response body above 4 KiB is refused, as in Envoy', () => {
  const body = { inline_string: 'x'.repeat(4097) };
  const result = decodeBootstrap(bootstrap({ direct_response: { status: 200, body } }, []), { baseDir: '.' });
  assert.deepEqual(result.ok ? [] : result.errors, [
    'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].direct_response.body: expected a body of at most 4096 bytes (Envoy\'s limit), got 4097 bytes',
  ]);
});

test('several listeners may use port 0 (each gets a free port), but not the same fixed address', () => {
  const one = bootstrap({ direct_response: { status: 200 } }, []);
  const listener = (one.static_resources as { listeners: Record<string, unknown>[] }).listeners[0]!;
  const withPort = (name: string, port: number): Record<string, unknown> =>
    ({ ...listener, name, address: { socket_address: { address: '127.0.0.1', port_value: port } } });
  const ephemeral = decodeBootstrap({ static_resources: { listeners: [withPort('a', 0), withPort('b', 0)] } }, { baseDir: '.' });
  assert.ok(ephemeral.ok);
  const fixed = decodeBootstrap({ static_resources: { listeners: [withPort('a', 8080), withPort('b', 8080)] } }, { baseDir: '.' });
  assert.deepEqual(fixed, {
    ok: false,
    errors: ['static_resources.listeners[1].address: expected an address not already used (by [0]), got "127.0.0.1:8080"'],
  });
});
