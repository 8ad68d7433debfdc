// envoy.filters.http.ext_authz with a grpc_service: a real grpc-js server implementing
// envoy.service.auth.v3.Authorization/Check (messages from Envoy's external_auth.proto) behind a
// real proxy. The CheckRequest as Envoy builds it (source/destination addresses, http id / method /
// headers / path / host / scheme / protocol, body with with_request_body and raw_body with
// pack_as_bytes, per-route context_extensions, metadata_context); CheckResponse OK with header
// mutations upstream and downstream and dynamic metadata; denied_response with status, headers and
// body; default 403; errors (non-OK gRPC status, timeout, an HTTP/1.1-only cluster) and
// failure_mode_allow; filter_enabled_metadata reading metadata a first ext_authz wrote.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { cluster, request, ROUTER_TYPE, simple, toCluster, type Obj } from '../helpers/bootstrap.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { h2Options } from '../helpers/h2-upstream.js';
import { messageType } from '../../src/xds/protos.js';

type T = { after(fn: () => Promise<void> | void): void };
type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const EXT_AUTHZ = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';

const REQ = messageType('envoy.service.auth.v3.CheckRequest');
const RES = messageType('envoy.service.auth.v3.CheckResponse');

const AUTHORIZATION: grpc.ServiceDefinition = {
  Check: {
    path: '/envoy.service.auth.v3.Authorization/Check',
    requestStream: false,
    responseStream: false,
    requestSerialize: (o: Msg) => Buffer.from(REQ.encode(REQ.fromObject(o)).finish()),
    requestDeserialize: (b: Buffer) => REQ.toObject(REQ.decode(b), { longs: Number, enums: String }),
    responseSerialize: (o: Msg) => Buffer.from(RES.encode(RES.fromObject(o)).finish()),
    responseDeserialize: (b: Buffer) => RES.toObject(RES.decode(b), { longs: Number, enums: String }),
  },
};

type Decide = (req: Msg) => Msg | grpc.ServiceError | 'hang';

interface AuthzServer { port: number; checks: Msg[]; close(): Promise<void> }

async function startAuthz(t: T, decide: Decide): Promise<AuthzServer> {
  const server = new grpc.Server();
  const checks: Msg[] = [];
  server.addService(AUTHORIZATION, {
    Check: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      checks.push(call.request);
      const d = decide(call.request);
      if (d === 'hang') return;
      if (d instanceof Error) cb(d);
      else cb(null, d);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const s = { port, checks, close: () => new Promise<void>((r) => server.tryShutdown(() => r())).then(() => server.forceShutdown()) };
  t.after(() => s.close());
  return s;
}

/** Istio's sample, gRPC flavour: allow on x-ext-authz: allow (adding headers), deny otherwise. */
const sample: Decide = (req) => {
  const headers = req.attributes.request.http.headers as Record<string, string>;
  if (headers['x-ext-authz'] === 'allow') {
    return {
      status: { code: 0 },
      ok_response: {
        headers: [
          { header: { key: 'x-ext-authz-check-result', value: 'allowed' } },
          { header: { key: 'x-tag', value: 'two' }, append: { value: true } },
        ],
        headers_to_remove: ['x-secret'],
        response_headers_to_add: [{ header: { key: 'x-ext-authz-check-received', value: 'yes' } }],
      },
      dynamic_metadata: { fields: { user: { stringValue: 'alice' } } },
    };
  }
  if (headers['x-ext-authz'] === 'hang') return 'hang';
  if (headers['x-ext-authz'] === 'error') return Object.assign(new Error('boom'), { code: grpc.status.UNAVAILABLE, details: 'boom', metadata: new grpc.Metadata() });
  if (headers['x-ext-authz'] === 'plain-deny') return { status: { code: 7 } };
  return {
    status: { code: 7 },
    denied_response: {
      status: { code: 'Unauthorized' },
      headers: [{ header: { key: 'x-ext-authz-check-result', value: 'denied' } }, { header: { key: 'www-authenticate', value: 'Bearer' } }],
      body: 'denied by ext_authz',
    },
  };
};

interface Setup { p: RunningProxy; app: Upstream }

async function setup(t: T, authzPort: number, o: { filter?: Obj; grpc?: Obj; routes?: Obj[]; http1Cluster?: boolean; filters?: Obj[] } = {}): Promise<Setup> {
  const app = await startUpstream();
  t.after(() => app.close());
  const filter = (extra: Obj = {}): Obj => ({
    name: 'envoy.filters.http.ext_authz',
    typed_config: {
      '@type': EXT_AUTHZ,
      transport_api_version: 'V3',
      grpc_service: { envoy_grpc: { cluster_name: 'authz' }, timeout: '0.5s', ...o.grpc },
      ...o.filter,
      ...extra,
    },
  });
  const p = await startProxy(simple({
    statPrefix: 'ingress',
    routes: o.routes ?? [toCluster('/', 'app')],
    clusters: [cluster('app', [app.port]), cluster('authz', [authzPort], o.http1Cluster === true ? {} : h2Options())],
    extra: {
      http_filters: [
        ...(o.filters ?? [filter()]),
        { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
      ],
    },
  }));
  t.after(() => p.close());
  return { p, app };
}

const stat = (p: RunningProxy, name: string): number | undefined => p.server.stats.value(name);

test('Check: the CheckRequest carries the request; OK applies header mutations both ways', async (t) => {
  const authz = await startAuthz(t, sample);
  const s = await setup(t, authz.port);
  const r = await request(s.p.port, '/api/x?y=1', { headers: { 'x-ext-authz': 'allow', 'x-tag': 'one', 'x-secret': 's' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-ext-authz-check-received'], 'yes');
  const up = s.app.requests[0]!;
  assert.equal(up.headers['x-ext-authz-check-result'], 'allowed');
  assert.equal(up.headers['x-tag'], 'one,two', 'append: true combines with the existing value');
  assert.equal(up.headers['x-secret'], undefined);
  const a = authz.checks[0]!.attributes;
  assert.equal(a.source.address.socket_address.address, '127.0.0.1');
  assert.ok(a.source.address.socket_address.port_value > 0);
  assert.equal(a.destination.address.socket_address.port_value, s.p.port);
  const h = a.request.http;
  assert.equal(h.method, 'GET');
  assert.equal(h.path, '/api/x?y=1');
  assert.equal(h.host, `127.0.0.1:${s.p.port}`);
  assert.equal(h.scheme, 'http');
  assert.equal(h.protocol, 'HTTP/1.1');
  assert.ok(h.id !== '');
  assert.equal(h.headers[':method'], 'GET');
  assert.equal(h.headers[':path'], '/api/x?y=1');
  assert.equal(h.headers[':authority'], `127.0.0.1:${s.p.port}`);
  assert.equal(h.headers['x-secret'], 's', 'a gRPC check gets every header by default');
  assert.equal(h.headers.host, undefined, 'Host is :authority');
  assert.equal(h.body ?? '', '');
  assert.ok(a.request.time.seconds > 0);
  assert.equal(stat(s.p, 'http.ingress.ext_authz.ok'), 1);
  assert.equal(stat(s.p, 'cluster.app.ext_authz.ok'), 1);
});

test('denied_response: its status, headers and body; without one, 403', async (t) => {
  const authz = await startAuthz(t, sample);
  const s = await setup(t, authz.port);
  const r = await request(s.p.port, '/');
  assert.equal(r.status, 401);
  assert.equal(r.body, 'denied by ext_authz');
  assert.equal(r.headers['x-ext-authz-check-result'], 'denied');
  assert.equal(r.headers['www-authenticate'], 'Bearer');
  const r2 = await request(s.p.port, '/', { headers: { 'x-ext-authz': 'plain-deny' } });
  assert.equal(r2.status, 403);
  assert.equal(s.app.requests.length, 0);
  assert.equal(stat(s.p, 'http.ingress.ext_authz.denied'), 2);
});

test('errors: a non-OK gRPC status, a timeout, an HTTP/1.1-only cluster → 403, or allowed with failure_mode_allow', async (t) => {
  const authz = await startAuthz(t, sample);
  const s = await setup(t, authz.port);
  assert.equal((await request(s.p.port, '/', { headers: { 'x-ext-authz': 'error' } })).status, 403);
  const t0 = performance.now();
  assert.equal((await request(s.p.port, '/', { headers: { 'x-ext-authz': 'hang' } })).status, 403);
  assert.ok(performance.now() - t0 >= 450, 'the grpc_service timeout (0.5 s) elapsed');
  assert.equal(stat(s.p, 'http.ingress.ext_authz.error'), 2);

  const open = await setup(t, authz.port, { filter: { failure_mode_allow: true } });
  assert.equal((await request(open.p.port, '/', { headers: { 'x-ext-authz': 'error' } })).status, 200);
  assert.equal(open.app.requests[0]!.headers['x-envoy-auth-failure-mode-allowed'], undefined, 'only with failure_mode_allow_header_add');
  assert.equal(stat(open.p, 'http.ingress.ext_authz.failure_mode_allowed'), 1);

  const h1 = await setup(t, authz.port, { http1Cluster: true });
  assert.equal((await request(h1.p.port, '/', { headers: { 'x-ext-authz': 'allow' } })).status, 403);
  assert.equal(stat(h1.p, 'http.ingress.ext_authz.error'), 1);
});

test('with_request_body: body (UTF-8) or raw_body (pack_as_bytes); context_extensions per route, merged', async (t) => {
  const authz = await startAuthz(t, sample);
  const s = await setup(t, authz.port, {
    filter: { with_request_body: { max_request_bytes: 64, allow_partial_message: true } },
    routes: [{
      match: { prefix: '/' }, route: { cluster: 'app' },
      typed_per_filter_config: { 'envoy.filters.http.ext_authz': { '@type': PER_ROUTE, check_settings: { context_extensions: { route: 'r', shared: 'route' } } } },
    }],
  });
  // A virtual-host level could be merged too; this route sets its own keys.
  const r = await request(s.p.port, '/', { method: 'POST', body: 'héllo', headers: { 'x-ext-authz': 'allow' } });
  assert.equal(r.status, 200);
  const a = authz.checks[0]!.attributes;
  assert.equal(a.request.http.body, 'héllo');
  assert.equal(a.request.http.headers['x-envoy-auth-partial-body'], 'false');
  assert.deepEqual(a.context_extensions, { route: 'r', shared: 'route' });
  const big = await request(s.p.port, '/', { method: 'POST', body: 'a'.repeat(200), headers: { 'x-ext-authz': 'allow' } });
  assert.equal(big.status, 200);
  assert.equal(authz.checks[1]!.attributes.request.http.body, 'a'.repeat(64));
  assert.equal(authz.checks[1]!.attributes.request.http.headers['x-envoy-auth-partial-body'], 'true');
  assert.equal(s.app.requests[1]!.body.length, 200);

  const raw = await setup(t, authz.port, { filter: { with_request_body: { max_request_bytes: 64, pack_as_bytes: true } } });
  assert.equal((await request(raw.p.port, '/', { method: 'POST', body: Buffer.from([0xff, 0, 1]), headers: { 'x-ext-authz': 'allow' } })).status, 200);
  const http = authz.checks[2]!.attributes.request.http;
  assert.deepEqual([...Buffer.from(http.raw_body)], [0xff, 0, 1]);
  assert.equal(http.body ?? '', '');
});

test('dynamic metadata: a first ext_authz writes it; a second one enabled by filter_enabled_metadata reads it, and gets it in metadata_context', async (t) => {
  const first = await startAuthz(t, sample);
  const second = await startAuthz(t, () => ({ status: { code: 0 } }));
  const grpcTo = (port: number): Obj => ({ envoy_grpc: { cluster_name: `authz${port}` }, timeout: '0.5s' });
  const app = await startUpstream();
  t.after(() => app.close());
  const filters = [
    { name: 'first', typed_config: { '@type': EXT_AUTHZ, grpc_service: grpcTo(first.port), stat_prefix: 'first' } },
    {
      name: 'second',
      typed_config: {
        '@type': EXT_AUTHZ, grpc_service: grpcTo(second.port), stat_prefix: 'second',
        metadata_context_namespaces: ['envoy.filters.http.ext_authz'],
        filter_enabled_metadata: { filter: 'envoy.filters.http.ext_authz', path: [{ key: 'user' }], value: { string_match: { exact: 'alice' } } },
      },
    },
    { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
  ];
  const p = await startProxy(simple({
    statPrefix: 'ingress',
    routes: [toCluster('/', 'app')],
    clusters: [cluster('app', [app.port]), cluster(`authz${first.port}`, [first.port], h2Options()), cluster(`authz${second.port}`, [second.port], h2Options())],
    extra: { http_filters: filters },
  }));
  t.after(() => p.close());
  assert.equal((await request(p.port, '/', { headers: { 'x-ext-authz': 'allow' } })).status, 200);
  assert.equal(second.checks.length, 1, 'enabled: the first check wrote user=alice');
  assert.deepEqual(second.checks[0]!.attributes.metadata_context.filter_metadata['envoy.filters.http.ext_authz'], { fields: { user: { stringValue: 'alice' } } });
  assert.equal(stat(p, 'http.ingress.ext_authz.first.ok'), 1);
  assert.equal(stat(p, 'http.ingress.ext_authz.second.ok'), 1);
});
