// envoy.filters.http.ext_authz with an http_service, through a real proxy and a real HTTP
// authorization server written here after Istio's ext-authz sample (allow when `x-ext-authz: allow`,
// otherwise 403 with a body and a header): the check request (method, prefixed path, default and
// allowed headers, headers_to_add), allowed_upstream_headers / allowed_client_headers(_on_success),
// x-envoy-auth-headers-to-remove, with_request_body (the server sees the body; too big → 413;
// allow_partial_message), failure_mode_allow on/off with the server down, hanging (timeout) or
// failing (5xx), status_on_error, per-route disable, filter_enabled_metadata, and the stats.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { cluster, deadPort, request, ROUTER_TYPE, simple, toCluster, type Obj } from '../helpers/bootstrap.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

type T = { after(fn: () => Promise<void> | void): void };

const EXT_AUTHZ = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';

/** Istio's sample: allow on `x-ext-authz: allow`, else 403 "denied by ext_authz ..." with x-ext-authz-check-result. */
function sampleAuthz(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
  if (req.headers['x-ext-authz'] === 'allow') {
    res.writeHead(200, { 'x-ext-authz-check-result': 'allowed', 'x-authz-user': 'alice', 'x-client-note': 'hello', 'x-envoy-auth-headers-to-remove': 'x-secret' });
    res.end();
    return;
  }
  if (req.headers['x-ext-authz'] === 'fail') { res.writeHead(503); res.end('broken'); return; }
  if (req.headers['x-ext-authz'] === 'hang') return; // never answers
  const text = `denied by ext_authz for not found header \`x-ext-authz: allow\` in the request (body ${body.length} bytes)`;
  res.writeHead(403, { 'x-ext-authz-check-result': 'denied', 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

interface Setup { p: RunningProxy; authz: Upstream; app: Upstream }

async function setup(t: T, o: { filter?: Obj; service?: Obj; routes?: Obj[]; authzPort?: number; preFilters?: Obj[] } = {}): Promise<Setup> {
  const authz = await startUpstream(sampleAuthz);
  t.after(() => authz.close());
  const app = await startUpstream();
  t.after(() => app.close());
  const p = await startProxy(simple({
    statPrefix: 'ingress',
    routes: o.routes ?? [toCluster('/', 'app')],
    clusters: [cluster('app', [app.port]), cluster('authz', [o.authzPort ?? authz.port])],
    extra: {
      http_filters: [
        ...(o.preFilters ?? []),
        {
          name: 'envoy.filters.http.ext_authz',
          typed_config: {
            '@type': EXT_AUTHZ,
            http_service: { server_uri: { uri: 'http://authz', cluster: 'authz', timeout: '0.5s' }, ...o.service },
            // As Istio's sample provider: includeRequestHeadersInCheck: [x-ext-authz].
            allowed_headers: { patterns: [{ exact: 'x-ext-authz' }] },
            ...o.filter,
          },
        },
        { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
      ],
    },
  }));
  t.after(() => p.close());
  return { p, authz, app };
}

const stat = (p: RunningProxy, name: string): number | undefined => p.server.stats.value(name);

test('allowed with x-ext-authz: allow; otherwise the server\'s 403, body and headers reach the client', async (t) => {
  const s = await setup(t);
  const ok = await request(s.p.port, '/a/b?q=1', { headers: { 'x-ext-authz': 'allow', authorization: 'Bearer x', 'x-other': '1' } });
  assert.equal(ok.status, 200);
  assert.equal(s.app.requests.length, 1);
  // The check replays the request: method, path, Host, Authorization (defaults) and the allowed x-ext-authz; not x-other.
  const check = s.authz.requests[0]!;
  assert.equal(check.method, 'GET');
  assert.equal(check.url, '/a/b?q=1');
  assert.equal(check.headers.host, `127.0.0.1:${s.p.port}`);
  assert.equal(check.headers.authorization, 'Bearer x');
  assert.equal(check.headers['x-other'], undefined);
  assert.equal(check.headers['x-ext-authz'], 'allow');
  assert.equal(check.headers['content-length'], '0');

  const denied = await request(s.p.port, '/a', { headers: { 'x-ext-authz': 'deny' } });
  assert.equal(denied.status, 403);
  assert.match(denied.body, /^denied by ext_authz for not found header/);
  assert.equal(denied.headers['x-ext-authz-check-result'], 'denied');
  assert.equal(denied.headers['content-type'], 'text/plain');
  assert.equal(s.app.requests.length, 1, 'a denied request never reaches the app');
  assert.equal(stat(s.p, 'http.ingress.ext_authz.ok'), 1);
  assert.equal(stat(s.p, 'http.ingress.ext_authz.denied'), 1);
  assert.equal(stat(s.p, 'cluster.app.ext_authz.ok'), 1);
  assert.equal(stat(s.p, 'cluster.app.ext_authz.denied'), 1);
});

test('allowed_headers, headers_to_add and path_prefix shape the check; upstream / client headers from the reply', async (t) => {
  const s = await setup(t, {
    filter: { allowed_headers: { patterns: [{ exact: 'x-ext-authz' }, { prefix: 'x-user-' }] } },
    service: {
      path_prefix: '/check',
      authorization_request: { headers_to_add: [{ key: 'x-added', value: 'by-proxy' }] },
      authorization_response: {
        allowed_upstream_headers: { patterns: [{ exact: 'x-authz-user' }] },
        allowed_client_headers_on_success: { patterns: [{ exact: 'x-client-note' }] },
      },
    },
  });
  const r = await request(s.p.port, '/x', { method: 'POST', body: 'abc', headers: { 'x-ext-authz': 'allow', 'x-user-id': '7', 'x-secret': 's', 'x-authz-user': 'mallory' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-client-note'], 'hello');
  const check = s.authz.requests[0]!;
  assert.equal(check.method, 'POST');
  assert.equal(check.url, '/check/x');
  assert.equal(check.headers['x-ext-authz'], 'allow');
  assert.equal(check.headers['x-user-id'], '7');
  assert.equal(check.headers['x-added'], 'by-proxy');
  assert.equal(check.headers['content-length'], '0', 'no body without with_request_body');
  assert.equal(check.body.length, 0);
  const up = s.app.requests[0]!;
  assert.equal(up.headers['x-authz-user'], 'alice', 'replaced by the authorization server\'s value');
  assert.equal(up.headers['x-secret'], undefined, 'removed by x-envoy-auth-headers-to-remove');
  assert.equal(up.body.toString(), 'abc');
});

test('with_request_body: the server sees the body; above max_request_bytes → 413 unless allow_partial_message', async (t) => {
  const s = await setup(t, { filter: { with_request_body: { max_request_bytes: 1000 } } });
  const body = 'x'.repeat(600);
  const r = await request(s.p.port, '/up', { method: 'POST', body, headers: { 'x-ext-authz': 'allow' } });
  assert.equal(r.status, 200);
  assert.equal(s.authz.requests[0]!.body.toString(), body);
  assert.equal(s.authz.requests[0]!.headers['content-length'], '600');
  assert.equal(s.app.requests[0]!.body.toString(), body, 'the app still gets the whole body');

  const big = await request(s.p.port, '/up', { method: 'POST', body: 'y'.repeat(5000), headers: { 'x-ext-authz': 'allow' } });
  assert.equal(big.status, 413);
  assert.equal(s.authz.requests.length, 1, 'no check for a body above the limit');
  assert.equal(stat(s.p, 'http.ingress.downstream_rq_too_large'), 1);

  const partial = await setup(t, { filter: { with_request_body: { max_request_bytes: 1000, allow_partial_message: true } } });
  const r2 = await request(partial.p.port, '/up', { method: 'POST', body: 'z'.repeat(5000), headers: { 'x-ext-authz': 'allow' } });
  assert.equal(r2.status, 200);
  assert.equal(partial.authz.requests[0]!.body.length, 1000, 'the first max_request_bytes');
  assert.equal(partial.app.requests[0]!.body.length, 5000);
});

test('errors: server down, hanging (timeout) or 5xx → status_on_error, or allowed with failure_mode_allow', async (t) => {
  const dead = await deadPort();
  const s = await setup(t, { authzPort: dead, filter: { status_on_error: { code: 'ServiceUnavailable' } } });
  const r = await request(s.p.port, '/', { headers: { 'x-ext-authz': 'allow' } });
  assert.equal(r.status, 503);
  assert.equal(s.app.requests.length, 0);
  assert.equal(stat(s.p, 'http.ingress.ext_authz.error'), 1);

  const open = await setup(t, { authzPort: dead, filter: { failure_mode_allow: true, failure_mode_allow_header_add: true } });
  const r2 = await request(open.p.port, '/');
  assert.equal(r2.status, 200);
  assert.equal(open.app.requests[0]!.headers['x-envoy-auth-failure-mode-allowed'], 'true');
  assert.equal(stat(open.p, 'http.ingress.ext_authz.failure_mode_allowed'), 1);
  assert.equal(stat(open.p, 'cluster.app.ext_authz.failure_mode_allowed'), 1);

  // A hanging server: the server_uri timeout (0.5 s here) is an error.
  const hang = await setup(t);
  const t0 = performance.now();
  const r3 = await request(hang.p.port, '/', { headers: { 'x-ext-authz': 'hang' } });
  const took = performance.now() - t0;
  assert.equal(r3.status, 403);
  assert.ok(took >= 450 && took < 5000, `answered after ${took} ms`);
  assert.equal(stat(hang.p, 'http.ingress.ext_authz.error'), 1);
  // A 5xx from the server is an error too (not a denial).
  const r4 = await request(hang.p.port, '/', { headers: { 'x-ext-authz': 'fail' } });
  assert.equal(r4.status, 403);
  assert.equal(r4.body, '');
  assert.equal(stat(hang.p, 'http.ingress.ext_authz.error'), 2);
  assert.equal(stat(hang.p, 'http.ingress.ext_authz.denied'), 0);
});

test('per-route: ExtAuthzPerRoute disabled skips the check on /public; no route → no check', async (t) => {
  const s = await setup(t, {
    routes: [
      toCluster('/public', 'app', {}, { typed_per_filter_config: { 'envoy.filters.http.ext_authz': { '@type': PER_ROUTE, disabled: true } } }),
      toCluster('/private', 'app'),
    ],
  });
  assert.equal((await request(s.p.port, '/public/x')).status, 200);
  assert.equal((await request(s.p.port, '/private/x')).status, 403);
  assert.equal((await request(s.p.port, '/nowhere')).status, 404);
  assert.equal(s.authz.requests.length, 1);
});

test('filter_enabled_metadata: a request without matching dynamic metadata is not checked (counted as disabled)', async (t) => {
  // Istio's CUSTOM action: RBAC shadow rules mark requests under istio_ext_authz_shadow_effective_policy_id.
  // (The metadata-present case is in ext-authz-grpc.test.ts, with metadata written by a first ext_authz.)
  const s = await setup(t, {
    filter: {
      filter_enabled_metadata: {
        filter: 'envoy.filters.http.rbac',
        path: [{ key: 'istio_ext_authz_shadow_effective_policy_id' }],
        value: { string_match: { prefix: 'istio-ext-authz' } },
      },
    },
  });
  assert.equal((await request(s.p.port, '/open')).status, 200);
  assert.equal(s.authz.requests.length, 0);
  assert.equal(stat(s.p, 'http.ingress.ext_authz.disabled'), 1);
  assert.equal(stat(s.p, 'http.ingress.ext_authz.ok'), 0);
});

test('deny_at_disable answers status_on_error when the filter is off (filter_enabled 0%)', async (t) => {
  const s = await setup(t, { filter: { filter_enabled: { default_value: { numerator: 0 } }, deny_at_disable: { default_value: true } } });
  const r = await request(s.p.port, '/');
  assert.equal(r.status, 403);
  assert.equal(s.authz.requests.length, 0);
  assert.equal(stat(s.p, 'http.ingress.ext_authz.disabled'), 1);
});

test('the client going away while the check runs cancels the check call', async (t) => {
  const s = await setup(t, { service: { server_uri: { uri: 'http://authz', cluster: 'authz', timeout: '20s' } } });
  const sock = net.connect(s.p.port, '127.0.0.1');
  t.after(() => { sock.destroy(); });
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write('GET / HTTP/1.1\r\nhost: x\r\nx-ext-authz: hang\r\n\r\n');
  // Wait until the authz server has the (hanging) check, then drop the client.
  const seen = await new Promise<http.IncomingMessage>((r) => s.authz.server.once('request', r));
  const closed = new Promise<void>((r) => seen.socket.once('close', () => r()));
  // A reset (an HTTP/1.1 client that only half-closes still waits for its answer).
  sock.resetAndDestroy();
  const t0 = performance.now();
  await closed; // HTTP/1.1: the check's connection is closed when the call is cancelled
  assert.ok(performance.now() - t0 < 5000, 'closed by the cancellation, not by the 20 s timeout');
  assert.equal(s.app.requests.length, 0);
});

test('HTTP/2 downstream (h2c): with_request_body buffers the body on a stream, 413 above the limit, other streams unaffected', async (t) => {
  const s = await setup(t, { filter: { with_request_body: { max_request_bytes: 100_000 } } });
  const client = http2.connect(`http://127.0.0.1:${s.p.port}`);
  t.after(() => { client.close(); });
  const send = (body: Buffer): Promise<{ status: number; body: string }> => new Promise((resolve, reject) => {
    const req = client.request({ ':method': 'POST', ':path': '/h2', 'x-ext-authz': 'allow' });
    let status = 0;
    const chunks: Buffer[] = [];
    req.on('response', (h) => { status = Number(h[':status']); });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
    req.on('error', reject);
    req.end(body);
  });
  // Above the initial stream window (64 KiB): the proxy must keep reading while the filter holds the request.
  const body = Buffer.alloc(90_000, 7);
  const [a, b] = await Promise.all([send(body), send(Buffer.from('small'))]);
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  const sizes = s.authz.requests.map((r) => r.body.length).sort((x, y) => x - y);
  assert.deepEqual(sizes, [5, 90_000]);
  assert.ok(s.app.requests.some((r) => r.body.length === 90_000));
  const tooBig = await send(Buffer.alloc(150_000, 1));
  assert.equal(tooBig.status, 413);
  assert.equal(s.authz.requests.length, 2);
});
