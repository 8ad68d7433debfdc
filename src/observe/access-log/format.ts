// Access-log formatters: Envoy's format strings (`%COMMAND(ARG):MAXLEN%` command operators) and
// format dictionaries (`json_format`), compiled once per config into parts; see Envoy's
// configuration/observability/access_log/usage ("Format Rules", "Command Operators").
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { StreamInfo } from '../../proxy/stream-info.js';

/** Envoy's default access log format string (ends with a newline, as the formatter adds none). */
export const DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  '%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ' +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% ' +
  '"%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" ' +
  '"%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

export type FormatErrorCode = 'UNKNOWN_COMMAND' | 'INVALID_FORMAT' | 'INVALID_JSON_FORMAT';

/** A format string or dictionary that cannot be compiled; `command` names the operator at fault. */
export class FormatError extends Error {
  override readonly name = 'FormatError';
  constructor(
    readonly code: FormatErrorCode,
    message: string,
    readonly command: string | null = null,
    /** Offset of the bad `%` in the format string, -1 when not positional. */
    readonly position = -1,
  ) {
    super(message);
  }
}

/** What one operator yields: a string, a number (typed in JSON), or null when unset (`-` in text). */
type Value = string | number | null;
type Getter = (info: StreamInfo) => Value;
type Part = string | Getter;

// ───────────────────────────── time formatting ─────────────────────────────

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const DAYS_LONG = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTHS_LONG = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September',
  'October', 'November', 'December'];

const p2 = (n: number): string => (n < 10 ? '0' + n : String(n));
const p3 = (n: number): string => (n < 10 ? '00' + n : n < 100 ? '0' + n : String(n));

/** One strftime piece: whole-second text (cacheable per second) or a sub-second fraction. */
type TimeToken =
  | { kind: 'sec'; render: (d: Date, sec: number) => string }
  | { kind: 'frac'; digits: number; dot: boolean; trim: boolean };

function secToken(spec: string): ((d: Date, sec: number) => string) | null {
  switch (spec) {
    case 'Y': return (d) => String(d.getUTCFullYear());
    case 'C': return (d) => p2(Math.floor(d.getUTCFullYear() / 100));
    case 'y': return (d) => p2(d.getUTCFullYear() % 100);
    case 'm': return (d) => p2(d.getUTCMonth() + 1);
    case 'd': return (d) => p2(d.getUTCDate());
    case 'e': return (d) => { const v = d.getUTCDate(); return v < 10 ? ' ' + v : String(v); };
    case 'H': return (d) => p2(d.getUTCHours());
    case 'I': return (d) => p2(d.getUTCHours() % 12 || 12);
    case 'p': return (d) => (d.getUTCHours() < 12 ? 'AM' : 'PM');
    case 'M': return (d) => p2(d.getUTCMinutes());
    case 'S': return (d) => p2(d.getUTCSeconds());
    case 'j': return (d) => p3(Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86400000) + 1);
    case 'a': return (d) => DAYS[d.getUTCDay()]!;
    case 'A': return (d) => DAYS_LONG[d.getUTCDay()]!;
    case 'u': return (d) => String(d.getUTCDay() || 7);
    case 'w': return (d) => String(d.getUTCDay());
    case 'b': case 'h': return (d) => MONTHS[d.getUTCMonth()]!;
    case 'B': return (d) => MONTHS_LONG[d.getUTCMonth()]!;
    case 'F': return (d) => `${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}`;
    case 'D': return (d) => `${p2(d.getUTCMonth() + 1)}/${p2(d.getUTCDate())}/${p2(d.getUTCFullYear() % 100)}`;
    case 'T': return (d) => `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
    case 'R': return (d) => `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}`;
    case 'z': return () => '+0000';
    case 'Z': return () => 'UTC';
    case 's': return (_d, sec) => String(sec);
    case 'n': return () => '\n';
    case 't': return () => '\t';
    case '%': return () => '%';
    default: return null;
  }
}

/** Splits a strftime format (plus Envoy's `%s`, `%f`, `%Nf` and absl's `%E#S`, `%E*S`) into tokens. */
function parseTimeFormat(fmt: string): TimeToken[] {
  const out: TimeToken[] = [];
  const lit = (s: string): void => { out.push({ kind: 'sec', render: () => s }); };
  let i = 0;
  let text = '';
  while (i < fmt.length) {
    const c = fmt[i]!;
    if (c !== '%' || i + 1 >= fmt.length) { text += c; i++; continue; }
    const rest = fmt.slice(i + 1);
    let m: RegExpExecArray | null;
    if ((m = /^([1-9]?)f/.exec(rest)) !== null) {
      if (text) { lit(text); text = ''; }
      out.push({ kind: 'frac', digits: m[1] ? Number(m[1]) : 9, dot: false, trim: false });
      i += 1 + m[0].length;
    } else if ((m = /^E(\d+|\*)S/.exec(rest)) !== null) {
      if (text) { lit(text); text = ''; }
      out.push({ kind: 'sec', render: (d) => p2(d.getUTCSeconds()) });
      const star = m[1] === '*';
      const digits = star ? 9 : Math.min(Number(m[1]), 9);
      if (digits > 0) out.push({ kind: 'frac', digits, dot: true, trim: star });
      i += 1 + m[0].length;
    } else {
      const render = secToken(rest[0]!);
      if (render === null) { text += '%' + rest[0]; i += 2; continue; }
      if (text) { lit(text); text = ''; }
      out.push({ kind: 'sec', render });
      i += 2;
    }
  }
  if (text) lit(text);
  return out;
}

/**
 * Compiles a START_TIME-style format into `(epochMs) => string`, in UTC as Envoy prints it.
 * Everything down to the second is rendered once per second and cached; only the fraction is
 * computed per call. With no format: ISO-8601 with milliseconds, e.g. `2016-04-15T20:17:00.310Z`.
 */
export function compileTimeFormat(fmt?: string): (epochMs: number) => string {
  if (fmt === undefined || fmt === '') {
    let cachedSec = NaN;
    let prefix = '';
    return (ms) => {
      const sec = Math.floor(ms / 1000);
      if (sec !== cachedSec) {
        cachedSec = sec;
        prefix = new Date(sec * 1000).toISOString().slice(0, 19) + '.';
      }
      return prefix + p3(Math.floor(ms - sec * 1000)) + 'Z';
    };
  }
  const tokens = parseTimeFormat(fmt);
  const fracs = tokens.filter((t): t is Extract<TimeToken, { kind: 'frac' }> => t.kind === 'frac');
  let cachedSec = NaN;
  let pieces: string[] = [];
  return (ms) => {
    const sec = Math.floor(ms / 1000);
    if (sec !== cachedSec) {
      cachedSec = sec;
      const d = new Date(sec * 1000);
      pieces = [''];
      for (const t of tokens) {
        if (t.kind === 'sec') pieces[pieces.length - 1] += t.render(d, sec);
        else pieces.push('');
      }
    }
    if (fracs.length === 0) return pieces[0]!;
    const nanos = Math.min(999_999_999, Math.round((ms - sec * 1000) * 1e6));
    const nine = String(nanos).padStart(9, '0');
    let out = pieces[0]!;
    for (let i = 0; i < fracs.length; i++) {
      const f = fracs[i]!;
      let digits = nine.slice(0, f.digits);
      if (f.trim) digits = digits.replace(/0+$/, '');
      out += (f.dot && digits !== '' ? '.' : '') + digits + pieces[i + 1]!;
    }
    return out;
  };
}

// ───────────────────────────── command operators ─────────────────────────────

/** All values of a lower-cased header in a flat list, comma-joined as Envoy logs repeated headers. */
function headerValue(headers: readonly string[] | null, name: string): string | null {
  if (headers === null) return null;
  let found: string | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === name) found = found === null ? headers[i + 1]! : found + ',' + headers[i + 1]!;
  }
  return found;
}

const orNull = (s: string | null | undefined): string | null => (s === '' || s === undefined ? null : s);

function requestHeaderGetter(name: string): (info: StreamInfo) => string | null {
  switch (name) {
    case ':method': return (i) => orNull(i.method);
    case ':path': return (i) => orNull(i.path);
    case ':authority': return (i) => orNull(i.authority) ?? headerValue(i.requestHeaders, 'host');
    case 'host': return (i) => headerValue(i.requestHeaders, 'host') ?? orNull(i.authority);
    case 'x-request-id': return (i) => headerValue(i.requestHeaders, name) ?? orNull(i.requestId);
    default: return (i) => headerValue(i.requestHeaders, name);
  }
}

function responseHeaderGetter(name: string): (info: StreamInfo) => string | null {
  if (name === ':status') return (i) => (i.responseCode === 0 ? null : String(i.responseCode));
  return (i) => headerValue(i.responseHeaders, name);
}

function trailerGetter(name: string): (info: StreamInfo) => string | null {
  return (i) => headerValue(i.responseTrailers, name);
}

/** `X?Y` of REQ/RESP/TRAILER: a main header and an optional alternative, lower-cased. */
function headerPair(
  command: string, arg: string | undefined, position: number,
  lookup: (name: string) => (info: StreamInfo) => string | null,
): (info: StreamInfo) => string | null {
  if (arg === undefined || arg === '') {
    throw new FormatError('INVALID_FORMAT', `%${command}% needs a header name, as in %${command}(X?Y):Z%`, command, position);
  }
  const names = arg.split('?');
  if (names.length > 2) {
    throw new FormatError('INVALID_FORMAT', `%${command}(${arg})%: more than one alternative header`, command, position);
  }
  if (names.some((n) => n === '' || /[\r\n\0]/.test(n))) {
    throw new FormatError('INVALID_FORMAT', `%${command}(${arg})%: invalid header name`, command, position);
  }
  const main = lookup(names[0]!.toLowerCase());
  if (names.length === 1) return main;
  const alt = lookup(names[1]!.toLowerCase());
  return (i) => main(i) ?? alt(i);
}

function withoutPort(addr: string): string | null {
  if (addr === '') return null;
  if (addr[0] === '[') {
    const end = addr.indexOf(']');
    return end < 0 ? addr : addr.slice(1, end);
  }
  const colon = addr.indexOf(':');
  if (colon < 0 || addr.indexOf(':', colon + 1) >= 0) return addr; // no port, or a bare IPv6 literal
  return addr.slice(0, colon);
}

function portOf(addr: string): number | null {
  if (addr === '') return null;
  const colon = addr.lastIndexOf(':');
  if (colon < 0 || (addr[0] !== '[' && addr.indexOf(':') !== colon)) return null;
  const port = Number(addr.slice(colon + 1));
  return Number.isInteger(port) ? port : null;
}

function stripQuery(v: string | null): string | null {
  if (v === null) return null;
  const q = v.indexOf('?');
  return q < 0 ? v : v.slice(0, q);
}

type OperatorFactory = (command: string, arg: string | undefined, position: number) => Getter;

/** Getters whose strings never contain characters JSON must escape (skips the check per line). */
const JSON_SAFE = new WeakSet<Getter>();
const safe = (get: Getter): Getter => { JSON_SAFE.add(get); return get; };
const JSON_PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

const noArg = (get: Getter): OperatorFactory => (command, arg, position) => {
  if (arg !== undefined) {
    throw new FormatError('INVALID_FORMAT', `%${command}% takes no argument, got (${arg})`, command, position);
  }
  return get;
};

const HOST = hostname();

function timeGetter(fmt: string | undefined, when: (info: StreamInfo) => number): Getter {
  const f = compileTimeFormat(fmt);
  const get: Getter = (i) => f(when(i));
  return fmt === undefined || JSON_PLAIN.test(fmt) ? safe(get) : get;
}

/** The supported command operators, by name (Envoy's names and value types). */
const OPERATORS: ReadonlyMap<string, OperatorFactory> = new Map<string, OperatorFactory>([
  ['START_TIME', (_c, arg) => timeGetter(arg, (i) => i.startTime)],
  ['EMIT_TIME', (_c, arg) => timeGetter(arg, () => Date.now())],
  ['REQ', (c, arg, pos) => headerPair(c, arg, pos, requestHeaderGetter)],
  ['REQUEST_HEADER', (c, arg, pos) => headerPair(c, arg, pos, requestHeaderGetter)],
  ['REQ_WITHOUT_QUERY', (c, arg, pos) => { const g = headerPair(c, arg, pos, requestHeaderGetter); return (i) => stripQuery(g(i)); }],
  ['RESP', (c, arg, pos) => headerPair(c, arg, pos, responseHeaderGetter)],
  ['RESPONSE_HEADER', (c, arg, pos) => headerPair(c, arg, pos, responseHeaderGetter)],
  ['TRAILER', (c, arg, pos) => headerPair(c, arg, pos, trailerGetter)],
  ['RESPONSE_TRAILER', (c, arg, pos) => headerPair(c, arg, pos, trailerGetter)],
  ['PROTOCOL', noArg(safe((i) => orNull(i.protocol)))],
  ['RESPONSE_CODE', noArg(safe((i) => i.responseCode))],
  ['RESPONSE_CODE_DETAILS', noArg((i) => orNull(i.responseCodeDetails))],
  // Envoy renders "no flags" as the string `-` (also in typed JSON), not as an unset value.
  ['RESPONSE_FLAGS', noArg(safe((i) => i.responseFlags || '-'))],
  ['BYTES_RECEIVED', noArg(safe((i) => i.bytesReceived))],
  ['BYTES_SENT', noArg(safe((i) => i.bytesSent))],
  ['DURATION', noArg(safe((i) => i.durationMs()))],
  ['UPSTREAM_HOST', noArg((i) => i.upstreamHost)],
  ['UPSTREAM_CLUSTER', noArg((i) => i.upstreamCluster)],
  ['UPSTREAM_REQUEST_ATTEMPT_COUNT', noArg(safe((i) => (i.upstreamHost === null && i.retries === 0 ? 0 : i.retries + 1)))],
  ['DOWNSTREAM_REMOTE_ADDRESS', noArg((i) => orNull(i.downstreamRemoteAddress))],
  ['DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT', noArg((i) => withoutPort(i.downstreamRemoteAddress))],
  ['DOWNSTREAM_REMOTE_PORT', noArg(safe((i) => portOf(i.downstreamRemoteAddress)))],
  ['DOWNSTREAM_DIRECT_REMOTE_ADDRESS', noArg((i) => orNull(i.downstreamDirectRemoteAddress))],
  ['DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT', noArg((i) => withoutPort(i.downstreamDirectRemoteAddress))],
  ['DOWNSTREAM_DIRECT_REMOTE_PORT', noArg(safe((i) => portOf(i.downstreamDirectRemoteAddress)))],
  ['DOWNSTREAM_LOCAL_ADDRESS', noArg((i) => orNull(i.downstreamLocalAddress))],
  ['DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT', noArg((i) => withoutPort(i.downstreamLocalAddress))],
  ['DOWNSTREAM_LOCAL_PORT', noArg(safe((i) => portOf(i.downstreamLocalAddress)))],
  ['ROUTE_NAME', noArg((i) => orNull(i.routeName))],
  ['STREAM_ID', noArg((i) => orNull(i.requestId))],
  ['UNIQUE_ID', noArg(safe(() => randomUUID()))],
  ['HOSTNAME', noArg(() => HOST)],
]);

/** Names of the supported command operators (for docs and error hints). */
export const SUPPORTED_COMMANDS: readonly string[] = Object.freeze([...OPERATORS.keys()]);

const COMMAND_RE = /%([A-Z0-9_]+)(?:\(([^)]*)\))?(?::([0-9]+))?%/y;

function truncating(get: Getter, max: number): Getter {
  return (i) => {
    const v = get(i);
    return typeof v === 'string' && v.length > max ? v.slice(0, max) : v;
  };
}

/** Parses a format string into literal strings and getters; throws FormatError. */
function parseFormat(template: string): Part[] {
  const parts: Part[] = [];
  let text = '';
  let i = 0;
  while (i < template.length) {
    const pct = template.indexOf('%', i);
    if (pct < 0) { text += template.slice(i); break; }
    text += template.slice(i, pct);
    if (template[pct + 1] === '%') { text += '%'; i = pct + 2; continue; }
    COMMAND_RE.lastIndex = pct;
    const m = COMMAND_RE.exec(template);
    if (m === null) {
      throw new FormatError('INVALID_FORMAT',
        `no valid command operator at position ${pct} (expected %COMMAND%, %COMMAND(ARG)% or %COMMAND(ARG):LENGTH%; write %% for a literal percent)`,
        null, pct);
    }
    const [, command, arg, maxLen] = m as unknown as [string, string, string | undefined, string | undefined];
    const factory = OPERATORS.get(command);
    if (factory === undefined) {
      throw new FormatError('UNKNOWN_COMMAND', `unknown command operator %${command}% at position ${pct}`, command, pct);
    }
    let get = factory(command, arg, pct);
    if (maxLen !== undefined) get = truncating(get, Number(maxLen));
    if (text !== '') { parts.push(text); text = ''; }
    parts.push(get);
    i = pct + m[0].length;
  }
  if (text !== '') parts.push(text);
  return parts;
}

const textOf = (v: Value): string => (v === null ? '-' : typeof v === 'string' ? v : String(v));

/**
 * Compiles an Envoy format string once; the returned function renders one line per call.
 * Unset values print `-`. Throws FormatError (`UNKNOWN_COMMAND`, `INVALID_FORMAT`).
 * @example compileTemplate('%REQ(:METHOD)% %RESPONSE_CODE%\n')(info) // 'GET 200\n'
 */
export function compileTemplate(template: string): (info: StreamInfo) => string {
  return concatenate(parseFormat(template), () => textOf);
}

/**
 * One function that concatenates literal parts and rendered getters. The body is generated so
 * each getter is called from its own call site (monomorphic, inlinable) instead of from one
 * megamorphic loop; only quoted literals and indices go into the generated source.
 */
function concatenate<T>(
  parts: Array<string | ((info: StreamInfo) => T)>,
  renderFor: (getter: (info: StreamInfo) => T) => (v: T) => string,
): (info: StreamInfo) => string {
  if (parts.length === 0) return () => '';
  const getters: Array<(info: StreamInfo) => T> = [];
  const renders: Array<(v: T) => string> = [];
  const terms: string[] = [];
  for (const p of parts) {
    if (typeof p === 'string') {
      terms.push(JSON.stringify(p));
    } else {
      terms.push(`r${getters.length}(g${getters.length}(i))`);
      getters.push(p);
      renders.push(renderFor(p));
    }
  }
  const locals = getters.map((_g, k) => `const g${k} = g[${k}], r${k} = r[${k}];`).join('\n');
  const make = new Function('g', 'r', `${locals}\nreturn function format(i) { return ${terms.join(' + ')}; };`) as
    (g: Array<(info: StreamInfo) => T>, r: Array<(v: T) => string>) => (info: StreamInfo) => string;
  return make(getters, renders);
}

/** Errors of a format string, empty when it compiles (for config adapters). */
export function validateTemplate(template: string): string[] {
  try {
    parseFormat(template);
    return [];
  } catch (err) {
    if (err instanceof FormatError) return [err.message];
    throw err;
  }
}

// ───────────────────────────── format dictionaries ─────────────────────────────

/** A constant JSON fragment, or a getter whose value jsonValue() renders. */
type JsonPart = string | Getter;

/** jsonValue() for getters whose strings never need escaping. */
function jsonSafeValue(v: Value): string {
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  return '"' + v + '"';
}

/** A value as JSON: null, a finite number, or a string (quoted directly when nothing needs escaping). */
function jsonValue(v: Value): string {
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  return JSON_PLAIN.test(v) ? '"' + v + '"' : JSON.stringify(v);
}

/** One value of the dictionary as JSON text parts (constants pre-serialized). */
function compileJsonValue(value: unknown, path: string, out: JsonPart[], errors: FormatError[]): void {
  if (typeof value === 'string') {
    let parts: Part[];
    try {
      parts = parseFormat(value);
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      errors.push(new FormatError(err.code, `${path}: ${err.message}`, err.command, err.position));
      return;
    }
    if (parts.length === 1 && typeof parts[0] === 'function') {
      // A lone operator keeps its type: numbers stay numbers and unset values are null.
      out.push(parts[0]);
    } else if (parts.every((p) => typeof p === 'string')) {
      out.push(JSON.stringify(parts.join('')));
    } else {
      out.push(concatenate(parts, () => textOf));
    }
  } else if (Array.isArray(value)) {
    out.push('[');
    value.forEach((v, k) => {
      if (k > 0) out.push(',');
      compileJsonValue(v, `${path}[${k}]`, out, errors);
    });
    out.push(']');
  } else if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort(); // Envoy always sorts properties
    out.push('{');
    keys.forEach((k, idx) => {
      out.push((idx > 0 ? ',' : '') + JSON.stringify(k) + ':');
      compileJsonValue((value as Record<string, unknown>)[k], path === '' ? k : `${path}.${k}`, out, errors);
    });
    out.push('}');
  } else if (typeof value === 'number' || typeof value === 'boolean' || value === null) {
    out.push(JSON.stringify(value));
  } else {
    errors.push(new FormatError('INVALID_JSON_FORMAT',
      `${path}: only strings, numbers, booleans, null, objects and lists are allowed`));
  }
}

function buildJson(fields: Record<string, unknown>): { parts: JsonPart[]; errors: FormatError[] } {
  const raw: JsonPart[] = [];
  const errors: FormatError[] = [];
  compileJsonValue(fields, '', raw, errors);
  raw.push('\n');
  // Merge adjacent constants so rendering concatenates as few pieces as possible.
  const parts: JsonPart[] = [];
  for (const p of raw) {
    const last = parts.length - 1;
    if (typeof p === 'string' && last >= 0 && typeof parts[last] === 'string') parts[last] += p;
    else parts.push(p);
  }
  return { parts, errors };
}

/**
 * Compiles a `json_format` dictionary once; each call renders one JSON object and a newline.
 * A value that is exactly one operator keeps its type (numbers stay numbers, unset is null); a
 * value mixing text and operators is a string with `-` for unset parts; nested objects and lists
 * are allowed; keys are sorted as Envoy sorts them. Throws FormatError with the code and command
 * of the first bad value (`UNKNOWN_COMMAND`, `INVALID_FORMAT`, `INVALID_JSON_FORMAT`) and every
 * error, each prefixed with its key path, in the message.
 * @example compileJsonFormat({ code: '%RESPONSE_CODE%' })(info) // '{"code":200}\n'
 */
export function compileJsonFormat(fields: Readonly<Record<string, unknown>>): (info: StreamInfo) => string {
  const { parts, errors } = buildJson(fields as Record<string, unknown>);
  const first = errors[0];
  if (first !== undefined) {
    throw new FormatError(first.code, errors.map((e) => e.message).join('; '), first.command, first.position);
  }
  return concatenate(parts, (g) => (JSON_SAFE.has(g) ? jsonSafeValue : jsonValue));
}

/** Errors of a `json_format` dictionary, each prefixed with the key path; empty when fine. */
export function validateJsonFormat(fields: Readonly<Record<string, unknown>>): string[] {
  return buildJson(fields as Record<string, unknown>).errors.map((e) => e.message);
}
