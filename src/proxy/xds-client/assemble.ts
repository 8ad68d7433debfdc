// Builds the proxy's full BootstrapConfig from the static bootstrap plus the xDS resources accepted
// so far, with Envoy's warming rules (arch_overview/operations/dynamic_configuration, "warming"):
// an EDS cluster is added once its first ClusterLoadAssignment arrived, a listener once every RDS
// route configuration it names arrived; either one after initial_fetch_timeout with nothing (no
// endpoints, no routes: 503 UH / 404 NR). A warming new version of an active listener or cluster
// leaves the active one in place.

import { listenerRdsNames } from '../../envoy/bootstrap.js';
import { deepFreeze } from '../../envoy/decode/freeze.js';
import type {
  BootstrapConfig, ClusterConfig, FilterChainConfig, ListenerConfig, LocalityLbEndpointsConfig, RouteConfiguration,
  XdsDumpInfo,
} from '../config/types.js';

export interface Versioned<T> {
  readonly value: T;
  readonly version: string;
}

/** Everything the client has accepted, by resource name. */
export interface DynamicState {
  readonly listeners: ReadonlyMap<string, Versioned<ListenerConfig>>;
  readonly clusters: ReadonlyMap<string, Versioned<ClusterConfig>>;
  readonly routes: ReadonlyMap<string, Versioned<RouteConfiguration>>;
  readonly endpoints: ReadonlyMap<string, Versioned<readonly LocalityLbEndpointsConfig[]>>;
  /** RDS / EDS names whose initial fetch timed out: used as empty until they arrive. */
  readonly routesTimedOut: ReadonlySet<string>;
  readonly endpointsTimedOut: ReadonlySet<string>;
}

/** What was applied last time, so a warming new version keeps the old one serving. */
export interface ActiveSet {
  readonly listeners: ReadonlyMap<string, ListenerConfig>;
  readonly clusters: ReadonlyMap<string, ClusterConfig>;
}

export interface Assembled {
  readonly config: BootstrapConfig;
  /** Raw (routes not substituted) listeners and clusters in effect: the next call's `active`. */
  readonly active: ActiveSet;
  readonly warmingListeners: readonly string[];
  readonly warmingClusters: readonly string[];
}

export const EMPTY_ACTIVE: ActiveSet = { listeners: new Map(), clusters: new Map() };

function emptyRoutes(name: string): RouteConfiguration {
  return {
    name, virtualHosts: [], requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [],
    responseHeadersToRemove: [],
  };
}

/** The listener with each RDS HCM's routeConfig replaced by the received (or empty) route configuration. */
function withRoutes(l: ListenerConfig, routes: DynamicState['routes']): ListenerConfig {
  if (listenerRdsNames(l).length === 0) return l;
  const chain = (fc: FilterChainConfig): FilterChainConfig => ({
    ...fc,
    filters: fc.filters.map((f) => (f.kind === 'http_connection_manager' && f.rds !== undefined
      ? { ...f, routeConfig: routes.get(f.rds.routeConfigName)?.value ?? emptyRoutes(f.rds.routeConfigName) }
      : f)),
  });
  return { ...l, filterChains: l.filterChains.map(chain), defaultFilterChain: l.defaultFilterChain === null ? null : chain(l.defaultFilterChain) };
}

/** Whether an EDS cluster has endpoints to start with (received, or given up waiting). */
export function clusterReady(c: ClusterConfig, s: DynamicState): boolean {
  return c.eds === undefined || s.endpoints.has(c.eds.serviceName) || s.endpointsTimedOut.has(c.eds.serviceName);
}

export function listenerReady(l: ListenerConfig, s: DynamicState): boolean {
  return listenerRdsNames(l).every((n) => s.routes.has(n) || s.routesTimedOut.has(n));
}

/** Static listeners/clusters first, then dynamic ones in name order. */
export function assemble(bootstrap: BootstrapConfig, state: DynamicState, active: ActiveSet): Assembled {
  const clusters: ClusterConfig[] = [];
  const activeClusters = new Map<string, ClusterConfig>();
  const warmingClusters: string[] = [];
  const dynClusters = [...state.clusters.values()].sort((a, b) => (a.value.name < b.value.name ? -1 : 1));
  for (const c of [...bootstrap.clusters, ...dynClusters.map((d) => d.value)]) {
    let use: ClusterConfig | undefined = c;
    if (!clusterReady(c, state)) {
      warmingClusters.push(c.name);
      use = active.clusters.get(c.name);
    }
    if (use === undefined) continue;
    activeClusters.set(c.name, use);
    const eds = use.eds === undefined ? undefined : state.endpoints.get(use.eds.serviceName)?.value;
    clusters.push(use.eds === undefined ? use : { ...use, loadAssignment: { endpoints: eds ?? [] } });
  }

  const listeners: ListenerConfig[] = [];
  const activeListeners = new Map<string, ListenerConfig>();
  const warmingListeners: string[] = [];
  const dynListeners = [...state.listeners.values()].sort((a, b) => (a.value.name < b.value.name ? -1 : 1));
  for (const l of [...bootstrap.listeners, ...dynListeners.map((d) => d.value)]) {
    let use: ListenerConfig | undefined = l;
    if (!listenerReady(l, state)) {
      warmingListeners.push(l.name);
      use = active.listeners.get(l.name);
    }
    if (use === undefined) continue;
    activeListeners.set(l.name, use);
    listeners.push(withRoutes(use, state.routes));
  }

  const versions = <T>(m: ReadonlyMap<string, Versioned<T>>) => [...m].map(([name, v]) => ({ name, version: v.version }));
  const xds: XdsDumpInfo = {
    listeners: dynListeners.map((d) => ({ name: d.value.name, version: d.version, warming: warmingListeners.includes(d.value.name) })),
    clusters: dynClusters.map((d) => ({ name: d.value.name, version: d.version, warming: warmingClusters.includes(d.value.name) })),
    routeConfigs: versions(state.routes),
    endpoints: versions(state.endpoints),
  };
  const config: BootstrapConfig = deepFreeze({ ...bootstrap, listeners, clusters, xds });
  return { config, active: { listeners: activeListeners, clusters: activeClusters }, warmingListeners, warmingClusters };
}
