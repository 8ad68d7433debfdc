// SDS from a gRPC server (sds_config `api_config_source` with api_type GRPC and an envoy_grpc
// cluster, e.g. Istio's `sds-grpc` cluster whose address is the agent's Unix socket):
// envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets, state of the world, subscribing
// to the names in use. Each response is validated as a whole: a bad secret NACKs it (error_detail,
// previous version_info) and the last good values stay; a good one is ACKed and applied. The
// stream is reopened with jittered exponential back-off (500 ms doubling to 30 s) when it fails.

import * as grpc from '@grpc/grpc-js';
import type { StatsStore } from '../../observe/stats.js';
import { createLogger } from '../../observe/logger.js';
import { ADS_SERVICE, type DiscoveryRequest, type DiscoveryResponse } from '../../xds/ads-service.js';
import { decodeSecretAny } from './decode.js';
import type { SecretSink, SecretSource } from './manager.js';
import { sdsStats } from './stats.js';
import { SECRET_TYPE } from './types.js';
import { WEFT_VERSION } from '../../version.js';

const log = createLogger('sds');

export const SDS_STREAM_PATH = '/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets';
const BACKOFF_INITIAL_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const GRPC_INVALID_ARGUMENT = 3;

type Call = grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;

export class GrpcSecretSource implements SecretSource {
  private readonly names = new Set<string>();
  private client: grpc.Client | null = null;
  private clientTarget = '';
  private call: Call | null = null;
  private version = '';
  private nonce = '';
  private backoffMs = BACKOFF_INITIAL_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;

  /** `target`: the cluster's gRPC target now (`host:port`, `unix:<path>`), null when the cluster is unknown. */
  constructor(private readonly cluster: string, private readonly target: () => string | null,
              private readonly sink: SecretSink, private readonly store: StatsStore) {}

  subscribe(name: string): void {
    if (this.names.has(name)) return;
    this.names.add(name);
    this.flushSoon();
  }

  unsubscribe(name: string): void {
    if (!this.names.delete(name)) return;
    if (this.names.size === 0) this.stop();
    else this.flushSoon();
  }

  /** Subscriptions made together (one config's refs) go out in one request. */
  private flushPending = false;
  private flushSoon(): void {
    if (this.flushPending) return;
    this.flushPending = true;
    queueMicrotask(() => {
      this.flushPending = false;
      if (this.closed || this.names.size === 0) return;
      if (this.call === null) { if (this.retryTimer === null) this.connect(); } else this.request('');
    });
  }

  close(): void {
    this.closed = true;
    this.stop();
  }

  private stop(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const call = this.call;
    this.call = null;
    call?.cancel();
    this.client?.close();
    this.client = null;
  }

  private connect(): void {
    if (this.closed || this.names.size === 0) return;
    const target = this.target();
    if (target === null) {
      log.warning('SDS cluster %s: no such static cluster (or no endpoint); retrying in about %d ms', this.cluster, this.backoffMs);
      this.retry();
      return;
    }
    if (this.client === null || this.clientTarget !== target) {
      this.client?.close();
      this.client = new grpc.Client(target, grpc.credentials.createInsecure());
      this.clientTarget = target;
    }
    const svc = ADS_SERVICE.StreamAggregatedResources;
    const call = this.client.makeBidiStreamRequest(
      SDS_STREAM_PATH, svc.requestSerialize as (v: DiscoveryRequest) => Buffer, svc.responseDeserialize as (b: Buffer) => DiscoveryResponse,
    ) as Call;
    this.call = call;
    this.nonce = '';
    let ended = false;
    const end = (why: string): void => {
      if (ended) return;
      ended = true;
      if (this.call === call) this.call = null;
      if (this.closed || this.names.size === 0) return;
      for (const n of this.names) sdsStats(this.store, n).update_failure.inc();
      log.warning('SDS stream to cluster %s (%s) closed (%s); retrying in about %d ms', this.cluster, target, why, this.backoffMs);
      this.retry();
    };
    call.on('data', (resp: DiscoveryResponse) => { if (this.call === call) this.receive(resp); });
    call.on('error', (err: Error) => end(err.message));
    call.on('end', () => end('stream ended by the server'));
    call.on('status', () => undefined);
    this.request('');
  }

  private retry(): void {
    if (this.closed || this.retryTimer !== null) return;
    const delay = this.backoffMs * (0.5 + Math.random() / 2);
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    this.retryTimer = setTimeout(() => { this.retryTimer = null; this.connect(); }, delay);
    this.retryTimer.unref();
  }

  private request(nonce: string, error?: string): void {
    const call = this.call;
    if (call === null) return;
    const req: DiscoveryRequest = {
      node: { user_agent_name: 'weft', user_agent_version: WEFT_VERSION },
      type_url: SECRET_TYPE, version_info: this.version, resource_names: [...this.names], response_nonce: nonce || this.nonce,
      ...(error !== undefined ? { error_detail: { code: GRPC_INVALID_ARGUMENT, message: error } } : {}),
    };
    try { call.write(req); } catch (err) { log.debug('SDS write failed: %s', (err as Error).message); }
  }

  private receive(resp: DiscoveryResponse): void {
    this.backoffMs = BACKOFF_INITIAL_MS;
    this.nonce = resp.nonce;
    const decoded = resp.resources.map((r) => decodeSecretAny(r, process.cwd()));
    const counted = new Set([...this.names, ...decoded.map((d) => d.name).filter((n) => this.names.has(n))]);
    for (const n of counted) sdsStats(this.store, n).update_attempt.inc();
    const bad = decoded.filter((d) => !d.ok);
    if (resp.type_url !== SECRET_TYPE || bad.length > 0) {
      const message = resp.type_url !== SECRET_TYPE
        ? `expected resources of type ${SECRET_TYPE}, got ${resp.type_url}`
        : `Error adding/updating secret(s) ${bad.map((d) => `${d.name || '(unnamed)'}: ${(d as { errors: readonly string[] }).errors.join('; ')}`).join(', ')}`;
      for (const n of counted) sdsStats(this.store, n).update_rejected.inc();
      log.error('SDS update from cluster %s rejected (version %s), keeping the previous secrets: %s', this.cluster, resp.version_info || '(none)', message);
      this.request(resp.nonce, message);
      return;
    }
    this.version = resp.version_info;
    this.request(resp.nonce);
    for (const d of decoded) {
      if (!d.ok || !this.names.has(d.name)) continue;
      sdsStats(this.store, d.name).update_success.inc();
      this.sink(d.value, resp.version_info);
    }
  }
}
