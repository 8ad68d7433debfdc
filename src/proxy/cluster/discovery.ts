// STRICT_DNS and LOGICAL_DNS discovery (Envoy arch_overview/upstream/service_discovery): resolve, re-resolve
// every dns_refresh_rate, keep the last good answer on failure.
import { isIP } from 'node:net';
import type { ClusterConfig, LbEndpointConfig, LocalityLbEndpointsConfig } from '../config/types.js';
import type { DnsResolver } from './dns.js';
import type { HostSpec } from './host.js';
import type { ClusterStats } from './stats.js';

interface Target {
  readonly locality: LocalityLbEndpointsConfig;
  readonly endpoint: LbEndpointConfig;
  /** Last good answer; null until the first success. */
  addresses: string[] | null;
}

/** UNKNOWN and HEALTHY count as healthy (envoy.config.core.v3.HealthStatus). */
export function isHealthyStatus(s: LbEndpointConfig['healthStatus']): boolean {
  return s === 'UNKNOWN' || s === 'HEALTHY';
}

export function hostSpec(loc: LocalityLbEndpointsConfig, ep: LbEndpointConfig, address: string, hostname: string): HostSpec {
  return {
    address,
    port: ep.address.port,
    hostname,
    weight: ep.loadBalancingWeight,
    priority: loc.priority,
    locality: loc.locality,
    localityWeight: loc.loadBalancingWeight,
    healthy: isHealthyStatus(ep.healthStatus),
    metadata: ep.metadata ?? null,
    localityMetadata: loc.metadata ?? null,
  };
}

/** STATIC: every endpoint address is a host, as declared. */
export function staticHostSpecs(config: ClusterConfig): HostSpec[] {
  const out: HostSpec[] = [];
  for (const loc of config.loadAssignment.endpoints) {
    for (const ep of loc.lbEndpoints) out.push(hostSpec(loc, ep, ep.address.address, ''));
  }
  return out;
}

export class DnsDiscovery {
  private readonly targets: Target[] = [];
  private readonly logical: boolean;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private closed = false;

  /** @param apply installs a new host list; returns whether membership changed. */
  constructor(private readonly config: ClusterConfig, private readonly resolver: DnsResolver,
              private readonly stats: ClusterStats, private readonly apply: (specs: HostSpec[]) => boolean) {
    this.logical = config.type === 'LOGICAL_DNS';
    for (const locality of config.loadAssignment.endpoints) {
      for (const endpoint of locality.lbEndpoints) {
        this.targets.push({ locality, endpoint, addresses: null });
        if (this.logical) return; // LOGICAL_DNS has exactly one endpoint; extra ones are ignored.
      }
    }
  }

  /** Runs the first round; later rounds follow every dnsRefreshRateMs. */
  start(): Promise<void> {
    return this.resolveNow();
  }

  /** Resolves now (after any round in flight) and restarts the refresh timer. */
  async resolveNow(): Promise<void> {
    while (this.inFlight !== null) await this.inFlight;
    if (this.closed) return;
    const round = this.round();
    this.inFlight = round;
    try {
      await round;
    } finally {
      this.inFlight = null;
    }
    this.schedule();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.resolveNow();
    }, Math.max(1, this.config.dnsRefreshRateMs));
    this.timer.unref();
  }

  private async round(): Promise<void> {
    await Promise.all(this.targets.map((t) => this.resolveTarget(t)));
    if (this.closed) return;
    const specs: HostSpec[] = [];
    for (const t of this.targets) {
      if (t.addresses === null || t.addresses.length === 0) continue;
      const name = t.endpoint.address.address;
      if (this.logical) specs.push(hostSpec(t.locality, t.endpoint, t.addresses[0]!, name));
      else for (const a of t.addresses) specs.push(hostSpec(t.locality, t.endpoint, a, name));
    }
    if (!this.apply(specs)) this.stats.update_no_rebuild.inc();
  }

  private async resolveTarget(t: Target): Promise<void> {
    const name = t.endpoint.address.address;
    this.stats.update_attempt.inc();
    try {
      const answer = isIP(name) !== 0 ? [name] : await this.resolver.resolve(name, this.config.dnsLookupFamily);
      if (this.closed) return;
      t.addresses = answer;
      this.stats.update_success.inc();
    } catch {
      if (!this.closed) this.stats.update_failure.inc();
    }
  }
}
