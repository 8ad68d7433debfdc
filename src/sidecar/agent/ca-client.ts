// The sidecar agent's side of Istio's certificate API
// (`istio.v1.auth.IstioCertificateService/CreateCertificate`, src/security/ca-service.ts): a grpc-js
// client over TLS that verifies the control plane against the mesh's trust bundle with the name
// `weft-control`, sends `authorization: Bearer <token>` when it has a token, and the node id in the
// request metadata (`WEFT_NODE_ID`). Also the local-mode trust bootstrap: the root from the control
// plane's HTTP API (`GET /api/v1/ca/root`), only ever over loopback.

import * as grpc from '@grpc/grpc-js';
import { isIP } from 'node:net';
import { caServiceDefinition, type IstioCertificateRequest, type IstioCertificateResponse } from '../../security/ca-service.js';

/** The name the control plane's serving certificate carries (a DNS SAN), whatever address it is dialled on. */
export const CONTROL_PLANE_NAME = 'weft-control';

const CaClient = grpc.makeGenericClientConstructor(caServiceDefinition, 'IstioCertificateService');

type CreateCertificateFn = (req: IstioCertificateRequest, md: grpc.Metadata, opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: IstioCertificateResponse) => void) => void;

export interface SignRequest {
  readonly csrPem: string;
  /** Requested lifetime in seconds (0: the CA's default). */
  readonly validitySeconds: number;
  readonly nodeId: string;
  /** A bearer token, or undefined (local mode: the CA may trust loopback callers). */
  readonly token: string | undefined;
  readonly timeoutMs?: number;
}

/**
 * One CreateCertificate call on a fresh channel (signing is rare: at start, at half life, on a root
 * change), so each call uses the trust bundle of the moment. Resolves with the PEM chain, leaf first.
 */
export async function createCertificate(address: string, trustBundlePem: string, r: SignRequest): Promise<string[]> {
  const creds = grpc.credentials.createSsl(Buffer.from(trustBundlePem));
  const client = new CaClient(address, creds, {
    'grpc.ssl_target_name_override': CONTROL_PLANE_NAME,
    'grpc.default_authority': CONTROL_PLANE_NAME,
  });
  try {
    const md = new grpc.Metadata();
    if (r.token !== undefined) md.set('authorization', `Bearer ${r.token}`);
    const req: IstioCertificateRequest = {
      csr: r.csrPem,
      validity_duration: r.validitySeconds,
      metadata: { fields: { WEFT_NODE_ID: { string_value: r.nodeId } } },
    };
    const call = (client as unknown as { CreateCertificate: CreateCertificateFn }).CreateCertificate.bind(client);
    const res = await new Promise<IstioCertificateResponse>((resolve, reject) => {
      call(req, md, { deadline: Date.now() + (r.timeoutMs ?? 10_000) }, (err, out) => (err !== null ? reject(err) : resolve(out!)));
    });
    if (res.cert_chain.length === 0) throw new Error('the CA answered with an empty certificate chain');
    // A chain entry may itself hold several certificates; flatten.
    return res.cert_chain.flatMap((c) => c.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((c) => `${c}\n`);
  } finally {
    client.close();
  }
}

/** Whether `host` is a loopback address or `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}

/**
 * Local mode's trust bootstrap: the mesh's root bundle from the control plane's HTTP API. Refused
 * unless `host` is loopback (anyone on the path could hand out a root otherwise).
 */
export async function fetchRootFromControlPlane(host: string, httpPort: number, timeoutMs = 5000): Promise<string> {
  if (!isLoopbackHost(host)) throw new Error(`refusing to fetch the trust root over plain HTTP from the non-loopback host ${host}`);
  const h = isIP(host.replace(/^\[|\]$/g, '')) === 6 ? `[${host.replace(/^\[|\]$/g, '')}]` : host;
  const res = await fetch(`http://${h}:${httpPort}/api/v1/ca/root`, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET /api/v1/ca/root: HTTP ${res.status}: ${text.slice(0, 200)}`);
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error('GET /api/v1/ca/root: the answer holds no PEM certificate');
  return text;
}
