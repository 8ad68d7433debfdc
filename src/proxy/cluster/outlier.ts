// Outlier detection for one cluster (envoy.config.cluster.v3.OutlierDetection,
// arch_overview/upstream/outlier): consecutive 5xx, gateway-failure and local-origin-failure ejection.
//
// The router reports each attempt's outcome (putHttpStatus / putLocalOrigin); counters live on the
// Host (Host.outlier), so reporting allocates nothing. An ejected host has `Host.ejected` set and the
// cluster rebuilds its balancers without it; the interval sweep (tick) re-admits hosts whose ejection
// time (base_ejection_time × times ejected, capped at max_ejection_time) has passed.
import type { Counter, Gauge, Labels, StatsStore } from '../../observe/stats.js';
import type { OutlierDetectionConfig } from '../config/types.js';
import type { Host } from './host.js';

/** Local-origin failures of an attempt: the proxy could not connect, timed out, or the connection reset. */
export type LocalOriginResult = 'connect-failed' | 'timeout' | 'reset';

/** Per-host detector state, created on first report. */
export class HostOutlierState {
  consecutive5xx = 0;
  consecutiveGatewayFailure = 0;
  consecutiveLocalOriginFailure = 0;
  /** Ejection multiplier: times ejected, decremented on each sweep the host spends admitted. */
  ejections = 0;
  /** When the current (or last) ejection started, in `now()` milliseconds. */
  ejectedAt = 0;
}

type Detector = 'consecutive_5xx' | 'consecutive_gateway_failure' | 'consecutive_local_origin_failure';

/** `cluster.<name>.outlier_detection.*`, Envoy's outlier detection statistics. */
export class OutlierStats {
  readonly ejections_active: Gauge;
  /** Detections of any type, enforced or not (Envoy's deprecated ejections_total). */
  readonly ejections_total: Counter;
  readonly ejections_overflow: Counter;
  readonly ejections_enforced_total: Counter;
  readonly ejections_enforced_consecutive_5xx: Counter;
  readonly ejections_detected_consecutive_5xx: Counter;
  readonly ejections_enforced_consecutive_gateway_failure: Counter;
  readonly ejections_detected_consecutive_gateway_failure: Counter;
  readonly ejections_enforced_consecutive_local_origin_failure: Counter;
  readonly ejections_detected_consecutive_local_origin_failure: Counter;

  constructor(store: StatsStore, clusterName: string) {
    const prefix = `cluster.${clusterName}.outlier_detection.`;
    const labels: Labels = { envoy_cluster_name: clusterName };
    const c = (s: string): Counter => store.counter(prefix + s, `cluster_outlier_detection_${s}`, labels);
    this.ejections_active = store.gauge(`${prefix}ejections_active`, 'cluster_outlier_detection_ejections_active', labels);
    this.ejections_total = c('ejections_total');
    this.ejections_overflow = c('ejections_overflow');
    this.ejections_enforced_total = c('ejections_enforced_total');
    this.ejections_enforced_consecutive_5xx = c('ejections_enforced_consecutive_5xx');
    this.ejections_detected_consecutive_5xx = c('ejections_detected_consecutive_5xx');
    this.ejections_enforced_consecutive_gateway_failure = c('ejections_enforced_consecutive_gateway_failure');
    this.ejections_detected_consecutive_gateway_failure = c('ejections_detected_consecutive_gateway_failure');
    this.ejections_enforced_consecutive_local_origin_failure = c('ejections_enforced_consecutive_local_origin_failure');
    this.ejections_detected_consecutive_local_origin_failure = c('ejections_detected_consecutive_local_origin_failure');
  }
}

export interface OutlierDetectorOptions {
  /** Clock in milliseconds; defaults to performance.now. */
  readonly now?: () => number;
  /** Random source in [0, 1) for the enforcing_* percentages; defaults to Math.random. */
  readonly random?: () => number;
  /** Run the interval sweep on a timer (default true); tests may call tick() themselves instead. */
  readonly timer?: boolean;
}

export class OutlierDetector {
  readonly stats: OutlierStats;
  private readonly now: () => number;
  private readonly random: () => number;
  private timer: NodeJS.Timeout | null = null;
  /** Hosts this detector has ejected now (the gauge is shared with a replaced cluster of the same name). */
  private active = 0;

  /**
   * `hosts` returns the cluster's current hosts (the max_ejection_percent base); `changed` is called
   * when a host is ejected or re-admitted (the cluster rebuilds its balancers).
   */
  constructor(readonly config: OutlierDetectionConfig, store: StatsStore, clusterName: string,
              private readonly hosts: () => readonly Host[], private readonly changed: () => void,
              opts: OutlierDetectorOptions = {}) {
    this.stats = new OutlierStats(store, clusterName);
    this.now = opts.now ?? (() => performance.now());
    this.random = opts.random ?? Math.random;
    if (opts.timer !== false) {
      this.timer = setInterval(() => this.tick(), config.intervalMs);
      this.timer.unref();
    }
  }

  /**
   * An HTTP response (headers) from `host`. 5xx counts towards consecutive_5xx, 502/503/504 also
   * towards consecutive_gateway_failure; anything else resets both. A response also means the
   * connection worked, so it resets the local-origin counter.
   */
  putHttpStatus(host: Host, status: number): void {
    if (host.ejected) return;
    const s = host.outlier ??= new HostOutlierState();
    s.consecutiveLocalOriginFailure = 0;
    if (status < 500 || status > 599) {
      s.consecutive5xx = 0;
      s.consecutiveGatewayFailure = 0;
      return;
    }
    const cfg = this.config;
    if (status >= 502 && status <= 504) {
      if (++s.consecutiveGatewayFailure === cfg.consecutiveGatewayFailure) {
        s.consecutiveGatewayFailure = 0;
        if (this.detected(host, 'consecutive_gateway_failure', cfg.enforcingConsecutiveGatewayFailure)) return;
      }
    } else {
      s.consecutiveGatewayFailure = 0;
    }
    if (++s.consecutive5xx === cfg.consecutive5xx) {
      s.consecutive5xx = 0;
      this.detected(host, 'consecutive_5xx', cfg.enforcingConsecutive5xx);
    }
  }

  /**
   * A local-origin failure of an attempt on `host`. With split_external_local_origin_errors it
   * counts towards consecutive_local_origin_failure only; otherwise it counts as a 503 (connect
   * failure, reset) or 504 (timeout), as Envoy maps them.
   */
  putLocalOrigin(host: Host, result: LocalOriginResult): void {
    if (host.ejected) return;
    if (!this.config.splitExternalLocalOriginErrors) {
      this.putHttpStatus(host, result === 'timeout' ? 504 : 503);
      return;
    }
    const s = host.outlier ??= new HostOutlierState();
    if (++s.consecutiveLocalOriginFailure === this.config.consecutiveLocalOriginFailure) {
      s.consecutiveLocalOriginFailure = 0;
      this.detected(host, 'consecutive_local_origin_failure', this.config.enforcingConsecutiveLocalOriginFailure);
    }
  }

  /**
   * A connection to `host` that is the whole outcome (TCP proxy): resets the local-origin run, and
   * without the split counts as a success (resets the 5xx and gateway runs too).
   */
  putConnectSuccess(host: Host): void {
    if (host.ejected) return;
    if (!this.config.splitExternalLocalOriginErrors) { this.putHttpStatus(host, 200); return; }
    const s = host.outlier;
    if (s !== null) s.consecutiveLocalOriginFailure = 0;
  }

  /** The interval sweep: re-admits hosts whose ejection time is over, decays the others' multipliers. */
  tick(): void {
    const now = this.now();
    const cfg = this.config;
    let changed = false;
    for (const h of this.hosts()) {
      const s = h.outlier;
      if (s === null) continue;
      if (h.ejected) {
        const ejectedFor = Math.min(cfg.baseEjectionTimeMs * s.ejections, cfg.maxEjectionTimeMs);
        if (now - s.ejectedAt >= ejectedFor) {
          h.ejected = false;
          s.consecutive5xx = s.consecutiveGatewayFailure = s.consecutiveLocalOriginFailure = 0;
          this.active--;
          this.stats.ejections_active.dec();
          changed = true;
        }
      } else if (s.ejections > 0) {
        s.ejections--;
      }
    }
    if (changed) this.changed();
  }

  /** Hosts gone from the cluster (EDS / DNS update): their ejections no longer count. */
  hostsRemoved(removed: readonly Host[]): void {
    for (const h of removed) {
      if (h.ejected) { h.ejected = false; this.active--; this.stats.ejections_active.dec(); }
    }
  }

  /** Number of hosts ejected now. */
  get activeEjections(): number { return this.active; }

  /** Stops the sweep; this cluster's ejections leave the ejections_active gauge. */
  close(): void {
    if (this.timer !== null) { clearInterval(this.timer); this.timer = null; }
    this.stats.ejections_active.sub(this.active);
    this.active = 0;
  }

  /** A detector fired for `host`; ejects it when enforced and allowed. Returns whether it was ejected. */
  private detected(host: Host, detector: Detector, enforcing: number): boolean {
    const st = this.stats;
    st.ejections_total.inc();
    st[`ejections_detected_${detector}`].inc();
    if (!(enforcing >= 100 || (enforcing > 0 && this.random() * 100 < enforcing))) return false;
    // As Envoy: eject while the share already ejected is below max_ejection_percent — so one host
    // can always be ejected (when the percentage is not 0), and the last ejection may overshoot it.
    const total = this.hosts().length;
    if (total === 0 || (100 * this.active) / total >= this.config.maxEjectionPercent) {
      st.ejections_overflow.inc();
      return false;
    }
    const s = host.outlier!;
    host.ejected = true;
    s.ejectedAt = this.now();
    // The multiplier stops growing once base × multiplier reaches max_ejection_time.
    if (this.config.baseEjectionTimeMs * s.ejections < this.config.maxEjectionTimeMs) s.ejections++;
    this.active++;
    st.ejections_active.inc();
    st.ejections_enforced_total.inc();
    st[`ejections_enforced_${detector}`].inc();
    this.changed();
    return true;
  }
}
