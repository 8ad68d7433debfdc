// Scaled timers for envoy.overload_actions.reduce_timeouts (Envoy's ScaledRangeTimerManager with
// ScaleTimersOverloadActionConfig; configuration/operations/overload_manager "Reducing timeouts").
// A scaled timer whose configured value is `max` and whose minimum is `min` (min_timeout, capped at
// max, or min_scale percent of max) fires after min + (max - min) * (1 - state), where state is the
// action's state (0..1): the configured value without pressure, the minimum when saturated.
// Weft scales the downstream HTTP connection idle timeout (HTTP_DOWNSTREAM_CONNECTION_IDLE:
// common_http_protocol_options.idle_timeout) and the stream idle timeout
// (HTTP_DOWNSTREAM_STREAM_IDLE: stream_idle_timeout and the route's idle_timeout). Connections
// register while open; when the state changes their armed timers are re-armed with the new value,
// as Envoy re-evaluates its pending scaled timers.

import type { ScaleTimerConfig, ScaledTimerType } from '../config/types.js';

/** A connection with scaled timers: re-arms them when the scale changes. */
export interface ScaledTimerUser {
  onTimerScaleChange(): void;
}

type Minimum = ScaleTimerConfig['min'];

function scaled(max: number, min: Minimum, state: number): number {
  const floor = min.kind === 'timeout' ? Math.min(min.ms, max) : max * min.percent / 100;
  // At least 1 ms: 0 would read as "no timeout".
  return Math.max(1, floor + (max - floor) * (1 - state));
}

export class ScaledTimers {
  private idle: Minimum | null = null;
  private streamIdle: Minimum | null = null;
  /** The reduce_timeouts action's state (0 when it is not configured). */
  private state = 0;
  private readonly users = new Set<ScaledTimerUser>();

  /** Applies the action's timer_scale_factors (null: no action, nothing scaled). */
  configure(timers: readonly ScaleTimerConfig[] | null): void {
    const of = (t: ScaledTimerType): Minimum | null => timers?.find((x) => x.timer === t)?.min ?? null;
    this.idle = of('HTTP_DOWNSTREAM_CONNECTION_IDLE');
    this.streamIdle = of('HTTP_DOWNSTREAM_STREAM_IDLE');
    if (timers === null) this.setState(0);
  }

  /** The action's new state; armed timers are re-armed when it changed. */
  setState(state: number): void {
    if (state === this.state) return;
    this.state = state;
    for (const u of this.users) u.onTimerScaleChange();
  }

  register(u: ScaledTimerUser): void { this.users.add(u); }
  unregister(u: ScaledTimerUser): void { this.users.delete(u); }

  /** The connection idle timeout to use now for a configured idle_timeout of `ms` (0 = none). */
  connectionIdleMs(ms: number): number {
    return this.state === 0 || this.idle === null || ms <= 0 ? ms : scaled(ms, this.idle, this.state);
  }

  /** The stream idle timeout to use now for a configured one of `ms` (0 = none). */
  streamIdleMs(ms: number): number {
    return this.state === 0 || this.streamIdle === null || ms <= 0 ? ms : scaled(ms, this.streamIdle, this.state);
  }
}

/** The process's scaled timers (one overload manager per process). */
export const scaledTimers = new ScaledTimers();
