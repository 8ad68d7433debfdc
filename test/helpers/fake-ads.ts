// An in-process fake ADS control plane (envoy.service.discovery.v3.AggregatedDiscoveryService, both
// StreamAggregatedResources and DeltaAggregatedResources) on 127.0.0.1: the test scripts every
// response and reads every request the proxy sent (ACKs, NACKs, nonces, subscriptions).

import * as grpc from '@grpc/grpc-js';
import {
  ADS_SERVICE, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse,
} from '../../src/xds/ads-service.js';
import { encodeFromJson, type RawAny } from '../../src/xds/proto-json.js';
import { typeOfUrl } from '../../src/xds/protos.js';

export type Obj = Record<string, unknown>;

export interface SeenAdsRequest {
  readonly variant: 'sotw' | 'delta';
  /** Which stream (1 = the first one opened on this server). */
  readonly stream: number;
  readonly req: DiscoveryRequest & DeltaDiscoveryRequest;
}

export interface FakeAds {
  readonly port: number;
  /** `127.0.0.1:<port>`, the channel target. */
  readonly target: string;
  /** Every request received, in order. */
  readonly requests: SeenAdsRequest[];
  /** Streams opened so far. */
  readonly streamCount: number;
  /** Whether a stream is open now. */
  readonly connected: boolean;
  /** SotW: sends a response for `typeUrl` on the open stream; returns its nonce. */
  send(typeUrl: string, resources: readonly Obj[], version: string): string;
  /** Delta: sends resources (named by `name` or `cluster_name`) and removals; returns the nonce. */
  sendDelta(typeUrl: string, resources: readonly Obj[], opts?: { removed?: string[]; version?: string; systemVersion?: string }): string;
  /**
   * Waits for the next request (after the ones already taken by earlier calls) matching `pred`;
   * requests that do not match are skipped. Rejects after `timeoutMs` (a guard, not a wait).
   */
  next(pred?: (r: SeenAdsRequest['req']) => boolean, timeoutMs?: number): Promise<SeenAdsRequest['req']>;
  /** Waits until a stream is open (at least `n` opened in all). */
  waitForStream(n?: number, timeoutMs?: number): Promise<void>;
  /** Stops the server at once, ending open streams. */
  close(): Promise<void>;
}

/** A resource's JSON → a pre-encoded Any. */
export function rawAny(typeUrl: string, json: Obj): RawAny {
  const type = typeOfUrl(typeUrl);
  if (type === null) throw new Error(`unknown type ${typeUrl}`);
  return { type_url: typeUrl, value: encodeFromJson(type, json) };
}

/** Starts a fake ADS server on 127.0.0.1 (port 0 = any; pass a port to come back on the same one). */
export async function startFakeAds(port = 0): Promise<FakeAds> {
  const server = new grpc.Server();
  const requests: SeenAdsRequest[] = [];
  let cursor = 0;
  let waiters: (() => void)[] = [];
  const wake = (): void => { const w = waiters; waiters = []; for (const f of w) f(); };
  let streamCount = 0;
  let sotw: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse> | null = null;
  let delta: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse> | null = null;
  let nonce = 0;

  server.addService(ADS_SERVICE, {
    StreamAggregatedResources: (call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) => {
      const id = ++streamCount;
      sotw = call;
      call.on('data', (req: DiscoveryRequest) => { requests.push({ variant: 'sotw', stream: id, req }); wake(); });
      call.on('end', () => { if (sotw === call) sotw = null; call.end(); wake(); });
      call.on('error', () => { if (sotw === call) sotw = null; wake(); });
      wake();
    },
    DeltaAggregatedResources: (call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) => {
      const id = ++streamCount;
      delta = call;
      call.on('data', (req: DeltaDiscoveryRequest) => { requests.push({ variant: 'delta', stream: id, req }); wake(); });
      call.on('end', () => { if (delta === call) delta = null; call.end(); wake(); });
      call.on('error', () => { if (delta === call) delta = null; wake(); });
      wake();
    },
  });
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });

  const waitUntil = async (check: () => boolean, what: string, timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`fake ADS: timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  };

  return {
    port: bound,
    target: `127.0.0.1:${bound}`,
    requests,
    get streamCount() { return streamCount; },
    get connected() { return sotw !== null || delta !== null; },
    send(typeUrl, resources, version) {
      if (sotw === null) throw new Error('fake ADS: no SotW stream open');
      const n = `n${++nonce}`;
      sotw.write({ version_info: version, type_url: typeUrl, nonce: n, resources: resources.map((r) => rawAny(typeUrl, r)) });
      return n;
    },
    sendDelta(typeUrl, resources, opts = {}) {
      if (delta === null) throw new Error('fake ADS: no delta stream open');
      const n = `n${++nonce}`;
      delta.write({
        system_version_info: opts.systemVersion ?? opts.version ?? '',
        type_url: typeUrl,
        nonce: n,
        removed_resources: opts.removed ?? [],
        resources: resources.map((r) => ({
          name: String(r.name ?? r.cluster_name), version: opts.version ?? '1', resource: rawAny(typeUrl, r),
        })),
      });
      return n;
    },
    async next(pred = () => true, timeoutMs = 10_000) {
      let found: SeenAdsRequest['req'] | undefined;
      await waitUntil(() => {
        while (cursor < requests.length) {
          const r = requests[cursor++]!.req;
          if (pred(r)) { found = r; return true; }
        }
        return false;
      }, 'a matching request', timeoutMs);
      return found!;
    },
    async waitForStream(n = 1, timeoutMs = 10_000) {
      await waitUntil(() => streamCount >= n && (sotw !== null || delta !== null), `stream ${n}`, timeoutMs);
    },
    close() {
      server.forceShutdown();
      sotw = null;
      delta = null;
      wake();
      return Promise.resolve();
    },
  };
}
