// A grpc-js client of Envoy's SecretDiscoveryService (StreamSecrets, state of the world) for tests:
// subscribes to secret names on a Unix socket (the sidecar agent's SDS server), hands each response
// over decoded (name → SecretValue), and sends ACKs / NACKs as Envoy does.

import * as grpc from '@grpc/grpc-js';
import type { SecretValue } from '../../src/proxy/secrets/types.js';
import { SECRET_TYPE } from '../../src/proxy/secrets/types.js';
import { SDS_SERVICE } from '../../src/sidecar/agent/sds-service.js';
import type { DiscoveryRequest, DiscoveryResponse } from '../../src/xds/ads-service.js';

export interface SdsResponse {
  readonly version: string;
  readonly nonce: string;
  readonly secrets: Map<string, SecretValue>;
}

export interface SdsStream {
  /** The next response (after the ones already taken); rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<SdsResponse>;
  ack(r: SdsResponse): void;
  nack(r: SdsResponse, message: string): void;
  readonly responses: number;
  close(): void;
}

type Obj = Record<string, unknown>;
const text = (ds: unknown): string => {
  const d = (ds ?? {}) as { inline_bytes?: string; inline_string?: string };
  return d.inline_string ?? Buffer.from(d.inline_bytes ?? '', 'base64').toString();
};

export function decodeSecret(r: Obj): SecretValue {
  const name = r.name as string;
  if (r.tls_certificate !== undefined) {
    const t = r.tls_certificate as Obj;
    return { kind: 'tls_certificate', name, certificateChain: text(t.certificate_chain), privateKey: text(t.private_key) };
  }
  return { kind: 'validation_context', name, trustedCa: text((r.validation_context as Obj).trusted_ca) };
}

export function sdsClient(socketPath: string): grpc.Client {
  const Ctor = grpc.makeGenericClientConstructor(SDS_SERVICE, 'SecretDiscoveryService');
  return new Ctor(`unix:${socketPath}`, grpc.credentials.createInsecure());
}

export function sdsStream(socketPath: string, names: string[]): SdsStream {
  const client = sdsClient(socketPath);
  const call = (client as unknown as { StreamSecrets(): grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse> }).StreamSecrets();
  const got: SdsResponse[] = [];
  let taken = 0;
  let waiters: (() => void)[] = [];
  call.on('data', (m: DiscoveryResponse) => {
    const secrets = new Map<string, SecretValue>();
    for (const r of m.resources as unknown as Obj[]) { const s = decodeSecret(r); secrets.set(s.name, s); }
    got.push({ version: m.version_info, nonce: m.nonce, secrets });
    const w = waiters; waiters = []; for (const f of w) f();
  });
  call.on('error', () => undefined);
  const node = { id: 'test-client', cluster: 'test' };
  call.write({ node, type_url: SECRET_TYPE, resource_names: names, version_info: '', response_nonce: '' });
  let lastVersion = '';
  return {
    get responses() { return got.length; },
    next(timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no SDS response #${taken + 1} within ${timeoutMs} ms`)), timeoutMs);
        const check = (): void => {
          if (got.length > taken) { clearTimeout(t); resolve(got[taken++]!); } else waiters.push(check);
        };
        check();
      });
    },
    ack(r) {
      lastVersion = r.version;
      call.write({ node, type_url: SECRET_TYPE, resource_names: names, version_info: r.version, response_nonce: r.nonce });
    },
    nack(r, message) {
      call.write({ node, type_url: SECRET_TYPE, resource_names: names, version_info: lastVersion, response_nonce: r.nonce, error_detail: { code: 3, message } });
    },
    close() { call.cancel(); client.close(); },
  };
}
