// Unit tests for the gRPC helpers: request detection, grpc-timeout parsing, Envoy's HTTP → gRPC
// status mapping, trailers-only local reply headers, and the stream timeouts a route derives.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeGrpcMessage, grpcLocalReplyHeaders, grpcServiceMethod, grpcStatusOf, grpcTimeoutMs, httpToGrpcStatus,
  isGrpcRequest, streamTimeouts,
} from '../../../src/proxy/http/grpc.js';
import type { CompiledRoute } from '../../../src/proxy/router/route-table.js';
import type { MaxStreamDurationConfig } from '../../../src/proxy/config/types.js';

test('gRPC requests are recognised by content-type application/grpc[+…|;…]', () => {
  assert.equal(isGrpcRequest(['content-type', 'application/grpc']), true);
  assert.equal(isGrpcRequest(['content-type', 'application/grpc+proto']), true);
  assert.equal(isGrpcRequest(['content-type', 'Application/GRPC; charset=utf-8']), false, 'compared case-sensitively, as Envoy does');
  assert.equal(isGrpcRequest(['content-type', 'application/grpc;x=1']), true);
  assert.equal(isGrpcRequest(['content-type', 'application/grpc-web']), false);
  assert.equal(isGrpcRequest(['content-type', 'application/json']), false);
  assert.equal(isGrpcRequest([]), false);
});

test('grpc-timeout: every unit, rounded up to milliseconds; malformed values are ignored', () => {
  const t = (v: string) => grpcTimeoutMs(['grpc-timeout', v]);
  assert.equal(t('1H'), 3_600_000);
  assert.equal(t('2M'), 120_000);
  assert.equal(t('3S'), 3000);
  assert.equal(t('250m'), 250);
  assert.equal(t('1500u'), 2);
  assert.equal(t('1n'), 1);
  assert.equal(t('0m'), 0);
  assert.equal(t('123456789S'), undefined, 'at most 8 digits');
  assert.equal(t('5s'), undefined);
  assert.equal(t(''), undefined);
  assert.equal(grpcTimeoutMs([]), undefined);
});

test("Envoy's HTTP → gRPC status mapping", () => {
  const map = Object.fromEntries([400, 401, 403, 404, 429, 500, 502, 503, 504].map((s) => [s, httpToGrpcStatus(s)]));
  assert.deepEqual(map, { 400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 500: 2, 502: 14, 503: 14, 504: 14 });
});

test('trailers-only local reply headers carry grpc-status and a percent-encoded grpc-message', () => {
  assert.deepEqual(grpcLocalReplyHeaders(503, 'no healthy upstream', undefined),
    ['content-type', 'application/grpc', 'grpc-status', '14', 'grpc-message', 'no healthy upstream']);
  assert.deepEqual(grpcLocalReplyHeaders(408, '', 4), ['content-type', 'application/grpc', 'grpc-status', '4']);
  assert.equal(encodeGrpcMessage('50% off\n'), '50%25 off%0A');
  assert.equal(encodeGrpcMessage('é'), '%C3%A9');
});

test('grpc-status and service/method extraction', () => {
  assert.equal(grpcStatusOf(['grpc-status', '14']), 14);
  assert.equal(grpcStatusOf(['grpc-status', 'x']), -1);
  assert.equal(grpcStatusOf(null), -1);
  assert.deepEqual(grpcServiceMethod('/helloworld.Greeter/SayHello'), { service: 'helloworld.Greeter', method: 'SayHello' });
  assert.equal(grpcServiceMethod('/a/b/c'), null);
  assert.equal(grpcServiceMethod('/nope'), null);
});

function route(o: { timeoutMs?: number; msd?: MaxStreamDurationConfig | null; maxGrpc?: number | null; offset?: number }): CompiledRoute {
  return {
    timeoutMs: o.timeoutMs ?? 15_000, maxStreamDuration: o.msd ?? null, maxGrpcTimeoutMs: o.maxGrpc ?? null,
    grpcTimeoutOffsetMs: o.offset ?? 0,
  } as unknown as CompiledRoute;
}

test('max_stream_duration: grpc-timeout replaces the duration, capped by grpc_timeout_header_max (0 = no cap), minus the offset', () => {
  const h = (v: string) => ['grpc-timeout', v];
  const msd = (max: number | null, cap: number | null, off = 0): MaxStreamDurationConfig =>
    ({ maxStreamDurationMs: max, grpcTimeoutHeaderMaxMs: cap, grpcTimeoutHeaderOffsetMs: off });
  assert.deepEqual(streamTimeouts(route({ msd: msd(60_000, null) }), h('1S'), true), { routeTimeoutMs: 15_000, maxStreamDurationMs: 60_000 });
  assert.deepEqual(streamTimeouts(route({ msd: msd(60_000, 0) }), h('1S'), true), { routeTimeoutMs: 15_000, maxStreamDurationMs: 1000 });
  assert.equal(streamTimeouts(route({ msd: msd(null, 500) }), h('10S'), true).maxStreamDurationMs, 500);
  assert.equal(streamTimeouts(route({ msd: msd(null, 500, 100) }), h('10S'), true).maxStreamDurationMs, 400);
  assert.equal(streamTimeouts(route({ msd: msd(null, 0, 2000) }), h('1S'), true).maxStreamDurationMs, 1000, 'offset larger than the timeout is not applied');
  assert.equal(streamTimeouts(route({ msd: msd(7000, 500) }), [], true).maxStreamDurationMs, 7000, 'no header: max_stream_duration');
});

test('deprecated max_grpc_timeout turns grpc-timeout into the route timeout for gRPC requests only', () => {
  const r = route({ maxGrpc: 2000, offset: 100 });
  assert.deepEqual(streamTimeouts(r, ['grpc-timeout', '5S'], true), { routeTimeoutMs: 1900, maxStreamDurationMs: 0 });
  assert.deepEqual(streamTimeouts(r, [], true), { routeTimeoutMs: 1900, maxStreamDurationMs: 0 });
  assert.equal(streamTimeouts(route({ maxGrpc: 0 }), ['grpc-timeout', '300m'], true).routeTimeoutMs, 300);
  assert.equal(streamTimeouts(route({ maxGrpc: 0 }), [], true).routeTimeoutMs, 0, 'no header, no cap: no timeout');
  assert.equal(streamTimeouts(r, ['grpc-timeout', '5S'], false).routeTimeoutMs, 15_000);
});
