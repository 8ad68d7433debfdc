// Decoders for envoy.config.core.v3 protocol options (HttpProtocolOptions, Http1ProtocolOptions,
// Http2ProtocolOptions), in
// the two places Weft reads them: the HTTP connection manager and clusters' upstream options.

import type { Http2Options, Http2ProtocolOptions } from '../proxy/config/types.js';
import { defineMessage, duration, integer, message, uint32, wrapped, bool, type Msg, type Reader } from './decode/readers.js';

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

const HTTP2_PROTOCOL_OPTIONS_FIELDS = [
  'hpack_table_size', 'max_concurrent_streams', 'initial_stream_window_size', 'initial_connection_window_size',
  'allow_connect', 'allow_metadata', 'max_outbound_frames', 'max_outbound_control_frames',
  'max_consecutive_inbound_frames_with_empty_payload', 'max_inbound_priority_frames_per_stream',
  'max_inbound_window_update_frames_per_data_frame_sent', 'stream_error_on_invalid_http_messaging',
  'override_stream_error_on_invalid_http_message', 'custom_settings_parameters', 'connection_keepalive',
  'use_oghttp2_codec', 'max_metadata_size',
] as const;

/** Envoy's defaults for the HTTP/2 settings Weft implements (protocol.proto). */
export const DEFAULT_HTTP2_OPTIONS: Http2Options = Object.freeze({
  hpackTableSize: 4096,
  maxConcurrentStreams: 2_147_483_647,
  initialStreamWindowSize: 268_435_456,
  initialConnectionWindowSize: 268_435_456,
});

/** The downstream defaults: the same settings, extended CONNECT off. */
export const HTTP2_DEFAULTS: Http2ProtocolOptions = Object.freeze({ ...DEFAULT_HTTP2_OPTIONS, allowConnect: false });

const HTTP2_SETTINGS = ['hpack_table_size', 'max_concurrent_streams', 'initial_stream_window_size', 'initial_connection_window_size'] as const;
const windowSize = wrapped(integer(65_535, 2_147_483_647));

function http2Settings(m: Msg): Http2Options {
  return {
    hpackTableSize: m.get('hpack_table_size', wrapped(uint32), DEFAULT_HTTP2_OPTIONS.hpackTableSize),
    maxConcurrentStreams: m.get('max_concurrent_streams', wrapped(integer(1, 2_147_483_647)), DEFAULT_HTTP2_OPTIONS.maxConcurrentStreams),
    initialStreamWindowSize: m.get('initial_stream_window_size', windowSize, DEFAULT_HTTP2_OPTIONS.initialStreamWindowSize),
    initialConnectionWindowSize: m.get('initial_connection_window_size', windowSize, DEFAULT_HTTP2_OPTIONS.initialConnectionWindowSize),
  };
}

/** envoy.config.core.v3.Http2ProtocolOptions for upstream sessions: the stream limit, the two flow-control windows, the HPACK table size. */
export const http2ProtocolOptions: Reader<Http2Options> = message(
  defineMessage({ name: 'envoy.config.core.v3.Http2ProtocolOptions', ...only(HTTP2_PROTOCOL_OPTIONS_FIELDS, HTTP2_SETTINGS) }),
  http2Settings,
);

/**
 * envoy.config.core.v3.Http2ProtocolOptions for the downstream side (the HTTP connection
 * manager): the SETTINGS Weft sends, its connection window and extended CONNECT. The flood
 * limits, metadata, custom settings and keepalive PINGs are not supported (config errors).
 */
export const downstreamHttp2ProtocolOptions: Reader<Http2ProtocolOptions> = message(
  defineMessage({ name: 'envoy.config.core.v3.Http2ProtocolOptions', ...only(HTTP2_PROTOCOL_OPTIONS_FIELDS, [...HTTP2_SETTINGS, 'allow_connect']) }),
  (m) => ({ ...http2Settings(m), allowConnect: m.get('allow_connect', bool, HTTP2_DEFAULTS.allowConnect) }),
);
