// The control plane's xDS v3 server: ADS over gRPC, state-of-the-world and delta
// (envoy/service/discovery/v3/ads.proto, https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol).
// It asks the generator for each connected proxy's resources and sends only what changed, in warming order.
import { EventEmitter } from 'node:events';
import { Server, ServerCredentials, type ServerDuplexStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { ADS_SERVICE, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse } from '../../xds/ads-service.js';
import type { ProxyInfo, ProxyLifecycle, ProxyStatus, XdsGenerator, XdsServerHandle } from '../model.js';
import { parseSpiffeId, spiffeFromSubjectAltName } from '../../security/spiffe.js';
import { Debouncer } from './debounce.js';
import { DeltaStream } from './delta.js';
import { ResourceCache } from './resource-cache.js';
import { SotwStream } from './sotw.js';
import { encodeDeltaDiscoveryResponse, encodeDiscoveryResponse } from './wire.js';
import { log, shortName, type AdsStream, type PeerAdmission, type StreamContext } from './stream.js';

export interface XdsServerOptions {
  readonly generator: XdsGenerator;
  /** Default 15010 (istiod's plaintext xDS port); 0 picks a free one. */
  readonly port?: number;
  /** Default `0.0.0.0`. */
  readonly host?: string;
  readonly lifecycle?: ProxyLifecycle;
  /** push() calls within this many milliseconds coalesce into one round (default 100). */
  readonly debounceMs?: number;
  /** A steady stream of push() calls still runs a round at least this often (default 1000). */
  readonly maxDebounceMs?: number;
  /** Sent as DiscoveryResponse.control_plane.identifier. */
  readonly controlPlaneId?: string;
  /**
   * Warm-up after start (default 0: none): for this long, a proxy that reconnects having resources
   * is sent nothing until every resource it had is generated again (its peers have re-registered),
   * so a restarted control plane with an empty registry does not take services away from it.
   */
  readonly reconnectHoldMs?: number;
  /** A reconnecting proxy is held at least this long so all its first requests are in (default 250). */
  readonly reconnectMinHoldMs?: number;
  /**
   * mTLS xDS: server credentials that require a client certificate chained to the mesh's trust
   * bundle (src/control/ca/serving.ts). Each proxy's certificate must then carry a SPIFFE id whose
   * namespace is its node's NAMESPACE, else its stream is refused (PERMISSION_DENIED). Absent:
   * plaintext (`weft control --insecure-xds`).
   */
  readonly credentials?: ServerCredentials;
}

/** mTLS xDS admission: the peer certificate's SPIFFE namespace must be the proxy's namespace. */
export function admitByCertificate(proxy: ProxyInfo, cert: PeerCertificate | undefined): PeerAdmission {
  if (cert === undefined || Object.keys(cert).length === 0) return { refuse: 'no client certificate (mTLS xDS needs one from the mesh CA)' };
  const uri = spiffeFromSubjectAltName(cert.subjectaltname);
  const id = uri === undefined ? undefined : parseSpiffeId(uri);
  if (id === undefined) return { refuse: `the client certificate has no SPIFFE id (${cert.subjectaltname ?? 'no subjectAltName'})` };
  if (id.namespace !== proxy.namespace) return { refuse: `node namespace '${proxy.namespace}' does not match the certificate's ${uri}` };
  return { identity: uri!, certExpiry: new Date(cert.valid_to).toISOString() };
}

export interface XdsServerStats {
  /** Push rounds run (each regenerates every connected proxy once). */
  readonly pushes: number;
  /** Discovery responses written, both variants. */
  readonly responses: number;
  /** Serialized response bytes handed to gRPC, per variant. */
  readonly bytesSent: { readonly sotw: number; readonly delta: number };
  /** Streams whose first request has arrived. */
  readonly connected: number;
  /** Resource encodings run (each distinct resource object is encoded once). */
  readonly encodings: number;
}

/** Emitted as `pushed` after each push round. */
export interface PushRound {
  readonly round: number;
  readonly proxies: number;
  /** Responses written during the round. */
  readonly responses: number;
}

type AnyStream = AdsStream<never, never>;

export class XdsServer extends EventEmitter implements XdsServerHandle {
  private readonly generator: XdsGenerator;
  private readonly lifecycle: ProxyLifecycle | undefined;
  private readonly cache = new ResourceCache((typeUrl, name, error) => {
    log.error('resource %s %j cannot be encoded (left out of every response): %s', shortName(typeUrl), name, error);
  });
  private readonly debouncer: Debouncer;
  private readonly streams = new Set<AnyStream>();
  private readonly ctx: StreamContext;
  private server: Server | undefined;
  private nonce = 0;
  private pushes = 0;
  private responses = 0;
  private readonly bytes = { sotw: 0, delta: 0 };
  private closed = false;
  private warmUntil = 0;
  private warmTimer: NodeJS.Timeout | undefined;
  private readonly heldSince = new Map<AnyStream, number>();
  private heldTotal = 0;

  constructor(private readonly options: XdsServerOptions) {
    super();
    this.generator = options.generator;
    this.lifecycle = options.lifecycle;
    this.debouncer = new Debouncer(() => this.round(), options.debounceMs ?? 100, options.maxDebounceMs ?? 1000);
    const controlPlane = options.controlPlaneId === undefined ? undefined : Object.freeze({ identifier: options.controlPlaneId });
    this.ctx = {
      generator: this.generator,
      cache: this.cache,
      controlPlane,
      nextNonce: () => String(++this.nonce),
      sent: () => { this.responses++; },
      connected: (s) => this.connected(s),
      disconnected: (s) => this.disconnected(s),
      warmup: {
        active: () => Date.now() < this.warmUntil,
        minHoldMs: options.reconnectMinHoldMs ?? 250,
        held: (s, held, why) => this.onHeld(s, held, why),
      },
      ...(options.credentials === undefined ? {} : { admit: admitByCertificate }),
    };
  }

  /** Binds and serves ADS (options.credentials, else insecure); resolves with the bound port. */
  async start(): Promise<{ readonly port: number }> {
    if (this.server !== undefined || this.closed) throw new Error('XdsServer: start() called twice or after close()');
    const server = new Server();
    const sotw = ADS_SERVICE.StreamAggregatedResources;
    const delta = ADS_SERVICE.DeltaAggregatedResources;
    // Responses are encoded by hand (wire.ts): each resource's bytes are shared, not re-converted per proxy.
    const definition = {
      StreamAggregatedResources: {
        ...sotw,
        responseSerialize: (v: DiscoveryResponse) => { const b = encodeDiscoveryResponse(v); this.bytes.sotw += b.length; return b; },
      },
      DeltaAggregatedResources: {
        ...delta,
        responseSerialize: (v: DeltaDiscoveryResponse) => { const b = encodeDeltaDiscoveryResponse(v); this.bytes.delta += b.length; return b; },
      },
    };
    const impl: UntypedServiceImplementation = {
      StreamAggregatedResources: (call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) => {
        this.adopt(new SotwStream(this.ctx, call) as unknown as AnyStream);
      },
      DeltaAggregatedResources: (call: ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) => {
        this.adopt(new DeltaStream(this.ctx, call) as unknown as AnyStream);
      },
    };
    server.addService(definition, impl);
    const host = this.options.host ?? '0.0.0.0';
    const address = `${host.includes(':') ? `[${host}]` : host}:${this.options.port ?? 15010}`;
    this.server = server;
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, this.options.credentials ?? ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err)));
    });
    log.info('xDS server listening on %s:%d (%s)', host, port, this.options.credentials === undefined ? 'plaintext' : 'mTLS');
    const hold = this.options.reconnectHoldMs ?? 0;
    if (hold > 0) {
      this.warmUntil = Date.now() + hold;
      this.warmTimer = setTimeout(() => this.endWarmup(), hold);
      this.warmTimer.unref();
    }
    return { port };
  }

  /** The mesh changed: after the debounce window, regenerate every connected proxy and send what changed. */
  push(): void {
    if (!this.closed) this.debouncer.trigger();
  }

  status(): readonly ProxyStatus[] {
    const out: ProxyStatus[] = [];
    for (const s of this.streams) {
      const st = s.status();
      if (st !== undefined) out.push(st);
    }
    return out;
  }

  stats(): XdsServerStats {
    let connected = 0;
    for (const s of this.streams) if (s.proxy !== undefined) connected++;
    return {
      pushes: this.pushes,
      responses: this.responses,
      bytesSent: { sotw: this.bytes.sotw, delta: this.bytes.delta },
      connected,
      encodings: this.cache.encodings,
    };
  }

  private onHeld(s: AnyStream, held: boolean, why: string): void {
    const id = s.proxy?.id ?? s.peer;
    if (held) {
      this.heldSince.set(s, Date.now());
      this.heldTotal++;
      log.info('warm-up: %s reconnected; holding its updates (it keeps its last config) until what it had is known again (waiting for %s)', id, why);
      return;
    }
    const since = this.heldSince.get(s);
    this.heldSince.delete(s);
    if (why === 'disconnected') return;
    log.info('warm-up: %s released after %d ms%s', id, since === undefined ? 0 : Date.now() - since,
      Date.now() < this.warmUntil ? ': everything it had is known again' : ': the warm-up window ended');
  }

  private endWarmup(): void {
    this.warmTimer = undefined;
    this.warmUntil = 0;
    const held = [...this.heldSince.keys()];
    log.info('warm-up over: %d reconnecting proxies were held, %d still held are sent the current config', this.heldTotal, held.length);
    for (const s of held) s.push();
  }

  /** Ends every stream, stops the gRPC server and drops pending pushes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.warmTimer !== undefined) clearTimeout(this.warmTimer);
    this.debouncer.close();
    for (const s of [...this.streams]) s.end();
    const server = this.server;
    if (server === undefined) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => { server.forceShutdown(); resolve(); }, 2000);
      server.tryShutdown(() => { clearTimeout(force); resolve(); });
    });
  }

  private adopt(stream: AnyStream): void {
    if (this.closed) { stream.end(); return; }
    this.streams.add(stream);
  }

  private round(): void {
    const round = ++this.pushes;
    const before = this.responses;
    let proxies = 0;
    for (const s of this.streams) {
      if (s.proxy === undefined) continue;
      proxies++;
      s.push();
    }
    log.debug('push round %d: %d proxies, %d responses', round, proxies, this.responses - before);
    this.emit('pushed', { round, proxies, responses: this.responses - before } satisfies PushRound);
  }

  private connected(s: AnyStream): void {
    const p = s.proxy!;
    log.info('%s connected (%s %s, %s)', p.id, p.kind, s.variant, s.peer);
    try { this.lifecycle?.onConnected(p, s.peer); } catch (e) { log.error('lifecycle onConnected(%s) failed: %s', p.id, e); }
  }

  private disconnected(s: AnyStream): void {
    this.streams.delete(s);
    const p = s.proxy;
    if (p === undefined) return;
    try { this.lifecycle?.onDisconnected(p, { leaving: s.leaving }); } catch (e) { log.error('lifecycle onDisconnected(%s) failed: %s', p.id, e); }
  }
}
