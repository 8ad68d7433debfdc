// The proxy's xDS client: one ADS stream (envoy.service.discovery.v3.AggregatedDiscoveryService,
// state of the world or delta, https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol)
// subscribing to LDS and CDS (wildcard) and to the RDS / EDS names they use. Each response is
// validated as a whole: any bad resource NACKs it and keeps the previous state; otherwise it is
// accepted, ACKed, and the proxy gets a full BootstrapConfig (static + dynamic) via applyConfig.
// Secrets (SDS over ADS) are subscribed by the names the target's SecretManager follows; an
// accepted Secret goes to that manager (new handshakes use it) without re-applying the config.

import { WEFT_VERSION } from '../../version.js';
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { listenerRdsNames } from '../../envoy/bootstrap.js';
import { formatAddress, grpcTarget } from '../../envoy/core.js';
import type { ExtensionLookup } from '../../envoy/decode/typed.js';
import { log } from '../../observe/logger.js';
import type { StatsStore } from '../../observe/stats.js';
import {
  ADS_SERVICE, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse,
  type NodeJson,
} from '../../xds/ads-service.js';
import type { RawAny } from '../../xds/proto-json.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE, SHORT_NAME } from '../../xds/resource-types.js';
import type { ProxySecretManager } from '../secrets/manager.js';
import type { SecretValue } from '../secrets/types.js';
import type { BootstrapConfig, ClusterConfig, ListenerConfig } from '../config/types.js';
import { assemble, clusterReady, EMPTY_ACTIVE, type ActiveSet, type DynamicState, type Versioned } from './assemble.js';
import type { SecretManager } from '../secrets/types.js';
import { adsChannelCredentials } from './credentials.js';
import { decodeResource, isXdsType, type DecodedResource, type ResourceValues, type XdsTypeUrl } from './resources.js';
import { statPrefixes, type StatPrefix } from './stats.js';

/** What the client drives: ProxyServer and WorkerPrimary both fit. */
export interface XdsClientTarget {
  applyConfig(next: BootstrapConfig): Promise<void>;
  readonly stats: StatsStore;
  /** Where ADS secrets go (and which names to subscribe). */
  readonly secrets?: ProxySecretManager;
}

export interface XdsClientOptions {
  /** Directory for relative file names in resources (usually the bootstrap file's). */
  readonly baseDir: string;
  readonly extensions?: ExtensionLookup;
  /** Reconnect back-off: initialMs doubling up to maxMs, each delay jittered to 50..100 %. Default 500 ms / 30 s. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Overrides the control plane's channel target (tests); by default from ads_config. */
  readonly target?: string;
  /**
   * The ADS channel's credentials, asked for again on every (re)connect so a renewed certificate or
   * a rotated trust bundle is used by the next connection (the sidecar's agent provides them). By
   * default they come from the ADS cluster's transport_socket (src/proxy/xds-client/credentials.ts).
   */
  readonly credentials?: () => grpc.ChannelCredentials;
  /** The name the control plane's certificate is verified against (default: the ADS cluster's `sni`). */
  readonly serverName?: string;
  /** Resolves SDS references of the ADS cluster's transport socket (the proxy's SecretManager, once there is one). */
  readonly secrets?: () => SecretManager | undefined;
}

/**
 * Events: `connected`, `disconnected` (error message), `ack` (typeUrl, version), `nack` (typeUrl,
 * message), `applied` (BootstrapConfig), `apply_error` (Error).
 */
export declare interface XdsClient {
  on(ev: 'connected', fn: () => void): this;
  on(ev: 'disconnected', fn: (reason: string) => void): this;
  on(ev: 'ack', fn: (typeUrl: string, version: string) => void): this;
  on(ev: 'nack', fn: (typeUrl: string, message: string) => void): this;
  on(ev: 'applied', fn: (config: BootstrapConfig) => void): this;
  on(ev: 'apply_error', fn: (err: Error) => void): this;
}

/** Per type, what the stream knows. */
interface TypeState {
  /** SotW: version_info of the last accepted response. */
  version: string;
  /** Nonce of the last response received on this stream. */
  nonce: string;
  /** Names subscribed (RDS / EDS); LDS / CDS are wildcard. */
  names: Set<string>;
  /** Whether a request for this type went out on the current stream. */
  sent: boolean;
  /** Delta: accepted version per resource name. */
  versions: Map<string, string>;
}

const KIND: Record<XdsTypeUrl, string> = {
  [LISTENER_TYPE]: 'listener',
  [CLUSTER_TYPE]: 'cluster',
  [ROUTE_TYPE]: 'route configuration',
  [ENDPOINT_TYPE]: 'cluster load assignment',
  [SECRET_TYPE]: 'secret',
};

/** The order of initial requests (and of applying): clusters, endpoints, listeners, routes. */
const ORDER: readonly XdsTypeUrl[] = [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE];
const WILDCARD = (t: XdsTypeUrl): boolean => t === LISTENER_TYPE || t === CLUSTER_TYPE;
const GRPC_INVALID_ARGUMENT = 3;

type AnyCall = grpc.ClientDuplexStream<DiscoveryRequest | DeltaDiscoveryRequest, DiscoveryResponse | DeltaDiscoveryResponse>;

export class XdsClient extends EventEmitter {
  private bootstrap: BootstrapConfig;
  private readonly delta: boolean;
  private readonly ldsListeners = new Map<string, Versioned<ListenerConfig>>();
  private readonly cdsClusters = new Map<string, Versioned<ClusterConfig>>();
  private readonly routes = new Map<string, Versioned<ResourceValues[typeof ROUTE_TYPE]>>();
  private readonly endpoints = new Map<string, Versioned<ResourceValues[typeof ENDPOINT_TYPE]['endpoints']>>();
  private readonly routesTimedOut = new Set<string>();
  private readonly endpointsTimedOut = new Set<string>();
  private readonly secrets = new Map<string, Versioned<SecretValue>>();
  private readonly secretsTimedOut = new Set<string>();
  private secretManager: ProxySecretManager | null = null;
  private readonly fetchTimers = new Map<string, NodeJS.Timeout>();
  private active: ActiveSet = EMPTY_ACTIVE;
  private readonly types = new Map<XdsTypeUrl, TypeState>();
  private grpcClient: grpc.Client | null = null;
  private call: AnyCall | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private backoffMs: number;
  private closed = false;
  private started = false;
  /** LDS / RDS responses wait here while new EDS clusters warm. */
  private inbox: Promise<void> = Promise.resolve();
  private warmWaiters: (() => void)[] = [];
  private applying: Promise<void> | null = null;
  private applyDirty = false;
  private readonly node: NodeJson;

  private target: XdsClientTarget | null = null;

  constructor(bootstrap: BootstrapConfig, private readonly opts: XdsClientOptions) {
    super();
    if (bootstrap.dynamicResources?.ads == null) throw new Error('xds client: the bootstrap has no dynamic_resources.ads_config');
    this.bootstrap = bootstrap;
    this.delta = bootstrap.dynamicResources.ads.apiType === 'DELTA_GRPC';
    this.backoffMs = this.backoff.initialMs;
    this.node = {
      id: bootstrap.node.id, cluster: bootstrap.node.cluster, metadata: { ...bootstrap.node.metadata },
      user_agent_name: 'weft', user_agent_version: WEFT_VERSION,
    };
    for (const t of ORDER) this.types.set(t, { version: '', nonce: '', names: new Set(), sent: false, versions: new Map() });
    this.updateSubscriptions(false);
  }

  private get backoff(): { initialMs: number; maxMs: number } {
    return this.opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
  }

  private get stats(): StatsStore {
    if (this.target === null) throw new Error('xds client: not started');
    return this.target.stats;
  }

  /**
   * The config to start the proxy with before anything arrived: static listeners and clusters,
   * less the ones warming (an RDS listener, an EDS cluster).
   */
  initialConfig(): BootstrapConfig {
    const a = assemble(this.bootstrap, this.state(), this.active);
    this.active = a.active;
    return a.config;
  }

  /**
   * Opens the ADS stream (and keeps reopening it until close()); accepted updates go to
   * `target.applyConfig` (start the target with initialConfig() first).
   */
  start(target: XdsClientTarget): void {
    if (this.started) return;
    this.started = true;
    this.target = target;
    // Envoy's init manager: the server is not ready until the first LDS and CDS responses are
    // applied with nothing left warming, or the longer of their initial_fetch_timeouts (0: no limit) runs out.
    const dyn = this.bootstrap.dynamicResources!;
    const waits = [dyn.lds, dyn.cds].filter((c) => c !== null).map((c) => c!.initialFetchTimeoutMs);
    const limit = waits.includes(0) ? 0 : Math.max(0, ...waits);
    // ADS only for secrets (or EDS / RDS of static resources): no LDS / CDS to wait for here (the
    // SecretManager holds readiness for its own secrets).
    if (dyn.lds === null && dyn.cds === null) this.markInitialized();
    else if (limit > 0) {
      this.initTimer = setTimeout(() => {
        if (!this.isInitialized) log.warn('xds: initial fetch not complete after %d ms; serving with what has arrived', limit);
        this.markInitialized();
      }, limit);
      this.initTimer.unref();
    }
    this.stats.gauge('control_plane.connected_state', 'control_plane_connected_state').set(0);
    if (target.secrets !== undefined) {
      this.secretManager = target.secrets;
      target.secrets.attachAds({ secretNamesChanged: () => { if (!this.closed) this.updateSubscriptions(this.call !== null); } });
    }
    this.connect();
  }

  /** A reloaded static bootstrap (file change / SIGHUP): re-assembled with the dynamic resources. */
  async setBootstrap(next: BootstrapConfig): Promise<void> {
    if (JSON.stringify(next.dynamicResources) !== JSON.stringify(this.bootstrap.dynamicResources)) {
      log.warn('xds: dynamic_resources changed in the reloaded bootstrap; the change takes effect on restart');
    }
    this.bootstrap = { ...next, dynamicResources: this.bootstrap.dynamicResources };
    this.updateSubscriptions(true);
    await this.scheduleApply();
  }

  /**
   * Leaving the mesh (graceful shutdown): ends our half of the ADS stream cleanly, which the
   * control plane takes as "this proxy is going away" (its workload leaves at once instead of
   * after a reconnect grace period), and stops reconnecting. The proxy keeps its config; close() later.
   */
  leave(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    try { this.call?.end(); } catch { /* already gone */ }
  }

  /** Stops the stream, timers and reconnects; the proxy keeps its config. */
  close(): void {
    this.closed = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    for (const t of this.fetchTimers.values()) clearTimeout(t);
    if (this.initTimer !== null) clearTimeout(this.initTimer);
    this.fetchTimers.clear();
    const call = this.call;
    this.call = null;
    call?.cancel();
    this.grpcClient?.close();
    this.grpcClient = null;
    for (const w of this.warmWaiters.splice(0)) w();
  }

  /** Whether a stream is up and has received a response. */
  get connected(): boolean {
    return this.target !== null && this.stats.value('control_plane.connected_state') === 1;
  }

  /** Resolves when the initial fetch is done (see start()): what an Envoy reports as LIVE. */
  initialized(): Promise<void> {
    return this.initializedPromise;
  }

  get isInitialized(): boolean { return this.initDone; }

  private initDone = false;
  private initTimer: NodeJS.Timeout | null = null;
  private resolveInit: () => void = () => {};
  private readonly initializedPromise = new Promise<void>((r) => { this.resolveInit = r; });
  /** Types that have had a response accepted since start (LDS and CDS gate initialization). */
  private readonly receivedTypes = new Set<string>();

  private markInitialized(): void {
    if (this.initDone) return;
    this.initDone = true;
    if (this.initTimer !== null) clearTimeout(this.initTimer);
    this.initTimer = null;
    this.resolveInit();
  }

  /** Resolves once the last scheduled apply is done. */
  async settled(): Promise<void> {
    while (this.applying !== null) await this.applying;
  }

  // ───────────────────────────── stream ─────────────────────────────

  /** Where the ADS stream goes (host:port, or the gRPC target URI). */
  get controlPlaneAddress(): string { return this.channelTarget(); }

  private channelTarget(): string {
    if (this.opts.target !== undefined) return this.opts.target;
    const t = this.bootstrap.dynamicResources!.ads!.target;
    if (t.kind === 'google_grpc') return t.targetUri;
    const c = this.bootstrap.clusters.find((x) => x.name === t.clusterName);
    const ep = c?.loadAssignment.endpoints[0]?.lbEndpoints[0];
    if (ep === undefined) throw new Error(`xds client: cluster ${t.clusterName} has no endpoint for the control plane`);
    return grpcTarget(ep.address);
  }

  /** A new channel for each stream: credentials are rebuilt every time (a renewed certificate is used at once). */
  private newChannel(): grpc.Client {
    this.grpcClient?.close();
    const { credentials, options } = adsChannelCredentials(this.bootstrap, { ...this.opts, secrets: this.opts.secrets?.() });
    this.grpcClient = new grpc.Client(this.channelTarget(), credentials, { 'grpc.keepalive_time_ms': 30_000, ...options });
    return this.grpcClient;
  }

  private connect(): void {
    if (this.closed) return;
    let client: grpc.Client;
    try {
      client = this.newChannel();
    } catch (err) {
      // No credentials yet (an SDS certificate still to arrive, an unreadable file): try again later.
      log.warn('xds: cannot connect to %s yet: %s; retrying in about %d ms', this.channelTarget(), (err as Error).message, this.backoffMs);
      const delay = this.backoffMs * (0.5 + Math.random() / 2);
      this.backoffMs = Math.min(this.backoffMs * 2, this.backoff.maxMs);
      this.reconnectTimer = setTimeout(() => { this.reconnectTimer = null; this.connect(); }, delay);
      this.reconnectTimer.unref();
      return;
    }
    const svc = this.delta ? ADS_SERVICE.DeltaAggregatedResources : ADS_SERVICE.StreamAggregatedResources;
    const call = client.makeBidiStreamRequest(
      svc.path, svc.requestSerialize as (v: unknown) => Buffer, svc.responseDeserialize as (b: Buffer) => unknown,
    ) as AnyCall;
    this.call = call;
    for (const st of this.types.values()) { st.nonce = ''; st.sent = false; }
    let ended = false;
    const end = (reason: string): void => {
      if (ended) return;
      ended = true;
      if (this.call === call) this.call = null;
      this.stats.gauge('control_plane.connected_state').set(0);
      if (this.closed) return;
      log.warn('xds: stream to %s closed (%s), retrying in about %d ms', this.channelTarget(), reason, this.backoffMs);
      this.emit('disconnected', reason);
      const delay = this.backoffMs * (0.5 + Math.random() / 2);
      this.backoffMs = Math.min(this.backoffMs * 2, this.backoff.maxMs);
      this.reconnectTimer = setTimeout(() => { this.reconnectTimer = null; this.connect(); }, delay);
      this.reconnectTimer.unref();
    };
    const up = (): void => {
      if (this.call !== call || this.stats.value('control_plane.connected_state') === 1) return;
      this.stats.gauge('control_plane.connected_state').set(1);
      this.backoffMs = this.backoff.initialMs;
      this.emit('connected');
    };
    call.on('metadata', up);
    call.on('data', (resp: DiscoveryResponse | DeltaDiscoveryResponse) => {
      if (this.call !== call) return;
      up();
      this.receive(call, resp);
    });
    call.on('error', (err: Error) => end(err.message));
    call.on('end', () => end('stream ended by the server'));
    call.on('status', () => undefined);
    for (const t of ORDER) this.sendInitial(t);
  }

  /** The first request of a type on a new stream (re-sent on reconnect with what is known). */
  private sendInitial(t: XdsTypeUrl): void {
    const st = this.types.get(t)!;
    if (!WILDCARD(t) && st.names.size === 0) return;
    st.sent = true;
    if (this.delta) {
      const initial: Record<string, string> = {};
      for (const [n, v] of st.versions) initial[n] = v;
      this.write({
        node: this.node, type_url: t,
        resource_names_subscribe: WILDCARD(t) ? [] : [...st.names],
        initial_resource_versions: initial,
      });
    } else {
      this.write({ node: this.node, type_url: t, version_info: st.version, resource_names: WILDCARD(t) ? [] : [...st.names], response_nonce: '' });
    }
  }

  private write(req: DiscoveryRequest | DeltaDiscoveryRequest): void {
    const call = this.call;
    if (call === null) return;
    try {
      call.write(req);
    } catch (err) {
      log.debug('xds: write failed: %s', (err as Error).message);
    }
  }

  private receive(call: AnyCall, resp: DiscoveryResponse | DeltaDiscoveryResponse): void {
    const t = resp.type_url;
    if (!isXdsType(t)) {
      log.warn('xds: ignoring a response of unknown type %s', t);
      return;
    }
    if (t === CLUSTER_TYPE || t === ENDPOINT_TYPE || t === SECRET_TYPE) {
      this.safeHandle(call, t, resp);
      return;
    }
    // Listeners and routes wait for clusters still warming (Envoy pauses LDS/RDS during CDS warming).
    this.inbox = this.inbox.then(() => this.clustersWarm()).then(() => {
      if (this.call === call) this.safeHandle(call, t, resp);
    });
  }

  private safeHandle(call: AnyCall, t: XdsTypeUrl, resp: DiscoveryResponse | DeltaDiscoveryResponse): void {
    try {
      this.handle(call, t, resp);
    } catch (err) {
      log.error('xds: %s response could not be handled: %s', SHORT_NAME[t], (err as Error).stack ?? String(err));
    }
  }

  // ───────────────────────────── responses ─────────────────────────────

  private handle(call: AnyCall, t: XdsTypeUrl, resp: DiscoveryResponse | DeltaDiscoveryResponse): void {
    const st = this.types.get(t)!;
    st.nonce = resp.nonce;
    const delta = this.delta;
    const decoded: DecodedResource<unknown>[] = [];
    if (delta) {
      for (const r of (resp as DeltaDiscoveryResponse).resources) {
        if (r.resource == null) continue;
        decoded.push(decodeResource(t, r.resource, this.opts, r.name));
      }
    } else {
      for (const raw of (resp as DiscoveryResponse).resources as RawAny[]) decoded.push(decodeResource(t, raw, this.opts));
    }
    const removed = delta ? (resp as DeltaDiscoveryResponse).removed_resources ?? [] : [];
    const version = delta ? (resp as DeltaDiscoveryResponse).system_version_info ?? '' : (resp as DiscoveryResponse).version_info;
    this.countAttempt(t, decoded);

    const errors = this.crossCheck(t, decoded, removed);
    if (errors.length > 0) {
      const message = `Error adding/updating ${KIND[t]}(s) ${errors.join(', ')}`;
      log.warn('xds: %s update rejected (version %s): %s', SHORT_NAME[t], version || '(none)', message);
      this.countResult(t, decoded, false);
      this.emit('nack', t, message);
      const error_detail = { code: GRPC_INVALID_ARGUMENT, message };
      if (delta) this.write({ type_url: t, response_nonce: resp.nonce, error_detail });
      else this.write({ type_url: t, version_info: st.version, resource_names: WILDCARD(t) ? [] : [...st.names], response_nonce: resp.nonce, error_detail });
      return;
    }

    const good = decoded as Extract<DecodedResource<unknown>, { ok: true }>[];
    const deltaVersions = delta ? new Map((resp as DeltaDiscoveryResponse).resources.map((r) => [r.name, r.version])) : null;
    this.accept(t, good, removed, version, deltaVersions);
    st.version = version;
    this.countResult(t, decoded, true);
    log.info('xds: %s update accepted (version %s, %d resources)', SHORT_NAME[t], version || '(none)', good.length);
    if (delta) this.write({ type_url: t, response_nonce: resp.nonce });
    else this.write({ type_url: t, version_info: version, resource_names: WILDCARD(t) ? [] : [...st.names], response_nonce: resp.nonce });
    this.emit('ack', t, version);
    if (t === SECRET_TYPE) {
      for (const g of good) if (st.names.has(g.name)) this.secretManager?.pushAds(g.value as SecretValue, versionOf(deltaVersions, g.name, version));
      return;
    }
    if (call === this.call) this.updateSubscriptions(true);
    this.checkWarm();
    void this.scheduleApply();
  }

  /** Per-resource errors plus Envoy's whole-update checks; each entry is `<name>: <errors>`. */
  private crossCheck(t: XdsTypeUrl, decoded: readonly DecodedResource<unknown>[], removed: readonly string[]): string[] {
    const errors: string[] = [];
    const seen = new Set<string>();
    const statics = t === LISTENER_TYPE ? new Set(this.bootstrap.listeners.map((l) => l.name))
      : t === CLUSTER_TYPE ? new Set(this.bootstrap.clusters.map((c) => c.name)) : new Set<string>();
    for (const d of decoded) {
      const label = d.name === '' ? '(unnamed)' : d.name;
      if (!d.ok) { errors.push(`${label}: ${d.errors.join('; ')}`); continue; }
      if (seen.has(d.name)) errors.push(`${label}: duplicate ${KIND[t]} name in one update`);
      seen.add(d.name);
      if (statics.has(d.name)) errors.push(`${label}: is a static ${KIND[t]} and cannot be updated over xDS`);
      if (t !== LISTENER_TYPE && t !== CLUSTER_TYPE && !this.types.get(t)!.names.has(d.name)) {
        log.debug('xds: %s %s was not subscribed; kept anyway', SHORT_NAME[t], d.name);
      }
    }
    if (t === LISTENER_TYPE && errors.length === 0) {
      // Two listeners may not bind the same address (port 0 excepted).
      const next = new Map<string, ListenerConfig>();
      for (const l of this.bootstrap.listeners) next.set(l.name, l);
      if (this.delta) for (const [n, v] of this.ldsListeners) if (!removed.includes(n)) next.set(n, v.value);
      for (const d of decoded) if (d.ok) next.set(d.name, d.value as ListenerConfig);
      const byAddr = new Map<string, string>();
      for (const l of next.values()) {
        if (l.address.port === 0) continue;
        const a = formatAddress(l.address).toLowerCase();
        const other = byAddr.get(a);
        if (other !== undefined && seen.has(l.name)) errors.push(`${l.name}: address ${a} is already used by listener ${other}`);
        byAddr.set(a, l.name);
      }
    }
    return errors;
  }

  private accept(t: XdsTypeUrl, good: readonly { name: string; value: unknown }[], removed: readonly string[],
                 version: string, deltaVersions: Map<string, string> | null): void {
    const st = this.types.get(t)!;
    const map = this.mapOf(t);
    this.receivedTypes.add(t);
    const versionOf = (n: string): string => deltaVersions?.get(n) ?? version;
    if (!this.delta && WILDCARD(t)) {
      // State of the world for LDS / CDS: what is not in the response is gone.
      const names = new Set(good.map((g) => g.name));
      for (const n of [...map.keys()]) if (!names.has(n)) map.delete(n);
    }
    for (const n of removed) { map.delete(n); st.versions.delete(n); }
    for (const g of good) {
      // RDS / EDS resources nobody asked for (any more) are not kept.
      if (!WILDCARD(t) && !st.names.has(g.name)) continue;
      const value = t === ENDPOINT_TYPE ? (g.value as ResourceValues[typeof ENDPOINT_TYPE]).endpoints : g.value;
      const prev = map.get(g.name);
      map.set(g.name, { value, version: versionOf(g.name) });
      st.versions.set(g.name, versionOf(g.name));
      if (prev === undefined) this.arrived(t, g.name);
    }
    if (!this.delta && WILDCARD(t)) for (const n of [...st.versions.keys()]) if (!map.has(n)) st.versions.delete(n);
  }

  private mapOf(t: XdsTypeUrl): Map<string, Versioned<unknown>> {
    switch (t) {
      case LISTENER_TYPE: return this.ldsListeners as Map<string, Versioned<unknown>>;
      case CLUSTER_TYPE: return this.cdsClusters as Map<string, Versioned<unknown>>;
      case ROUTE_TYPE: return this.routes as Map<string, Versioned<unknown>>;
      case ENDPOINT_TYPE: return this.endpoints as Map<string, Versioned<unknown>>;
      case SECRET_TYPE: return this.secrets as Map<string, Versioned<unknown>>;
    }
  }

  /** An RDS / EDS resource arrived: its initial-fetch timer is done. */
  private arrived(t: XdsTypeUrl, name: string): void {
    const key = `${t} ${name}`;
    const timer = this.fetchTimers.get(key);
    if (timer !== undefined) { clearTimeout(timer); this.fetchTimers.delete(key); }
  }

  // ───────────────────────────── subscriptions and warming ─────────────────────────────

  /** The RDS and EDS names in use now, with each one's initial_fetch_timeout. */
  private wanted(): Map<XdsTypeUrl, Map<string, number>> {
    const routes = new Map<string, number>();
    const eps = new Map<string, number>();
    // Active (applied) versions count too: a warming listener update keeps the old routes in use.
    const listeners = [...this.active.listeners.values(), ...this.bootstrap.listeners, ...[...this.ldsListeners.values()].map((v) => v.value)];
    for (const l of listeners) {
      for (const fc of [...l.filterChains, ...(l.defaultFilterChain === null ? [] : [l.defaultFilterChain])]) {
        for (const f of fc.filters) {
          if (f.kind === 'http_connection_manager' && f.rds !== undefined) routes.set(f.rds.routeConfigName, f.rds.configSource.initialFetchTimeoutMs);
        }
      }
    }
    for (const c of [...this.active.clusters.values(), ...this.bootstrap.clusters, ...[...this.cdsClusters.values()].map((v) => v.value)]) {
      if (c.eds !== undefined) eps.set(c.eds.serviceName, c.eds.configSource.initialFetchTimeoutMs);
    }
    // Secrets: the names the SecretManager follows over ADS (it runs their initial_fetch_timeout).
    const secrets = new Map((this.secretManager?.adsSecretNames() ?? []).map((n) => [n, 0] as const));
    return new Map([[ROUTE_TYPE, routes], [ENDPOINT_TYPE, eps], [SECRET_TYPE, secrets]]);
  }

  /** Follows the RDS / EDS names in use: subscribes new ones, unsubscribes (and forgets) dropped ones. */
  private updateSubscriptions(send: boolean): void {
    for (const [t, names] of this.wanted()) {
      const st = this.types.get(t)!;
      const added = [...names.keys()].filter((n) => !st.names.has(n));
      const dropped = [...st.names].filter((n) => !names.has(n));
      if (added.length === 0 && dropped.length === 0) continue;
      const map = this.mapOf(t);
      const timedOut = t === ROUTE_TYPE ? this.routesTimedOut : t === ENDPOINT_TYPE ? this.endpointsTimedOut : this.secretsTimedOut;
      for (const n of dropped) {
        st.names.delete(n);
        st.versions.delete(n);
        map.delete(n);
        timedOut.delete(n);
        this.arrived(t, n);
      }
      for (const n of added) {
        st.names.add(n);
        const ms = names.get(n)!;
        if (!map.has(n) && ms > 0) {
          const timer = setTimeout(() => {
            this.fetchTimers.delete(`${t} ${n}`);
            if (this.mapOf(t).has(n) || !st.names.has(n)) return;
            log.warn('xds: %s %s: initial fetch timed out after %d ms; starting without it', SHORT_NAME[t], n, ms);
            timedOut.add(n);
            this.checkWarm();
            void this.scheduleApply();
          }, ms);
          timer.unref();
          this.fetchTimers.set(`${t} ${n}`, timer);
        }
      }
      if (!send || this.call === null) continue;
      if (this.delta) {
        if (!st.sent) { this.sendInitial(t); continue; }
        this.write({ type_url: t, resource_names_subscribe: added, resource_names_unsubscribe: dropped });
      } else {
        st.sent = true;
        this.write({ node: this.node, type_url: t, version_info: st.version, resource_names: [...st.names], response_nonce: st.nonce });
      }
    }
  }

  private state(): DynamicState {
    return {
      listeners: this.ldsListeners, clusters: this.cdsClusters, routes: this.routes, endpoints: this.endpoints,
      routesTimedOut: this.routesTimedOut, endpointsTimedOut: this.endpointsTimedOut,
    };
  }

  /** New EDS clusters (not active yet) still waiting for their first assignment. */
  private warmingNewClusters(): boolean {
    const s = this.state();
    for (const { value } of this.cdsClusters.values()) if (!clusterReady(value, s) && !this.active.clusters.has(value.name)) return true;
    return false;
  }

  private clustersWarm(): Promise<void> {
    if (this.closed || !this.warmingNewClusters()) return Promise.resolve();
    return new Promise((resolve) => this.warmWaiters.push(resolve));
  }

  private checkWarm(): void {
    if (this.warmingNewClusters()) return;
    for (const w of this.warmWaiters.splice(0)) w();
  }

  // ───────────────────────────── applying ─────────────────────────────

  /** Assembles and applies the current state; calls while one runs coalesce into one more run. */
  private scheduleApply(): Promise<void> {
    this.applyDirty = true;
    this.applying ??= this.runApply();
    return this.applying;
  }

  private async runApply(): Promise<void> {
    try {
      while (this.applyDirty && !this.closed) {
        this.applyDirty = false;
        const a = assemble(this.bootstrap, this.state(), this.active);
        try {
          if (this.target === null) return;
          await this.target.applyConfig(a.config);
          this.active = a.active;
          // Names only the previous active versions used can go now.
          this.updateSubscriptions(true);
          this.emit('applied', a.config);
          const dyn = this.bootstrap.dynamicResources!;
          if ((dyn.lds === null || this.receivedTypes.has(LISTENER_TYPE)) && (dyn.cds === null || this.receivedTypes.has(CLUSTER_TYPE))
            && a.warmingListeners.length === 0 && a.warmingClusters.length === 0) this.markInitialized();
        } catch (err) {
          log.error('xds: could not apply the update: %s', (err as Error).message);
          this.emit('apply_error', err as Error);
        }
      }
    } finally {
      this.applying = null;
    }
  }

  // ───────────────────────────── stats ─────────────────────────────

  private prefixes(t: XdsTypeUrl, decoded: readonly DecodedResource<unknown>[]): StatPrefix[] {
    return statPrefixes(t, decoded, this.bootstrap, [...this.cdsClusters.values()].map((v) => v.value), [...this.ldsListeners.values()].map((v) => v.value));
  }

  private countAttempt(t: XdsTypeUrl, decoded: readonly DecodedResource<unknown>[]): void {
    for (const [p, prom, labels] of this.prefixes(t, decoded)) this.stats.counter(`${p}update_attempt`, `${prom}update_attempt`, labels).inc();
  }

  private countResult(t: XdsTypeUrl, decoded: readonly DecodedResource<unknown>[], ok: boolean): void {
    const s = ok ? 'update_success' : 'update_rejected';
    for (const [p, prom, labels] of this.prefixes(t, decoded)) this.stats.counter(`${p}${s}`, `${prom}${s}`, labels).inc();
  }
}

export { listenerRdsNames };

function versionOf(deltaVersions: Map<string, string> | null, name: string, version: string): string {
  return deltaVersions?.get(name) ?? version;
}
