// Building blocks for validating Istio networking resources (istio.io/latest/docs/reference/config/
// networking/) at the edge: an error collector with field paths, object shapes that reject unknown
// fields, and the scalar kinds Istio's validation knows (hosts, durations, ports, StringMatch, ...).

import type { Duration, HeaderOperations, Headers, Percent, PortSelector, PresenceMatch, StringMatch } from './types.js';

/** Collects every error of one document, each prefixed with `<source>: <Kind> <ns>/<name>: `. */
export class Ctx {
  readonly errors: string[] = [];
  constructor(public prefix: string) {}

  /** A free-form error at `path` (`spec.http[0].rout: unknown field`). */
  fail(path: string, message: string): void {
    this.errors.push(`${this.prefix}${path}: ${message}`);
  }

  /** `path: expected <what>, got <value>`. */
  expected(path: string, what: string, got: unknown): void {
    this.fail(path, `expected ${what}, got ${describe(got)}`);
  }
}

/** How a bad value is shown in an error: JSON for scalars, its type for containers. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length === 0 ? '[]' : 'a list';
  if (typeof v === 'object') return Object.keys(v).length === 0 ? '{}' : 'an object';
  if (typeof v === 'string') {
    const s = JSON.stringify(v);
    return s.length > 80 ? `${s.slice(0, 77)}..."` : s;
  }
  return String(v);
}

/** A field checker: called only for present (non-null) values; returns undefined when invalid. */
export type Field<T> = (v: unknown, path: string, c: Ctx) => T | undefined;

/** A plain (non-array, non-null) object. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks `v` is an object whose keys are all in `fields`, runs each present field's checker and
 * returns the valid results (invalid and absent fields are left out). Null values count as absent,
 * as Kubernetes drops them. Returns undefined when `v` is not an object.
 */
export function shape(c: Ctx, v: unknown, path: string, fields: Readonly<Record<string, Field<unknown>>>): Record<string, any> | undefined {
  if (!isObject(v)) {
    c.expected(path, 'an object', v);
    return undefined;
  }
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) {
    const p = join(path, k);
    const check = Object.hasOwn(fields, k) ? fields[k] : undefined;
    if (check === undefined) {
      const near = didYouMean(k, Object.keys(fields));
      c.fail(p, near === undefined ? 'unknown field' : `unknown field (did you mean ${near}?)`);
      continue;
    }
    if (val === null || val === undefined) continue;
    const r = check(val, p, c);
    if (r !== undefined) out[k] = r;
  }
  return out;
}

/** Records `path.key: expected <what>, got nothing` when the source object lacks `key`. */
export function required(c: Ctx, src: unknown, path: string, key: string, what: string): boolean {
  if (isObject(src) && src[key] !== undefined && src[key] !== null) return true;
  if (isObject(src)) c.expected(join(path, key), what, undefined);
  return false;
}

export function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** The closest allowed name within a small edit distance, for "did you mean" hints. */
export function didYouMean(name: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const limit = Math.max(1, Math.min(3, Math.floor(name.length / 3)));
  for (const a of allowed) {
    const d = editDistance(name.toLowerCase(), a.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = a;
    }
  }
  return bestD <= limit ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

// ───────────────────────────── scalars ─────────────────────────────

export const str: Field<string> = (v, p, c) => (typeof v === 'string' ? v : (c.expected(p, 'a string', v), undefined));

export const nonEmptyStr: Field<string> = (v, p, c) =>
  typeof v === 'string' && v !== '' ? v : (c.expected(p, 'a non-empty string', v), undefined);

export const bool: Field<boolean> = (v, p, c) => (typeof v === 'boolean' ? v : (c.expected(p, 'true or false', v), undefined));

/** An integer in min..max (inclusive). */
export function int(min: number, max: number): Field<number> {
  const what = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in ${min}..${max}`;
  return (v, p, c) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : (c.expected(p, what, v), undefined));
}

/** A number (not necessarily an integer) in min..max. */
export function num(min: number, max: number): Field<number> {
  return (v, p, c) => (typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? v : (c.expected(p, `a number in ${min}..${max}`, v), undefined));
}

export const port: Field<number> = int(1, 65535);
export const nonNegInt: Field<number> = int(0, Number.MAX_SAFE_INTEGER);

/** One of a fixed set of strings (enum names as Istio spells them). */
export function oneOf<T extends string>(values: readonly T[]): Field<T> {
  return (v, p, c) => ((values as readonly unknown[]).includes(v) ? (v as T) : (c.expected(p, `one of ${values.join(', ')}`, v), undefined));
}

/**
 * A list whose items pass `item`. Every item is checked (all errors recorded); the list is
 * undefined when any item failed, so checks across items never see shifted indices.
 */
export function list<T>(item: Field<T>, opts: { nonEmpty?: boolean } = {}): Field<T[]> {
  return (v, p, c) => {
    if (!Array.isArray(v)) return c.expected(p, opts.nonEmpty === true ? 'a non-empty list' : 'a list', v), undefined;
    if (opts.nonEmpty === true && v.length === 0) return c.expected(p, 'a non-empty list', v), undefined;
    const out: T[] = [];
    let failed = false;
    v.forEach((x, i) => {
      const r = x === null || x === undefined ? (c.expected(`${p}[${i}]`, 'a value', x), undefined) : item(x, `${p}[${i}]`, c);
      if (r === undefined) failed = true;
      else out.push(r);
    });
    return failed ? undefined : out;
  };
}

/** A map with string keys (checked by `key`) and values checked by `val`. */
export function map<T>(val: Field<T>, key?: (k: string, path: string, c: Ctx) => boolean): Field<Record<string, T>> {
  return (v, p, c) => {
    if (!isObject(v)) return c.expected(p, 'a map', v), undefined;
    const out: Record<string, T> = {};
    for (const [k, x] of Object.entries(v)) {
      const kp = `${p}[${JSON.stringify(k)}]`;
      if (key !== undefined && !key(k, kp, c)) continue;
      const r = x === null ? (c.expected(kp, 'a value', x), undefined) : val(x, kp, c);
      // defineProperty: a `__proto__` key stays a plain key instead of replacing the prototype.
      if (r !== undefined) Object.defineProperty(out, k, { value: r, enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
}

/** A string → string map (labels, annotations, header values). */
export const stringMap: Field<Record<string, string>> = map(str);

/** Labels for selectors: non-empty keys, string values. */
export const labelMap: Field<Record<string, string>> = map(str, (k, p, c) => {
  if (/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(k)) return true;
  c.fail(p, 'expected a label key (optional DNS prefix/ then alphanumerics, -, _, .)');
  return false;
});

// ───────────────────────────── names and hosts ─────────────────────────────

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Host labels are matched case-insensitively, as Istio does. */
const HOST_LABEL = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$/;

export function isDnsLabel(s: string): boolean {
  return s.length <= 63 && DNS_LABEL.test(s);
}

export function isDnsSubdomain(s: string): boolean {
  return s.length > 0 && s.length <= 253 && s.split('.').every((l) => l.length <= 63 && DNS_LABEL.test(l));
}

export const dnsLabel: Field<string> = (v, p, c) =>
  typeof v === 'string' && isDnsLabel(v) ? v : (c.expected(p, 'a DNS-1123 label (lower-case alphanumerics and -, at most 63)', v), undefined);

/** A DNS name (labels of letters, digits and -), at most 255 characters; with `wildcard`, `*.` may lead. */
export function isHostname(s: string, wildcard: boolean): boolean {
  let rest = s;
  if (wildcard && s.startsWith('*.')) rest = s.slice(2);
  if (rest === '' || rest.length > 255) return false;
  return rest.split('.').every((l) => l.length <= 63 && HOST_LABEL.test(l));
}

export function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((x) => /^(0|[1-9]\d{0,2})$/.test(x) && Number(x) <= 255);
}

export function isIPv6(s: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return false;
  try {
    return new URL(`http://[${s}]/`).hostname !== '';
  } catch {
    return false;
  }
}

export function isIP(s: string): boolean {
  return isIPv4(s) || isIPv6(s);
}

/** An IP address or a CIDR block. */
export function isIPOrCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return isIP(s);
  const ip = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits)) return false;
  const n = Number(bits);
  return isIPv4(ip) ? n <= 32 : isIPv6(ip) && n <= 128;
}

/** Hosts as Istio's VirtualService/DestinationRule/ServiceEntry take them: FQDN, short name, `*.suffix`, optionally `*`. */
export function host(opts: { star: boolean; ip?: boolean }): Field<string> {
  const what = `a host name (FQDN, short name or *.domain${opts.star ? ', or *' : ''})`;
  return (v, p, c) => {
    if (typeof v === 'string' && ((opts.star && v === '*') || isHostname(v, true) || (opts.ip === true && isIP(v)))) return v;
    return c.expected(p, what, v), undefined;
  };
}

/**
 * `namespace/dnsName` hosts of Gateway servers and Sidecar egress: the namespace is `*`, `.`, a
 * namespace name (and `~` when `tilde`), the name `*`, `*.suffix` or an FQDN. Without the prefix
 * only when `bare` (Gateway: the same as the `*` namespace).
 */
export function nsHost(opts: { bare: boolean; tilde: boolean }): Field<string> {
  const what = `namespace/host (namespace ${opts.tilde ? '*, ., ~' : '* or .'} or a name; host *, *.domain or an FQDN)`;
  return (v, p, c) => {
    if (typeof v !== 'string') return c.expected(p, what, v), undefined;
    const slash = v.indexOf('/');
    if (slash < 0 && !opts.bare) return c.expected(p, what, v), undefined;
    const ns = slash < 0 ? '*' : v.slice(0, slash);
    const h = slash < 0 ? v : v.slice(slash + 1);
    const nsOk = ns === '*' || ns === '.' || (opts.tilde && ns === '~') || isDnsLabel(ns);
    const hOk = h === '*' || isHostname(h, true);
    return nsOk && hOk ? v : (c.expected(p, what, v), undefined);
  };
}

/** exportTo: `.` (own namespace), `*` (all), `~` (none) or namespace names; `*` and `~` stand alone. */
export const exportTo: Field<string[]> = (v, p, c) => {
  const items = list<string>((x, ip, cc) =>
    typeof x === 'string' && (x === '.' || x === '*' || x === '~' || isDnsLabel(x)) ? x : (cc.expected(ip, '., *, ~ or a namespace name', x), undefined))(v, p, c);
  if (items !== undefined && items.length > 1 && (items.includes('*') || items.includes('~'))) {
    c.fail(p, 'expected * or ~ alone, not combined with other namespaces');
  }
  if (items !== undefined && new Set(items).size !== items.length) c.fail(p, 'expected no duplicate entries');
  return items;
};

// ───────────────────────────── durations, percentages, regexes ─────────────────────────────

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };

/** Parses a Go-style duration (`1.5s`, `100ms`, `1m30s`, `2h`) into milliseconds; undefined if malformed. */
export function parseDuration(s: string): number | undefined {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let pos = 0;
  let total = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (m === null) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  return pos === 0 ? undefined : total;
}

/** A duration string → `{ms}`; `minMs` is the smallest allowed value (Istio: 1ms for timeouts). */
export function duration(minMs = 0): Field<Duration> {
  const what = `a duration like 1.5s, 100ms, 1m or 2h${minMs > 0 ? ` (at least ${minMs}ms)` : ''}`;
  return (v, p, c) => {
    const ms = typeof v === 'string' ? parseDuration(v) : undefined;
    return ms !== undefined && ms >= minMs ? { ms } : (c.expected(p, what, v), undefined);
  };
}

/** Istio's Percent message: `{value: 0..100}`. */
export const percent: Field<Percent> = (v, p, c) => {
  const o = shape(c, v, p, { value: num(0, 100) });
  if (o === undefined) return undefined;
  if (!required(c, v, p, 'value', 'a number in 0..100')) return undefined;
  return o.value === undefined ? undefined : { value: o.value };
};

/**
 * An RE2 pattern: compiled with JavaScript's engine for syntax, and rejected when it uses what RE2
 * lacks (lookarounds, backreferences). A leading `(?i)`-style flag group is RE2 syntax and allowed.
 */
export const regex: Field<string> = (v, p, c) => {
  if (typeof v !== 'string') return c.expected(p, 'a regular expression (RE2 syntax)', v), undefined;
  if (/\(\?<?[=!]/.test(v) || /\\[1-9]|\\k</.test(v)) {
    c.expected(p, 'a regular expression in RE2 syntax (no lookarounds or backreferences)', v);
    return undefined;
  }
  const m = /^\(\?([imsU]+)\)/.exec(v);
  const body = m === null ? v : v.slice(m[0].length);
  try {
    new RegExp(body, 'u');
  } catch (e) {
    c.fail(p, `expected a regular expression (RE2 syntax), got ${describe(v)} (${(e as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '')})`);
    return undefined;
  }
  return v;
};

/** StringMatch: exactly one of exact, prefix, regex. */
export const stringMatch: Field<StringMatch> = (v, p, c) => {
  const o = shape(c, v, p, { exact: str, prefix: str, regex });
  if (o === undefined || !isObject(v)) return undefined;
  const present = ['exact', 'prefix', 'regex'].filter((k) => v[k] !== undefined && v[k] !== null);
  if (present.length !== 1) {
    c.fail(p, `expected exactly one of exact, prefix, regex, got ${present.length === 0 ? 'none' : present.join(' and ')}`);
    return undefined;
  }
  const k = present[0]! as 'exact';
  return o[k] === undefined ? undefined : ({ [k]: o[k] } as StringMatch);
};

/** A header name as a map key: lower-case token characters (Istio requires lower case). */
export function headerKey(k: string, p: string, c: Ctx): boolean {
  if (/^[a-z0-9!#$%&'*+\-.^_`|~:]+$/.test(k) && k !== ':') return true;
  c.fail(p, /[A-Z]/.test(k) ? 'expected a lower-case header name' : 'expected a header name');
  return false;
}

/**
 * A StringMatch in a header or query-parameter map, where Istio also takes `{}`: the header or
 * parameter is present, whatever its value (kept as `{}`).
 */
export const presenceOrStringMatch: Field<StringMatch | PresenceMatch> = (v, p, c) =>
  isObject(v) && Object.values(v).every((x) => x === null || x === undefined) ? {} : stringMatch(v, p, c);

/** Istio matches `@request.auth.claims.*` "headers" against the request's JWT, which Weft does not verify yet. */
const JWT_CLAIM = '@request.auth.claims';

/** Header match maps (`headers`, `withoutHeaders`): lower-case names, `{}` for presence. */
export const headerMatchMap: Field<Record<string, StringMatch | PresenceMatch>> = map(presenceOrStringMatch, (k, p, c) => {
  if (k.startsWith(JWT_CLAIM)) return c.fail(p, notYetText('JWT claims arrive with RequestAuthentication')), false;
  return headerKey(k, p, c);
});

/** `headers` of a match: as headerMatchMap, without the keys Istio ignores there (they have match fields of their own). */
export const requestHeaderMatchMap: Field<Record<string, StringMatch | PresenceMatch>> = map(presenceOrStringMatch, (k, p, c) => {
  if (['uri', 'scheme', 'method', 'authority'].includes(k)) return c.fail(p, `expected a header name other than ${k} (Istio ignores it here: use the match's ${k} field)`), false;
  if (k.startsWith(JWT_CLAIM)) return c.fail(p, notYetText('JWT claims arrive with RequestAuthentication')), false;
  return headerKey(k, p, c);
});

export const portSelector: Field<PortSelector> = (v, p, c) => {
  const o = shape(c, v, p, { number: port });
  if (o === undefined || !required(c, v, p, 'number', 'an integer in 1..65535')) return undefined;
  return o.number === undefined ? undefined : { number: o.number };
};

/** A header name to set, add or remove: any case; pseudo-headers and Host only as `:authority`/`host` when `authority`. */
function opKey(authority: boolean): (k: string, p: string, c: Ctx) => boolean {
  return (k, p, c) => {
    const lower = k.toLowerCase();
    if (authority && (lower === ':authority' || lower === 'host')) return true;
    if (/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/.test(k) && lower !== 'host') return true;
    c.fail(p, lower === 'host' || k.startsWith(':') ? 'expected a header name other than Host and pseudo-headers' : 'expected a header name');
    return false;
  };
}

function headerOps(request: boolean): Field<HeaderOperations> {
  return (v, p, c) => {
    const o = shape(c, v, p, {
      set: map(str, opKey(request)),
      add: map(str, opKey(request)),
      remove: list<string>((x, xp, xc) => {
        if (typeof x !== 'string') return xc.expected(xp, 'a header name', x), undefined;
        return opKey(false)(x, xp, xc) ? x : undefined;
      }),
    });
    return o as HeaderOperations | undefined;
  };
}

/** Header manipulation (`headers.request` / `headers.response`, each set/add/remove). */
export const headers: Field<Headers> = (v, p, c) => shape(c, v, p, { request: headerOps(true), response: headerOps(false) }) as Headers | undefined;

/** A file path for certificates and keys (Weft reads files; SDS names arrive later). */
export const filePath: Field<string> = (v, p, c) =>
  typeof v === 'string' && v !== '' && !v.includes('\0') ? v : (c.expected(p, 'a file path', v), undefined);

/** Freezes an object graph in place and returns it. */
export function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/** Drops undefined properties (so frozen outputs compare cleanly and print without noise). */
export function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

// ───────────────────────────── what Weft does not support yet ─────────────────────────────

/** `not supported yet`, with the reason when one helps (`(the proxy has no ...)`). */
export function notYetText(reason?: string): string {
  return reason === undefined ? 'not supported yet' : `not supported yet (${reason})`;
}

/**
 * A field Istio defines and Weft does not implement: rejected with `<path>: not supported yet`
 * instead of `unknown field`, so a valid Istio document is told what is missing, not that it is wrong.
 */
export function notYet(reason?: string): Field<never> {
  return (_v, p, c) => (c.fail(p, notYetText(reason)), undefined);
}

/** Several not-yet fields at once, for spreading into a `shape` field table. */
export function notYetFields(names: readonly string[], reason?: string): Record<string, Field<never>> {
  const out: Record<string, Field<never>> = {};
  for (const n of names) out[n] = notYet(reason);
  return out;
}

/**
 * An enum of Istio's values where Weft serves only some: the others fail with
 * `<path>: VALUE is not supported yet (reason)`; values Istio does not define fail as usual.
 */
export function oneOfSupported<T extends string>(values: readonly T[], notYetValues: Readonly<Record<string, string | undefined>>): Field<T> {
  const all = [...values, ...Object.keys(notYetValues)];
  return (v, p, c) => {
    if ((values as readonly unknown[]).includes(v)) return v as T;
    if (typeof v === 'string' && Object.hasOwn(notYetValues, v)) return c.fail(p, `${v} is ${notYetText(notYetValues[v])}`), undefined;
    return c.expected(p, `one of ${all.join(', ')}`, v), undefined;
  };
}
