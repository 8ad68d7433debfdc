// The cluster-side HTTP protocol options extension,
// envoy.extensions.upstreams.http.v3.HttpProtocolOptions (in Cluster.typed_extension_protocol_options).

import { defineMessage, message } from './decode/readers.js';
import type { Extension } from './decode/typed.js';
import { commonHttpProtocolOptions, upstreamHttp1ProtocolOptions } from './protocol-options.js';

/** What Weft takes from the upstream HTTP protocol options; undefined = not set. */
export interface UpstreamHttpProtocolOptionsConfig {
  readonly idleTimeoutMs: number | undefined;
  readonly maxRequestsPerConnection: number | undefined;
}

/** The key Envoy expects in typed_extension_protocol_options for these options. */
export const UPSTREAM_HTTP_PROTOCOL_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

const EXPLICIT_HTTP_CONFIG = defineMessage({
  name: 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig',
  fields: ['http_protocol_options'],
  unsupported: ['http2_protocol_options', 'http3_protocol_options'],
});

const explicitHttpConfig = message(EXPLICIT_HTTP_CONFIG, (m) => {
  const which = m.oneof(['http_protocol_options'], { required: true, others: ['http2_protocol_options', 'http3_protocol_options'] });
  return which === undefined ? undefined : m.opt('http_protocol_options', upstreamHttp1ProtocolOptions);
});

const HTTP_PROTOCOL_OPTIONS = defineMessage({
  name: 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  fields: ['common_http_protocol_options', 'explicit_http_config'],
  unsupported: [
    'upstream_http_protocol_options', 'use_downstream_protocol_config', 'auto_config', 'http_filters',
    'header_validation_config', 'outlier_detection', 'request_mirror_policies', 'hash_policy', 'retry_policy',
  ],
});

const common = commonHttpProtocolOptions(['idle_timeout', 'max_requests_per_connection']);

export const upstreamHttpProtocolOptionsExtension: Extension<'upstream_http_protocol_options'> = {
  category: 'upstream_http_protocol_options',
  typeUrl: `type.googleapis.com/${UPSTREAM_HTTP_PROTOCOL_OPTIONS_KEY}`,
  spec: HTTP_PROTOCOL_OPTIONS,
  decode(m) {
    // Envoy requires one of explicit_http_config / use_downstream_protocol_config / auto_config.
    m.oneof(['explicit_http_config'], { required: true, others: ['use_downstream_protocol_config', 'auto_config'] });
    m.opt('explicit_http_config', explicitHttpConfig);
    const c = m.opt('common_http_protocol_options', common);
    return { idleTimeoutMs: c?.idleTimeoutMs, maxRequestsPerConnection: c?.maxRequestsPerConnection };
  },
};
