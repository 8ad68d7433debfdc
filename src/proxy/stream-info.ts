// What is known about one HTTP stream (request + response) while it runs and after it ends.
// Written by the connection manager and router; read by access-log formatters, header
// formatters (%COMMAND% values) and stats. One instance per request: keep its shape stable.

export class StreamInfo {
  /** Wall-clock start, epoch milliseconds (START_TIME). */
  startTime = 0;
  /** Monotonic start, from performance.now() (for DURATION). */
  startMono = 0;
  /** Monotonic end; 0 while the stream runs. */
  endMono = 0;
  /** `HTTP/1.0`, `HTTP/1.1` or `HTTP/2`. */
  protocol = 'HTTP/1.1';
  method = '';
  /** Request path as received (with query string). */
  path = '';
  /** Host / :authority as received. */
  authority = '';
  /** Flat list [name, value, name, value, ...]; names lower-cased. */
  requestHeaders: string[] = [];
  responseHeaders: string[] | null = null;
  responseTrailers: string[] | null = null;
  /** 0 until a response status is known. */
  responseCode = 0;
  /** Envoy short response flags, comma-joined (e.g. `UH`, `NR`); '' when none. */
  responseFlags = '';
  /** e.g. `via_upstream`, `route_not_found`. */
  responseCodeDetails = '';
  /** Request body bytes received from downstream. */
  bytesReceived = 0;
  /** Response body bytes sent to downstream. */
  bytesSent = 0;
  /** `ip:port` of the upstream host, or null. */
  upstreamHost: string | null = null;
  upstreamCluster: string | null = null;
  /** `ip:port` of the downstream peer (after XFF processing when use_remote_address). */
  downstreamRemoteAddress = '';
  /** `ip:port` of the socket peer, always the direct connection. */
  downstreamDirectRemoteAddress = '';
  downstreamLocalAddress = '';
  routeName = '';
  requestId = '';
  /** Number of upstream attempts beyond the first. */
  retries = 0;
  /**
   * Envoy's dynamic metadata, by filter namespace (e.g. `envoy.filters.http.jwt_authn` → the
   * verified JWT payloads under their `payload_in_metadata` keys); read by RBAC metadata matchers
   * and access logs. null until a filter writes some.
   */
  dynamicMetadata: Record<string, Record<string, unknown>> | null = null;

  /** Milliseconds from start to end (or to now while running), integer as Envoy logs it. */
  durationMs(): number {
    const end = this.endMono || performance.now();
    return Math.floor(end - this.startMono);
  }

  /** Adds a response flag once (keeps Envoy's comma-separated form). */
  addResponseFlag(flag: string): void {
    if (this.responseFlags === '') this.responseFlags = flag;
    else if (!this.responseFlags.split(',').includes(flag)) this.responseFlags += ',' + flag;
  }
}

/** Looks a lower-cased header name up in a flat header list; first value or undefined. */
export function getHeader(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}
