// Envoy's async HTTP client, reduced: a filter (jwt_authn fetching JWKS, ext_authz calling its
// authorization service) sends one request to a cluster by name and gets the whole response back,
// through the same host selection, connection pools, TLS and protocol (HTTP/1.1 or HTTP/2, so
// gRPC too) as routed traffic. Bodies are bounded: a response above `maxResponseBytes` fails.

import type { MessageHead } from '../codec/http1/parser.js';
import { requestHead } from '../codec/http1/serialize.js';
import type { Cluster } from '../cluster/cluster.js';
import { upstreamPoolFor } from '../pool/http2-pool.js';
import type { PoolFailure, PoolWaiter, UpstreamPool, UpstreamRequest, UpstreamRequestSource, UpstreamResponseHandler } from '../pool/upstream.js';

export interface AsyncRequest {
  readonly method: string;
  readonly path: string;
  /** Host / :authority. */
  readonly authority: string;
  /** Extra headers, flat [name, value, ...], names lower-cased (no host, content-length or framing). */
  readonly headers?: readonly string[];
  readonly body?: Buffer;
  /** Gives up (and aborts the exchange) after this long. */
  readonly timeoutMs: number;
  /** Default 1 MiB. */
  readonly maxResponseBytes?: number;
  /** Speak HTTP/2 whatever the cluster's protocol options say would be chosen for an HTTP/1.1 caller (gRPC). */
  readonly http2?: boolean;
}

export interface AsyncResponse {
  readonly status: number;
  /** Flat [name, value, ...], names lower-cased. */
  readonly headers: readonly string[];
  readonly body: Buffer;
  /** HTTP/2 trailers (gRPC status), or null. */
  readonly trailers: readonly string[] | null;
}

/** Clusters by name, as the proxy's ClusterManager offers them. */
export interface ClusterLookup {
  get(name: string): Cluster | undefined;
}

/** Why a request failed: no such cluster, no healthy host, HTTP/2 asked of an HTTP/1.1-only cluster, connect failure, reset, timeout, too large. */
export class AsyncClientError extends Error {
  constructor(readonly reason: 'no_cluster' | 'no_host' | 'protocol' | PoolFailure | 'reset' | 'timeout' | 'too_large', detail: string) {
    super(detail);
  }
}

/** Callbacks of startAsync: exactly one of them is called, asynchronously, unless the request is cancelled. */
export interface AsyncCallbacks {
  onAsyncSuccess(res: AsyncResponse): void;
  onAsyncFailure(err: AsyncClientError): void;
}

/** An exchange in flight; cancel() aborts it and silences its callbacks. */
export interface AsyncHandle {
  cancel(): void;
}

/**
 * Sends `req` to `clusterName` and reports to `cb` (callback form, cancellable: a filter whose
 * stream goes away cancels its call). Failures found before any I/O are reported on a microtask.
 */
export function startAsync(clusters: ClusterLookup, clusterName: string, req: AsyncRequest, cb: AsyncCallbacks): AsyncHandle {
  const cluster = clusters.get(clusterName);
  let early: AsyncClientError | null = null;
  if (cluster === undefined) early = new AsyncClientError('no_cluster', `cluster ${clusterName} is not configured`);
  else if (req.http2 === true && cluster.config.upstreamProtocol === 'HTTP1') {
    early = new AsyncClientError('protocol', `cluster ${clusterName} speaks HTTP/1.1 only (gRPC needs http2_protocol_options)`);
  }
  const host = early === null ? cluster!.chooseHost(null) : null;
  if (early === null && host === null) early = new AsyncClientError('no_host', `cluster ${clusterName} has no healthy host`);
  if (early !== null) {
    const failure = early;
    const handle = { cancelled: false, cancel(): void { this.cancelled = true; } };
    queueMicrotask(() => { if (!handle.cancelled) cb.onAsyncFailure(failure); });
    return handle;
  }
  const pool = upstreamPoolFor(cluster!, host!, req.http2 === true ? 'HTTP/2' : 'HTTP/1.1', false);
  const ex = new Exchange(pool, req, cb);
  ex.start();
  return ex;
}

/** Sends `req` to `clusterName`. Never throws synchronously; the promise rejects with an AsyncClientError. */
export function sendAsync(clusters: ClusterLookup, clusterName: string, req: AsyncRequest): Promise<AsyncResponse> {
  return new Promise((resolve, reject) => {
    startAsync(clusters, clusterName, req, { onAsyncSuccess: resolve, onAsyncFailure: reject });
  });
}

class Exchange implements PoolWaiter, UpstreamResponseHandler, UpstreamRequestSource, AsyncHandle {
  upstreamHead = '';
  upstreamHeaders: readonly string[] = [];
  readonly requestChunked = false;
  private conn: UpstreamRequest | null = null;
  private timer: NodeJS.Timeout | null = null;
  private done = false;
  private status = 0;
  private headers: readonly string[] = [];
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private readonly max: number;

  constructor(private readonly pool: UpstreamPool, private readonly req: AsyncRequest, private cb: AsyncCallbacks | null) {
    this.max = req.maxResponseBytes ?? 1024 * 1024;
  }

  private resolve(r: AsyncResponse): void {
    const cb = this.cb;
    this.cb = null;
    cb?.onAsyncSuccess(r);
  }

  private reject(e: AsyncClientError): void {
    const cb = this.cb;
    this.cb = null;
    cb?.onAsyncFailure(e);
  }

  /** AsyncHandle: aborts the exchange; no callback follows. */
  cancel(): void {
    this.cb = null;
    this.fail(new AsyncClientError('reset', 'cancelled'));
  }

  get upstreamMethod(): string { return this.req.method; }
  get upstreamPath(): string { return this.req.path; }

  start(): void {
    this.timer = setTimeout(() => this.fail(new AsyncClientError('timeout', `no response within ${this.req.timeoutMs} ms`)), this.req.timeoutMs);
    const conn = this.pool.acquire(this);
    if (conn !== null) this.onPoolReady(conn);
  }

  private finish(): void {
    this.done = true;
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
  }

  private fail(err: AsyncClientError): void {
    if (this.done) return;
    this.finish();
    if (this.conn !== null) this.conn.abort();
    else this.pool.cancel(this);
    this.reject(err);
  }

  onPoolReady(conn: UpstreamRequest): void {
    if (this.done) { this.pool.release(conn); return; }
    this.conn = conn;
    conn.begin(this);
    const body = this.req.body;
    const headers = ['host', this.req.authority, ...(this.req.headers ?? [])];
    if (body !== undefined && body.length > 0) headers.push('content-length', String(body.length));
    this.upstreamHeaders = headers;
    if (conn.protocol === 'HTTP/1.1') this.upstreamHead = requestHead(this.req.method, this.req.path, headers);
    if (body === undefined || body.length === 0) { conn.sendHead(this, true); return; }
    conn.cork();
    conn.sendHead(this, false);
    conn.sendData(body);
    conn.sendEnd(null);
    conn.uncork();
  }

  onPoolFailure(reason: PoolFailure, detail: string): void {
    if (this.done) return;
    this.finish();
    this.reject(new AsyncClientError(reason, detail));
  }

  onResponseHead(head: MessageHead): boolean {
    this.status = head.statusCode;
    this.headers = head.headers;
    return this.req.method === 'HEAD';
  }

  onResponseData(chunk: Buffer): void {
    if (this.done) return;
    this.size += chunk.length;
    if (this.size > this.max) { this.fail(new AsyncClientError('too_large', `response body above ${this.max} bytes`)); return; }
    this.chunks.push(Buffer.from(chunk)); // the pool may reuse its read buffer
  }

  onResponseComplete(trailers: string[] | null): void {
    if (this.done) return;
    this.finish();
    this.resolve({ status: this.status, headers: this.headers, body: Buffer.concat(this.chunks), trailers });
  }

  onResponseReset(kind: string, detail: string): void {
    if (this.done) return;
    this.finish();
    this.reject(new AsyncClientError('reset', `${kind}: ${detail}`));
  }

  onUpstreamDrain(): void { /* the body is written at once */ }
  onUpstreamReadEnd(): void { /* nothing is held */ }
}
