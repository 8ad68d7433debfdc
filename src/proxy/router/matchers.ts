// Request matchers of a route, compiled once: type.matcher.v3.StringMatcher, route.v3.HeaderMatcher
// (values of repeated headers joined with ',', present/range/invert semantics of Envoy's
// HeaderUtility::matchHeaders) and route.v3.QueryParameterMatcher (query string split on '&' and
// the first '=', not percent-decoded, first occurrence wins — Envoy's parseQueryString).
import type { HeaderMatcherConfig, QueryParameterMatcherConfig, StringMatcherConfig } from '../config/types.js';
import { compileFullMatch } from './regex.js';

const S_EXACT = 0;
const S_PREFIX = 1;
const S_SUFFIX = 2;
const S_CONTAINS = 3;
const S_REGEX = 4;

/** StringMatcher: exact / prefix / suffix / contains (optionally ignoring ASCII case) or full-match regex. */
export class CompiledStringMatcher {
  private readonly kind: number;
  private readonly value: string;
  private readonly ignoreCase: boolean;
  private readonly re: RegExp | null;

  /** Throws Error (bad regex). */
  constructor(cfg: StringMatcherConfig) {
    if (cfg.kind === 'regex') {
      this.kind = S_REGEX;
      this.value = '';
      this.ignoreCase = false;
      this.re = compileFullMatch(cfg.regex);
      return;
    }
    this.kind = cfg.kind === 'exact' ? S_EXACT : cfg.kind === 'prefix' ? S_PREFIX : cfg.kind === 'suffix' ? S_SUFFIX : S_CONTAINS;
    this.ignoreCase = cfg.ignoreCase;
    this.value = cfg.ignoreCase ? cfg.value.toLowerCase() : cfg.value;
    this.re = null;
  }

  match(input: string): boolean {
    const v = this.ignoreCase ? input.toLowerCase() : input;
    switch (this.kind) {
      case S_EXACT: return v === this.value;
      case S_PREFIX: return v.startsWith(this.value);
      case S_SUFFIX: return v.endsWith(this.value);
      case S_CONTAINS: return v.includes(this.value);
      default: return this.re!.test(v);
    }
  }
}

/** All values of a lower-cased header, joined with ',' when repeated; null when absent. */
export function joinedHeaderValue(headers: readonly string[], name: string): string | null {
  let found: string | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === name) found = found === null ? headers[i + 1]! : found + ',' + headers[i + 1]!;
  }
  return found;
}

const SRC_HEADERS = 0;
const SRC_METHOD = 1;
const SRC_PATH = 2;
const SRC_AUTHORITY = 3;

const H_STRING = 0;
const H_PRESENT = 1;
const H_RANGE = 2;

const INTEGER_RE = /^[+-]?[0-9]+$/;

/** What a header matcher reads: the header list plus the pseudo-headers carried beside it. */
export interface HeaderSource {
  readonly authority: string;
  readonly path: string;
  readonly method: string;
  readonly headers: readonly string[];
}

/**
 * HeaderMatcher. `:authority`, `:method` and `:path` read the request's own fields; any other
 * name (including `:scheme`) is looked up in the header list.
 */
export class CompiledHeaderMatcher {
  readonly name: string;
  private readonly source: number;
  private readonly kind: number;
  private readonly string: CompiledStringMatcher | null;
  private readonly present: boolean;
  private readonly start: number;
  private readonly end: number;
  private readonly invert: boolean;

  /** Throws Error (bad regex). */
  constructor(cfg: HeaderMatcherConfig) {
    this.name = cfg.name.toLowerCase();
    this.source = this.name === ':authority' ? SRC_AUTHORITY : this.name === ':method' ? SRC_METHOD
      : this.name === ':path' ? SRC_PATH : SRC_HEADERS;
    this.invert = cfg.invertMatch;
    const spec = cfg.spec;
    this.string = null;
    this.present = true;
    this.start = 0;
    this.end = 0;
    if (spec.kind === 'present') {
      this.kind = H_PRESENT;
      this.present = spec.present;
    } else if (spec.kind === 'range') {
      this.kind = H_RANGE;
      this.start = spec.start;
      this.end = spec.end;
    } else {
      this.kind = H_STRING;
      this.string = new CompiledStringMatcher(spec);
    }
  }

  private valueOf(req: HeaderSource): string | null {
    switch (this.source) {
      case SRC_AUTHORITY: return req.authority;
      case SRC_METHOD: return req.method;
      case SRC_PATH: return req.path;
      default: return joinedHeaderValue(req.headers, this.name);
    }
  }

  matches(req: HeaderSource): boolean {
    const value = this.valueOf(req);
    if (value === null) {
      // A missing header only satisfies present_match: false (or present_match: true inverted).
      return this.kind === H_PRESENT && this.present === this.invert;
    }
    let match: boolean;
    switch (this.kind) {
      case H_STRING: match = this.string!.match(value); break;
      case H_PRESENT: match = this.present; break;
      default: {
        if (!INTEGER_RE.test(value)) { match = false; break; }
        const n = Number(value);
        match = n >= this.start && n < this.end;
      }
    }
    return match !== this.invert;
  }
}

const NO_PARAMS: ReadonlyMap<string, string> = new Map();

/** Query parameters of a path: name → first value; parameters without '=' have value ''. */
export function parseQuery(path: string): ReadonlyMap<string, string> {
  const q = path.indexOf('?');
  if (q < 0 || q === path.length - 1) return NO_PARAMS;
  const params = new Map<string, string>();
  let start = q + 1;
  while (start < path.length) {
    let end = path.indexOf('&', start);
    if (end < 0) end = path.length;
    const eq = path.indexOf('=', start);
    let name: string;
    let value: string;
    if (eq >= 0 && eq < end) { name = path.slice(start, eq); value = path.slice(eq + 1, end); }
    else { name = path.slice(start, end); value = ''; }
    if (!params.has(name)) params.set(name, value);
    start = end + 1;
  }
  return params;
}

/** QueryParameterMatcher: the parameter must be present and, with a string_match, match it. */
export class CompiledQueryMatcher {
  readonly name: string;
  private readonly string: CompiledStringMatcher | null;

  /** Throws Error (bad regex). */
  constructor(cfg: QueryParameterMatcherConfig) {
    this.name = cfg.name;
    this.string = cfg.stringMatch === null ? null : new CompiledStringMatcher(cfg.stringMatch);
  }

  matches(params: ReadonlyMap<string, string>): boolean {
    const v = params.get(this.name);
    if (v === undefined) return false;
    return this.string === null || this.string.match(v);
  }
}
