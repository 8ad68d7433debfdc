// The hand-written ADS response encoders produce the same bytes as the protobufjs codec in
// src/xds/ads-service.ts, and decode back to the same responses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeDeltaDiscoveryResponse, encodeDiscoveryResponse } from '../../../src/control/xds-server/wire.js';
import { ResourceCache } from '../../../src/control/xds-server/resource-cache.js';
import { ADS_SERVICE, type DeltaDiscoveryResponse, type DiscoveryResponse } from '../../../src/xds/ads-service.js';
import { CLUSTER_TYPE } from '../../../src/xds/resource-types.js';
import { cluster } from '../../helpers/ads-client.js';

const cache = new ResourceCache();
const enc = (name: string, t = '1s') => {
  const r = cache.encode(CLUSTER_TYPE, cluster(name, t));
  assert.ok('any' in r);
  return r;
};

test('DiscoveryResponse: same bytes as protobufjs, empty strings included', () => {
  const a = enc('a'), b = enc('bé-ü', '2.5s');
  const full: DiscoveryResponse = { version_info: 'v1', resources: [a.any, b.any], type_url: CLUSTER_TYPE, nonce: '42', control_plane: { identifier: 'weft' } };
  const bare: DiscoveryResponse = { version_info: '', resources: [], type_url: CLUSTER_TYPE, nonce: '1' };
  for (const r of [full, bare]) {
    const mine = encodeDiscoveryResponse(r);
    assert.deepEqual(mine, ADS_SERVICE.StreamAggregatedResources.responseSerialize(r));
    const back = ADS_SERVICE.StreamAggregatedResources.responseDeserialize(mine);
    assert.equal(back.nonce, r.nonce);
    assert.equal(back.resources.length, r.resources.length);
    for (let i = 0; i < r.resources.length; i++) assert.deepEqual(Buffer.from(back.resources[i]!.value), Buffer.from(r.resources[i]!.value));
  }
  // Encoding the same shared Any twice gives the same bytes (the cache is keyed by identity).
  assert.deepEqual(encodeDiscoveryResponse(full), encodeDiscoveryResponse(full));
});

test('DeltaDiscoveryResponse: same bytes as protobufjs, removals and control plane included', () => {
  const a = enc('a'), c = enc('c', '300s');
  const r: DeltaDiscoveryResponse = {
    system_version_info: '7',
    resources: [{ name: 'a', version: a.version, resource: a.any }, { name: 'c', version: c.version, resource: c.any }],
    type_url: CLUSTER_TYPE,
    removed_resources: ['gone', 'also-gone'],
    nonce: '9',
    control_plane: { identifier: 'weft' },
  };
  const mine = encodeDeltaDiscoveryResponse(r);
  assert.deepEqual(mine, ADS_SERVICE.DeltaAggregatedResources.responseSerialize(r));
  const back = ADS_SERVICE.DeltaAggregatedResources.responseDeserialize(mine);
  assert.deepEqual(back.removed_resources, ['gone', 'also-gone']);
  assert.deepEqual(back.resources.map((x) => [x.name, x.version]), [['a', a.version], ['c', c.version]]);
  assert.equal(back.control_plane?.identifier, 'weft');
});
