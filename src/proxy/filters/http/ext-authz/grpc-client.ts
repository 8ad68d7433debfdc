// The ext_authz gRPC transport: envoy.service.auth.v3.Authorization/Check (external_auth.proto) as
// a unary gRPC call over the async client (HTTP/2, length-prefixed protobuf, grpc-timeout), and
// the CheckResponse read back as Envoy's ext_authz_grpc_impl does: status OK → allowed with
// ok_response's header mutations; any other status → denied with denied_response (default 403);
// a failed call (transport error, non-OK grpc-status, undecodable reply) → error.

import type protobuf from 'protobufjs';
import { messageType } from '../../../../xds/protos.js';
import type { AsyncRequest, AsyncResponse } from '../../../http/async-client.js';
import type { ExtAuthzGrpcService } from './config.js';
import { ERROR_RESULT, mutable, result, type AuthzResult, type CheckAttributes, type HeaderOp } from './check.js';

const PATH = '/envoy.service.auth.v3.Authorization/Check';

interface Types { req: protobuf.Type; res: protobuf.Type }
let types: Types | null = null;

/** Loads the Authorization service's messages (call at config time: the first load parses protos). */
export function grpcTypes(): Types {
  if (types === null) {
    types = {
      req: messageType('envoy.service.auth.v3.CheckRequest'),
      res: messageType('envoy.service.auth.v3.CheckResponse'),
    };
  }
  return types;
}

/** JSON → google.protobuf.Value (protobufjs' built-in Struct types keep camelCase names). */
function toValue(v: unknown): Record<string, unknown> {
  if (v === null || v === undefined) return { nullValue: 0 };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  if (typeof v === 'object') return { structValue: toStruct(v as Record<string, unknown>) };
  return { stringValue: String(v) };
}

function toStruct(o: Record<string, unknown>): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) fields[k] = toValue(v);
  return { fields };
}

/** google.protobuf.Struct (decoded with toObject) → JSON. */
function fromValue(v: Record<string, unknown>): unknown {
  if ('structValue' in v) return fromStruct(v.structValue as Record<string, unknown>);
  if ('listValue' in v) return ((v.listValue as { values?: Record<string, unknown>[] }).values ?? []).map(fromValue);
  if ('stringValue' in v) return v.stringValue;
  if ('numberValue' in v) return v.numberValue;
  if ('boolValue' in v) return v.boolValue;
  return null;
}

function fromStruct(s: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields = (s?.fields ?? {}) as Record<string, Record<string, unknown>>;
  for (const [k, v] of Object.entries(fields)) out[k] = fromValue(v);
  return out;
}

function address(ip: string, port: number): Record<string, unknown> {
  return { socket_address: { address: ip, port_value: port } };
}

/** The CheckRequest message for `a`; `metadata` = dynamic metadata namespaces to pass (or null). */
export function checkRequestObject(a: CheckAttributes, packAsBytes: boolean, metadata: Record<string, Record<string, unknown>> | null): Record<string, unknown> {
  const http: Record<string, unknown> = {
    id: a.id, method: a.method, headers: Object.fromEntries(a.headers), path: a.path, host: a.host, scheme: a.scheme,
    size: a.size, protocol: a.protocol,
  };
  if (a.body !== null) {
    if (packAsBytes) http.raw_body = a.body;
    else http.body = a.body.toString('utf8');
  }
  const source: Record<string, unknown> = { address: address(a.sourceAddress, a.sourcePort) };
  if (a.sourcePrincipal !== '') source.principal = a.sourcePrincipal;
  if (a.sourceCertificate !== '') source.certificate = a.sourceCertificate;
  const destination: Record<string, unknown> = { address: address(a.destinationAddress, a.destinationPort) };
  if (a.destinationPrincipal !== '') destination.principal = a.destinationPrincipal;
  const attributes: Record<string, unknown> = {
    source, destination,
    request: { time: { seconds: Math.floor(a.timeMs / 1000), nanos: (a.timeMs % 1000) * 1e6 }, http },
  };
  if (a.contextExtensions !== null && a.contextExtensions.size > 0) attributes.context_extensions = Object.fromEntries(a.contextExtensions);
  if (metadata !== null) {
    const filterMetadata: Record<string, unknown> = {};
    for (const [ns, v] of Object.entries(metadata)) filterMetadata[ns] = toStruct(v);
    attributes.metadata_context = { filter_metadata: filterMetadata };
  }
  if (a.sni !== '') attributes.tls_session = { sni: a.sni };
  return { attributes };
}

/** The async request carrying one Check call. */
export function grpcCheckRequest(svc: ExtAuthzGrpcService, msg: Record<string, unknown>): AsyncRequest {
  const t = grpcTypes().req;
  const payload = t.encode(t.fromObject(msg)).finish();
  const body = Buffer.allocUnsafe(5 + payload.length);
  body[0] = 0;
  body.writeUInt32BE(payload.length, 1);
  body.set(payload, 5);
  return {
    method: 'POST', path: PATH, authority: svc.authority, http2: true, timeoutMs: svc.timeoutMs, body,
    headers: ['content-type', 'application/grpc', 'te', 'trailers', 'grpc-timeout', `${svc.timeoutMs}m`, ...svc.initialMetadata],
  };
}

function headerOf(list: readonly string[] | null, name: string): string | undefined {
  if (list === null) return undefined;
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
}

interface HeaderOption { header?: { key?: string; value?: string }; append?: { value?: boolean }; append_action?: number }

/**
 * HeaderValueOptions → mutations. `append` (deprecated BoolValue) true combines with an existing
 * value, false replaces; without it, append_action ADD_IF_ABSENT (1) and OVERWRITE_IF_EXISTS (3)
 * are honoured, OVERWRITE_IF_EXISTS_OR_ADD (2) replaces, and the proto3 default
 * APPEND_IF_EXISTS_OR_ADD (0, indistinguishable from unset) means what the CheckResponse
 * documentation says for these messages: add, or override an existing header.
 */
function ops(opts: readonly HeaderOption[] | undefined, out: HeaderOp[]): HeaderOp[] {
  for (const o of opts ?? []) {
    const key = (o.header?.key ?? '').toLowerCase();
    if (key === '') continue;
    const value = o.header?.value ?? '';
    let op: HeaderOp['op'];
    if (o.append !== undefined && o.append !== null) op = o.append.value === true ? 'append' : 'set';
    else if (o.append_action === 1) op = 'add_if_absent';
    else if (o.append_action === 3) op = 'overwrite_if_exists';
    else op = 'set';
    out.push({ op, key, value });
  }
  return out;
}

/** Reads a Check reply. */
export function parseGrpcCheckResponse(res: AsyncResponse): AuthzResult {
  if (res.status !== 200) return ERROR_RESULT;
  const grpcStatus = headerOf(res.trailers, 'grpc-status') ?? headerOf(res.headers, 'grpc-status');
  if (grpcStatus !== '0') return ERROR_RESULT;
  const b = res.body;
  if (b.length < 5 || b[0] !== 0) return ERROR_RESULT;
  const len = b.readUInt32BE(1);
  if (b.length < 5 + len) return ERROR_RESULT;
  let msg: Record<string, unknown>;
  try {
    const t = grpcTypes().res;
    msg = t.toObject(t.decode(b.subarray(5, 5 + len)), { enums: Number, longs: Number }) as Record<string, unknown>;
  } catch {
    return ERROR_RESULT;
  }
  const status = (msg.status as { code?: number } | undefined)?.code ?? 0;
  const dm = msg.dynamic_metadata as Record<string, unknown> | undefined;
  const dynamicMetadata = dm === undefined ? null : fromStruct(dm);
  if (status === 0) {
    const ok = (msg.ok_response ?? {}) as { headers?: HeaderOption[]; headers_to_remove?: string[]; response_headers_to_add?: HeaderOption[] };
    const requestOps = ops(ok.headers, []);
    for (const h of ok.headers_to_remove ?? []) {
      const key = h.toLowerCase();
      if (mutable(key)) requestOps.push({ op: 'remove', key, value: '' });
    }
    return result({ status: 'ok', requestOps: requestOps.filter((o) => mutable(o.key)), responseOps: ops(ok.response_headers_to_add, []), dynamicMetadata });
  }
  const denied = (msg.denied_response ?? {}) as { status?: { code?: number }; headers?: HeaderOption[]; body?: string };
  const code = denied.status?.code ?? 0;
  return result({
    status: 'denied', httpStatus: code > 0 ? code : 403, body: denied.body ?? '',
    deniedHeaders: ops(denied.headers, []).flatMap((o) => [o.key, o.value]), dynamicMetadata,
  });
}
