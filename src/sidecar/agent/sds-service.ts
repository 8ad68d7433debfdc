// Envoy's Secret Discovery Service (envoy/service/secret/v3/sds.proto,
// `envoy.service.secret.v3.SecretDiscoveryService`) as a grpc-js service definition: StreamSecrets
// (state of the world), DeltaSecrets and FetchSecrets, with the discovery messages in their JSON
// form and resources as pre-encoded Anys of envoy.extensions.transport_sockets.tls.v3.Secret.
// The sidecar agent serves it on a Unix socket (src/sidecar/agent/sds-server.ts); tests call it.

import type { ServiceDefinition } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse } from '../../xds/ads-service.js';
import { decodeToJson, encodeFromJson, type RawAny } from '../../xds/proto-json.js';
import { messageType } from '../../xds/protos.js';
import { SECRET_TYPE, type SecretValue } from '../../proxy/secrets/types.js';

export const SDS_SERVICE_NAME = 'envoy.service.secret.v3.SecretDiscoveryService';

function codec<T>(typeName: string): { encode: (v: T) => Buffer; decode: (b: Buffer) => T } {
  let type: protobuf.Type | null = null;
  const t = (): protobuf.Type => (type ??= messageType(typeName));
  return {
    encode: (v: T) => Buffer.from(encodeFromJson(t(), v)),
    decode: (b: Buffer) => decodeToJson(t(), b) as T,
  };
}

const req = codec<DiscoveryRequest>('envoy.service.discovery.v3.DiscoveryRequest');
const res = codec<DiscoveryResponse>('envoy.service.discovery.v3.DiscoveryResponse');
const dreq = codec<DeltaDiscoveryRequest>('envoy.service.discovery.v3.DeltaDiscoveryRequest');
const dres = codec<DeltaDiscoveryResponse>('envoy.service.discovery.v3.DeltaDiscoveryResponse');

/** For grpc-js `Server.addService` and `makeGenericClientConstructor` (responses decode to JSON, resources with "@type"). */
export const SDS_SERVICE = {
  StreamSecrets: {
    path: `/${SDS_SERVICE_NAME}/StreamSecrets`,
    requestStream: true,
    responseStream: true,
    requestSerialize: req.encode,
    requestDeserialize: req.decode,
    responseSerialize: res.encode,
    responseDeserialize: res.decode,
    originalName: 'streamSecrets',
  },
  DeltaSecrets: {
    path: `/${SDS_SERVICE_NAME}/DeltaSecrets`,
    requestStream: true,
    responseStream: true,
    requestSerialize: dreq.encode,
    requestDeserialize: dreq.decode,
    responseSerialize: dres.encode,
    responseDeserialize: dres.decode,
    originalName: 'deltaSecrets',
  },
  FetchSecrets: {
    path: `/${SDS_SERVICE_NAME}/FetchSecrets`,
    requestStream: false,
    responseStream: false,
    requestSerialize: req.encode,
    requestDeserialize: req.decode,
    responseSerialize: res.encode,
    responseDeserialize: res.decode,
    originalName: 'fetchSecrets',
  },
} satisfies ServiceDefinition;

let secretType: protobuf.Type | null = null;

/** A secret as a pre-encoded Any (inline_bytes, as Istio's agent sends them). */
export function secretAny(s: SecretValue): RawAny {
  const b64 = (text: string): { inline_bytes: string } => ({ inline_bytes: Buffer.from(text).toString('base64') });
  const json = s.kind === 'tls_certificate'
    ? { name: s.name, tls_certificate: { certificate_chain: b64(s.certificateChain), private_key: b64(s.privateKey) } }
    : { name: s.name, validation_context: { trusted_ca: b64(s.trustedCa) } };
  secretType ??= messageType('envoy.extensions.transport_sockets.tls.v3.Secret');
  return { type_url: SECRET_TYPE, value: encodeFromJson(secretType, json) };
}
