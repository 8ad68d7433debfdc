// One xDS resource type per entry (LDS, CDS, RDS, EDS, SDS of envoy.service.discovery.v3): a raw Any
// from a discovery response → proto3 JSON (src/xds/proto-json.ts) → the Envoy decoders of src/envoy,
// giving a frozen typed value or the field-path errors that go into a NACK.

import { cluster, edsLoadAssignment } from '../../envoy/cluster.js';
import type { DecodeEnv } from '../../envoy/decode/context.js';
import { runDecoder, type DecodeResult } from '../../envoy/decode/result.js';
import { reader, type Reader } from '../../envoy/decode/readers.js';
import type { ExtensionLookup } from '../../envoy/decode/typed.js';
import { builtinExtensions } from '../../envoy/extensions.js';
import { listener } from '../../envoy/listener.js';
import { routeConfiguration } from '../../envoy/route.js';
import { secretResource } from '../../envoy/tls.js';
import type { SecretValue } from '../secrets/types.js';
import { decodeToJson, type RawAny } from '../../xds/proto-json.js';
import { typeOfUrl } from '../../xds/protos.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../../xds/resource-types.js';
import type { ClusterConfig, ListenerConfig, LocalityLbEndpointsConfig, RouteConfiguration } from '../config/types.js';

/** The typed value of each resource type. */
export interface ResourceValues {
  [LISTENER_TYPE]: ListenerConfig;
  [CLUSTER_TYPE]: ClusterConfig;
  [ROUTE_TYPE]: RouteConfiguration;
  [ENDPOINT_TYPE]: { readonly clusterName: string; readonly endpoints: readonly LocalityLbEndpointsConfig[] };
  [SECRET_TYPE]: SecretValue;
}

export type XdsTypeUrl = keyof ResourceValues;

export const XDS_TYPES: readonly XdsTypeUrl[] = [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE];

/** A decoded resource: its name (as far as it could be read) and value, or its errors. */
export type DecodedResource<T> =
  | { readonly ok: true; readonly name: string; readonly value: T }
  | { readonly ok: false; readonly name: string; readonly errors: readonly string[] };

export interface ResourceDecodeOptions {
  /** Directory for relative file names (DataSource.filename) in resources. */
  readonly baseDir: string;
  readonly extensions?: ExtensionLookup;
}

// Routes received over RDS are not checked against the clusters (validate_clusters defaults to
// false there): a missing cluster is a 503 NC at request time, as in Envoy.
const rdsRouteConfiguration = routeConfiguration(false);

const endpointsResource: Reader<ResourceValues[typeof ENDPOINT_TYPE]> = reader(edsLoadAssignment.what, (ctx, v) => {
  const endpoints = edsLoadAssignment(ctx, v);
  const clusterName = (v as { cluster_name?: unknown } | null)?.cluster_name;
  return endpoints === undefined || typeof clusterName !== 'string' ? undefined : { clusterName, endpoints };
});

const READERS: { [K in XdsTypeUrl]: Reader<ResourceValues[K]> } = {
  [LISTENER_TYPE]: listener,
  [CLUSTER_TYPE]: cluster,
  [ROUTE_TYPE]: rdsRouteConfiguration,
  [ENDPOINT_TYPE]: endpointsResource,
  [SECRET_TYPE]: secretResource,
};

/** The name of a resource of `typeUrl` in its JSON form ('' when absent). */
function nameOf(typeUrl: XdsTypeUrl, json: Record<string, unknown>): string {
  const n = typeUrl === ENDPOINT_TYPE ? json.cluster_name : json.name;
  return typeof n === 'string' ? n : '';
}

export function isXdsType(typeUrl: string): typeUrl is XdsTypeUrl {
  return (XDS_TYPES as readonly string[]).includes(typeUrl);
}

/**
 * Decodes one resource of a response for `typeUrl`. `fallbackName` names it in errors when the
 * bytes cannot be read (delta responses carry the name beside the resource).
 */
export function decodeResource<K extends XdsTypeUrl>(
  typeUrl: K, raw: RawAny, opts: ResourceDecodeOptions, fallbackName = '',
): DecodedResource<ResourceValues[K]> {
  if (raw.type_url !== typeUrl) {
    return { ok: false, name: fallbackName, errors: [`(root): expected a resource of type ${typeUrl}, got ${raw.type_url || 'no type'}`] };
  }
  let json: Record<string, unknown>;
  try {
    json = decodeToJson(typeOfUrl(typeUrl)!, raw.value);
  } catch (err) {
    return { ok: false, name: fallbackName, errors: [(err as Error).message] };
  }
  const name = nameOf(typeUrl, json) || fallbackName;
  const env: DecodeEnv = { baseDir: opts.baseDir, extensions: opts.extensions ?? builtinExtensions(), clusterRefs: [] };
  const r: DecodeResult<ResourceValues[K]> = runDecoder(READERS[typeUrl] as Reader<ResourceValues[K]>, json, env);
  if (!r.ok) return { ok: false, name, errors: r.errors };
  if (name === '') return { ok: false, name, errors: [`${typeUrl === ENDPOINT_TYPE ? 'cluster_name' : 'name'}: expected a non-empty string, got nothing`] };
  return { ok: true, name, value: r.value };
}
