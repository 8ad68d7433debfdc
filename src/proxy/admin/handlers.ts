// The admin endpoints as pure request → response functions, independent of the transport:
// Envoy's admin interface (/ready, /server_info, /stats, /stats/prometheus, /config_dump, /clusters,
// /listeners, /drain_listeners, /quitquitquit, /logging, /certs), with its methods, query flags and formats.
import { PROMETHEUS_CONTENT_TYPE, prometheusText, statsJson, statsText } from '../../observe/exposition.js';
import { LOG_LEVELS, getLevel, loggerNames } from '../../observe/logger.js';
import type { StatsStore } from '../../observe/stats.js';
import type { BootstrapConfig, SocketAddress } from '../config/types.js';

export interface AdminRequest {
  method: string;
  /** Path without the query string, e.g. `/stats`. */
  path: string;
  query: URLSearchParams;
  body: Buffer;
}

export interface AdminResponse {
  status: number;
  contentType: string;
  body: string | Buffer;
  /** Runs once the response has been written (e.g. /quitquitquit quits after answering). */
  afterSend?: () => void;
}

export interface AdminHost {
  /** `ip:port`, as Envoy names hosts in /clusters. */
  key: string;
  healthy: boolean;
  /** Envoy's health flags when unhealthy (e.g. `/failed_active_hc`); default `/failed_active_hc`. */
  healthFlags?: string;
  weight: number;
  priority: number;
  locality: { region: string; zone: string; subZone: string };
  /** Per-host stats by Envoy's names: cx_active, cx_total, rq_total, rq_error, … */
  stats: Record<string, number>;
}

export interface AdminCluster {
  name: string;
  addedViaApi?: boolean;
  hosts: AdminHost[];
}

export interface AdminListener {
  name: string;
  address: SocketAddress;
}

/** What the running proxy provides to the admin endpoints. */
export interface AdminContext {
  stats: StatsStore;
  /** /server_info JSON (version, state LIVE/DRAINING/PRE_INITIALIZING, uptime, command line options, node). */
  serverInfo(): unknown;
  /** /ready: true → 200 `LIVE`; false → 503 with serverInfo().state. */
  isReady(): boolean;
  /** /config_dump JSON, `{configs: [{'@type': …, …}, …]}`. */
  configDump(): unknown;
  clusters(): AdminCluster[];
  /** /certs JSON (src/proxy/admin/certs.ts); absent: no certificates. */
  certs?(): unknown;
  /** /listeners; the endpoint answers 404 when absent. */
  listeners?(): AdminListener[];
  drainListeners(opts: { graceful: boolean; inboundOnly: boolean }): void;
  /** Called after the /quitquitquit response has been written. */
  quit(): void;
  /** false for an unknown level name. */
  setLogLevel(level: string): boolean;
  /**
   * Called before a request is handled; when it returns a promise, the request is answered once it
   * settles (e.g. a primary pulls its workers' stats for /stats). Absent: every answer is synchronous.
   */
  prepare?(req: AdminRequest): Promise<void> | undefined;
}

interface Endpoint {
  readonly help: string;
  /** Envoy requires POST for endpoints that change server state. */
  readonly mutates: boolean;
  readonly handle: (ctx: AdminContext, req: AdminRequest) => AdminResponse;
}

const TEXT = 'text/plain; charset=UTF-8';
const JSON_TYPE = 'application/json';

const text = (status: number, body: string): AdminResponse => ({ status, contentType: TEXT, body });
const json = (value: unknown, pretty = true): AdminResponse =>
  ({ status: 200, contentType: JSON_TYPE, body: JSON.stringify(value, null, pretty ? 2 : undefined) + '\n' });

/** `?flag` or `?flag=true`/`1` (Envoy treats a bare key as set). */
function flag(q: URLSearchParams, name: string): boolean {
  if (!q.has(name)) return false;
  const v = q.get(name);
  return v === '' || v === 'true' || v === '1';
}

function compileFilter(q: URLSearchParams): RegExp | undefined | AdminResponse {
  const f = q.get('filter');
  if (f === null || f === '') return undefined;
  try {
    return new RegExp(f);
  } catch (err) {
    return text(400, `Invalid regex: ${(err as Error).message}\n`);
  }
}

function handleStats(ctx: AdminContext, req: AdminRequest): AdminResponse {
  const filter = compileFilter(req.query);
  if (filter !== undefined && !(filter instanceof RegExp)) return filter;
  const usedOnly = flag(req.query, 'usedonly');
  const format = req.query.get('format') ?? 'text';
  switch (format) {
    case 'text': return text(200, statsText(ctx.stats, filter, usedOnly));
    case 'json': return json(statsJson(ctx.stats, filter, usedOnly), false);
    case 'prometheus': return { status: 200, contentType: PROMETHEUS_CONTENT_TYPE, body: prometheusText(ctx.stats, filter, usedOnly) };
    default: return text(400, 'usage: /stats?format=(text|json|prometheus)&filter=<regex>&usedonly\n');
  }
}

function handlePrometheus(ctx: AdminContext, req: AdminRequest): AdminResponse {
  const filter = compileFilter(req.query);
  if (filter !== undefined && !(filter instanceof RegExp)) return filter;
  return { status: 200, contentType: PROMETHEUS_CONTENT_TYPE, body: prometheusText(ctx.stats, filter, flag(req.query, 'usedonly')) };
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Keeps only the fields named by FieldMask paths (`a.b`); lists apply the mask to each element. */
function applyMask(value: unknown, paths: readonly string[][]): unknown {
  if (Array.isArray(value)) return value.map((v) => applyMask(v, paths));
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  const byHead = new Map<string, string[][]>();
  for (const p of paths) {
    const tails = byHead.get(p[0]!) ?? [];
    tails.push(p.slice(1));
    byHead.set(p[0]!, tails);
  }
  for (const [head, tails] of byHead) {
    if (!(head in value)) continue;
    out[head] = tails.some((t) => t.length === 0) ? value[head] : applyMask(value[head], tails);
  }
  return out;
}

/** Masks a config or resource entry but keeps its `@type`, as Envoy repacks the trimmed message. */
function maskEntry(entry: unknown, paths: readonly string[][] | null): unknown {
  if (paths === null || !isObject(entry)) return entry;
  const masked = applyMask(entry, paths) as Record<string, unknown>;
  return '@type' in entry ? { '@type': entry['@type'], ...masked } : masked;
}

function handleConfigDump(ctx: AdminContext, req: AdminRequest): AdminResponse {
  const dump = ctx.configDump();
  const resource = req.query.get('resource');
  const maskParam = req.query.get('mask');
  const paths = maskParam === null || maskParam === ''
    ? null
    : maskParam.split(',').map((p) => p.trim()).filter((p) => p !== '').map((p) => p.split('.'));
  const configs = isObject(dump) && Array.isArray(dump.configs) ? dump.configs as unknown[] : null;
  if (resource !== null && resource !== '') {
    if (configs === null) return text(404, `no config has a resource field ${resource}\n`);
    const out: unknown[] = [];
    let found = false;
    for (const c of configs) {
      if (!isObject(c) || !(resource in c)) continue;
      found = true;
      const items = c[resource];
      if (Array.isArray(items)) for (const item of items) out.push(maskEntry(item, paths));
      else if (items !== undefined && items !== null) out.push(maskEntry(items, paths));
    }
    if (!found) return text(404, `no config has a resource field ${resource}\n`);
    return json({ configs: out });
  }
  if (paths !== null && configs !== null) return json({ configs: configs.map((c) => maskEntry(c, paths)) });
  return json(dump);
}

/** `ip:port` / `[v6]:port` → socket_address, as in Envoy's HostStatus. */
function socketAddress(key: string): { address: string; port_value: number } {
  const colon = key.lastIndexOf(':');
  const port = colon < 0 ? NaN : Number(key.slice(colon + 1));
  if (!Number.isInteger(port)) return { address: key, port_value: 0 };
  let host = key.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { address: host, port_value: port };
}

/** Per-host stats Envoy reports as gauges; the rest are counters. */
const HOST_GAUGES = new Set(['cx_active', 'rq_active']);

function handleClusters(ctx: AdminContext, req: AdminRequest): AdminResponse {
  const clusters = ctx.clusters();
  const format = req.query.get('format') ?? 'text';
  if (format === 'json') {
    return json({
      cluster_statuses: clusters.map((c) => ({
        name: c.name,
        added_via_api: c.addedViaApi ?? false,
        host_statuses: c.hosts.map((h) => ({
          address: { socket_address: socketAddress(h.key) },
          stats: Object.entries(h.stats).map(([name, value]) =>
            HOST_GAUGES.has(name) ? { type: 'GAUGE', name, value: String(value) } : { name, value: String(value) }),
          health_status: h.healthy
            ? { eds_health_status: 'HEALTHY' }
            : h.healthFlags === '/failed_outlier_check'
              ? { eds_health_status: 'HEALTHY', failed_outlier_check: true }
              : { eds_health_status: 'UNHEALTHY', failed_active_health_check: true },
          weight: h.weight,
          locality: { region: h.locality.region, zone: h.locality.zone, sub_zone: h.locality.subZone },
          priority: h.priority,
        })),
      })),
    });
  }
  if (format !== 'text') return text(400, 'usage: /clusters?format=(text|json)\n');
  let out = '';
  for (const c of clusters) {
    out += `${c.name}::observability_name::${c.name}\n`;
    if (c.addedViaApi !== undefined) out += `${c.name}::added_via_api::${c.addedViaApi}\n`;
    for (const h of c.hosts) {
      const p = `${c.name}::${h.key}::`;
      for (const [name, value] of Object.entries(h.stats)) out += `${p}${name}::${value}\n`;
      out += `${p}health_flags::${h.healthy ? 'healthy' : h.healthFlags ?? '/failed_active_hc'}\n`;
      out += `${p}weight::${h.weight}\n`;
      out += `${p}region::${h.locality.region}\n`;
      out += `${p}zone::${h.locality.zone}\n`;
      out += `${p}sub_zone::${h.locality.subZone}\n`;
      out += `${p}canary::false\n`;
      out += `${p}priority::${h.priority}\n`;
      out += `${p}success_rate::-1\n`;
      out += `${p}local_origin_success_rate::-1\n`;
    }
  }
  return text(200, out);
}

function handleListeners(ctx: AdminContext, req: AdminRequest): AdminResponse {
  if (ctx.listeners === undefined) return text(404, 'invalid path. admin commands are listed at /help\n');
  const listeners = ctx.listeners();
  const format = req.query.get('format') ?? 'text';
  const addr = (a: SocketAddress): string => (a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
  if (format === 'json') {
    return json({
      listener_statuses: listeners.map((l) => ({
        name: l.name,
        local_address: { socket_address: { address: l.address.address, port_value: l.address.port } },
      })),
    });
  }
  if (format !== 'text') return text(400, 'usage: /listeners?format=(text|json)\n');
  return text(200, listeners.map((l) => `${l.name}::${addr(l.address)}\n`).join(''));
}

function loggingList(): string {
  const level = getLevel();
  return 'active loggers:\n' + loggerNames().map((n) => `  ${n}: ${level}\n`).join('');
}

function handleLogging(ctx: AdminContext, req: AdminRequest): AdminResponse {
  const keys = [...new Set(req.query.keys())];
  if (keys.length === 0) return text(200, loggingList());
  if (req.method !== 'POST') return text(405, `Method ${req.method} not allowed, POST required.\n`);
  const level = req.query.get('level');
  if (keys.length !== 1 || level === null || !ctx.setLogLevel(level)) {
    return text(400, `usage: /logging?level=(${LOG_LEVELS.join('|')})\n` + loggingList());
  }
  return text(200, loggingList());
}

function handleReady(ctx: AdminContext): AdminResponse {
  if (ctx.isReady()) return text(200, 'LIVE\n');
  const info = ctx.serverInfo();
  const state = isObject(info) && typeof info.state === 'string' ? info.state : 'NOT_READY';
  return text(503, state + '\n');
}

const ENDPOINTS: ReadonlyMap<string, Endpoint> = new Map<string, Endpoint>([
  ['/', { help: 'this list of admin commands', mutates: false, handle: () => text(200, helpText()) }],
  ['/help', { help: 'this list of admin commands', mutates: false, handle: () => text(200, helpText()) }],
  ['/ready', { help: 'print server state, 200 only when LIVE', mutates: false, handle: handleReady }],
  ['/server_info', { help: 'print server version, state, uptime, options and node as JSON', mutates: false,
    handle: (ctx) => json(ctx.serverInfo()) }],
  ['/stats', { help: 'print server stats (?filter=<regex> ?usedonly ?format=json|prometheus)', mutates: false, handle: handleStats }],
  ['/stats/prometheus', { help: 'print server stats in Prometheus text format (?filter=<regex> ?usedonly)', mutates: false,
    handle: handlePrometheus }],
  ['/config_dump', { help: 'dump current config as JSON (?resource=<field> ?mask=<paths>)', mutates: false, handle: handleConfigDump }],
  ['/clusters', { help: 'upstream clusters and their hosts (?format=json)', mutates: false, handle: handleClusters }],
  ['/listeners', { help: 'listeners and their addresses (?format=json)', mutates: false, handle: handleListeners }],
  ['/certs', { help: 'print certificates in use (files and SDS secrets)', mutates: false,
    handle: (ctx) => json(ctx.certs?.() ?? { certificates: [] }) }],
  ['/drain_listeners', { help: 'drain listeners (?graceful ?inboundonly)', mutates: true,
    handle: (ctx, req) => {
      ctx.drainListeners({ graceful: flag(req.query, 'graceful'), inboundOnly: flag(req.query, 'inboundonly') });
      return text(200, 'OK\n');
    } }],
  ['/quitquitquit', { help: 'exit the server', mutates: true,
    handle: (ctx) => ({ ...text(200, 'OK\n'), afterSend: () => ctx.quit() }) }],
  // GET lists the loggers; changing a level needs POST (checked in the handler).
  ['/logging', { help: 'list loggers, or POST ?level=<level> to change the level', mutates: false, handle: handleLogging }],
]);

function helpText(): string {
  let out = 'admin commands are:\n';
  for (const [path, ep] of ENDPOINTS) {
    if (path === '/') continue;
    out += `  ${path}${ep.mutates ? ' (POST)' : ''}: ${ep.help}\n`;
  }
  return out;
}

/** Answers one admin request: 404 for an unknown path, 405 for GET on a state-changing endpoint. */
/** /server_info: the process facts Envoy reports (uptime in whole seconds since `startedAt`). */
export function serverInfoOf(o: {
  version: string; state: string; startedAt: number; commandLineOptions: Record<string, unknown>; node: BootstrapConfig['node'];
}): Record<string, unknown> {
  const uptime = `${Math.floor((Date.now() - o.startedAt) / 1000)}s`;
  return {
    version: o.version, state: o.state, uptime_current_epoch: uptime, uptime_all_epochs: uptime,
    command_line_options: o.commandLineOptions, node: o.node,
  };
}

/**
 * /config_dump of a bootstrap-configured proxy: the bootstrap, its listeners and its clusters; with
 * xDS (config.xds set by the xDS client), listeners and clusters received over ADS are listed as
 * dynamic ones with their version and warming state, plus the RDS and EDS versions.
 */
export function bootstrapConfigDump(config: BootstrapConfig): unknown {
  const xds = config.xds;
  if (xds === undefined) {
    return {
      configs: [
        { '@type': 'type.googleapis.com/weft.admin.BootstrapConfigDump', bootstrap: config },
        { '@type': 'type.googleapis.com/weft.admin.ListenersConfigDump', static_listeners: config.listeners },
        { '@type': 'type.googleapis.com/weft.admin.ClustersConfigDump', static_clusters: config.clusters },
      ],
    };
  }
  const dynL = new Map(xds.listeners.map((l) => [l.name, l]));
  const dynC = new Map(xds.clusters.map((c) => [c.name, c]));
  const { xds: _x, ...bootstrap } = config;
  return {
    configs: [
      { '@type': 'type.googleapis.com/weft.admin.BootstrapConfigDump', bootstrap: { ...bootstrap, listeners: config.listeners.filter((l) => !dynL.has(l.name)), clusters: config.clusters.filter((c) => !dynC.has(c.name)) } },
      {
        '@type': 'type.googleapis.com/weft.admin.ListenersConfigDump',
        static_listeners: config.listeners.filter((l) => !dynL.has(l.name)),
        dynamic_listeners: xds.listeners.map((d) => ({
          name: d.name, version_info: d.version, warming: d.warming,
          listener: config.listeners.find((l) => l.name === d.name) ?? null,
        })),
      },
      {
        '@type': 'type.googleapis.com/weft.admin.ClustersConfigDump',
        static_clusters: config.clusters.filter((c) => !dynC.has(c.name)),
        dynamic_clusters: xds.clusters.map((d) => ({
          name: d.name, version_info: d.version, warming: d.warming,
          cluster: config.clusters.find((c) => c.name === d.name) ?? null,
        })),
      },
      { '@type': 'type.googleapis.com/weft.admin.RoutesConfigDump', dynamic_route_configs: xds.routeConfigs.map((r) => ({ name: r.name, version_info: r.version })) },
      { '@type': 'type.googleapis.com/weft.admin.EndpointsConfigDump', dynamic_endpoint_configs: xds.endpoints.map((e) => ({ name: e.name, version_info: e.version })) },
    ],
  };
}

export function handleAdmin(ctx: AdminContext, req: AdminRequest): AdminResponse {
  const ep = ENDPOINTS.get(req.path);
  if (ep === undefined) return text(404, 'invalid path. admin commands are listed at /help\n');
  if (ep.mutates && req.method !== 'POST') return text(405, `Method ${req.method} not allowed, POST required.\n`);
  if (!ep.mutates && req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'POST') {
    return text(405, `Method ${req.method} not allowed.\n`);
  }
  try {
    return ep.handle(ctx, req);
  } catch (err) {
    return text(500, `admin handler failed: ${(err as Error)?.message ?? String(err)}\n`);
  }
}
