// Zero trust by default, as users run it: `weft control` (its CA) and `weft sidecar` processes,
// nothing configured for security. Sidecar-to-sidecar calls are mutual TLS with SPIFFE identities
// (openssl sees the URI SAN and the chain to the mesh root); PERMISSIVE accepts plaintext too,
// STRICT refuses every plaintext connection; leaf renewal and a whole root rotation under
// continuous load lose no request; Istio's AuthorizationPolicy cases (allow by principal, deny by
// path and method, `when` on a JWT claim, CUSTOM with an ext_authz server) answer 200 / 403.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { caClient, csrFor } from '../helpers/ca-client.js';
import { fromRoot } from '../helpers/paths.js';
import { runWeft } from '../helpers/process.js';
import {
  apply, hammer, startControl, startSidecar, startVersionApp, versionVia, viaSidecar, waitUntil, type ControlProcess, type SidecarProcess,
} from '../helpers/mesh.js';

function openssl(args: string[], input = ''): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = execFile('openssl', args, { timeout: 10_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: stdout + stderr }));
    p.stdin!.end(input);
  });
}

/** A plaintext HTTP request on a raw socket: the status line, or null when the connection closed without an answer. */
function plaintext(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write('GET /plain HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n'));
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('error', () => {});
    s.on('close', () => resolve(got === '' ? null : got.split('\r\n')[0]!));
  });
}

interface CertsDump { certificates: { ca_cert: { serial_number: string }[]; cert_chain: { serial_number: string; subject_alt_names: { uri?: string }[] }[] }[] }
async function certs(admin: number): Promise<CertsDump> {
  return await (await fetch(`http://127.0.0.1:${admin}/certs`)).json() as CertsDump;
}
/** The sidecar's own leaf serial (the `default` secret) and how many roots it trusts. */
async function certState(admin: number): Promise<{ leaf: string; roots: number }> {
  const d = await certs(admin);
  const withLeaf = d.certificates.find((c) => c.cert_chain.length > 0);
  return { leaf: withLeaf?.cert_chain[0]?.serial_number ?? '', roots: Math.max(0, ...d.certificates.map((c) => c.ca_cert.length)) };
}

async function mesh(t: TestContext, controlArgs: string[] = []): Promise<{ control: ControlProcess; backend: SidecarProcess; frontend: SidecarProcess }> {
  const control = await startControl(controlArgs);
  t.after(() => control.stop());
  const app = await startVersionApp('v1');
  const front = await startVersionApp('front');
  t.after(() => Promise.all([app.close(), front.close()]));
  const [backend, frontend] = await Promise.all([
    startSidecar(control, { service: 'backend', appPort: app.port, servicePort: 9080 }),
    startSidecar(control, { service: 'frontend', appPort: front.port, servicePort: 9090 }),
  ]);
  t.after(() => Promise.all([backend.stop(), frontend.stop()]));
  await waitUntil('frontend reaches backend', async () => await versionVia(frontend.outbound, 'backend:9080').catch(() => '') === 'v1');
  return { control, backend, frontend };
}

test('mTLS without configuration: SPIFFE identity and chain seen by openssl; PERMISSIVE takes plaintext too, STRICT refuses it every time', async (t) => {
  const { control, backend, frontend } = await mesh(t);
  const dir = mkdtempSync(join(tmpdir(), 'weft-zt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bundle = await (await fetch(`http://${control.api}/api/v1/ca/root`)).text();
  writeFileSync(join(dir, 'root.pem'), bundle);
  // A client certificate of the mesh (loopback caller, local mode), for openssl's side of the handshake.
  const ca = caClient(control.caPort, bundle);
  t.after(() => ca.close());
  const { kp, csr } = csrFor('spiffe://cluster.local/ns/default/sa/tester');
  const chain = await ca.create({ csr });
  writeFileSync(join(dir, 'client.pem'), chain.join(''));
  writeFileSync(join(dir, 'client.key'), kp.privateKeyPem);

  // The call went over mTLS: the client sidecar's cluster counted a handshake.
  const stats = await (await fetch(`http://127.0.0.1:${frontend.admin}/stats`)).text();
  assert.match(stats, /cluster\.outbound\|9080\|\|backend\.default\.svc\.cluster\.local\.ssl\.handshake: [1-9]/);
  assert.match(stats, /tlsMode-istio\.total_match_count: [1-9]/);

  const s = await openssl(['s_client', '-connect', `127.0.0.1:${backend.inbound}`, '-CAfile', join(dir, 'root.pem'), '-cert', join(dir, 'client.pem'),
    '-key', join(dir, 'client.key'), '-alpn', 'istio-http/1.1', '-verify_return_error', '-showcerts', '-servername', 'outbound_.9080_._.backend.default.svc.cluster.local'], 'Q\n');
  assert.match(s.out, /Verify return code: 0 \(ok\)/, s.out);
  const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(s.out)![0];
  const text = await openssl(['x509', '-noout', '-text'], leaf + '\n');
  assert.match(text.out, /URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/backend/);
  assert.match(text.out, /Not After/);

  // PERMISSIVE (the default): a plaintext client is served as well.
  assert.match((await plaintext(backend.inbound))!, /^HTTP\/1\.1 200/);
  await apply(control.api, `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: backend-strict, namespace: default }
spec: { selector: { matchLabels: { app: backend } }, mtls: { mode: STRICT } }
`);
  await waitUntil('STRICT applied', async () => (await plaintext(backend.inbound)) === null);
  for (let i = 0; i < 20; i++) assert.equal(await plaintext(backend.inbound), null, `plaintext attempt ${i} refused`);
  // Mesh calls keep working, and so does a mesh client certificate.
  for (let i = 0; i < 20; i++) assert.equal(await versionVia(frontend.outbound, 'backend:9080'), 'v1');
  const again = await openssl(['s_client', '-connect', `127.0.0.1:${backend.inbound}`, '-CAfile', join(dir, 'root.pem'), '-cert', join(dir, 'client.pem'),
    '-key', join(dir, 'client.key'), '-alpn', 'istio-http/1.1', '-verify_return_error'], 'Q\n');
  assert.match(again.out, /Verify return code: 0 \(ok\)/);
  const status = await runWeft(['proxy-status', '--control', control.api]);
  assert.match(status.stdout, /spiffe:\/\/cluster\.local\/ns\/default\/sa\/backend/);
});

test('leaf renewal and a root rotation (prepare, activate, retire) under continuous load: no request fails', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'weft-zt-data-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const { control, backend, frontend } = await mesh(t, ['--cert-ttl', '8s', '--data-dir', dataDir]);
  const sidecars = [backend, frontend];
  const load = hammer(t, frontend, 3);
  await waitUntil('traffic flowing', async () => load.results.length > 100, 20_000);

  // Leaves live 8 s and are renewed at half life: two renewals of the backend's certificate.
  const first = (await certState(backend.admin)).leaf;
  let second = '';
  await waitUntil('a renewed leaf', async () => { second = (await certState(backend.admin)).leaf; return second !== '' && second !== first; }, 20_000);
  await waitUntil('another renewal', async () => { const l = (await certState(backend.admin)).leaf; return l !== '' && l !== second; }, 20_000);

  const ctl = ['--control', control.api];
  let r = await runWeft(['ca', 'rotate', 'prepare', ...ctl]);
  assert.equal(r.code, 0, r.stderr);
  for (const s of sidecars) await waitUntil('both roots trusted', async () => (await certState(s.admin)).roots === 2, 20_000);
  const before = await Promise.all(sidecars.map(async (s) => (await certState(s.admin)).leaf));
  r = await runWeft(['ca', 'rotate', 'activate', ...ctl]);
  assert.equal(r.code, 0, r.stderr);
  // Every leaf re-issued by the new root (a new serial after the activation).
  await Promise.all(sidecars.map((s, i) => waitUntil('leaf re-issued', async () => (await certState(s.admin)).leaf !== before[i], 20_000)));
  const n = load.results.length;
  await waitUntil('traffic on the new leaves', async () => load.results.length > n + 100, 20_000);
  r = await runWeft(['ca', 'rotate', 'retire', ...ctl]);
  assert.equal(r.code, 0, r.stderr);
  for (const s of sidecars) await waitUntil('only the new root trusted', async () => (await certState(s.admin)).roots === 1, 20_000);
  // New connections after the retirement: a fresh agent makes new TLS connections through the mesh.
  for (let i = 0; i < 10; i++) assert.equal(await versionVia(frontend.outbound, 'backend:9080', {}, new http.Agent({ keepAlive: false })), 'v1');
  const m = load.results.length;
  await waitUntil('traffic after the retirement', async () => load.results.length > m + 100, 20_000);
  await load.stop();
  const failed = load.results.filter((x) => x !== 'v1');
  assert.deepEqual(failed.slice(0, 10), [], `${failed.length} of ${load.results.length} requests failed`);
});

test("AuthorizationPolicy from Istio's documentation: allow by principal, deny by path and method, when on a JWT claim, CUSTOM with an ext_authz server", async (t) => {
  // The ext_authz server (Istio's sample semantics): allow when `x-ext-authz: allow`.
  let checks = 0;
  const authz = http.createServer((req, res) => {
    checks++;
    if (req.headers['x-ext-authz'] === 'allow') { res.writeHead(200); res.end(); return; }
    res.writeHead(403, { 'x-ext-authz-check-result': 'denied' });
    res.end('denied by ext_authz');
  });
  await new Promise<void>((r) => authz.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => authz.close(() => r())));
  const authzPort = (authz.address() as net.AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'weft-zt-mesh-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'mesh.yaml'), `extensionProviders:
- name: sample-ext-authz-http
  envoyExtAuthzHttp:
    service: ext-authz.default.svc.cluster.local
    port: 8000
    includeRequestHeadersInCheck: [x-ext-authz]
`);
  const { control, frontend } = await mesh(t, ['--mesh-config', join(dir, 'mesh.yaml')]);
  const reg = await fetch(`http://${control.api}/v1/registry/workloads`, {
    method: 'POST',
    body: JSON.stringify({ service: 'ext-authz', namespace: 'default', address: '127.0.0.1', ttl: '300s', ports: [{ name: 'http', port: 8000, targetPort: authzPort, protocol: 'HTTP' }] }),
  });
  assert.ok(reg.ok, await reg.text());
  // A third workload with another identity.
  const otherApp = await startVersionApp('other');
  t.after(() => otherApp.close());
  const other = await startSidecar(control, { service: 'other', appPort: otherApp.port, servicePort: 9070 });
  t.after(() => other.stop());
  await waitUntil('other reaches backend', async () => await versionVia(other.outbound, 'backend:9080').catch(() => '') === 'v1');
  const jwks = readFileSync(fromRoot('examples', 'demo', 'security', 'jwks.json'), 'utf8');
  const token = readFileSync(fromRoot('examples', 'demo', 'security', 'demo.jwt'), 'utf8').trim();
  const call = async (via: SidecarProcess, path: string, method = 'GET', headers: http.OutgoingHttpHeaders = {}): Promise<number> =>
    (await viaSidecar(via.outbound, 'backend:9080', path, headers, undefined, method)).status;

  await apply(control.api, `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow-frontend, namespace: default }
spec:
  selector: { matchLabels: { app: backend } }
  action: ALLOW
  rules:
  - from: [{ source: { principals: ["cluster.local/ns/default/sa/frontend"] } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-admin-delete, namespace: default }
spec:
  selector: { matchLabels: { app: backend } }
  action: DENY
  rules:
  - to: [{ operation: { methods: ["DELETE"], paths: ["/admin/*"] } }]
`);
  await waitUntil('other denied', async () => await call(other, '/') === 403);
  assert.equal(await call(frontend, '/'), 200, 'allowed by principal');
  assert.equal(await call(frontend, '/admin/users', 'DELETE'), 403, 'denied by path and method');
  assert.equal(await call(frontend, '/admin/users', 'GET'), 200, 'another method on the path');
  assert.equal(await call(frontend, '/other', 'DELETE'), 200, 'the method on another path');

  // `when` on a JWT claim (groups contains readers), from the backend's RequestAuthentication.
  await apply(control.api, `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: backend-jwt, namespace: default }
spec:
  selector: { matchLabels: { app: backend } }
  jwtRules: [{ issuer: demo@weft.dev, jwks: '${jwks.replace(/\s+/g, '')}' }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: readers-only, namespace: default }
spec:
  selector: { matchLabels: { app: backend } }
  action: DENY
  rules:
  - to: [{ operation: { paths: ["/reports"] } }]
    when: [{ key: "request.auth.claims[groups]", notValues: ["readers"] }]
`);
  await waitUntil('the claim is required', async () => await call(frontend, '/reports') === 403);
  assert.equal(await call(frontend, '/reports', 'GET', { authorization: `Bearer ${token}` }), 200, 'a token with groups: readers');
  assert.equal(await call(frontend, '/reports', 'GET', { authorization: `Bearer ${token}x` }), 401, 'an invalid token');

  // CUSTOM: the ext_authz server decides for /headers only.
  await apply(control.api, `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ext-authz, namespace: default }
spec:
  selector: { matchLabels: { app: backend } }
  action: CUSTOM
  provider: { name: sample-ext-authz-http }
  rules:
  - to: [{ operation: { paths: ["/headers"] } }]
`);
  await waitUntil('ext_authz denies', async () => await call(frontend, '/headers') === 403);
  assert.equal(await call(frontend, '/headers', 'GET', { 'x-ext-authz': 'allow' }), 200);
  const seen = checks;
  assert.equal(await call(frontend, '/', 'GET'), 200, 'paths the CUSTOM rule does not match are not checked');
  assert.equal(checks, seen);
});
