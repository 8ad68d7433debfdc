// Istio's certificate API served by `weft control` (istio.v1.auth.IstioCertificateService/
// CreateCertificate, src/security/ca-service.ts) on `--ca-port` (15012, as istiod) over TLS with
// the control plane's serving certificate. The caller proves who it is with
// `authorization: Bearer <token>` (./tokens.ts); the identity is the token's, never the CSR's. In
// local mode (control plane on loopback only, --trust-loopback) a loopback caller without a token
// gets the identity its CSR names. Everything else: UNAUTHENTICATED.

import { Server, status, type ServerUnaryCall, type sendUnaryData, type ServerCredentials } from '@grpc/grpc-js';
import { caServiceDefinition, type IstioCertificateRequest, type IstioCertificateResponse } from '../../security/ca-service.js';
import { CsrError, type Issued, type Signer } from './ca.js';
import type { TokenIdentity, TokenIssuer } from './tokens.js';
import { createLogger } from '../../observe/logger.js';

const log = createLogger('ca');

export interface CaServerOptions {
  readonly signer: Signer;
  readonly tokens: TokenIssuer;
  readonly credentials: ServerCredentials;
  /** Loopback callers without a token get their CSR's identity. */
  readonly trustLoopback: boolean;
  /** Told of every certificate issued (node id from the request's metadata WEFT_NODE_ID). */
  readonly onIssued?: (issued: Issued, nodeId: string | undefined) => void;
}

/** Counters (Istio's citadel_server_* in spirit). */
export interface CaServerStats { csrs: number; issued: number; authFailures: number; csrErrors: number }

export function isLoopbackPeer(peer: string): boolean {
  const host = peer.startsWith('[') ? peer.slice(1, peer.indexOf(']')) : peer.slice(0, peer.lastIndexOf(':'));
  return host === '::1' || host.startsWith('127.') || host === '::ffff:127.0.0.1' || host.startsWith('::ffff:127.');
}

function nodeIdOf(req: IstioCertificateRequest): string | undefined {
  const fields = (req.metadata as { fields?: Record<string, { string_value?: string }> } | undefined)?.fields;
  const v = fields?.WEFT_NODE_ID?.string_value;
  return v === undefined || v === '' ? undefined : v;
}

export class CaServer {
  readonly stats: CaServerStats = { csrs: 0, issued: 0, authFailures: 0, csrErrors: 0 };
  #server: Server | undefined;

  constructor(private readonly o: CaServerOptions) {}

  async start(host: string, port: number): Promise<number> {
    const server = new Server();
    server.addService(caServiceDefinition, {
      CreateCertificate: (call: ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>, cb: sendUnaryData<IstioCertificateResponse>) => {
        void this.#create(call).then((r) => cb(null, r), (e: { code: number; details: string }) => cb({ code: e.code, details: e.details }));
      },
    });
    this.#server = server;
    const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    return new Promise<number>((resolve, reject) => {
      server.bindAsync(address, this.o.credentials, (err, p) => (err === null ? resolve(p) : reject(err)));
    });
  }

  async #create(call: ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>): Promise<IstioCertificateResponse> {
    this.stats.csrs++;
    const fail = (code: number, details: string, counter: 'authFailures' | 'csrErrors'): never => {
      this.stats[counter]++;
      log.warning('CreateCertificate from %s refused: %s', call.getPeer(), details);
      throw { code, details };
    };
    const auth = call.metadata.get('authorization')[0];
    let identity: TokenIdentity | undefined;
    if (typeof auth === 'string' && auth !== '') {
      const m = /^Bearer\s+(\S+)$/i.exec(auth);
      if (m === null) fail(status.UNAUTHENTICATED, 'authorization metadata: expected "Bearer <token>"', 'authFailures');
      try { identity = await this.o.tokens.verify(m![1]!); } catch (e) { fail(status.UNAUTHENTICATED, `invalid token: ${(e as Error).message}`, 'authFailures'); }
    } else if (!(this.o.trustLoopback && isLoopbackPeer(call.getPeer()))) {
      fail(status.UNAUTHENTICATED, 'no token: send "authorization: Bearer <token>" metadata with a token from `weft token create`', 'authFailures');
    }
    let issued: Issued;
    try {
      issued = this.o.signer.sign({ csrPem: call.request.csr, identity, validitySeconds: Number(call.request.validity_duration ?? 0) });
    } catch (e) {
      if (e instanceof CsrError) fail(e.kind === 'denied' ? status.PERMISSION_DENIED : status.INVALID_ARGUMENT, e.message, 'csrErrors');
      throw e;
    }
    this.stats.issued++;
    try { this.o.onIssued?.(issued!, nodeIdOf(call.request)); } catch (e) { log.error('recording an issued certificate failed: %s', e); }
    log.debug('issued %s (serial %s) to %s', issued!.spiffeId, issued!.serial, call.getPeer());
    return { cert_chain: [...issued!.chain] };
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => { server.forceShutdown(); resolve(); }, 2000);
      server.tryShutdown(() => { clearTimeout(force); resolve(); });
    });
  }
}
