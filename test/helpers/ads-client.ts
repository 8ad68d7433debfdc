// Test clients for the xDS server: raw grpc-js ADS streams (SotW and delta) with a response queue,
// a fake generator whose output tests change, and small Envoy resource builders.
import { credentials, makeGenericClientConstructor, type Client, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { ADS_SERVICE, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse, type NodeJson } from '../../src/xds/ads-service.js';
import { decodeToJson, type RawAny } from '../../src/xds/proto-json.js';
import { messageType } from '../../src/xds/protos.js';
import { messageName } from '../../src/xds/resource-types.js';
import type { ProxyInfo, ProxyResources, XdsGenerator } from '../../src/control/model.js';

/** A type URL no generator knows, used to prove that nothing else is queued on a stream. */
export const PROBE_TYPE = 'type.googleapis.com/weft.test.Probe';

const AdsClient = makeGenericClientConstructor(ADS_SERVICE, 'ads');

/** One ADS stream; responses are queued and taken in order with `next()`. */
export class AdsTestStream<Req, Res extends { readonly type_url: string; readonly nonce: string }> {
  private readonly queue: Res[] = [];
  private readonly waiters: { resolve: (r: Res) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | undefined;
  /** Resolves with the call's final status. */
  readonly ended: Promise<{ code: number; details: string }>;
  private probeNonce = '';
  private probes = 0;

  constructor(private readonly client: Client, readonly call: ClientDuplexStream<Req, Res>, private readonly delta: boolean) {
    call.on('data', (r: Res) => {
      const w = this.waiters.shift();
      if (w !== undefined) w.resolve(r); else this.queue.push(r);
    });
    this.ended = new Promise((resolve) => {
      call.on('status', (s) => resolve({ code: s.code, details: s.details }));
    });
    const fail = (e: Error) => {
      this.failure = e;
      for (const w of this.waiters.splice(0)) w.reject(e);
    };
    call.on('error', (e: ServiceError) => fail(e));
    call.on('end', () => fail(new Error('stream ended')));
  }

  send(req: Req): void {
    this.call.write(req);
  }

  /** The next response (waits for it). */
  next(): Promise<Res> {
    const r = this.queue.shift();
    if (r !== undefined) return Promise.resolve(r);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** The next `n` responses. */
  async take(n: number): Promise<Res[]> {
    const out: Res[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next());
    return out;
  }

  /**
   * Proves the server has nothing else queued for this stream: asks for one more name of an
   * unknown type (always answered) and checks that the very next response is that answer.
   */
  async expectNothingElse(): Promise<void> {
    const name = `probe-${++this.probes}`;
    if (this.delta) {
      this.send({ type_url: PROBE_TYPE, resource_names_subscribe: [name], response_nonce: this.probeNonce } as Req);
    } else {
      this.send({ type_url: PROBE_TYPE, resource_names: [name], response_nonce: this.probeNonce } as Req);
    }
    const r = await this.next();
    if (r.type_url !== PROBE_TYPE) throw new Error(`expected nothing but the probe's answer, got a ${r.type_url} response`);
    this.probeNonce = r.nonce;
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

export type SotwStream = AdsTestStream<DiscoveryRequest, DiscoveryResponse>;
export type DeltaStream = AdsTestStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

/** mTLS to the control plane: its bundle, this client's chain and key; the server is verified as `weft-control`. */
export interface AdsTls { readonly bundle: string; readonly chain?: string; readonly key?: string }

export function sotwStream(port: number, tls?: AdsTls): SotwStream {
  const client = tls === undefined ? new AdsClient(`127.0.0.1:${port}`, credentials.createInsecure())
    : new AdsClient(`127.0.0.1:${port}`, credentials.createSsl(Buffer.from(tls.bundle), tls.key === undefined ? null : Buffer.from(tls.key), tls.chain === undefined ? null : Buffer.from(tls.chain)),
      { 'grpc.ssl_target_name_override': 'weft-control', 'grpc.default_authority': 'weft-control' });
  const call = (client as unknown as { StreamAggregatedResources(): ClientDuplexStream<DiscoveryRequest, DiscoveryResponse> }).StreamAggregatedResources();
  return new AdsTestStream(client, call, false);
}

export function deltaStream(port: number): DeltaStream {
  const client = new AdsClient(`127.0.0.1:${port}`, credentials.createInsecure());
  const call = (client as unknown as { DeltaAggregatedResources(): ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse> }).DeltaAggregatedResources();
  return new AdsTestStream(client, call, true);
}

/** A sidecar node (or a proxyless gRPC one with `grpc: true`). */
export function node(id: string, opts: { grpc?: boolean } = {}): NodeJson {
  return { id, cluster: 'test', metadata: { NAMESPACE: 'default', ...(opts.grpc === true ? { GENERATOR: 'grpc' } : {}) } };
}

/** A resource's JSON form from its Any. */
export function decode(any: RawAny): Record<string, unknown> {
  return decodeToJson(messageType(messageName(any.type_url)), any.value);
}

// ── a fake generator ──

type Shape = Record<string, Record<string, object>>;

/** Returns `shapes[proxy.id] ?? shapes['*']`, as shared frozen maps (one per shape), and records calls. */
export class FakeGenerator implements XdsGenerator {
  version = 1;
  readonly calls: { id: string; requested: string[] }[] = [];
  private readonly built = new Map<Shape, ProxyResources>();
  constructor(public shapes: Record<string, Shape | ((requested: ReadonlySet<string>) => Shape)>) {}

  /** Replaces a shape (the next push sees it). */
  set(key: string, shape: Shape): void {
    this.shapes[key] = shape;
    this.version++;
  }

  generate(proxy: ProxyInfo, requested: ReadonlySet<string>): ProxyResources {
    this.calls.push({ id: proxy.id, requested: [...requested].sort() });
    const s = this.shapes[proxy.id] ?? this.shapes['*'];
    if (s === undefined) return new Map();
    const shape = typeof s === 'function' ? s(requested) : s;
    let out = this.built.get(shape);
    if (out === undefined) {
      out = new Map(Object.entries(shape).map(([t, byName]) => [t, new Map(Object.entries(byName))]));
      this.built.set(shape, out);
    }
    return out;
  }

  callsFor(id: string): number {
    return this.calls.filter((c) => c.id === id).length;
  }
}

// ── resource builders (frozen, like the real generator's) ──

const deepFreeze = <T>(o: T): T => {
  if (o !== null && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
};

export function cluster(name: string, connectTimeout = '1s'): object {
  return deepFreeze({ name, type: 'EDS', connect_timeout: connectTimeout, eds_cluster_config: { eds_config: { ads: {} } } });
}

export function endpoints(name: string, port: number): object {
  return deepFreeze({
    cluster_name: name,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }],
  });
}

export function listener(name: string, port: number, routeName: string): object {
  return deepFreeze({
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          stat_prefix: name,
          rds: { route_config_name: routeName, config_source: { ads: {}, resource_api_version: 'V3' } },
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
        },
      }],
    }],
  });
}

export function route(name: string, clusterName: string): object {
  return deepFreeze({
    name,
    virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: clusterName } }] }],
  });
}
