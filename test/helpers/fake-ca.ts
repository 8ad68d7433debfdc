// A small fake of the control plane's CA for sidecar-agent tests: Istio's
// `istio.v1.auth.IstioCertificateService/CreateCertificate` (src/security/ca-service.ts) over grpc-js
// with TLS, its serving certificate naming `weft-control`, signing CSRs with src/security/x509.ts.
// The test reads every request (CSR SANs, bearer token, node id), sets the leaf TTL, makes calls
// fail, and switches the signing root (root rotation).

import * as grpc from '@grpc/grpc-js';
import { caServiceDefinition, type IstioCertificateRequest, type IstioCertificateResponse } from '../../src/security/ca-service.js';
import { createRootCertificate, generateKeyPair, issueCertificate, readCsr, type KeyPair } from '../../src/security/x509.js';

export interface FakeRoot {
  readonly certPem: string;
  readonly key: KeyPair;
}

export interface SeenCsr {
  readonly uris: readonly string[];
  readonly token: string | undefined;
  readonly nodeId: string | undefined;
  readonly validitySeconds: number;
}

export interface FakeCa {
  readonly port: number;
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  readonly requests: SeenCsr[];
  /** The root that signs leaves now. */
  signingRoot: FakeRoot;
  /** The leaf TTL in ms. */
  ttlMs: number;
  /** When set, calls fail with this gRPC status (and message). */
  failWith: { code: grpc.status; message: string } | null;
  /** When set, only this bearer token is accepted (UNAUTHENTICATED otherwise). */
  requiredToken: string | null;
  /** Waits until `n` requests were answered with a certificate. */
  waitIssued(n: number, timeoutMs?: number): Promise<void>;
  readonly issued: number;
  close(): Promise<void>;
}

export async function makeRoot(name: string): Promise<FakeRoot> {
  const key = generateKeyPair();
  const pem = await createRootCertificate(key, `O=${name}`, 365 * 24 * 3600_000);
  return { key, certPem: pem.endsWith('\n') ? pem : `${pem}\n` };
}

/** Starts the fake CA on 127.0.0.1 (port 0). Its serving certificate is signed by `root` (DNS SAN weft-control). */
export async function startFakeCa(root: FakeRoot, opts: { ttlMs?: number } = {}): Promise<FakeCa> {
  const serverKey = generateKeyPair();
  const serverCert = await issueCertificate({
    issuerCertPem: root.certPem, issuerKey: root.key.privateKey, publicKey: serverKey.publicKey,
    dnsNames: ['weft-control', 'localhost'], uris: ['spiffe://cluster.local/ns/istio-system/sa/weft-control'], ttlMs: 3600_000,
  });
  const requests: SeenCsr[] = [];
  let issued = 0;
  let waiters: (() => void)[] = [];
  const server = new grpc.Server();
  const ca: FakeCa = {
    port: 0, address: '', requests, signingRoot: root, ttlMs: opts.ttlMs ?? 3600_000, failWith: null, requiredToken: null,
    get issued() { return issued; },
    waitIssued(n, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`fake CA: ${issued} certificates issued, expected ${n} within ${timeoutMs} ms`)), timeoutMs);
        const check = (): void => { if (issued >= n) { clearTimeout(t); resolve(); } else waiters.push(check); };
        check();
      });
    },
    close: () => new Promise<void>((resolve) => { server.forceShutdown(); resolve(); }),
  };
  server.addService(caServiceDefinition, {
    CreateCertificate: (call: grpc.ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>, cb: grpc.sendUnaryData<IstioCertificateResponse>) => {
      void (async () => {
        const auth = call.metadata.get('authorization')[0];
        const token = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
        const md = call.request.metadata as { fields?: Record<string, { string_value?: string }> } | undefined;
        const info = await readCsr(call.request.csr);
        requests.push({ uris: info.uris, token, nodeId: md?.fields?.WEFT_NODE_ID?.string_value, validitySeconds: Number(call.request.validity_duration ?? 0) });
        if (ca.failWith !== null) { cb({ code: ca.failWith.code, details: ca.failWith.message }); return; }
        if (ca.requiredToken !== null && token !== ca.requiredToken) { cb({ code: grpc.status.UNAUTHENTICATED, details: 'bad or missing token' }); return; }
        const signer = ca.signingRoot;
        const leaf = await issueCertificate({
          issuerCertPem: signer.certPem, issuerKey: signer.key.privateKey, publicKey: info.publicKey, uris: info.uris, ttlMs: ca.ttlMs,
        });
        issued++;
        cb(null, { cert_chain: [leaf, signer.certPem] });
        const w = waiters; waiters = []; for (const f of w) f();
      })().catch((e: unknown) => cb({ code: grpc.status.INTERNAL, details: (e as Error).message }));
    },
  });
  const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(serverCert), private_key: Buffer.from(serverKey.privateKeyPem) }], false);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))));
  Object.assign(ca, { port, address: `127.0.0.1:${port}` });
  return ca;
}
