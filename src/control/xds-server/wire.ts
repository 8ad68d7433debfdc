// Hand-written protobuf encoders for the two ADS responses (envoy/service/discovery/v3/discovery.proto:
// DiscoveryResponse, DeltaDiscoveryResponse, Resource; google/protobuf/any.proto), so a response is
// a concatenation of per-resource bytes encoded once and shared by every proxy that receives them.
import type { DeltaDiscoveryResponse, DiscoveryResponse } from '../../xds/ads-service.js';
import type { RawAny } from '../../xds/proto-json.js';

const LEN = 2; // wire type: length-delimited

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) { n = Math.floor(n / 128); size++; }
  return size;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) { buf[pos++] = (n & 0x7f) | 0x80; n = Math.floor(n / 128); }
  buf[pos++] = n;
  return pos;
}

/** Collects length-delimited fields, then joins them once. */
class Fields {
  private readonly parts: Buffer[] = [];
  length = 0;

  bytes(field: number, value: Uint8Array): this {
    const head = Buffer.allocUnsafe(varintSize(field << 3) + varintSize(value.length));
    writeVarint(head, writeVarint(head, 0, (field << 3) | LEN), value.length);
    this.parts.push(head, Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    this.length += head.length + value.length;
    return this;
  }

  /** Written whenever present, even empty (as protobufjs does, so clients see '' rather than no field). */
  string(field: number, value: string | undefined): this {
    return value === undefined ? this : this.bytes(field, Buffer.from(value, 'utf8'));
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.length);
  }
}

const anyBytes = new WeakMap<RawAny, Buffer>();

/** google.protobuf.Any {type_url = 1, value = 2}, encoded once per (shared, frozen) RawAny. */
function encodeAny(any: RawAny): Buffer {
  let b = anyBytes.get(any);
  if (b === undefined) {
    b = new Fields().string(1, any.type_url).bytes(2, any.value).finish();
    anyBytes.set(any, b);
  }
  return b;
}

function controlPlane(identifier: string): Buffer {
  return new Fields().string(1, identifier).finish();
}

/** envoy.service.discovery.v3.DiscoveryResponse. */
export function encodeDiscoveryResponse(r: DiscoveryResponse): Buffer {
  const f = new Fields().string(1, r.version_info);
  for (const any of r.resources) f.bytes(2, encodeAny(any));
  f.string(4, r.type_url).string(5, r.nonce);
  if (r.control_plane !== undefined) f.bytes(6, controlPlane(r.control_plane.identifier));
  return f.finish();
}

/** envoy.service.discovery.v3.DeltaDiscoveryResponse (resources as Resource {version = 1, resource = 2, name = 3}). */
export function encodeDeltaDiscoveryResponse(r: DeltaDiscoveryResponse): Buffer {
  const f = new Fields().string(1, r.system_version_info);
  for (const res of r.resources) {
    f.bytes(2, new Fields().string(1, res.version).bytes(2, encodeAny(res.resource)).string(3, res.name).finish());
  }
  f.string(4, r.type_url).string(5, r.nonce);
  for (const name of r.removed_resources ?? []) f.bytes(6, Buffer.from(name, 'utf8'));
  if (r.control_plane !== undefined) f.bytes(7, controlPlane(r.control_plane.identifier));
  return f.finish();
}
