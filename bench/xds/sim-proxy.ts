// Simulated sidecars for the control-plane benchmark: each one ADS stream (state-of-the-world or
// delta, https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol) on its own HTTP/2
// connection, subscribing and ACKing as Envoy does: CDS and LDS wildcard, EDS for every EDS
// cluster, RDS for every route_config_name an HTTP connection manager names, every response ACKed.

import { credentials, makeGenericClientConstructor, type Client, type ClientDuplexStream } from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  ADS_SERVICE, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest,
  type DiscoveryResponse, type NodeJson,
} from '../../src/xds/ads-service.js';
import { decodeToJson, type RawAny } from '../../src/xds/proto-json.js';
import { messageType } from '../../src/xds/protos.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, messageName, ROUTE_TYPE, SHORT_NAME } from '../../src/xds/resource-types.js';

export type Variant = 'sotw' | 'delta';
/** CDS, EDS, LDS, RDS. */
export type ShortType = 'CDS' | 'EDS' | 'LDS' | 'RDS';

/** What a fleet tells its owner. */
export type SimEvent =
  /** A proxy has ACKed CDS and LDS and, when it subscribed to any, EDS and RDS: it has a full config. */
  | { readonly ev: 'synced'; readonly proxy: number; readonly atMs: number }
  /** The first ACK of a type by a proxy since the last mark. */
  | { readonly ev: 'ack'; readonly proxy: number; readonly type: ShortType; readonly atMs: number }
  /** A resource the simulator could not read (it ACKs anyway, so the run goes on; the owner reports it). */
  | { readonly ev: 'warn'; readonly proxy: number; readonly message: string }
  /** The stream failed (not on close). */
  | { readonly ev: 'error'; readonly proxy: number; readonly message: string };

/** Bytes and responses received per type since the last mark. */
export interface SimCounters {
  readonly bytes: Record<ShortType, number>;
  readonly responses: Record<ShortType, number>;
}

/** Wall-clock milliseconds comparable across processes on one machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The Node a Weft sidecar for the `sim` service sends (src/sidecar/bootstrap.ts), with index `i` in the pod name. */
export function simNode(i: number): NodeJson {
  return {
    id: `sidecar~127.0.0.1~sim-${i}.default~default.svc.cluster.local`,
    cluster: 'sim.default',
    metadata: {
      NAMESPACE: 'default',
      LABELS: { app: 'sim' },
      INSTANCE_IPS: '127.0.0.1',
      WEFT_SERVICE: 'sim',
      WEFT_APP_PORTS: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'HTTP' }],
      WEFT_INBOUND_PORT: 15006,
      WEFT_OUTBOUND_PORT: 15001,
      WEFT_REGISTER: false,
    },
  };
}

const shortOf = (typeUrl: string): ShortType | undefined => SHORT_NAME[typeUrl] as ShortType | undefined;
const zero = (): Record<ShortType, number> => ({ CDS: 0, EDS: 0, LDS: 0, RDS: 0 });

// ───────────────────────────── reading what a proxy needs from resources ─────────────────────────────

/**
 * What a resource makes a proxy subscribe to, cached by content: every simulated proxy receives the
 * same bytes, so each distinct resource is decoded once per process.
 */
class Dependencies {
  private readonly cache = new Map<string, readonly string[]>();
  readonly errors: string[] = [];

  /** A cluster's EDS name (eds_cluster_config.service_name, else its name) as a one-element list, or []. */
  clusterEds(any: RawAny): readonly string[] {
    return this.cached(any, (json) => {
      if (json.type !== 'EDS') return [];
      const eds = json.eds_cluster_config as { service_name?: string } | undefined;
      return [eds?.service_name || String(json.name ?? '')];
    });
  }

  /** The route_config_names of every HTTP connection manager in a listener. */
  listenerRoutes(any: RawAny): readonly string[] {
    return this.cached(any, (json) => {
      const names = new Set<string>();
      const walk = (v: unknown): void => {
        if (Array.isArray(v)) { for (const x of v) walk(x); return; }
        if (v === null || typeof v !== 'object') return;
        const o = v as Record<string, unknown>;
        const rds = o.rds as { route_config_name?: string } | undefined;
        if (rds !== undefined && typeof rds.route_config_name === 'string') names.add(rds.route_config_name);
        for (const x of Object.values(o)) walk(x);
      };
      walk(json);
      return [...names];
    });
  }

  private cached(any: RawAny, derive: (json: Record<string, unknown>) => readonly string[]): readonly string[] {
    const key = `${any.type_url}\u0000${createHash('sha1').update(any.value).digest('base64')}`;
    let v = this.cache.get(key);
    if (v === undefined) {
      try {
        v = derive(decodeToJson(messageType(messageName(any.type_url)), any.value));
      } catch (e) {
        this.errors.push(`${any.type_url}: ${(e as Error).message}`);
        v = [];
      }
      this.cache.set(key, v);
    }
    return v;
  }
}

// ───────────────────────────── one simulated proxy ─────────────────────────────

interface Fleet {
  readonly deps: Dependencies;
  readonly ctor: new (address: string, creds: ReturnType<typeof credentials.createInsecure>, options: object) => Client;
  readonly markGen: () => number;
  emit(e: SimEvent): void;
}

/** Per type: the subscription (EDS, RDS), the last response seen, and whether it was ACKed. */
interface TypeState {
  names: Set<string>;
  version: string;
  nonce: string;
  acked: boolean;
  /** The mark generation of the last reported ACK. */
  reportedGen: number;
}

class SimProxy {
  private client: Client | undefined;
  private stream: ClientDuplexStream<unknown, unknown> | undefined;
  private readonly types = new Map<string, TypeState>();
  /** Delta: cluster → its EDS names, listener → its route names (SotW recomputes from each full response). */
  private readonly clusterDeps = new Map<string, readonly string[]>();
  private readonly listenerDeps = new Map<string, readonly string[]>();
  private synced = false;
  private closing = false;
  private warned = false;
  readonly whenSynced: Promise<void>;
  private resolveSynced!: () => void;

  constructor(readonly index: number, readonly variant: Variant, private readonly fleet: Fleet) {
    this.whenSynced = new Promise((r) => { this.resolveSynced = r; });
    for (const t of [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE]) {
      this.types.set(t, { names: new Set(), version: '', nonce: '', acked: false, reportedGen: 0 });
    }
  }

  start(target: string): void {
    // A local subchannel pool per channel: each proxy gets its own HTTP/2 connection, as real sidecars do.
    this.client = new this.fleet.ctor(target, credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
    });
    const method = this.variant === 'sotw' ? 'StreamAggregatedResources' : 'DeltaAggregatedResources';
    const call = (this.client as unknown as Record<string, () => ClientDuplexStream<unknown, unknown>>)[method]!.call(this.client);
    this.stream = call;
    call.on('data', (r: unknown) => this.onResponse(r));
    call.on('error', (e: Error) => { if (!this.closing) this.fleet.emit({ ev: 'error', proxy: this.index, message: e.message }); });
    call.on('end', () => { if (!this.closing) this.fleet.emit({ ev: 'error', proxy: this.index, message: 'the server ended the stream' }); });
    const node = simNode(this.index);
    if (this.variant === 'sotw') {
      this.write({ node, type_url: CLUSTER_TYPE, resource_names: [] } satisfies DiscoveryRequest);
      this.write({ type_url: LISTENER_TYPE, resource_names: [] } satisfies DiscoveryRequest);
    } else {
      this.write({ node, type_url: CLUSTER_TYPE } satisfies DeltaDiscoveryRequest);
      this.write({ type_url: LISTENER_TYPE } satisfies DeltaDiscoveryRequest);
    }
  }

  close(): void {
    this.closing = true;
    this.stream?.cancel();
    this.client?.close();
  }

  private write(msg: DiscoveryRequest | DeltaDiscoveryRequest): void {
    this.stream?.write(msg);
  }

  private onResponse(r: unknown): void {
    if (this.variant === 'sotw') this.onSotw(r as DiscoveryResponse);
    else this.onDelta(r as DeltaDiscoveryResponse);
    this.reportWarnings();
  }

  private onSotw(r: DiscoveryResponse): void {
    const st = this.types.get(r.type_url);
    if (st === undefined) {
      // A type this simulator does not know: ACK it untouched.
      this.write({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce });
      return;
    }
    // CDS and LDS are full state: the EDS and RDS subscriptions follow them, subscription first (as Envoy).
    if (r.type_url === CLUSTER_TYPE || r.type_url === LISTENER_TYPE) {
      const dep = r.type_url === CLUSTER_TYPE ? ENDPOINT_TYPE : ROUTE_TYPE;
      const wanted = new Set<string>();
      for (const a of r.resources) {
        for (const n of r.type_url === CLUSTER_TYPE ? this.fleet.deps.clusterEds(a) : this.fleet.deps.listenerRoutes(a)) wanted.add(n);
      }
      const ds = this.types.get(dep)!;
      if (!sameSet(wanted, ds.names)) {
        ds.names = wanted;
        ds.acked = wanted.size === 0 ? ds.acked : false;
        this.write({ type_url: dep, resource_names: [...wanted].sort(), version_info: ds.version, response_nonce: ds.nonce });
      }
    }
    st.version = r.version_info;
    st.nonce = r.nonce;
    this.write({ type_url: r.type_url, resource_names: [...st.names].sort(), version_info: r.version_info, response_nonce: r.nonce });
    this.acked(r.type_url, st);
  }

  private onDelta(r: DeltaDiscoveryResponse): void {
    const st = this.types.get(r.type_url);
    if (st === undefined) {
      this.write({ type_url: r.type_url, response_nonce: r.nonce });
      return;
    }
    if (r.type_url === CLUSTER_TYPE || r.type_url === LISTENER_TYPE) {
      const isCds = r.type_url === CLUSTER_TYPE;
      const deps = isCds ? this.clusterDeps : this.listenerDeps;
      for (const res of r.resources) {
        if (res.resource == null) continue;
        deps.set(res.name, isCds ? this.fleet.deps.clusterEds(res.resource) : this.fleet.deps.listenerRoutes(res.resource));
      }
      for (const n of r.removed_resources ?? []) deps.delete(n);
      const wanted = new Set<string>();
      for (const list of deps.values()) for (const n of list) wanted.add(n);
      const ds = this.types.get(isCds ? ENDPOINT_TYPE : ROUTE_TYPE)!;
      const subscribe = [...wanted].filter((n) => !ds.names.has(n)).sort();
      const unsubscribe = [...ds.names].filter((n) => !wanted.has(n)).sort();
      if (subscribe.length > 0 || unsubscribe.length > 0) {
        ds.names = wanted;
        if (subscribe.length > 0) ds.acked = false;
        this.write({ type_url: isCds ? ENDPOINT_TYPE : ROUTE_TYPE, resource_names_subscribe: subscribe, resource_names_unsubscribe: unsubscribe });
      }
    }
    st.nonce = r.nonce;
    this.write({ type_url: r.type_url, response_nonce: r.nonce });
    this.acked(r.type_url, st);
  }

  /** After an ACK was written: the first ACK per type since the mark is reported, and first sync once. */
  private acked(typeUrl: string, st: TypeState): void {
    const at = nowMs();
    st.acked = true;
    const gen = this.fleet.markGen();
    if (gen > 0 && st.reportedGen !== gen) {
      st.reportedGen = gen;
      this.fleet.emit({ ev: 'ack', proxy: this.index, type: shortOf(typeUrl)!, atMs: at });
    }
    if (!this.synced) {
      const t = (u: string) => this.types.get(u)!;
      const ok = (u: string) => t(u).acked || t(u).names.size === 0;
      if (t(CLUSTER_TYPE).acked && t(LISTENER_TYPE).acked && ok(ENDPOINT_TYPE) && ok(ROUTE_TYPE)) {
        this.synced = true;
        this.fleet.emit({ ev: 'synced', proxy: this.index, atMs: at });
        this.resolveSynced();
      }
    }
  }

  private reportWarnings(): void {
    if (this.warned || this.fleet.deps.errors.length === 0) return;
    this.warned = true;
    this.fleet.emit({ ev: 'warn', proxy: this.index, message: this.fleet.deps.errors.join('; ') });
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

// ───────────────────────────── a fleet of them ─────────────────────────────

/**
 * K simulated proxies in one process, sharing one decoded-resource cache and the byte counters.
 *
 * @example
 * const fleet = new SimFleet((e) => console.log(e));
 * await fleet.connect({ target: '127.0.0.1:15010', first: 0, n: 10, variant: 'delta' });
 * fleet.mark();            // count bytes and report first ACKs from here on
 * fleet.close();
 */
export class SimFleet {
  private readonly proxies: SimProxy[] = [];
  private gen = 0;
  private counters: { bytes: Record<ShortType, number>; responses: Record<ShortType, number> } = { bytes: zero(), responses: zero() };
  private readonly deps = new Dependencies();
  private readonly ctor: Fleet['ctor'];

  constructor(private readonly onEvent: (e: SimEvent) => void) {
    // ADS with a response decoder that counts each response's bytes (the gRPC message, without its 5-byte frame header).
    const counting = (orig: (b: Buffer) => { type_url: string }) => (b: Buffer) => {
      const r = orig(b);
      const s = shortOf(r.type_url);
      if (s !== undefined) {
        this.counters.bytes[s] += b.length;
        this.counters.responses[s] += 1;
      }
      return r;
    };
    const def = {
      StreamAggregatedResources: { ...ADS_SERVICE.StreamAggregatedResources, responseDeserialize: counting(ADS_SERVICE.StreamAggregatedResources.responseDeserialize) },
      DeltaAggregatedResources: { ...ADS_SERVICE.DeltaAggregatedResources, responseDeserialize: counting(ADS_SERVICE.DeltaAggregatedResources.responseDeserialize) },
    };
    this.ctor = makeGenericClientConstructor(def, 'AggregatedDiscoveryService') as unknown as Fleet['ctor'];
  }

  /**
   * Starts `n` proxies numbered from `first`, at most `concurrency` of them syncing at a time (a
   * rollout, not a thundering herd); resolves when every one has synced.
   */
  async connect(o: { target: string; first: number; n: number; variant: Variant; concurrency?: number }): Promise<void> {
    const fleet: Fleet = {
      deps: this.deps,
      ctor: this.ctor,
      markGen: () => this.gen,
      emit: (e) => this.onEvent(e),
    };
    const limit = Math.max(1, o.concurrency ?? 50);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < o.n) {
        const p = new SimProxy(o.first + next++, o.variant, fleet);
        this.proxies.push(p);
        p.start(o.target);
        await p.whenSynced;
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, o.n) }, worker));
  }

  /** Starts a measurement: zeroes the counters; the next ACK of each type by each proxy is reported. */
  mark(): void {
    this.gen += 1;
    this.counters = { bytes: zero(), responses: zero() };
  }

  /** Bytes and responses received since the last mark. */
  stats(): SimCounters {
    return { bytes: { ...this.counters.bytes }, responses: { ...this.counters.responses } };
  }

  get size(): number {
    return this.proxies.length;
  }

  close(): void {
    for (const p of this.proxies.splice(0)) p.close();
  }
}
