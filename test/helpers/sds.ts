// SDS test helpers: Secret resources (tls_certificate / validation_context) from PEM files, SDS
// files in Envoy's DiscoveryResponse shape, SdsSecretConfig blocks for bootstraps, and a tiny gRPC
// SDS server (envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets, state of the world) on a
// Unix socket that records ACKs and NACKs.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { ADS_SERVICE, type DiscoveryRequest, type DiscoveryResponse } from '../../src/xds/ads-service.js';
import { messageFromJson, type RawAny } from '../../src/xds/proto-json.js';
import { messageType } from '../../src/xds/protos.js';
import type { Obj } from './bootstrap.js';
import type { LeafFiles } from './certs.js';

export const SECRET_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

export function certSecret(name: string, f: LeafFiles): Obj {
  return {
    '@type': SECRET_TYPE, name,
    tls_certificate: { certificate_chain: { inline_string: readFileSync(f.cert, 'utf8') }, private_key: { inline_string: readFileSync(f.key, 'utf8') } },
  };
}

export function caSecret(name: string, caFile: string): Obj {
  return { '@type': SECRET_TYPE, name, validation_context: { trusted_ca: { inline_string: readFileSync(caFile, 'utf8') } } };
}

/** Writes an SDS file atomically (write + rename, as Kubernetes and careful writers do). */
export function writeSdsFile(path: string, resources: Obj[], version = '1'): void {
  writeFileSync(`${path}.tmp`, JSON.stringify({ version_info: version, resources }));
  renameSync(`${path}.tmp`, path);
}

export const fileSds = (name: string, path: string, extra: Obj = {}): Obj => ({ name, sds_config: { path_config_source: { path }, ...extra } });
export const adsSds = (name: string, extra: Obj = {}): Obj => ({ name, sds_config: { ads: {}, resource_api_version: 'V3', ...extra } });
export const grpcSds = (name: string, cluster: string, extra: Obj = {}): Obj => ({
  name,
  sds_config: {
    api_config_source: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: cluster } }] },
    resource_api_version: 'V3', ...extra,
  },
});

/** A Secret JSON → the Any a discovery response carries. */
export function secretAny(secret: Obj): RawAny {
  const { '@type': _t, ...rest } = secret;
  const t = messageType('envoy.extensions.transport_sockets.tls.v3.Secret');
  return { type_url: SECRET_TYPE, value: t.encode(messageFromJson(t, rest, '')).finish() };
}

export interface FakeSdsServer {
  /** The requests received, in order. */
  readonly requests: DiscoveryRequest[];
  /** Sets the secrets and pushes them to every open stream (a new version). */
  set(secrets: Obj[]): void;
  /** Open streams now. */
  streams(): number;
  close(): Promise<void>;
}

/** A gRPC SDS server on `address` (`unix:<path>` or `127.0.0.1:0`); returns it with the bound port. */
export async function startFakeSds(address: string): Promise<FakeSdsServer & { port: number }> {
  const server = new grpc.Server();
  const requests: DiscoveryRequest[] = [];
  let secrets: Obj[] = [];
  let version = 0;
  let nonce = 0;
  const open = new Set<grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>>();
  const push = (call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>, names: readonly string[]): void => {
    const resources = secrets.filter((s) => names.length === 0 || names.includes(s.name as string)).map(secretAny);
    call.write({ version_info: String(version), resources, type_url: SECRET_TYPE, nonce: String(++nonce) });
  };
  const names = new WeakMap<object, readonly string[]>();
  const svc = ADS_SERVICE.StreamAggregatedResources;
  server.addService({
    StreamSecrets: { ...svc, path: '/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets', originalName: 'streamSecrets' },
  } as grpc.ServiceDefinition, {
    StreamSecrets: (call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) => {
      open.add(call);
      call.on('data', (req: DiscoveryRequest) => {
        requests.push(req);
        const before = names.get(call);
        names.set(call, req.resource_names ?? []);
        // The first request, or a change of names, gets the current secrets; ACKs / NACKs do not.
        if (before === undefined || JSON.stringify(before) !== JSON.stringify(req.resource_names ?? [])) push(call, req.resource_names ?? []);
      });
      const done = () => { open.delete(call); };
      call.on('end', () => { done(); call.end(); });
      call.on('error', done);
      call.on('cancelled', done);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return {
    port, requests,
    set(next) {
      secrets = next;
      version++;
      for (const c of open) push(c, names.get(c) ?? []);
    },
    streams: () => open.size,
    close: () => new Promise<void>((resolve) => { for (const c of open) c.end(); server.tryShutdown(() => resolve()); setTimeout(() => server.forceShutdown(), 1000).unref(); }),
  };
}
