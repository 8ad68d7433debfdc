// Envoy's overload manager (bootstrap overload_manager; arch_overview/operations/overload_manager
// and configuration/operations/overload_manager): resource monitors measured every
// refresh_interval, triggers turning their pressure into action states (threshold: 0 or saturated;
// scaled: linear between scaling_threshold and saturation_threshold), and the actions' states
// published in overloadState (state.ts) for the codecs and listeners. Stats as Envoy names them:
// `overload.<monitor>.pressure` (percent), `failed_updates`, `skipped_updates`;
// `overload.<action>.active` (1 when saturated) and `scale_percent`.
//
// envoy.resource_monitors.fixed_heap: Envoy measures the bytes tcmalloc has handed out (heap size
// minus free and unmapped pages), i.e. everything the process allocated. The closest Node figure is
// the V8 heap in use plus memory held outside it by JS objects (`heapUsed + external`, where
// external includes every Buffer and ArrayBuffer): request and response bytes live in Buffers, so
// counting only the V8 heap would miss exactly what an attack makes a proxy hold. Code, stacks and
// allocator slack (in RSS) are not counted, as they are not in Envoy's figure either. V8 itself
// aborts the process when its own heap reaches its limit (--max-old-space-size); keep
// max_heap_size_bytes well below that, or the actions come too late (a warning says so). Under
// pressure, a full garbage collection confirms the figure first (heapMeasurer), so that garbage
// an attack left behind does not keep the actions on.
//
// envoy.resource_monitors.global_downstream_max_connections: pressure is active / max; listeners
// refuse connections beyond max (stat `listener.<address>.downstream_global_cx_overflow`).
//
// Two actions are carried out here rather than read by the codecs: reset_high_memory_stream
// resets the streams holding the most buffered bytes (accounts.ts) each time its state changes to
// a non-zero value, as Envoy's workers do (counter `envoy.overload_actions.reset_high_memory_stream.count`);
// reduce_timeouts hands its state to the scaled timers (scaled-timers.ts).

import v8 from 'node:v8';
import vm from 'node:vm';
import type { OverloadActionName, OverloadManagerConfig, OverloadTriggerConfig, ResourceMonitorConfig } from '../config/types.js';
import type { Counter, Gauge, StatsStore } from '../../observe/stats.js';
import { createLogger } from '../../observe/logger.js';
import { downstreamConnections, overloadState, resetOverloadState } from './state.js';
import { bufferAccounts } from './accounts.js';
import { scaledTimers } from './scaled-timers.js';

const log = createLogger('overload');

type StateKey = keyof typeof overloadState;

const ACTION_STATE: Readonly<Record<OverloadActionName, StateKey>> = {
  'envoy.overload_actions.stop_accepting_requests': 'stopAcceptingRequests',
  'envoy.overload_actions.disable_http_keepalive': 'disableHttpKeepalive',
  'envoy.overload_actions.stop_accepting_connections': 'stopAcceptingConnections',
  'envoy.overload_actions.reject_incoming_connections': 'rejectIncomingConnections',
  'envoy.overload_actions.reset_high_memory_stream': 'resetHighMemoryStream',
  'envoy.overload_actions.reduce_timeouts': 'reduceTimeouts',
};

const RESET_HIGH_MEMORY_STREAM: OverloadActionName = 'envoy.overload_actions.reset_high_memory_stream';
const REDUCE_TIMEOUTS: OverloadActionName = 'envoy.overload_actions.reduce_timeouts';

/** The memory fixed_heap counts, in bytes (see the header). */
export function heapInUse(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

interface Monitor {
  readonly config: ResourceMonitorConfig;
  readonly measure: () => number;
  pressure: number;
  readonly pressureGauge: Gauge;
  readonly failedUpdates: Counter;
}

interface Action {
  readonly name: OverloadActionName;
  readonly key: StateKey;
  readonly triggers: readonly OverloadTriggerConfig[];
  state: number;
  readonly active: Gauge;
  readonly scalePercent: Gauge;
}

/** A trigger's state for a pressure: 0..1 (Envoy's Trigger semantics). */
export function triggerState(t: OverloadTriggerConfig['trigger'], pressure: number): number {
  if (t.kind === 'threshold') return pressure >= t.value ? 1 : 0;
  if (pressure >= t.saturationThreshold) return 1;
  if (pressure <= t.scalingThreshold) return 0;
  return (pressure - t.scalingThreshold) / (t.saturationThreshold - t.scalingThreshold);
}

export class OverloadManager {
  private readonly monitors = new Map<string, Monitor>();
  private readonly actions: Action[];
  private timer: NodeJS.Timeout | null = null;
  /** `envoy.overload_actions.reset_high_memory_stream.count`: streams reset by that action. */
  private readonly resetStreamsCount: Counter;

  constructor(readonly config: OverloadManagerConfig, store: StatsStore) {
    this.resetStreamsCount = store.counter('envoy.overload_actions.reset_high_memory_stream.count', 'envoy_overload_actions_reset_high_memory_stream_count');
    for (const r of config.resourceMonitors) {
      const prefix = `overload.${r.name}.`;
      const labels = { envoy_resource_name: r.name };
      this.monitors.set(r.name, {
        config: r,
        measure: measurer(r, lowestTrigger(config, r.name)),
        pressure: 0,
        pressureGauge: store.gauge(`${prefix}pressure`, 'overload_pressure', labels),
        failedUpdates: store.counter(`${prefix}failed_updates`, 'overload_failed_updates', labels),
      });
      store.counter(`${prefix}skipped_updates`, 'overload_skipped_updates', labels); // monitors here are synchronous: never skipped
      if (r.kind === 'fixed_heap') {
        const limit = v8.getHeapStatistics().heap_size_limit;
        if (r.maxHeapSizeBytes > limit) {
          log.warning('%s: max_heap_size_bytes %d is above V8\'s heap limit (%d bytes): V8 may abort the process before the overload actions trigger',
            r.name, r.maxHeapSizeBytes, limit);
        }
      }
    }
    this.actions = config.actions.map((a) => {
      const labels = { envoy_overload_action: a.name };
      return {
        name: a.name, key: ACTION_STATE[a.name], triggers: a.triggers, state: 0,
        active: store.gauge(`overload.${a.name}.active`, 'overload_active', labels),
        scalePercent: store.gauge(`overload.${a.name}.scale_percent`, 'overload_scale_percent', labels),
      };
    });
  }

  /** Measures now, then every refresh_interval. */
  start(): void {
    bufferAccounts.configure(this.config.minimumAccountToTrackPowerOfTwo);
    if (this.config.minimumAccountToTrackPowerOfTwo !== null && !this.actions.some((a) => a.name === RESET_HIGH_MEMORY_STREAM)) {
      log.warning('buffer_factory_config: streams are tracked by their buffered bytes, but no %s action resets them', RESET_HIGH_MEMORY_STREAM);
    }
    scaledTimers.configure(this.config.actions.find((a) => a.name === REDUCE_TIMEOUTS)?.scaleTimers ?? null);
    for (const m of this.monitors.values()) {
      if (m.config.kind === 'global_downstream_max_connections') downstreamConnections.max = m.config.maxActiveDownstreamConnections;
    }
    this.refresh();
    this.timer = setInterval(() => this.refresh(), this.config.refreshIntervalMs);
    this.timer.unref();
  }

  /** Stops measuring; every action goes back to inactive. */
  stop(): void {
    if (this.timer !== null) { clearInterval(this.timer); this.timer = null; }
    resetOverloadState();
    bufferAccounts.configure(null);
    scaledTimers.configure(null);
  }

  /** One refresh: every monitor's pressure, then every action's state. */
  refresh(): void {
    for (const m of this.monitors.values()) {
      try {
        m.pressure = m.measure();
        m.pressureGauge.set(percent(m.pressure));
      } catch (err) {
        m.failedUpdates.inc();
        log.debug('%s: update failed: %s', m.config.name, (err as Error).message);
      }
    }
    for (const a of this.actions) {
      let state = 0;
      for (const t of a.triggers) state = Math.max(state, triggerState(t.trigger, this.monitors.get(t.name)!.pressure));
      const changed = state !== a.state;
      if (changed) this.logChange(a, state);
      a.state = state;
      overloadState[a.key] = state;
      if (changed && a.name === RESET_HIGH_MEMORY_STREAM && state > 0) this.resetStreams(state);
      else if (changed && a.name === REDUCE_TIMEOUTS) scaledTimers.setState(state);
      a.active.set(state >= 1 ? 1 : 0);
      a.scalePercent.set(percent(state));
    }
  }

  /** reset_high_memory_stream fired at `state`: Envoy's resetAccountsGivenPressure. */
  private resetStreams(state: number): void {
    const n = bufferAccounts.resetGivenPressure(state);
    if (n === 0) return;
    this.resetStreamsCount.add(n);
    log.warning('%s at %d%%: reset %d streams holding the most buffered bytes', RESET_HIGH_MEMORY_STREAM, percent(state), n);
  }

  private logChange(a: Action, state: number): void {
    const why = a.triggers.map((t) => `${t.name} at ${percent(this.monitors.get(t.name)!.pressure)}%`).join(', ');
    if (a.state === 0) log.warning('overload action %s active (%d%%): %s', a.name, percent(state), why);
    else if (state === 0) log.info('overload action %s inactive again: %s', a.name, why);
    else log.debug('overload action %s at %d%%: %s', a.name, percent(state), why);
  }

  /** The current pressure of a monitor (tests, diagnostics). */
  pressure(name: string): number | undefined {
    return this.monitors.get(name)?.pressure;
  }
}

/** The lowest pressure at which a trigger on monitor `name` starts to act (1 when none does). */
function lowestTrigger(config: OverloadManagerConfig, name: string): number {
  let low = 1;
  for (const a of config.actions) {
    for (const t of a.triggers) {
      if (t.name !== name) continue;
      low = Math.min(low, t.trigger.kind === 'threshold' ? t.trigger.value : t.trigger.scalingThreshold);
    }
  }
  return low;
}

/** A 0..1 value as Envoy's integer percent gauges show it (truncated; 0.5 computed as 0.4999… is still 50). */
function percent(v: number): number {
  return Math.floor(v * 100 + 1e-9);
}

/** At most one confirming collection per this many ms (fixed_heap, under pressure). */
const CONFIRM_GC_INTERVAL_MS = 1000;

let collect: (() => void) | null | undefined;

/** V8's full garbage collection, obtained once at run time (null where the engine refuses). */
function fullGc(): (() => void) | null {
  if (collect === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      collect = vm.runInNewContext('gc') as () => void;
    } catch {
      collect = null;
    }
  }
  return collect;
}

/**
 * fixed_heap's measure. Envoy's figure counts live allocations only (tcmalloc subtracts freed
 * bytes at once); `heapUsed + external` also counts garbage not yet collected, and Buffers an
 * attack left behind are freed only by a full collection, which an idle or shedding proxy may not
 * run for a long time: the actions would stay on with nothing live behind them. So once the
 * pressure reaches `confirmAt` (the lowest trigger on this monitor), a full collection confirms it,
 * at most once per second (a few ms of CPU each, only while under pressure).
 */
function heapMeasurer(max: number, confirmAt: number): () => number {
  let lastGc = 0;
  return () => {
    const p = heapInUse() / max;
    if (p < confirmAt) return p;
    const now = performance.now();
    const gc = now - lastGc >= CONFIRM_GC_INTERVAL_MS ? fullGc() : null;
    if (gc === null) return p;
    lastGc = now;
    gc();
    return heapInUse() / max;
  };
}

function measurer(r: ResourceMonitorConfig, confirmAt: number): () => number {
  switch (r.kind) {
    case 'fixed_heap': return heapMeasurer(r.maxHeapSizeBytes, confirmAt);
    case 'global_downstream_max_connections': return () => downstreamConnections.active / r.maxActiveDownstreamConnections;
  }
}
