// gRPC over the router (PROTOCOL-HTTP2.md of grpc/grpc, Envoy's router and HCM behaviour):
// recognising gRPC requests, the grpc-timeout header, trailers-only local replies with Envoy's
// HTTP → gRPC status mapping (source/common/grpc/status.cc, after grpc's
// http-grpc-status-mapping.md), and the stream timeouts a route derives from grpc-timeout.

import type { CompiledRoute } from '../router/route-table.js';

/** gRPC status codes the proxy itself produces. */
export const GrpcStatus = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8, UNIMPLEMENTED: 12, INTERNAL: 13,
  UNAVAILABLE: 14, UNAUTHENTICATED: 16, PERMISSION_DENIED: 7,
} as const;

/** Whether a request is gRPC: content-type application/grpc, optionally followed by `+proto`, `;…`. */
export function isGrpcRequest(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'content-type') continue;
    const v = headers[i + 1]!;
    // Case-sensitive, as Envoy compares it.
    if (!v.startsWith('application/grpc')) return false;
    const next = v.charCodeAt(16);
    return v.length === 16 || next === 43 /* + */ || next === 59 /* ; */;
  }
  return false;
}

const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * The grpc-timeout header in milliseconds (`TimeoutValue TimeoutUnit`: 1–8 digits and one of
 * H M S m u n), rounded up to whole milliseconds; undefined when absent or malformed.
 */
export function grpcTimeoutMs(headers: readonly string[]): number | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'grpc-timeout') continue;
    const v = headers[i + 1]!;
    const m = /^(\d{1,8})([HMSmun])$/.exec(v);
    if (m === null) return undefined;
    return Math.ceil(Number(m[1]) * UNIT_MS[m[2]!]!);
  }
  return undefined;
}

/** Envoy's HTTP → gRPC status mapping for responses without a grpc-status. */
export function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400: return GrpcStatus.INTERNAL;
    case 401: return GrpcStatus.UNAUTHENTICATED;
    case 403: return GrpcStatus.PERMISSION_DENIED;
    case 404: return GrpcStatus.UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return GrpcStatus.UNAVAILABLE;
    default: return GrpcStatus.UNKNOWN;
  }
}

/** grpc-message: percent-encoded outside printable ASCII and '%' (PROTOCOL-HTTP2.md). */
export function encodeGrpcMessage(text: string): string {
  let plain = true;
  for (let i = 0; i < text.length && plain; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) plain = false;
  }
  if (plain) return text;
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    out += b < 0x20 || b > 0x7e || b === 0x25 ? '%' + b.toString(16).toUpperCase().padStart(2, '0') : String.fromCharCode(b);
  }
  return out;
}

/**
 * The headers of a trailers-only gRPC local reply (HTTP 200, no body): content-type,
 * grpc-status (`grpcStatus`, else mapped from the HTTP status) and grpc-message (the body text).
 */
export function grpcLocalReplyHeaders(httpStatus: number, body: string, grpcStatus: number | undefined): string[] {
  const out = ['content-type', 'application/grpc', 'grpc-status', String(grpcStatus ?? httpToGrpcStatus(httpStatus))];
  if (body !== '') out.push('grpc-message', encodeGrpcMessage(body));
  return out;
}

/** The first grpc-status value in a header or trailer list as a number; -1 when absent or not a number. */
export function grpcStatusOf(headers: readonly string[] | null): number {
  if (headers === null) return -1;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === 'grpc-status') {
      const v = headers[i + 1]!;
      return /^\d{1,3}$/.test(v) ? Number(v) : -1;
    }
  }
  return -1;
}

/** `/pkg.Service/Method` → service and method; null when the path is not of that form. */
export function grpcServiceMethod(path: string): { service: string; method: string } | null {
  const q = path.indexOf('?');
  const p = q >= 0 ? path.slice(0, q) : path;
  const slash = p.indexOf('/', 1);
  if (p.charCodeAt(0) !== 47 || slash <= 1 || slash === p.length - 1 || p.indexOf('/', slash + 1) >= 0) return null;
  return { service: p.slice(1, slash), method: p.slice(slash + 1) };
}

/** The timeouts one stream runs with, derived from the route and the request's grpc-timeout. */
export interface StreamTimeouts {
  /** The router's global (route) timeout, from the end of the request; 0 = none. */
  readonly routeTimeoutMs: number;
  /** The stream duration limit, from the start of the stream; 0 = none. */
  readonly maxStreamDurationMs: number;
}

/**
 * As Envoy: route `max_stream_duration.max_stream_duration` limits the stream from its start; with
 * `grpc_timeout_header_max` set, a request's grpc-timeout replaces it (capped unless the max is 0,
 * minus `grpc_timeout_header_offset` when that leaves time). Without max_stream_duration, the
 * deprecated `max_grpc_timeout` turns a gRPC request's grpc-timeout (or, absent, the max) into the
 * route timeout, less `grpc_timeout_offset`.
 */
export function streamTimeouts(route: CompiledRoute, headers: readonly string[], grpc: boolean): StreamTimeouts {
  const cfg = route.maxStreamDuration;
  if (cfg !== null) {
    let duration = cfg.maxStreamDurationMs ?? 0;
    if (cfg.grpcTimeoutHeaderMaxMs !== null) {
      const header = grpcTimeoutMs(headers);
      if (header !== undefined) {
        const max = cfg.grpcTimeoutHeaderMaxMs;
        let t = max > 0 && (header === 0 || header > max) ? max : header;
        if (cfg.grpcTimeoutHeaderOffsetMs < t) t -= cfg.grpcTimeoutHeaderOffsetMs;
        duration = t;
      }
    }
    return { routeTimeoutMs: route.timeoutMs, maxStreamDurationMs: duration };
  }
  if (route.maxGrpcTimeoutMs !== null && grpc) {
    const max = route.maxGrpcTimeoutMs;
    let t = grpcTimeoutMs(headers) ?? 0;
    if (max > 0 && (t === 0 || t > max)) t = max;
    if (t > 0 && route.grpcTimeoutOffsetMs < t) t -= route.grpcTimeoutOffsetMs;
    return { routeTimeoutMs: t, maxStreamDurationMs: 0 };
  }
  return { routeTimeoutMs: route.timeoutMs, maxStreamDurationMs: 0 };
}
