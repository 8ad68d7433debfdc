// Decoders for envoy.config.core.v3 protocol options (HttpProtocolOptions, Http1ProtocolOptions), in
// the two places Weft reads them: the HTTP connection manager and clusters' upstream options.

import { defineMessage, duration, message, uint32, wrapped, bool, type Reader } from './decode/readers.js';

const HTTP_PROTOCOL_OPTIONS_FIELDS = [
  'idle_timeout', 'max_connection_duration', 'max_headers_count', 'max_response_headers_kb', 'max_stream_duration',
  'headers_with_underscores_action', 'max_requests_per_connection',
] as const;

const HTTP1_PROTOCOL_OPTIONS_FIELDS = [
  'allow_absolute_url', 'accept_http_10', 'default_host_for_http_10', 'header_key_format', 'enable_trailers',
  'allow_chunked_length', 'override_stream_error_on_invalid_http_message', 'send_fully_qualified_url',
  'use_balsa_parser', 'allow_custom_methods', 'ignore_http_11_upgrade',
] as const;

/** Splits a proto's field list into the supported ones and the rest (unsupported). */
function only(all: readonly string[], supported: readonly string[]): { fields: readonly string[]; unsupported: readonly string[] } {
  return { fields: supported, unsupported: all.filter((f) => !supported.includes(f)) };
}

export interface CommonHttpProtocolOptions {
  readonly idleTimeoutMs: number | undefined;
  readonly maxRequestsPerConnection: number | undefined;
}

/** envoy.config.core.v3.HttpProtocolOptions with the given fields supported (a subset of idle_timeout, max_requests_per_connection). */
export function commonHttpProtocolOptions(supported: readonly ('idle_timeout' | 'max_requests_per_connection')[]): Reader<CommonHttpProtocolOptions> {
  const spec = defineMessage({
    name: 'envoy.config.core.v3.HttpProtocolOptions',
    ...only(HTTP_PROTOCOL_OPTIONS_FIELDS, supported),
  });
  return message(spec, (m) => ({
    idleTimeoutMs: m.opt('idle_timeout', duration),
    maxRequestsPerConnection: m.opt('max_requests_per_connection', wrapped(uint32)),
  }));
}

/**
 * envoy.config.core.v3.Http1ProtocolOptions for the downstream side: only accept_http_10 is
 * accepted (Weft's codec accepts HTTP/1.0 whatever it says).
 */
export const downstreamHttp1ProtocolOptions: Reader<{ acceptHttp10: boolean }> = message(
  defineMessage({ name: 'envoy.config.core.v3.Http1ProtocolOptions', ...only(HTTP1_PROTOCOL_OPTIONS_FIELDS, ['accept_http_10']) }),
  (m) => ({ acceptHttp10: m.get('accept_http_10', bool, false) }),
);

/** envoy.config.core.v3.Http1ProtocolOptions for upstreams: no option is implemented yet (an empty object is fine). */
export const upstreamHttp1ProtocolOptions: Reader<Record<string, never>> = message(
  defineMessage({ name: 'envoy.config.core.v3.Http1ProtocolOptions', ...only(HTTP1_PROTOCOL_OPTIONS_FIELDS, []) }),
  () => ({}),
);
