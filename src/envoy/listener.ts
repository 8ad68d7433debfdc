// Decoders for envoy.config.listener.v3 (listener.proto, listener_components.proto): Listener,
// FilterChain, FilterChainMatch and network Filter.

import type { FilterChainConfig, FilterChainMatchConfig, ListenerConfig, NetworkFilterConfig } from '../proxy/config/types.js';
import { address, cidrRange, formatAddress, isHostname } from './core.js';
import type { Ctx } from './decode/context.js';
import {
  asList, bool, defineMessage, duration, enumeration, integer, isObject, itemCtx, list, message, reader, string, uint32, wrapped, type Reader,
} from './decode/readers.js';
import { typedConfig } from './decode/typed.js';
import { listenerFilter, transportSocket } from './tls.js';

/** Envoy's default per-connection buffer limit: 1 MiB. */
export const DEFAULT_BUFFER_LIMIT_BYTES = 1_048_576;

const FILTER_CHAIN_MATCH = defineMessage({
  name: 'envoy.config.listener.v3.FilterChainMatch',
  fields: ['destination_port', 'source_prefix_ranges', 'server_names', 'transport_protocol', 'application_protocols'],
  unsupported: [
    'prefix_ranges', 'address_suffix', 'suffix_len', 'direct_source_prefix_ranges', 'source_type', 'source_ports',
  ],
});

const EMPTY_MATCH: FilterChainMatchConfig = {
  destinationPort: null, serverNames: [], transportProtocol: '', applicationProtocols: [], sourcePrefixRanges: [],
};

const SERVER_NAME_WHAT = 'a server name (`example.com`) or a wildcard (`*.example.com`)';

/** A server name to match SNI against: exact, or `*.` followed by a name; decoded lower-cased. */
const serverName: Reader<string> = reader(SERVER_NAME_WHAT, (ctx, v) => {
  if (typeof v !== 'string') return ctx.expected(SERVER_NAME_WHAT, v);
  const name = v.startsWith('*.') ? v.slice(2) : v;
  if (!isHostname(name) || name.endsWith('.')) return ctx.expected(SERVER_NAME_WHAT, v);
  return v.toLowerCase();
});

const filterChainMatch: Reader<FilterChainMatchConfig> = message(FILTER_CHAIN_MATCH, (m) => ({
  destinationPort: m.opt('destination_port', wrapped(integer(1, 65535))) ?? null,
  serverNames: m.get('server_names', list(serverName), []),
  transportProtocol: m.get('transport_protocol', string, ''),
  applicationProtocols: m.get('application_protocols', list(string), []),
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

/**
 * Only the last network filter may be terminal, and the last one must be: the HTTP connection
 * manager and the TCP proxy always are, connection_limit and rbac never are.
 */
function checkTerminalLast(ctx: Ctx, raw: unknown, filters: readonly NetworkFilterConfig[]): void {
  const items = asList(raw);
  if (filters.length !== items.length) return;
  filters.forEach((f, i) => {
    const last = i === filters.length - 1;
    if (!last && (f.kind === 'http_connection_manager' || f.kind === 'tcp_proxy')) {
      const name = f.kind === 'tcp_proxy' ? 'tcp_proxy' : 'http_connection_manager';
      ctx.index(i).expected(`the ${name} (a terminal filter) only as the last filter`, items[i]);
    }
    if (last && (f.kind === 'connection_limit' || f.kind === 'rbac')) {
      ctx.index(i).expected(`a terminal filter last (http_connection_manager or tcp_proxy after ${f.kind})`, items[i]);
    }
  });
}

const FILTER_CHAIN = defineMessage({
  name: 'envoy.config.listener.v3.FilterChain',
  fields: ['filter_chain_match', 'filters', 'name', 'transport_socket'],
  unsupported: ['use_proxy_proto', 'metadata', 'transport_socket_connect_timeout'],
});

const filterChain: Reader<FilterChainConfig> = message(FILTER_CHAIN, (m) => {
  const filters = m.req('filters', list(networkFilter, { minItems: 1 }));
  if (filters !== undefined) checkTerminalLast(m.at('filters'), m.raw('filters'), filters);
  return {
    name: m.get('name', string, ''),
    match: m.get('filter_chain_match', filterChainMatch, EMPTY_MATCH),
    filters: filters ?? [],
    transportSocket: m.opt('transport_socket', transportSocket('downstream_transport_socket')) ?? null,
  };
});

/** A canonical key for a filter chain match, to find chains that could never be told apart. */
function matchKey(match: FilterChainMatchConfig): string {
  const ranges = match.sourcePrefixRanges.map((r) => `${r.addressPrefix.toLowerCase()}/${r.prefixLen}`).sort();
  return JSON.stringify([match.destinationPort, [...match.serverNames].sort(), match.transportProtocol,
    [...match.applicationProtocols].sort(), ranges]);
}

const LISTENER = defineMessage({
  name: 'envoy.config.listener.v3.Listener',
  fields: [
    'name', 'address', 'filter_chains', 'default_filter_chain', 'per_connection_buffer_limit_bytes', 'listener_filters',
    'listener_filters_timeout', 'continue_on_listener_filters_timeout', 'traffic_direction',
  ],
  unsupported: [
    'additional_addresses', 'fcds_config', 'filter_chain_matcher', 'use_original_dst', 'metadata', 'deprecated_v1',
    'drain_type',
    'transparent', 'freebind', 'socket_options', 'tcp_fast_open_queue_length', 'udp_listener_config',
    'api_listener', 'connection_balance_config', 'reuse_port', 'enable_reuse_port', 'access_log',
    'tcp_backlog_size', 'max_connections_to_accept_per_socket_event', 'bind_to_port', 'internal_listener',
    'enable_mptcp', 'ignore_global_conn_limit', 'bypass_overload_manager', 'tcp_keepalive',
  ],
  // Only labels stats in Envoy; Weft names listener stats by listener name.
  informational: ['stat_prefix'],
});

const listenerAddress = address({ host: 'ip', allowPortZero: true });
const trafficDirection = enumeration({ UNSPECIFIED: 0, INBOUND: 1, OUTBOUND: 2 });

/** envoy.config.listener.v3.Listener. A missing name defaults to the address (`127.0.0.1:10000`). */
export const listener: Reader<ListenerConfig> = message(LISTENER, (m) => {
  const addr = m.req('address', listenerAddress);
  const chains = m.get('filter_chains', list(filterChain), []);
  const defaultChain = m.opt('default_filter_chain', filterChain);
  // A UDP listener (already reported as unsupported) has no filter chains; do not ask for them.
  if (!m.has('filter_chains') && !m.has('default_filter_chain') && !isUdp(m.raw('address'))) {
    m.at('filter_chains').expected('at least one filter chain (or a default_filter_chain)', undefined);
  }
  const raw = m.raw('filter_chains');
  if (asList(raw).length === chains.length) {
    const seen = new Map<string, number>();
    chains.forEach((c, i) => {
      const key = matchKey(c.match);
      const first = seen.get(key);
      if (first === undefined) seen.set(key, i);
      else {
        itemCtx(m.at('filter_chains'), raw, i).field('filter_chain_match')
          .expected(`a match different from filter_chains[${first}]'s`, c.match);
      }
    });
  }
  const listenerFilters = m.get('listener_filters', list(listenerFilter), []);
  checkInspectors(m.at('filter_chains'), chains, listenerFilters.map((f) => f.kind));
  const name = m.get('name', string, '');
  const bufferLimit = m.get('per_connection_buffer_limit_bytes', wrapped(uint32), DEFAULT_BUFFER_LIMIT_BYTES);
  // envoy.config.core.v3.TrafficDirection: which listeners /drain_listeners?inboundonly drains.
  const direction = m.get('traffic_direction', trafficDirection, 'UNSPECIFIED');
  if (addr === undefined) return undefined;
  return {
    name: name === '' ? formatAddress(addr) : name,
    address: addr,
    perConnectionBufferLimitBytes: bufferLimit,
    filterChains: chains,
    defaultFilterChain: defaultChain ?? null,
    listenerFilters,
    listenerFiltersTimeoutMs: m.get('listener_filters_timeout', duration, DEFAULT_LISTENER_FILTERS_TIMEOUT_MS),
    continueOnListenerFiltersTimeout: m.get('continue_on_listener_filters_timeout', bool, false),
    ...(direction === 'UNSPECIFIED' ? {} : { trafficDirection: direction }),
  };
});

/** Whether a raw Address asks for UDP (the enum name in any case, or its number 1). */
function isUdp(raw: unknown): boolean {
  const sa = isObject(raw) ? raw.socket_address ?? raw.socketAddress : undefined;
  const protocol = isObject(sa) ? sa.protocol : undefined;
  return protocol === 1 || (typeof protocol === 'string' && (protocol.toUpperCase() === 'UDP' || protocol === '1'));
}

/** Envoy's default listener_filters_timeout: 15 s. */
const DEFAULT_LISTENER_FILTERS_TIMEOUT_MS = 15_000;

/**
 * server_names and `transport_protocol: tls` can only match when tls_inspector runs, and
 * application_protocols when tls_inspector or http_inspector does. Envoy accepts such chains and
 * never matches them; Weft says so instead.
 */
function checkInspectors(ctx: Ctx, chains: readonly FilterChainConfig[], filters: readonly string[]): void {
  const tls = filters.includes('tls_inspector');
  const http = filters.includes('http_inspector');
  chains.forEach((c, i) => {
    const at = ctx.index(i).field('filter_chain_match');
    const need = 'a listener_filters entry for envoy.filters.listener.tls_inspector';
    if (c.match.serverNames.length > 0 && !tls) at.field('server_names').fail(`expected only with ${need}, got server names without it`);
    if (c.match.transportProtocol === 'tls' && !tls) at.field('transport_protocol').fail(`expected only with ${need}, got "tls" without it`);
    if (c.match.applicationProtocols.length > 0 && !tls && !http) {
      at.field('application_protocols').fail(`expected only with ${need} or envoy.filters.listener.http_inspector, got application protocols without either`);
    }
  });
}
