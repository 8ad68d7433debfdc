// The Envoy v3 bootstrap a sidecar runs, built from a few flags (as Istio's agent writes one for
// Envoy): the node identity and workload metadata the control plane reads (src/control/model.ts,
// proxyInfoFromNode), an admin listener, the control plane as a static HTTP/2 cluster `xds-grpc`,
// and dynamic_resources over ADS. Listeners, routes, clusters and endpoints all come over xDS.
// Identity as Istio's agent sets it up: metadata SERVICE_ACCOUNT, a static `sds-grpc` cluster (a
// Unix socket to the sidecar's certificate agent, src/sidecar/agent/) that the control plane's TLS
// contexts name for the `default` certificate, and an mTLS `xds-grpc` (client certificate `default`
// and trust bundle `ROOTCA` from sds-grpc, the control plane verified as `weft-control`).

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
  /** The node id, when already chosen (the certificate agent sends it to the CA); default sidecarNodeId(). */
  readonly nodeId?: string;
  /** The workload's service account (its SPIFFE id's `sa`); default: the service name. */
  readonly serviceAccount?: string;
  /** Plaintext ADS (development): no transport socket on `xds-grpc`. */
  readonly insecureXds?: boolean;
  /** The certificate agent's SDS socket; absent: no `sds-grpc` cluster (and no mTLS ADS). */
  readonly sdsSocketPath?: string;
}

/** Istio's names: the static cluster of the agent's SDS server, and the certificate secret. */
export const SDS_CLUSTER = 'sds-grpc';
export const CONTROL_PLANE_SNI = 'weft-control';
const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

/** `sds_config` pointing at the agent (what Istio's translation writes for `default`). */
export function agentSdsConfig(): Record<string, unknown> {
  return {
    api_config_source: {
      api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER } }],
    },
    resource_api_version: 'V3',
  };
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
      id: o.nodeId ?? sidecarNodeId(o),
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
        SERVICE_ACCOUNT: o.serviceAccount ?? o.service,
      },
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: o.adminPort } } },
    static_resources: {
      clusters: [xdsCluster(o), ...(o.sdsSocketPath === undefined ? [] : [sdsCluster(o.sdsSocketPath)])],
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

const H2_OPTIONS = {
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
    '@type': HTTP_PROTOCOL_OPTIONS,
    explicit_http_config: { http2_protocol_options: {} },
  },
};

/** The agent's SDS server as a static HTTP/2 cluster on a Unix socket. */
function sdsCluster(path: string): Record<string, unknown> {
  return {
    name: SDS_CLUSTER,
    type: 'STATIC',
    connect_timeout: '1s',
    typed_extension_protocol_options: H2_OPTIONS,
    load_assignment: {
      cluster_name: SDS_CLUSTER,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path } } } }] }],
    },
  };
}

/** The control plane; mTLS unless insecureXds or there is no agent. */
function xdsCluster(o: SidecarOptions): Record<string, unknown> {
  const tls = o.insecureXds !== true && o.sdsSocketPath !== undefined;
  return {
    name: 'xds-grpc',
    type: isIP(o.controlHost) === 0 ? 'STRICT_DNS' : 'STATIC',
    connect_timeout: '1s',
    typed_extension_protocol_options: H2_OPTIONS,
    load_assignment: {
      cluster_name: 'xds-grpc',
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: o.controlHost, port_value: o.controlPort } } } }] }],
    },
    ...(tls ? {
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': UPSTREAM_TLS,
          sni: CONTROL_PLANE_SNI,
          common_tls_context: {
            tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: agentSdsConfig() }],
            // The bundle over SDS (Istio's bootstrap names a root-cert.pem file instead): the file
            // would have to exist when the bootstrap is read, before the agent fetched the root in
            // local mode; over SDS, the proxy waits for it, and a rotated bundle applies at once.
            validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: agentSdsConfig() },
          },
        },
      },
    } : {}),
  };
}
