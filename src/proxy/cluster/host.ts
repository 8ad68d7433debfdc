// One upstream endpoint of a cluster (envoy.config.endpoint.v3.LbEndpoint after discovery): its
// address, weight, priority and locality, its health, and per-host counters for /clusters.

import type { HostOutlierState } from './outlier.js';

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
  }

  /** What makes two discovered hosts "the same" across updates (so pools and counters survive). */
  static identity(spec: HostSpec): string {
    const l = spec.locality;
    return `${spec.priority}|${l.region}|${l.zone}|${l.subZone}|${spec.localityWeight}|${spec.weight}|${spec.healthy}|${spec.hostname}|${hostKey(spec.address, spec.port)}`;
  }
}
