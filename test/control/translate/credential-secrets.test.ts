// credentialName: Kubernetes Secret documents (v1 Secret, kubernetes.io/tls or generic) applied with
// `weft apply`, validated (PEM parses, key matches), shown redacted, and served over ADS SDS as
// Istio names them (`kubernetes://NAME`, `kubernetes://NAME-cacert`) to proxies of their namespace
// only; DestinationRule SIMPLE/MUTUAL and Gateway SIMPLE/MUTUAL servers reference them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { validateDocument } from '../../../src/control/api/index.js';
import { ConfigStore } from '../../../src/control/store/config-store.js';
import { parseYamlDocuments } from '../../../src/control/store/yaml-docs.js';
import { CLUSTER_TYPE, LISTENER_TYPE, SECRET_TYPE } from '../../../src/xds/resource-types.js';
import { fqdn, gatewayProxy, sidecarProxy } from '../../helpers/bookinfo-mesh.js';
import { makePki, type TestPki } from '../../helpers/certs.js';
import { applyYaml, generateFor, meshOf, resource } from '../../helpers/istio-translate.js';
import { encodeAll } from '../../helpers/xds-encode.js';

type J = any; // eslint-disable-line @typescript-eslint/no-explicit-any

let pki: TestPki;
let cert: string;
let key: string;
let otherKey: string;
let ca: string;

before(async () => {
  pki = await makePki();
  const leaf = await pki.issue('client', { sans: ['DNS:client.example'] });
  const other = await pki.issue('other');
  cert = readFileSync(leaf.cert, 'utf8');
  key = readFileSync(leaf.key, 'utf8');
  otherKey = readFileSync(other.key, 'utf8');
  ca = readFileSync(pki.cert, 'utf8');
});
after(() => pki?.close());

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const tlsSecret = (name: string, ns: string, withCa = true): string =>
  `apiVersion: v1\nkind: Secret\nmetadata: { name: ${name}, namespace: ${ns} }\ntype: kubernetes.io/tls\ndata:\n  tls.crt: ${b64(cert)}\n  tls.key: ${b64(key)}\n${withCa ? `  ca.crt: ${b64(ca)}\n` : ''}`;
const SDS = (name: string) => ({ name, sds_config: { ads: {}, resource_api_version: 'V3' } });

function apply(yaml: string) {
  const r = applyYaml(yaml, 's.yaml');
  if (!r.ok) assert.fail(r.errors.join('\n'));
  return r.configs;
}

test('Secrets validate: kubernetes.io/tls in data (base64), generic in stringData; bad PEM, a key of another certificate and unknown keys are refused', () => {
  const [s] = apply(tlsSecret('cred', 'default'));
  assert.equal(s!.kind, 'Secret');
  assert.deepEqual((s!.spec as J).keys, ['ca.crt', 'tls.crt', 'tls.key']);
  const generic = apply(`apiVersion: v1\nkind: Secret\nmetadata: { name: g }\nstringData:\n  cacert: |\n${ca.split('\n').map((l) => `    ${l}`).join('\n')}\n`);
  assert.equal((generic[0]!.spec as J).caCert.trim(), ca.trim());
  const bad = applyYaml(`apiVersion: v1\nkind: Secret\nmetadata: { name: bad }\ntype: kubernetes.io/tls\ndata:\n  tls.crt: ${b64('not a pem')}\n  tls.key: ${b64(key)}\n  extra: ${b64('x')}\n`, 'bad.yaml');
  assert.equal(bad.ok, false);
  const errs = bad.ok ? [] : bad.errors;
  assert.ok(errs.some((e) => e.startsWith('bad.yaml#1: Secret default/bad: data["tls.crt"]: expected a PEM certificate')), errs.join('\n'));
  assert.ok(errs.includes('bad.yaml#1: Secret default/bad: data["extra"]: unknown key (expected tls.crt, cert, tls.key, key, ca.crt, cacert)'), errs.join('\n'));
  const mismatch = applyYaml(`apiVersion: v1\nkind: Secret\nmetadata: { name: m }\ndata:\n  cert: ${b64(cert)}\n  key: ${b64(otherKey)}\n`, 'm.yaml');
  assert.deepEqual(mismatch, { ok: false, errors: ['m.yaml#1: Secret default/m: data["key"]: expected the private key of the certificate (it does not match)'] });
  const half = applyYaml(`apiVersion: v1\nkind: Secret\nmetadata: { name: h }\ntype: kubernetes.io/tls\ndata:\n  tls.crt: ${b64(cert)}\n`, 'h.yaml');
  assert.equal(half.ok, false);
});

test('a stored Secret is shown with its data redacted', () => {
  const parsed = parseYamlDocuments(tlsSecret('cred', 'default'), 's.yaml');
  assert.ok(parsed.ok);
  const store = new ConfigStore({ validator: validateDocument });
  assert.ok(store.apply(parsed.docs).ok);
  const [r] = store.get('Secret', 'default', 'cred');
  const shown = store.asWritten(r!);
  assert.deepEqual(shown.spec, { type: 'kubernetes.io/tls', data: { 'ca.crt': 'REDACTED', 'tls.crt': 'REDACTED', 'tls.key': 'REDACTED' } });
  assert.ok(!JSON.stringify(shown).includes('PRIVATE KEY'));
});

test('DestinationRule credentialName: MUTUAL takes certificate and CA from the Secret over SDS, served to proxies of that namespace only', () => {
  const dr = `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: ext }\nspec:\n  host: reviews\n  trafficPolicy: { tls: { mode: MUTUAL, credentialName: cred, subjectAltNames: [reviews.example] } }\n`;
  const configs = apply(`${dr}---\n${tlsSecret('cred', 'default')}---\n${tlsSecret('cred', 'other')}`);
  const res = generateFor(meshOf(configs), sidecarProxy('productpage'));
  const c = resource(res, CLUSTER_TYPE, `outbound|9080||${fqdn('reviews')}`);
  assert.deepEqual(c.transport_socket.typed_config.common_tls_context, {
    tls_certificate_sds_secret_configs: [SDS('kubernetes://cred')],
    combined_validation_context: {
      default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'reviews.example' } }] },
      validation_context_sds_secret_config: SDS('kubernetes://cred-cacert'),
    },
  });
  const secrets = res.get(SECRET_TYPE)!;
  assert.deepEqual([...secrets.keys()].sort(), ['kubernetes://cred', 'kubernetes://cred-cacert']);
  assert.deepEqual(secrets.get('kubernetes://cred'), { name: 'kubernetes://cred', tls_certificate: { certificate_chain: { inline_string: cert }, private_key: { inline_string: key } } });
  assert.deepEqual(secrets.get('kubernetes://cred-cacert'), { name: 'kubernetes://cred-cacert', validation_context: { trusted_ca: { inline_string: ca } } });
  encodeAll(res);
  // Another namespace's proxy gets its own namespace's secrets, never default's.
  const elsewhere = generateFor(meshOf(apply(tlsSecret('mine', 'other'))), sidecarProxy('productpage', { namespace: 'other' }));
  assert.deepEqual([...elsewhere.get(SECRET_TYPE)!.keys()].sort(), ['kubernetes://mine', 'kubernetes://mine-cacert']);
  const none = generateFor(meshOf(apply(tlsSecret('mine', 'other'))), sidecarProxy('productpage'));
  assert.equal(none.get(SECRET_TYPE)!.size, 0);
  // SIMPLE with credentialName needs no caCertificates file; files and credentialName together are refused.
  apply(dr.replace('mode: MUTUAL', 'mode: SIMPLE'));
  const both = applyYaml(dr.replace('credentialName: cred', 'credentialName: cred, caCertificates: /ca.pem'), 'dr.yaml');
  assert.deepEqual(both, { ok: false, errors: ['dr.yaml#1: DestinationRule default/ext: spec.trafficPolicy.tls.caCertificates: expected nothing with credentialName (the Secret holds the certificates)'] });
});

test('Gateway credentialName: SIMPLE serves the Secret certificate, MUTUAL also verifies clients against NAME-cacert (a separate CA secret works too)', () => {
  const gw = (mode: string) => `apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: gw, namespace: istio-system }\nspec:\n  selector: { istio: ingressgateway }\n  servers:\n  - port: { number: 443, name: https, protocol: HTTPS }\n    hosts: ["*"]\n    tls: { mode: ${mode}, credentialName: bookinfo-cred }\n`;
  const caOnly = `apiVersion: v1\nkind: Secret\nmetadata: { name: bookinfo-cred-cacert, namespace: istio-system }\ndata:\n  cacert: ${b64(ca)}\n`;
  const simple = generateFor(meshOf(apply(`${gw('SIMPLE')}---\n${tlsSecret('bookinfo-cred', 'istio-system', false)}`)), gatewayProxy());
  const ctx = resource(simple, LISTENER_TYPE, '0.0.0.0_443').filter_chains[0].transport_socket.typed_config;
  assert.deepEqual(ctx.common_tls_context, { tls_certificate_sds_secret_configs: [SDS('kubernetes://bookinfo-cred')], alpn_protocols: ['h2', 'http/1.1'] });
  assert.equal(ctx.require_client_certificate, undefined);
  assert.deepEqual([...simple.get(SECRET_TYPE)!.keys()], ['kubernetes://bookinfo-cred']);
  encodeAll(simple);
  const mutual = generateFor(meshOf(apply(`${gw('MUTUAL')}---\n${tlsSecret('bookinfo-cred', 'istio-system', false)}---\n${caOnly}`)), gatewayProxy());
  const m = resource(mutual, LISTENER_TYPE, '0.0.0.0_443').filter_chains[0].transport_socket.typed_config;
  assert.deepEqual(m.common_tls_context.combined_validation_context, { default_validation_context: {}, validation_context_sds_secret_config: SDS('kubernetes://bookinfo-cred-cacert') });
  assert.equal(m.require_client_certificate, true);
  assert.deepEqual([...mutual.get(SECRET_TYPE)!.keys()].sort(), ['kubernetes://bookinfo-cred', 'kubernetes://bookinfo-cred-cacert']);
  encodeAll(mutual);
});
