// envoy.filters.http.rbac through a real proxy with curl (and node:http2 for h2c): ALLOW by path,
// method and header; DENY with not_rule; source_ip / remote_ip CIDRs; shadow rules that count
// without enforcing; per-route RBACPerRoute and FilterConfig.disabled; Envoy's 403 body, response
// details in the access log, and stats with rules_stat_prefix / shadow_rules_stat_prefix.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { cluster, FILE_LOG_TYPE, ROUTER_TYPE, simple, toCluster, waitForLines, type Obj } from '../helpers/bootstrap.js';
import { startUpstream } from '../helpers/upstream.js';
import { curl } from '../helpers/tls-clients.js';

type T = { after(fn: () => Promise<void> | void): void };

const RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const RBAC_PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute';
const FILTER_CONFIG = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';

interface Setup { p: RunningProxy; upstreamCalls: () => number; log: string }

async function setup(t: T, rbac: Obj, o: { routes?: Obj[]; hcmExtra?: Obj } = {}): Promise<Setup> {
  const up = await startUpstream((_req, res) => { res.writeHead(200, { 'content-length': 2 }); res.end('ok'); });
  t.after(() => up.close());
  const dir = mkdtempSync(join(tmpdir(), 'weft-rbac-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'access.log');
  const p = await startProxy(simple({
    statPrefix: 'ingress',
    routes: o.routes ?? [toCluster('/', 'up')],
    clusters: [cluster('up', [up.port])],
    extra: {
      http_filters: [
        { name: 'envoy.filters.http.rbac', typed_config: { '@type': RBAC_TYPE, ...rbac } },
        { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
      ],
      access_log: [{ name: 'f', typed_config: { '@type': FILE_LOG_TYPE, path: log, log_format: { text_format: '%RESPONSE_CODE% [%RESPONSE_FLAGS%] %RESPONSE_CODE_DETAILS%\n' } } }],
      ...o.hcmExtra,
    },
  }));
  t.after(() => p.close());
  return { p, upstreamCalls: () => up.requests.length, log };
}

interface Got { status: number; body: string }

/** One request with curl: `extra` are curl arguments (-X POST, -H ..., --interface ...). */
async function get(port: number, path: string, ...extra: string[]): Promise<Got> {
  const r = await curl(['-o', '-', '-w', '\n%{http_code}', ...extra, `http://127.0.0.1:${port}${path}`]);
  assert.equal(r.code, 0, r.stderr);
  const nl = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, nl) };
}

const stat = (p: RunningProxy, name: string): number | undefined => p.server.stats.value(name);
const any = [{ any: true }];

test('ALLOW by path prefix and method, or by header; anything else gets 403 "RBAC: access denied"', async (t) => {
  const s = await setup(t, {
    rules: {
      action: 'ALLOW',
      policies: {
        'public-read': {
          permissions: [{ and_rules: { rules: [
            { url_path: { path: { prefix: '/public/' } } },
            { header: { name: ':method', string_match: { exact: 'GET' } } },
          ] } }],
          principals: any,
        },
        admins: { permissions: any, principals: [{ header: { name: 'x-role', string_match: { exact: 'admin' } } }] },
      },
    },
  });
  assert.deepEqual(await get(s.p.port, '/public/a?x=/private'), { status: 200, body: 'ok' });
  assert.deepEqual(await get(s.p.port, '/public/a', '-X', 'POST'), { status: 403, body: 'RBAC: access denied' });
  // url_path ignores the query string: /private?/public/ is not under /public/.
  assert.deepEqual(await get(s.p.port, '/private?p=/public/'), { status: 403, body: 'RBAC: access denied' });
  assert.deepEqual(await get(s.p.port, '/private', '-X', 'DELETE', '-H', 'x-role: admin'), { status: 200, body: 'ok' });
  assert.equal(s.upstreamCalls(), 2, 'denied requests never reach the upstream');
  assert.equal(stat(s.p, 'http.ingress.rbac.allowed'), 2);
  assert.equal(stat(s.p, 'http.ingress.rbac.denied'), 2);
  const lines = await waitForLines(s.log, 4);
  assert.deepEqual(lines, [
    '200 [-] via_upstream',
    '403 [-] rbac_access_denied_matched_policy[none]',
    '403 [-] rbac_access_denied_matched_policy[none]',
    '200 [-] via_upstream',
  ]);
});

test('DENY with not_rule: non-GET requests are denied, the matched policy is named in the details', async (t) => {
  const s = await setup(t, {
    rules_stat_prefix: 'enforce.',
    rules: {
      action: 'DENY',
      policies: {
        'only get': { permissions: [{ not_rule: { header: { name: ':method', string_match: { exact: 'GET' } } } }], principals: any },
        'z-secret': { permissions: [{ url_path: { path: { exact: '/secret' } } }], principals: any },
      },
    },
  });
  assert.equal((await get(s.p.port, '/x')).status, 200);
  assert.deepEqual(await get(s.p.port, '/x', '-X', 'PUT'), { status: 403, body: 'RBAC: access denied' });
  assert.equal((await get(s.p.port, '/secret')).status, 403);
  assert.equal(stat(s.p, 'http.ingress.rbac.enforce.allowed'), 1);
  assert.equal(stat(s.p, 'http.ingress.rbac.enforce.denied'), 2);
  assert.equal(stat(s.p, 'http.ingress.rbac.denied'), undefined, 'rules_stat_prefix goes inside the rbac. namespace');
  const lines = await waitForLines(s.log, 3);
  // Whitespace in a policy name becomes '_' in the details, as Envoy writes them.
  assert.deepEqual(lines.slice(1), ['403 [-] rbac_access_denied_matched_policy[only_get]', '403 [-] rbac_access_denied_matched_policy[z-secret]']);
});

test('source_ip and remote_ip: CIDR principals on the peer address and on the x-forwarded-for client', async (t) => {
  const s = await setup(t, {
    rules: {
      action: 'ALLOW',
      policies: {
        loopback2: { permissions: any, principals: [{ source_ip: { address_prefix: '127.0.0.2', prefix_len: 32 } }] },
        office: { permissions: any, principals: [{ remote_ip: { address_prefix: '10.1.0.0', prefix_len: 16 } }] },
      },
    },
  });
  assert.equal((await get(s.p.port, '/', '--interface', '127.0.0.2')).status, 200);
  assert.equal((await get(s.p.port, '/', '--interface', '127.0.0.1')).status, 403);
  assert.equal((await get(s.p.port, '/', '-H', 'x-forwarded-for: 10.1.2.3')).status, 200);
  assert.equal((await get(s.p.port, '/', '-H', 'x-forwarded-for: 10.2.2.3')).status, 403);
});

test('shadow rules count shadow_allowed / shadow_denied and never deny', async (t) => {
  const s = await setup(t, {
    shadow_rules_stat_prefix: 'audit_',
    shadow_rules: { action: 'DENY', policies: { 'no-admin': { permissions: [{ url_path: { path: { prefix: '/admin' } } }], principals: any } } },
  });
  assert.equal((await get(s.p.port, '/admin/x')).status, 200);
  assert.equal((await get(s.p.port, '/admin/y')).status, 200);
  assert.equal((await get(s.p.port, '/home')).status, 200);
  assert.equal(stat(s.p, 'http.ingress.rbac.audit_shadow_denied'), 2);
  assert.equal(stat(s.p, 'http.ingress.rbac.audit_shadow_allowed'), 1);
  assert.equal(stat(s.p, 'http.ingress.rbac.allowed') ?? 0, 0, 'no enforced rules: nothing counted as allowed');
  assert.equal(s.upstreamCalls(), 3);
});

test('per route: FilterConfig disabled and RBACPerRoute without rbac turn it off; RBACPerRoute rbac replaces the rules', async (t) => {
  const s = await setup(t, { rules: { action: 'ALLOW', policies: {} } }, {
    routes: [
      toCluster('/open', 'up', {}, { typed_per_filter_config: { 'envoy.filters.http.rbac': { '@type': FILTER_CONFIG, disabled: true } } }),
      toCluster('/off', 'up', {}, { typed_per_filter_config: { 'envoy.filters.http.rbac': { '@type': RBAC_PER_ROUTE } } }),
      toCluster('/custom', 'up', {}, {
        typed_per_filter_config: {
          'envoy.filters.http.rbac': {
            '@type': RBAC_PER_ROUTE,
            rbac: { rules: { action: 'DENY', policies: { 'no-post': { permissions: [{ header: { name: ':method', string_match: { exact: 'POST' } } }], principals: any } } } },
          },
        },
      }),
      toCluster('/', 'up'),
    ],
  });
  assert.equal((await get(s.p.port, '/open')).status, 200);
  assert.equal((await get(s.p.port, '/off')).status, 200);
  assert.equal((await get(s.p.port, '/custom')).status, 200);
  assert.equal((await get(s.p.port, '/custom', '-X', 'POST')).status, 403);
  assert.equal((await get(s.p.port, '/other')).status, 403, 'empty ALLOW rules deny everything else');
  assert.equal(stat(s.p, 'http.ingress.rbac.allowed'), 1, 'only /custom GET was evaluated and allowed');
  assert.equal(stat(s.p, 'http.ingress.rbac.denied'), 2);
  const lines = await waitForLines(s.log, 5);
  assert.equal(lines[3], '403 [-] rbac_access_denied_matched_policy[no-post]');
});

test('HTTP/2 (h2c): each stream is evaluated, denied streams get 403 (gRPC: PERMISSION_DENIED) on a connection that stays usable', async (t) => {
  const s = await setup(t, {
    rules: { action: 'DENY', policies: { block: { permissions: [{ url_path: { path: { exact: '/blocked' } } }], principals: [{ source_ip: { address_prefix: '127.0.0.0', prefix_len: 8 } }] } } },
  });
  const session = http2.connect(`http://127.0.0.1:${s.p.port}`);
  t.after(() => session.close());
  const req = (path: string): Promise<{ status: number; body: string }> => new Promise((resolve, reject) => {
    const r = session.request({ ':path': path });
    let status = 0;
    let body = '';
    r.on('response', (h) => { status = Number(h[':status']); });
    r.on('data', (c: Buffer) => { body += c.toString(); });
    r.on('end', () => resolve({ status, body }));
    r.on('error', reject);
  });
  assert.deepEqual(await req('/blocked'), { status: 403, body: 'RBAC: access denied' });
  assert.deepEqual(await req('/fine'), { status: 200, body: 'ok' });
  assert.deepEqual(await req('/blocked?q=1'), { status: 403, body: 'RBAC: access denied' });
  // A gRPC request is denied with a trailers-only PERMISSION_DENIED (7), as Envoy maps 403.
  const grpcHead = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
    const r = session.request({ ':path': '/blocked', ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' });
    r.on('response', (h) => { resolve(h); r.close(); });
    r.on('error', reject);
    r.end();
  });
  assert.equal(grpcHead[':status'], 200);
  assert.equal(grpcHead['grpc-status'], '7');
  assert.equal(grpcHead['grpc-message'], 'RBAC: access denied');
  assert.equal(stat(s.p, 'http.ingress.rbac.denied'), 3);
  assert.equal(stat(s.p, 'http.ingress.rbac.allowed'), 1);
});

test('LOG action never denies and counts logged / not_logged', async (t) => {
  const s = await setup(t, { rules: { action: 'LOG', policies: { api: { permissions: [{ url_path: { path: { prefix: '/api' } } }], principals: any } } } });
  assert.equal((await get(s.p.port, '/api/1')).status, 200);
  assert.equal((await get(s.p.port, '/web')).status, 200);
  assert.equal(stat(s.p, 'http.ingress.rbac.logged'), 1);
  assert.equal(stat(s.p, 'http.ingress.rbac.not_logged'), 1);
  assert.equal(stat(s.p, 'http.ingress.rbac.allowed'), 2);
});
