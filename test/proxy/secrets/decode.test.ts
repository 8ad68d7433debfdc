// Decoding of SDS references in TLS contexts (tls_certificate_sds_secret_configs,
// validation_context_sds_secret_config, combined_validation_context with its sds_config sources),
// of Secret resources, and of `pipe` addresses (Istio's sds-grpc cluster): what is accepted, and
// what is refused with its field path. Also: a STATIC cluster on a Unix socket is connectable.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBootstrapText } from '../../../src/envoy/text.js';
import type { DownstreamTlsConfig, UpstreamTlsConfig } from '../../../src/proxy/config/types.js';
import { decodeSecretJson } from '../../../src/proxy/secrets/decode.js';
import { bootstrap, cluster, hcm, listener, request, toCluster, type Obj } from '../../helpers/bootstrap.js';
import { startProxy } from '../../helpers/proxy.js';
import { adsSds, certSecret, fileSds, grpcSds } from '../../helpers/sds.js';
import { makePki } from '../../helpers/certs.js';
import { fingerprintOf, tlsGet } from '../../helpers/tls-clients.js';
import { stringify } from 'yaml';

const TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3';
const SDS_CLUSTER: Obj = { name: 'sds-grpc', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'sds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: '/tmp/sds.sock' } } } }] }] } };

function withDownstream(common: Obj, extra: Obj = {}): string {
  return bootstrap({
    listeners: [listener({ chains: [{ filters: [hcm({ routes: [] })], transport_socket: { name: 'tls', typed_config: { '@type': `${TLS}.DownstreamTlsContext`, common_tls_context: common, ...extra } } }] })],
    clusters: [SDS_CLUSTER],
  });
}

function withUpstream(common: Obj): string {
  return bootstrap({
    listeners: [],
    clusters: [SDS_CLUSTER, cluster('up', [8080], { transport_socket: { name: 'tls', typed_config: { '@type': `${TLS}.UpstreamTlsContext`, common_tls_context: common } } })],
  });
}

function decode(text: string) {
  return parseBootstrapText(text, 'test.yaml', { baseDir: '/etc/weft' });
}

function errorsOf(text: string): string[] {
  const r = decode(text);
  assert.equal(r.ok, false, 'expected the bootstrap to be rejected');
  return (r as { errors: string[] }).errors;
}

test('SDS references decode with their sources: ADS, file (path_config_source, path), gRPC cluster; combined validation context', () => {
  const r = decode(withDownstream({
    tls_certificate_sds_secret_configs: [adsSds('kubernetes://a'), fileSds('f', 'secrets/sds.yaml', { initial_fetch_timeout: '2s' }), { name: 'p', sds_config: { path: '/x/sds.json' } }],
    combined_validation_context: {
      default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/a/sa/b' } }] },
      validation_context_sds_secret_config: grpcSds('ROOTCA', 'sds-grpc', { initial_fetch_timeout: '0s' }),
    },
  }, { require_client_certificate: true }));
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const tls = r.value.listeners[0]!.filterChains[0]!.transportSocket as DownstreamTlsConfig;
  const c = tls.commonTlsContext;
  assert.deepEqual(c.sdsCertificates.map((x) => x.source), [
    { kind: 'ads', initialFetchTimeoutMs: 15000 },
    { kind: 'path', path: '/etc/weft/secrets/sds.yaml', initialFetchTimeoutMs: 2000 },
    { kind: 'path', path: '/x/sds.json', initialFetchTimeoutMs: 15000 },
  ]);
  assert.deepEqual(c.sdsValidation, { name: 'ROOTCA', source: { kind: 'grpc', clusterName: 'sds-grpc', initialFetchTimeoutMs: 0 } });
  assert.equal(c.validationContext?.matchTypedSubjectAltNames.length, 1);
  assert.equal(c.validationContext?.trustedCa, null);
  assert.equal(tls.requireClientCertificate, true);

  const v = decode(withDownstream({ tls_certificate_sds_secret_configs: [adsSds('a')], validation_context_sds_secret_config: adsSds('ROOTCA') }));
  assert.ok(v.ok);
  const u = decode(withUpstream({ tls_certificate_sds_secret_configs: [adsSds('default')], validation_context_sds_secret_config: adsSds('ROOTCA') }));
  assert.ok(u.ok);
  assert.equal((u.value.clusters[1]!.transportSocket as UpstreamTlsConfig).commonTlsContext.sdsValidation?.name, 'ROOTCA');
});

test('what SDS does not support is refused with the field path', () => {
  const cc = 'static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context';
  const cases: [Obj, RegExp][] = [
    [{ tls_certificate_sds_secret_configs: [{ name: 'x' }] }, /static_resources\.listeners\[0\]: expected the name of a secret in static_resources\.secrets, got "x"/],
    [{ tls_certificate_sds_secret_configs: [{ name: 'x', sds_config: { api_config_source: { api_type: 'DELTA_GRPC', grpc_services: [{ envoy_grpc: { cluster_name: 'sds-grpc' } }] } } }] }, /sds_config\.api_config_source\.api_type: .*GRPC.*DELTA_GRPC/],
    [{ tls_certificate_sds_secret_configs: [{ name: 'x', sds_config: { api_config_source: { api_type: 'GRPC', grpc_services: [{ google_grpc: { target_uri: 'x', stat_prefix: 's' } }] } } }] }, /grpc_services\[0\]\.google_grpc: unsupported field/],
    [{ tls_certificate_sds_secret_configs: [{ name: 'x', sds_config: { self: {} } }] }, /sds_config\.self: unsupported field/],
    [{ tls_certificate_sds_secret_configs: [{ sds_config: { ads: {} } }] }, /tls_certificate_sds_secret_configs\[0\]\.name: expected a non-empty string/],
    [{ tls_certificate_sds_secret_configs: [adsSds('a')], combined_validation_context: { default_validation_context: { trusted_ca: { inline_string: 'x' } }, validation_context_sds_secret_config: adsSds('R') } }, /combined_validation_context\.default_validation_context\.trusted_ca: /],
    [{ tls_certificate_sds_secret_configs: [adsSds('a')], combined_validation_context: { default_validation_context: {} } }, /combined_validation_context\.validation_context_sds_secret_config: expected/],
    [{ tls_certificate_sds_secret_configs: [adsSds('a')], validation_context: {}, validation_context_sds_secret_config: adsSds('R') }, /common_tls_context: expected at most one of validation_context, validation_context_sds_secret_config, combined_validation_context/],
    [{ tls_certificate_sds_secret_configs: [fileSds('a', 'x.yaml', { ads: {} })] }, /sds_config: expected exactly one of ads, path, path_config_source, api_config_source/],
    [{ tls_certificate_sds_secret_configs: [{ name: 'a', sds_config: { path_config_source: { path: '/a/b.yaml', watched_directory: { path: '/c' } } } }] }, /path_config_source\.watched_directory\.path: expected the directory of path \(\/a\)/],
  ];
  for (const [common, re] of cases) {
    const errs = errorsOf(withDownstream(common));
    assert.ok(errs.some((e) => re.test(e)), `${re} not in:\n${errs.join('\n')}`);
  }
  // A server context still needs a certificate: from files or SDS.
  assert.ok(errorsOf(withDownstream({ validation_context_sds_secret_config: adsSds('R') })).some((e) => /tls_certificates: expected at least one certificate/.test(e)));
  // A client context: at most one certificate, SDS or not.
  assert.ok(errorsOf(withUpstream({ tls_certificate_sds_secret_configs: [adsSds('a'), adsSds('b')] })).some((e) => /tls_certificate_sds_secret_configs: expected at most one certificate/.test(e)));
  // Pipes: STATIC cluster endpoints only.
  const strict = errorsOf(bootstrap({ listeners: [], clusters: [{ name: 'p', type: 'STRICT_DNS', connect_timeout: '1s', load_assignment: { cluster_name: 'p', endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: '/x' } } } }] }] } }] }));
  assert.ok(strict.some((e) => /endpoint\.address\.pipe: unsupported here \(Unix socket addresses are supported for STATIC cluster endpoints only\)/.test(e)), strict.join('\n'));
});

test('Secret resources: tls_certificate and validation_context validated; other kinds refused', () => {
  const bad = decodeSecretJson({ name: 'a', tls_certificate: { certificate_chain: { inline_string: 'nope' }, private_key: { inline_string: 'nope' } } }, '/');
  assert.equal(bad.ok, false);
  assert.match((bad as { errors: readonly string[] }).errors.join('\n'), /tls_certificate\.certificate_chain: expected a PEM certificate chain/);
  const ca = decodeSecretJson({ name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: 'x' } } }, '/');
  assert.match((ca as { errors: readonly string[] }).errors.join('\n'), /validation_context\.trusted_ca: expected PEM CA certificates/);
  const sans = decodeSecretJson({ name: 'ROOTCA', validation_context: { match_typed_subject_alt_names: [] } }, '/');
  assert.match((sans as { errors: readonly string[] }).errors.join('\n'), /validation_context\.match_typed_subject_alt_names: unsupported field/);
  const generic = decodeSecretJson({ name: 'g', generic_secret: { secret: { inline_string: 'x' } } }, '/');
  assert.match((generic as { errors: readonly string[] }).errors.join('\n'), /generic_secret: unsupported field/);
  const type = decodeSecretJson({ '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster', name: 'x' }, '/');
  assert.match((type as { errors: readonly string[] }).errors.join('\n'), /@type: expected type.googleapis.com\/envoy.extensions.transport_sockets.tls.v3.Secret/);
});

test('a STATIC cluster whose endpoint is a pipe (Unix socket) is connectable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-pipe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sock = join(dir, 'up.sock');
  const up = http.createServer((_req, res) => res.end('over a unix socket'));
  await new Promise<void>((r) => up.listen(sock, () => r()));
  t.after(() => new Promise<void>((r) => up.close(() => r())));
  const px = await startProxy(bootstrap({
    listeners: [listener({ filter: hcm({ routes: [toCluster('/', 'uds')] }) })],
    clusters: [{ name: 'uds', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'uds', endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: sock } } } }] }] } }],
  }));
  t.after(() => px.close());
  const r = await request(px.port, '/');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'over a unix socket');
});

test('static secrets (bootstrap static_resources.secrets) serve a listener named by an SdsSecretConfig without sds_config', async (t) => {
  const pki = await makePki();
  t.after(() => pki.close());
  const leaf = await pki.issue('static', { sans: ['DNS:static.example.com'] });
  const { '@type': _t, ...secret } = certSecret('server', leaf);
  const doc = {
    static_resources: {
      secrets: [secret],
      listeners: [listener({ chains: [{ filters: [hcm({ routes: [] })], transport_socket: { name: 'tls', typed_config: { '@type': `${TLS}.DownstreamTlsContext`, common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'server' }] } } } }] })],
      clusters: [],
    },
  };
  const px = await startProxy(stringify(doc));
  t.after(() => px.close());
  assert.equal((await tlsGet(px.port, {})).fingerprint, await fingerprintOf(leaf.cert));
  // A static secret of the wrong kind, and a duplicate name, are refused.
  const wrong = errorsOf(stringify({ static_resources: { ...doc.static_resources, secrets: [{ name: 'server', validation_context: { trusted_ca: { inline_string: (secret.tls_certificate as Obj).certificate_chain && (secret.tls_certificate as { certificate_chain: { inline_string: string } }).certificate_chain.inline_string } } }] } }));
  assert.ok(wrong.some((e) => /expected a tls_certificate secret, got "server \(a validation_context secret\)"/.test(e)), wrong.join('\n'));
  const dup = errorsOf(stringify({ static_resources: { ...doc.static_resources, secrets: [secret, secret] } }));
  assert.ok(dup.some((e) => /static_resources\.secrets\[1\]\.name: expected a secret name not already used/.test(e)), dup.join('\n'));
});
