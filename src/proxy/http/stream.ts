// One HTTP request/response exchange through the proxy: request header processing
// (x-forwarded-*, x-request-id), routing, the router filter (cluster and host selection,
// upstream attempts, retries with back-off, timeouts, mirroring), local replies with Envoy's
// response flags, response forwarding with backpressure, and the access log at the end.
// Protocol-neutral towards the downstream: it talks to a DownstreamCodec.

import type net from 'node:net';
import { overloadState, shed } from '../overload/state.js';
import { bufferAccounts, type AccountedStream } from '../overload/accounts.js';
import type { Cluster } from '../cluster/cluster.js';
import type { Host } from '../cluster/host.js';
import type { LocalOriginResult } from '../cluster/outlier.js';
import type { MessageHead } from '../codec/http1/parser.js';
import { UpstreamConnection } from '../pool/http1-pool.js';
import { upstreamPoolFor } from '../pool/http2-pool.js';
import type { PoolWaiter, UpstreamPool, UpstreamRequest, UpstreamRequestSource, UpstreamResponseHandler } from '../pool/upstream.js';
import { GrpcStatus, grpcLocalReplyHeaders, grpcServiceMethod, grpcStatusOf, isGrpcRequest, streamTimeouts } from './grpc.js';
import type { CompiledRoute, CompiledRetryPolicy, MatchedRoute, SelectedCluster } from '../router/route-table.js';
import type { CompiledHeaderMutations } from '../router/header-mutations.js';
import { StreamInfo } from '../stream-info.js';
import type { CompiledHcm } from './hcm.js';
import { buildUpstreamHeaders, buildResponseHeaders, requestIdFor, withHost, type RequestIdDecision } from './forwarding.js';
import { STOP, type FilterStream, type HttpFilter } from '../filters/http/filter.js';
import { requestHead } from '../codec/http1/serialize.js';
import { Mirror } from './mirror.js';

/** What a stream needs from the downstream side (HTTP/1.1 now; HTTP/2 later). */
export interface DownstreamCodec {
  readonly hcm: CompiledHcm;
  /** The downstream connection's socket (a tls.TLSSocket after TLS termination). */
  readonly socket: net.Socket;
  readonly remoteAddress: string;   // ip
  readonly remotePort: number;
  readonly localAddress: string;    // ip:port
  /** `ip:port` (IPv6 in brackets) of the peer, built once per connection. */
  readonly remoteAddressPort: string;
  /** Writes a response head still held back (the codec holds it to send it with the body). */
  flushPendingHead(): void;
  readonly scheme: 'http' | 'https';
  /** per_connection_buffer_limit_bytes: how much request body is held for replay or while connecting. */
  readonly bufferLimit: number;
  /** Sends the response head. `contentLength` -1 = unknown (chunked or close-delimited). */
  sendResponseHead(stream: ActiveStream, status: number, headers: string[], contentLength: number, endStream: boolean): void;
  /** Body bytes; false = the downstream buffer is full (wait for onDownstreamDrain). */
  sendResponseData(stream: ActiveStream, chunk: Buffer): boolean;
  sendResponseEnd(stream: ActiveStream, trailers: string[] | null): void;
  /** Aborts the stream towards the client (HTTP/1: closes the connection). */
  resetStream(stream: ActiveStream): void;
  pauseRequest(): void;
  resumeRequest(): void;
  /** Arms (or re-arms) the route timeout of the current stream; it calls stream.onRouteTimeout(). */
  armRouteTimer(ms: number): void;
  clearRouteTimer(): void;
  /** The route's idle_timeout replaces the stream idle timeout for the current stream (0 disables it). */
  setStreamIdleTimeout(ms: number): void;
  /** Switches the connection to a raw tunnel with the upstream socket after a 101. */
  startTunnel(stream: ActiveStream, upstream: UpstreamConnection, upstreamRemaining: Buffer | null): void;
  /** Whether the last sendResponseData left the caller's buffer referenced by a queued write. */
  readonly retainedLastWrite: boolean;
  /** The stream is finished on both sides. */
  onStreamDone(stream: ActiveStream): void;
  /** Response bytes queued towards the client, not yet written out (buffer accounting); absent: not known. */
  queuedResponseBytes?(): number;
}

/** Local-reply texts, as Envoy words them. */
const BODY_NO_HEALTHY = 'no healthy upstream';
const BODY_OVERFLOW = 'upstream connect error or disconnect/reset before headers. reset reason: overflow';
const BODY_TIMEOUT = 'upstream request timeout';

export class ActiveStream implements PoolWaiter, UpstreamResponseHandler, UpstreamRequestSource, FilterStream, AccountedStream {
  readonly info = new StreamInfo();
  /** The HTTP/1.1 request head as it will go upstream (built once, reused by retries; '' for HTTP/2-only clusters). */
  upstreamHead = '';
  upstreamMethod = '';
  upstreamPath = '';
  upstreamHeaders: readonly string[] = [];
  private matched: MatchedRoute | null = null;
  private route: CompiledRoute | null = null;
  private cluster: Cluster | null = null;
  private retry: CompiledRetryPolicy | null = null;
  private retriesLeft = 0;
  private hash: number | null = null;
  private hashComputed = false;
  /** Path and headers kept for auto_host_rewrite, which sets Host per attempt from the chosen host. */
  private autoHost: { path: string; headers: string[] } | null = null;

  // request side
  requestComplete = false;
  readonly requestChunked: boolean;
  /** The request has no body at all (no Content-Length above 0, not chunked). */
  private readonly bodiless: boolean;
  private readonly isHead: boolean;
  /** UpstreamRequestSource: the Upgrade asked for (lower-cased), or null. */
  readonly upgrade: string | null;
  /** Body chunks kept for replay (retries, late connection) while within the buffer limit. */
  private body: Buffer[] | null = [];
  private bodyBytes = 0;
  private readonly bufferLimit: number;
  private trailers: string[] | null = null;
  /** In the overload manager's buffer accounts (reset_high_memory_stream): holds at least their minimum. */
  private accounted = false;

  // upstream attempt
  private host: Host | null = null;
  private pool: UpstreamPool | null = null;
  private conn: UpstreamRequest | null = null;
  /** Request body chunks already written to the current attempt's connection. */
  private bodySent = 0;
  private attemptTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  /** The current attempt's response is being discarded because it will be retried. */
  private discarding = false;
  private attemptStart = 0;
  private upstreamWritePaused = false;

  // response side
  responseStarted = false;
  responseComplete = false;
  private done = false;
  private responseMutations: CompiledHeaderMutations[] = [];
  private mirrors: Mirror[] | null = null;

  // gRPC and stream timeouts
  /** The request is gRPC (only looked at for clusters that may speak HTTP/2, and for local replies). */
  private grpc = false;
  /** The route timeout this stream runs with (the route's, or derived from grpc-timeout). */
  private routeTimeoutMs = 0;
  private durationTimer: NodeJS.Timeout | null = null;

  // HTTP filters (all null / unused when the connection manager has none)
  /** This stream's filter instances, in chain order; null when no filter applies. */
  private filters: HttpFilter[] | null = null;
  /** Index of the next filter to run on the request side. */
  private filterNext = 0;
  /** Response hooks run for filters [0, encodeEnd): a filter's own local reply skips itself and those after it. */
  private encodeEnd = 0;
  private reqId: RequestIdDecision | null = null;
  /** The cluster chosen for the route, once chosen (filters may ask before the router). */
  private selected: SelectedCluster | null | undefined = undefined;
  /** A filter waiting for the request body (FilterStream.watchRequestBody), or null. */
  private bodyWatcher: HttpFilter | null = null;

  constructor(readonly codec: DownstreamCodec, readonly head: MessageHead, protocol: string) {
    const info = this.info;
    info.startTime = Date.now();
    info.startMono = performance.now();
    info.protocol = protocol;
    info.method = head.method;
    info.requestHeaders = head.headers;
    info.downstreamDirectRemoteAddress = codec.remoteAddressPort;
    info.downstreamRemoteAddress = info.downstreamDirectRemoteAddress;
    info.downstreamLocalAddress = codec.localAddress;
    this.requestChunked = head.chunked;
    this.bodiless = !head.chunked && head.contentLength <= 0;
    this.isHead = head.method === 'HEAD';
    this.upgrade = head.upgrade;
    this.bufferLimit = codec.bufferLimit;
  }

  get hcm(): CompiledHcm { return this.codec.hcm; }

  /** Counts the request as started (downstream_rq_total, per protocol, active). */
  private countRequest(): void {
    const stats = this.hcm.stats;
    stats.downstream_rq_total.inc();
    if (this.info.protocol === 'HTTP/2') stats.downstream_rq_http2_total.inc();
    else stats.downstream_rq_http1_total.inc();
    stats.downstream_rq_active.inc();
  }

  /** The codec refused the request before routing: counted, answered locally, logged. */
  reject(status: number, body: string, flag: string, details: string): void {
    this.countRequest();
    this.info.path = this.head.url;
    this.localReply(status, body, flag, details);
  }

  /** Runs routing and starts the upstream request or answers locally. */
  start(): void {
    const head = this.head;
    const info = this.info;
    const hcm = this.hcm;
    this.countRequest();

    // Request target: origin-form, absolute-form (proxy requests), or asterisk-form.
    let path = head.url;
    let authority = '';
    const hs = head.headers;
    for (let i = 0; i < hs.length; i += 2) if (hs[i] === 'host') { authority = hs[i + 1]!; break; }
    if (path.charCodeAt(0) !== 47 /* / */) {
      const abs = parseAbsoluteForm(path);
      if (abs !== null) { authority = abs.authority; path = abs.path; }
      else if (!(path === '*' && head.method === 'OPTIONS')) {
        this.localReply(400, 'Bad Request', 'DPE', 'invalid_path');
        return;
      }
    }
    info.path = path;
    info.authority = authority;
    // Overload manager: envoy.overload_actions.stop_accepting_requests.
    if (overloadState.stopAcceptingRequests !== 0 && shed(overloadState.stopAcceptingRequests)) {
      hcm.stats.downstream_rq_overload_close.inc();
      this.localReply(503, 'envoy overloaded', 'OL', 'overload');
      return;
    }

    const cfg = hcm.config;
    const reqId = requestIdFor(hs, cfg.generateRequestId, cfg.useRemoteAddress, this.codec.remoteAddress);
    info.requestId = reqId.id;
    if (cfg.useRemoteAddress) {
      info.downstreamRemoteAddress = joinHostPort(trustedClientFromXff(hs, cfg.xffNumTrustedHops, this.codec.remoteAddress)!, this.codec.remotePort);
    } else {
      const xffClient = trustedClientFromXff(hs, cfg.xffNumTrustedHops, null);
      if (xffClient !== null) info.downstreamRemoteAddress = joinHostPort(xffClient, 0);
    }

    const matched = hcm.routes.match({ authority, path, method: head.method, headers: hs });
    if (hcm.filters.length !== 0) {
      this.reqId = reqId;
      this.startFilters(matched);
      return;
    }
    this.routeRequest(matched, reqId);
  }

  /** The router: answers locally (no route, direct response, redirect) or starts the upstream request. */
  private routeRequest(matched: MatchedRoute | null, reqId: RequestIdDecision): void {
    const head = this.head;
    const info = this.info;
    const hcm = this.hcm;
    const stats = hcm.stats;
    const hs = head.headers;
    if (matched === null) {
      stats.no_route.inc();
      this.localReply(404, '', 'NR', 'route_not_found');
      return;
    }
    this.matched = matched;
    const route = matched.route;
    this.route = route;
    info.routeName = route.name;

    if (route.kind === 'direct_response') {
      stats.rq_direct_response.inc();
      const dr = route.directResponse!;
      this.collectResponseMutations(null);
      this.localReply(dr.status, dr.body ?? '', '', 'direct_response', true);
      return;
    }
    if (route.kind === 'redirect') {
      stats.rq_redirect.inc();
      const r = route.redirect(this.codec.scheme, info.authority, info.path);
      this.collectResponseMutations(null);
      this.localReply(r.status, '', '', 'redirect', true, r.location);
      return;
    }

    if (this.upgrade !== null) {
      const allowed = route.upgradeConfigs.length > 0
        ? route.upgradeConfigs.some((u) => u.enabled && u.upgradeType === this.upgrade)
        : hcm.upgrades.has(this.upgrade);
      if (!allowed) {
        stats.downstream_rq_ws_on_non_ws_route.inc();
        this.localReply(403, '', '', 'upgrade_failed');
        return;
      }
    }

    const selected = this.selected === undefined ? route.selectCluster(hs, Math.random()) : this.selected;
    const cluster = selected === null ? undefined : hcm.clusters.get(selected.name);
    if (selected === null || cluster === undefined) {
      stats.no_cluster.inc();
      this.localReply(503, '', 'NC', 'cluster_not_found');
      return;
    }
    this.cluster = cluster;
    info.upstreamCluster = cluster.name;
    this.retry = route.retry;
    this.retriesLeft = route.retry === null ? 0 : route.retry.numRetries;
    this.collectResponseMutations(selected.headers);
    const protocol = cluster.config.upstreamProtocol;
    if (protocol !== 'HTTP1') this.grpc = isGrpcRequest(hs);
    this.routeTimeoutMs = route.timeoutMs;
    if (route.hasStreamTimeouts) {
      const t = streamTimeouts(route, hs, this.grpc || isGrpcRequest(hs));
      this.routeTimeoutMs = t.routeTimeoutMs;
      if (t.maxStreamDurationMs > 0) this.armDurationTimer(t.maxStreamDurationMs);
    }

    const up = buildUpstreamHeaders(this, route, matched, selected, cluster, reqId);
    this.upstreamMethod = head.method;
    this.upstreamPath = up.path;
    this.upstreamHeaders = up.headers;
    if (protocol !== 'HTTP2' || this.upgrade !== null) this.upstreamHead = requestHead(head.method, up.path, up.headers);
    if (route.autoHostRewrite) this.autoHost = up;
    if (route.mirrors.length > 0) this.mirrors = Mirror.start(hcm.clusters, route, head.method, up.path, up.headers);
    if (route.idleTimeoutMs !== null) this.codec.setStreamIdleTimeout(route.idleTimeoutMs);
    if (this.requestComplete) this.requestEndedBeforeRouting();
    this.attempt();
  }

  /** A filter held the request until after it ended: start what onRequestComplete would have. */
  private requestEndedBeforeRouting(): void {
    if (this.routeTimeoutMs > 0) this.codec.armRouteTimer(this.routeTimeoutMs);
    if (this.mirrors !== null) for (const m of this.mirrors) m.onRequestComplete(this.body, this.info.bytesReceived > 0);
  }

  // ─────────────────────────── HTTP filters ───────────────────────────

  /** Creates this stream's filter instances for the matched route and runs them. */
  private startFilters(matched: MatchedRoute | null): void {
    const factories = this.hcm.filters;
    const route = matched === null ? null : matched.route;
    this.matched = matched;
    if (route !== null) this.info.routeName = route.name;
    let filters: HttpFilter[] | null = null;
    for (let i = 0; i < factories.length; i++) {
      const f = factories[i]!.create(route);
      if (f !== null) (filters ??= []).push(f);
    }
    this.filters = filters;
    if (filters !== null) this.encodeEnd = filters.length;
    this.runFilters();
  }

  /** Runs request filters from filterNext until one stops; then the router. */
  private runFilters(): void {
    const filters = this.filters;
    if (filters !== null) {
      while (this.filterNext < filters.length) {
        const f = filters[this.filterNext++]!;
        if (f.onRequestHeaders(this) === STOP) return;
        if (this.done) return;
      }
    }
    const matched = this.matched;
    this.matched = null;
    this.routeRequest(matched, this.reqId!);
  }

  /** FilterStream: the route matched (kept while filters run; the router's own after that). */
  get currentRoute(): CompiledRoute | null {
    return this.route ?? this.matched?.route ?? null;
  }

  /** FilterStream: the cluster the route sends to, chosen once (the router uses the same choice). */
  upstreamClusterName(): string {
    const route = this.currentRoute;
    if (route === null || route.kind !== 'route') return '';
    if (this.selected === undefined) this.selected = route.selectCluster(this.head.headers, Math.random());
    return this.selected === null ? '' : this.selected.name;
  }

  /** FilterStream: the downstream connection's socket (TLS peer certificate, addresses). */
  downstreamSocket(): net.Socket | null {
    return this.codec.socket;
  }

  /** FilterStream. */
  isGrpc(): boolean {
    return this.grpc || isGrpcRequest(this.head.headers);
  }

  /** FilterStream: a filter answers; only the filters before it see the response. */
  sendLocalReply(status: number, body: string, flag: string, details: string, grpcStatus?: number,
                 headers?: readonly string[]): void {
    if (this.done) return;
    this.encodeEnd = this.filterNext - 1;
    this.localReply(status, body, flag, details, false, undefined, grpcStatus, headers);
  }

  /** FilterStream: resumes after a filter's STOP. */
  continueRequest(): void {
    if (this.done) return;
    this.runFilters();
  }

  /** FilterStream: the body held so far. */
  requestBody(): readonly Buffer[] | null {
    return this.body;
  }

  /** FilterStream. */
  watchRequestBody(filter: HttpFilter | null): void {
    this.bodyWatcher = filter;
  }

  /** Response header hooks of the filters that see this response (reverse order, as encoders run). */
  private encodeHeaders(status: number, headers: string[]): void {
    const filters = this.filters!;
    for (let i = this.encodeEnd - 1; i >= 0; i--) filters[i]!.onResponseHeaders(status, headers);
  }

  private collectResponseMutations(weighted: CompiledHeaderMutations | null): void {
    const m = this.responseMutations;
    if (weighted !== null && !weighted.isEmpty) m.push(weighted);
    const r = this.route!.headers;
    if (!r.isEmpty) m.push(r);
    const v = this.matched!.virtualHost.headers;
    if (!v.isEmpty) m.push(v);
    const t = this.hcm.routes.headers;
    if (!t.isEmpty) m.push(t);
  }

  // ─────────────────────────── request body ───────────────────────────

  onRequestData(chunk: Buffer): void {
    this.info.bytesReceived += chunk.length;
    if (this.done || this.responseComplete) return; // answered already: the rest is discarded
    if (this.body !== null) {
      if (this.bodyBytes + chunk.length <= this.bufferLimit) {
        this.body.push(chunk);
        this.bodyBytes += chunk.length;
      } else if (this.conn !== null && this.bodySent === this.body.length) {
        // Too big to replay: stream from now on; no more retries.
        this.body = null;
        this.retriesLeft = 0;
      } else {
        // Waiting for a connection and over the limit: hold the data and stop reading (unless a
        // filter watching the body bounds it itself).
        this.body.push(chunk);
        this.bodyBytes += chunk.length;
        if (this.bodyWatcher === null) this.codec.pauseRequest();
      }
      if (this.bodyBytes >= bufferAccounts.minimum && !this.accounted && this.body !== null) this.account();
    }
    if (this.conn !== null && !this.discarding) {
      if (this.body !== null) this.flushBody();
      else this.writeBodyChunk(chunk);
    } else if (this.bodyWatcher !== null) this.bodyWatcher.onRequestBody!(this, false);
  }

  onRequestComplete(trailers: string[] | null): void {
    this.requestComplete = true;
    this.trailers = trailers;
    if (this.done) return;
    if (this.bodyWatcher !== null) this.bodyWatcher.onRequestBody!(this, true);
    // The route timeout runs from the end of the request, as in Envoy: a long upload is not cut short.
    if (this.routeTimeoutMs > 0 && this.cluster !== null) this.codec.armRouteTimer(this.routeTimeoutMs);
    if (this.conn !== null && !this.discarding && !this.responseComplete && !this.bodiless) {
      if (this.body !== null) this.flushBody();
      this.finishUpstreamRequest();
    }
    if (this.mirrors !== null) for (const m of this.mirrors) m.onRequestComplete(this.body, this.info.bytesReceived > 0);
  }

  private writeBodyChunk(chunk: Buffer): void {
    const ok = this.conn!.sendData(chunk);
    if (!ok && !this.upstreamWritePaused) {
      this.upstreamWritePaused = true;
      this.codec.pauseRequest();
    }
  }

  /** Writes buffered body chunks not yet sent on this attempt. */
  private flushBody(): void {
    const body = this.body!;
    while (this.bodySent < body.length) this.writeBodyChunk(body[this.bodySent++]!);
    if (this.bodyBytes > this.bufferLimit && this.bodySent === body.length) {
      // Over the replay limit: we only held it while connecting. Drop it and read on.
      this.body = null;
      this.retriesLeft = 0;
      if (!this.upstreamWritePaused) this.codec.resumeRequest();
    }
  }

  private finishUpstreamRequest(): void {
    this.conn!.sendEnd(this.trailers === null ? null : withoutFramingFields(this.trailers));
  }

  /** An upstream read has been processed: anything held back for coalescing goes out now. */
  onUpstreamReadEnd(): void {
    this.codec.flushPendingHead();
  }

  onUpstreamDrain(): void {
    if (this.upstreamWritePaused) {
      this.upstreamWritePaused = false;
      this.codec.resumeRequest();
    }
  }

  // ─────────────────────────── upstream attempts ───────────────────────────

  private attempt(): void {
    const cluster = this.cluster!;
    if (!this.hashComputed) {
      this.hashComputed = true;
      this.hash = this.route!.hash(this.head.headers, this.codec.remoteAddress);
    }
    const host = cluster.chooseHost(this.hash);
    if (host === null) {
      cluster.stats.upstream_cx_none_healthy.inc();
      this.localReply(503, BODY_NO_HEALTHY, 'UH', 'no_healthy_upstream');
      return;
    }
    const cs = cluster.stats;
    if (cs.upstream_rq_active.value >= cluster.config.connectionPool.maxRequests) {
      cs.upstream_rq_pending_overflow.inc();
      this.localReply(503, BODY_OVERFLOW, 'UO', 'upstream_reset_before_response_started{overflow}');
      return;
    }
    this.host = host;
    this.info.upstreamHost = host.key;
    const auto = this.autoHost;
    if (auto !== null && host.hostname !== '') {
      this.upstreamHeaders = withHost(auto.headers, host.hostname);
      if (this.upstreamHead !== '') this.upstreamHead = requestHead(this.head.method, auto.path, this.upstreamHeaders);
    }
    cs.upstream_rq_total.inc();
    cs.upstream_rq_active.inc();
    host.activeRequests++;
    host.stats.rqTotal++;
    host.stats.rqActive++;
    this.attemptStart = this.info.retries === 0 ? this.info.startMono : performance.now();
    this.discarding = false;
    const retry = this.retry;
    if (retry !== null && retry.perTryTimeoutMs > 0) {
      this.attemptTimer = setTimeout(() => this.onPerTryTimeout(), retry.perTryTimeoutMs);
    }
    const pool = upstreamPoolFor(cluster, host, this.info.protocol, this.upgrade !== null);
    this.pool = pool;
    const conn = pool.acquire(this);
    if (conn !== null) this.onPoolReady(conn);
  }

  /** Outlier detection: a local-origin failure of the current attempt (nothing without outlier_detection). */
  private outlierLocalOrigin(result: LocalOriginResult): void {
    const od = this.cluster!.outlier;
    if (od !== null && this.host !== null) od.putLocalOrigin(this.host, result);
  }

  /** Ends the bookkeeping of the current attempt. */
  private endAttempt(success: boolean): void {
    const host = this.host;
    if (host === null) return;
    const cs = this.cluster!.stats;
    cs.upstream_rq_active.dec();
    host.activeRequests--;
    host.stats.rqActive--;
    if (success) host.stats.rqSuccess++;
    else host.stats.rqError++;
    this.host = null;
    if (this.attemptTimer !== null) { clearTimeout(this.attemptTimer); this.attemptTimer = null; }
  }

  onPoolReady(conn: UpstreamRequest): void {
    if (this.done || this.host === null) { this.pool?.release(conn); return; }
    this.conn = conn;
    this.bodySent = 0;
    conn.begin(this);
    const body = this.body;
    if (this.bodiless || (this.requestComplete && !this.requestChunked && (body === null || body.length === 0))) {
      // Common case (no body): the head is the whole request, one write.
      conn.sendHead(this, true);
      return;
    }
    conn.cork();
    conn.sendHead(this, false);
    if (body !== null) this.flushBody();
    if (this.requestComplete && this.conn === conn) this.finishUpstreamRequest();
    conn.uncork();
  }

  onPoolFailure(reason: 'connect-failure' | 'connect-timeout' | 'overflow', detail: string): void {
    if (this.done) return;
    if (reason !== 'overflow') this.outlierLocalOrigin(reason === 'connect-timeout' ? 'timeout' : 'connect-failed');
    this.endAttempt(false);
    if (reason === 'overflow') {
      this.localReply(503, BODY_OVERFLOW, 'UO', 'upstream_reset_before_response_started{overflow}');
      return;
    }
    if (this.tryRetry(0, 'connect-failure')) return;
    this.localReply(503,
      `upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: ${detail}`,
      'UF', 'upstream_reset_before_response_started{connection_failure}');
  }

  onResponseHead(head: MessageHead): boolean {
    const info = this.info;
    const status = head.statusCode;
    if (status === 101 && (this.upgrade === null || !(this.conn instanceof UpstreamConnection))) {
      // Nothing to switch to (no Upgrade asked, or an HTTP/2 upstream, which has no 101): an
      // upstream protocol error, 502 as Envoy answers it. (The HTTP/1.1 pool catches its own.)
      const conn = this.conn;
      this.conn = null;
      conn?.abort();
      this.onResponseReset('protocol', 'unexpected 101 Switching Protocols');
      return true;
    }
    const cluster = this.cluster!;
    const od = cluster.outlier;
    if (od !== null && this.host !== null) od.putHttpStatus(this.host, status);
    const retry = this.retry;
    if (this.retriesLeft > 0 && retry !== null && (retry.shouldRetry(status, 'response') || (retry.grpcOn !== 0 && retry.shouldRetryGrpc(grpcStatusOf(head.headers)))) && this.canReplay()) {
      // Discard this response; the retry starts once it has been read off the connection.
      this.discarding = true;
      cluster.rqStatus(status);
      return this.isHead;
    }
    this.endAttemptTimerOnly();
    cluster.rqStatus(status);
    if (retry !== null && this.retriesLeft <= 0 && (retry.shouldRetry(status, 'response') || (retry.grpcOn !== 0 && retry.shouldRetryGrpc(grpcStatusOf(head.headers))))) this.retryLimitExceeded();
    if (status === 101 && this.upgrade !== null && this.conn instanceof UpstreamConnection) {
      const headers = buildResponseHeaders(this, head.headers, true, performance.now() - this.attemptStart);
      info.responseCode = 101;
      info.responseHeaders = headers;
      info.responseCodeDetails = 'via_upstream';
      this.responseStarted = true;
      const up = this.conn!.detachForUpgrade();
      this.conn = null;
      this.endAttempt(true);
      this.clearRouteTimeout();
      this.codec.sendResponseHead(this, 101, headers, -1, false);
      this.hcm.stats.downstream_cx_upgrades_total.inc();
      this.codec.startTunnel(this, up.connection, up.remaining);
      return true;
    }
    const headers = buildResponseHeaders(this, head.headers, false, performance.now() - this.attemptStart);
    if (this.filters !== null) this.encodeHeaders(status, headers);
    info.responseCode = status;
    info.responseHeaders = headers;
    info.responseCodeDetails = 'via_upstream';
    this.responseStarted = true;
    const noBody = this.isHead || status === 204 || status === 304 || (status >= 100 && status < 200);
    const cl = head.chunked ? -1 : head.contentLength;
    this.codec.sendResponseHead(this, status, headers, noBody ? (cl >= 0 ? cl : 0) : cl, noBody);
    return this.isHead;
  }

  onResponseData(chunk: Buffer): void {
    if (this.discarding) return;
    this.info.bytesSent += chunk.length;
    const conn = this.conn;
    const more = this.codec.sendResponseData(this, chunk);
    if (conn !== null) {
      if (this.codec.retainedLastWrite) conn.markReadRetained();
      if (!more) conn.pauseReading();
    }
    // The client is not keeping up: the queued bytes may put the stream in the buffer accounts.
    if (!more && !this.accounted && bufferAccounts.minimum !== Infinity && this.bufferedBytes() >= bufferAccounts.minimum) this.account();
  }

  /** The downstream can take more response bytes. */
  onDownstreamDrain(): void {
    const c = this.conn;
    if (c !== null && !c.closed) c.resumeReading();
  }

  onResponseComplete(trailers: string[] | null): void {
    const conn = this.conn;
    this.conn = null;
    if (this.discarding) {
      this.endAttempt(false);
      this.scheduleRetry();
      return;
    }
    if (conn !== null) conn.resumeReading();
    const cluster = this.cluster!;
    cluster.stats.upstream_rq_completed.inc();
    const now = performance.now();
    this.info.endMono = now;
    cluster.stats.upstream_rq_time.record(now - this.attemptStart);
    if (this.info.retries > 0) cluster.stats.upstream_rq_retry_success.inc();
    if (this.grpc) this.countGrpc(trailers);
    this.endAttempt(true);
    this.responseComplete = true;
    if (trailers !== null) trailers = withoutFramingFields(trailers);
    this.info.responseTrailers = trailers;
    this.clearRouteTimeout();
    this.codec.sendResponseEnd(this, trailers);
    this.finish();
  }

  onResponseReset(kind: 'reset' | 'protocol' | 'refused', _detail: string): void {
    if (this.done) return;
    this.conn = null;
    const cs = this.cluster!.stats;
    cs.upstream_rq_rx_reset.inc();
    this.outlierLocalOrigin('reset');
    this.endAttempt(false);
    if (this.discarding) { this.scheduleRetry(); return; }
    if (this.responseStarted) {
      this.info.addResponseFlag(kind === 'protocol' ? 'UPE' : 'UC');
      this.resetDownstream();
      return;
    }
    if (kind === 'reset' && this.tryRetry(0, 'reset')) return;
    if (kind === 'refused' && this.tryRetry(0, 'refused-stream')) return;
    if (kind === 'refused') {
      this.localReply(503, 'upstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset',
        'UR', 'upstream_reset_before_response_started{remote_refused_stream_reset}');
    } else if (kind === 'protocol') {
      this.localReply(502, 'upstream connect error or disconnect/reset before headers. reset reason: protocol error',
        'UPE', 'upstream_reset_before_response_started{protocol_error}');
    } else {
      this.localReply(503, `upstream connect error or disconnect/reset before headers. reset reason: connection termination`,
        'UC', 'upstream_reset_before_response_started{connection_termination}');
    }
  }

  private canReplay(): boolean {
    return this.body !== null && (this.requestComplete || this.bodySent === this.body.length);
  }

  /** Retries when policy and budget allow; true if a retry was scheduled. */
  private tryRetry(status: number, kind: 'reset' | 'connect-failure' | 'refused-stream'): boolean {
    if (this.retry === null || !this.canReplay()) return false;
    if (!this.retry.shouldRetry(status, kind)) return false;
    if (this.retriesLeft <= 0) { this.retryLimitExceeded(); return false; }
    this.scheduleRetry();
    return true;
  }

  /** The outcome was retriable but no retry is left: Envoy's URX flag and upstream_rq_retry_limit_exceeded. */
  private retryLimitExceeded(): void {
    this.info.addResponseFlag('URX');
    this.cluster!.stats.upstream_rq_retry_limit_exceeded.inc();
  }

  private scheduleRetry(): void {
    const cluster = this.cluster!;
    const cs = cluster.stats;
    if (this.retriesLeft <= 0) { this.localReply(503, '', 'URX', 'retry_limit_exceeded'); return; }
    const limits = cluster.config.connectionPool;
    if (cluster.activeRetries >= limits.maxRetries) {
      cs.upstream_rq_retry_overflow.inc();
      this.localReply(503, BODY_OVERFLOW, 'UO', 'upstream_reset_before_response_started{overflow}');
      return;
    }
    this.retriesLeft--;
    this.info.retries++;
    cs.upstream_rq_retry.inc();
    cluster.activeRetries++;
    const wait = this.retry!.backoffMs(this.info.retries);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      cluster.activeRetries--;
      if (!this.done) this.attempt();
    }, wait);
  }

  // ─────────────────────────── timeouts ───────────────────────────

  private clearRouteTimeout(): void {
    this.codec.clearRouteTimer();
  }

  /** The route's global timeout fired. */
  onRouteTimeout(): void {
    if (this.done) return;
    const cluster = this.cluster!;
    cluster.stats.upstream_rq_timeout.inc();
    if (this.host !== null) this.host.stats.rqTimeout++;
    if (!this.responseStarted) this.outlierLocalOrigin('timeout');
    this.abandonAttempt();
    if (this.retryTimer !== null) { clearTimeout(this.retryTimer); this.retryTimer = null; cluster.activeRetries--; }
    if (this.responseStarted) {
      this.info.addResponseFlag('UT');
      this.resetDownstream();
      return;
    }
    this.localReply(504, BODY_TIMEOUT, 'UT', 'upstream_response_timeout');
  }

  /** Starts the stream duration limit (max_stream_duration or a grpc-timeout), from the start of the stream. */
  private armDurationTimer(ms: number): void {
    const left = ms - (performance.now() - this.info.startMono);
    this.durationTimer = setTimeout(() => this.onMaxDuration(), Math.max(0, left));
  }

  /** As Envoy's connection manager: 408 (gRPC: DEADLINE_EXCEEDED) before the response, else a reset. */
  private onMaxDuration(): void {
    this.durationTimer = null;
    if (this.done) return;
    this.hcm.stats.downstream_rq_max_duration_reached.inc();
    if (this.retryTimer !== null) { clearTimeout(this.retryTimer); this.retryTimer = null; this.cluster!.activeRetries--; }
    this.localReply(408, 'downstream duration timeout', 'DT', 'max_duration_timeout', false, undefined, GrpcStatus.DEADLINE_EXCEEDED);
  }

  /** Counts a finished gRPC call by service, method and grpc-status (trailers, or a trailers-only head). */
  private countGrpc(trailers: string[] | null): void {
    let status = grpcStatusOf(trailers);
    if (status < 0) status = grpcStatusOf(this.info.responseHeaders);
    const sm = status < 0 ? null : grpcServiceMethod(this.info.path);
    if (sm !== null) this.cluster!.stats.grpcStatus(sm.service, sm.method, status);
  }

  private onPerTryTimeout(): void {
    this.attemptTimer = null;
    if (this.done || this.responseStarted) return;
    const cluster = this.cluster!;
    cluster.stats.upstream_rq_per_try_timeout.inc();
    this.outlierLocalOrigin('timeout');
    this.abandonAttempt();
    // As Envoy: a per-try timeout is a reset, retried only when retry_on covers resets (reset, 5xx, gateway-error).
    if (this.retry!.shouldRetry(0, 'reset') && this.canReplay()) {
      if (this.retriesLeft > 0) { this.scheduleRetry(); return; }
      this.retryLimitExceeded();
    }
    cluster.stats.upstream_rq_timeout.inc();
    this.localReply(504, BODY_TIMEOUT, 'UT', 'upstream_per_try_timeout');
  }

  private endAttemptTimerOnly(): void {
    if (this.attemptTimer !== null) { clearTimeout(this.attemptTimer); this.attemptTimer = null; }
  }

  /** Gives up the current attempt: frees or destroys its connection. */
  private abandonAttempt(): void {
    if (this.conn !== null) {
      this.cluster!.stats.upstream_rq_tx_reset.inc();
      this.conn.abort();
      this.conn = null;
    } else if (this.pool !== null && this.host !== null) {
      this.pool.cancel(this);
    }
    this.endAttempt(false);
  }

  // ─────────────────────────── endings ───────────────────────────

  /**
   * Answers the client from the proxy itself. `flag` is Envoy's response flag ('' for none).
   * `routeHeaders` applies the route's response header mutations (direct responses, redirects).
   */
  localReply(status: number, body: string, flag: string, details: string, routeHeaders = false, location?: string,
             grpcStatus?: number, extraHeaders?: readonly string[]): void {
    if (this.done) return;
    const info = this.info;
    if (flag !== '') info.addResponseFlag(flag);
    info.responseCodeDetails = details;
    // Too late for a reply (stream idle timeout, max duration): the upstream request goes too.
    this.abandonAttempt();
    if (this.responseStarted) { this.resetDownstream(); return; }
    if (location === undefined && (this.grpc || isGrpcRequest(this.head.headers))) {
      this.grpcLocalReply(status, body, routeHeaders, grpcStatus);
      return;
    }
    const headers: string[] = extraHeaders === undefined ? [] : extraHeaders.slice();
    if (location !== undefined) headers.push('location', location);
    const bodyLen = Buffer.byteLength(body);
    if (bodyLen > 0 && (extraHeaders === undefined || !extraHeaders.includes('content-type'))) headers.push('content-type', 'text/plain');
    if (routeHeaders || this.responseMutations.length > 0) {
      for (const m of this.responseMutations) m.applyResponse(headers, info);
    }
    if (this.filters !== null) this.encodeHeaders(status, headers);
    headers.push('date', httpDate(), 'server', this.hcm.config.serverName);
    info.responseCode = status;
    info.responseHeaders = headers;
    this.responseStarted = true;
    const noBody = this.isHead || status === 204 || status === 304;
    this.codec.sendResponseHead(this, status, headers, bodyLen, noBody || bodyLen === 0);
    if (!noBody && bodyLen > 0) {
      this.info.bytesSent += bodyLen;
      this.codec.sendResponseData(this, Buffer.from(body));
    }
    this.codec.sendResponseEnd(this, null);
    this.responseComplete = true;
    this.clearRouteTimeout();
    this.finish();
  }

  /**
   * A local reply to a gRPC request is trailers-only, as Envoy sends it: HTTP 200 with
   * grpc-status (mapped from the HTTP status unless given) and grpc-message in the headers.
   */
  private grpcLocalReply(status: number, body: string, routeHeaders: boolean, grpcStatus: number | undefined): void {
    const info = this.info;
    const headers = grpcLocalReplyHeaders(status, body, grpcStatus);
    if (routeHeaders || this.responseMutations.length > 0) {
      for (const m of this.responseMutations) m.applyResponse(headers, info);
    }
    if (this.filters !== null) this.encodeHeaders(200, headers);
    headers.push('date', httpDate(), 'server', this.hcm.config.serverName);
    info.responseCode = 200;
    info.responseHeaders = headers;
    this.responseStarted = true;
    this.codec.sendResponseHead(this, 200, headers, 0, true);
    this.codec.sendResponseEnd(this, null);
    this.responseComplete = true;
    this.clearRouteTimeout();
    this.finish();
  }

  /** The response cannot be completed: reset towards the client. */
  private resetDownstream(): void {
    this.hcm.stats.downstream_rq_tx_reset.inc();
    this.codec.resetStream(this);
    this.finish();
  }

  // ─────────────────────────── buffer accounting (overload manager) ───────────────────────────

  private account(): void {
    this.accounted = true;
    bufferAccounts.track(this);
  }

  /** AccountedStream: the request body kept for replay or while connecting, and response bytes queued to the client. */
  bufferedBytes(): number {
    return (this.body !== null ? this.bodyBytes : 0) + (this.codec.queuedResponseBytes?.() ?? 0);
  }

  /**
   * AccountedStream: envoy.overload_actions.reset_high_memory_stream picked this stream. As Envoy's
   * connection manager on an OverloadManager reset: downstream_rq_rx_reset, flag OL, details
   * `overload`; the client's stream is reset (HTTP/1.1: the connection closes) and the upstream
   * request abandoned.
   */
  resetForOverload(): void {
    if (this.done) return;
    this.hcm.stats.downstream_rq_rx_reset.inc();
    this.info.addResponseFlag('OL');
    this.info.responseCodeDetails = 'overload';
    this.abandonAttempt();
    if (this.retryTimer !== null) { clearTimeout(this.retryTimer); this.retryTimer = null; this.cluster!.activeRetries--; }
    this.clearRouteTimeout();
    this.codec.resetStream(this);
    this.finish();
  }

  /** The client went away or the connection failed under the stream. */
  onDownstreamReset(): void {
    if (this.done) return;
    this.hcm.stats.downstream_rq_rx_reset.inc();
    this.info.addResponseFlag('DC');
    this.abandonAttempt();
    if (this.retryTimer !== null) { clearTimeout(this.retryTimer); this.retryTimer = null; this.cluster!.activeRetries--; }
    this.clearRouteTimeout();
    this.finish();
  }

  /** Applies response header mutations (weighted cluster → route → virtual host → route config). */
  applyResponseMutations(headers: string[]): void {
    for (const m of this.responseMutations) m.applyResponse(headers, this.info);
  }

  /** Both directions are over (or the stream is abandoned): stats, access log, release. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.accounted) { this.accounted = false; bufferAccounts.untrack(this); }
    if (this.durationTimer !== null) { clearTimeout(this.durationTimer); this.durationTimer = null; }
    const filters = this.filters;
    if (filters !== null) for (let i = 0; i < filters.length; i++) filters[i]!.onDestroy();
    const info = this.info;
    if (info.endMono === 0) info.endMono = performance.now();
    const stats = this.hcm.stats;
    stats.downstream_rq_active.dec();
    stats.downstream_rq_completed.inc();
    const cls = (info.responseCode / 100) | 0;
    if (cls >= 1 && cls <= 5) stats.downstream_rq_xx[cls]!.inc();
    stats.downstream_rq_time.record(info.endMono - info.startMono);
    const loggers = this.hcm.accessLoggers;
    for (let i = 0; i < loggers.length; i++) loggers[i]!.log(info);
    this.codec.onStreamDone(this);
  }

  /** Finishes a tunnelled (upgraded) stream when both sides have closed. */
  finishTunnel(bytesIn: number, bytesOut: number): void {
    this.info.bytesReceived += bytesIn;
    this.info.bytesSent += bytesOut;
    this.responseComplete = true;
    this.finish();
  }

  get isDone(): boolean { return this.done; }
}

/**
 * Trailer fields without Content-Length and Transfer-Encoding: framing cannot come after the
 * body (RFC 9110 §6.5.1), a proxy may discard such fields (§6.5.2), and llhttp rejects them.
 */
function withoutFramingFields(trailers: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < trailers.length; i += 2) {
    const n = trailers[i]!;
    if (n !== 'content-length' && n !== 'transfer-encoding') out.push(n, trailers[i + 1]!);
  }
  return out;
}

/** `http://host[:port]/path?q` → authority and origin-form path; null when not absolute-form. */
function parseAbsoluteForm(target: string): { authority: string; path: string } | null {
  let rest: string;
  if (target.startsWith('http://')) rest = target.slice(7);
  else if (target.startsWith('https://')) rest = target.slice(8);
  else return null;
  let end = rest.length;
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c === 47 || c === 63 || c === 35) { end = i; break; }
  }
  const authority = rest.slice(0, end);
  if (authority === '' || authority.includes('@')) return null;
  let path = rest.slice(end);
  if (path === '' || path.charCodeAt(0) === 63) path = '/' + path;
  return { authority, path };
}

/**
 * Envoy's trusted client address from x-forwarded-for: with N trusted hops the address N+1 from
 * the right (or N from the right when the connection address is used and appended).
 */
function trustedClientFromXff(headers: readonly string[], trustedHops: number, remote: string | null): string | null {
  let xff: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === 'x-forwarded-for') xff = xff === undefined ? headers[i + 1] : xff + ',' + headers[i + 1];
  }
  if (remote !== null) {
    if (trustedHops === 0 || xff === undefined) return remote;
    const parts = xff.split(',');
    const idx = parts.length - trustedHops;
    return idx >= 0 ? parts[idx]!.trim() : remote;
  }
  if (xff === undefined) return null;
  const parts = xff.split(',');
  const idx = parts.length - 1 - trustedHops;
  return idx >= 0 ? parts[idx]!.trim() || null : null;
}

/** `ip:port`, with an IPv6 address in brackets (`[::1]:80`), as Envoy prints addresses. */
function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? '[' + ip + ']:' + port : ip + ':' + port;
}

let dateCache = '';
let dateCacheSec = 0;
/** IMF-fixdate of now, recomputed at most once a second. */
export function httpDate(): string {
  const now = Date.now();
  const sec = (now / 1000) | 0;
  if (sec !== dateCacheSec) { dateCacheSec = sec; dateCache = new Date(now).toUTCString(); }
  return dateCache;
}
