// The cluster-side HTTP protocol options extension,
// envoy.extensions.upstreams.http.v3.HttpProtocolOptions (in Cluster.typed_extension_protocol_options):
// which HTTP version goes upstream (explicit_http_config, use_downstream_protocol_config,
// auto_config) and the HTTP/2 session options.

import type { Http2Options, UpstreamProtocol } from '../proxy/config/types.js';
import { defineMessage, message, type Msg } from './decode/readers.js';
import type { Extension } from './decode/typed.js';
import {
  commonHttpProtocolOptions, DEFAULT_HTTP2_OPTIONS, http2ProtocolOptions, upstreamHttp1ProtocolOptions,
} from './protocol-options.js';

/** What Weft takes from the upstream HTTP protocol options; undefined = not set. */
export interface UpstreamHttpProtocolOptionsConfig {
  readonly idleTimeoutMs: number | undefined;
  readonly maxRequestsPerConnection: number | undefined;
  /** common_http_protocol_options.max_headers_count: the limit on upstream response header fields. */
  readonly maxHeadersCount: number | undefined;
  readonly protocol: UpstreamProtocol;
  readonly http2: Http2Options;
}

/** The key Envoy expects in typed_extension_protocol_options for these options. */
export const UPSTREAM_HTTP_PROTOCOL_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

const EXPLICIT_HTTP_CONFIG = defineMessage({
  name: 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig',
  fields: ['http_protocol_options', 'http2_protocol_options'],
  unsupported: ['http3_protocol_options'],
});

/** ExplicitHttpConfig: one protocol; Envoy requires one of its fields. */
const explicitHttpConfig = message(EXPLICIT_HTTP_CONFIG, (m) => {
  const which = m.oneof(['http_protocol_options', 'http2_protocol_options'], { required: true, others: ['http3_protocol_options'] });
  if (which === 'http_protocol_options') {
    m.opt('http_protocol_options', upstreamHttp1ProtocolOptions);
    return { protocol: 'HTTP1' as const, http2: DEFAULT_HTTP2_OPTIONS };
  }
  if (which === 'http2_protocol_options') {
    return { protocol: 'HTTP2' as const, http2: m.opt('http2_protocol_options', http2ProtocolOptions) ?? DEFAULT_HTTP2_OPTIONS };
  }
  return undefined;
});

/** UseDownstreamHttpConfig and AutoHttpConfig: both protocols may be configured, neither is required. */
function eitherProtocol(name: string, protocol: UpstreamProtocol, unsupported: readonly string[]) {
  return message(defineMessage({ name, fields: ['http_protocol_options', 'http2_protocol_options'], unsupported }), (m: Msg) => {
    m.opt('http_protocol_options', upstreamHttp1ProtocolOptions);
    return { protocol, http2: m.opt('http2_protocol_options', http2ProtocolOptions) ?? DEFAULT_HTTP2_OPTIONS };
  });
}

const useDownstreamHttpConfig = eitherProtocol(
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions.UseDownstreamHttpConfig', 'USE_DOWNSTREAM', ['http3_protocol_options']);
const autoHttpConfig = eitherProtocol(
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions.AutoHttpConfig', 'AUTO',
  ['http3_protocol_options', 'alternate_protocols_cache_options']);

const HTTP_PROTOCOL_OPTIONS = defineMessage({
  name: 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  fields: ['common_http_protocol_options', 'explicit_http_config', 'use_downstream_protocol_config', 'auto_config'],
  unsupported: [
    'upstream_http_protocol_options', 'http_filters',
    'header_validation_config', 'outlier_detection', 'request_mirror_policies', 'hash_policy', 'retry_policy',
  ],
});

const common = commonHttpProtocolOptions(['idle_timeout', 'max_requests_per_connection', 'max_headers_count']);

export const upstreamHttpProtocolOptionsExtension: Extension<'upstream_http_protocol_options'> = {
  category: 'upstream_http_protocol_options',
  typeUrl: `type.googleapis.com/${UPSTREAM_HTTP_PROTOCOL_OPTIONS_KEY}`,
  spec: HTTP_PROTOCOL_OPTIONS,
  decode(m) {
    // Envoy requires one of explicit_http_config / use_downstream_protocol_config / auto_config.
    const which = m.oneof(['explicit_http_config', 'use_downstream_protocol_config', 'auto_config'], { required: true });
    const selected = which === 'explicit_http_config' ? m.opt('explicit_http_config', explicitHttpConfig)
      : which === 'use_downstream_protocol_config' ? m.opt('use_downstream_protocol_config', useDownstreamHttpConfig)
      : which === 'auto_config' ? m.opt('auto_config', autoHttpConfig)
      : undefined;
    const c = m.opt('common_http_protocol_options', common);
    return {
      idleTimeoutMs: c?.idleTimeoutMs,
      maxRequestsPerConnection: c?.maxRequestsPerConnection,
      maxHeadersCount: c?.maxHeadersCount,
      protocol: selected?.protocol ?? 'HTTP1',
      http2: selected?.http2 ?? DEFAULT_HTTP2_OPTIONS,
    };
  },
};
