// Micro-benchmark of the xDS server (src/control/xds-server/): N in-process ADS clients (SotW or
// delta) sharing one mesh shape; times the initial fan-out, a one-endpoint change and a no-op push,
// and reports bytes and encodings. Clients share the CPU with the server: read numbers as upper bounds.
// Run: node dist/bench/xds.js [--proxies 200] [--clusters 50] [--variant sotw|delta|both]
import { credentials, makeGenericClientConstructor, type ClientDuplexStream } from '@grpc/grpc-js';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import type { ProxyResources, XdsGenerator } from '../src/control/model.js';
import { XdsServer } from '../src/control/xds-server/index.js';
import { setLevel } from '../src/observe/logger.js';
import { protoRoot } from '../src/xds/protos.js';
import { ADS_SERVICE, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse } from '../src/xds/ads-service.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../src/xds/resource-types.js';

const { values } = parseArgs({
  options: {
    proxies: { type: 'string', default: '200' },
    clusters: { type: 'string', default: '50' },
    variant: { type: 'string', default: 'both' },
  },
});
const PROXIES = Number(values.proxies);
const CLUSTERS = Number(values.clusters);
setLevel('warning');

const freeze = <T>(o: T): T => {
  if (o !== null && typeof o === 'object') { for (const v of Object.values(o)) freeze(v); Object.freeze(o); }
  return o;
};
const clusterNames = Array.from({ length: CLUSTERS }, (_, i) => `outbound|80||svc-${i}.default.svc.cluster.local`);
const cluster = (name: string) => freeze({ name, type: 'EDS', connect_timeout: '10s', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name } });
const cla = (name: string, port: number) => freeze({
  cluster_name: name,
  endpoints: [{ lb_endpoints: [1, 2, 3].map((h) => ({ endpoint: { address: { socket_address: { address: `10.0.0.${h}`, port_value: port } } } })) }],
});
const routeConfig = freeze({
  name: '80',
  virtual_hosts: clusterNames.map((n, i) => ({ name: `svc-${i}`, domains: [`svc-${i}`, `svc-${i}.default.svc.cluster.local`], routes: [{ match: { prefix: '/' }, route: { cluster: n, timeout: '15s' } }] })),
});
const listener = freeze({
  name: '0.0.0.0_80',
  address: { socket_address: { address: '0.0.0.0', port_value: 80 } },
  filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: 'outbound_0.0.0.0_80', rds: { route_config_name: '80', config_source: { ads: {}, resource_api_version: 'V3' } },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
  } }] }],
});

/** Every proxy gets the same shared maps, as a real generator does for proxies of one shape. */
class SharedGenerator implements XdsGenerator {
  version = 1;
  resources!: ProxyResources;
  private eds: ReadonlyMap<string, object> = new Map(clusterNames.map((n) => [n, cla(n, 8080) as object]));
  constructor() { this.build(); }
  bumpOneEndpoint(): void {
    this.version++;
    this.eds = new Map(this.eds).set(clusterNames[0]!, cla(clusterNames[0]!, 8080 + this.version));
    this.build();
  }
  private build(): void {
    this.resources = new Map<string, ReadonlyMap<string, object>>([
      [CLUSTER_TYPE, CLUSTERS_MAP],
      [ENDPOINT_TYPE, this.eds],
      [LISTENER_TYPE, new Map([[listener.name, listener]])],
      [ROUTE_TYPE, new Map([[routeConfig.name, routeConfig]])],
    ]);
  }
  generate(): ProxyResources { return this.resources; }
}
const CLUSTERS_MAP: ReadonlyMap<string, object> = new Map(clusterNames.map((n) => [n, cluster(n)]));

const Ads = makeGenericClientConstructor(ADS_SERVICE, 'ads');

interface BenchClient {
  /** Resolves when `n` responses in total have arrived. */
  until(n: number): Promise<void>;
  close(): void;
}

function sotwClient(port: number, id: number): BenchClient {
  const client = new Ads(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  const call = (client as unknown as { StreamAggregatedResources(): ClientDuplexStream<DiscoveryRequest, DiscoveryResponse> }).StreamAggregatedResources();
  const names: Record<string, string[]> = { [ENDPOINT_TYPE]: clusterNames, [ROUTE_TYPE]: ['80'] };
  let count = 0;
  let waiter: { n: number; resolve: () => void } | undefined;
  call.on('data', (r: DiscoveryResponse) => {
    count++;
    call.write({ type_url: r.type_url, response_nonce: r.nonce, version_info: r.version_info, resource_names: names[r.type_url] ?? [] });
    if (waiter !== undefined && count >= waiter.n) { const w = waiter; waiter = undefined; w.resolve(); }
  });
  call.on('error', () => {});
  const node = { id: `sidecar~10.1.${id >> 8}.${id & 255}~p${id}.default~default.svc.cluster.local`, metadata: { NAMESPACE: 'default' } };
  call.write({ node, type_url: CLUSTER_TYPE });
  call.write({ type_url: ENDPOINT_TYPE, resource_names: clusterNames });
  call.write({ type_url: LISTENER_TYPE });
  call.write({ type_url: ROUTE_TYPE, resource_names: ['80'] });
  return {
    until: (n) => (count >= n ? Promise.resolve() : new Promise((resolve) => { waiter = { n, resolve }; })),
    close: () => { call.cancel(); client.close(); },
  };
}

function deltaClient(port: number, id: number): BenchClient {
  const client = new Ads(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  const call = (client as unknown as { DeltaAggregatedResources(): ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse> }).DeltaAggregatedResources();
  let count = 0;
  let waiter: { n: number; resolve: () => void } | undefined;
  call.on('data', (r: DeltaDiscoveryResponse) => {
    count++;
    call.write({ type_url: r.type_url, response_nonce: r.nonce });
    if (waiter !== undefined && count >= waiter.n) { const w = waiter; waiter = undefined; w.resolve(); }
  });
  call.on('error', () => {});
  const node = { id: `sidecar~10.1.${id >> 8}.${id & 255}~p${id}.default~default.svc.cluster.local`, metadata: { NAMESPACE: 'default' } };
  call.write({ node, type_url: CLUSTER_TYPE });
  call.write({ type_url: ENDPOINT_TYPE, resource_names_subscribe: clusterNames });
  call.write({ type_url: LISTENER_TYPE });
  call.write({ type_url: ROUTE_TYPE, resource_names_subscribe: ['80'] });
  return {
    until: (n) => (count >= n ? Promise.resolve() : new Promise((resolve) => { waiter = { n, resolve }; })),
    close: () => { call.cancel(); client.close(); },
  };
}

const ms = (t0: bigint) => (Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1);
const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;

async function run(variant: 'sotw' | 'delta'): Promise<void> {
  const gen = new SharedGenerator();
  const server = new XdsServer({ generator: gen, port: 0, host: '127.0.0.1', debounceMs: 1, maxDebounceMs: 10 });
  const { port } = await server.start();
  const bytes = () => server.stats().bytesSent[variant];
  try {
    let t0 = process.hrtime.bigint();
    const clients = Array.from({ length: PROXIES }, (_, i) => (variant === 'sotw' ? sotwClient(port, i) : deltaClient(port, i)));
    await Promise.all(clients.map((c) => c.until(4)));
    const initialMs = ms(t0);
    const initialBytes = bytes();

    t0 = process.hrtime.bigint();
    gen.bumpOneEndpoint();
    server.push();
    await Promise.all(clients.map((c) => c.until(5)));
    const changeMs = ms(t0);
    const changeBytes = bytes() - initialBytes;

    t0 = process.hrtime.bigint();
    server.push();
    const [round] = await once(server, 'pushed');
    const noopMs = ms(t0);

    const st = server.stats();
    console.log(`${variant.padEnd(5)} ${PROXIES} proxies × ${CLUSTERS} clusters: initial ${initialMs} ms (${kib(initialBytes)}), `
      + `one endpoint changed ${changeMs} ms (${kib(changeBytes)}), no-op push ${noopMs} ms (${round.responses} responses), `
      + `encodings ${st.encodings}, responses ${st.responses}`);
    for (const c of clients) c.close();
  } finally {
    await server.close();
  }
}

protoRoot(); // load and parse the protos before timing anything
const variants = values.variant === 'both' ? (['sotw', 'delta'] as const) : [values.variant as 'sotw' | 'delta'];
for (const v of variants) await run(v);
