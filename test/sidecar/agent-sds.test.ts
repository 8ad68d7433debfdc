// The agent's SDS server (envoy.service.secret.v3.SecretDiscoveryService) on a Unix socket, driven
// by a stub secret provider: state of the world with ACK and NACK (a NACK is counted and not
// answered with a resend; a new version is pushed), DeltaSecrets (subscribe, push, unsubscribe) and
// FetchSecrets.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SECRET_TYPE, type SecretValue } from '../../src/proxy/secrets/types.js';
import { SdsServer, type SdsSecretProvider } from '../../src/sidecar/agent/sds-server.js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse } from '../../src/xds/ads-service.js';
import { decodeSecret, sdsClient, sdsStream } from '../helpers/sds-client.js';
import { waitUntil } from '../helpers/adversarial.js';

const until = (what: string, cond: () => boolean, ms: number): Promise<void> => waitUntil(cond, ms, what);
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function stubProvider(): SdsSecretProvider & { set(name: string, v: SecretValue, version: string): void } {
  const values = new Map<string, { value: SecretValue; version: string }>();
  const fns = new Set<(n: string) => void>();
  return {
    current: (n) => values.get(n),
    subscribe: (fn) => { fns.add(fn); return () => { fns.delete(fn); }; },
    set(name, value, version) { values.set(name, { value, version }); for (const f of fns) f(name); },
  };
}

const cert = (n: number): SecretValue => ({ kind: 'tls_certificate', name: 'default', certificateChain: `chain-${n}`, privateKey: `key-${n}` });

async function server(): Promise<{ sds: SdsServer; provider: ReturnType<typeof stubProvider>; path: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-sds-test-'));
  dirs.push(dir);
  const provider = stubProvider();
  const path = join(dir, 'sds.sock');
  return { sds: await SdsServer.listen(provider, path), provider, path };
}

test('sds server: SotW waits for the secret, pushes new versions, counts ACKs and NACKs without resending', async () => {
  const { sds, provider, path } = await server();
  const c = sdsStream(path, ['default']);
  try {
    await until('the stream', () => sds.stats.streams === 1, 5000);
    assert.equal(c.responses, 0, 'nothing to send before the secret exists');
    provider.set('default', cert(1), 'v1');
    const r1 = await c.next();
    assert.equal(r1.version, 'v1');
    assert.deepEqual(r1.secrets.get('default'), cert(1));
    c.nack(r1, 'bad key');
    await until('the NACK', () => sds.stats.nacks === 1, 5000);
    assert.equal(sds.lastNack.get('default'), 'bad key');
    provider.set('default', cert(2), 'v2');
    const r2 = await c.next();
    assert.equal(c.responses, 2, 'the NACK was not answered with a resend');
    assert.deepEqual(r2.secrets.get('default'), cert(2));
    c.ack(r2);
    await until('the ACK', () => sds.stats.acks === 1, 5000);
    provider.set('ROOTCA', { kind: 'validation_context', name: 'ROOTCA', trustedCa: 'bundle' }, 'r1');
    await new Promise((r) => setTimeout(r, 100).unref());
    assert.equal(c.responses, 2, 'no push for a secret the stream did not ask for');
  } finally {
    c.close();
    await sds.close();
  }
});

test('sds server: DeltaSecrets subscribes, pushes, unsubscribes; FetchSecrets answers at once', async () => {
  const { sds, provider, path } = await server();
  provider.set('default', cert(1), 'v1');
  const client = sdsClient(path);
  const call = (client as unknown as { DeltaSecrets(): grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse> }).DeltaSecrets();
  const got: DeltaDiscoveryResponse[] = [];
  call.on('data', (m: DeltaDiscoveryResponse) => got.push(m));
  call.on('error', () => undefined);
  try {
    call.write({ node: { id: 'n' }, type_url: SECRET_TYPE, resource_names_subscribe: ['default'] });
    await until('the first delta response', () => got.length === 1, 5000);
    assert.equal(got[0]!.resources[0]!.name, 'default');
    assert.equal(got[0]!.resources[0]!.version, 'v1');
    assert.deepEqual(decodeSecret(got[0]!.resources[0]!.resource as unknown as Record<string, unknown>), cert(1));
    call.write({ type_url: SECRET_TYPE, response_nonce: got[0]!.nonce });
    provider.set('default', cert(2), 'v2');
    await until('the pushed update', () => got.length === 2, 5000);
    assert.equal(got[1]!.resources[0]!.version, 'v2');
    call.write({ type_url: SECRET_TYPE, response_nonce: got[1]!.nonce, resource_names_unsubscribe: ['default'] });
    await until('the ACKs', () => sds.stats.acks === 2, 5000);
    provider.set('default', cert(3), 'v3');
    await new Promise((r) => setTimeout(r, 100).unref());
    assert.equal(got.length, 2, 'nothing pushed after unsubscribing');

    const fetched = await new Promise<DiscoveryResponse>((resolve, reject) => {
      (client as unknown as { FetchSecrets(r: DiscoveryRequest, cb: (e: Error | null, r?: DiscoveryResponse) => void): void })
        .FetchSecrets({ type_url: SECRET_TYPE, resource_names: ['default'] }, (e, r) => (e ? reject(e) : resolve(r!)));
    });
    assert.equal(fetched.version_info, 'v3');
    assert.deepEqual(decodeSecret(fetched.resources[0] as unknown as Record<string, unknown>), cert(3));
  } finally {
    call.cancel();
    client.close();
    await sds.close();
  }
});
