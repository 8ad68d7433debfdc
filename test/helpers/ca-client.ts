// A test client for the CA's CreateCertificate (istio.v1.auth.IstioCertificateService, grpc-js over
// TLS, server name `weft-control` verified against the trust bundle), and a way to read the serving
// certificate a TLS port presents.
import { credentials, makeGenericClientConstructor, Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { caServiceDefinition, type IstioCertificateRequest, type IstioCertificateResponse } from '../../src/security/ca-service.js';
import { createCsrSync, generateKeyPair, type KeyPair } from '../../src/security/x509.js';

const CaClientCtor = makeGenericClientConstructor(caServiceDefinition, 'ca');

export interface CaTestClient {
  readonly client: Client;
  /** Resolves with the chain, or rejects with the gRPC error (code, details). */
  create(req: IstioCertificateRequest, token?: string): Promise<string[]>;
  close(): void;
}

export function caClient(port: number, bundlePem: string, o: { serverName?: string; clientCert?: { chain: string; key: string } } = {}): CaTestClient {
  const creds = credentials.createSsl(Buffer.from(bundlePem), o.clientCert === undefined ? null : Buffer.from(o.clientCert.key), o.clientCert === undefined ? null : Buffer.from(o.clientCert.chain));
  const client = new CaClientCtor(`127.0.0.1:${port}`, creds, { 'grpc.ssl_target_name_override': o.serverName ?? 'weft-control', 'grpc.default_authority': o.serverName ?? 'weft-control' });
  return {
    client,
    create(req, token) {
      const md = new Metadata();
      if (token !== undefined) md.set('authorization', `Bearer ${token}`);
      return new Promise((resolve, reject) => {
        (client as unknown as { CreateCertificate(r: IstioCertificateRequest, m: Metadata, cb: (e: ServiceError | null, r?: IstioCertificateResponse) => void): void })
          .CreateCertificate(req, md, (e, r) => (e !== null ? reject(e) : resolve(r!.cert_chain)));
      });
    },
    close: () => client.close(),
  };
}

/** A key and a CSR naming `spiffe`. */
export function csrFor(spiffe: string, kp: KeyPair = generateKeyPair()): { kp: KeyPair; csr: string } {
  return { kp, csr: createCsrSync(kp, spiffe) };
}

/** The certificate a TLS port presents (ALPN h2, as gRPC), verified against `bundlePem` with server name weft-control. */
export function servedCertificate(port: number, bundlePem: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: bundlePem, servername: 'weft-control', ALPNProtocols: ['h2'] }, () => {
      const c = s.getPeerX509Certificate();
      s.destroy();
      if (c === undefined) reject(new Error('no peer certificate')); else resolve(c);
    });
    s.once('error', reject);
  });
}
