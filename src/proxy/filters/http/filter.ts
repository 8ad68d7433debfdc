// The HTTP filter contract (Envoy's stream decoder/encoder filters, reduced to what Weft's filters
// need): a factory compiled once per connection-manager version, with each route's effective
// typed_per_filter_config resolved up front, and a cheap instance per stream.

import type net from 'node:net';
import type { MessageHead } from '../../codec/http1/parser.js';
import type { PerFilterConfig } from '../../config/types.js';
import type { CompiledRoute, RouteTable } from '../../router/route-table.js';
import type { StreamInfo } from '../../stream-info.js';

/** Go on with the next filter (and finally the router). */
export const CONTINUE = 0;
/** The filter holds the request: it answered locally, or it calls stream.continueRequest() later. */
export const STOP = 1;
export type FilterStatus = typeof CONTINUE | typeof STOP;

/** What a filter may use of its stream (ActiveStream implements it). */
export interface FilterStream {
  readonly info: StreamInfo;
  readonly head: MessageHead;
  /** The route the request matched; null when none did. */
  readonly currentRoute: CompiledRoute | null;
  /** The cluster the request is bound for ('' for no route, direct responses and redirects). */
  upstreamClusterName(): string;
  /** The downstream connection's socket (a tls.TLSSocket when the listener terminated TLS); null when unknown. */
  downstreamSocket(): net.Socket | null;
  /** Whether the request is gRPC (content-type application/grpc...). */
  isGrpc(): boolean;
  /**
   * Answers from the filter; the response goes through the onResponseHeaders of the filters before
   * it. `flag` is Envoy's response flag ('' for none); gRPC requests get a trailers-only reply
   * (with `grpcStatus` when given). `headers` are extra response headers (flat list).
   */
  sendLocalReply(status: number, body: string, flag: string, details: string, grpcStatus?: number, headers?: readonly string[]): void;
  /** Resumes the chain after the filter returned STOP (ignored once the stream is over). */
  continueRequest(): void;
  /** The whole request (body and trailers) has been received. */
  readonly requestComplete: boolean;
  /**
   * The request body received so far, while the stream still holds it (it does while a filter
   * holds the request); null once it was streamed upstream.
   */
  requestBody(): readonly Buffer[] | null;
  /**
   * Asks for `filter.onRequestBody` on every body chunk and at the end of the request (null: stop).
   * While a watcher is set the stream keeps reading past its buffer limit: the watcher bounds it.
   */
  watchRequestBody(filter: HttpFilter | null): void;
}

/** One filter on one stream. */
export interface HttpFilter {
  /** The request head is complete (headers are in stream.info.requestHeaders). */
  onRequestHeaders(stream: FilterStream): FilterStatus;
  /** A response head is about to go out (upstream or local); `headers` may be changed in place. */
  onResponseHeaders(status: number, headers: string[]): void;
  /** The stream is over (completed, reset or abandoned): free timers and counts. */
  onDestroy(): void;
  /**
   * Optional, only called after stream.watchRequestBody(this): body data arrived (`complete`
   * false; stream.info.bytesReceived counts it) or the request ended (`complete` true).
   */
  onRequestBody?(stream: FilterStream, complete: boolean): void;
}

/** Built once per connection-manager version from one `http_filters` entry. */
export interface HttpFilterFactory {
  readonly name: string;
  /** An instance for a stream that matched `route` (null = none), or null when the filter has nothing to do. */
  create(route: CompiledRoute | null): HttpFilter | null;
}

/** Marker of a filter switched off at some level (FilterConfig.disabled). */
export const DISABLED = Symbol('disabled');

/**
 * Resolves, for every route of a table, the per-route configs of one filter name, most specific
 * first (route, virtual host, route configuration), stopping at a `disabled` entry, and compiles
 * them with `compile` (DISABLED when the most specific level disables the filter; null when no
 * level configures it). Routes whose result is null are left out of the map.
 */
export function resolvePerRoute<T>(
  table: RouteTable, filterName: string,
  compile: (levels: readonly PerFilterConfig[]) => T | null,
): Map<CompiledRoute, T | typeof DISABLED> {
  const out = new Map<CompiledRoute, T | typeof DISABLED>();
  const tableLevel = table.config.typedPerFilterConfig?.[filterName];
  for (const vh of table.virtualHosts) {
    const vhLevel = vh.config.typedPerFilterConfig?.[filterName];
    for (const route of vh.routes) {
      const levels: PerFilterConfig[] = [];
      let disabled = false;
      for (const level of [route.config.typedPerFilterConfig?.[filterName], vhLevel, tableLevel]) {
        if (level === undefined) continue;
        if (level.kind === 'disabled') { disabled = levels.length === 0; break; }
        levels.push(level);
      }
      if (disabled) { out.set(route, DISABLED); continue; }
      if (levels.length === 0) continue;
      const compiled = compile(levels);
      if (compiled !== null) out.set(route, compiled);
    }
  }
  return out;
}
