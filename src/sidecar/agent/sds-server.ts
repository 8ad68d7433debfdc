// The sidecar agent's SDS server: Envoy's SecretDiscoveryService (StreamSecrets state of the world,
// DeltaSecrets, FetchSecrets; https://www.envoyproxy.io/docs/envoy/latest/configuration/security/secret)
// over grpc-js on a Unix socket in the sidecar's private directory (mode 0700), as Istio's agent
// serves its proxy. Secrets by Istio's names: `default` (the workload's certificate chain and key)
// and `ROOTCA` (the trust bundle). A renewed secret is pushed to every open stream that asked for
// it; ACKs and NACKs are read from the response nonces (a NACK is logged, the secret stays).

import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../observe/logger.js';
import { SECRET_TYPE, type SecretValue } from '../../proxy/secrets/types.js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse } from '../../xds/ads-service.js';
import type { RawAny } from '../../xds/proto-json.js';
import { SDS_SERVICE, secretAny } from './sds-service.js';

const log = createLogger('sds');

/** What the server serves: the agent implements it. */
export interface SdsSecretProvider {
  /** A secret's current value and version, or undefined while it has none (requests for it wait). */
  current(name: string): { readonly value: SecretValue; readonly version: string } | undefined;
  /** Calls `fn` with a secret's name each time its value changes; returns the unsubscribe function. */
  subscribe(fn: (name: string) => void): () => void;
}

export interface SdsServerStats {
  streams: number;
  responses: number;
  acks: number;
  nacks: number;
}

const GRPC_INVALID_ARGUMENT = 3;

export class SdsServer {
  private readonly server = new grpc.Server();
  private readonly streams = new Set<{ push(name: string): void; end(): void }>();
  private readonly unsubscribe: () => void;
  private readonly anyCache = new Map<string, { version: string; any: RawAny }>();
  private nonceSeq = 0;
  private readonly noncePrefix = randomBytes(4).toString('hex');
  readonly stats: SdsServerStats = { streams: 0, responses: 0, acks: 0, nacks: 0 };
  /** Last NACK message per secret name (for tests and debugging). */
  readonly lastNack = new Map<string, string>();

  private constructor(private readonly provider: SdsSecretProvider, readonly socketPath: string) {
    this.server.addService(SDS_SERVICE, {
      StreamSecrets: (call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) => this.sotw(call),
      DeltaSecrets: (call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) => this.delta(call),
      FetchSecrets: (call: grpc.ServerUnaryCall<DiscoveryRequest, DiscoveryResponse>, cb: grpc.sendUnaryData<DiscoveryResponse>) => {
        const names = call.request.resource_names ?? [];
        const resources = names.map((n) => this.any(n)).filter((a): a is RawAny => a !== undefined);
        cb(null, { version_info: names.map((n) => this.provider.current(n)?.version ?? '').join(','), resources, type_url: SECRET_TYPE, nonce: this.nonce() });
      },
    });
    this.unsubscribe = provider.subscribe((name) => { for (const s of this.streams) s.push(name); });
  }

  /** Listens on `socketPath` (a Unix socket; the directory should be private to the sidecar). */
  static async listen(provider: SdsSecretProvider, socketPath: string): Promise<SdsServer> {
    const s = new SdsServer(provider, socketPath);
    await new Promise<void>((resolve, reject) => {
      s.server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
    });
    return s;
  }

  async close(): Promise<void> {
    this.unsubscribe();
    for (const s of [...this.streams]) s.end();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { this.server.forceShutdown(); resolve(); }, 1000);
      t.unref();
      this.server.tryShutdown(() => { clearTimeout(t); resolve(); });
    });
  }

  private nonce(): string {
    return `${this.noncePrefix}-${++this.nonceSeq}`;
  }

  /** The Any of a secret's current value, encoded once per version. */
  private any(name: string): RawAny | undefined {
    const cur = this.provider.current(name);
    if (cur === undefined) return undefined;
    const hit = this.anyCache.get(name);
    if (hit !== undefined && hit.version === cur.version) return hit.any;
    const any = secretAny(cur.value);
    this.anyCache.set(name, { version: cur.version, any });
    return any;
  }

  private sotw(call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>): void {
    this.stats.streams++;
    let names: string[] = [];
    /** Per name, the version last sent on this stream. */
    const sentVersion = new Map<string, string>();
    let lastNonce = '';
    let lastSent: string[] = [];
    const send = (force: boolean): void => {
      const resources: RawAny[] = [];
      const versions: string[] = [];
      let changed = force;
      for (const n of names) {
        const cur = this.provider.current(n);
        if (cur === undefined) continue;
        const a = this.any(n);
        if (a === undefined) continue;
        resources.push(a);
        versions.push(cur.version);
        if (sentVersion.get(n) !== cur.version) changed = true;
      }
      if (!changed || resources.length === 0) return;
      for (const n of names) { const c = this.provider.current(n); if (c !== undefined) sentVersion.set(n, c.version); }
      lastNonce = this.nonce();
      lastSent = names.filter((n) => this.provider.current(n) !== undefined);
      this.stats.responses++;
      try {
        call.write({ version_info: versions.join(','), resources, type_url: SECRET_TYPE, nonce: lastNonce });
      } catch { /* stream gone */ }
    };
    const entry = {
      push: (name: string) => { if (names.includes(name)) send(false); },
      end: () => { try { call.end(); } catch { /* gone */ } },
    };
    this.streams.add(entry);
    const drop = (): void => { this.streams.delete(entry); };
    call.on('data', (r: DiscoveryRequest) => {
      if (r.type_url !== undefined && r.type_url !== '' && r.type_url !== SECRET_TYPE) {
        call.emit('error', Object.assign(new Error(`unexpected type_url ${r.type_url}`), { code: GRPC_INVALID_ARGUMENT }));
        return;
      }
      const nonce = r.response_nonce ?? '';
      if (nonce !== '' && nonce === lastNonce) {
        if (r.error_detail != null && (r.error_detail.message ?? '') !== '') {
          this.stats.nacks++;
          for (const n of lastSent) this.lastNack.set(n, r.error_detail.message ?? '');
          log.warn('sds: the proxy rejected %s: %s', lastSent.join(', '), r.error_detail.message);
        } else {
          this.stats.acks++;
        }
      } else if (nonce !== '' && nonce !== lastNonce) {
        return; // a stale request (Envoy's rule: ignore requests carrying an older nonce)
      }
      const next = [...(r.resource_names ?? [])];
      const namesChanged = next.length !== names.length || next.some((n, i) => n !== names[i]);
      names = next;
      // First request, or a new subscription: answer with the current values.
      if (nonce === '' || namesChanged) send(nonce === '' || namesChanged);
    });
    call.on('end', () => { drop(); try { call.end(); } catch { /* gone */ } });
    call.on('error', drop);
    call.on('cancelled', drop);
    call.on('close', drop);
  }

  private delta(call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>): void {
    this.stats.streams++;
    const names = new Set<string>();
    const sentVersion = new Map<string, string>();
    const pending = new Map<string, string[]>();
    const send = (only: readonly string[]): void => {
      const resources: { name: string; version: string; resource: RawAny }[] = [];
      for (const n of only) {
        const cur = this.provider.current(n);
        const a = this.any(n);
        if (cur === undefined || a === undefined || sentVersion.get(n) === cur.version) continue;
        sentVersion.set(n, cur.version);
        resources.push({ name: n, version: cur.version, resource: a });
      }
      if (resources.length === 0) return;
      const nonce = this.nonce();
      pending.set(nonce, resources.map((r) => r.name));
      this.stats.responses++;
      try {
        call.write({ resources, type_url: SECRET_TYPE, nonce, system_version_info: '' });
      } catch { /* stream gone */ }
    };
    const entry = {
      push: (name: string) => { if (names.has(name)) send([name]); },
      end: () => { try { call.end(); } catch { /* gone */ } },
    };
    this.streams.add(entry);
    const drop = (): void => { this.streams.delete(entry); };
    call.on('data', (r: DeltaDiscoveryRequest) => {
      const nonce = r.response_nonce ?? '';
      if (nonce !== '') {
        const which = pending.get(nonce) ?? [];
        pending.delete(nonce);
        if (r.error_detail != null && (r.error_detail.message ?? '') !== '') {
          this.stats.nacks++;
          for (const n of which) this.lastNack.set(n, r.error_detail.message ?? '');
          log.warn('sds: the proxy rejected %s: %s', which.join(', '), r.error_detail.message);
        } else {
          this.stats.acks++;
        }
      }
      for (const [n, v] of Object.entries(r.initial_resource_versions ?? {})) sentVersion.set(n, v);
      for (const n of r.resource_names_unsubscribe ?? []) { names.delete(n); sentVersion.delete(n); }
      const added = (r.resource_names_subscribe ?? []).filter((n) => !names.has(n));
      for (const n of added) names.add(n);
      send(added);
    });
    call.on('end', () => { drop(); try { call.end(); } catch { /* gone */ } });
    call.on('error', drop);
    call.on('cancelled', drop);
    call.on('close', drop);
  }
}
