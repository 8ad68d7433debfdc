// The Envoy v3 bootstrap a sidecar runs, built from a few flags (as Istio's agent writes one for
// Envoy): the node identity and workload metadata the control plane reads (src/control/model.ts,
// proxyInfoFromNode), an admin listener, the control plane as a static HTTP/2 cluster `xds-grpc`,
// and dynamic_resources over ADS. Listeners, routes, clusters and endpoints all come over xDS.

import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { PortProtocol } from '../control/model.js';

export interface SidecarOptions {
  readonly service: string;
  readonly namespace: string;
  /** Workload labels; `app` defaults to the service name. */
  readonly labels: Readonly<Record<string, string>>;
  /** Where the local app listens. */
  readonly appPort: number;
  /** The service port callers use (default: appPort). */
  readonly servicePort: number;
  readonly appProtocol: PortProtocol;
  /** The address other sidecars reach this one on (also where the inbound listener binds). */
  readonly ip: string;
  readonly inboundPort: number;
  readonly outboundPort: number;
  readonly adminPort: number;
  /** The control plane's xDS address. */
  readonly controlHost: string;
  readonly controlPort: number;
  /** Delta xDS instead of state of the world. */
  readonly delta: boolean;
  /** Register this workload in the control plane's registry (default true). */
  readonly register: boolean;
  /** Defaults to a random suffix; tests may fix it. */
  readonly podName?: string;
}

const HTTP_PROTOCOL_OPTIONS = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** The port-name prefix Istio uses to tell a port's protocol. */
function portName(p: PortProtocol): string {
  return p === 'UNKNOWN' ? 'tcp' : p.toLowerCase();
}

/** Istio's node id form: `sidecar~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local`. */
export function sidecarNodeId(o: SidecarOptions): string {
  const pod = o.podName ?? `${o.service}-${o.labels.version ?? 'w'}-${randomBytes(3).toString('hex')}`;
  return `sidecar~${o.ip}~${pod}.${o.namespace}~${o.namespace}.svc.cluster.local`;
}

/** The bootstrap, in Envoy's JSON form. */
export function sidecarBootstrap(o: SidecarOptions): Record<string, unknown> {
  const labels = { app: o.service, ...o.labels };
  return {
    node: {
      id: sidecarNodeId(o),
      cluster: `${o.service}.${o.namespace}`,
      metadata: {
        NAMESPACE: o.namespace,
        LABELS: labels,
        INSTANCE_IPS: o.ip,
        WEFT_SERVICE: o.service,
        WEFT_APP_PORTS: [{ name: portName(o.appProtocol), port: o.servicePort, targetPort: o.appPort, protocol: o.appProtocol }],
        WEFT_INBOUND_PORT: o.inboundPort,
        WEFT_OUTBOUND_PORT: o.outboundPort,
        WEFT_REGISTER: o.register,
      },
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: o.adminPort } } },
    static_resources: {
      clusters: [{
        name: 'xds-grpc',
        type: isIP(o.controlHost) === 0 ? 'STRICT_DNS' : 'STATIC',
        connect_timeout: '1s',
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
            '@type': HTTP_PROTOCOL_OPTIONS,
            explicit_http_config: { http2_protocol_options: {} },
          },
        },
        load_assignment: {
          cluster_name: 'xds-grpc',
          endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: o.controlHost, port_value: o.controlPort } } } }] }],
        },
      }],
    },
    dynamic_resources: {
      ads_config: {
        api_type: o.delta ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }],
      },
      lds_config: { ads: {}, resource_api_version: 'V3' },
      cds_config: { ads: {}, resource_api_version: 'V3' },
    },
  };
}
