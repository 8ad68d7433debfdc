// The mesh model: the config store and the service registry combined into immutable, versioned
// MeshSnapshots (src/control/model.ts), rebuilt (debounced) on every change of either. ServiceEntries
// contribute services and, for STATIC/DNS resolution, workloads (Istio's ServiceEntry semantics:
// a DNS entry without endpoints resolves its hosts).

import type { ConfigResource, MeshConfig, MeshSnapshot, ServiceDef, Workload } from './model.js';
import type { ServiceEntrySpec } from './api/types.js';
import type { ConfigStore } from './store/config-store.js';
import type { ServiceRegistry } from './registry/service-registry.js';
import { DEFAULT_DOMAIN_SUFFIX, portProtocol } from './registry/names.js';
import { createLogger } from '../observe/logger.js';
import { JwksResolver, jwksUrisOf } from './translate/security/jwks-resolver.js';

const log = createLogger('mesh');

export interface MeshOptions {
  readonly store: ConfigStore;
  readonly registry: ServiceRegistry;
  /** Quiet time after a change before a new snapshot is built (default 100 ms). */
  readonly debounceMs?: number;
  readonly domainSuffix?: string;
  /** `--mesh-config`: carried in every snapshot (absent: Istio's defaults). */
  readonly meshConfig?: MeshConfig;
}

export class Mesh {
  readonly #store: ConfigStore;
  readonly #registry: ServiceRegistry;
  readonly #debounceMs: number;
  readonly #suffix: string;
  readonly #meshConfig: MeshConfig | undefined;
  #trustBundle: readonly string[] | undefined;
  readonly #listeners = new Set<(m: MeshSnapshot) => void>();
  readonly #unsubscribe: (() => void)[] = [];
  #current: MeshSnapshot;
  #timer: NodeJS.Timeout | null = null;
  /** RequestAuthentication jwksUri keys, fetched by the control plane; new keys → a new snapshot. */
  readonly #jwks = new JwksResolver(() => this.#schedule());

  constructor(opts: MeshOptions) {
    this.#store = opts.store;
    this.#registry = opts.registry;
    this.#debounceMs = opts.debounceMs ?? 100;
    this.#suffix = opts.domainSuffix ?? DEFAULT_DOMAIN_SUFFIX;
    this.#meshConfig = opts.meshConfig;
    this.#current = this.#build(1);
  }

  /** Follows the store and the registry from now on (the snapshot is rebuilt from their current state). */
  start(): void {
    this.#current = this.#build(this.#current.version);
    const schedule = () => this.#schedule();
    this.#unsubscribe.push(this.#store.onChange(schedule), this.#registry.onChange(schedule));
  }

  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => { this.#timer = null; this.#publish(); }, this.#debounceMs);
  }

  close(): void {
    for (const u of this.#unsubscribe.splice(0)) u();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#listeners.clear();
    this.#jwks.close();
  }

  /** A new trust bundle from the CA (signing root first): a new snapshot follows (debounced). */
  setTrustBundle(pems: readonly string[]): void {
    this.#trustBundle = Object.freeze([...pems]);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => { this.#timer = null; this.#publish(); }, this.#debounceMs);
  }

  /** The latest snapshot. */
  get current(): MeshSnapshot { return this.#current; }

  /** Calls `cb` with each new snapshot; returns the unsubscribe function. */
  onSnapshot(cb: (m: MeshSnapshot) => void): () => void {
    this.#listeners.add(cb);
    return () => { this.#listeners.delete(cb); };
  }

  #publish(): void {
    this.#current = this.#build(this.#current.version + 1);
    log.debug('mesh version %d: %d configs, %d services, %d workloads', this.#current.version,
      this.#current.configs.length, this.#current.services.length, this.#current.workloads.length);
    for (const cb of [...this.#listeners]) {
      try { cb(this.#current); } catch (e) { log.error('snapshot listener failed: %s', (e as Error).stack ?? e); }
    }
  }

  #build(version: number): MeshSnapshot {
    const configs = this.#store.list();
    const reg = this.#registry.snapshot();
    const services: ServiceDef[] = [...reg.services];
    const workloads: Workload[] = [...reg.workloads];
    for (const c of configs) {
      if (c.kind !== 'ServiceEntry') continue;
      const se = fromServiceEntry(c as ConfigResource<ServiceEntrySpec>);
      for (const s of se.services) if (!services.some((x) => x.hostname === s.hostname)) services.push(s);
      workloads.push(...se.workloads);
    }
    const uris = jwksUrisOf(configs);
    return Object.freeze({
      version, configs, services: Object.freeze(services), workloads: Object.freeze(workloads), domainSuffix: this.#suffix,
      ...(this.#meshConfig !== undefined ? { meshConfig: this.#meshConfig } : {}),
      ...(this.#trustBundle !== undefined ? { trustBundle: this.#trustBundle } : {}),
      ...(uris.size > 0 ? { jwks: this.#jwks.resolve(uris) } : {}),
    });
  }
}

/** A ServiceEntry's services (one per host) and workloads (its endpoints per host; for DNS without endpoints, the host itself). */
export function fromServiceEntry(c: ConfigResource<ServiceEntrySpec>): { services: ServiceDef[]; workloads: Workload[] } {
  const spec = c.spec;
  const ns = c.metadata.namespace;
  const resolution = spec.resolution === 'DNS_ROUND_ROBIN' ? 'DNS' : spec.resolution;
  const ports = spec.ports.map((p) => Object.freeze({ name: p.name, port: p.number, protocol: portProtocol(p.name, p.protocol) }));
  const services: ServiceDef[] = [];
  const workloads: Workload[] = [];
  for (const host of spec.hosts) {
    services.push(Object.freeze({ hostname: host, name: host, namespace: ns, ports: Object.freeze(ports), location: spec.location, resolution, source: 'service-entry' }));
    if (resolution === 'NONE') continue;
    const eps = spec.endpoints.length > 0 || resolution === 'STATIC' ? spec.endpoints : [{ address: host }];
    eps.forEach((ep, i) => {
      const [region, zone, subZone] = (ep.locality ?? '').split('/');
      workloads.push(Object.freeze({
        id: `se~${ns}/${c.metadata.name}~${host}~${i}`, service: host, namespace: ns, labels: Object.freeze({ ...(ep.labels ?? {}) }),
        address: ep.address,
        ports: Object.freeze(spec.ports.map((p) => Object.freeze({
          name: p.name, port: p.number, targetPort: ep.ports?.[p.name] ?? p.targetPort ?? p.number, protocol: portProtocol(p.name, p.protocol),
        }))),
        locality: ep.locality ? Object.freeze({ region: region || undefined, zone: zone || undefined, subZone: subZone || undefined }) : undefined,
        weight: ep.weight ?? 1, healthy: true, source: 'service-entry',
      }));
    });
  }
  return { services, workloads };
}
