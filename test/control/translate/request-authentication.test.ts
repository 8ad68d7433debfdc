// RequestAuthentication (security.istio.io/v1): validation of Istio's documentation and sample
// documents and of bad ones (paths named); translation to envoy.filters.http.jwt_authn on the
// selected workloads' inbound chain as Istio builds it (providers origins-<i>, allow_missing
// requirement, payload under the issuer), accepted by the proxy's own xDS decoders; jwksUri keys
// from the control plane's resolver (fetched from a local server); and the translated filter in a
// real proxy: a valid token passes, an invalid one gets 401, a missing one passes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyYaml, generateFor, meshOf, proxyRejects, resource } from '../../helpers/istio-translate.js';
import { sidecarProxy } from '../../helpers/bookinfo-mesh.js';
import { LISTENER_TYPE } from '../../../src/xds/resource-types.js';
import { JwksResolver, jwksUrisOf, UNAVAILABLE_JWKS } from '../../../src/control/translate/security/jwks-resolver.js';
import type { ConfigResource, MeshSnapshot } from '../../../src/control/model.js';
import { startProxy } from '../../helpers/proxy.js';
import { cluster, request, ROUTER_TYPE, simple, toCluster } from '../../helpers/bootstrap.js';
import { startUpstream } from '../../helpers/upstream.js';
import { waitUntil } from '../../helpers/adversarial.js';
import { jwksOf, makeKey, sign, startJwksServer } from '../../helpers/jwt.js';

type J = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const key = await makeKey('RS256', 'k1');
const JWKS = jwksOf(key);
const ISS = 'testing@secure.istio.io';

function ok(yaml: string): readonly ConfigResource[] {
  const r = applyYaml(yaml);
  if (!r.ok) assert.fail(r.errors.join('\n'));
  return r.configs;
}

function refused(yaml: string): readonly string[] {
  const r = applyYaml(yaml);
  assert.equal(r.ok, false, 'expected the document to be refused');
  return r.ok ? [] : r.errors;
}

function hasError(errs: readonly string[], path: string, text: string): void {
  assert.ok(errs.some((e) => e.includes(`${path}: `) && e.includes(text)), `no error at ${path} with "${text}" in:\n${errs.join('\n')}`);
}

/** The jwt_authn filter on the productpage sidecar's inbound chain, or undefined. */
function inboundJwt(mesh: MeshSnapshot, app = 'productpage'): J {
  const res = generateFor(mesh, sidecarProxy(app));
  assert.deepEqual(proxyRejects(res), []);
  const l = resource(res, LISTENER_TYPE, 'virtualInbound');
  const filters: J[] = l.filter_chains[0].filters[0].typed_config.http_filters;
  return filters.find((f) => f.name === 'envoy.filters.http.jwt_authn');
}

const DOC_EXAMPLE = `
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: httpbin
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  jwtRules:
  - issuer: "issuer-foo"
    jwksUri: https://example.com/.well-known/jwks.json
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: jwt-example
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  jwtRules:
  - issuer: "testing@secure.istio.io"
    jwksUri: "https://raw.githubusercontent.com/istio/istio/release-1.24/security/tools/jwt/samples/jwks.json"
    forwardOriginalToken: true
    outputClaimToHeaders:
    - header: "x-jwt-claim-foo"
      claim: "foo"
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: locations
  namespace: foo
spec:
  jwtRules:
  - issuer: "issuer-foo"
    jwksUri: https://example.com/.well-known/jwks.json
    audiences: ["bookstore_android.apps.example.com", "bookstore_web.apps.example.com"]
    fromHeaders:
    - name: x-jwt-assertion
      prefix: "Bearer "
    fromParams: ["my_token"]
    fromCookies: ["session"]
    outputPayloadToHeader: x-jwt-payload
    timeout: 3s
`;

test('Istio\'s documentation and sample RequestAuthentications are accepted', () => {
  const configs = ok(DOC_EXAMPLE);
  assert.equal(configs.length, 3);
  assert.deepEqual([...jwksUrisOf(configs).keys()].sort(), [
    'https://example.com/.well-known/jwks.json',
    'https://raw.githubusercontent.com/istio/istio/release-1.24/security/tools/jwt/samples/jwks.json',
  ]);
});

test('bad RequestAuthentications are refused with the field path', () => {
  const errs = refused(`
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: bad, namespace: foo }
spec:
  targetRef: { kind: Gateway, name: gw }
  selector: { matchLabels: { app: x }, other: 1 }
  jwtRules:
  - jwksUri: https://example.com/jwks.json
  - issuer: a
    jwksUri: "ftp://example.com/jwks"
  - issuer: b
    jwks: '{"keys": []}'
  - issuer: c
    jwksUri: https://example.com/jwks.json
    fromHeaders: [{ prefix: "Bearer " }]
    outputClaimToHeaders: [{ header: "bad header", claim: sub }, { header: x-ok }]
    timeout: soon
    jwksuri: x
  - issuer: d
`);
  hasError(errs, 'spec.targetRef', 'not supported yet');
  hasError(errs, 'spec.selector.other', 'unknown field');
  hasError(errs, 'spec.jwtRules[0].issuer', 'expected a non-empty string, got nothing');
  hasError(errs, 'spec.jwtRules[1].jwksUri', 'an http:// or https:// URL');
  hasError(errs, 'spec.jwtRules[2].jwks', 'at least one usable key');
  hasError(errs, 'spec.jwtRules[3].fromHeaders[0].name', 'got nothing');
  hasError(errs, 'spec.jwtRules[3].outputClaimToHeaders[0].header', 'a header name');
  hasError(errs, 'spec.jwtRules[3].outputClaimToHeaders[1].claim', 'got nothing');
  hasError(errs, 'spec.jwtRules[3].timeout', 'a duration');
  hasError(errs, 'spec.jwtRules[3].jwksuri', 'unknown field (did you mean jwksUri?)');
  hasError(errs, 'spec.jwtRules[4]', 'OpenID discovery');
});

const inline = (name: string, ns: string, issuer: string, extra = ''): string => `
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: ${name}, namespace: ${ns} }
spec:
${extra}
  jwtRules:
  - issuer: "${issuer}"
    jwks: '${JWKS}'
`;

test('translation: selected workloads get one jwt_authn filter with Istio\'s providers and requirement', () => {
  const configs = ok([
    inline('mesh', 'istio-system', ISS),
    inline('page', 'default', 'https://page.example', '  selector: { matchLabels: { app: productpage } }'),
    inline('other', 'default', 'https://other.example', '  selector: { matchLabels: { app: reviews } }'),
    inline('elsewhere', 'foo', 'https://foo.example'),
  ].join('---\n'));
  const f = inboundJwt(meshOf(configs));
  assert.ok(f !== undefined);
  const cfg = f.typed_config;
  assert.equal(cfg['@type'], 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication');
  assert.deepEqual(Object.keys(cfg.providers), ['origins-0', 'origins-1']);
  assert.deepEqual(Object.values(cfg.providers).map((p: J) => p.issuer).sort(), ['https://page.example', ISS].sort());
  const p0 = cfg.providers['origins-0'];
  assert.equal(p0.payload_in_metadata, p0.issuer);
  assert.equal(p0.forward, false);
  assert.deepEqual(p0.normalize_payload_in_metadata, { space_delimited_claims: ['permission', 'scope'] });
  assert.deepEqual(cfg.rules, [{
    match: { prefix: '/' },
    requires: { requires_any: { requirements: [
      { provider_name: 'origins-0' }, { provider_name: 'origins-1' },
      { requires_all: { requirements: [
        { requires_any: { requirements: [{ provider_name: 'origins-0' }, { allow_missing: {} }] } },
        { requires_any: { requirements: [{ provider_name: 'origins-1' }, { allow_missing: {} }] } },
      ] } },
    ] } },
  }]);
  assert.equal(cfg.bypass_cors_preflight, true);
  // reviews: the mesh-wide rule and its own.
  assert.deepEqual(Object.values(inboundJwt(meshOf(configs), 'reviews').typed_config.providers).map((p: J) => p.issuer).sort(), ['https://other.example', ISS].sort());
  // Without RequestAuthentication, no filter.
  assert.equal(inboundJwt(meshOf([])), undefined);
});

test('translation: one rule → requires_any [provider, allow_missing]; locations and outputs carried over', () => {
  const configs = ok(`
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: page, namespace: default }
spec:
  jwtRules:
  - issuer: "${ISS}"
    jwks: '${JWKS}'
    audiences: [weft]
    fromHeaders: [{ name: x-jwt, prefix: "Bearer " }]
    fromParams: [tok]
    forwardOriginalToken: true
    outputPayloadToHeader: x-payload
    outputClaimToHeaders: [{ header: x-sub, claim: sub }]
`);
  const cfg = inboundJwt(meshOf(configs)).typed_config;
  assert.deepEqual(cfg.rules[0].requires, { requires_any: { requirements: [{ provider_name: 'origins-0' }, { allow_missing: {} }] } });
  const p = cfg.providers['origins-0'];
  assert.deepEqual(
    { audiences: p.audiences, from_headers: p.from_headers, from_params: p.from_params, forward: p.forward, forward_payload_header: p.forward_payload_header, claim_to_headers: p.claim_to_headers },
    { audiences: ['weft'], from_headers: [{ name: 'x-jwt', value_prefix: 'Bearer ' }], from_params: ['tok'], forward: true, forward_payload_header: 'x-payload', claim_to_headers: [{ header_name: 'x-sub', claim_name: 'sub' }] },
  );
});

test('jwksUri: the resolver fetches the keys (then a new snapshot); until then no token matches', async (t) => {
  const server = await startJwksServer(JWKS);
  t.after(() => server.close());
  const uri = `http://127.0.0.1:${server.port}/jwks.json`;
  const configs = ok(`
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: page, namespace: default }
spec:
  jwtRules:
  - issuer: "${ISS}"
    jwksUri: ${uri}
`);
  let changes = 0;
  const resolver = new JwksResolver(() => { changes++; });
  t.after(() => resolver.close());
  const uris = jwksUrisOf(configs);
  const first = resolver.resolve(uris);
  assert.deepEqual(first.get(uri), { error: 'not fetched yet' });
  assert.equal(inboundJwt({ ...meshOf(configs), jwks: first }).typed_config.providers['origins-0'].local_jwks.inline_string, UNAVAILABLE_JWKS);
  await waitUntil(() => changes === 1, 5000, 'the JWKS fetch');
  const second = resolver.resolve(uris);
  assert.deepEqual(second.get(uri), { jwks: JWKS });
  assert.equal(inboundJwt({ ...meshOf(configs), jwks: second }).typed_config.providers['origins-0'].local_jwks.inline_string, JWKS);
  assert.equal(server.fetches(), 1);
});

test('the translated filter in a proxy: valid token 200, invalid 401, missing 200 (policies decide)', async (t) => {
  const configs = ok(inline('page', 'default', ISS));
  const f = inboundJwt(meshOf(configs));
  const up = await startUpstream();
  t.after(() => up.close());
  const p = await startProxy(simple({
    routes: [toCluster('/', 'up')],
    clusters: [cluster('up', [up.port])],
    extra: { http_filters: [f, { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }] },
  }));
  t.after(() => p.close());
  const good = await sign(key, { iss: ISS });
  assert.equal((await request(p.port, '/', { headers: { authorization: `Bearer ${good}` } })).status, 200);
  const expired = await sign(key, { iss: ISS, exp: Math.floor(Date.now() / 1000) - 3600 });
  const r = await request(p.port, '/', { headers: { authorization: `Bearer ${expired}` } });
  assert.deepEqual([r.status, r.body], [401, 'Jwt is expired']);
  assert.equal((await request(p.port, '/')).status, 200);
  assert.equal((await request(p.port, '/', { headers: { authorization: 'Bearer not.a.jwt' } })).status, 401);
});
