// The connection limit network filter, envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit
// (Envoy: configuration/listeners/network_filters/connection_limit_filter): at most max_connections
// connections of the filter chain open at once; one more is closed, after `delay` when set.
// runtime_enabled is a RuntimeFeatureFlag: its default_value decides (Weft's runtime has no other
// keys than the listener connection limits, so its runtime_key can never be set and is not used).

import type { ConnectionLimitConfig } from '../proxy/config/types.js';
import { bool, defineMessage, duration, integer, message, nonEmptyString, string, wrapped, type Reader } from './decode/readers.js';
import type { Extension } from './decode/typed.js';

const RUNTIME_FEATURE_FLAG = defineMessage({
  name: 'envoy.config.core.v3.RuntimeFeatureFlag',
  fields: ['default_value', 'runtime_key'],
});

const runtimeFeatureFlag: Reader<boolean> = message(RUNTIME_FEATURE_FLAG, (m) => {
  const value = m.req('default_value', wrapped(bool));
  m.req('runtime_key', string);
  return value;
});

const CONNECTION_LIMIT = defineMessage({
  name: 'envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit',
  fields: ['stat_prefix', 'max_connections', 'delay', 'runtime_enabled'],
});

export const connectionLimitExtension: Extension<'network_filter'> = {
  category: 'network_filter',
  typeUrl: 'type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit',
  spec: CONNECTION_LIMIT,
  decode(m): ConnectionLimitConfig | undefined {
    const statPrefix = m.req('stat_prefix', nonEmptyString);
    const maxConnections = m.req('max_connections', wrapped(integer(1, Number.MAX_SAFE_INTEGER)));
    const delayMs = m.get('delay', duration, 0);
    const enabled = m.get('runtime_enabled', runtimeFeatureFlag, true);
    if (statPrefix === undefined || maxConnections === undefined) return undefined;
    return { kind: 'connection_limit', statPrefix, maxConnections, delayMs, enabled };
  },
};
