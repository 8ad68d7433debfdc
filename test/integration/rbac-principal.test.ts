// RBAC `authenticated.principal_name` from the peer certificate, as Envoy reads it: any URI SAN
// (the SPIFFE id) first, then any DNS SAN, then the subject (RFC 2253), with workload certificates
// issued by Weft's own X.509 code (src/security/x509.ts, as the mesh CA issues them); on the
// network filter and on the HTTP filter; and on resumed TLS sessions (TLS 1.2 session ids and
// TLS 1.3 tickets): a resumed session keeps its certificate's identity (an allowed principal stays
// allowed, a denied one stays denied). requested_server_name is the SNI.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { bootstrap, cluster, direct, hcm, listener, ROUTER_TYPE, type Obj } from '../helpers/bootstrap.js';
import { startRawServer } from '../helpers/upstream.js';
import { createRootCertificate, generateKeyPair, issueCertificate } from '../../src/security/x509.js';
import { spiffeId } from '../../src/security/spiffe.js';

const NET_RBAC = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';
const HTTP_RBAC = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const DAY = 86_400_000;

interface Pem { cert: string; key: string }
let dir: string;
let rootPem: string;
let rootFile: string;
let serverFiles: { cert: string; key: string };
/** reviews: SPIFFE URI + DNS SAN; ratings: DNS SAN only; legacy: subject only. */
const ids: Record<'reviews' | 'ratings' | 'legacy', Pem> = {} as never;
const REVIEWS = spiffeId({ trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'reviews' });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-rbac-principal-'));
  const root = generateKeyPair();
  rootPem = await createRootCertificate(root, 'O=cluster.local', DAY);
  rootFile = join(dir, 'root.pem');
  writeFileSync(rootFile, rootPem);
  const leaf = async (o: { uris?: string[]; dnsNames?: string[]; subject?: string }): Promise<Pem> => {
    const kp = generateKeyPair();
    const cert = await issueCertificate({ issuerCertPem: rootPem, issuerKey: root.privateKey, publicKey: kp.publicKey, ttlMs: DAY, ...o });
    return { cert, key: kp.privateKeyPem };
  };
  const server = await leaf({ uris: ['spiffe://cluster.local/ns/default/sa/productpage'], dnsNames: ['productpage.default.svc'] });
  serverFiles = { cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
  writeFileSync(serverFiles.cert, server.cert);
  writeFileSync(serverFiles.key, server.key);
  ids.reviews = await leaf({ uris: [REVIEWS], dnsNames: ['reviews.default.svc'] });
  ids.ratings = await leaf({ dnsNames: ['ratings.default.svc'] });
  ids.legacy = await leaf({ subject: 'CN=legacy,O=Example' });
});
after(() => rmSync(dir, { recursive: true, force: true }));

function mtls(maxVersion: 'TLSv1_2' | 'TLSv1_3'): Obj {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': DOWNSTREAM_TLS,
      require_client_certificate: true,
      common_tls_context: {
        tls_certificates: [{ certificate_chain: { filename: serverFiles.cert }, private_key: { filename: serverFiles.key } }],
        validation_context: { trusted_ca: { filename: rootFile } },
        tls_params: { tls_maximum_protocol_version: maxVersion },
      },
    },
  };
}

const principal = (m: Obj): Obj => ({ authenticated: { principal_name: m } });

/** ALLOW: the SPIFFE id exactly; a DNS SAN (reviews also has one, but its URI SAN is tried first); the subject. */
const RULES = {
  action: 'ALLOW',
  policies: {
    spiffe: { permissions: [{ any: true }], principals: [principal({ exact: REVIEWS })] },
    dns: { permissions: [{ requested_server_name: { exact: 'productpage.default.svc' } }], principals: [principal({ suffix: 'ratings.default.svc' })] },
    subject: { permissions: [{ any: true }], principals: [principal({ exact: 'O=Example,CN=legacy' })] },
  },
};

interface Conn { data: string; reused: boolean; session: Buffer | null }

/** A TLS connection with `who`'s certificate (offering `session`), sends `send`, reads until close or `until`. */
function exchange(port: number, who: Pem, send: string, o: { session?: Buffer | null; until: string; servername?: string }): Promise<Conn> {
  return new Promise((resolve) => {
    let data = '';
    let session: Buffer | null = null;
    let reused = false;
    const s = tls.connect({
      host: '127.0.0.1', port, servername: o.servername ?? 'productpage.default.svc', ca: rootPem, cert: who.cert, key: who.key,
      checkServerIdentity: () => undefined, ...(o.session ? { session: o.session } : {}),
    }, () => { reused = s.isSessionReused(); s.write(send); });
    s.on('session', (b: Buffer) => { session = b; });
    s.on('data', (d: Buffer) => { data += d.toString(); if (data.includes(o.until)) s.end(); });
    s.on('error', () => { /* close follows */ });
    s.on('close', () => resolve({ data, reused, session }));
  });
}

const tcpChain = (version: 'TLSv1_2' | 'TLSv1_3', port: number): string => bootstrap({
  listeners: [listener({
    chains: [{
      filters: [
        { name: 'envoy.filters.network.rbac', typed_config: { '@type': NET_RBAC, stat_prefix: 'net', rules: RULES } },
        { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: 'tcp', cluster: 'echo' } },
      ],
      transport_socket: mtls(version),
    }],
  })],
  clusters: [cluster('echo', [port])],
});

const httpChain = (version: 'TLSv1_2' | 'TLSv1_3'): string => bootstrap({
  listeners: [listener({
    chains: [{
      filters: [hcm({
        routes: [direct({ prefix: '/' }, 'hello')],
        extra: {
          http_filters: [
            { name: 'envoy.filters.http.rbac', typed_config: { '@type': HTTP_RBAC, rules: RULES } },
            { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
          ],
        },
      })],
      transport_socket: mtls(version),
    }],
  })],
});

function stat(p: RunningProxy, name: string): number {
  return p.server.stats.value(name) ?? 0;
}

for (const version of ['TLSv1_2', 'TLSv1_3'] as const) {
  test(`network RBAC (${version}): URI SAN, then DNS SAN, then subject; resumed sessions keep their identity`, async (t) => {
    const echo = await startRawServer((s) => s.pipe(s));
    t.after(() => echo.close());
    const p = await startProxy(tcpChain(version, echo.port));
    t.after(() => p.close());
    const first = await exchange(p.port, ids.reviews, 'ping', { until: 'ping' });
    assert.equal(first.data, 'ping', 'SPIFFE URI SAN');
    assert.equal((await exchange(p.port, ids.ratings, 'ping', { until: 'ping' })).data, 'ping', 'DNS SAN (with the SNI the policy asks for)');
    assert.equal((await exchange(p.port, ids.ratings, 'ping', { until: 'ping', servername: 'other.svc' })).data, '', 'requested_server_name');
    assert.equal((await exchange(p.port, ids.legacy, 'ping', { until: 'ping' })).data, 'ping', 'subject, RFC 2253 order');
    // reviews' DNS SAN does not make it `dns` (its SNI matches, but the DNS name is reviews', not ratings').
    assert.ok(first.session !== null);
    const resumed = await exchange(p.port, ids.reviews, 'again', { session: first.session, until: 'again' });
    assert.equal(resumed.reused, true, 'the session was resumed');
    assert.equal(resumed.data, 'again', 'a resumed session still carries the SPIFFE id');
    assert.equal(stat(p, 'net.rbac.allowed'), 4);
    assert.equal(stat(p, 'net.rbac.denied'), 1);
  });

  test(`HTTP RBAC (${version}): the same principals per request, and on a resumed session; a denied identity stays denied when resumed`, async (t) => {
    const p = await startProxy(httpChain(version));
    t.after(() => p.close());
    const get = 'GET / HTTP/1.1\r\nhost: productpage\r\nconnection: close\r\n\r\n';
    const status = (c: Conn): string => c.data.split('\r\n')[0] ?? '';
    const reviews = await exchange(p.port, ids.reviews, get, { until: '\r\n\r\n' });
    assert.equal(status(reviews), 'HTTP/1.1 200 OK');
    assert.equal(status(await exchange(p.port, ids.legacy, get, { until: '\r\n\r\n' })), 'HTTP/1.1 200 OK');
    const ratingsOther = await exchange(p.port, ids.ratings, get, { until: 'denied', servername: 'other.svc' });
    assert.equal(status(ratingsOther), 'HTTP/1.1 403 Forbidden');
    assert.match(ratingsOther.data, /RBAC: access denied$/);
    const again = await exchange(p.port, ids.reviews, get, { session: reviews.session, until: '\r\n\r\n' });
    assert.equal(again.reused, true);
    assert.equal(status(again), 'HTTP/1.1 200 OK');
    const deniedAgain = await exchange(p.port, ids.ratings, get, { session: ratingsOther.session, until: 'denied', servername: 'other.svc' });
    assert.equal(deniedAgain.reused, true);
    assert.equal(status(deniedAgain), 'HTTP/1.1 403 Forbidden');
    assert.equal(stat(p, 'http.ingress.rbac.allowed'), 3);
    assert.equal(stat(p, 'http.ingress.rbac.denied'), 2);
  });
}
