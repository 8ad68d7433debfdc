// Decoders for envoy.config.core.v3 protocol options (HttpProtocolOptions, Http1ProtocolOptions,
// Http2ProtocolOptions), in
// the two places Weft reads them: the HTTP connection manager and clusters' upstream options.

import type { Http2Options, Http2ProtocolOptions } from '../proxy/config/types.js';
import { defineMessage, duration, enumeration, integer, message, uint32, wrapped, bool, type Msg, type Reader } from './decode/readers.js';

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
  readonly maxConnectionDurationMs: number | undefined;
  readonly maxHeadersCount: number | undefined;
  readonly headersWithUnderscoresAction: 'ALLOW' | 'REJECT_REQUEST' | 'DROP_HEADER' | undefined;
}

type CommonField = 'idle_timeout' | 'max_requests_per_connection' | 'max_connection_duration' | 'max_headers_count' | 'headers_with_underscores_action';

const underscoresAction = enumeration({ ALLOW: 0, REJECT_REQUEST: 1, DROP_HEADER: 2 });

/** envoy.config.core.v3.HttpProtocolOptions with the given fields supported (the others are config errors). */
export function commonHttpProtocolOptions(supported: readonly CommonField[]): Reader<CommonHttpProtocolOptions> {
  const spec = defineMessage({
    name: 'envoy.config.core.v3.HttpProtocolOptions',
    ...only(HTTP_PROTOCOL_OPTIONS_FIELDS, supported),
  });
  return message(spec, (m) => ({
    idleTimeoutMs: m.opt('idle_timeout', duration),
    maxRequestsPerConnection: m.opt('max_requests_per_connection', wrapped(uint32)),
    maxConnectionDurationMs: m.opt('max_connection_duration', duration),
    maxHeadersCount: m.opt('max_headers_count', wrapped(integer(1, 2_147_483_647))),
    headersWithUnderscoresAction: m.opt('headers_with_underscores_action', underscoresAction),
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

/** Envoy's HTTP/2 flood-protection defaults (protocol.proto). */
const FLOOD_DEFAULTS = {
  maxOutboundFrames: 10_000,
  maxOutboundControlFrames: 1_000,
  maxConsecutiveInboundFramesWithEmptyPayload: 1,
  maxInboundPriorityFramesPerStream: 100,
  maxInboundWindowUpdateFramesPerDataFrameSent: 10,
} as const;

/** Envoy's defaults for the HTTP/2 settings Weft implements (protocol.proto). */
export const DEFAULT_HTTP2_OPTIONS: Http2Options = Object.freeze({
  hpackTableSize: 4096,
  maxConcurrentStreams: 2_147_483_647,
  initialStreamWindowSize: 268_435_456,
  initialConnectionWindowSize: 268_435_456,
  ...FLOOD_DEFAULTS,
});


/**
 * The downstream defaults. Weft differs from Envoy on purpose here: a connection manager faces
 * clients it does not control, so it takes Envoy's edge-proxy recommendation (100 concurrent
 * streams, 64 KiB stream window, 1 MiB connection window) instead of Envoy's 2^31-1 / 256 MiB.
 */
export const HTTP2_DEFAULTS: Http2ProtocolOptions = Object.freeze({
  hpackTableSize: 4096,
  maxConcurrentStreams: 100,
  initialStreamWindowSize: 65_536,
  initialConnectionWindowSize: 1_048_576,
  allowConnect: false,
  ...FLOOD_DEFAULTS,
});

const FLOOD_LIMITS = [
  'max_outbound_frames', 'max_outbound_control_frames', 'max_consecutive_inbound_frames_with_empty_payload',
  'max_inbound_priority_frames_per_stream', 'max_inbound_window_update_frames_per_data_frame_sent',
] as const;
const HTTP2_SETTINGS = ['hpack_table_size', 'max_concurrent_streams', 'initial_stream_window_size', 'initial_connection_window_size', ...FLOOD_LIMITS] as const;
const windowSize = wrapped(integer(65_535, 2_147_483_647));

function http2Settings(m: Msg, defaults: Http2Options = DEFAULT_HTTP2_OPTIONS): Http2Options {
  return {
    hpackTableSize: m.get('hpack_table_size', wrapped(uint32), defaults.hpackTableSize),
    maxConcurrentStreams: m.get('max_concurrent_streams', wrapped(integer(1, 2_147_483_647)), defaults.maxConcurrentStreams),
    initialStreamWindowSize: m.get('initial_stream_window_size', windowSize, defaults.initialStreamWindowSize),
    initialConnectionWindowSize: m.get('initial_connection_window_size', windowSize, defaults.initialConnectionWindowSize),
    // protocol.proto: the outbound limits and the WINDOW_UPDATE ratio are at least 1.
    maxOutboundFrames: m.get('max_outbound_frames', wrapped(integer(1, 4_294_967_295)), defaults.maxOutboundFrames),
    maxOutboundControlFrames: m.get('max_outbound_control_frames', wrapped(integer(1, 4_294_967_295)), defaults.maxOutboundControlFrames),
    maxConsecutiveInboundFramesWithEmptyPayload: m.get('max_consecutive_inbound_frames_with_empty_payload', wrapped(integer(0, 2_147_483_647)), defaults.maxConsecutiveInboundFramesWithEmptyPayload),
    maxInboundPriorityFramesPerStream: m.get('max_inbound_priority_frames_per_stream', wrapped(uint32), defaults.maxInboundPriorityFramesPerStream),
    maxInboundWindowUpdateFramesPerDataFrameSent: m.get('max_inbound_window_update_frames_per_data_frame_sent', wrapped(integer(1, 4_294_967_295)), defaults.maxInboundWindowUpdateFramesPerDataFrameSent),
  };
}

/** envoy.config.core.v3.Http2ProtocolOptions for upstream sessions: the stream limit, the two flow-control windows, the HPACK table size, Envoy's flood limits. */
export const http2ProtocolOptions: Reader<Http2Options> = message(
  defineMessage({ name: 'envoy.config.core.v3.Http2ProtocolOptions', ...only(HTTP2_PROTOCOL_OPTIONS_FIELDS, HTTP2_SETTINGS) }),
  http2Settings,
);

/**
 * envoy.config.core.v3.Http2ProtocolOptions for the downstream side (the HTTP connection
 * manager): the SETTINGS Weft sends, its connection window, extended CONNECT and Envoy's flood
 * limits, each enforced by Weft's HTTP/2 session (src/proxy/codec/http2/) with the configured value.
 * Metadata, custom settings and keepalive PINGs are not supported (config errors).
 */

export const downstreamHttp2ProtocolOptions: Reader<Http2ProtocolOptions> = message(
  defineMessage({ name: 'envoy.config.core.v3.Http2ProtocolOptions', ...only(HTTP2_PROTOCOL_OPTIONS_FIELDS, [...HTTP2_SETTINGS, 'allow_connect']) }),
  (m) => ({
    ...http2Settings(m, HTTP2_DEFAULTS),
    allowConnect: m.get('allow_connect', bool, HTTP2_DEFAULTS.allowConnect),
  }),
);
