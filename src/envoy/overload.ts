// Decoders for the bootstrap's overload_manager (envoy.config.overload.v3.OverloadManager,
// ResourceMonitor, OverloadAction, Trigger with ThresholdTrigger / ScaledTrigger) and the resource
// monitors Weft implements: envoy.resource_monitors.fixed_heap (FixedHeapConfig) and
// envoy.resource_monitors.global_downstream_max_connections (DownstreamConnectionsConfig).
// Actions Weft cannot carry out are rejected with the reason, never accepted and ignored.
// The runtime behaviour is src/proxy/overload/.

import type {
  OverloadActionConfig, OverloadActionName, OverloadManagerConfig, OverloadTriggerConfig, ResourceMonitorConfig,
} from '../proxy/config/types.js';
import { show } from './decode/context.js';
import { defineMessage, double, duration, integer, list, message, nonEmptyString, string, type Reader } from './decode/readers.js';
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
];

/** Envoy actions Weft does not carry out, and why (an error, not a silently idle action). */
const UNSUPPORTED_ACTIONS: Readonly<Record<string, string>> = {
  'envoy.overload_actions.shrink_heap': 'not supported: V8 gives free heap memory back on its own schedule and a process cannot force a GC without --expose-gc',
  'envoy.overload_actions.reset_high_memory_stream': 'not supported yet: Weft does not account the bytes each stream buffers',
  'envoy.overload_actions.reduce_timeouts': 'not supported yet: timeouts are not scaled under pressure',
  'envoy.overload_actions.close_idle_http_connections': 'not supported: it applies to HTTP/3, which Weft does not speak',
};

const OVERLOAD_ACTION = defineMessage({ name: 'envoy.config.overload.v3.OverloadAction', fields: ['name', 'triggers', 'typed_config'] });

const overloadAction: Reader<OverloadActionConfig> = message(OVERLOAD_ACTION, (m) => {
  const name = m.req('name', string);
  const triggers = m.req('triggers', list(trigger, { minItems: 1 }));
  if (name === undefined) return undefined;
  const why = UNSUPPORTED_ACTIONS[name];
  if (why !== undefined) return m.at('name').fail(`${why}, got ${show(name)}`);
  if (!(SUPPORTED_ACTIONS as readonly string[]).includes(name)) return m.at('name').expected(`one of ${SUPPORTED_ACTIONS.join(', ')}`, name);
  if (m.has('typed_config')) return m.at('typed_config').expected(`no typed_config for ${name} (it takes no configuration)`, m.raw('typed_config'));
  if (triggers === undefined) return undefined;
  const seen = new Set<string>();
  triggers.forEach((t, i) => {
    if (seen.has(t.name)) m.at('triggers').index(i).field('name').expected('a resource monitor not already used by another trigger of this action', t.name);
    seen.add(t.name);
  });
  return { name: name as OverloadActionName, triggers };
});

// ───────────────────────────── the manager ─────────────────────────────

const OVERLOAD_MANAGER = defineMessage({
  name: 'envoy.config.overload.v3.OverloadManager',
  fields: ['refresh_interval', 'resource_monitors', 'actions'],
  unsupported: ['loadshed_points', 'buffer_factory_config'],
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
  return { refreshIntervalMs, resourceMonitors, actions };
});
