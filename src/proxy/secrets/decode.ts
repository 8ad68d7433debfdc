// Secret resources (envoy.extensions.transport_sockets.tls.v3.Secret) as the SDS sources receive
// them: an Any from a gRPC SDS or ADS response (binary protobuf), or the JSON/YAML form of a file
// subscription. Both go through the Envoy decoder `secretResource` (src/envoy/tls.ts), which
// validates the material (PEM parses, private key matches the certificate) before any use.

import { builtinExtensions } from '../../envoy/extensions.js';
import { runDecoder } from '../../envoy/decode/result.js';
import { secretResource } from '../../envoy/tls.js';
import { decodeToJson, type RawAny } from '../../xds/proto-json.js';
import { typeOfUrl } from '../../xds/protos.js';
import { SECRET_TYPE, type SecretValue } from './types.js';

export type DecodedSecret =
  | { readonly ok: true; readonly name: string; readonly value: SecretValue }
  | { readonly ok: false; readonly name: string; readonly errors: readonly string[] };

/** Decodes a Secret in its JSON form (`@type` optional); `baseDir` resolves relative file names. */
export function decodeSecretJson(json: unknown, baseDir: string, fallbackName = ''): DecodedSecret {
  let input = json;
  if (input !== null && typeof input === 'object' && !Array.isArray(input) && '@type' in input) {
    const { '@type': type, ...rest } = input as Record<string, unknown>;
    if (type !== SECRET_TYPE) return { ok: false, name: fallbackName, errors: [`@type: expected ${SECRET_TYPE}, got ${JSON.stringify(type)}`] };
    input = rest;
  }
  const name = typeof (input as { name?: unknown } | null)?.name === 'string' ? (input as { name: string }).name : fallbackName;
  const r = runDecoder(secretResource, input, { baseDir, extensions: builtinExtensions(), clusterRefs: [] });
  return r.ok ? { ok: true, name: r.value.name, value: r.value } : { ok: false, name, errors: r.errors };
}

/** Decodes a Secret from a discovery response's Any. */
export function decodeSecretAny(raw: RawAny, baseDir: string, fallbackName = ''): DecodedSecret {
  if (raw.type_url !== SECRET_TYPE) {
    return { ok: false, name: fallbackName, errors: [`(root): expected a resource of type ${SECRET_TYPE}, got ${raw.type_url || 'no type'}`] };
  }
  let json: Record<string, unknown>;
  try {
    json = decodeToJson(typeOfUrl(SECRET_TYPE)!, raw.value);
  } catch (err) {
    return { ok: false, name: fallbackName, errors: [(err as Error).message] };
  }
  return decodeSecretJson(json, baseDir, fallbackName);
}

/** Whether two values carry the same material (an unchanged re-send is not a rotation). */
export function sameSecret(a: SecretValue | undefined, b: SecretValue): boolean {
  if (a === undefined || a.kind !== b.kind) return false;
  if (a.kind === 'tls_certificate' && b.kind === 'tls_certificate') return a.certificateChain === b.certificateChain && a.privateKey === b.privateKey;
  return a.kind === 'validation_context' && b.kind === 'validation_context' && a.trustedCa === b.trustedCa;
}
