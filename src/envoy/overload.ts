// Decoders for the bootstrap's overload_manager (envoy.config.overload.v3.OverloadManager,
// ResourceMonitor, OverloadAction, Trigger with ThresholdTrigger / ScaledTrigger) and the resource
// monitors Weft implements: envoy.resource_monitors.fixed_heap (FixedHeapConfig) and
// envoy.resource_monitors.global_downstream_max_connections (DownstreamConnectionsConfig);
// BufferFactoryConfig (for reset_high_memory_stream) and ScaleTimersOverloadActionConfig (the
// typed_config of reduce_timeouts). Actions Weft cannot carry out are rejected with the reason,
// never accepted and ignored.
// The runtime behaviour is src/proxy/overload/.

import type {
  OverloadActionConfig, OverloadActionName, OverloadManagerConfig, OverloadTriggerConfig, ResourceMonitorConfig, ScaleTimerConfig,
} from '../proxy/config/types.js';
import { show } from './decode/context.js';
import {
  defineMessage, double, duration, enumeration, integer, list, message, nonEmptyString, readMessage, reader, string, type Reader,
} from './decode/readers.js';
import { percent } from './core.js';
import { typedConfig, type Extension } from './decode/typed.js';

export const FIXED_HEAP = 'envoy.resource_monitors.fixed_heap';
export const GLOBAL_DOWNSTREAM_MAX_CONNECTIONS = 'envoy.resource_monitors.global_downstream_max_connections';

/** Envoy's default refresh_interval: 1 s. */
const DEFAULT_REFRESH_INTERVAL_MS = 1000;

// ───────────────────────────── resource monitors ─────────────────────────────

const FIXED_HEAP_CONFIG = defineMessage({
  name: 'envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig',
  fields: ['max_heap_size_bytes'],
});

export const fixedHeapMonitorExtension: Extension<'resource_monitor'> = {
  category: 'resource_monitor',
  typeUrl: 'type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig',
  spec: FIXED_HEAP_CONFIG,
  decode(m, info) {
    const max = m.req('max_heap_size_bytes', integer(1, Number.MAX_SAFE_INTEGER));
    return max === undefined ? undefined : { kind: 'fixed_heap', name: info.name, maxHeapSizeBytes: max };
  },
};

const DOWNSTREAM_CONNECTIONS_CONFIG = defineMessage({
  name: 'envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig',
  fields: ['max_active_downstream_connections'],
});

export const downstreamConnectionsMonitorExtension: Extension<'resource_monitor'> = {
  category: 'resource_monitor',
  typeUrl: 'type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig',
  spec: DOWNSTREAM_CONNECTIONS_CONFIG,
  decode(m, info) {
    const max = m.req('max_active_downstream_connections', integer(1, Number.MAX_SAFE_INTEGER));
    return max === undefined ? undefined : { kind: 'global_downstream_max_connections', name: info.name, maxActiveDownstreamConnections: max };
  },
};

/** The monitor name each monitor type must be configured under (triggers and stats use it). */
const MONITOR_NAME: Record<ResourceMonitorConfig['kind'], string> = {
  fixed_heap: FIXED_HEAP,
  global_downstream_max_connections: GLOBAL_DOWNSTREAM_MAX_CONNECTIONS,
};

const RESOURCE_MONITOR = defineMessage({
  name: 'envoy.config.overload.v3.ResourceMonitor',
  fields: ['name', 'typed_config'],
});

const resourceMonitor: Reader<ResourceMonitorConfig> = message(RESOURCE_MONITOR, (m) => {
  const name = m.req('name', nonEmptyString);
  if (name === undefined) return undefined;
  const monitor = m.req('typed_config', typedConfig('resource_monitor', { name }));
  if (monitor === undefined) return undefined;
  const expected = MONITOR_NAME[monitor.kind];
  if (name !== expected) return m.at('name').expected(`${show(expected)} (the name of the monitor its typed_config configures)`, name);
  return monitor;
});

// ───────────────────────────── triggers and actions ─────────────────────────────

const THRESHOLD_TRIGGER = defineMessage({ name: 'envoy.config.overload.v3.ThresholdTrigger', fields: ['value'] });
const SCALED_TRIGGER = defineMessage({ name: 'envoy.config.overload.v3.ScaledTrigger', fields: ['scaling_threshold', 'saturation_threshold'] });
const TRIGGER = defineMessage({ name: 'envoy.config.overload.v3.Trigger', fields: ['name', 'threshold', 'scaled'] });

const fraction = double(0, 1);

const thresholdTrigger = message(THRESHOLD_TRIGGER, (m) => ({ kind: 'threshold' as const, value: m.get('value', fraction, 0) }));

const scaledTrigger = message(SCALED_TRIGGER, (m) => {
  const scalingThreshold = m.get('scaling_threshold', fraction, 0);
  const saturationThreshold = m.get('saturation_threshold', fraction, 0);
  if (!(scalingThreshold < saturationThreshold)) {
    return m.at('scaling_threshold').expected(`a value below saturation_threshold (${saturationThreshold})`, scalingThreshold);
  }
  return { kind: 'scaled' as const, scalingThreshold, saturationThreshold };
});

const trigger: Reader<OverloadTriggerConfig> = message(TRIGGER, (m) => {
  const name = m.req('name', nonEmptyString);
  const which = m.oneof(['threshold', 'scaled'], { required: true });
  const t = which === 'threshold' ? m.opt('threshold', thresholdTrigger) : which === 'scaled' ? m.opt('scaled', scaledTrigger) : undefined;
  if (name === undefined || t === undefined) return undefined;
  return { name, trigger: t };
});

const SUPPORTED_ACTIONS: readonly OverloadActionName[] = [
  'envoy.overload_actions.stop_accepting_requests',
  'envoy.overload_actions.disable_http_keepalive',
  'envoy.overload_actions.stop_accepting_connections',
  'envoy.overload_actions.reject_incoming_connections',
  'envoy.overload_actions.reset_high_memory_stream',
  'envoy.overload_actions.reduce_timeouts',
];

export const RESET_HIGH_MEMORY_STREAM = 'envoy.overload_actions.reset_high_memory_stream';
const REDUCE_TIMEOUTS = 'envoy.overload_actions.reduce_timeouts';

/** Envoy actions Weft does not carry out, and why (an error, not a silently idle action). */
const UNSUPPORTED_ACTIONS: Readonly<Record<string, string>> = {
  'envoy.overload_actions.shrink_heap': 'not supported: it returns free malloc memory to the system, which a Node process cannot ask for '
    + '(V8 gives its free heap pages back on its own schedule, and Buffers are freed when collected)',
  'envoy.overload_actions.close_idle_http_connections': 'not supported: it applies to HTTP/3, which Weft does not speak',
};

// reduce_timeouts: envoy.config.overload.v3.ScaleTimersOverloadActionConfig.
const SCALE_TIMERS_TYPE = 'type.googleapis.com/envoy.config.overload.v3.ScaleTimersOverloadActionConfig';
const SCALE_TIMERS = defineMessage({ name: 'envoy.config.overload.v3.ScaleTimersOverloadActionConfig', fields: ['timer_scale_factors'] });
const SCALE_TIMER = defineMessage({
  name: 'envoy.config.overload.v3.ScaleTimersOverloadActionConfig.ScaleTimer',
  fields: ['timer', 'min_timeout', 'min_scale'],
  unsupported: ['triggers'],
});
const timerType = enumeration({
  UNSPECIFIED: 0, HTTP_DOWNSTREAM_CONNECTION_IDLE: 1, HTTP_DOWNSTREAM_STREAM_IDLE: 2, TRANSPORT_SOCKET_CONNECT: 3,
  HTTP_DOWNSTREAM_CONNECTION_MAX: 4, HTTP_DOWNSTREAM_STREAM_FLUSH: 5,
});
/** Timer types Weft does not scale, and why. */
const UNSCALED_TIMERS: Readonly<Record<string, string>> = {
  UNSPECIFIED: 'not a timer: name the timer to scale',
  TRANSPORT_SOCKET_CONNECT: 'not supported: Weft has no transport_socket_connect_timeout',
  HTTP_DOWNSTREAM_STREAM_FLUSH: 'not supported: Weft has no stream_flush_timeout',
  HTTP_DOWNSTREAM_CONNECTION_MAX: 'not supported yet: max_connection_duration is not scaled',
};

const scaleTimer: Reader<ScaleTimerConfig> = message(SCALE_TIMER, (m) => {
  const timer = m.req('timer', timerType);
  const which = m.oneof(['min_timeout', 'min_scale'], { required: true });
  if (timer !== undefined && UNSCALED_TIMERS[timer] !== undefined) return m.at('timer').fail(`${UNSCALED_TIMERS[timer]}, got ${show(timer)}`);
  if (timer === undefined || which === undefined) return undefined;
  if (which === 'min_timeout') {
    const ms = m.opt('min_timeout', duration);
    return ms === undefined ? undefined : { timer: timer as ScaleTimerConfig['timer'], min: { kind: 'timeout', ms } };
  }
  const p = m.opt('min_scale', percent);
  return p === undefined ? undefined : { timer: timer as ScaleTimerConfig['timer'], min: { kind: 'scale', percent: p } };
});

const scaleTimersConfig: Reader<ScaleTimerConfig[]> = reader(`a ${SCALE_TIMERS_TYPE.split('/')[1]} typed_config`, (ctx, v) => {
  const m = readMessage(ctx, v, SCALE_TIMERS, { allowTypeKey: true });
  if (m === undefined) return undefined;
  const type = (v as Record<string, unknown>)['@type'];
  if (type !== SCALE_TIMERS_TYPE) return ctx.key('@type').expected(show(SCALE_TIMERS_TYPE), type);
  const timers = m.req('timer_scale_factors', list(scaleTimer, { minItems: 1 }));
  if (timers === undefined) return undefined;
  const seen = new Set<string>();
  timers.forEach((t, i) => {
    if (seen.has(t.timer)) m.at('timer_scale_factors').index(i).field('timer').expected('a timer not already scaled by another entry', t.timer);
    seen.add(t.timer);
  });
  return timers;
});

const OVERLOAD_ACTION = defineMessage({ name: 'envoy.config.overload.v3.OverloadAction', fields: ['name', 'triggers', 'typed_config'] });

const overloadAction: Reader<OverloadActionConfig> = message(OVERLOAD_ACTION, (m) => {
  const name = m.req('name', string);
  const triggers = m.req('triggers', list(trigger, { minItems: 1 }));
  if (name === undefined) return undefined;
  const why = UNSUPPORTED_ACTIONS[name];
  if (why !== undefined) return m.at('name').fail(`${why}, got ${show(name)}`);
  if (!(SUPPORTED_ACTIONS as readonly string[]).includes(name)) return m.at('name').expected(`one of ${SUPPORTED_ACTIONS.join(', ')}`, name);
  let scaleTimers: ScaleTimerConfig[] | undefined;
  if (name === REDUCE_TIMEOUTS) {
    scaleTimers = m.req('typed_config', scaleTimersConfig);
    if (scaleTimers === undefined) return undefined;
  } else if (m.has('typed_config')) {
    return m.at('typed_config').expected(`no typed_config for ${name} (it takes no configuration)`, m.raw('typed_config'));
  }
  if (triggers === undefined) return undefined;
  const seen = new Set<string>();
  triggers.forEach((t, i) => {
    if (seen.has(t.name)) m.at('triggers').index(i).field('name').expected('a resource monitor not already used by another trigger of this action', t.name);
    seen.add(t.name);
  });
  return { name: name as OverloadActionName, triggers, ...(scaleTimers === undefined ? {} : { scaleTimers }) };
});

const BUFFER_FACTORY_CONFIG = defineMessage({
  name: 'envoy.config.overload.v3.BufferFactoryConfig',
  fields: ['minimum_account_to_track_power_of_two'],
});

/** BufferFactoryConfig: 0 (the proto default) tracks nothing, as in Envoy; else 10..56. */
const bufferFactoryConfig = message(BUFFER_FACTORY_CONFIG, (m) => {
  const n = m.get('minimum_account_to_track_power_of_two', integer(0, 56), 0);
  if (n !== 0 && n < 10) return m.at('minimum_account_to_track_power_of_two').expected('an integer in 10..56 (or 0: track nothing)', n);
  return n === 0 ? null : n;
});

// ───────────────────────────── the manager ─────────────────────────────

const OVERLOAD_MANAGER = defineMessage({
  name: 'envoy.config.overload.v3.OverloadManager',
  fields: ['refresh_interval', 'resource_monitors', 'actions', 'buffer_factory_config'],
  unsupported: ['loadshed_points'],
});

/** envoy.config.overload.v3.OverloadManager; triggers must name configured monitors, each monitor once. */
export const overloadManager: Reader<OverloadManagerConfig> = message(OVERLOAD_MANAGER, (m) => {
  const refreshIntervalMs = m.get('refresh_interval', duration, DEFAULT_REFRESH_INTERVAL_MS);
  if (refreshIntervalMs <= 0) m.at('refresh_interval').expected('a positive duration', m.raw('refresh_interval'));
  const resourceMonitors = m.req('resource_monitors', list(resourceMonitor, { minItems: 1 })) ?? [];
  const actions = m.get('actions', list(overloadAction), []);
  const names = new Map<string, number>();
  resourceMonitors.forEach((r, i) => {
    const first = names.get(r.name);
    if (first !== undefined) m.at('resource_monitors').index(i).field('name').expected(`a monitor not already configured (by [${first}])`, r.name);
    else names.set(r.name, i);
  });
  const actionNames = new Map<string, number>();
  const rawActions = m.raw('actions');
  actions.forEach((a, i) => {
    // Index in the input (decoding may have dropped a bad entry before this one).
    const at = Array.isArray(rawActions) ? rawActions.findIndex((x) => (x as { name?: unknown } | null)?.name === a.name) : i;
    const first = actionNames.get(a.name);
    if (first !== undefined) m.at('actions').index(at).field('name').expected(`an action not already configured (by [${first}])`, a.name);
    else actionNames.set(a.name, at);
    a.triggers.forEach((t, j) => {
      if (!names.has(t.name)) {
        m.at('actions').index(at).field('triggers').index(j).field('name')
          .expected(`the name of a configured resource monitor (${[...names.keys()].join(', ') || 'none'})`, t.name);
      }
    });
  });
  // undefined: present but invalid (already reported); null: tracks nothing.
  const tracking = m.has('buffer_factory_config') ? m.opt('buffer_factory_config', bufferFactoryConfig) : null;
  const minimumAccountToTrackPowerOfTwo = tracking ?? null;
  // Index in the input, as above.
  const reset = Array.isArray(rawActions) ? rawActions.findIndex((x) => (x as { name?: unknown } | null)?.name === RESET_HIGH_MEMORY_STREAM) : -1;
  if (reset >= 0 && tracking === null) {
    // Without tracked accounts the action would have no stream to reset (Envoy's docs require it too).
    m.at('buffer_factory_config').field('minimum_account_to_track_power_of_two')
      .expected(`a power of two in 10..56 (actions[${reset}] ${RESET_HIGH_MEMORY_STREAM} resets the streams it tracks)`,
        m.has('buffer_factory_config') ? 0 : undefined);
  }
  return { refreshIntervalMs, resourceMonitors, actions, minimumAccountToTrackPowerOfTwo };
});
