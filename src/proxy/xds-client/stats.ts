// The update stats of the xDS client, by Envoy's names: cluster_manager.cds.*, listener_manager.lds.*,
// http.<prefix>.rds.<name>.*, cluster.<name>.* (EDS) and sds.<name>.* (secrets over ADS), each
// update_attempt / update_success / update_rejected.

import type { BootstrapConfig, ClusterConfig, ListenerConfig } from '../config/types.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, SECRET_TYPE } from '../../xds/resource-types.js';
import type { DecodedResource, XdsTypeUrl } from './resources.js';

/** [dotted prefix, Prometheus prefix, labels]. */
export type StatPrefix = [string, string, Record<string, string>];

/** Envoy's update stats: cluster_manager.cds.*, listener_manager.lds.*, http.<prefix>.rds.<name>.*, cluster.<name>.* (EDS). */
export function statPrefixes(t: XdsTypeUrl, decoded: readonly DecodedResource<unknown>[], bootstrap: BootstrapConfig,
  cdsClusters: readonly ClusterConfig[], ldsListeners: readonly ListenerConfig[]): StatPrefix[] {
  if (t === CLUSTER_TYPE) return [['cluster_manager.cds.', 'cluster_manager_cds_', {}]];
  if (t === LISTENER_TYPE) return [['listener_manager.lds.', 'listener_manager_lds_', {}]];
  const out: [string, string, Record<string, string>][] = [];
  const names = new Set(decoded.map((d) => d.name).filter((n) => n !== ''));
  if (t === SECRET_TYPE) {
    // sds.<name>.* as src/proxy/secrets/stats.ts names them.
    for (const n of names) out.push([`sds.${n}.`, 'sds_', { envoy_sds_secret_name: n }]);
    return out;
  }
  if (t === ENDPOINT_TYPE) {
    for (const { value: c } of [...cdsClusters, ...bootstrap.clusters].map((value) => ({ value }))) {
      if (c.eds !== undefined && names.has(c.eds.serviceName)) out.push([`cluster.${c.name}.`, 'cluster_', { envoy_cluster_name: c.name }]);
    }
    return out;
  }
  for (const l of [...bootstrap.listeners, ...ldsListeners]) {
    for (const fc of [...l.filterChains, ...(l.defaultFilterChain === null ? [] : [l.defaultFilterChain])]) {
      for (const f of fc.filters) {
        if (f.kind === 'http_connection_manager' && f.rds !== undefined && names.has(f.rds.routeConfigName)) {
          out.push([`http.${f.statPrefix}.rds.${f.rds.routeConfigName}.`, 'http_rds_',
            { envoy_http_conn_manager_prefix: f.statPrefix, envoy_rds_route_config: f.rds.routeConfigName }]);
        }
      }
    }
  }
  return out;
}
