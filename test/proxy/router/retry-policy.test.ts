// Retry conditions (x-envoy-retry-on semantics of Envoy's router filter) and the fully jittered
// exponential back-off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompiledRetryPolicy, SUPPORTED_RETRY_ON, type RetryOutcome } from '../../../src/proxy/router/retry-policy.js';
import { retryPolicy } from './builders.js';

type Case = [retryOn: string, status: number, kind: RetryOutcome, retry: boolean];

const cases: Case[] = [
  ['5xx', 500, 'response', true],
  ['5xx', 503, 'response', true],
  ['5xx', 599, 'response', true],
  ['5xx', 404, 'response', false],
  ['5xx', 409, 'response', false],
  ['5xx', 200, 'response', false],
  ['5xx', 0, 'reset', true],
  ['5xx', 0, 'connect-failure', true],
  ['5xx', 0, 'refused-stream', true],
  ['gateway-error', 502, 'response', true],
  ['gateway-error', 503, 'response', true],
  ['gateway-error', 504, 'response', true],
  ['gateway-error', 500, 'response', false],
  ['gateway-error', 501, 'response', false],
  ['gateway-error', 0, 'reset', true],
  ['gateway-error', 0, 'connect-failure', true],
  ['gateway-error', 0, 'refused-stream', true],
  ['reset', 0, 'reset', true],
  ['reset', 0, 'connect-failure', true],
  ['reset', 0, 'refused-stream', true],
  ['reset', 503, 'response', false],
  ['connect-failure', 0, 'connect-failure', true],
  ['connect-failure', 0, 'reset', false],
  ['connect-failure', 0, 'refused-stream', false],
  ['connect-failure', 503, 'response', false],
  ['retriable-4xx', 409, 'response', true],
  ['retriable-4xx', 400, 'response', false],
  ['retriable-4xx', 429, 'response', false],
  ['retriable-4xx', 0, 'reset', false],
  ['refused-stream', 0, 'refused-stream', true],
  ['refused-stream', 0, 'reset', false],
  ['refused-stream', 0, 'connect-failure', false],
  ['refused-stream', 503, 'response', false],
  ['retriable-status-codes', 429, 'response', true],
  ['retriable-status-codes', 418, 'response', true],
  ['retriable-status-codes', 503, 'response', false],
  ['retriable-status-codes', 0, 'reset', false],
  ['', 503, 'response', false],
  ['', 0, 'reset', false],
  ['unknown-token', 0, 'reset', false],
];

for (const [retryOn, status, kind, retry] of cases) {
  test(`retry_on '${retryOn}': ${kind}${kind === 'response' ? ' ' + status : ''} → ${retry ? 'retry' : 'no retry'}`, () => {
    const p = new CompiledRetryPolicy(retryPolicy(retryOn === '' ? [] : [retryOn], { retriableStatusCodes: [429, 418] }));
    assert.equal(p.shouldRetry(status, kind), retry);
  });
}

test('retriable status codes need the retriable-status-codes token', () => {
  const p = new CompiledRetryPolicy(retryPolicy(['5xx'], { retriableStatusCodes: [429] }));
  assert.equal(p.shouldRetry(429, 'response'), false);
});

test('several tokens combine', () => {
  const p = new CompiledRetryPolicy(retryPolicy(['connect-failure', 'refused-stream', 'retriable-4xx']));
  assert.equal(p.shouldRetry(0, 'connect-failure'), true);
  assert.equal(p.shouldRetry(0, 'refused-stream'), true);
  assert.equal(p.shouldRetry(409, 'response'), true);
  assert.equal(p.shouldRetry(0, 'reset'), false);
  assert.equal(p.shouldRetry(503, 'response'), false);
  assert.deepEqual([...SUPPORTED_RETRY_ON].sort(), [
    '5xx', 'cancelled', 'connect-failure', 'deadline-exceeded', 'gateway-error', 'internal', 'refused-stream', 'reset',
    'resource-exhausted', 'retriable-4xx', 'retriable-status-codes', 'unavailable',
  ]);
});

test('gRPC tokens retry only their grpc-status', () => {
  const p = new CompiledRetryPolicy(retryPolicy(['unavailable', 'deadline-exceeded']));
  assert.equal(p.shouldRetryGrpc(14), true);
  assert.equal(p.shouldRetryGrpc(4), true);
  assert.equal(p.shouldRetryGrpc(13), false);
  assert.equal(p.shouldRetryGrpc(0), false);
  assert.equal(p.shouldRetryGrpc(-1), false);
  assert.equal(p.shouldRetry(503, 'response'), false, 'gRPC tokens do not retry HTTP statuses');
  const all = new CompiledRetryPolicy(retryPolicy(['cancelled', 'resource-exhausted', 'internal']));
  assert.deepEqual([1, 8, 13].map((s) => all.shouldRetryGrpc(s)), [true, true, true]);
  assert.equal(new CompiledRetryPolicy(retryPolicy(['5xx'])).grpcOn, 0);
});

test('policy numbers come from the config', () => {
  const p = new CompiledRetryPolicy(retryPolicy(['5xx'], { numRetries: 3, perTryTimeoutMs: 250, backOff: { baseIntervalMs: 10, maxIntervalMs: 100 } }));
  assert.deepEqual([p.numRetries, p.perTryTimeoutMs, p.baseIntervalMs, p.maxIntervalMs], [3, 250, 10, 100]);
});

test('back-off n is uniform in [0, min(base × 2^(n-1), max)), whole milliseconds', (t) => {
  const p = new CompiledRetryPolicy(retryPolicy(['5xx'], { backOff: { baseIntervalMs: 25, maxIntervalMs: 250 } }));
  const ceilings = [25, 50, 100, 200, 250, 250, 250];
  assert.deepEqual(ceilings.map((_, i) => p.backoffCeilingMs(i + 1)), ceilings);
  assert.equal(p.backoffCeilingMs(1000), 250);

  let r = 0;
  t.mock.method(Math, 'random', () => r);
  r = 0;
  for (let n = 1; n <= 7; n++) assert.equal(p.backoffMs(n), 0);
  r = 0.9999999;
  assert.deepEqual(ceilings.map((_, i) => p.backoffMs(i + 1)), ceilings.map((c) => c - 1));
  r = 0.5;
  assert.deepEqual([1, 2, 3].map((n) => p.backoffMs(n)), [12, 25, 50]);
});

test('back-off stays within bounds with the real Math.random', () => {
  const p = new CompiledRetryPolicy(retryPolicy(['5xx']));
  for (let n = 1; n <= 6; n++) {
    for (let i = 0; i < 200; i++) {
      const b = p.backoffMs(n);
      assert.ok(Number.isInteger(b) && b >= 0 && b < p.backoffCeilingMs(n), `retry ${n}: ${b}`);
    }
  }
});

test('a base interval below 1 ms is rounded up, and max is never below base', () => {
  const p = new CompiledRetryPolicy(retryPolicy(['5xx'], { backOff: { baseIntervalMs: 0, maxIntervalMs: 0 } }));
  assert.equal(p.baseIntervalMs, 1);
  assert.equal(p.maxIntervalMs, 1);
});
