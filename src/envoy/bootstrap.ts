// Envoy v3 bootstrap adapter: envoy.config.bootstrap.v3.Bootstrap (as parsed YAML/JSON, proto3 JSON
// mapping) → the proxy's canonical BootstrapConfig, with every error collected and output deep-frozen.

import type {
  AdminConfig, BootstrapConfig, ClusterConfig, CommonTlsContextConfig, DynamicResourcesConfig, ListenerConfig, NodeConfig,
} from '../proxy/config/types.js';
import { accessLog, fileLogWithDefaultFormat } from './access-log.js';
import { cluster } from './cluster.js';
import { dynamicResources } from './config-source.js';
import { address, formatAddress } from './core.js';
import { Ctx, type ClusterReference, type DecodeEnv } from './decode/context.js';
import { deepFreeze } from './decode/freeze.js';
import type { DecodeResult } from './decode/result.js';
import {
  asList, defineMessage, isObject, itemCtx, list, message, readMessage, string, struct, type Msg, type Reader,
} from './decode/readers.js';
import type { ExtensionLookup } from './decode/typed.js';
import { builtinExtensions } from './extensions.js';
import { listener } from './listener.js';
import { overloadManager } from './overload.js';
import { layeredRuntime } from './runtime.js';
import { secretResource } from './tls.js';
import type { SecretValue } from '../proxy/secrets/types.js';

export type { DecodeResult } from './decode/result.js';

export interface DecodeBootstrapOptions {
  /** Directory for relative file names in the config (e.g. direct response `body.filename`). */
  readonly baseDir: string;
  /** typed_config decoders; the built-in list by default. */
  readonly extensions?: ExtensionLookup;
}

const NODE = defineMessage({
  name: 'envoy.config.core.v3.Node',
  fields: ['id', 'cluster', 'metadata'],
  unsupported: [
    'dynamic_parameters', 'user_agent_name', 'user_agent_version', 'user_agent_build_version', 'extensions',
    'client_features', 'listening_addresses',
  ],
  // Locality only describes where this proxy runs (used later for locality-aware LB and xDS).
  informational: ['locality'],
});

const EMPTY_NODE: NodeConfig = { id: '', cluster: '', metadata: {} };

const node: Reader<NodeConfig> = message(NODE, (m) => ({
  id: m.get('id', string, ''),
  cluster: m.get('cluster', string, ''),
  metadata: m.get('metadata', struct, {}),
}));

const ADMIN = defineMessage({
  name: 'envoy.config.bootstrap.v3.Admin',
  fields: ['access_log', 'access_log_path', 'address'],
  unsupported: ['profile_path', 'socket_options', 'ignore_global_conn_limit', 'allow_paths'],
});

const adminAddress = address({ host: 'ip', allowPortZero: true });

/** Admin without an address means no admin server, as in Envoy. `/dev/null` as log path means no log. */
const admin: Reader<AdminConfig | null> = message(ADMIN, (m) => {
  const logs = m.get('access_log', list(accessLog), []);
  const path = m.get('access_log_path', string, '');
  if (path !== '' && path !== '/dev/null') logs.push(fileLogWithDefaultFormat(path));
  if (!m.has('address')) {
    if (logs.length > 0) m.at('address').expected('an address (admin access logs need an admin server)', undefined);
    return null;
  }
  const addr = m.opt('address', adminAddress);
  return addr === undefined ? undefined : { address: addr, accessLogs: logs };
});

const STATIC_RESOURCES = defineMessage({
  name: 'envoy.config.bootstrap.v3.Bootstrap.StaticResources',
  fields: ['listeners', 'clusters', 'secrets'],
});

const BOOTSTRAP = defineMessage({
  name: 'envoy.config.bootstrap.v3.Bootstrap',
  fields: ['node', 'static_resources', 'admin', 'dynamic_resources', 'overload_manager', 'layered_runtime'],
  unsupported: [
    'node_context_params', 'cluster_manager', 'hds_config', 'flags_path', 'stats_sinks',
    'deferred_stat_options', 'stats_config', 'stats_flush_interval', 'stats_flush_on_admin', 'stats_eviction_interval',
    'watchdog', 'watchdogs', 'tracing', 'enable_dispatcher_stats',
    'header_prefix', 'stats_server_version_override', 'use_tcp_for_dns_lookups', 'dns_resolution_config',
    'typed_dns_resolver_config', 'bootstrap_extensions', 'fatal_actions', 'config_sources', 'default_config_source',
    'default_socket_interface', 'certificate_provider_instances', 'inline_headers', 'perf_tracing_file_path',
    'default_regex_engine', 'xds_delegate_extension', 'xds_config_tracker_extension', 'listener_manager',
    'application_log_config', 'grpc_async_client_manager_config', 'memory_allocator_manager',
  ],
});

/** Decodes a repeated field keeping each item's input index (for cross-checks with precise paths). */
function indexed<T>(m: Msg, field: string, item: Reader<T>): { index: number; value: T }[] {
  const raw = m.raw(field);
  const ctx = m.at(field);
  const out: { index: number; value: T }[] = [];
  asList(raw).forEach((x, index) => {
    const value = item(itemCtx(ctx, raw, index), x);
    if (value !== undefined) out.push({ index, value });
  });
  return out;
}

/**
 * The names of the items of a repeated field that failed to decode (when their `name` is a string):
 * references to them are not reported again as references to something missing.
 */
function rejectedNames(raw: unknown, decoded: readonly { index: number }[]): Set<string> {
  const ok = new Set(decoded.map((d) => d.index));
  const out = new Set<string>();
  asList(raw).forEach((x, i) => {
    if (!ok.has(i) && isObject(x) && typeof x.name === 'string') out.add(x.name);
  });
  return out;
}

/** Reports items whose `key` repeats an earlier item's. */
function checkUnique<T>(ctx: Ctx, raw: unknown, items: readonly { index: number; value: T }[], field: string,
                        key: (v: T) => string, what: string): void {
  const seen = new Map<string, number>();
  for (const { index, value } of items) {
    const k = key(value);
    const first = seen.get(k);
    if (first === undefined) seen.set(k, index);
    else itemCtx(ctx, raw, index).field(field).expected(`${what} not already used (by [${first}])`, k);
  }
}

interface StaticResources {
  listeners: ListenerConfig[];
  clusters: ClusterConfig[];
  secrets: SecretValue[];
  /** Names of secrets that were rejected. */
  rejectedSecrets: ReadonlySet<string>;
  /** Names of clusters that were rejected (their errors are already reported). */
  rejectedClusters: ReadonlySet<string>;
}

function staticResources(m: Msg): StaticResources {
  const listeners = indexed(m, 'listeners', listener);
  const clusters = indexed(m, 'clusters', cluster);
  checkUnique(m.at('listeners'), m.raw('listeners'), listeners, 'name', (l) => l.name, 'a listener name');
  // Port 0 asks the OS for a free port, so several listeners may share it.
  const bound = listeners.filter((l) => l.value.address.port !== 0);
  checkUnique(m.at('listeners'), m.raw('listeners'), bound, 'address', (l) => formatAddress(l.address).toLowerCase(), 'an address');
  checkUnique(m.at('clusters'), m.raw('clusters'), clusters, 'name', (c) => c.name, 'a cluster name');
  const secrets = indexed(m, 'secrets', secretResource);
  checkUnique(m.at('secrets'), m.raw('secrets'), secrets, 'name', (s) => s.name, 'a secret name');
  return {
    listeners: listeners.map((l) => l.value),
    clusters: clusters.map((c) => c.value),
    secrets: secrets.map((s) => s.value),
    rejectedSecrets: rejectedNames(m.raw('secrets'), secrets),
    rejectedClusters: rejectedNames(m.raw('clusters'), clusters),
  };
}

/**
 * Every cluster a route names must be a static cluster (Envoy's validate_clusters for static
 * configs). A name of a cluster that was rejected is not reported again at the route.
 */
function checkClusterReferences(root: Ctx, refs: readonly ClusterReference[], resources: StaticResources): void {
  const names = new Set(resources.clusters.map((c) => c.name));
  for (const ref of refs) {
    if (!names.has(ref.name) && !resources.rejectedClusters.has(ref.name)) {
      new Ctx(ref.path, root.errors, root.env).expected('the name of a cluster in static_resources.clusters', ref.name);
    }
  }
}

/**
 * `{ads: {}}` config sources need dynamic_resources.ads_config, and its envoy_grpc cluster must be
 * a static cluster (the control plane has to be reachable before any CDS arrives).
 */
function checkAdsUse(m: Msg, dynamic: DynamicResourcesConfig | undefined, resources: StaticResources): void {
  const target = dynamic?.ads?.target;
  if (target?.kind === 'envoy_grpc' && !resources.clusters.some((c) => c.name === target.clusterName)
    && !resources.rejectedClusters.has(target.clusterName)) {
    m.at('dynamic_resources').field('ads_config').field('grpc_services').index(0).field('envoy_grpc').field('cluster_name')
      .expected('the name of a cluster in static_resources.clusters', target.clusterName);
  }
  if (dynamic?.ads != null) return;
  resources.clusters.forEach((c, i) => {
    if (c.eds !== undefined) {
      m.at('static_resources').field('clusters').index(i).field('eds_cluster_config')
        .expected('dynamic_resources.ads_config to be set for an EDS cluster', undefined);
    }
  });
  resources.listeners.forEach((l, i) => {
    if (listenerRdsNames(l).length > 0) {
      m.at('static_resources').field('listeners').index(i)
        .expected('dynamic_resources.ads_config to be set for an HTTP connection manager with rds', undefined);
    }
  });
}

/**
 * An SdsSecretConfig without sds_config names a secret of static_resources.secrets: each must
 * exist (secrets that failed to decode are already reported), of the kind the context uses.
 */
function checkStaticSecrets(m: Msg, resources: StaticResources): void {
  const byName = new Map(resources.secrets.map((s) => [s.name, s] as const));
  const rejected = resources.rejectedSecrets;
  const check = (kind: 'tls_certificate' | 'validation_context', name: string, where: () => Ctx): void => {
    const s = byName.get(name);
    if (s === undefined && !rejected.has(name)) where().expected(`the name of a secret in static_resources.secrets`, name);
    else if (s !== undefined && s.kind !== kind) where().expected(`a ${kind} secret`, `${name} (a ${s.kind} secret)`);
  };
  const contexts = (c: CommonTlsContextConfig, where: () => Ctx): void => {
    for (const r of c.sdsCertificates) if (r.source.kind === 'static') check('tls_certificate', r.name, where);
    if (c.sdsValidation?.source.kind === 'static') check('validation_context', c.sdsValidation.name, where);
  };
  resources.listeners.forEach((l, i) => {
    for (const fc of [...l.filterChains, ...(l.defaultFilterChain === null ? [] : [l.defaultFilterChain])]) {
      if (fc.transportSocket !== null) contexts(fc.transportSocket.commonTlsContext, () => m.at('static_resources').field('listeners').index(i));
    }
  });
  resources.clusters.forEach((c, i) => {
    if (c.transportSocket !== null) contexts(c.transportSocket.commonTlsContext, () => m.at('static_resources').field('clusters').index(i));
  });
}

/** The route configuration names a listener's HTTP connection managers take from RDS. */
export function listenerRdsNames(l: ListenerConfig): string[] {
  const out: string[] = [];
  for (const fc of [...l.filterChains, ...(l.defaultFilterChain === null ? [] : [l.defaultFilterChain])]) {
    for (const f of fc.filters) if (f.kind === 'http_connection_manager' && f.rds !== undefined) out.push(f.rds.routeConfigName);
  }
  return out;
}

/** Decodes an Envoy v3 bootstrap (already parsed from YAML/JSON) into the proxy's typed config. */
export function decodeBootstrap(input: unknown, opts: DecodeBootstrapOptions): DecodeResult<BootstrapConfig> {
  const env: DecodeEnv = { baseDir: opts.baseDir, extensions: opts.extensions ?? builtinExtensions(), clusterRefs: [] };
  const root = Ctx.root(env);
  const m = readMessage(root, input, BOOTSTRAP);
  if (m === undefined) return { ok: false, errors: root.errors };

  const nodeConfig = m.get('node', node, EMPTY_NODE);
  const adminConfig = m.get('admin', admin, null);
  let resources: StaticResources = { listeners: [], clusters: [], secrets: [], rejectedSecrets: new Set(), rejectedClusters: new Set() };
  if (m.has('static_resources')) {
    const sm = readMessage(m.at('static_resources'), m.raw('static_resources'), STATIC_RESOURCES);
    if (sm !== undefined) resources = staticResources(sm);
  }
  const dynamic = m.opt('dynamic_resources', dynamicResources);
  const overload = m.opt('overload_manager', overloadManager);
  const runtime = m.opt('layered_runtime', layeredRuntime);
  // With CDS, routes may name clusters that arrive later (503 NC until then), so only a static
  // bootstrap has its cluster references checked.
  if (dynamic?.cds == null) checkClusterReferences(root, env.clusterRefs, resources);
  checkAdsUse(m, dynamic, resources);
  checkStaticSecrets(m, resources);

  if (root.errors.length > 0) return { ok: false, errors: root.errors };
  const value: BootstrapConfig = {
    node: nodeConfig, admin: adminConfig, listeners: resources.listeners, clusters: resources.clusters,
    ...(dynamic === undefined ? {} : { dynamicResources: dynamic }),
    ...(overload === undefined ? {} : { overloadManager: overload }),
    ...(runtime === undefined ? {} : { runtime }),
    ...(resources.secrets.length === 0 ? {} : { staticSecrets: resources.secrets }),
  };
  return { ok: true, value: deepFreeze(value) };
}
