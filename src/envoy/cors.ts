// The CORS HTTP filter: envoy.extensions.filters.http.cors.v3.Cors (the filter, no options) and
// envoy.extensions.filters.http.cors.v3.CorsPolicy (its typed_per_filter_config on routes, virtual
// hosts and route configurations).

import type { CorsPolicyConfig } from '../proxy/config/types.js';
import { stringMatcher } from './core.js';
import { bool, defineMessage, list, message, reader, wrapped, type Msg, type Reader } from './decode/readers.js';
import type { Extension } from './decode/typed.js';
import { runtimeFraction } from './route.js';

const CORS = defineMessage({ name: 'envoy.extensions.filters.http.cors.v3.Cors', fields: [] });

export const corsFilterExtension: Extension<'http_filter'> = {
  category: 'http_filter',
  typeUrl: 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors',
  spec: CORS,
  decode: (_m, info) => ({ kind: 'cors', name: info.name }),
};

const CORS_POLICY = defineMessage({
  name: 'envoy.extensions.filters.http.cors.v3.CorsPolicy',
  fields: [
    'allow_origin_string_match', 'allow_methods', 'allow_headers', 'expose_headers', 'max_age', 'allow_credentials',
    'filter_enabled', 'shadow_enabled', 'allow_private_network_access',
  ],
  unsupported: ['forward_not_matching_preflights'],
});

/** max_age: delta-seconds, as the Access-Control-Max-Age header carries it. */
const maxAge: Reader<string> = reader('a number of seconds, like "86400"', (ctx, v) =>
  typeof v === 'string' && /^\d+$/.test(v) ? v : ctx.expected('a number of seconds, like "86400"', v));

/** A header value written into responses as given (no CR, LF or NUL). */
const headerText: Reader<string> = reader('a header value (no CR, LF or NUL)', (ctx, v) =>
  typeof v === 'string' && !/[\r\n\0]/.test(v) ? v.trim() : ctx.expected('a header value (no CR, LF or NUL)', v));

/** CorsPolicy's fields. Unset optional fields stay null so a more specific level overrides only what it sets. */
function corsPolicyFields(m: Msg): CorsPolicyConfig {
  return {
    kind: 'cors_policy',
    allowOriginStringMatch: m.opt('allow_origin_string_match', list(stringMatcher)) ?? null,
    allowMethods: m.opt('allow_methods', headerText) || null,
    allowHeaders: m.opt('allow_headers', headerText) || null,
    exposeHeaders: m.opt('expose_headers', headerText) || null,
    maxAge: m.opt('max_age', maxAge) ?? null,
    allowCredentials: m.opt('allow_credentials', wrapped(bool)) ?? null,
    allowPrivateNetworkAccess: m.opt('allow_private_network_access', wrapped(bool)) ?? null,
    filterEnabled: m.opt('filter_enabled', runtimeFraction) ?? null,
    shadowEnabled: m.opt('shadow_enabled', runtimeFraction) ?? null,
  };
}

/** envoy.extensions.filters.http.cors.v3.CorsPolicy. */
export const corsPolicy: Reader<CorsPolicyConfig> = message(CORS_POLICY, corsPolicyFields);

export const corsPolicyExtension: Extension<'http_filter_per_route'> = {
  category: 'http_filter_per_route',
  typeUrl: 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
  spec: CORS_POLICY,
  decode: corsPolicyFields,
};
