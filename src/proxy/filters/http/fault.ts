// The fault injection filter, envoy.filters.http.fault (envoy.extensions.filters.http.fault.v3.HTTPFault):
// fixed or header-controlled delays, HTTP / gRPC / header-controlled aborts, each with a percentage,
// restricted by request headers and upstream cluster, bounded by max_active_faults. Stats
// http.<prefix>.fault.{delays_injected,aborts_injected,faults_overflow,active_faults}; flags DI / FI.

import type { FaultConfig, FractionalPercentConfig, PerFilterConfig } from '../../config/types.js';
import type { Counter, Gauge, StatsStore } from '../../../observe/stats.js';
import { CompiledHeaderMatcher } from '../../router/matchers.js';
import type { CompiledRoute, RouteTable } from '../../router/route-table.js';
import { getHeader } from '../../stream-info.js';
import { CONTINUE, DISABLED, resolvePerRoute, STOP, type FilterStatus, type FilterStream, type HttpFilter, type HttpFilterFactory } from './filter.js';

/** Envoy's header controls (docs: "Controlling fault injection via HTTP headers"). */
const H_ABORT = 'x-envoy-fault-abort-request';
const H_ABORT_GRPC = 'x-envoy-fault-abort-grpc-request';
const H_ABORT_PERCENT = 'x-envoy-fault-abort-request-percentage';
const H_DELAY = 'x-envoy-fault-delay-request';
const H_DELAY_PERCENT = 'x-envoy-fault-delay-request-percentage';

const ABORT_BODY = 'fault filter abort';
const ABORT_DETAILS = 'fault_filter_abort';

export class FaultStats {
  readonly delays_injected: Counter;
  readonly aborts_injected: Counter;
  readonly faults_overflow: Counter;
  readonly active_faults: Gauge;
  constructor(store: StatsStore, prefix: string) {
    const labels = { envoy_http_conn_manager_prefix: prefix };
    const c = (n: string) => store.counter(`http.${prefix}.fault.${n}`, `http_fault_${n}`, labels);
    this.delays_injected = c('delays_injected');
    this.aborts_injected = c('aborts_injected');
    this.faults_overflow = c('faults_overflow');
    this.active_faults = store.gauge(`http.${prefix}.fault.active_faults`, 'http_fault_active_faults', labels);
  }
}

/** One HTTPFault, compiled (header matchers built). */
class CompiledFault {
  readonly headers: readonly CompiledHeaderMatcher[];
  constructor(readonly config: FaultConfig) {
    this.headers = config.headers.map((h) => new CompiledHeaderMatcher(h));
  }
}

/** Whether a request falls within `numerator / denominator` (Envoy: random % denominator < numerator). */
function sampled(p: FractionalPercentConfig, numerator = p.numerator): boolean {
  return numerator > 0 && Math.floor(Math.random() * p.denominator) < numerator;
}

/** A header-controlled percentage: the header's numerator, never above the configured one. */
function headerNumerator(headers: readonly string[], name: string, p: FractionalPercentConfig): number {
  const v = getHeader(headers, name);
  if (v === undefined || !/^\d+$/.test(v)) return p.numerator;
  return Math.min(Number(v), p.numerator);
}

export class FaultFilterFactory implements HttpFilterFactory {
  readonly stats: FaultStats;
  /** Faults active right now on this version (delayed or aborted streams not yet over). */
  active = 0;
  private readonly base: CompiledFault;
  private readonly perRoute: Map<CompiledRoute, CompiledFault | typeof DISABLED>;

  constructor(readonly name: string, config: FaultConfig, routes: RouteTable, store: StatsStore, statPrefix: string) {
    this.stats = new FaultStats(store, statPrefix);
    this.base = new CompiledFault(config);
    // A per-route HTTPFault replaces the filter's config entirely (the most specific level wins).
    this.perRoute = resolvePerRoute(routes, name, (levels: readonly PerFilterConfig[]) => {
      const first = levels[0]!;
      return first.kind === 'fault' ? new CompiledFault(first.config) : null;
    });
  }

  create(route: CompiledRoute | null): HttpFilter | null {
    let fault = this.base;
    if (route !== null) {
      const own = this.perRoute.get(route);
      if (own === DISABLED) return null;
      if (own !== undefined) fault = own;
    }
    const c = fault.config;
    if (c.delay === null && c.abort === null) return null;
    return new FaultFilter(this, fault);
  }
}

class FaultFilter implements HttpFilter {
  private timer: NodeJS.Timeout | null = null;
  private counted = false;
  private stream: FilterStream | null = null;

  constructor(private readonly factory: FaultFilterFactory, private readonly fault: CompiledFault) {}

  onRequestHeaders(stream: FilterStream): FilterStatus {
    const c = this.fault.config;
    if (c.upstreamCluster !== '' && stream.upstreamClusterName() !== c.upstreamCluster) return CONTINUE;
    const info = stream.info;
    const matchers = this.fault.headers;
    if (matchers.length > 0) {
      const req = { authority: info.authority, path: info.path, method: info.method, headers: info.requestHeaders };
      for (const m of matchers) if (!m.matches(req)) return CONTINUE;
    }
    const f = this.factory;
    const max = c.maxActiveFaults;
    if (max !== null && f.active >= max) { f.stats.faults_overflow.inc(); return CONTINUE; }

    const delayMs = this.delayFor(info.requestHeaders);
    if (delayMs > 0) {
      this.count();
      f.stats.delays_injected.inc();
      info.addResponseFlag('DI');
      this.stream = stream;
      this.timer = setTimeout(() => this.afterDelay(), delayMs);
      return STOP;
    }
    return this.maybeAbort(stream) ? STOP : CONTINUE;
  }

  private afterDelay(): void {
    this.timer = null;
    const stream = this.stream!;
    this.stream = null;
    if (!this.maybeAbort(stream)) stream.continueRequest();
  }

  /** The delay for this request in ms, 0 for none. */
  private delayFor(headers: readonly string[]): number {
    const d = this.fault.config.delay;
    if (d === null) return 0;
    if (d.kind === 'fixed') return sampled(d.percentage) ? d.fixedDelayMs : 0;
    const v = getHeader(headers, H_DELAY);
    if (v === undefined || !/^\d+$/.test(v)) return 0;
    return sampled(d.percentage, headerNumerator(headers, H_DELAY_PERCENT, d.percentage)) ? Number(v) : 0;
  }

  /** Aborts when configured and sampled; true if a reply was sent. */
  private maybeAbort(stream: FilterStream): boolean {
    const a = this.fault.config.abort;
    if (a === null) return false;
    const headers = stream.info.requestHeaders;
    let httpStatus = a.httpStatus;
    let grpcStatus: number | undefined = a.kind === 'grpc' ? a.grpcStatus : undefined;
    let numerator = a.percentage.numerator;
    if (a.kind === 'header') {
      const h = getHeader(headers, H_ABORT);
      const g = getHeader(headers, H_ABORT_GRPC);
      if (h !== undefined && /^\d{3}$/.test(h) && Number(h) >= 200 && Number(h) < 600) httpStatus = Number(h);
      else if (g !== undefined && /^\d+$/.test(g)) grpcStatus = Number(g);
      else return false;
      numerator = headerNumerator(headers, H_ABORT_PERCENT, a.percentage);
    }
    if (!sampled(a.percentage, numerator)) return false;
    this.count();
    this.factory.stats.aborts_injected.inc();
    // With a gRPC status the HTTP status is 200, as in Envoy; gRPC requests get it trailers-only.
    if (grpcStatus !== undefined) httpStatus = 200;
    stream.sendLocalReply(httpStatus, ABORT_BODY, 'FI', ABORT_DETAILS, grpcStatus);
    return true;
  }

  private count(): void {
    if (this.counted) return;
    this.counted = true;
    this.factory.active++;
    this.factory.stats.active_faults.inc();
  }

  onResponseHeaders(): void { /* nothing on the response */ }

  onDestroy(): void {
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    this.stream = null;
    if (this.counted) {
      this.counted = false;
      this.factory.active--;
      this.factory.stats.active_faults.dec();
    }
  }
}
