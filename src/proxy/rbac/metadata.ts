// Envoy's metadata matcher (envoy.type.matcher.v3.MetadataMatcher with its ValueMatcher,
// ListMatcher and DoubleMatcher), evaluated against dynamic metadata (StreamInfo.dynamicMetadata:
// filter namespace → a JSON object, Envoy's google.protobuf.Struct). Used by the RBAC `metadata`
// principal/permission (Istio's requestPrincipals and request.auth.* conditions read the JWT
// payloads envoy.filters.http.jwt_authn writes there). Compiled once per config; matching walks the
// path without allocating.

import type { StringMatcherConfig } from '../config/types.js';
import { CompiledStringMatcher } from '../router/matchers.js';

/** envoy.type.matcher.v3.ValueMatcher (one pattern). */
export type ValueMatcherConfig =
  | { readonly kind: 'null' }
  /** double_match: `exact`, or `range` [start, end). */
  | { readonly kind: 'double'; readonly exact: number | null; readonly start: number; readonly end: number }
  | { readonly kind: 'string'; readonly match: StringMatcherConfig }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'present'; readonly value: boolean }
  /** list_match.one_of: the value is a list and one of its items matches. */
  | { readonly kind: 'list'; readonly oneOf: ValueMatcherConfig }
  | { readonly kind: 'or'; readonly matchers: readonly ValueMatcherConfig[] };

/** envoy.type.matcher.v3.MetadataMatcher. */
export interface MetadataMatcherConfig {
  /** The filter namespace, e.g. `envoy.filters.http.jwt_authn`. */
  readonly filter: string;
  /** Keys walked from the namespace's object (at least one). */
  readonly path: readonly string[];
  readonly value: ValueMatcherConfig;
  readonly invert: boolean;
}

/** Dynamic metadata as StreamInfo keeps it. */
export type DynamicMetadata = Readonly<Record<string, Readonly<Record<string, unknown>>>> | null;

type ValuePredicate = (v: unknown) => boolean;

/** Absent values (a path that does not resolve) are `undefined`; JSON null is a present null value. */
export function compileValueMatcher(cfg: ValueMatcherConfig): ValuePredicate {
  switch (cfg.kind) {
    case 'null': return (v) => v === null;
    case 'double': {
      const { exact, start, end } = cfg;
      return exact !== null ? (v) => typeof v === 'number' && v === exact : (v) => typeof v === 'number' && v >= start && v < end;
    }
    case 'string': {
      const m = new CompiledStringMatcher(cfg.match);
      return (v) => typeof v === 'string' && m.match(v);
    }
    case 'bool': { const b = cfg.value; return (v) => v === b; }
    // Envoy: present_match true matches any value that is set; false matches nothing.
    case 'present': return cfg.value ? (v) => v !== undefined : () => false;
    case 'list': {
      const item = compileValueMatcher(cfg.oneOf);
      return (v) => {
        if (!Array.isArray(v)) return false;
        for (let i = 0; i < v.length; i++) if (item(v[i])) return true;
        return false;
      };
    }
    case 'or': {
      const ms = cfg.matchers.map(compileValueMatcher);
      return (v) => {
        for (let i = 0; i < ms.length; i++) if (ms[i]!(v)) return true;
        return false;
      };
    }
  }
}

/** The value at `path` under `filter`, or undefined. */
export function metadataValue(md: DynamicMetadata, filter: string, path: readonly string[]): unknown {
  if (md === null) return undefined;
  let cur: unknown = md[filter];
  for (let i = 0; i < path.length; i++) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    const key = path[i]!;
    const next = (cur as Record<string, unknown>)[key];
    // Metadata holds JSON values: a function can only come from the prototype (`constructor`,
    // `toString`...), and `__proto__` needs an own-property check; other keys need none.
    if (next === undefined || typeof next === 'function') return undefined;
    if (key === '__proto__' && !Object.hasOwn(cur, key)) return undefined;
    cur = next;
  }
  return cur;
}

/** A compiled MetadataMatcher: true when the value at the path matches (negated by `invert`). */
export function compileMetadataMatcher(cfg: MetadataMatcherConfig): (md: DynamicMetadata) => boolean {
  const { filter, path, invert } = cfg;
  const value = compileValueMatcher(cfg.value);
  return (md) => value(metadataValue(md, filter, path)) !== invert;
}
