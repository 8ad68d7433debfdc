// Cluster.transport_socket_matches (envoy.config.cluster.v3.Cluster.TransportSocketMatch): which
// transport socket a host's connections use. The matches are tried in order against the host's
// endpoint metadata, then (a second pass, as Envoy does) against its locality's metadata, both
// under filter_metadata["envoy.transport_socket_match"]: a match applies when that Struct has
// every key of `match` with an equal value (an empty `match` applies to every host). Without a
// match, the cluster's transport_socket (TLS, or plaintext when absent). This is how Istio's auto
// mTLS picks mutual TLS for endpoints labelled `tlsMode: istio` (match `tlsMode-istio`) and
// plaintext for the others (`tlsMode-disabled`, raw_buffer).
//
// Resolved once per host when it joins the cluster (config time); each new connection counts on
// the chosen match's `cluster.<name>.<match name>.total_match_count` (Envoy's stat; `default`
// for the cluster's own transport_socket). Weft creates these stats only for clusters that have
// transport_socket_matches (Envoy has `default.total_match_count` on every cluster).

import { isDeepStrictEqual } from 'node:util';
import type { Counter, StatsStore } from '../../observe/stats.js';
import type { ClusterConfig, FilterMetadata, UpstreamTlsConfig } from '../config/types.js';

/** The filter_metadata key transport socket matches read. */
export const TRANSPORT_SOCKET_MATCH_KEY = 'envoy.transport_socket_match';

/** The transport socket chosen for a host. */
export interface TransportChoice {
  /** The match's name; `default` for the cluster's transport_socket. */
  readonly name: string;
  /** TLS to originate, or null for plaintext. */
  readonly tls: UpstreamTlsConfig | null;
  /** `cluster.<name>.<match>.total_match_count` (null when the cluster has no matches). */
  readonly counter: Counter | null;
}

interface CompiledMatch {
  readonly entries: readonly (readonly [string, unknown])[];
  readonly choice: TransportChoice;
}

/** Whether `metadata`'s transport socket match Struct has every entry (Envoy's metadataLabelMatch). */
function labelsMatch(entries: CompiledMatch['entries'], metadata: FilterMetadata | null): boolean {
  const fields = metadata?.[TRANSPORT_SOCKET_MATCH_KEY];
  if (fields === undefined) return entries.length === 0;
  for (const [k, v] of entries) {
    if (!Object.hasOwn(fields, k) || !isDeepStrictEqual(fields[k], v)) return false;
  }
  return true;
}

export class TransportSocketMatcher {
  private readonly matches: readonly CompiledMatch[];
  readonly fallback: TransportChoice;

  constructor(config: ClusterConfig, store: StatsStore) {
    const list = config.transportSocketMatches ?? [];
    const counter = (name: string): Counter | null => list.length === 0 ? null
      : store.counter(`cluster.${config.name}.${name}.total_match_count`, 'cluster_total_match_count',
        { envoy_cluster_name: config.name, envoy_transport_socket_match: name });
    this.fallback = { name: 'default', tls: config.transportSocket, counter: counter('default') };
    this.matches = list.map((m) => ({
      entries: Object.entries(m.match),
      choice: { name: m.name, tls: m.transportSocket, counter: counter(m.name) },
    }));
  }

  /** The transport for a host with these metadata: endpoint pass, then locality pass, then the default. */
  resolve(endpoint: FilterMetadata | null, locality: FilterMetadata | null): TransportChoice {
    const matches = this.matches;
    if (matches.length === 0) return this.fallback;
    for (const m of matches) if (labelsMatch(m.entries, endpoint)) return m.choice;
    for (const m of matches) if (labelsMatch(m.entries, locality)) return m.choice;
    return this.fallback;
  }
}
