// Decoders for the match side of envoy.config.route.v3 (route_components.proto): RouteMatch
// (prefix / path / safe_regex / path_separated_prefix, headers, query parameters, grpc), the
// HeaderMatcher and QueryParameterMatcher shared with other filters.

import type { HeaderMatcherConfig, HeaderMatchSpec, PathMatchConfig, QueryParameterMatcherConfig, RouteMatchConfig } from '../proxy/config/types.js';
import { headerName, mustBeTrue, regexMatcher, stringMatcher } from './core.js';
import {
  bool, defineMessage, int64, list, message, nonEmptyString, reader, string, wrapped, type Reader,
} from './decode/readers.js';
// ───────────────────────────── matching ─────────────────────────────

const HEADER_MATCHER = defineMessage({
  name: 'envoy.config.route.v3.HeaderMatcher',
  fields: [
    'name', 'exact_match', 'safe_regex_match', 'range_match', 'present_match', 'prefix_match', 'suffix_match',
    'contains_match', 'string_match', 'invert_match',
  ],
  unsupported: ['treat_missing_header_as_empty'],
});

const INT64_RANGE = defineMessage({ name: 'envoy.type.v3.Int64Range', fields: ['start', 'end'] });

const int64Range: Reader<{ start: number; end: number }> = message(INT64_RANGE, (m) => {
  const start = m.get('start', int64, 0);
  const end = m.get('end', int64, 0);
  if (end <= start) m.ctx.expected('a range with start < end', { start, end });
  return { start, end };
});

const HEADER_SPECIFIERS = [
  'exact_match', 'prefix_match', 'suffix_match', 'contains_match', 'safe_regex_match', 'present_match',
  'range_match', 'string_match',
] as const;

/** envoy.config.route.v3.HeaderMatcher. Without a specifier, the header must be present (as in Envoy). */
export const headerMatcher: Reader<HeaderMatcherConfig> = message(HEADER_MATCHER, (m) => {
  const name = m.req('name', headerName);
  const invertMatch = m.get('invert_match', bool, false);
  let spec: HeaderMatchSpec | undefined;
  const which = m.oneof(HEADER_SPECIFIERS, { required: false });
  switch (which) {
    case 'exact_match': {
      const value = m.opt(which, string);
      if (value !== undefined) spec = { kind: 'exact', value, ignoreCase: false };
      break;
    }
    case 'prefix_match': case 'suffix_match': case 'contains_match': {
      const value = m.opt(which, nonEmptyString);
      const kind = which === 'prefix_match' ? 'prefix' : which === 'suffix_match' ? 'suffix' : 'contains';
      if (value !== undefined) spec = { kind, value, ignoreCase: false };
      break;
    }
    case 'safe_regex_match': {
      const regex = m.opt(which, regexMatcher);
      if (regex !== undefined) spec = { kind: 'regex', regex };
      break;
    }
    case 'present_match': {
      const present = m.opt(which, bool);
      if (present !== undefined) spec = { kind: 'present', present };
      break;
    }
    case 'range_match': {
      const range = m.opt(which, int64Range);
      if (range !== undefined) spec = { kind: 'range', start: range.start, end: range.end };
      break;
    }
    case 'string_match':
      spec = m.opt(which, stringMatcher);
      break;
    case undefined:
      spec = { kind: 'present', present: true };
      break;
  }
  if (name === undefined || spec === undefined) return undefined;
  return { name, spec, invertMatch };
});

const QUERY_PARAMETER_MATCHER = defineMessage({
  name: 'envoy.config.route.v3.QueryParameterMatcher',
  fields: ['name', 'string_match', 'present_match'],
});

/** envoy.config.route.v3.QueryParameterMatcher (string_match, or present_match: true). */
export const queryParameterMatcher: Reader<QueryParameterMatcherConfig> = message(QUERY_PARAMETER_MATCHER, (m) => {
  const name = m.req('name', nonEmptyString);
  const which = m.oneof(['string_match', 'present_match'], { required: true });
  if (which === undefined || name === undefined) return undefined;
  if (which === 'present_match') {
    const present = mustBeTrue(m.at('present_match'), m.opt('present_match', bool), 'present_match: false is not supported');
    return present === undefined ? undefined : { name, stringMatch: null };
  }
  const stringMatch = m.opt('string_match', stringMatcher);
  return stringMatch === undefined ? undefined : { name, stringMatch };
});

const ROUTE_MATCH = defineMessage({
  name: 'envoy.config.route.v3.RouteMatch',
  fields: ['prefix', 'path', 'safe_regex', 'path_separated_prefix', 'case_sensitive', 'headers', 'query_parameters'],
  unsupported: [
    'connect_matcher', 'path_match_policy', 'runtime_fraction', 'cookies', 'grpc', 'tls_context', 'dynamic_metadata',
    'filter_state',
  ],
});

const PATH_SEPARATED_PREFIX = /^[^?#]+[^?#/]$/;

const pathSeparatedPrefix: Reader<string> = reader('a path prefix without ?, # or a trailing /', (ctx, v) =>
  typeof v === 'string' && PATH_SEPARATED_PREFIX.test(v) ? v : ctx.expected('a path prefix without ?, # or a trailing /', v));

/** envoy.config.route.v3.RouteMatch: exactly one path specifier, plus header and query matchers. */
export const routeMatch: Reader<RouteMatchConfig> = message(ROUTE_MATCH, (m) => {
  const which = m.oneof(['prefix', 'path', 'safe_regex', 'path_separated_prefix'], {
    required: true, others: ['connect_matcher', 'path_match_policy'],
  });
  let path: PathMatchConfig | undefined;
  switch (which) {
    case 'prefix': case 'path': {
      const value = m.opt(which, string);
      if (value !== undefined) path = { kind: which, value };
      break;
    }
    case 'path_separated_prefix': {
      const value = m.opt(which, pathSeparatedPrefix);
      if (value !== undefined) path = { kind: which, value };
      break;
    }
    case 'safe_regex': {
      const regex = m.opt(which, regexMatcher);
      if (regex !== undefined) path = { kind: 'safe_regex', regex };
      break;
    }
  }
  const caseSensitive = m.get('case_sensitive', wrapped(bool), true);
  const headers = m.get('headers', list(headerMatcher), []);
  const queryParameters = m.get('query_parameters', list(queryParameterMatcher), []);
  if (path === undefined) return undefined;
  return { path, caseSensitive, headers, queryParameters };
});

