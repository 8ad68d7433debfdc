// Decoders for envoy.config.listener.v3 (listener.proto, listener_components.proto): Listener,
// FilterChain, FilterChainMatch and network Filter.

import type { FilterChainConfig, FilterChainMatchConfig, ListenerConfig, NetworkFilterConfig } from '../proxy/config/types.js';
import { address, cidrRange, formatAddress } from './core.js';
import type { Ctx } from './decode/context.js';
import { defineMessage, integer, list, message, string, uint32, wrapped, type Reader } from './decode/readers.js';
import { typedConfig } from './decode/typed.js';

/** Envoy's default per-connection buffer limit: 1 MiB. */
export const DEFAULT_BUFFER_LIMIT_BYTES = 1_048_576;

const FILTER_CHAIN_MATCH = defineMessage({
  name: 'envoy.config.listener.v3.FilterChainMatch',
  fields: ['destination_port', 'source_prefix_ranges'],
  unsupported: [
    'prefix_ranges', 'address_suffix', 'suffix_len', 'direct_source_prefix_ranges', 'source_type', 'source_ports',
    'server_names', 'transport_protocol', 'application_protocols',
  ],
});

const EMPTY_MATCH: FilterChainMatchConfig = { destinationPort: null, sourcePrefixRanges: [] };

const filterChainMatch: Reader<FilterChainMatchConfig> = message(FILTER_CHAIN_MATCH, (m) => ({
  destinationPort: m.opt('destination_port', wrapped(integer(1, 65535))) ?? null,
  sourcePrefixRanges: m.get('source_prefix_ranges', list(cidrRange), []),
}));

const FILTER = defineMessage({
  name: 'envoy.config.listener.v3.Filter',
  fields: ['typed_config'],
  unsupported: ['config_discovery'],
  informational: ['name'],
});

const networkFilter: Reader<NetworkFilterConfig> = message(FILTER, (m) => {
  const name = m.get('name', string, '');
  const which = m.oneof(['typed_config'], { required: true, others: ['config_discovery'] });
  return which === undefined ? undefined : m.opt('typed_config', typedConfig('network_filter', { name }));
});

/** Only the last network filter may be terminal; the HTTP connection manager and the TCP proxy always are. */
function checkTerminalLast(ctx: Ctx, raw: unknown, filters: readonly NetworkFilterConfig[]): void {
  if (!Array.isArray(raw) || filters.length !== raw.length) return;
  filters.forEach((f, i) => {
    if (i !== filters.length - 1 && (f.kind === 'http_connection_manager' || f.kind === 'tcp_proxy')) {
      const name = f.kind === 'tcp_proxy' ? 'tcp_proxy' : 'http_connection_manager';
      ctx.index(i).expected(`the ${name} (a terminal filter) only as the last filter`, raw[i]);
    }
  });
}

const FILTER_CHAIN = defineMessage({
  name: 'envoy.config.listener.v3.FilterChain',
  fields: ['filter_chain_match', 'filters', 'name'],
  unsupported: ['use_proxy_proto', 'metadata', 'transport_socket', 'transport_socket_connect_timeout'],
});

const filterChain: Reader<FilterChainConfig> = message(FILTER_CHAIN, (m) => {
  const filters = m.req('filters', list(networkFilter, { minItems: 1 }));
  if (filters !== undefined) checkTerminalLast(m.at('filters'), m.raw('filters'), filters);
  return {
    name: m.get('name', string, ''),
    match: m.get('filter_chain_match', filterChainMatch, EMPTY_MATCH),
    filters: filters ?? [],
  };
});

/** A canonical key for a filter chain match, to find chains that could never be told apart. */
function matchKey(match: FilterChainMatchConfig): string {
  const ranges = match.sourcePrefixRanges.map((r) => `${r.addressPrefix.toLowerCase()}/${r.prefixLen}`).sort();
  return JSON.stringify([match.destinationPort, ranges]);
}

const LISTENER = defineMessage({
  name: 'envoy.config.listener.v3.Listener',
  fields: ['name', 'address', 'filter_chains', 'default_filter_chain', 'per_connection_buffer_limit_bytes'],
  unsupported: [
    'additional_addresses', 'fcds_config', 'filter_chain_matcher', 'use_original_dst', 'metadata', 'deprecated_v1',
    'drain_type', 'listener_filters', 'listener_filters_timeout', 'continue_on_listener_filters_timeout',
    'transparent', 'freebind', 'socket_options', 'tcp_fast_open_queue_length', 'udp_listener_config',
    'api_listener', 'connection_balance_config', 'reuse_port', 'enable_reuse_port', 'access_log',
    'tcp_backlog_size', 'max_connections_to_accept_per_socket_event', 'bind_to_port', 'internal_listener',
    'enable_mptcp', 'ignore_global_conn_limit', 'bypass_overload_manager', 'tcp_keepalive',
  ],
  // Only label stats / tracing in Envoy; Weft names listener stats by listener name.
  informational: ['stat_prefix', 'traffic_direction'],
});

const listenerAddress = address({ host: 'ip', allowPortZero: true });

/** envoy.config.listener.v3.Listener. A missing name defaults to the address (`127.0.0.1:10000`). */
export const listener: Reader<ListenerConfig> = message(LISTENER, (m) => {
  const addr = m.req('address', listenerAddress);
  const chains = m.get('filter_chains', list(filterChain), []);
  const defaultChain = m.opt('default_filter_chain', filterChain);
  if (!m.has('filter_chains') && !m.has('default_filter_chain')) {
    m.at('filter_chains').expected('at least one filter chain (or a default_filter_chain)', undefined);
  }
  const raw = m.raw('filter_chains');
  if (Array.isArray(raw) && chains.length === raw.length) {
    const seen = new Map<string, number>();
    chains.forEach((c, i) => {
      const key = matchKey(c.match);
      const first = seen.get(key);
      if (first === undefined) seen.set(key, i);
      else {
        m.at('filter_chains').index(i).field('filter_chain_match')
          .expected(`a match different from filter_chains[${first}]'s`, c.match);
      }
    });
  }
  const name = m.get('name', string, '');
  const bufferLimit = m.get('per_connection_buffer_limit_bytes', wrapped(uint32), DEFAULT_BUFFER_LIMIT_BYTES);
  if (addr === undefined) return undefined;
  return {
    name: name === '' ? formatAddress(addr) : name,
    address: addr,
    perConnectionBufferLimitBytes: bufferLimit,
    filterChains: chains,
    defaultFilterChain: defaultChain ?? null,
  };
});
