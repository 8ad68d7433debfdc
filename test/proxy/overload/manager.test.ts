// The overload manager on its own: trigger arithmetic (threshold, scaled), action states and
// Envoy's overload.* stats from a fixed_heap monitor fed through process.memoryUsage, and the
// bootstrap decoder's errors for what Weft does not carry out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as heapModule from '../../../src/proxy/overload/manager.js';
import { OverloadManager, triggerState } from '../../../src/proxy/overload/manager.js';
import { overloadState } from '../../../src/proxy/overload/state.js';
import { StatsStore } from '../../../src/observe/stats.js';
import { parseBootstrapText } from '../../../src/envoy/text.js';
import type { OverloadManagerConfig } from '../../../src/proxy/config/types.js';
import { waitUntil } from '../../helpers/adversarial.js';

const HEAP = 'envoy.resource_monitors.fixed_heap';
const FIXED_HEAP_TYPE = 'type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig';

test('triggers: threshold saturates at its value; scaled is linear between its thresholds', () => {
  assert.equal(triggerState({ kind: 'threshold', value: 0.9 }, 0.89), 0);
  assert.equal(triggerState({ kind: 'threshold', value: 0.9 }, 0.9), 1);
  const scaled = { kind: 'scaled', scalingThreshold: 0.5, saturationThreshold: 0.9 } as const;
  assert.equal(triggerState(scaled, 0.4), 0);
  assert.ok(Math.abs(triggerState(scaled, 0.7) - 0.5) < 1e-9);
  assert.equal(triggerState(scaled, 0.95), 1);
});

test('fixed_heap drives the actions and the overload.* stats (heapUsed + external against max_heap_size_bytes)', (t) => {
  let used = 100;
  t.mock.method(process, 'memoryUsage', () => ({ rss: 0, heapTotal: 0, heapUsed: used, external: 0, arrayBuffers: 0 }));
  const store = new StatsStore();
  const cfg: OverloadManagerConfig = {
    refreshIntervalMs: 60_000,
    minimumAccountToTrackPowerOfTwo: null,
    resourceMonitors: [{ kind: 'fixed_heap', name: HEAP, maxHeapSizeBytes: 1000 }],
    actions: [
      { name: 'envoy.overload_actions.stop_accepting_requests', triggers: [{ name: HEAP, trigger: { kind: 'threshold', value: 0.95 } }] },
      { name: 'envoy.overload_actions.disable_http_keepalive', triggers: [{ name: HEAP, trigger: { kind: 'scaled', scalingThreshold: 0.8, saturationThreshold: 0.9 } }] },
    ],
  };
  const om = new OverloadManager(cfg, store);
  t.after(() => om.stop());
  om.start();
  const v = (n: string) => store.value(n);
  assert.equal(v(`overload.${HEAP}.pressure`), 10);
  assert.equal(overloadState.stopAcceptingRequests, 0);
  used = 850;
  om.refresh();
  assert.equal(v(`overload.${HEAP}.pressure`), 85);
  assert.ok(Math.abs(overloadState.disableHttpKeepalive - 0.5) < 1e-9);
  assert.equal(v('overload.envoy.overload_actions.disable_http_keepalive.scale_percent'), 50);
  assert.equal(v('overload.envoy.overload_actions.disable_http_keepalive.active'), 0);
  assert.equal(overloadState.stopAcceptingRequests, 0);
  used = 960;
  om.refresh();
  assert.equal(overloadState.stopAcceptingRequests, 1);
  assert.equal(v('overload.envoy.overload_actions.stop_accepting_requests.active'), 1);
  assert.equal(v('overload.envoy.overload_actions.stop_accepting_requests.scale_percent'), 100);
  assert.equal(v('overload.envoy.overload_actions.disable_http_keepalive.active'), 1);
  used = 10;
  om.refresh();
  assert.equal(overloadState.stopAcceptingRequests, 0);
  assert.equal(overloadState.disableHttpKeepalive, 0);
  assert.equal(v('overload.envoy.overload_actions.stop_accepting_requests.active'), 0);
  om.stop();
  assert.equal(overloadState.stopAcceptingRequests, 0);
});

function decode(overload: string): string[] {
  const yaml = `static_resources: { listeners: [], clusters: [] }\noverload_manager:\n${overload}`;
  const r = parseBootstrapText(yaml, 'o.yaml', { baseDir: process.cwd() });
  return r.ok ? [] : [...r.errors];
}

test('overload_manager decoding: what Weft does not do is an error naming the field', () => {
  const monitor = `  resource_monitors:\n    - name: ${HEAP}\n      typed_config: { "@type": ${FIXED_HEAP_TYPE}, max_heap_size_bytes: 1000 }\n`;
  assert.deepEqual(decode(`${monitor}  actions:\n    - name: envoy.overload_actions.stop_accepting_requests\n      triggers: [{ name: ${HEAP}, threshold: { value: 0.9 } }]\n`), []);
  const errs = decode(`${monitor}  loadshed_points: [{ name: envoy.load_shed_points.tcp_listener_accept, triggers: [] }]\n  actions:
    - name: envoy.overload_actions.shrink_heap
      triggers: [{ name: ${HEAP}, threshold: { value: 0.9 } }]
    - name: envoy.overload_actions.reset_high_memory_stream
      triggers: [{ name: ${HEAP}, scaled: { scaling_threshold: 0.8, saturation_threshold: 0.9 } }]
    - name: envoy.overload_actions.stop_accepting_requests
      triggers: [{ name: envoy.resource_monitors.injected_resource, threshold: { value: 0.9 } }]
    - name: envoy.overload_actions.disable_http_keepalive
      triggers: [{ name: ${HEAP}, scaled: { scaling_threshold: 0.9, saturation_threshold: 0.8 } }]
    - name: envoy.overload_actions.made_up
      triggers: [{ name: ${HEAP}, threshold: { value: 0.9 } }]
`).join('\n');
  assert.match(errs, /overload_manager\.loadshed_points: unsupported field/);
  assert.match(errs, /overload_manager\.actions\[0\]\.name: not supported: it returns free malloc memory to the system, which a Node process cannot ask for/);
  assert.match(errs, /overload_manager\.buffer_factory_config\.minimum_account_to_track_power_of_two: expected a power of two in 10\.\.56 \(actions\[1\] envoy\.overload_actions\.reset_high_memory_stream resets the streams it tracks\)/);
  assert.match(errs, /overload_manager\.actions\[2\]\.triggers\[0\]\.name: expected the name of a configured resource monitor/);
  assert.match(errs, /overload_manager\.actions\[3\]\.triggers\[0\]\.scaled\.scaling_threshold: expected a value below saturation_threshold/);
  assert.match(errs, /overload_manager\.actions\[4\]\.name: expected one of envoy\.overload_actions\.stop_accepting_requests/);
  const wrongName = decode(`  resource_monitors:\n    - name: heap\n      typed_config: { "@type": ${FIXED_HEAP_TYPE}, max_heap_size_bytes: 1000 }\n`).join('\n');
  assert.match(wrongName, /overload_manager\.resource_monitors\[0\]\.name: expected "envoy\.resource_monitors\.fixed_heap"/);
  const unknownType = decode(`  resource_monitors:\n    - name: envoy.resource_monitors.cpu_utilization\n      typed_config: { "@type": type.googleapis.com/envoy.extensions.resource_monitors.cpu_utilization.v3.CpuUtilizationConfig }\n`).join('\n');
  assert.match(unknownType, /overload_manager\.resource_monitors\[0\]\.typed_config\["@type"\]: expected a supported resource monitor type/);
});

test('fixed_heap counts live memory: garbage an attack left behind (old-space Buffers not yet collected) does not keep the actions on', async (t) => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  const { heapInUse } = heapModule;
  const base = heapInUse();
  // 160 MiB in Buffers, promoted to the old generation (two full collections while referenced),
  // then dropped: garbage that only a full collection frees.
  let hold: Buffer[] | null = Array.from({ length: 40 }, () => Buffer.alloc(4 * 1024 * 1024, 1));
  gc(); gc();
  assert.ok(hold.length === 40);
  hold = null;
  assert.ok(heapInUse() - base > 100 * 1024 * 1024, 'the dropped Buffers still count before a collection');
  const store = new StatsStore();
  const cfg: OverloadManagerConfig = {
    refreshIntervalMs: 60_000,
    minimumAccountToTrackPowerOfTwo: null,
    resourceMonitors: [{ kind: 'fixed_heap', name: HEAP, maxHeapSizeBytes: base + 128 * 1024 * 1024 }],
    actions: [{ name: 'envoy.overload_actions.stop_accepting_requests', triggers: [{ name: HEAP, trigger: { kind: 'threshold', value: 0.9 } }] }],
  };
  const om = new OverloadManager(cfg, store);
  t.after(() => om.stop());
  om.start();
  // V8 frees the Buffers' memory in the background after the collection: the next refreshes see it.
  await waitUntil(() => { om.refresh(); return om.pressure(HEAP)! < 0.9; }, 3000, 'the pressure to reflect live memory');
  assert.equal(overloadState.stopAcceptingRequests, 0, `pressure ${om.pressure(HEAP)}`);
});
