// envoy.filters.network.rbac through a real proxy: a denied TCP connection in front of tcp_proxy
// is closed before any upstream connection, allowed ones flow; shadow rules count only; delay_deny
// holds a denied connection before closing it; in front of an HTTP connection manager a denied
// connection gets no HTTP response at all. With mTLS (test PKI): principal_name from the client
// certificate's URI SAN or subject, for the network filter and for envoy.filters.http.rbac over
// HTTP/1.1 and HTTP/2 (curl), and requested_server_name.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { makePki, type LeafFiles, type TestPki } from '../helpers/certs.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { bootstrap, cluster, direct, hcm, listener, ROUTER_TYPE, type Obj } from '../helpers/bootstrap.js';
import { startRawServer } from '../helpers/upstream.js';
import { curl } from '../helpers/tls-clients.js';
import { waitUntil } from '../helpers/adversarial.js';

const NET_RBAC = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';
const HTTP_RBAC = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

const rbacFilter = (cfg: Obj): Obj => ({ name: 'envoy.filters.network.rbac', typed_config: { '@type': NET_RBAC, ...cfg } });
const tcpProxy = (clusterName: string): Obj => ({ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: 'tcp', cluster: clusterName } });
const any = [{ any: true }];
const certOf = (f: LeafFiles): Obj => ({ certificate_chain: { filename: f.cert }, private_key: { filename: f.key } });

let pki: TestPki;
let server: LeafFiles;
let clientGood: LeafFiles;
let clientOther: LeafFiles;
let clientLegacy: LeafFiles;

before(async () => {
  pki = await makePki();
  server = await pki.issue('server', { sans: ['DNS:svc.example.com', 'DNS:localhost'] });
  clientGood = await pki.issue('client-good', { sans: ['URI:spiffe://weft.test/ns/default/sa/good'] });
  clientOther = await pki.issue('client-other', { sans: ['URI:spiffe://weft.test/ns/default/sa/other'] });
  clientLegacy = await pki.issue('client-legacy', { cn: 'legacy-client' });
});
after(() => pki.close());

/** An mTLS transport socket requiring a client certificate from the test CA. */
function mtls(alpn: string[] = []): Obj {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': DOWNSTREAM_TLS,
      require_client_certificate: true,
      common_tls_context: { tls_certificates: [certOf(server)], validation_context: { trusted_ca: { filename: pki.cert } }, alpn_protocols: alpn },
    },
  };
}

interface Echo { port: number; connections: () => number; close(): Promise<void> }

async function echoUpstream(t: { after(fn: () => Promise<void> | void): void }): Promise<Echo> {
  let n = 0;
  const srv = await startRawServer((s) => { n++; s.pipe(s); });
  t.after(() => srv.close());
  return { port: srv.port, connections: () => n, close: () => srv.close() };
}

interface Exchange { data: string; closedMs: number; error: string | null }

/** Connects (optionally from `localAddress`), writes `send`, collects until the proxy or `endAfter` closes. */
function exchange(port: number, send: string, o: { localAddress?: string; endAfter?: string } = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    const start = performance.now();
    let data = '';
    let error: string | null = null;
    const s = net.connect({ host: '127.0.0.1', port, localAddress: o.localAddress }, () => s.write(send));
    s.on('data', (d: Buffer) => {
      data += d.toString();
      if (o.endAfter !== undefined && data.includes(o.endAfter)) s.end();
    });
    s.on('error', (e) => { error = e.message; });
    s.on('close', () => resolve({ data, closedMs: performance.now() - start, error }));
  });
}

function tlsExchange(port: number, send: string, o: { cert: LeafFiles; servername?: string; endAfter: string }): Promise<Exchange> {
  return new Promise((resolve) => {
    const start = performance.now();
    let data = '';
    let error: string | null = null;
    const s = tls.connect({
      host: '127.0.0.1', port, servername: o.servername ?? 'svc.example.com', ca: readFileSync(pki.cert),
      cert: readFileSync(o.cert.cert), key: readFileSync(o.cert.key),
    }, () => s.write(send));
    s.on('data', (d: Buffer) => {
      data += d.toString();
      if (data.includes(o.endAfter)) s.end();
    });
    s.on('error', (e) => { error = e.message; });
    s.on('close', () => resolve({ data, closedMs: performance.now() - start, error }));
  });
}

const stat = (p: RunningProxy, name: string): number | undefined => p.server.stats.value(name);

test('tcp_proxy: a denied connection is closed before any upstream connection, an allowed one flows', async (t) => {
  const up = await echoUpstream(t);
  const p = await startProxy(bootstrap({
    listeners: [listener({
      chains: [{
        filters: [
          rbacFilter({
            stat_prefix: 'tcp.',
            rules: { action: 'ALLOW', policies: { 'only-127-0-0-2': { permissions: any, principals: [{ source_ip: { address_prefix: '127.0.0.2', prefix_len: 32 } }] } } },
            shadow_rules: { action: 'DENY', policies: { port: { permissions: [{ destination_port: 1 }], principals: any } } },
            shadow_rules_stat_prefix: 'trial_',
          }),
          tcpProxy('echo'),
        ],
      }],
    })],
    clusters: [cluster('echo', [up.port])],
  }));
  t.after(() => p.close());
  const ok = await exchange(p.port, 'hello', { localAddress: '127.0.0.2', endAfter: 'hello' });
  assert.equal(ok.data, 'hello');
  const denied = await exchange(p.port, 'hello', { localAddress: '127.0.0.1' });
  assert.equal(denied.data, '');
  assert.equal(up.connections(), 1, 'the denied connection never reached the upstream');
  assert.equal(stat(p, 'tcp.rbac.allowed'), 1);
  assert.equal(stat(p, 'tcp.rbac.denied'), 1);
  assert.equal(stat(p, 'tcp.rbac.trial_shadow_allowed'), 2, 'the shadow DENY policy on port 1 never matches');
  assert.equal(stat(p, 'tcp.rbac.trial_shadow_denied') ?? 0, 0);
  await waitUntil(() => stat(p, 'listener.127.0.0.1_0.downstream_cx_active') === 0, 5000, 'the denied connection is closed and counted');
});

test('delay_deny holds a denied connection (unread) before closing it', async (t) => {
  const up = await echoUpstream(t);
  const p = await startProxy(bootstrap({
    listeners: [listener({
      chains: [{ filters: [rbacFilter({ stat_prefix: 'slow', delay_deny: '0.4s', rules: { action: 'DENY', policies: { all: { permissions: any, principals: any } } } }), tcpProxy('echo')] }],
    })],
    clusters: [cluster('echo', [up.port])],
  }));
  t.after(() => p.close());
  const denied = await exchange(p.port, 'hi');
  assert.equal(denied.data, '');
  assert.ok(denied.closedMs >= 350, `closed after ${denied.closedMs.toFixed(0)} ms, expected the 400 ms delay`);
  assert.equal(stat(p, 'slow.rbac.denied'), 1);
  assert.equal(up.connections(), 0);
});

test('before an HTTP connection manager: a denied connection gets no HTTP response at all', async (t) => {
  const p = await startProxy(bootstrap({
    listeners: [listener({
      chains: [{
        filters: [
          rbacFilter({ stat_prefix: 'front', rules: { action: 'DENY', policies: { lo2: { permissions: any, principals: [{ direct_remote_ip: { address_prefix: '127.0.0.2' , prefix_len: 32 } }] } } } }),
          hcm({ routes: [direct({ prefix: '/' }, 'hello')] }),
        ],
      }],
    })],
  }));
  t.after(() => p.close());
  const ok = await curl(['-o', '-', `http://127.0.0.1:${p.port}/`]);
  assert.equal(ok.stdout, 'hello');
  const denied = await curl(['-o', '-', '--interface', '127.0.0.2', `http://127.0.0.1:${p.port}/`]);
  assert.notEqual(denied.code, 0, 'curl fails: the connection is closed without a response');
  assert.equal(denied.stdout, '');
  assert.equal(stat(p, 'front.rbac.denied'), 1);
  assert.equal(stat(p, 'front.rbac.allowed'), 1);
  assert.equal(stat(p, 'http.ingress.downstream_rq_total'), 1, 'the denied connection never reached the connection manager');
});

test('mTLS + tcp_proxy: principal_name from the URI SAN, requested_server_name; others are closed', async (t) => {
  const up = await echoUpstream(t);
  const p = await startProxy(bootstrap({
    listeners: [listener({
      chains: [{
        filters: [
          rbacFilter({
            stat_prefix: 'mtls',
            rules: {
              action: 'ALLOW',
              policies: {
                good: {
                  permissions: [{ requested_server_name: { exact: 'svc.example.com' } }],
                  principals: [{ authenticated: { principal_name: { exact: 'spiffe://weft.test/ns/default/sa/good' } } }],
                },
              },
            },
          }),
          tcpProxy('echo'),
        ],
        transport_socket: mtls(),
      }],
    })],
    clusters: [cluster('echo', [up.port])],
  }));
  t.after(() => p.close());
  const good = await tlsExchange(p.port, 'ping', { cert: clientGood, endAfter: 'ping' });
  assert.equal(good.data, 'ping');
  const other = await tlsExchange(p.port, 'ping', { cert: clientOther, endAfter: 'ping' });
  assert.equal(other.data, '');
  const wrongSni = await tlsExchange(p.port, 'ping', { cert: clientGood, servername: 'localhost', endAfter: 'ping' });
  assert.equal(wrongSni.data, '');
  assert.equal(stat(p, 'mtls.rbac.allowed'), 1);
  assert.equal(stat(p, 'mtls.rbac.denied'), 2);
  assert.equal(up.connections(), 1);
});

test('mTLS + HTTP RBAC (curl, HTTP/1.1 and HTTP/2): principal_name by URI SAN or by subject', async (t) => {
  const p = await startProxy(bootstrap({
    listeners: [listener({
      chains: [{
        filters: [hcm({
          routes: [direct({ prefix: '/' }, 'hello')],
          extra: {
            http_filters: [
              {
                name: 'envoy.filters.http.rbac',
                typed_config: {
                  '@type': HTTP_RBAC,
                  rules: {
                    action: 'ALLOW',
                    policies: {
                      spiffe: { permissions: any, principals: [{ authenticated: { principal_name: { prefix: 'spiffe://weft.test/ns/default/sa/go' } } }] },
                      legacy: { permissions: [{ url_path: { path: { prefix: '/legacy' } } }], principals: [{ authenticated: { principal_name: { exact: 'CN=legacy-client' } } }] },
                    },
                  },
                },
              },
              { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
            ],
          },
        })],
        transport_socket: mtls(['h2', 'http/1.1']),
      }],
    })],
  }));
  t.after(() => p.close());
  const call = async (who: LeafFiles, path: string, proto: '--http1.1' | '--http2'): Promise<string> => {
    const r = await curl([proto, '-o', '-', '-w', ' %{http_code} %{http_version}', '--cacert', pki.cert, '--cert', who.cert, '--key', who.key,
      '--resolve', `svc.example.com:${p.port}:127.0.0.1`, `https://svc.example.com:${p.port}${path}`]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  assert.equal(await call(clientGood, '/', '--http1.1'), 'hello 200 1.1');
  assert.equal(await call(clientGood, '/', '--http2'), 'hello 200 2');
  assert.equal(await call(clientOther, '/', '--http1.1'), 'RBAC: access denied 403 1.1');
  assert.equal(await call(clientOther, '/', '--http2'), 'RBAC: access denied 403 2');
  assert.equal(await call(clientLegacy, '/legacy/x', '--http2'), 'hello 200 2');
  assert.equal(await call(clientLegacy, '/other', '--http1.1'), 'RBAC: access denied 403 1.1');
  assert.equal(stat(p, 'http.ingress.rbac.allowed'), 3);
  assert.equal(stat(p, 'http.ingress.rbac.denied'), 3);
});
