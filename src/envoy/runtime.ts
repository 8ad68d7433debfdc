// The bootstrap's layered_runtime (envoy.config.bootstrap.v3.LayeredRuntime): Weft has no runtime
// of its own, so only static layers are accepted, and in them only the keys Weft honours:
// `envoy.resource_limits.listener.<listener name>.connection_limit` (Envoy's per-listener connection
// limit, stat `listener.<address>.downstream_cx_overflow`). Any other key, and any disk, admin or
// RTDS layer, is an error naming it: a runtime value Weft would not read must not look accepted.
// Nested objects in a static layer spell dotted keys, as in Envoy; later layers override earlier ones.

import type { RuntimeConfig } from '../proxy/config/types.js';
import { show, type Ctx } from './decode/context.js';
import { defineMessage, isObject, list, message, nonEmptyString, type Reader } from './decode/readers.js';

const LISTENER_LIMIT = /^envoy\.resource_limits\.listener\.(.+)\.connection_limit$/;

const LAYER = defineMessage({
  name: 'envoy.config.bootstrap.v3.RuntimeLayer',
  fields: ['name', 'static_layer'],
  unsupported: ['disk_layer', 'admin_layer', 'rtds_layer'],
});

type Layer = ReadonlyMap<string, number>;

/** Flattens a static layer into dotted keys, checking each key and value. */
function flatten(ctx: Ctx, obj: Record<string, unknown>, prefix: string, out: Map<string, number>): void {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix === '' ? k : `${prefix}.${k}`;
    if (isObject(v) && !LISTENER_LIMIT.test(key)) { flatten(ctx, v, key, out); continue; }
    const at = ctx.key(key);
    if (!LISTENER_LIMIT.test(key)) {
      at.fail(`unsupported runtime key, got ${show(v)} (Weft's runtime only has envoy.resource_limits.listener.<listener name>.connection_limit)`);
      continue;
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) { at.expected('a connection count (an integer >= 0)', v); continue; }
    out.set(key, v);
  }
}

const layer: Reader<Layer> = message(LAYER, (m) => {
  m.req('name', nonEmptyString);
  const raw = m.raw('static_layer');
  if (raw === undefined) {
    if (!m.has('name')) return undefined;
    return m.at('static_layer').expected('a static_layer (the only kind of runtime layer Weft supports)', undefined);
  }
  if (!isObject(raw)) return m.at('static_layer').expected('an object of runtime keys', raw);
  const out = new Map<string, number>();
  flatten(m.at('static_layer'), raw, '', out);
  return out;
});

const LAYERED_RUNTIME = defineMessage({ name: 'envoy.config.bootstrap.v3.LayeredRuntime', fields: ['layers'] });

/** envoy.config.bootstrap.v3.LayeredRuntime → the listener connection limits it sets. */
export const layeredRuntime: Reader<RuntimeConfig> = message(LAYERED_RUNTIME, (m) => {
  const layers = m.get('layers', list(layer), []);
  const limits: Record<string, number> = {};
  for (const l of layers) {
    for (const [key, v] of l) limits[LISTENER_LIMIT.exec(key)![1]!] = v;
  }
  return { listenerConnectionLimits: limits };
});
