// Builders for Envoy v3 bootstraps as plain objects, rendered to YAML (with the `yaml` package) for
// startProxy, plus the small client-side helpers the integration tests share: an HTTP/1.1 request
// that returns status / headers / body, a port nothing listens on, and an event-driven wait for
// access-log lines.

import http from 'node:http';
import net from 'node:net';
import { readFileSync, watch } from 'node:fs';
import { stringify } from 'yaml';

export type Obj = Record<string, unknown>;

export const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
export const FILE_LOG_TYPE = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
export const UPSTREAM_HTTP_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** An HTTP connection manager network filter. `routes` go into one `*` virtual host unless `virtualHosts` is given. */
export function hcm(o: {
  statPrefix?: string;
  routes?: Obj[];
  virtualHosts?: Obj[];
  /** Extra keys of route_config (e.g. header mutations at that level). */
  routeConfig?: Obj;
  /** Extra keys of the HttpConnectionManager (timeouts, access_log, use_remote_address, ...). */
  extra?: Obj;
  /** HTTP filters before the router. */
  httpFilters?: Obj[];
}): Obj {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': HCM_TYPE,
      stat_prefix: o.statPrefix ?? 'ingress',
      route_config: {
        name: 'local',
        virtual_hosts: o.virtualHosts ?? [{ name: 'all', domains: ['*'], routes: o.routes ?? [] }],
        ...o.routeConfig,
      },
      http_filters: [...(o.httpFilters ?? []), { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }],
      ...o.extra,
    },
  };
}

/**
 * A bootstrap object (not YAML) with one listener whose HCM runs `filter` (an `http_filters` entry)
 * before the router, one route `/` to cluster `app` (plus `routeExtra` keys), and `clusters`: what
 * the HTTP filter decoder tests start from.
 */
export function oneFilterBootstrap(filter: Obj, clusters: Obj[], routeExtra: Obj = {}): Obj {
  return {
    static_resources: {
      listeners: [listener({ filter: hcm({ statPrefix: 't', routes: [{ match: { prefix: '/' }, route: { cluster: 'app' }, ...routeExtra }], httpFilters: [filter] }) })],
      clusters,
    },
  };
}

/** A listener; by default on 127.0.0.1:0 with one filter chain holding `filter`. */
export function listener(o: { name?: string; address?: string; port?: number; filter?: Obj; chains?: Obj[]; defaultChain?: Obj }): Obj {
  const out: Obj = {
    name: o.name ?? 'main',
    address: { socket_address: { address: o.address ?? '127.0.0.1', port_value: o.port ?? 0 } },
  };
  if (o.chains !== undefined) out.filter_chains = o.chains;
  else if (o.filter !== undefined) out.filter_chains = [{ filters: [o.filter] }];
  if (o.defaultChain !== undefined) out.default_filter_chain = o.defaultChain;
  return out;
}

/** One lb_endpoint on 127.0.0.1 (or `address`), with extra LbEndpoint keys (health_status, load_balancing_weight). */
export function endpoint(port: number, extra: Obj = {}, address = '127.0.0.1'): Obj {
  return { endpoint: { address: { socket_address: { address, port_value: port } } }, ...extra };
}

/**
 * A cluster. `endpoints` are ports or lb_endpoint objects in one locality, or, given
 * `localities`, the whole `endpoints` list of the load assignment.
 */
export function cluster(name: string, endpoints: Array<number | Obj>, extra: Obj = {}, localities?: Obj[]): Obj {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: name,
      endpoints: localities ?? [{ lb_endpoints: endpoints.map((e) => (typeof e === 'number' ? endpoint(e) : e)) }],
    },
    ...extra,
  };
}

/** The whole bootstrap as YAML. */
export function bootstrap(o: { listeners: Obj[]; clusters?: Obj[]; admin?: boolean }): string {
  const doc: Obj = {};
  if (o.admin) doc.admin = { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } };
  doc.static_resources = { listeners: o.listeners, clusters: o.clusters ?? [] };
  return stringify(doc);
}

/** Shorthand: one listener with one connection manager, and the given clusters. */
export function simple(o: Parameters<typeof hcm>[0] & { clusters?: Obj[]; admin?: boolean }): string {
  return bootstrap({ listeners: [listener({ filter: hcm(o) })], clusters: o.clusters, admin: o.admin });
}

/** A route matching a path prefix, sending to a cluster (extra RouteAction keys in `action`). */
export function toCluster(prefix: string, clusterName: string, action: Obj = {}, extra: Obj = {}): Obj {
  return { match: { prefix }, route: { cluster: clusterName, ...action }, ...extra };
}

/** A route answering directly with `body` (status 200 unless given). */
export function direct(match: Obj, body: string, status = 200, extra: Obj = {}): Obj {
  return { match, direct_response: { status, body: { inline_string: body } }, ...extra };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * One HTTP/1.1 request with node:http. `agent: false` (the default) uses a fresh connection;
 * pass a keep-alive agent to reuse connections.
 */
export function request(port: number, path: string, o: {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string | Buffer;
  agent?: http.Agent | false;
  host?: string;
  localAddress?: string;
} = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: o.host ?? '127.0.0.1',
      port,
      path,
      method: o.method ?? 'GET',
      headers: o.headers,
      agent: o.agent ?? false,
      localAddress: o.localAddress,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** Runs `n` async jobs with at most `concurrency` at a time; results in job order. */
export async function parallel<T>(n: number, concurrency: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) { const i = next++; out[i] = await job(i); }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker));
  return out;
}

/** A TCP port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * Resolves with the non-empty lines of a file once there are at least `n`, woken by fs.watch
 * (the access logger flushes in batches); rejects after `timeoutMs` with what was there.
 */
export function waitForLines(path: string, n: number, timeoutMs = 3000): Promise<string[]> {
  const read = (): string[] => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
  return new Promise((resolve, reject) => {
    const watcher = watch(path);
    const finish = (err: Error | null, lines?: string[]): void => {
      clearTimeout(timer);
      watcher.close();
      if (err !== null) reject(err); else resolve(lines!);
    };
    const check = (): void => {
      const lines = read();
      if (lines.length >= n) finish(null, lines);
    };
    const timer = setTimeout(() => finish(new Error(`expected ${n} lines in ${path}, got:\n${read().join('\n')}`)), timeoutMs);
    watcher.on('change', check);
    watcher.on('error', (e) => finish(e));
    check(); // lines written before the watcher started
  });
}

/**
 * Waits until `fn()` holds, checking every 5 ms, failing after `timeoutMs`. Only for state that no
 * event announces (a request queued inside the proxy); prefer waiting on events.
 */
export async function eventually(fn: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Polls `value()` until it has not changed for `checks` consecutive looks (5 ms apart): how far a
 * producer got before backpressure stopped it, where no event announces the stop.
 */
export async function settled(value: () => number, what: string, checks = 20): Promise<number> {
  let last = -1, same = 0;
  await eventually(() => {
    const v = value();
    same = v === last ? same + 1 : 0;
    last = v;
    return same >= checks;
  }, what, 10_000);
  return last;
}
