// One upstream endpoint of a cluster (envoy.config.endpoint.v3.LbEndpoint after discovery): its
// address, weight, priority and locality, its health, its metadata (endpoint and locality
// filter_metadata) and the transport socket chosen from it, and per-host counters for /clusters.

import type { FilterMetadata } from '../config/types.js';
import type { HostOutlierState } from './outlier.js';
import type { TransportChoice } from './transport-match.js';

export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
}

/** Per-host counters, as admin /clusters prints them (cx_total, rq_total, ...). */
export class HostStats {
  cxTotal = 0;
  cxActive = 0;
  cxConnectFail = 0;
  rqTotal = 0;
  rqActive = 0;
  rqError = 0;
  rqSuccess = 0;
  rqTimeout = 0;
}

/** What discovery produces for one host; the cluster turns it into a Host (or keeps the existing one). */
export interface HostSpec {
  readonly address: string;
  readonly port: number;
  /** The DNS name the address came from ('' for STATIC). */
  readonly hostname: string;
  readonly weight: number;
  readonly priority: number;
  readonly locality: Locality;
  /** The locality's load_balancing_weight; null when not set. */
  readonly localityWeight: number | null;
  readonly healthy: boolean;
  /** LbEndpoint.metadata.filter_metadata; null or absent when not set. */
  readonly metadata?: FilterMetadata | null;
  /** LocalityLbEndpoints.metadata.filter_metadata; null or absent when not set. */
  readonly localityMetadata?: FilterMetadata | null;
}

/** `10.0.0.1:80`, or `[::1]:80` for IPv6. */
export function hostKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export class Host {
  readonly address: string;
  readonly port: number;
  readonly key: string;
  /** The DNS name this host was resolved from (STRICT_DNS / LOGICAL_DNS), '' for STATIC; used by auto_host_rewrite. */
  readonly hostname: string;
  readonly weight: number;
  readonly priority: number;
  readonly locality: Locality;
  /** The locality's load_balancing_weight; null when not set. */
  readonly localityWeight: number | null;
  /** From health_status now; health checking and outlier detection set it later (then call cluster.refreshHealth()). */
  healthy: boolean;
  /** Requests assigned to this host and not finished; maintained by the caller, read by LEAST_REQUEST. */
  activeRequests = 0;
  /** Ejected by outlier detection: left out of load balancing like an unhealthy host (see outlier.ts). */
  ejected = false;
  /** Outlier detection counters, created on the first report (clusters with outlier_detection only). */
  outlier: HostOutlierState | null = null;
  /** LbEndpoint.metadata.filter_metadata; null when not set. */
  readonly metadata: FilterMetadata | null;
  /** LocalityLbEndpoints.metadata.filter_metadata; null when not set. */
  readonly localityMetadata: FilterMetadata | null;
  /**
   * The transport socket connections to this host use (transport_socket_matches against the
   * metadata, else the cluster's transport_socket); set by the cluster when the host joins it.
   * Null until then (the opener then uses the cluster's transport_socket).
   */
  transport: TransportChoice | null = null;
  /** Slot owned by the connection pool. */
  pool: unknown = null;
  readonly stats = new HostStats();

  constructor(spec: HostSpec) {
    this.address = spec.address;
    this.port = spec.port;
    this.key = hostKey(spec.address, spec.port);
    this.hostname = spec.hostname;
    this.weight = spec.weight;
    this.priority = spec.priority;
    this.locality = spec.locality;
    this.localityWeight = spec.localityWeight;
    this.healthy = spec.healthy;
    this.metadata = spec.metadata ?? null;
    this.localityMetadata = spec.localityMetadata ?? null;
  }

  /**
   * What makes two discovered hosts "the same" across updates (so pools and counters survive).
   * Metadata is part of it: a host whose metadata changes (e.g. it gained a sidecar: tlsMode
   * istio) is a new host, with a new pool, so no pooled connection keeps the old transport.
   */
  static identity(spec: HostSpec): string {
    const l = spec.locality;
    const base = `${spec.priority}|${l.region}|${l.zone}|${l.subZone}|${spec.localityWeight}|${spec.weight}|${spec.healthy}|${spec.hostname}|${hostKey(spec.address, spec.port)}`;
    const md = spec.metadata ?? null;
    const lmd = spec.localityMetadata ?? null;
    if (md === null && lmd === null) return base;
    return `${base}|${JSON.stringify(md)}|${JSON.stringify(lmd)}`;
  }
}
