// Decoder for envoy.type.matcher.v3.MetadataMatcher (filter, path of keys, value, invert) and the
// matchers it nests: ValueMatcher (null_match, double_match, string_match, bool_match,
// present_match, list_match, or_match), ListMatcher (one_of) and DoubleMatcher (range, exact).
// Compiled by src/proxy/rbac/metadata.ts. Nothing is accepted without an effect.

import type { MetadataMatcherConfig, ValueMatcherConfig } from '../proxy/rbac/metadata.js';
import { stringMatcher } from './core.js';
import { bool, defineMessage, double, list, message, nonEmptyString, type Reader } from './decode/readers.js';

const PATH_SEGMENT = defineMessage({ name: 'envoy.type.matcher.v3.MetadataMatcher.PathSegment', fields: ['key'] });
const pathSegment = message(PATH_SEGMENT, (m) => m.req('key', nonEmptyString));

const DOUBLE_RANGE = defineMessage({ name: 'envoy.type.v3.DoubleRange', fields: ['start', 'end'] });
const doubleRange = message(DOUBLE_RANGE, (m) => {
  const start = m.get('start', double(), 0);
  const end = m.get('end', double(), 0);
  if (end < start) return m.at('end').expected(`an end not below start (${start})`, end);
  return { start, end };
});

const DOUBLE_MATCHER = defineMessage({ name: 'envoy.type.matcher.v3.DoubleMatcher', fields: ['range', 'exact'] });
const doubleMatcher = message(DOUBLE_MATCHER, (m): ValueMatcherConfig | undefined => {
  const which = m.oneof(['range', 'exact'], { required: true });
  if (which === 'exact') {
    const exact = m.opt('exact', double());
    return exact === undefined ? undefined : { kind: 'double', exact, start: 0, end: 0 };
  }
  const r = which === undefined ? undefined : m.opt('range', doubleRange);
  return r === undefined ? undefined : { kind: 'double', exact: null, start: r.start, end: r.end };
});

const NULL_MATCH = defineMessage({ name: 'envoy.type.matcher.v3.ValueMatcher.NullMatch', fields: [] });
const nullMatch = message(NULL_MATCH, () => true as const);

const VALUE_PATTERNS = ['null_match', 'double_match', 'string_match', 'bool_match', 'present_match', 'list_match', 'or_match'] as const;
const VALUE_MATCHER = defineMessage({ name: 'envoy.type.matcher.v3.ValueMatcher', fields: [...VALUE_PATTERNS] });
const LIST_MATCHER = defineMessage({ name: 'envoy.type.matcher.v3.ListMatcher', fields: ['one_of'] });
const OR_MATCHER = defineMessage({ name: 'envoy.type.matcher.v3.OrMatcher', fields: ['value_matchers'] });

export const valueMatcher: Reader<ValueMatcherConfig> = message(VALUE_MATCHER, (m): ValueMatcherConfig | undefined => {
  const which = m.oneof(VALUE_PATTERNS, { required: true });
  switch (which) {
    case 'null_match': return m.opt('null_match', nullMatch) === undefined ? undefined : { kind: 'null' };
    case 'double_match': return m.opt('double_match', doubleMatcher);
    case 'string_match': {
      const match = m.opt('string_match', stringMatcher);
      return match === undefined ? undefined : { kind: 'string', match };
    }
    case 'bool_match': {
      const value = m.opt('bool_match', bool);
      return value === undefined ? undefined : { kind: 'bool', value };
    }
    case 'present_match': {
      const value = m.opt('present_match', bool);
      return value === undefined ? undefined : { kind: 'present', value };
    }
    case 'list_match': {
      const oneOf = m.opt('list_match', listMatcher);
      return oneOf === undefined ? undefined : { kind: 'list', oneOf };
    }
    case 'or_match': {
      const matchers = m.opt('or_match', orMatcher);
      return matchers === undefined ? undefined : { kind: 'or', matchers };
    }
    default: return undefined;
  }
});

const listMatcher: Reader<ValueMatcherConfig> = message(LIST_MATCHER, (m) => m.req('one_of', valueMatcher));
const orMatcher: Reader<ValueMatcherConfig[]> = message(OR_MATCHER, (m) => m.req('value_matchers', list(valueMatcher, { minItems: 2 })));

const METADATA_MATCHER = defineMessage({ name: 'envoy.type.matcher.v3.MetadataMatcher', fields: ['filter', 'path', 'value', 'invert'] });

/** envoy.type.matcher.v3.MetadataMatcher. */
export const metadataMatcher: Reader<MetadataMatcherConfig> = message(METADATA_MATCHER, (m) => {
  const filter = m.req('filter', nonEmptyString);
  const path = m.req('path', list(pathSegment, { minItems: 1 }));
  const value = m.req('value', valueMatcher);
  const invert = m.get('invert', bool, false);
  if (filter === undefined || path === undefined || value === undefined) return undefined;
  return { filter, path, value, invert };
});
