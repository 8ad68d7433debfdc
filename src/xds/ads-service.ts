// The Aggregated Discovery Service (envoy/service/discovery/v3/ads.proto) as a grpc-js service
// definition: both bidirectional methods, with messages in their JSON form (snake_case keys) except
// resources, which travel as pre-encoded Anys so a control plane encodes each resource once.

import type { ServiceDefinition } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { decodeToJson, messageFromJson, type RawAny } from './proto-json.js';
import { messageType } from './protos.js';

/** google.rpc.Status as it appears in a NACK. */
export interface RpcStatus {
  readonly code?: number;
  readonly message?: string;
}

/** envoy.config.core.v3.Node, JSON form (metadata is plain JSON). */
export interface NodeJson {
  readonly id?: string;
  readonly cluster?: string;
  readonly metadata?: Record<string, unknown>;
  readonly locality?: { readonly region?: string; readonly zone?: string; readonly sub_zone?: string };
  readonly user_agent_name?: string;
  readonly user_agent_version?: string;
  readonly client_features?: readonly string[];
}

export interface DiscoveryRequest {
  readonly version_info?: string;
  readonly node?: NodeJson;
  readonly resource_names?: readonly string[];
  readonly type_url?: string;
  readonly response_nonce?: string;
  readonly error_detail?: RpcStatus;
}

export interface DiscoveryResponse {
  readonly version_info: string;
  readonly resources: readonly RawAny[];
  readonly type_url: string;
  readonly nonce: string;
  readonly control_plane?: { readonly identifier: string };
}

export interface DeltaDiscoveryRequest {
  readonly node?: NodeJson;
  readonly type_url?: string;
  readonly resource_names_subscribe?: readonly string[];
  readonly resource_names_unsubscribe?: readonly string[];
  readonly initial_resource_versions?: Readonly<Record<string, string>>;
  readonly response_nonce?: string;
  readonly error_detail?: RpcStatus;
}

/** envoy.service.discovery.v3.Resource in a delta response. */
export interface DeltaResource {
  readonly name: string;
  readonly version: string;
  readonly resource: RawAny;
}

export interface DeltaDiscoveryResponse {
  readonly system_version_info?: string;
  readonly resources: readonly DeltaResource[];
  readonly type_url: string;
  readonly removed_resources?: readonly string[];
  readonly nonce: string;
  readonly control_plane?: { readonly identifier: string };
}

const SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
export const SOTW_PATH = `/${SERVICE}/StreamAggregatedResources`;
export const DELTA_PATH = `/${SERVICE}/DeltaAggregatedResources`;

function codec<T>(typeName: string): { encode: (v: T) => Buffer; decode: (b: Buffer) => T } {
  let type: protobuf.Type | null = null;
  const t = () => (type ??= messageType(typeName));
  return {
    encode: (v: T) => Buffer.from(t().encode(messageFromJson(t(), v, '')).finish()),
    decode: (b: Buffer) => decodeToJson(t(), b) as T,
  };
}

const req = codec<DiscoveryRequest>('envoy.service.discovery.v3.DiscoveryRequest');
const res = codec<DiscoveryResponse>('envoy.service.discovery.v3.DiscoveryResponse');
const dreq = codec<DeltaDiscoveryRequest>('envoy.service.discovery.v3.DeltaDiscoveryRequest');
const dres = codec<DeltaDiscoveryResponse>('envoy.service.discovery.v3.DeltaDiscoveryResponse');

/**
 * ADS for grpc-js `Server.addService` and `makeGenericClientConstructor`. A response's Any values
 * pass through as bytes; a request's and response's other fields are JSON. Decoding a response
 * (client side) turns resources into JSON too: use `decodeResource` on the raw bytes instead when
 * the caller wants to report per-resource errors, see xds-client.
 */
export const ADS_SERVICE = {
  StreamAggregatedResources: {
    path: SOTW_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: req.encode,
    requestDeserialize: req.decode,
    responseSerialize: res.encode,
    responseDeserialize: (b: Buffer) => rawResponse(b, 'envoy.service.discovery.v3.DiscoveryResponse') as DiscoveryResponse,
    originalName: 'streamAggregatedResources',
  },
  DeltaAggregatedResources: {
    path: DELTA_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: dreq.encode,
    requestDeserialize: dreq.decode,
    responseSerialize: dres.encode,
    responseDeserialize: (b: Buffer) => rawResponse(b, 'envoy.service.discovery.v3.DeltaDiscoveryResponse') as DeltaDiscoveryResponse,
    originalName: 'deltaAggregatedResources',
  },
} satisfies ServiceDefinition;

/**
 * A response decoded with its resources left as raw Anys ({type_url, value}), so the client can
 * convert and validate each one on its own and NACK only what is bad.
 */
function rawResponse(b: Buffer, typeName: string): unknown {
  const t = messageType(typeName);
  const msg = t.decode(b) as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const f of t.fieldsArray) {
    if (!Object.hasOwn(msg, f.name)) continue;
    const v = msg[f.name];
    if (f.name === 'resources') {
      out.resources = (v as Record<string, unknown>[]).map((r) => typeName.endsWith('DeltaDiscoveryResponse')
        ? {
          name: r.name ?? '', version: r.version ?? '',
          resource: r.resource == null ? null : rawAny(r.resource as Record<string, unknown>),
        }
        : rawAny(r));
    } else if (f.name === 'removed_resources') {
      out.removed_resources = [...(v as string[])];
    } else if (f.name === 'control_plane') {
      out.control_plane = { identifier: (v as { identifier?: string }).identifier ?? '' };
    } else if (typeof v === 'string') {
      out[f.name] = v;
    }
  }
  out.resources ??= [];
  return out;
}

function rawAny(a: Record<string, unknown>): RawAny {
  return { type_url: (a.type_url as string | undefined) ?? '', value: (a.value as Uint8Array | undefined) ?? new Uint8Array(0) };
}
