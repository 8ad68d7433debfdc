// The jwt_authn filter on a stand-in stream (no sockets): where verified payloads and headers land
// in dynamic metadata (`envoy.filters.http.jwt_authn` → payload_in_metadata / header_in_metadata,
// with normalize_payload_in_metadata), which the RBAC metadata matcher reads; and that a token
// failing under allow_missing_or_failed leaves no metadata.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBootstrap } from '../../../../src/envoy/bootstrap.js';
import type { HttpConnectionManagerConfig, JwtAuthnFilterConfig } from '../../../../src/proxy/config/types.js';
import { JwtAuthnFilterFactory, JWT_AUTHN_METADATA_NAMESPACE } from '../../../../src/proxy/filters/http/jwt-authn/filter.js';
import { STOP, type FilterStream } from '../../../../src/proxy/filters/http/filter.js';
import { compileRouteTable } from '../../../../src/proxy/router/route-table.js';
import { StreamInfo } from '../../../../src/proxy/stream-info.js';
import { StatsStore } from '../../../../src/observe/stats.js';
import { jwksOf, makeKey, sign } from '../../../helpers/jwt.js';

const key = await makeKey('ES256', 'k');
const ISS = 'https://issuer.example';

function factory(jwt: Record<string, unknown>): JwtAuthnFilterFactory {
  const r = decodeBootstrap({
    static_resources: {
      listeners: [{
        name: 'l', address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
        filter_chains: [{ filters: [{ name: 'hcm', typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          stat_prefix: 't',
          route_config: { virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }] }] },
          http_filters: [
            { name: 'envoy.filters.http.jwt_authn', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication', ...jwt } },
            { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
          ],
        } }] }],
      }],
    },
  }, { baseDir: '.' });
  if (!r.ok) assert.fail(r.errors.join('\n'));
  const hcm = r.value.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerConfig;
  const f = hcm.httpFilters[0] as JwtAuthnFilterConfig;
  return new JwtAuthnFilterFactory(f.name, f.config, compileRouteTable(hcm.routeConfig), new StatsStore(), 't', { get: () => undefined });
}

/** Runs one request through the filter: 'continue' or the local reply's status. */
async function run(f: JwtAuthnFilterFactory, headers: string[]): Promise<{ outcome: number | 'continue'; info: StreamInfo }> {
  const info = new StreamInfo();
  info.method = 'GET';
  info.path = '/';
  info.authority = 'example';
  info.requestHeaders = headers;
  let resolve!: (v: number | 'continue') => void;
  const done = new Promise<number | 'continue'>((r) => { resolve = r; });
  const stream: FilterStream = {
    info, head: { headers } as never, currentRoute: null,
    upstreamClusterName: () => '', downstreamSocket: () => null, isGrpc: () => false,
    sendLocalReply: (status) => resolve(status),
    continueRequest: () => resolve('continue'),
    requestComplete: true, requestBody: () => null, watchRequestBody: () => {},
  };
  const filter = f.create(null)!;
  const status = filter.onRequestHeaders(stream);
  assert.equal(status, STOP);
  const outcome = await done;
  filter.onDestroy();
  return { outcome, info };
}

test('a verified payload and header go to dynamic metadata under their keys; scope claims are split', async () => {
  const f = factory({
    providers: {
      a: {
        issuer: ISS, local_jwks: { inline_string: jwksOf(key) }, payload_in_metadata: ISS, header_in_metadata: 'hdr',
        normalize_payload_in_metadata: { space_delimited_claims: ['scope'] },
      },
    },
    rules: [{ match: { prefix: '/' }, requires: { provider_name: 'a' } }],
  });
  const tok = await sign(key, { iss: ISS, sub: 'alice', scope: 'read write', groups: ['g1'] });
  const { outcome, info } = await run(f, ['authorization', `Bearer ${tok}`]);
  assert.equal(outcome, 'continue');
  const ns = info.dynamicMetadata?.[JWT_AUTHN_METADATA_NAMESPACE];
  assert.ok(ns !== undefined);
  const payload = ns[ISS] as Record<string, unknown>;
  assert.equal(payload.sub, 'alice');
  assert.equal(payload.iss, ISS);
  assert.deepEqual(payload.scope, ['read', 'write']);
  assert.deepEqual(payload.groups, ['g1']);
  assert.deepEqual(ns.hdr, { alg: 'ES256', kid: 'k', typ: 'JWT' });
});

test('allow_missing_or_failed passes a bad token but writes no metadata for it', async () => {
  const f = factory({
    providers: { a: { issuer: ISS, local_jwks: { inline_string: jwksOf(key) }, payload_in_metadata: ISS } },
    rules: [{ match: { prefix: '/' }, requires: { allow_missing_or_failed: {} } }],
  });
  const bad = await sign(key, { iss: ISS, exp: Math.floor(Date.now() / 1000) - 3600 });
  const { outcome, info } = await run(f, ['authorization', `Bearer ${bad}`]);
  assert.equal(outcome, 'continue');
  assert.equal(info.dynamicMetadata, null);
  const missing = await run(factory({
    providers: { a: { issuer: ISS, local_jwks: { inline_string: jwksOf(key) } } },
    rules: [{ match: { prefix: '/' }, requires: { provider_name: 'a' } }],
  }), []);
  assert.equal(missing.outcome, 401);
});
