// AuthorizationPolicies translated by the control plane (src/control/translate/security/authz.ts)
// and enforced by a real proxy: an mTLS listener (client certificates with SPIFFE URI SANs from a
// test CA) in front of an upstream, curl as the client. Allow by principal, deny by path and by
// method (403 `RBAC: access denied`, the upstream never called), namespace-based TCP deny that
// closes the connection; and a `when` on a JWT claim evaluated by the proxy's own RBAC engine
// against jwt_authn dynamic metadata.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { makePki, type LeafFiles, type TestPki } from '../helpers/certs.js';
import { startProxy } from '../helpers/proxy.js';
import { bootstrap, cluster, hcm, listener, ROUTER_TYPE, toCluster, type Obj } from '../helpers/bootstrap.js';
import { startUpstream } from '../helpers/upstream.js';
import { curl } from '../helpers/tls-clients.js';
import { applyYaml, meshOf } from '../helpers/istio-translate.js';
import { sidecarProxy } from '../helpers/bookinfo-mesh.js';
import { MeshIndex } from '../../src/control/translate/mesh-index.js';
import { rbacHttpFilters, rbacNetworkFilters } from '../../src/control/translate/security/authz.js';
import { DEFAULT_MESH_CONFIG, type ConfigResource } from '../../src/control/model.js';
import type { SecurityContext } from '../../src/control/translate/security/index.js';
import { decodeBootstrap } from '../../src/envoy/bootstrap.js';
import type { HttpConnectionManagerConfig, RbacFilterConfig } from '../../src/proxy/config/types.js';
import { RbacConnection, RbacEngine, type RbacSubject } from '../../src/proxy/rbac/engine.js';
import { ipBytes } from '../../src/proxy/listener/cidr.js';

const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

let pki: TestPki;
let server: LeafFiles;
let productpage: LeafFiles;
let sleepOther: LeafFiles;

before(async () => {
  pki = await makePki();
  server = await pki.issue('reviews', { sans: ['DNS:reviews.default.svc.cluster.local', 'URI:spiffe://cluster.local/ns/default/sa/reviews'] });
  productpage = await pki.issue('productpage', { sans: ['URI:spiffe://cluster.local/ns/default/sa/bookinfo-productpage'] });
  sleepOther = await pki.issue('sleep', { sans: ['URI:spiffe://cluster.local/ns/other/sa/sleep'] });
});
after(() => pki.close());

function ctxFor(yaml: string, extra: readonly ConfigResource[] = []): SecurityContext {
  const r = applyYaml(yaml);
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  return { index: new MeshIndex(meshOf([...r.configs, ...extra]), 'cluster.local'), proxy: sidecarProxy('reviews'), mesh: DEFAULT_MESH_CONFIG, port: 9080 };
}

const mtls = (): Obj => ({
  name: 'envoy.transport_sockets.tls',
  typed_config: {
    '@type': DOWNSTREAM_TLS,
    require_client_certificate: true,
    common_tls_context: {
      tls_certificates: [{ certificate_chain: { filename: server.cert }, private_key: { filename: server.key } }],
      validation_context: { trusted_ca: { filename: pki.cert } },
    },
  },
});

const POLICIES = [
  'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: reviews-viewer, namespace: default }\nspec:',
  '  selector: { matchLabels: { app: reviews } }',
  '  action: ALLOW',
  '  rules:',
  '  - from: [{ source: { principals: ["cluster.local/ns/default/sa/bookinfo-productpage"] } }]',
  '    to: [{ operation: { methods: ["GET", "DELETE"] } }]',
  '---',
  'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: deny-admin, namespace: istio-system }\nspec:',
  '  action: DENY',
  '  rules:',
  '  - to: [{ operation: { paths: ["/admin/*"] } }, { operation: { methods: ["DELETE"] } }]',
].join('\n');

async function call(port: number, client: LeafFiles, method: string, path: string): Promise<{ status: number; body: string }> {
  const r = await curl(['-k', '--cert', client.cert, '--key', client.key, '-X', method, '-o', '-', '-w', '\n%{http_code}', `https://127.0.0.1:${port}${path}`]);
  assert.equal(r.code, 0, r.stderr);
  const nl = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, nl) };
}

test('HTTP: allow by SPIFFE principal and method, deny by path and by method (mesh-wide DENY from the root namespace)', async (t) => {
  const up = await startUpstream((_req, res) => { res.writeHead(200, { 'content-length': 2 }); res.end('ok'); });
  t.after(() => up.close());
  const filters = rbacHttpFilters(ctxFor(POLICIES)) as Obj[];
  assert.equal(filters.length, 2, 'a DENY and an ALLOW filter');
  const conn = hcm({ statPrefix: 'inbound', routes: [toCluster('/', 'app')] });
  (conn.typed_config as Obj).http_filters = [...filters, { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }];
  const p = await startProxy(bootstrap({ listeners: [listener({ chains: [{ filters: [conn], transport_socket: mtls() }] })], clusters: [cluster('app', [up.port])] }));
  t.after(() => p.close());

  assert.deepEqual(await call(p.port, productpage, 'GET', '/reviews/1'), { status: 200, body: 'ok' });
  const seen = up.requests.length;
  assert.deepEqual(await call(p.port, productpage, 'POST', '/reviews/1'), { status: 403, body: 'RBAC: access denied' }, 'method not allowed');
  assert.deepEqual(await call(p.port, productpage, 'GET', '/admin/users'), { status: 403, body: 'RBAC: access denied' }, 'denied path');
  assert.deepEqual(await call(p.port, productpage, 'DELETE', '/reviews/1'), { status: 403, body: 'RBAC: access denied' }, 'denied method beats the ALLOW');
  assert.deepEqual(await call(p.port, sleepOther, 'GET', '/reviews/1'), { status: 403, body: 'RBAC: access denied' }, 'other principal');
  assert.equal(up.requests.length, seen, 'no denied request reached the upstream');
  assert.equal(p.server.stats.value('http.inbound.rbac.denied'), 4);
});

test('TCP: a namespace-based DENY closes the connection; an allowed peer is proxied', async (t) => {
  const echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => echo.close(() => r())));
  const echoPort = (echo.address() as net.AddressInfo).port;
  const filters = rbacNetworkFilters(ctxFor([
    'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: deny-other }\nspec:',
    '  action: DENY',
    '  rules:',
    '  - from: [{ source: { namespaces: ["other"] } }]',
    '    to: [{ operation: { methods: ["GET"] } }]', // HTTP-only: dropped on TCP (the DENY gets stricter)
  ].join('\n'))) as Obj[];
  const tcp = { name: 'tcp', typed_config: { '@type': TCP_PROXY, stat_prefix: 'tcp', cluster: 'echo' } };
  const p = await startProxy(bootstrap({ listeners: [listener({ chains: [{ filters: [...filters, tcp], transport_socket: mtls() }] })], clusters: [cluster('echo', [echoPort])] }));
  t.after(() => p.close());

  const exchange = (client: LeafFiles): Promise<{ data: string; closed: boolean }> => new Promise((resolve) => {
    let data = '';
    const s = tls.connect({ host: '127.0.0.1', port: p.port, cert: readFileSync(client.cert), key: readFileSync(client.key), rejectUnauthorized: false }, () => s.write('ping'));
    s.on('data', (d: Buffer) => { data += d.toString(); if (data === 'ping') { s.end(); } });
    s.on('error', () => { /* a reset counts as closed */ });
    s.on('close', () => resolve({ data, closed: true }));
  });
  assert.deepEqual(await exchange(productpage), { data: 'ping', closed: true });
  for (let i = 0; i < 3; i++) assert.deepEqual(await exchange(sleepOther), { data: '', closed: true }, `attempt ${i}: closed without data`);
  assert.equal(p.server.stats.value('tcp.rbac.denied'), 3);
  assert.equal(p.server.stats.value('tcp.rbac.allowed'), 1);
});

test('when on a JWT claim: the translated policy, decoded by the proxy, matches jwt_authn payloads in dynamic metadata', () => {
  const ra: ConfigResource = {
    apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication',
    metadata: { name: 'jwt', namespace: 'default', labels: {}, annotations: {}, resourceVersion: '', creationTimestamp: '', generation: 1 },
    spec: { jwtRules: [{ issuer: 'testing@secure.istio.io' }] },
  };
  const filters = rbacHttpFilters(ctxFor([
    'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: require-group }\nspec:',
    '  rules:',
    '  - from: [{ source: { requestPrincipals: ["testing@secure.istio.io/*"] } }]',
    '    when:',
    '    - key: request.auth.claims[groups]',
    '      values: ["group1"]',
  ].join('\n'), [ra])) as Obj[];
  const b = decodeBootstrap({ static_resources: { listeners: [{ name: 'l', address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, filter_chains: [{ filters: [{ name: 'hcm', typed_config: { ...(hcm({}).typed_config as Obj), http_filters: [...filters, { name: 'router', typed_config: { '@type': ROUTER_TYPE } }] } }] }] }] } }, { baseDir: '/' });
  assert.ok(b.ok, b.ok ? '' : b.errors.join('\n'));
  const f = (b.value.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerConfig).httpFilters[0] as RbacFilterConfig;
  const engine = new RbacEngine(f.config.rules!);
  const conn = { localPort: 9080, serverName: '', tls: true, remoteIp: () => ipBytes('127.0.0.1'), localIp: () => ipBytes('127.0.0.1'), peerNames: () => null } as unknown as RbacConnection;
  const subject = (md: Record<string, Record<string, unknown>> | null): RbacSubject => ({
    conn, request: { authority: 'reviews', path: '/', method: 'GET', headers: [] }, pathOnly: () => '/', remoteIp: () => conn.remoteIp(), dynamicMetadata: () => md,
  });
  const jwt = (payload: object): Record<string, Record<string, unknown>> => ({ 'envoy.filters.http.jwt_authn': { 'testing@secure.istio.io': payload } });
  const allowed = (md: Record<string, Record<string, unknown>> | null): boolean => engine.allows(engine.match(subject(md)));
  assert.equal(allowed(jwt({ iss: 'testing@secure.istio.io', sub: 'alice', groups: ['group1', 'group2'] })), true, 'group in a list claim');
  assert.equal(allowed(jwt({ iss: 'testing@secure.istio.io', sub: 'alice', groups: 'group1' })), true, 'group as a string claim');
  assert.equal(allowed(jwt({ iss: 'testing@secure.istio.io', sub: 'alice', groups: ['group2'] })), false, 'other group');
  assert.equal(allowed(jwt({ iss: 'testing@secure.istio.io', groups: ['group1'] })), false, 'no subject: no request principal');
  assert.equal(allowed(null), false, 'no token');
  assert.equal(allowed({ 'envoy.filters.http.jwt_authn': { 'other-issuer': { sub: 'alice', groups: ['group1'] } } }), false, 'another issuer');
});

test("shadow rules write Envoy's dynamic metadata, which a later RBAC metadata matcher reads (how CUSTOM marks requests)", async (t) => {
  const up = await startUpstream((_req, res) => { res.writeHead(200, { 'content-length': 2 }); res.end('ok'); });
  t.after(() => up.close());
  const RBAC = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
  const marker = {
    name: 'envoy.filters.http.rbac',
    typed_config: {
      '@type': RBAC, shadow_rules_stat_prefix: 'istio_ext_authz_',
      shadow_rules: { action: 'DENY', policies: { 'istio-ext-authz-ns[default]-policy[ext]-rule[0]': { permissions: [{ url_path: { path: { prefix: '/ext' } } }], principals: [{ any: true }] } } },
    },
  };
  const md = (key: string, value: Obj): Obj => ({ metadata: { filter: 'envoy.filters.http.rbac', path: [{ key }], value } });
  const enforcer = {
    name: 'enforce',
    typed_config: {
      '@type': RBAC,
      rules: { action: 'DENY', policies: {
        marked: { permissions: [{ any: true }], principals: [md('istio_ext_authz_shadow_effective_policy_id', { string_match: { prefix: 'istio-ext-authz' } })] },
        // The engine result is written for every request the shadow rules see: "denied" only for the marked ones.
        'result-consistent': { permissions: [{ not_rule: { url_path: { path: { prefix: '/ext' } } } }], principals: [md('istio_ext_authz_shadow_engine_result', { string_match: { exact: 'denied' } })] },
      } },
    },
  };
  const conn = hcm({ statPrefix: 'in', routes: [toCluster('/', 'app')] });
  (conn.typed_config as Obj).http_filters = [marker, enforcer, { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }];
  const p = await startProxy(bootstrap({ listeners: [listener({ filter: conn })], clusters: [cluster('app', [up.port])] }));
  t.after(() => p.close());
  const get = async (path: string): Promise<number> => {
    const r = await curl(['-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${p.port}${path}`]);
    return Number(r.stdout);
  };
  assert.equal(await get('/ext/check'), 403);
  assert.equal(await get('/other'), 200);
  assert.equal(p.server.stats.value('http.in.rbac.istio_ext_authz_shadow_denied'), 1);
  assert.equal(p.server.stats.value('http.in.rbac.istio_ext_authz_shadow_allowed'), 1);
  assert.equal(p.server.stats.value('http.in.rbac.denied'), 1);
});
