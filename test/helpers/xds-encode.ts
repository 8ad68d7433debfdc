// Asserts that every resource of a generated ProxyResources encodes against the real Envoy protos
// (src/xds/proto-json.ts validates field names, enums and well-known types).
import assert from 'node:assert/strict';
import type { ProxyResources } from '../../src/control/model.js';
import { encodeFromJson } from '../../src/xds/proto-json.js';
import { messageType } from '../../src/xds/protos.js';
import { messageName } from '../../src/xds/resource-types.js';

/** Encodes each resource; returns how many there were. */
export function encodeAll(res: ProxyResources): number {
  let n = 0;
  for (const [type, byName] of res) {
    const t = messageType(messageName(type));
    for (const [name, o] of byName) {
      assert.doesNotThrow(() => encodeFromJson(t, o), `${messageName(type)} ${name}`);
      n++;
    }
  }
  return n;
}
