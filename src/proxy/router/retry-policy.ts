// A route's (or virtual host's) retry policy compiled once: route.v3.RetryPolicy with the
// `retry_on` conditions of Envoy's router filter (x-envoy-retry-on: 5xx, gateway-error, reset,
// connect-failure, retriable-4xx, refused-stream, retriable-status-codes) and its fully jittered
// exponential back-off (source/common/common/backoff_strategy.cc), and the gRPC conditions
// (x-envoy-retry-grpc-on: cancelled, deadline-exceeded, resource-exhausted, unavailable, internal),
// which look at a grpc-status in the response headers, i.e. trailers-only responses, as Envoy does.
import type { RetryPolicyConfig } from '../config/types.js';

const RETRY_5XX = 1;
const RETRY_GATEWAY_ERROR = 2;
const RETRY_RESET = 4;
const RETRY_CONNECT_FAILURE = 8;
const RETRY_RETRIABLE_4XX = 16;
const RETRY_REFUSED_STREAM = 32;
const RETRY_STATUS_CODES = 64;

/** gRPC retry_on tokens → the grpc-status they retry. */
const GRPC_TOKENS: Readonly<Record<string, number>> = {
  cancelled: 1,
  'deadline-exceeded': 4,
  'resource-exhausted': 8,
  internal: 13,
  unavailable: 14,
};

const TOKENS: Readonly<Record<string, number>> = {
  '5xx': RETRY_5XX,
  'gateway-error': RETRY_GATEWAY_ERROR,
  reset: RETRY_RESET,
  'connect-failure': RETRY_CONNECT_FAILURE,
  'retriable-4xx': RETRY_RETRIABLE_4XX,
  'refused-stream': RETRY_REFUSED_STREAM,
  'retriable-status-codes': RETRY_STATUS_CODES,
};

/** The retry_on tokens this policy understands (others are ignored). */
export const SUPPORTED_RETRY_ON: readonly string[] = Object.freeze([...Object.keys(TOKENS), ...Object.keys(GRPC_TOKENS)]);

/** What happened to one upstream attempt. A per-try timeout counts as 'reset', as in Envoy. */
export type RetryOutcome = 'response' | 'reset' | 'connect-failure' | 'refused-stream';

export class CompiledRetryPolicy {
  readonly numRetries: number;
  /** 0 = the route timeout applies to each try. */
  readonly perTryTimeoutMs: number;
  readonly baseIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly retriableStatusCodes: readonly number[];
  /** retry_on as a bit set. */
  private readonly on: number;
  /** gRPC statuses to retry, as a bit set by status code (bit n = status n); 0 = no gRPC condition. */
  readonly grpcOn: number;

  constructor(readonly config: RetryPolicyConfig) {
    let on = 0;
    let grpcOn = 0;
    for (const raw of config.retryOn) {
      const t = raw.trim();
      on |= TOKENS[t] ?? 0;
      const g = GRPC_TOKENS[t];
      if (g !== undefined) grpcOn |= 1 << g;
    }
    this.on = on;
    this.grpcOn = grpcOn;
    this.numRetries = config.numRetries;
    this.perTryTimeoutMs = config.perTryTimeoutMs;
    // Envoy rounds a base interval below 1 ms up to 1 ms; max defaults to 10 × base (adapter's job).
    this.baseIntervalMs = Math.max(1, config.backOff.baseIntervalMs);
    this.maxIntervalMs = Math.max(this.baseIntervalMs, config.backOff.maxIntervalMs);
    this.retriableStatusCodes = config.retriableStatusCodes;
  }

  /**
   * Should this upstream outcome be retried (retries left and budgets are the caller's concern)?
   * `status` is the response status for 'response', else ignored. As Envoy's RetryStateImpl:
   * - response: 5xx → any 5xx; gateway-error → 502/503/504; retriable-4xx → 409;
   *   retriable-status-codes → listed codes.
   * - connect-failure: connect-failure, reset, 5xx, gateway-error.
   * - reset (incl. per-try timeout): reset, 5xx, gateway-error.
   * - refused-stream: refused-stream, reset, 5xx, gateway-error.
   */
  shouldRetry(status: number, kind: RetryOutcome): boolean {
    const on = this.on;
    if (kind === 'response') {
      if ((on & RETRY_5XX) !== 0 && status >= 500 && status <= 599) return true;
      if ((on & RETRY_GATEWAY_ERROR) !== 0 && status >= 502 && status <= 504) return true;
      if ((on & RETRY_RETRIABLE_4XX) !== 0 && status === 409) return true;
      if ((on & RETRY_STATUS_CODES) !== 0 && this.retriableStatusCodes.includes(status)) return true;
      return false;
    }
    if ((on & (RETRY_RESET | RETRY_5XX | RETRY_GATEWAY_ERROR)) !== 0) return true;
    if (kind === 'connect-failure') return (on & RETRY_CONNECT_FAILURE) !== 0;
    if (kind === 'refused-stream') return (on & RETRY_REFUSED_STREAM) !== 0;
    return false;
  }

  /** Should a response carrying this grpc-status in its headers (trailers-only) be retried? */
  shouldRetryGrpc(grpcStatus: number): boolean {
    return grpcStatus > 0 && grpcStatus < 31 && (this.grpcOn & (1 << grpcStatus)) !== 0;
  }

  /**
   * Back-off before retry `n` (1-based), whole milliseconds, uniformly random in
   * [0, min(base · 2^(n-1), max)) — Envoy's JitteredExponentialBackOffStrategy (the interval
   * doubles per retry and is capped at max_interval). Uses Math.random.
   */
  backoffMs(n: number): number {
    return Math.floor(Math.random() * this.backoffCeilingMs(n));
  }

  /** The exclusive upper bound of backoffMs(n). */
  backoffCeilingMs(n: number): number {
    const doublings = Math.min(Math.max(n, 1) - 1, 52);
    return Math.min(this.baseIntervalMs * 2 ** doublings, this.maxIntervalMs);
  }
}
