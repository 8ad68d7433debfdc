// Readers for the proto3 JSON mapping (https://protobuf.dev/programming-guides/json/) as Envoy's
// YAML/JSON configs use it: scalars, enums, Duration, wrapper types, repeated, Struct, messages
// with snake_case or lowerCamelCase keys, and oneofs. Every reader records errors and never throws.

import { Ctx, show } from './context.js';

/** Decodes one value at `ctx`; returns undefined (after recording an error) when it is invalid. */
export type Reader<T> = ((ctx: Ctx, value: unknown) => T | undefined) & {
  /** What the reader expects, for `expected <what>, got ...`. */
  readonly what: string;
};

/** Builds a Reader from a description and a function. */
export function reader<T>(what: string, fn: (ctx: Ctx, value: unknown) => T | undefined): Reader<T> {
  return Object.assign(fn, { what });
}

/** A plain object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ───────────────────────────── scalars ─────────────────────────────

export const string: Reader<string> = reader('a string', (ctx, v) =>
  typeof v === 'string' ? v : ctx.expected('a string', v));

export const nonEmptyString: Reader<string> = reader('a non-empty string', (ctx, v) =>
  typeof v === 'string' && v.length > 0 ? v : ctx.expected('a non-empty string', v));

export const bool: Reader<boolean> = reader('true or false', (ctx, v) =>
  typeof v === 'boolean' ? v : ctx.expected('true or false', v));

/**
 * An integer in [min, max]. proto3 JSON writes 64-bit integers as strings and parsers accept
 * strings for 32-bit ones too, so decimal strings are accepted.
 */
export function integer(min: number, max: number, what = `an integer in ${min}..${max}`): Reader<number> {
  return reader(what, (ctx, v) => {
    let n: number | undefined;
    if (typeof v === 'number') n = v;
    else if (typeof v === 'string' && /^-?\d+$/.test(v)) n = Number(v);
    if (n === undefined || !Number.isSafeInteger(n) || n < min || n > max) return ctx.expected(what, v);
    return n;
  });
}

export const UINT32_MAX = 4294967295;
export const uint32: Reader<number> = integer(0, UINT32_MAX);
export const uint64: Reader<number> = integer(0, Number.MAX_SAFE_INTEGER);
export const int64: Reader<number> = integer(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);

/** A finite double in [min, max]. */
export function double(min = -Infinity, max = Infinity): Reader<number> {
  const what = Number.isFinite(min) || Number.isFinite(max) ? `a number in ${min}..${max}` : 'a number';
  return reader(what, (ctx, v) => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    if (!Number.isFinite(n) || n < min || n > max) return ctx.expected(what, v);
    return n;
  });
}

/** ASCII upper case (protobuf compares enum names byte-wise; no locale rules). */
function asciiUpper(s: string): string {
  return s.replace(/[a-z]+/g, (w) => w.toUpperCase());
}

/**
 * A proto enum, written as its name or its number; decodes to the name. Names match in any case:
 * Envoy parses JSON/YAML with protobuf's `case_insensitive_enum_parsing` (so `strict_dns` is
 * STRICT_DNS), and a number may also be written as a decimal string, as protobuf's parser allows.
 */
export function enumeration<N extends string>(values: Readonly<Record<N, number>>): Reader<N> {
  const names = Object.keys(values) as N[];
  const byUpper = new Map<string, N>(names.map((n) => [asciiUpper(n), n]));
  const byNumber = new Map<number, N>();
  for (const n of names) if (!byNumber.has(values[n])) byNumber.set(values[n], n);
  const what = `one of ${names.join(', ')}`;
  return reader(what, (ctx, v) => {
    if (typeof v === 'string') {
      if (Object.hasOwn(values, v)) return v as N;
      const name = byUpper.get(asciiUpper(v)) ?? (/^-?\d+$/.test(v) ? byNumber.get(Number(v)) : undefined);
      if (name !== undefined) return name;
    } else if (typeof v === 'number') {
      const name = byNumber.get(v);
      if (name !== undefined) return name;
    }
    return ctx.expected(what, v);
  });
}

/** Narrows an already-decoded enum name to the values Weft supports. */
export function supportedValue<N extends string, S extends N>(ctx: Ctx, value: N | undefined, supported: readonly S[]): S | undefined {
  if (value === undefined) return undefined;
  if ((supported as readonly string[]).includes(value)) return value as S;
  return ctx.expected(`one of ${supported.join(', ')} (${value} is not supported yet)`, value);
}

// ───────────────────────────── well-known types ─────────────────────────────

const MAX_DURATION_SECONDS = 315576000000;
const DURATION_TEXT = /^(\d+)(?:\.(\d{1,9}))?s$/;
const DURATION_WHAT = 'a duration like "1.5s"';

function durationMs(ctx: Ctx, v: unknown, what: string): number | undefined {
  let seconds: number;
  let nanos: number;
  if (typeof v === 'string') {
    const m = DURATION_TEXT.exec(v);
    if (!m) return ctx.expected(what, v);
    seconds = Number(m[1]);
    nanos = m[2] === undefined ? 0 : Number(m[2].padEnd(9, '0'));
  } else if (isObject(v)) {
    // google.protobuf.Duration written as a message: {seconds, nanos}.
    const keys = Object.keys(v);
    const s = v.seconds ?? 0;
    const n = v.nanos ?? 0;
    const sn = typeof s === 'number' ? s : typeof s === 'string' && /^\d+$/.test(s) ? Number(s) : NaN;
    if (keys.some((k) => k !== 'seconds' && k !== 'nanos') || !Number.isInteger(sn) || sn < 0
      || typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 999_999_999) {
      return ctx.expected(what, v);
    }
    seconds = sn;
    nanos = n;
  } else {
    return ctx.expected(what, v);
  }
  if (seconds > MAX_DURATION_SECONDS) return ctx.expected(what, v);
  return seconds * 1000 + nanos / 1e6;
}

/** google.protobuf.Duration, as "1.5s" or {seconds, nanos}; decodes to milliseconds (may be fractional). */
export const duration: Reader<number> = reader(DURATION_WHAT, (ctx, v) => durationMs(ctx, v, DURATION_WHAT));

/** A Duration that must be greater than zero. */
export const positiveDuration: Reader<number> = reader(`a positive duration like "1.5s"`, (ctx, v) => {
  const what = `a positive duration like "1.5s"`;
  const ms = durationMs(ctx, v, what);
  if (ms === undefined) return undefined;
  return ms > 0 ? ms : ctx.expected(what, v);
});

/** A wrapper type (UInt32Value, BoolValue, ...): the bare value, or {value: x}. */
export function wrapped<T>(inner: Reader<T>): Reader<T> {
  return reader(inner.what, (ctx, v) => {
    if (isObject(v)) {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === 'value') return inner(ctx.field('value'), v.value);
      return ctx.expected(inner.what, v);
    }
    return inner(ctx, v);
  });
}

/** google.protobuf.Struct: any JSON object, copied. */
export const struct: Reader<Record<string, unknown>> = reader('an object', (ctx, v) =>
  isObject(v) ? (structuredClone(v) as Record<string, unknown>) : ctx.expected('an object', v));

// ───────────────────────────── containers ─────────────────────────────

/**
 * The items of a repeated field's raw value: the array itself, or a single non-list value as its
 * only item (protobuf's JSON parser, as Envoy runs it, accepts one element in place of a list).
 */
export function asList(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
}

/** The context of item `i` of a repeated field's raw value (the field itself for a single item). */
export function itemCtx(ctx: Ctx, raw: unknown, i: number): Ctx {
  return Array.isArray(raw) ? ctx.index(i) : ctx;
}

/**
 * A repeated field. Invalid items are reported and left out. A single item written without the
 * list is accepted, as Envoy does (its errors are reported at the field itself, with no index).
 */
export function list<T>(item: Reader<T>, opts: { minItems?: number } = {}): Reader<T[]> {
  const minItems = opts.minItems ?? 0;
  const what = minItems > 0 ? `a list of at least ${minItems} item${minItems === 1 ? '' : 's'}` : 'a list';
  return reader(what, (ctx, v) => {
    if (!Array.isArray(v)) {
      if (v === undefined || v === null) return ctx.expected(what, v);
      const r = item(ctx, v);
      return r === undefined ? [] : [r];
    }
    if (v.length < minItems) ctx.expected(what, v);
    const out: T[] = [];
    v.forEach((x, i) => {
      const r = item(ctx.index(i), x);
      if (r !== undefined) out.push(r);
    });
    return out;
  });
}

/** A proto map<string, T>: an object whose keys are data (never case-converted). */
export function mapOf<T>(item: Reader<T>): Reader<Map<string, T>> {
  return reader('an object', (ctx, v) => {
    if (!isObject(v)) return ctx.expected('an object', v);
    const out = new Map<string, T>();
    for (const [k, x] of Object.entries(v)) {
      const r = item(ctx.key(k), x);
      if (r !== undefined) out.set(k, r);
    }
    return out;
  });
}

// ───────────────────────────── messages ─────────────────────────────

/** The fields of one proto message, by their snake_case names, grouped by how Weft treats them. */
export interface MessageSpecInput {
  /** Full proto name, e.g. `envoy.config.core.v3.SocketAddress`. */
  readonly name: string;
  /** Fields Weft decodes. */
  readonly fields: readonly string[];
  /** Fields that exist in the proto but Weft does not implement: setting one is an error. */
  readonly unsupported?: readonly string[];
  /** Purely informational fields: accepted and not used. */
  readonly informational?: readonly string[];
}

type FieldKind = 'supported' | 'unsupported' | 'informational';

export interface MessageSpec {
  readonly name: string;
  readonly shortName: string;
  /** snake_case and lowerCamelCase spellings → [snake name, kind]. */
  readonly lookup: ReadonlyMap<string, readonly [string, FieldKind]>;
  /** Lower-cased spellings → the spelling they fold from, for "did you mean" hints on case typos. */
  readonly folded: ReadonlyMap<string, string>;
}

/** lowerCamelCase JSON name of a snake_case proto field, as protoc derives it. */
export function jsonName(snake: string): string {
  return snake.replace(/_(.)/g, (_, c: string) => c.toUpperCase());
}

/** Best-effort snake_case spelling of an unknown key, for error paths. */
function toSnake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export function defineMessage(input: MessageSpecInput): MessageSpec {
  const lookup = new Map<string, readonly [string, FieldKind]>();
  const folded = new Map<string, string>();
  const add = (names: readonly string[] | undefined, kind: FieldKind): void => {
    for (const name of names ?? []) {
      if (lookup.has(name)) throw new Error(`${input.name}: field ${name} listed twice`);
      lookup.set(name, [name, kind]);
      folded.set(name.toLowerCase(), name);
      const camel = jsonName(name);
      if (camel !== name) {
        lookup.set(camel, [name, kind]);
        folded.set(camel.toLowerCase(), camel);
      }
    }
  };
  add(input.fields, 'supported');
  add(input.unsupported, 'unsupported');
  add(input.informational, 'informational');
  const shortName = input.name.slice(input.name.lastIndexOf('.') + 1);
  return { name: input.name, shortName, lookup, folded };
}

/** A decoded object's fields, checked against a MessageSpec (unknown / unsupported reported). */
export class Msg {
  private readonly values = new Map<string, unknown>();
  /** Every field present in the input, supported or not (for oneof counting). */
  private readonly present = new Set<string>();

  constructor(
    readonly ctx: Ctx,
    readonly spec: MessageSpec,
    input: Record<string, unknown>,
    opts: { allowTypeKey?: boolean } = {},
  ) {
    const spelledAs = new Map<string, string>();
    for (const [key, value] of Object.entries(input)) {
      if (key === '@type' && opts.allowTypeKey) continue;
      const entry = spec.lookup.get(key);
      if (entry === undefined) {
        const meant = spec.folded.get(key.toLowerCase());
        if (meant !== undefined) {
          ctx.field(key).fail(`unknown field '${key}' (field names are case-sensitive: did you mean '${meant}'?), got ${show(value)}`);
        } else {
          ctx.field(toSnake(key)).fail(`unknown field, got ${show(value)}`);
        }
        continue;
      }
      const [name, kind] = entry;
      const earlier = spelledAs.get(name);
      if (earlier !== undefined) {
        ctx.field(name).fail(`expected the field once, got it as both ${earlier} and ${key}`);
        continue;
      }
      spelledAs.set(name, key);
      if (value === null) continue; // proto3 JSON: null means the default value
      this.present.add(name);
      if (kind === 'unsupported') ctx.field(name).fail(`unsupported field, got ${show(value)}`);
      else this.values.set(name, value);
    }
  }

  /** Whether a supported or informational field is set. */
  has(name: string): boolean {
    return this.values.has(name);
  }

  /** The raw value of a field, or undefined. */
  raw(name: string): unknown {
    return this.values.get(name);
  }

  /** The context of a field. */
  at(name: string): Ctx {
    return this.ctx.field(name);
  }

  /** An optional field: undefined when absent or invalid. */
  opt<T>(name: string, r: Reader<T>): T | undefined {
    return this.values.has(name) ? r(this.at(name), this.values.get(name)) : undefined;
  }

  /** A required field: reports `expected <what>, got nothing` when absent. */
  req<T>(name: string, r: Reader<T>): T | undefined {
    if (!this.values.has(name)) return this.at(name).expected(r.what, undefined);
    return r(this.at(name), this.values.get(name));
  }

  /**
   * A field with a default when absent; undefined when present but invalid (the error is recorded),
   * so that checks depending on its value can be skipped instead of judging against the default.
   */
  orDefault<T>(name: string, r: Reader<T>, fallback: T): T | undefined {
    return this.values.has(name) ? r(this.at(name), this.values.get(name)) : fallback;
  }

  /** A field with a default (also used when the value is invalid; the error is still recorded). */
  get<T>(name: string, r: Reader<T>, fallback: T): T {
    const v = this.opt(name, r);
    return v === undefined ? fallback : v;
  }

  /**
   * A proto oneof: returns the one member that is set. `members` are the supported members
   * (named in the error); `others` are unsupported members, counted but already reported.
   */
  oneof<M extends string>(members: readonly M[], opts: { required: boolean; others?: readonly string[] }): M | undefined {
    const all = [...members, ...(opts.others ?? [])];
    const set = all.filter((n) => this.present.has(n));
    if (set.length === 1) return (members as readonly string[]).includes(set[0]!) ? (set[0] as M) : undefined;
    if (set.length === 0 && !opts.required) return undefined;
    const what = `${opts.required ? 'exactly' : 'at most'} one of ${members.join(', ')}`;
    this.ctx.expected(what, set.length === 0 ? undefined : set);
    return undefined;
  }
}

/** Checks that `value` is an object and wraps it as a Msg; undefined (error recorded) otherwise. */
export function readMessage(ctx: Ctx, value: unknown, spec: MessageSpec, opts: { allowTypeKey?: boolean } = {}): Msg | undefined {
  if (!isObject(value)) return ctx.expected(`a ${spec.shortName} object`, value);
  return new Msg(ctx, spec, value, opts);
}

/** A Reader for a message: checks the fields against `spec`, then runs `decode`. */
export function message<T>(spec: MessageSpec, decode: (m: Msg) => T | undefined): Reader<T> {
  return reader(`a ${spec.shortName} object`, (ctx, v) => {
    const m = readMessage(ctx, v, spec);
    return m === undefined ? undefined : decode(m);
  });
}
