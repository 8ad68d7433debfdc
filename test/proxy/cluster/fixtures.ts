// Test fixtures for clusters: ClusterConfig builders with Envoy's defaults, and a scriptable DNS resolver.
import type { ClusterConfig, LbEndpointConfig, LocalityLbEndpointsConfig } from '../../../src/proxy/config/types.js';
import type { DnsLookupFamily, DnsResolver } from '../../../src/proxy/cluster/dns.js';
import type { Cluster } from '../../../src/proxy/cluster/cluster.js';
import type { Host } from '../../../src/proxy/cluster/host.js';
import { DEFAULT_HTTP2_OPTIONS } from '../../../src/envoy/protocol-options.js';

export function endpoint(address: string, port: number, weight = 1,
                         healthStatus: LbEndpointConfig['healthStatus'] = 'UNKNOWN'): LbEndpointConfig {
  return { address: { address, port }, loadBalancingWeight: weight, healthStatus };
}

export function locality(lbEndpoints: LbEndpointConfig[], opts: {
  priority?: number; weight?: number | null; region?: string; zone?: string; subZone?: string;
} = {}): LocalityLbEndpointsConfig {
  return {
    locality: { region: opts.region ?? '', zone: opts.zone ?? '', subZone: opts.subZone ?? '' },
    loadBalancingWeight: opts.weight ?? null,
    priority: opts.priority ?? 0,
    lbEndpoints,
  };
}

export function clusterConfig(name: string, endpoints: LocalityLbEndpointsConfig[],
                              over: Partial<ClusterConfig> = {}): ClusterConfig {
  return {
    name,
    type: 'STATIC',
    connectTimeoutMs: 5000,
    lbPolicy: 'ROUND_ROBIN',
    loadAssignment: { endpoints },
    dnsRefreshRateMs: 5000,
    dnsLookupFamily: 'AUTO',
    healthyPanicThresholdPercent: 50,
    leastRequest: { choiceCount: 2 },
    ringHash: { minimumRingSize: 1024, maximumRingSize: 8388608 },
    maglev: { tableSize: 65537 },
    connectionPool: {
      maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3,
      idleTimeoutMs: 3600000, maxRequestsPerConnection: 0,
    },
    perConnectionBufferLimitBytes: 1048576,
    upstreamProtocol: 'HTTP1',
    http2: DEFAULT_HTTP2_OPTIONS,
    transportSocket: null,
    ...over,
  };
}

/** `n` endpoints 10.0.0.1..n on `port` in one locality. */
export function simpleCluster(name: string, n: number, over: Partial<ClusterConfig> = {}, port = 80): ClusterConfig {
  const eps = Array.from({ length: n }, (_, i) => endpoint(`10.0.0.${i + 1}`, port));
  return clusterConfig(name, [locality(eps)], over);
}

/** A DNS resolver whose answers the test sets; records every query. */
export class FakeResolver implements DnsResolver {
  readonly answers = new Map<string, string[] | Error>();
  readonly calls: { host: string; family: DnsLookupFamily }[] = [];
  /** When set, queries wait for it before answering. */
  gate: Promise<void> | null = null;
  private readonly waiters: (() => void)[] = [];

  set(host: string, answer: string[] | Error): this {
    this.answers.set(host, answer);
    return this;
  }

  async resolve(host: string, family: DnsLookupFamily): Promise<string[]> {
    this.calls.push({ host, family });
    for (const w of this.waiters.splice(0)) w();
    if (this.gate) await this.gate;
    const a = this.answers.get(host);
    if (a === undefined) throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    if (a instanceof Error) throw a;
    return [...a];
  }

  /** Resolves at the next query. */
  nextCall(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }
}

/** A deferred promise. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

/**
 * The next membership change of `c`, as [added, removed]. A cluster's own timers (dns_refresh_rate, the outlier
 * interval) are unref'd so that a cluster never keeps a process alive by itself; a test awaiting an event that only
 * such a timer produces must hold the event loop, or the loop empties and node:test cancels the test ("Promise
 * resolution is still pending but the event loop has already resolved"). The deadline timer here is that hold, and
 * turns a lost event into a failure instead of a hang.
 */
export function nextHostsChange(c: Cluster, timeoutMs = 10_000): Promise<[Host[], Host[]]> {
  return new Promise((resolve, reject) => {
    let done = false;
    const deadline = setTimeout(() => { done = true; reject(new Error(`no host change within ${timeoutMs} ms`)); }, timeoutMs);
    c.onHostsChanged((added, removed) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      resolve([added, removed]);
    });
  });
}
