// The proto3 JSON mapping (https://protobuf.dev/programming-guides/json/) over protobufjs
// reflection, both ways: xDS resources arrive as binary protobuf and Weft's Envoy decoders read the
// JSON form (the same form as a bootstrap YAML); the control plane writes JSON and sends binary.
// Keys are written in proto (snake_case) spelling and read in either spelling.
// Well-known types: Any ("@type"), Duration ("1.5s"), Timestamp (RFC 3339), wrappers (bare
// values), Struct/Value/ListValue (plain JSON), FieldMask, Empty. 64-bit integers are strings.

import protobuf from 'protobufjs';
import { typeOfUrl } from './protos.js';

/** A conversion problem at a field path (a NACK reason on the client side, a bug on the server side). */
export class ProtoJsonError extends Error {
  readonly code = 'WEFT_PROTO_JSON';
  constructor(readonly path: string, readonly detail: string) {
    super(`${path === '' ? '(root)' : path}: ${detail}`);
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = Record<string, unknown>;

const WRAPPERS = new Set([
  'google.protobuf.DoubleValue', 'google.protobuf.FloatValue', 'google.protobuf.Int64Value', 'google.protobuf.UInt64Value',
  'google.protobuf.Int32Value', 'google.protobuf.UInt32Value', 'google.protobuf.BoolValue', 'google.protobuf.StringValue',
  'google.protobuf.BytesValue',
]);
const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

function fullName(t: protobuf.Type): string {
  return t.fullName.startsWith('.') ? t.fullName.slice(1) : t.fullName;
}

const join = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);

// ───────────────────────────── binary → JSON ─────────────────────────────

/** Decodes binary protobuf of `type` into its JSON form. Throws ProtoJsonError (e.g. an Any of an unknown type). */
export function decodeToJson(type: protobuf.Type, bytes: Uint8Array): Obj {
  return messageToJson(type, type.decode(bytes) as unknown as Obj, '') as Obj;
}

/** A decoded protobufjs message → its JSON form. */
export function messageToJson(type: protobuf.Type, msg: Obj, path: string): Json {
  switch (fullName(type)) {
    case 'google.protobuf.Any': return anyToJson(msg, path);
    case 'google.protobuf.Duration': return durationText(msg);
    case 'google.protobuf.Timestamp': return timestampText(msg);
    case 'google.protobuf.Struct': return structToJson(msg);
    case 'google.protobuf.Value': return valueToJson(msg);
    case 'google.protobuf.ListValue': return ((msg.values as Obj[] | undefined) ?? []).map(valueToJson);
    case 'google.protobuf.FieldMask': return ((msg.paths as string[] | undefined) ?? []).map(camel).join(',');
    default:
      if (WRAPPERS.has(fullName(type))) {
        const f = type.fields.value!;
        return Object.hasOwn(msg, 'value') ? scalarToJson(f, msg.value) : scalarDefault(f);
      }
  }
  const out: { [k: string]: Json } = {};
  for (const f of type.fieldsArray) {
    if (!Object.hasOwn(msg, f.name)) continue;
    const v = msg[f.name];
    if (v === null || v === undefined) continue;
    const p = join(path, f.name);
    if (f.map) {
      const m: { [k: string]: Json } = {};
      for (const [k, x] of Object.entries(v as Obj)) m[k] = fieldValueToJson(f, x, `${p}[${JSON.stringify(k)}]`);
      if (Object.keys(m).length > 0) out[f.name] = m;
    } else if (f.repeated) {
      const arr = v as unknown[];
      if (arr.length > 0) out[f.name] = arr.map((x, i) => fieldValueToJson(f, x, `${p}[${i}]`));
    } else {
      out[f.name] = fieldValueToJson(f, v, p);
    }
  }
  return out;
}

function fieldValueToJson(f: protobuf.Field, v: unknown, path: string): Json {
  const rt = f.resolvedType;
  if (rt instanceof protobuf.Type) return messageToJson(rt, v as Obj, path);
  if (rt instanceof protobuf.Enum) {
    if (fullName(rt as unknown as protobuf.Type) === 'google.protobuf.NullValue') return null;
    return rt.valuesById[v as number] ?? (v as number);
  }
  return scalarToJson(f, v);
}

function scalarToJson(f: protobuf.Field, v: unknown): Json {
  if (LONG_TYPES.has(f.type)) return String(v);
  if (f.type === 'bytes') return Buffer.from(v as Uint8Array).toString('base64');
  if ((f.type === 'double' || f.type === 'float') && typeof v === 'number' && !Number.isFinite(v)) {
    return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
  }
  return v as Json;
}

function scalarDefault(f: protobuf.Field): Json {
  if (LONG_TYPES.has(f.type)) return '0';
  if (f.type === 'bool') return false;
  if (f.type === 'string' || f.type === 'bytes') return '';
  return 0;
}

function anyToJson(msg: Obj, path: string): Json {
  const url = (msg.type_url as string | undefined) ?? '';
  const inner = typeOfUrl(url);
  if (inner === null) throw new ProtoJsonError(path, `unknown type URL ${JSON.stringify(url)} in an Any`);
  const decoded = inner.decode((msg.value as Uint8Array | undefined) ?? new Uint8Array(0)) as unknown as Obj;
  const json = messageToJson(inner, decoded, path);
  if (json !== null && typeof json === 'object' && !Array.isArray(json)) return { '@type': url, ...json };
  return { '@type': url, value: json };
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(String(v ?? 0));
}

function durationText(msg: Obj): string {
  const s = num(msg.seconds);
  const n = num(msg.nanos);
  if (n === 0) return `${s}s`;
  const neg = s < 0 || n < 0;
  const frac = String(Math.abs(n)).padStart(9, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${Math.abs(s)}.${frac}s`;
}

function timestampText(msg: Obj): string {
  return new Date(num(msg.seconds) * 1000 + Math.floor(num(msg.nanos) / 1e6)).toISOString();
}

function structToJson(msg: Obj): Json {
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries((msg.fields as Obj | undefined) ?? {})) out[k] = valueToJson(v as Obj);
  return out;
}

function valueToJson(v: Obj): Json {
  if (Object.hasOwn(v, 'structValue') && v.structValue != null) return structToJson(v.structValue as Obj);
  if (Object.hasOwn(v, 'listValue') && v.listValue != null) return (((v.listValue as Obj).values as Obj[] | undefined) ?? []).map(valueToJson);
  if (Object.hasOwn(v, 'stringValue') && v.stringValue != null) return v.stringValue as string;
  if (Object.hasOwn(v, 'numberValue') && v.numberValue != null) return v.numberValue as number;
  if (Object.hasOwn(v, 'boolValue') && v.boolValue != null) return v.boolValue as boolean;
  return null;
}

function camel(s: string): string {
  return s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

// ───────────────────────────── JSON → binary ─────────────────────────────

/** An Any whose bytes are already encoded: passed through by encodeFromJson untouched. */
export interface RawAny {
  readonly type_url: string;
  readonly value: Uint8Array;
}

/** Encodes the JSON form of a `type` message to binary protobuf. Throws ProtoJsonError on a bad field. */
export function encodeFromJson(type: protobuf.Type, json: unknown): Uint8Array {
  return type.encode(messageFromJson(type, json, '')).finish();
}

/** The JSON form → a protobufjs message of `type`. */
export function messageFromJson(type: protobuf.Type, json: unknown, path: string): protobuf.Message {
  return type.fromObject(objectFromJson(type, json, path));
}

const camelIndex = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();

function fieldByKey(type: protobuf.Type, key: string): protobuf.Field | undefined {
  let idx = camelIndex.get(type);
  if (idx === undefined) {
    idx = new Map();
    for (const f of type.fieldsArray) {
      idx.set(f.name, f);
      idx.set(camel(f.name), f);
    }
    camelIndex.set(type, idx);
  }
  return idx.get(key);
}

/** JSON → the plain-object form protobufjs's fromObject takes (WKTs expanded, keys resolved). */
function objectFromJson(type: protobuf.Type, json: unknown, path: string): Obj {
  const name = fullName(type);
  switch (name) {
    case 'google.protobuf.Any': return anyFromJson(json, path);
    case 'google.protobuf.Duration': return durationFromJson(json, path);
    case 'google.protobuf.Timestamp': {
      const ms = typeof json === 'string' ? Date.parse(json) : NaN;
      if (!Number.isFinite(ms)) throw new ProtoJsonError(path, `expected an RFC 3339 timestamp, got ${JSON.stringify(json)}`);
      return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
    }
    case 'google.protobuf.Struct': return structFromJson(json, path);
    case 'google.protobuf.Value': return valueFromJson(json);
    case 'google.protobuf.ListValue':
      if (!Array.isArray(json)) throw new ProtoJsonError(path, `expected a list, got ${JSON.stringify(json)}`);
      return { values: json.map(valueFromJson) };
    case 'google.protobuf.FieldMask':
      return { paths: typeof json === 'string' && json !== '' ? json.split(',').map((p) => p.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)) : [] };
    default:
      if (WRAPPERS.has(name)) {
        if (json !== null && typeof json === 'object' && !Array.isArray(json) && 'value' in json) return json as Obj;
        return { value: json };
      }
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ProtoJsonError(path, `expected an object (${name}), got ${JSON.stringify(json)}`);
  }
  const out: Obj = {};
  for (const [key, v] of Object.entries(json as Obj)) {
    if (v === undefined) continue;
    const f = fieldByKey(type, key);
    if (f === undefined) throw new ProtoJsonError(join(path, key), `no such field in ${name}`);
    const p = join(path, f.name);
    if (v === null && !(f.resolvedType instanceof protobuf.Type && fullName(f.resolvedType) === 'google.protobuf.Value')) continue;
    if (f.map) {
      const m: Obj = {};
      for (const [k, x] of Object.entries(v as Obj)) m[k] = fieldValueFromJson(f, x, `${p}[${JSON.stringify(k)}]`);
      out[f.name] = m;
    } else if (f.repeated) {
      if (!Array.isArray(v)) throw new ProtoJsonError(p, `expected a list, got ${JSON.stringify(v)}`);
      out[f.name] = v.map((x, i) => fieldValueFromJson(f, x, `${p}[${i}]`));
    } else {
      out[f.name] = fieldValueFromJson(f, v, p);
    }
  }
  return out;
}

function fieldValueFromJson(f: protobuf.Field, v: unknown, path: string): unknown {
  const rt = f.resolvedType;
  if (rt instanceof protobuf.Type) {
    // fromObject would re-run on nested plain objects; hand it a finished message instead.
    return rt.fromObject(objectFromJson(rt, v, path));
  }
  if (rt instanceof protobuf.Enum) {
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && Object.hasOwn(rt.values, v)) return rt.values[v];
    throw new ProtoJsonError(path, `expected one of ${Object.keys(rt.values).join(', ')}, got ${JSON.stringify(v)}`);
  }
  if (f.type === 'bytes') {
    if (v instanceof Uint8Array) return v;
    if (typeof v === 'string') return Buffer.from(v, 'base64');
    throw new ProtoJsonError(path, `expected base64 bytes, got ${JSON.stringify(v)}`);
  }
  if (f.type === 'bool') {
    if (typeof v !== 'boolean') throw new ProtoJsonError(path, `expected true or false, got ${JSON.stringify(v)}`);
    return v;
  }
  if (f.type === 'string') {
    if (typeof v !== 'string') throw new ProtoJsonError(path, `expected a string, got ${JSON.stringify(v)}`);
    return v;
  }
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (Number.isNaN(n) && v !== 'NaN') throw new ProtoJsonError(path, `expected a number, got ${JSON.stringify(v)}`);
  return LONG_TYPES.has(f.type) && typeof v === 'string' ? v : n;
}

function anyFromJson(json: unknown, path: string): Obj {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ProtoJsonError(path, `expected an object with "@type", got ${JSON.stringify(json)}`);
  }
  const o = json as Obj;
  if (typeof o.type_url === 'string' && o.value instanceof Uint8Array) return { type_url: o.type_url, value: o.value };
  const url = o['@type'];
  if (typeof url !== 'string') throw new ProtoJsonError(join(path, '@type'), `expected a type URL, got ${JSON.stringify(url)}`);
  const inner = typeOfUrl(url);
  if (inner === null) throw new ProtoJsonError(join(path, '@type'), `unknown type URL ${JSON.stringify(url)}`);
  const { '@type': _t, ...rest } = o;
  const body = WRAPPERS.has(fullName(inner)) || fullName(inner) === 'google.protobuf.Duration' ? rest.value : rest;
  return { type_url: url, value: inner.encode(messageFromJson(inner, body, path)).finish() };
}

function durationFromJson(json: unknown, path: string): Obj {
  if (json !== null && typeof json === 'object' && !Array.isArray(json)) return json as Obj;
  const m = typeof json === 'string' ? /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(json) : null;
  if (m === null) throw new ProtoJsonError(path, `expected a duration like "1.5s", got ${JSON.stringify(json)}`);
  const sign = m[1] === '-' ? -1 : 1;
  return { seconds: sign * Number(m[2]), nanos: sign * Number((m[3] ?? '').padEnd(9, '0')) };
}

function structFromJson(json: unknown, path: string): Obj {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ProtoJsonError(path, `expected an object, got ${JSON.stringify(json)}`);
  }
  const fields: Obj = {};
  for (const [k, v] of Object.entries(json as Obj)) if (v !== undefined) fields[k] = valueFromJson(v);
  return { fields };
}

function valueFromJson(v: unknown): Obj {
  if (v === null || v === undefined) return { nullValue: 0 };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(valueFromJson) } };
  return { structValue: structFromJson(v, '') };
}
