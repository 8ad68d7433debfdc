// Encodes the generator's JSON resources to protobuf once per object (a WeakMap keyed by identity,
// so proxies sharing a frozen resource share its bytes) and derives xDS resource and type versions
// (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#resource-versions).
import { createHash } from 'node:crypto';
import type protobuf from 'protobufjs';
import { encodeFromJson, type RawAny } from '../../xds/proto-json.js';
import { messageType } from '../../xds/protos.js';
import { messageName } from '../../xds/resource-types.js';

/** One resource as it goes on the wire. */
export interface EncodedResource {
  /** `{type_url, value}`: passed through into responses untouched. */
  readonly any: RawAny;
  /** A content hash of `any.value` (12 base64url characters). */
  readonly version: string;
}

/** A resource the converter rejected: a generator bug, reported once per object. */
export interface EncodeFailure {
  readonly error: string;
}

/** Short content hash: sha256, base64url, 12 characters. */
export function contentHash(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('base64url').slice(0, 12);
}

/**
 * A type's version over what is sent: a hash of the sorted (name, version) pairs, so it changes
 * exactly when some resource's content, or the set of names, changes.
 */
export function typeVersion(pairs: Iterable<readonly [string, string]>): string {
  const sorted = [...pairs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return contentHash(sorted.map(([n, v]) => `${n}\u0000${v}`).join('\u0001'));
}

/** One type's resources for a proxy, encoded, with the type version over all of them. */
export interface TypeEncoding {
  readonly entries: ReadonlyMap<string, EncodedResource>;
  /** Entry names, sorted, and their Anys in that order (a wildcard response's content, shared). */
  readonly names: readonly string[];
  readonly anys: readonly RawAny[];
  /** typeVersion over every entry. */
  readonly version: string;
}

export class ResourceCache {
  private readonly byMap = new WeakMap<ReadonlyMap<string, object>, { readonly typeUrl: string; readonly value: TypeEncoding }>();
  private readonly byObject = new WeakMap<object, { readonly typeUrl: string; readonly result: EncodedResource | EncodeFailure }>();
  private readonly types = new Map<string, protobuf.Type | null>();
  /** How many encodings ran (cache misses); the rest were shared. */
  encodings = 0;

  /** The encoding of `json` as a `typeUrl` message, computed on the first call for this object. */
  encode(typeUrl: string, json: object): EncodedResource | EncodeFailure {
    const hit = this.byObject.get(json);
    if (hit !== undefined && hit.typeUrl === typeUrl) return hit.result;
    let result: EncodedResource | EncodeFailure;
    const type = this.messageTypeOf(typeUrl);
    if (type === null) {
      result = { error: `no protobuf message for type URL ${typeUrl}` };
    } else {
      try {
        this.encodings++;
        const value = encodeFromJson(type, json);
        result = Object.freeze({ any: Object.freeze({ type_url: typeUrl, value }), version: contentHash(value) });
      } catch (e) {
        result = { error: e instanceof Error ? e.message : String(e) };
      }
    }
    this.byObject.set(json, { typeUrl, result });
    return result;
  }

  /**
   * Every resource of one type, encoded; cached by the map's identity too, so proxies given the
   * same (shared) map cost one lookup. Resources that fail to encode are left out and reported
   * through `onFailure` once.
   */
  encodeAll(typeUrl: string, resources: ReadonlyMap<string, object>): TypeEncoding {
    const hit = this.byMap.get(resources);
    if (hit !== undefined && hit.typeUrl === typeUrl) return hit.value;
    const entries = new Map<string, EncodedResource>();
    for (const [name, json] of resources) {
      const had = this.byObject.has(json);
      const r = this.encode(typeUrl, json);
      if (isFailure(r)) {
        if (!had) this.onFailure(typeUrl, name, r.error);
      } else {
        entries.set(name, r);
      }
    }
    const names = [...entries.keys()].sort();
    const value: TypeEncoding = Object.freeze({
      entries,
      names: Object.freeze(names),
      anys: Object.freeze(names.map((n) => entries.get(n)!.any)),
      version: typeVersion([...entries].map(([n, e]) => [n, e.version] as const)),
    });
    this.byMap.set(resources, { typeUrl, value });
    return value;
  }

  constructor(private readonly onFailure: (typeUrl: string, name: string, error: string) => void = () => {}) {}

  private messageTypeOf(typeUrl: string): protobuf.Type | null {
    let t = this.types.get(typeUrl);
    if (t === undefined) {
      try { t = messageType(messageName(typeUrl)); } catch { t = null; }
      this.types.set(typeUrl, t);
    }
    return t;
  }
}

export function isFailure(r: EncodedResource | EncodeFailure): r is EncodeFailure {
  return 'error' in r;
}
