// The xDS v3 resource types Weft serves and consumes over ADS
// (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol), in warming order:
// clusters, then their endpoints, then listeners, then the routes listeners name; and secrets (SDS).

export const TYPE_PREFIX = 'type.googleapis.com/';

export const CLUSTER_TYPE = `${TYPE_PREFIX}envoy.config.cluster.v3.Cluster`;
export const ENDPOINT_TYPE = `${TYPE_PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`;
export const LISTENER_TYPE = `${TYPE_PREFIX}envoy.config.listener.v3.Listener`;
export const ROUTE_TYPE = `${TYPE_PREFIX}envoy.config.route.v3.RouteConfiguration`;
/** SDS over ADS (subscribed by name; see src/proxy/secrets/). */
export const SECRET_TYPE = `${TYPE_PREFIX}envoy.extensions.transport_sockets.tls.v3.Secret`;

/** The order in which a change is pushed, so a listener or route never names a cluster the proxy lacks. */
export const PUSH_ORDER: readonly string[] = [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE];

/** Short names (Envoy's and istioctl's) for display: CDS, EDS, LDS, RDS. */
export const SHORT_NAME: Readonly<Record<string, string>> = {
  [CLUSTER_TYPE]: 'CDS',
  [ENDPOINT_TYPE]: 'EDS',
  [LISTENER_TYPE]: 'LDS',
  [ROUTE_TYPE]: 'RDS',
  [SECRET_TYPE]: 'SDS',
};

/** The message full name of a type URL. */
export function messageName(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/**
 * Wildcard types: an empty subscription means "everything" (LDS and CDS, as in the xDS spec);
 * RDS and EDS are always subscribed by name.
 */
export function isWildcardType(typeUrl: string): boolean {
  return typeUrl === LISTENER_TYPE || typeUrl === CLUSTER_TYPE;
}
