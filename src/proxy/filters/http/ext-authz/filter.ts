// The external authorization HTTP filter, envoy.filters.http.ext_authz
// (envoy.extensions.filters.http.ext_authz.v3.ExtAuthz; Envoy's configuration/http/http_filters/
// ext_authz_filter): each request (with a route; ExtAuthzPerRoute may disable it or add
// context_extensions) is held while an authorization service is asked — gRPC
// envoy.service.auth.v3.Authorization/Check or a plain HTTP call — optionally after buffering the
// body (with_request_body: above max_request_bytes → 413 unless allow_partial_message). Allowed:
// the service's header mutations apply and the request goes on. Denied: the service's status (403
// by default), body and headers go back, flag UAEX, details `ext_authz_denied`. Error (unreachable,
// timeout, 5xx, bad reply): status_on_error (403) with details `ext_authz_error`, or the request
// goes on when failure_mode_allow (then `x-envoy-auth-failure-mode-allowed: true` upstream when
// failure_mode_allow_header_add). filter_enabled (fraction) and filter_enabled_metadata (a
// MetadataMatcher on the stream's dynamic metadata: Istio's CUSTOM action enables the filter only
// where its RBAC shadow rules marked the request) skip the check (`disabled` stat), or deny it with
// deny_at_disable. Stats, as Envoy names them: http.<hcm prefix>.ext_authz.[<stat_prefix>.]{ok,
// denied,error,disabled,failure_mode_allowed} and cluster.<route cluster>.ext_authz.[<stat_prefix>.]
// {ok,denied,error,failure_mode_allowed}.

import type { PerFilterConfig } from '../../../config/types.js';
import type { Counter, StatsStore } from '../../../../observe/stats.js';
import { startAsync, type AsyncCallbacks, type AsyncClientError, type AsyncHandle, type AsyncResponse, type ClusterLookup } from '../../../http/async-client.js';
import type { CompiledRoute, RouteTable } from '../../../router/route-table.js';
import { CompiledStringMatcher } from '../../../router/matchers.js';
import { CONTINUE, DISABLED, resolvePerRoute, STOP, type FilterStatus, type FilterStream, type HttpFilter, type HttpFilterFactory } from '../filter.js';
import { applyOps, checkAttributes, exact, HeaderNameMatcher, type AttributeOptions, type AuthzResult, ERROR_RESULT } from './check.js';
import type { ExtAuthzBufferSettings, ExtAuthzConfig, ExtAuthzPerRouteConfig } from './config.js';
import { compileMetadataMatcher } from '../../../rbac/metadata.js';
import { checkRequestObject, grpcCheckRequest, grpcTypes, parseGrpcCheckResponse } from './grpc-client.js';
import { HTTP_DEFAULT_REQUEST_HEADERS, httpCheckRequest, HttpServiceMatchers, parseHttpCheckResponse } from './http-client.js';

export const EXT_AUTHZ_METADATA_NAMESPACE = 'envoy.filters.http.ext_authz';
const FAILURE_MODE_ALLOWED_HEADER = 'x-envoy-auth-failure-mode-allowed';

const STAT_NAMES = ['ok', 'denied', 'error', 'disabled', 'failure_mode_allowed'] as const;
type StatName = typeof STAT_NAMES[number];
type ExtAuthzStats = Record<StatName, Counter>;

function httpStats(store: StatsStore, hcmPrefix: string, statPrefix: string): ExtAuthzStats {
  const sp = statPrefix === '' ? '' : statPrefix + '.';
  const labels = { envoy_http_conn_manager_prefix: hcmPrefix };
  const out = {} as ExtAuthzStats;
  for (const n of STAT_NAMES) {
    out[n] = store.counter(`http.${hcmPrefix}.ext_authz.${sp}${n}`, `http_ext_authz_${sp}${n}`.replace(/[^a-zA-Z0-9_]/g, '_'), labels);
  }
  return out;
}

function clusterStats(store: StatsStore, cluster: string, statPrefix: string): ExtAuthzStats {
  const sp = statPrefix === '' ? '' : statPrefix + '.';
  const labels = { envoy_cluster_name: cluster };
  const out = {} as ExtAuthzStats;
  // Envoy counts `disabled` only in the filter's own scope; the cluster gets the other four.
  for (const n of STAT_NAMES) {
    if (n === 'disabled') continue;
    out[n] = store.counter(`cluster.${cluster}.ext_authz.${sp}${n}`, `cluster_ext_authz_${sp}${n}`.replace(/[^a-zA-Z0-9_]/g, '_'), labels);
  }
  return out;
}

// ───────────────────────────── per route ─────────────────────────────

/** What applies on one route: merged context_extensions and the buffer settings. */
interface RouteSettings {
  readonly contextExtensions: ReadonlyMap<string, string> | null;
  readonly buffer: ExtAuthzBufferSettings | null;
}

// ───────────────────────────── the stream filter ─────────────────────────────

const IDLE = 0;
const BUFFERING = 1;
const CALLING = 2;
const DONE = 3;

class ExtAuthzStreamFilter implements HttpFilter, AsyncCallbacks {
  private state = IDLE;
  private stream: FilterStream | null = null;
  private handle: AsyncHandle | null = null;
  private responseOps: AuthzResult['responseOps'] | null = null;
  private cluster = '';

  constructor(private readonly f: ExtAuthzFilterFactory, private readonly settings: RouteSettings) {}

  onRequestHeaders(stream: FilterStream): FilterStatus {
    const f = this.f;
    const cfg = f.config;
    if (!f.enabled(stream)) {
      f.stats.disabled.inc();
      if (!cfg.denyAtDisable) return CONTINUE;
      stream.sendLocalReply(cfg.statusOnError, '', 'UAEX', 'ext_authz_error');
      return STOP;
    }
    this.stream = stream;
    this.cluster = stream.upstreamClusterName();
    const buffer = this.settings.buffer;
    if (buffer !== null && !stream.requestComplete && stream.head.upgrade === null) {
      this.state = BUFFERING;
      stream.watchRequestBody(this);
      return STOP;
    }
    this.check(buffer === null ? null : this.bufferedBody(buffer), false);
    return STOP;
  }

  private bufferedBody(buffer: ExtAuthzBufferSettings): Buffer {
    const chunks = this.stream!.requestBody();
    const body = chunks === null || chunks.length === 0 ? Buffer.alloc(0) : Buffer.concat(chunks as Buffer[]);
    return body.length > buffer.maxRequestBytes ? body.subarray(0, buffer.maxRequestBytes) : body;
  }

  onRequestBody(stream: FilterStream, complete: boolean): void {
    if (this.state !== BUFFERING) return;
    const buffer = this.settings.buffer!;
    const received = stream.info.bytesReceived;
    // Without allow_partial_message the limit is the buffer's (above it: 413); with it, reaching
    // max_request_bytes sends the check with that much.
    if (buffer.allowPartialMessage ? received >= buffer.maxRequestBytes && !complete : received > buffer.maxRequestBytes) {
      if (!buffer.allowPartialMessage) {
        // Envoy's connection manager answers when the buffer limit the filter raised is exceeded.
        stream.watchRequestBody(null);
        this.state = DONE;
        this.f.tooLarge.inc();
        stream.sendLocalReply(413, 'Payload Too Large', '', 'request_payload_too_large');
        return;
      }
      stream.watchRequestBody(null);
      this.check(this.bufferedBody(buffer), true);
      return;
    }
    if (complete) {
      stream.watchRequestBody(null);
      this.check(this.bufferedBody(buffer), received > buffer.maxRequestBytes);
    }
  }

  private check(body: Buffer | null, partial: boolean): void {
    const f = this.f;
    const stream = this.stream!;
    this.state = CALLING;
    const a = checkAttributes(stream, f.attributeOptions, body, partial, this.settings.contextExtensions);
    const svc = f.config.service;
    if (svc.kind === 'grpc') {
      const md = f.metadataFor(stream);
      const msg = checkRequestObject(a, this.settings.buffer?.packAsBytes ?? false, md);
      this.handle = startAsync(f.clusters, svc.clusterName, grpcCheckRequest(svc, msg), this);
    } else {
      this.handle = startAsync(f.clusters, svc.clusterName, httpCheckRequest(svc, a), this);
    }
  }

  onAsyncSuccess(res: AsyncResponse): void {
    this.handle = null;
    const f = this.f;
    const r = f.config.service.kind === 'grpc' ? parseGrpcCheckResponse(res) : parseHttpCheckResponse(f.httpMatchers!, res);
    this.complete(r);
  }

  onAsyncFailure(_err: AsyncClientError): void {
    this.handle = null;
    this.complete(ERROR_RESULT);
  }

  private count(n: StatName): void {
    this.f.stats[n].inc();
    if (this.cluster !== '' && n !== 'disabled') this.f.clusterStats(this.cluster)[n].inc();
  }

  private complete(r: AuthzResult): void {
    const stream = this.stream;
    if (this.state !== CALLING || stream === null) return;
    this.state = DONE;
    const cfg = this.f.config;
    if (r.dynamicMetadata !== null && Object.keys(r.dynamicMetadata).length > 0) {
      const info = stream.info;
      (info.dynamicMetadata ??= {})[EXT_AUTHZ_METADATA_NAMESPACE] = r.dynamicMetadata;
    }
    switch (r.status) {
      case 'ok':
        this.count('ok');
        if (r.requestOps.length > 0) applyOps(stream.info.requestHeaders, r.requestOps);
        if (r.responseOps.length > 0) this.responseOps = r.responseOps;
        stream.continueRequest();
        return;
      case 'denied':
        this.count('denied');
        stream.sendLocalReply(r.httpStatus, r.body, 'UAEX', 'ext_authz_denied', undefined, r.deniedHeaders);
        return;
      case 'error':
        this.count('error');
        if (cfg.failureModeAllow) {
          this.count('failure_mode_allowed');
          if (cfg.failureModeAllowHeaderAdd) stream.info.requestHeaders.push(FAILURE_MODE_ALLOWED_HEADER, 'true');
          stream.continueRequest();
          return;
        }
        stream.sendLocalReply(cfg.statusOnError, '', 'UAEX', 'ext_authz_error');
        return;
    }
  }

  onResponseHeaders(_status: number, headers: string[]): void {
    if (this.responseOps !== null) applyOps(headers, this.responseOps);
  }

  onDestroy(): void {
    this.state = DONE;
    if (this.handle !== null) { this.handle.cancel(); this.handle = null; }
    this.stream = null;
  }
}

// ───────────────────────────── the factory ─────────────────────────────

export class ExtAuthzFilterFactory implements HttpFilterFactory {
  readonly stats: ExtAuthzStats;
  readonly tooLarge: Counter;
  readonly attributeOptions: AttributeOptions;
  readonly httpMatchers: HttpServiceMatchers | null;
  private readonly byCluster = new Map<string, ExtAuthzStats>();
  private readonly base: RouteSettings;
  private readonly perRoute: Map<CompiledRoute, RouteSettings | typeof DISABLED>;
  private readonly metadataMatch: ((md: Record<string, Record<string, unknown>> | null) => boolean) | null;

  constructor(readonly name: string, readonly config: ExtAuthzConfig, routes: RouteTable, private readonly store: StatsStore,
              statPrefix: string, readonly clusters: ClusterLookup) {
    this.stats = httpStats(store, statPrefix, config.statPrefix);
    this.tooLarge = store.counter(`http.${statPrefix}.downstream_rq_too_large`, 'http_downstream_rq_too_large', { envoy_http_conn_manager_prefix: statPrefix });
    const svc = config.service;
    if (svc.kind === 'grpc') grpcTypes(); // parse the protos now, not on the first request
    this.httpMatchers = svc.kind === 'http' ? new HttpServiceMatchers(svc) : null;
    const allowed = config.allowedHeaders === null
      ? (svc.kind === 'grpc' ? null : new HeaderNameMatcher(HTTP_DEFAULT_REQUEST_HEADERS.map(exact)))
      : new HeaderNameMatcher(svc.kind === 'grpc' ? config.allowedHeaders : [...config.allowedHeaders, ...HTTP_DEFAULT_REQUEST_HEADERS.map(exact)]);
    const disallowed = new HeaderNameMatcher(config.disallowedHeaders);
    // The partial-body marker is metadata of a gRPC check; an HTTP check forwards it only when allowed.
    const partialHeader = svc.kind === 'grpc' ? 'x-envoy-auth-partial-body' : '';
    this.attributeOptions = {
      // Host is :authority in the check (Envoy's header map has no separate Host).
      includeHeader: (n) => (n === partialHeader || allowed === null || allowed.matches(n) || (n === ':authority' && allowed.matches('host'))) && !disallowed.matches(n),
      includePeerCertificate: config.includePeerCertificate,
      includeTlsSession: config.includeTlsSession,
    };
    this.metadataMatch = config.filterEnabledMetadata === null ? null : compileMetadataMatcher(config.filterEnabledMetadata);
    this.base = { contextExtensions: null, buffer: config.withRequestBody };
    this.perRoute = resolvePerRoute(routes, name, (levels: readonly PerFilterConfig[]) => this.settingsFor(levels));
  }

  /** Merges the levels (most specific first): context_extensions by key, the rest from the most specific. */
  private settingsFor(levels: readonly PerFilterConfig[]): RouteSettings | typeof DISABLED | null {
    const own = levels.filter((l): l is { kind: 'ext_authz'; config: ExtAuthzPerRouteConfig } => l.kind === 'ext_authz');
    const top = own[0];
    if (top === undefined) return null;
    if (top.config.disabled) return DISABLED;
    const ext = new Map<string, string>();
    for (let i = own.length - 1; i >= 0; i--) for (const [k, v] of own[i]!.config.contextExtensions) ext.set(k, v);
    const buffer = top.config.disableRequestBodyBuffering ? null : top.config.withRequestBody ?? this.config.withRequestBody;
    return { contextExtensions: ext.size === 0 ? null : ext, buffer };
  }

  clusterStats(cluster: string): ExtAuthzStats {
    let s = this.byCluster.get(cluster);
    if (s === undefined) {
      s = clusterStats(this.store, cluster, this.config.statPrefix);
      this.byCluster.set(cluster, s);
    }
    return s;
  }

  /** filter_enabled (a fraction) and filter_enabled_metadata. */
  enabled(stream: FilterStream): boolean {
    const frac = this.config.filterEnabled;
    if (frac !== null && !(Math.random() < frac)) return false;
    return this.metadataMatch === null || this.metadataMatch(stream.info.dynamicMetadata);
  }

  /** metadata_context_namespaces present in the stream's dynamic metadata, or null. */
  metadataFor(stream: FilterStream): Record<string, Record<string, unknown>> | null {
    const md = stream.info.dynamicMetadata;
    if (md === null || this.config.metadataContextNamespaces.length === 0) return null;
    let out: Record<string, Record<string, unknown>> | null = null;
    for (const ns of this.config.metadataContextNamespaces) if (md[ns] !== undefined) (out ??= {})[ns] = md[ns]!;
    return out;
  }

  create(route: CompiledRoute | null): HttpFilter | null {
    // Envoy skips the check when no route matched (the 404 goes out).
    if (route === null) return null;
    const s = this.perRoute.get(route);
    if (s === DISABLED) return null;
    return new ExtAuthzStreamFilter(this, s ?? this.base);
  }
}
