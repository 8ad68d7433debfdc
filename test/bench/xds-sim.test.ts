// The benchmark's simulated sidecars (bench/xds/sim-proxy.ts, sim-proxies.ts) against a small fake
// ADS server on port 0: they subscribe as Envoy does, ACK every response, report first ACKs after a
// mark and count exactly the bytes the server sent, over SotW and delta, in-process and over IPC.
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { test } from 'node:test';
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { fileURLToPath } from 'node:url';
import { SimFleet, nowMs, type SimEvent } from '../../bench/xds/sim-proxy.js';
import type { SimCommand, SimMessage } from '../../bench/xds/sim-proxies.js';
import {
  ADS_SERVICE, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse,
} from '../../src/xds/ads-service.js';
import { encodeFromJson, type RawAny } from '../../src/xds/proto-json.js';
import { messageType } from '../../src/xds/protos.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, isWildcardType, LISTENER_TYPE, messageName, ROUTE_TYPE } from '../../src/xds/resource-types.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

function any(typeUrl: string, json: unknown): RawAny {
  return { type_url: typeUrl, value: encodeFromJson(messageType(messageName(typeUrl)), json) };
}

const edsCluster = (name: string, serviceName?: string) => ({
  name, type: 'EDS', connect_timeout: '1s',
  eds_cluster_config: { eds_config: { ads: {} }, ...(serviceName ? { service_name: serviceName } : {}) },
});
const cla = (name: string, ports: number[]) => ({
  cluster_name: name,
  endpoints: [{ lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } } })) }],
});
const listener = (name: string, port: number, route: string) => ({
  name,
  address: { socket_address: { address: '127.0.0.1', port_value: port } },
  filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: {
    '@type': HCM, stat_prefix: name,
    rds: { route_config_name: route, config_source: { ads: {}, resource_api_version: 'V3' } },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
  } }] }],
});
const routeConfig = (name: string, cluster: string) => ({
  name, virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }],
});

interface StreamState {
  readonly delta: boolean;
  readonly subs: Map<string, Set<string>>;
  readonly wildcard: Set<string>;
  readonly sent: Map<string, number>;
}

/**
 * A tiny ADS server: a fixed resource set per type, every subscribed resource sent on subscription
 * and on change (SotW: the whole subscribed set of the type; delta: the changed resource only). It
 * records every request and counts the bytes of every response it serializes.
 */
class FakeAds {
  readonly resources = new Map<string, Map<string, RawAny>>([[CLUSTER_TYPE, new Map()], [ENDPOINT_TYPE, new Map()], [LISTENER_TYPE, new Map()], [ROUTE_TYPE, new Map()]]);
  readonly versions = new Map<string, number>();
  readonly requests: (DiscoveryRequest | DeltaDiscoveryRequest)[] = [];
  readonly bytes = new Map<string, number>();
  private readonly streams = new Map<ServerDuplexStream<unknown, unknown>, StreamState>();
  private readonly server = new Server();
  private nonce = 0;
  private readonly waiters: (() => void)[] = [];

  /** Resolves once `count` received requests match. */
  async received(pred: (r: DiscoveryRequest & DeltaDiscoveryRequest) => boolean, count: number): Promise<void> {
    while (this.requests.filter((r) => pred(r as DiscoveryRequest & DeltaDiscoveryRequest)).length < count) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  set(typeUrl: string, name: string, json: unknown): void {
    this.resources.get(typeUrl)!.set(name, any(typeUrl, json));
    this.versions.set(typeUrl, (this.versions.get(typeUrl) ?? 0) + 1);
  }

  /** Pushes one changed resource to every stream subscribed to it. */
  change(typeUrl: string, name: string, json: unknown): void {
    this.set(typeUrl, name, json);
    for (const [call, st] of this.streams) {
      if (st.wildcard.has(typeUrl) || st.subs.get(typeUrl)?.has(name)) this.send(call, st, typeUrl, st.delta ? [name] : undefined);
    }
  }

  async start(): Promise<number> {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const count = (orig: (v: any) => Buffer) => (v: { type_url: string }) => {
      const b = orig(v);
      const t = v.type_url;
      this.bytes.set(t, (this.bytes.get(t) ?? 0) + b.length);
      return b;
    };
    const def = {
      StreamAggregatedResources: { ...ADS_SERVICE.StreamAggregatedResources, responseSerialize: count(ADS_SERVICE.StreamAggregatedResources.responseSerialize) },
      DeltaAggregatedResources: { ...ADS_SERVICE.DeltaAggregatedResources, responseSerialize: count(ADS_SERVICE.DeltaAggregatedResources.responseSerialize) },
    };
    this.server.addService(def, {
      StreamAggregatedResources: (call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) => this.serve(call as ServerDuplexStream<unknown, unknown>, false),
      DeltaAggregatedResources: (call: ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) => this.serve(call as ServerDuplexStream<unknown, unknown>, true),
    });
    return new Promise((resolve, reject) => this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, port) => (e ? reject(e) : resolve(port))));
  }

  close(): void {
    for (const call of this.streams.keys()) call.end();
    this.server.forceShutdown();
  }

  private serve(call: ServerDuplexStream<unknown, unknown>, delta: boolean): void {
    const st: StreamState = { delta, subs: new Map(), wildcard: new Set(), sent: new Map() };
    this.streams.set(call, st);
    call.on('data', (r: DiscoveryRequest & DeltaDiscoveryRequest) => {
      this.requests.push(r);
      for (const w of this.waiters.splice(0)) w();
      const t = r.type_url!;
      const first = !st.subs.has(t) && !st.wildcard.has(t);
      if (delta) {
        const subs = st.subs.get(t) ?? new Set();
        st.subs.set(t, subs);
        const added = (r.resource_names_subscribe ?? []).filter((n) => !subs.has(n));
        for (const n of added) subs.add(n);
        for (const n of r.resource_names_unsubscribe ?? []) subs.delete(n);
        if (first && isWildcardType(t) && added.length === 0) { st.wildcard.add(t); this.send(call, st, t, undefined); }
        else if (added.length > 0) this.send(call, st, t, added);
      } else {
        const names = new Set(r.resource_names ?? []);
        const old = st.subs.get(t);
        st.subs.set(t, names);
        if (first && isWildcardType(t) && names.size === 0) { st.wildcard.add(t); this.send(call, st, t, undefined); }
        else if (old === undefined || old.size !== names.size || [...names].some((n) => !old.has(n))) this.send(call, st, t, undefined);
      }
    });
    call.on('error', () => undefined);
    call.on('end', () => { this.streams.delete(call); call.end(); });
  }

  private send(call: ServerDuplexStream<unknown, unknown>, st: StreamState, t: string, only: string[] | undefined): void {
    const all = this.resources.get(t)!;
    const names = only ?? (st.wildcard.has(t) ? [...all.keys()] : [...(st.subs.get(t) ?? [])]);
    const have = names.filter((n) => all.has(n));
    const version = String(this.versions.get(t) ?? 0);
    const nonce = String(++this.nonce);
    if (st.delta) {
      call.write({ type_url: t, nonce, system_version_info: version, resources: have.map((n) => ({ name: n, version, resource: all.get(n)! })) } satisfies DeltaDiscoveryResponse);
    } else {
      call.write({ type_url: t, nonce, version_info: version, resources: have.map((n) => all.get(n)!) } satisfies DiscoveryResponse);
    }
  }
}

/** A mesh of three clusters (two EDS, one of them with a service_name, one STATIC), one listener, one route. */
async function fakeMesh(t: { after: (fn: () => void) => void }): Promise<{ ads: FakeAds; port: number }> {
  const ads = new FakeAds();
  ads.set(CLUSTER_TYPE, 'outbound|80||a', edsCluster('outbound|80||a'));
  ads.set(CLUSTER_TYPE, 'outbound|80|v1|b', edsCluster('outbound|80|v1|b', 'b-v1'));
  ads.set(CLUSTER_TYPE, 'static', { name: 'static', type: 'STATIC', connect_timeout: '1s', load_assignment: cla('static', [1]) });
  ads.set(ENDPOINT_TYPE, 'outbound|80||a', cla('outbound|80||a', [8001, 8002]));
  ads.set(ENDPOINT_TYPE, 'b-v1', cla('b-v1', [8003]));
  ads.set(LISTENER_TYPE, 'virtualOutbound', listener('virtualOutbound', 15001, '80'));
  ads.set(ROUTE_TYPE, '80', routeConfig('80', 'outbound|80||a'));
  const port = await ads.start();
  t.after(() => ads.close());
  return { ads, port };
}

/** Resolves when `count` events match. */
function collector() {
  const events: SimEvent[] = [];
  const waiters: { pred: (e: SimEvent) => boolean; count: number; resolve: () => void }[] = [];
  const onEvent = (e: SimEvent) => {
    events.push(e);
    for (const w of [...waiters]) {
      if (events.filter(w.pred).length >= w.count) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
    }
  };
  const until = (pred: (e: SimEvent) => boolean, count: number) => new Promise<void>((resolve) => {
    if (events.filter(pred).length >= count) resolve();
    else waiters.push({ pred, count, resolve });
  });
  return { events, onEvent, until };
}

test('SotW: 10 proxies subscribe to EDS and RDS by name, report one EDS ACK each after a mark, and count the bytes sent', async (t) => {
  const { ads, port } = await fakeMesh(t);
  const c = collector();
  const fleet = new SimFleet(c.onEvent);
  t.after(() => fleet.close());
  await fleet.connect({ target: `127.0.0.1:${port}`, first: 0, n: 10, variant: 'sotw', concurrency: 4 });
  assert.equal(c.events.filter((e) => e.ev === 'synced').length, 10);
  assert.deepEqual(c.events.filter((e) => e.ev === 'error' || e.ev === 'warn'), []);
  const eds = ads.requests.filter((r) => r.type_url === ENDPOINT_TYPE) as DiscoveryRequest[];
  // Each proxy asks for exactly the EDS clusters' names (service_name when set), then ACKs with them.
  assert.ok(eds.length >= 10);
  for (const r of eds) assert.deepEqual(r.resource_names, ['b-v1', 'outbound|80||a']);
  const rds = ads.requests.filter((r) => r.type_url === ROUTE_TYPE) as DiscoveryRequest[];
  for (const r of rds) assert.deepEqual(r.resource_names, ['80']);
  // The node goes on the first request of each stream only, and it names the proxy.
  const nodes = ads.requests.filter((r) => r.node !== undefined).map((r) => r.node!.id).sort();
  assert.equal(nodes.length, 10);
  assert.equal(nodes[0], 'sidecar~127.0.0.1~sim-0.default~default.svc.cluster.local');

  fleet.mark();
  ads.bytes.clear();
  const t0 = nowMs();
  ads.change(ENDPOINT_TYPE, 'b-v1', cla('b-v1', [8003, 8004]));
  await c.until((e) => e.ev === 'ack' && e.type === 'EDS', 10);
  const acks = c.events.filter((e) => e.ev === 'ack');
  assert.equal(acks.length, 10, 'one ACK per proxy, only of the changed type');
  assert.deepEqual(new Set(acks.map((e) => (e as { proxy: number }).proxy)), new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
  for (const e of acks) assert.ok((e as { atMs: number }).atMs >= t0);
  // The ACKs carry the version of the response.
  const v = String(ads.versions.get(ENDPOINT_TYPE));
  await ads.received((r) => r.type_url === ENDPOINT_TYPE && r.version_info === v && r.response_nonce !== '', 10);
  const s = fleet.stats();
  assert.equal(s.responses.EDS, 10);
  assert.equal(s.bytes.EDS, ads.bytes.get(ENDPOINT_TYPE));
  assert.equal(s.bytes.CDS + s.bytes.LDS + s.bytes.RDS, 0);
});

test('delta over IPC: a forked sim process connects 10 proxies, follows a new EDS cluster, and reports ACKs and bytes', async (t) => {
  const { ads, port } = await fakeMesh(t);
  const child = fork(fileURLToPath(new URL('../../bench/xds/sim-proxies.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise((r) => child.on('exit', r));
  t.after(async () => { if (child.connected) child.disconnect(); await exited; });
  const msgs: SimMessage[] = [];
  const waiters: (() => void)[] = [];
  child.on('message', (m: SimMessage) => { msgs.push(m); for (const w of waiters.splice(0)) w(); });
  const until = async (pred: (m: SimMessage) => boolean, count = 1): Promise<void> => {
    while (msgs.filter(pred).length < count) await new Promise<void>((r) => waiters.push(r));
  };
  const send = (c: SimCommand) => child.send(c);

  send({ cmd: 'connect', target: `127.0.0.1:${port}`, first: 100, n: 10, variant: 'delta' });
  await until((m) => m.ev === 'connected');
  assert.equal(msgs.filter((m) => m.ev === 'synced').length, 10);
  assert.ok(msgs.some((m) => m.ev === 'synced' && m.proxy === 109));
  const subs = (ads.requests as DeltaDiscoveryRequest[]).filter((r) => r.type_url === ENDPOINT_TYPE && (r.resource_names_subscribe ?? []).length > 0).map((r) => r.resource_names_subscribe);
  assert.equal(subs.length, 10);
  for (const s of subs) assert.deepEqual(s, ['b-v1', 'outbound|80||a']);

  send({ cmd: 'mark' });
  await until((m) => m.ev === 'marked');
  ads.bytes.clear();
  // A new EDS cluster: each proxy ACKs CDS, subscribes to the new name, and ACKs its EDS.
  ads.set(ENDPOINT_TYPE, 'outbound|80||c', cla('outbound|80||c', [8005]));
  ads.change(CLUSTER_TYPE, 'outbound|80||c', edsCluster('outbound|80||c'));
  await until((m) => m.ev === 'ack' && m.type === 'EDS', 10);
  await until((m) => m.ev === 'ack' && m.type === 'CDS', 10);
  const newSubs = (ads.requests as DeltaDiscoveryRequest[]).filter((r) => r.type_url === ENDPOINT_TYPE && r.resource_names_subscribe?.includes('outbound|80||c'));
  assert.equal(newSubs.length, 10);
  for (const r of newSubs) assert.deepEqual(r.resource_names_subscribe, ['outbound|80||c']);
  send({ cmd: 'stats' });
  await until((m) => m.ev === 'stats');
  const s = msgs.find((m) => m.ev === 'stats') as Extract<SimMessage, { ev: 'stats' }>;
  assert.deepEqual(s.responses, { CDS: 10, EDS: 10, LDS: 0, RDS: 0 });
  assert.equal(s.bytes.CDS, ads.bytes.get(CLUSTER_TYPE));
  assert.equal(s.bytes.EDS, ads.bytes.get(ENDPOINT_TYPE));

  send({ cmd: 'close' });
  await until((m) => m.ev === 'closed');
  assert.equal(await exited, 0);
});
