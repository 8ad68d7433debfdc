// Decoders for shared Envoy v3 messages: envoy.config.core.v3 (Address, SocketAddress, CidrRange,
// HeaderValueOption, DataSource, Locality) and envoy.type (StringMatcher, RegexMatcher, percents).

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { Ctx } from './decode/context.js';
import {
  bool, defineMessage, double, enumeration, integer, list, message, nonEmptyString, reader, string,
  supportedValue, wrapped, type Msg, type Reader,
} from './decode/readers.js';
import { checkRegex } from './decode/regex.js';
import type {
  CidrRange, HeaderMutations, HeaderValueOption, SocketAddress, StringMatcherConfig,
} from '../proxy/config/types.js';

// ───────────────────────────── addresses ─────────────────────────────

/** A DNS name as Envoy's DNS clusters accept it (letters, digits, '-', '_', dots). */
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

export function isHostname(s: string): boolean {
  return HOSTNAME.test(s);
}

const SOCKET_ADDRESS = defineMessage({
  name: 'envoy.config.core.v3.SocketAddress',
  fields: ['protocol', 'address', 'port_value'],
  unsupported: ['named_port', 'resolver_name', 'ipv4_compat', 'network_namespace_filepath'],
});

const ADDRESS = defineMessage({
  name: 'envoy.config.core.v3.Address',
  fields: ['socket_address', 'pipe'],
  unsupported: ['envoy_internal_address'],
});

const PIPE = defineMessage({
  name: 'envoy.config.core.v3.Pipe',
  fields: ['path'],
  // The socket file's mode only matters to a listener, and pipes are upstream-only here.
  informational: ['mode'],
});

const protocolEnum = enumeration({ TCP: 0, UDP: 1 });

export interface AddressRules {
  /** 'ip': an IPv4/IPv6 literal (listeners, admin, STATIC clusters); 'host': a literal or a DNS name. */
  readonly host: 'ip' | 'host';
  /** Whether port 0 is allowed (a listener may ask for an ephemeral port; an upstream may not). */
  readonly allowPortZero: boolean;
  /**
   * Whether a `pipe` (Unix socket) is allowed: STATIC cluster endpoints only (Istio's `sds-grpc`).
   * Decoded as `{address: <path>, port: 0}`: an upstream address with port 0 is a Unix socket.
   */
  readonly allowPipe?: boolean;
}

/** envoy.config.core.v3.Address with a socket_address (TCP only). */
export function address(rules: AddressRules): Reader<SocketAddress> {
  const hostWhat = rules.host === 'ip' ? 'an IPv4 or IPv6 address' : 'an IP address or a DNS name';
  const portWhat = rules.allowPortZero ? 'a port in 0..65535' : 'a port in 1..65535';
  const socketAddress = message(SOCKET_ADDRESS, (m) => {
    supportedValue(m.at('protocol'), m.opt('protocol', protocolEnum), ['TCP']);
    const host = m.req('address', reader(hostWhat, (ctx, v) => {
      if (typeof v !== 'string') return ctx.expected(hostWhat, v);
      if (isIP(v) !== 0 || (rules.host === 'host' && isHostname(v))) return v;
      return ctx.expected(hostWhat, v);
    }));
    const port = m.has('port_value') ? m.opt('port_value', integer(rules.allowPortZero ? 0 : 1, 65535, portWhat)) : 0;
    if (port === 0 && !rules.allowPortZero) m.at('port_value').expected(portWhat, m.raw('port_value'));
    if (host === undefined || port === undefined) return undefined;
    return { address: host, port };
  });
  return message(ADDRESS, (m) => {
    const which = m.oneof(['socket_address', 'pipe'], { required: true, others: ['envoy_internal_address'] });
    if (which === 'pipe') {
      if (!rules.allowPipe) return m.at('pipe').fail('unsupported here (Unix socket addresses are supported for STATIC cluster endpoints only)');
      const path = m.opt('pipe', message(PIPE, (p) => p.req('path', nonEmptyString)));
      return path === undefined ? undefined : { address: path, port: 0 };
    }
    return which === undefined ? undefined : m.opt('socket_address', socketAddress);
  });
}

/** The gRPC channel target of an upstream address: `host:port`, or `unix:<path>` for a pipe (port 0). */
export function grpcTarget(a: SocketAddress): string {
  return a.port === 0 ? `unix:${a.address}` : formatAddress(a);
}

/** `host:port`, with IPv6 hosts in brackets. */
export function formatAddress(a: SocketAddress): string {
  return isIP(a.address) === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

const CIDR_RANGE = defineMessage({
  name: 'envoy.config.core.v3.CidrRange',
  fields: ['address_prefix', 'prefix_len'],
});

/** envoy.config.core.v3.CidrRange. */
export const cidrRange: Reader<CidrRange> = message(CIDR_RANGE, (m) => {
  const prefix = m.req('address_prefix', reader('an IPv4 or IPv6 address', (ctx, v) =>
    typeof v === 'string' && isIP(v) !== 0 ? v : ctx.expected('an IPv4 or IPv6 address', v)));
  const bits = prefix !== undefined && isIP(prefix) === 6 ? 128 : 32;
  const len = m.get('prefix_len', wrapped(integer(0, bits)), 0);
  if (prefix === undefined) return undefined;
  return { addressPrefix: prefix, prefixLen: len };
});

const LOCALITY = defineMessage({
  name: 'envoy.config.core.v3.Locality',
  fields: ['region', 'zone', 'sub_zone'],
});

/** envoy.config.core.v3.Locality. */
export const locality: Reader<{ region: string; zone: string; subZone: string }> = message(LOCALITY, (m) => ({
  region: m.get('region', string, ''),
  zone: m.get('zone', string, ''),
  subZone: m.get('sub_zone', string, ''),
}));

// ───────────────────────────── headers ─────────────────────────────

/** An RFC 9110 field-name token, optionally a `:`-prefixed pseudo-header. */
const HEADER_NAME = /^:?[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_VALUE_BAD = /[\0\r\n]/;

/** A header name (any case), decoded lower-cased. Pseudo-headers allowed (for matching). */
export const headerName: Reader<string> = reader('a header name', (ctx, v) =>
  typeof v === 'string' && HEADER_NAME.test(v) ? v.toLowerCase() : ctx.expected('a header name', v));

/** A header name that routes may add or remove: not a pseudo-header and not `host` (as in Envoy). */
export const modifiableHeaderName: Reader<string> = reader('a header name other than a pseudo-header or host', (ctx, v) => {
  const what = 'a header name other than a pseudo-header or host';
  if (typeof v !== 'string' || !HEADER_NAME.test(v) || v.startsWith(':') || v.toLowerCase() === 'host') return ctx.expected(what, v);
  return v.toLowerCase();
});

const headerValue: Reader<string> = reader('a header value without CR, LF or NUL', (ctx, v) =>
  typeof v === 'string' && !HEADER_VALUE_BAD.test(v) ? v : ctx.expected('a header value without CR, LF or NUL', v));

const HEADER_VALUE = defineMessage({
  name: 'envoy.config.core.v3.HeaderValue',
  fields: ['key', 'value'],
  unsupported: ['raw_value'],
});

const HEADER_VALUE_OPTION = defineMessage({
  name: 'envoy.config.core.v3.HeaderValueOption',
  fields: ['header', 'append', 'append_action'],
  unsupported: ['keep_empty_value'],
});

const appendActionEnum = enumeration({
  APPEND_IF_EXISTS_OR_ADD: 0,
  ADD_IF_ABSENT: 1,
  OVERWRITE_IF_EXISTS_OR_ADD: 2,
  OVERWRITE_IF_EXISTS: 3,
});

const headerKeyValue = message(HEADER_VALUE, (m) => {
  const key = m.req('key', modifiableHeaderName);
  const value = m.get('value', headerValue, '');
  return key === undefined ? undefined : { key, value };
});

/** envoy.config.core.v3.HeaderValueOption. `append` (deprecated) and `append_action` are exclusive. */
export const headerValueOption: Reader<HeaderValueOption> = message(HEADER_VALUE_OPTION, (m) => {
  const header = m.req('header', headerKeyValue);
  const append = m.opt('append', wrapped(bool));
  let action = m.opt('append_action', appendActionEnum);
  if (m.has('append') && m.has('append_action')) {
    m.ctx.expected('at most one of append, append_action', ['append', 'append_action']);
  } else if (append !== undefined) {
    action = append ? 'APPEND_IF_EXISTS_OR_ADD' : 'OVERWRITE_IF_EXISTS_OR_ADD';
  }
  if (header === undefined) return undefined;
  return { key: header.key, value: header.value, appendAction: action ?? 'APPEND_IF_EXISTS_OR_ADD' };
});

/** The four header mutation lists shared by RouteConfiguration, VirtualHost, Route and ClusterWeight. */
export function headerMutations(m: Msg): HeaderMutations {
  return {
    requestHeadersToAdd: m.get('request_headers_to_add', list(headerValueOption), []),
    requestHeadersToRemove: m.get('request_headers_to_remove', list(modifiableHeaderName), []),
    responseHeadersToAdd: m.get('response_headers_to_add', list(headerValueOption), []),
    responseHeadersToRemove: m.get('response_headers_to_remove', list(modifiableHeaderName), []),
  };
}

export const HEADER_MUTATION_FIELDS = [
  'request_headers_to_add', 'request_headers_to_remove', 'response_headers_to_add', 'response_headers_to_remove',
] as const;

// ───────────────────────────── data sources ─────────────────────────────

const DATA_SOURCE = defineMessage({
  name: 'envoy.config.core.v3.DataSource',
  fields: ['filename', 'inline_bytes', 'inline_string'],
  unsupported: ['environment_variable', 'watched_directory'],
});

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;
const BASE64_URL = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** proto3 JSON `bytes` (standard or URL-safe base64) holding UTF-8 text; decodes to the text. */
export const base64Text: Reader<string> = reader('base64-encoded UTF-8 text', (ctx, v) => {
  const what = 'base64-encoded UTF-8 text';
  if (typeof v !== 'string' || !(BASE64.test(v) || BASE64_URL.test(v))) return ctx.expected(what, v);
  const bytes = Buffer.from(v, BASE64.test(v) ? 'base64' : 'base64url');
  try {
    return utf8.decode(bytes);
  } catch {
    return ctx.expected(what, v);
  }
});

/** A file name, read as UTF-8 at decode time, relative to the environment's baseDir. */
export const fileContents: Reader<string> = reader('a readable file name', (ctx, v) => {
  if (typeof v !== 'string' || v === '') return ctx.expected('a readable file name', v);
  try {
    return utf8.decode(readFileSync(resolve(ctx.env.baseDir, v)));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err instanceof TypeError ? 'not UTF-8' : 'unreadable');
    return ctx.expected(`a readable UTF-8 file (${code})`, v);
  }
});

/** envoy.config.core.v3.DataSource: inline_string, inline_bytes (base64) or filename; decodes to the text. */
export const dataSource: Reader<string> = message(DATA_SOURCE, (m) => {
  const which = m.oneof(['filename', 'inline_bytes', 'inline_string'], { required: true, others: ['environment_variable'] });
  switch (which) {
    case 'inline_string': return m.opt('inline_string', string);
    case 'inline_bytes': return m.opt('inline_bytes', base64Text);
    case 'filename': return m.opt('filename', fileContents);
    default: return undefined;
  }
});

// ───────────────────────────── matchers ─────────────────────────────

const REGEX_MATCHER = defineMessage({
  name: 'envoy.type.matcher.v3.RegexMatcher',
  fields: ['regex'],
  // google_re2 only carries the deprecated max_program_size; it names the engine Weft emulates.
  informational: ['google_re2'],
});

/** envoy.type.matcher.v3.RegexMatcher; decodes to the pattern. */
export const regexMatcher: Reader<string> = message(REGEX_MATCHER, (m) => {
  const pattern = m.req('regex', nonEmptyString);
  return pattern === undefined ? undefined : checkRegex(m.at('regex'), pattern);
});

const REGEX_MATCH_AND_SUBSTITUTE = defineMessage({
  name: 'envoy.type.matcher.v3.RegexMatchAndSubstitute',
  fields: ['pattern', 'substitution'],
});

/** envoy.type.matcher.v3.RegexMatchAndSubstitute. */
export const regexMatchAndSubstitute: Reader<{ regex: string; substitution: string }> = message(REGEX_MATCH_AND_SUBSTITUTE, (m) => {
  const regex = m.req('pattern', regexMatcher);
  const substitution = m.get('substitution', string, '');
  return regex === undefined ? undefined : { regex, substitution };
});

const STRING_MATCHER = defineMessage({
  name: 'envoy.type.matcher.v3.StringMatcher',
  fields: ['exact', 'prefix', 'suffix', 'safe_regex', 'contains', 'ignore_case'],
  unsupported: ['custom'],
});

/** envoy.type.matcher.v3.StringMatcher. */
export const stringMatcher: Reader<StringMatcherConfig> = message(STRING_MATCHER, (m) => {
  const which = m.oneof(['exact', 'prefix', 'suffix', 'contains', 'safe_regex'], { required: true, others: ['custom'] });
  const ignoreCase = m.get('ignore_case', bool, false);
  if (which === 'safe_regex') {
    if (ignoreCase) m.at('ignore_case').expected('false with safe_regex (put flags in the pattern)', true);
    const regex = m.opt('safe_regex', regexMatcher);
    return regex === undefined ? undefined : { kind: 'regex', regex };
  }
  if (which === undefined) return undefined;
  const value = m.opt(which, which === 'exact' ? string : nonEmptyString);
  return value === undefined ? undefined : { kind: which, value, ignoreCase };
});

// ───────────────────────────── percents ─────────────────────────────

const PERCENT = defineMessage({ name: 'envoy.type.v3.Percent', fields: ['value'] });

/** envoy.type.v3.Percent: {value: 0..100}. */
export const percent: Reader<number> = message(PERCENT, (m) => m.get('value', double(0, 100), 0));

const FRACTIONAL_PERCENT = defineMessage({
  name: 'envoy.type.v3.FractionalPercent',
  fields: ['numerator', 'denominator'],
});

const DENOMINATOR = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 } as const;
const denominatorEnum = enumeration({ HUNDRED: 0, TEN_THOUSAND: 1, MILLION: 2 });

/** envoy.type.v3.FractionalPercent as a fraction in 0..1 (a numerator above the denominator caps at 1, as in Envoy). */
export const fractionalPercent: Reader<number> = message(FRACTIONAL_PERCENT, (m) => {
  const numerator = m.get('numerator', integer(0, 4294967295), 0);
  const denominator = DENOMINATOR[m.get('denominator', denominatorEnum, 'HUNDRED')];
  return Math.min(1, numerator / denominator);
});

/** envoy.type.v3.FractionalPercent kept as numerator / denominator (numerators above the denominator cap at it). */
export const fractionalPercentParts: Reader<{ numerator: number; denominator: number }> = message(FRACTIONAL_PERCENT, (m) => {
  const denominator = DENOMINATOR[m.get('denominator', denominatorEnum, 'HUNDRED')];
  const numerator = Math.min(denominator, m.get('numerator', integer(0, 4294967295), 0));
  return { numerator, denominator };
});

/** Reads a value that must be exactly `true` (e.g. `present_match`, `source_ip`). */
export function mustBeTrue(ctx: Ctx, v: boolean | undefined, note: string): boolean | undefined {
  if (v === false) return ctx.expected(`true (${note})`, false);
  return v;
}
