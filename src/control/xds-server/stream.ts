// What SotW and delta ADS streams share (envoy/service/discovery/v3/ads.proto): the proxy read from
// the first request's node, per-proxy generation, requests batched per event-loop turn so replies
// go out in warming order (CDS, EDS, LDS, RDS), and teardown that tells the lifecycle once.
import { status as GrpcStatus, type ServerDuplexStream } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { createLogger } from '../../observe/logger.js';
import type { NodeJson } from '../../xds/ads-service.js';
import { ENDPOINT_TYPE, messageName, PUSH_ORDER, SHORT_NAME } from '../../xds/resource-types.js';
import { proxyInfoFromNode, type ProxyInfo, type ProxyResources, type ProxyStatus, type XdsGenerator, type XdsTypeStatus } from '../model.js';
import type { ResourceCache, TypeEncoding } from './resource-cache.js';

export const log = createLogger('xds');

/** What a stream needs from its server. */
export interface StreamContext {
  readonly generator: XdsGenerator;
  readonly cache: ResourceCache;
  readonly controlPlane: { readonly identifier: string } | undefined;
  nextNonce(): string;
  /** Called for every response written. */
  sent(): void;
  /** The first request arrived (the proxy is known). */
  connected(stream: AdsStream<never, never>): void;
  /** The stream is over, however it ended; called once (proxy undefined if no request came). */
  disconnected(stream: AdsStream<never, never>): void;
  /** The control plane's warm-up after a start (see AdsStream.holding). */
  readonly warmup: WarmupContext;
  /**
   * Decides whether a proxy may have this stream (mTLS xDS: its certificate's SPIFFE namespace
   * must be its node's NAMESPACE); absent: everyone may. A refusal ends the stream with PERMISSION_DENIED.
   */
  admit?(proxy: ProxyInfo, peerCert: PeerCertificate | undefined): PeerAdmission;
}

/** What admit() says: a refusal, or the peer's identity for proxy-status. */
export type PeerAdmission = { readonly refuse: string } | { readonly refuse?: undefined; readonly identity?: string; readonly certExpiry?: string };

/**
 * After the control plane starts, its registry is empty until the sidecars reconnect: a proxy
 * that reconnects (it says what it had) is not sent anything until the resources it had exist
 * again, or the warm-up window ends; it keeps serving its last config meanwhile.
 */
export interface WarmupContext {
  /** Whether the warm-up window is still open. */
  active(): boolean;
  /** A reconnecting stream is held at least this long, so that all its first requests are in. */
  readonly minHoldMs: number;
  /** Told when a stream starts or stops being held. */
  held(stream: AdsStream<never, never>, held: boolean, why: string): void;
}

const EMPTY_SET: ReadonlySet<string> = new Set();
const EMPTY_RESOURCES: ReadonlyMap<string, object> = new Map();

/** Type URLs in push order: PUSH_ORDER's first, then any others in the given order. */
export function inPushOrder(types: Iterable<string>): string[] {
  const all = [...types];
  const known = PUSH_ORDER.filter((t) => all.includes(t));
  return known.concat(all.filter((t) => !PUSH_ORDER.includes(t)));
}

/** CDS/EDS/LDS/RDS, or the message name for other types. */
export function shortName(typeUrl: string): string {
  return SHORT_NAME[typeUrl] ?? messageName(typeUrl);
}

export const NOT_SENT: XdsTypeStatus = Object.freeze({ state: 'NOT SENT', sentVersion: '', ackedVersion: '', resourceCount: 0 });

type Req = { readonly node?: NodeJson; readonly type_url?: string };

export abstract class AdsStream<Q extends Req, R> {
  abstract readonly variant: 'sotw' | 'delta';
  proxy: ProxyInfo | undefined;
  connectedAt = '';
  readonly peer: string;
  /** The SPIFFE id and certificate expiry of the proxy's client certificate (mTLS xDS). */
  peerIdentity: { readonly identity: string; readonly certExpiry?: string } | undefined;
  /** What the generator last produced for this proxy. */
  protected resources: ProxyResources = new Map();
  private generated = false;
  private listenerKey = '';
  private queue: Q[] = [];
  private immediate: NodeJS.Immediate | undefined;
  private done = false;
  /** The client ended its half of the stream cleanly (a proxy shutting down gracefully). */
  leaving = false;
  /** The proxy said it had resources before this stream (a reconnect): these, by type. */
  private readonly had = new Map<string, Set<string>>();
  private reconnecting = false;
  private firstRequestAt = 0;
  /** Responses are held (warm-up); set while holding() says so. */
  private isHeld = false;
  private holdTimer: NodeJS.Timeout | undefined;

  constructor(protected readonly ctx: StreamContext, private readonly call: ServerDuplexStream<Q, R>) {
    this.peer = call.getPeer();
    call.on('data', (req: Q) => this.enqueue(req));
    call.on('end', () => {
      // The client half-closed: it is leaving. Finish our side too.
      if (!this.done) { this.leaving = true; call.end(); }
      this.teardown('stream ended by the client');
    });
    call.on('error', (e: Error) => this.teardown(`stream error: ${e.message}`));
    call.on('cancelled', () => this.teardown('stream cancelled'));
    call.on('close', () => this.teardown('stream closed'));
  }

  // ── per-variant protocol ──

  /** Applies one request for `typeUrl`; returns whether a response is due (true: even if unchanged), or undefined for none. */
  protected abstract handle(typeUrl: string, req: Q): boolean | undefined;
  /** Sends `typeUrl`'s resources if they differ from what the client was last sent, or always when `force`. */
  protected abstract respond(typeUrl: string, force: boolean): void;
  /** Types the client has asked for, in the order it asked. */
  protected abstract subscribedTypes(): Iterable<string>;
  /** Listener names subscribed by name (proxyless gRPC's API listeners). */
  protected abstract listenerNames(): Iterable<string>;
  protected abstract typeStatus(typeUrl: string): XdsTypeStatus | undefined;

  // ── shared ──

  /** The mesh changed: regenerate and send what differs, in warming order. */
  push(): void {
    if (this.done || this.proxy === undefined) return;
    try {
      this.regenerate(this.currentListenerKey());
      const wasHeld = this.isHeld;
      if (this.holding()) return;
      // Released from a warm-up hold: send every type it asked for.
      for (const t of inPushOrder(this.subscribedTypes())) this.respond(t, wasHeld);
    } catch (e) {
      log.error('%s: push failed: %s', this.proxyId, e instanceof Error ? e.stack : String(e));
      this.fail(GrpcStatus.INTERNAL, `xDS server error: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Whether this stream is being held by the warm-up. */
  get held(): boolean { return this.isHeld; }

  /**
   * The proxy reconnected having these resources of `typeUrl` (SotW: the names it asks for with a
   * non-empty version_info; delta: initial_resource_versions).
   */
  protected hadBefore(typeUrl: string, names: Iterable<string>): void {
    this.reconnecting = true;
    let set = this.had.get(typeUrl);
    if (set === undefined) this.had.set(typeUrl, set = new Set());
    for (const n of names) set.add(n);
  }

  /**
   * Whether responses to this (reconnecting) proxy wait: during the warm-up, until everything it
   * had exists again (endpoints: with at least one endpoint), after at least minHoldMs.
   */
  private holding(): boolean {
    const w = this.ctx.warmup;
    let why = '';
    if (this.reconnecting && w.active()) {
      const wait = this.firstRequestAt + w.minHoldMs - Date.now();
      if (wait > 0) {
        why = 'its first requests';
        if (this.holdTimer === undefined) {
          this.holdTimer = setTimeout(() => { this.holdTimer = undefined; this.push(); }, wait);
          this.holdTimer.unref();
        }
      } else {
        why = this.missing();
      }
    }
    const hold = why !== '';
    if (hold !== this.isHeld) {
      this.isHeld = hold;
      w.held(this as unknown as AdsStream<never, never>, hold, why);
    }
    return hold;
  }

  /** The first resource the proxy had that the generator does not produce (yet), or ''. */
  private missing(): string {
    for (const [typeUrl, names] of this.had) {
      const now = this.resources.get(typeUrl);
      for (const n of names) {
        const r = now?.get(n) as { endpoints?: { lb_endpoints?: unknown[] }[] } | undefined;
        if (r === undefined) return `${shortName(typeUrl)} ${n}`;
        if (typeUrl === ENDPOINT_TYPE && !(r.endpoints ?? []).some((e) => (e.lb_endpoints ?? []).length > 0)) return `endpoints of ${n}`;
      }
    }
    return '';
  }

  /** Ends the stream from the server side (status OK). */
  end(): void {
    if (this.done) return;
    try { this.call.end(); } catch { /* already gone */ }
    this.teardown('closed by the control plane');
  }

  status(): ProxyStatus | undefined {
    const p = this.proxy;
    if (p === undefined) return undefined;
    const types: Record<string, XdsTypeStatus> = {};
    for (const t of PUSH_ORDER) types[shortName(t)] = NOT_SENT;
    for (const t of this.subscribedTypes()) types[shortName(t)] = this.typeStatus(t) ?? NOT_SENT;
    return Object.freeze({
      id: p.id, kind: p.kind, namespace: p.namespace, variant: this.variant,
      connectedAt: this.connectedAt, peer: this.peer, types: Object.freeze(types),
      ...(this.peerIdentity === undefined ? {} : { identity: this.peerIdentity.identity, certExpiry: this.peerIdentity.certExpiry }),
    });
  }

  /** The resources of one type, encoded (shared between proxies whose generator output is shared). */
  protected encoded(typeUrl: string): TypeEncoding {
    return this.ctx.cache.encodeAll(typeUrl, this.resources.get(typeUrl) ?? EMPTY_RESOURCES);
  }

  protected send(res: R): void {
    if (this.done) return;
    this.call.write(res);
    this.ctx.sent();
  }

  protected get proxyId(): string {
    return this.proxy?.id ?? '';
  }

  private enqueue(req: Q): void {
    if (this.done) return;
    this.queue.push(req);
    this.immediate ??= setImmediate(() => this.flush());
  }

  private flush(): void {
    this.immediate = undefined;
    try {
      this.process();
    } catch (e) {
      // A bug, not the client's fault: end this stream (the client reconnects) rather than the process.
      log.error('%s: handling a request failed: %s', this.proxyId || this.peer, e instanceof Error ? e.stack : String(e));
      this.fail(GrpcStatus.INTERNAL, `xDS server error: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private process(): void {
    const batch = this.queue;
    this.queue = [];
    const due = new Map<string, boolean>();
    for (const req of batch) {
      if (this.done) return;
      if (this.proxy === undefined) {
        if (req.node === undefined || (req.node.id ?? '') === '') {
          this.fail(GrpcStatus.INVALID_ARGUMENT, 'the first request on an ADS stream must carry node.id');
          return;
        }
        const proxy = proxyInfoFromNode(req.node);
        if (this.ctx.admit !== undefined) {
          const a = this.ctx.admit(proxy, this.call.getAuthContext()?.sslPeerCertificate);
          if (a.refuse !== undefined) { this.fail(GrpcStatus.PERMISSION_DENIED, `${proxy.id}: ${a.refuse}`); return; }
          this.peerIdentity = a.identity === undefined ? undefined : { identity: a.identity, certExpiry: a.certExpiry };
        }
        this.proxy = proxy;
        this.connectedAt = new Date().toISOString();
        this.firstRequestAt = Date.now();
        this.ctx.connected(this as unknown as AdsStream<never, never>);
      }
      const type = req.type_url ?? '';
      if (type === '') {
        log.debug('%s: request without type_url ignored', this.proxyId);
        continue;
      }
      const r = this.handle(type, req);
      if (r !== undefined) due.set(type, (due.get(type) ?? false) || r);
    }
    if (this.done || this.proxy === undefined) return;
    const key = this.currentListenerKey();
    if (!this.generated || key !== this.listenerKey) {
      const again = this.generated;
      this.regenerate(key);
      // A proxyless client's new listener names can change every type: re-check all of them.
      if (again) for (const t of this.subscribedTypes()) if (!due.has(t)) due.set(t, false);
    }
    const wasHeld = this.isHeld;
    if (this.holding()) return;
    if (wasHeld) { this.push(); return; }
    for (const t of inPushOrder(due.keys())) this.respond(t, due.get(t)!);
  }

  private currentListenerKey(): string {
    return this.proxy?.kind === 'grpc' ? [...new Set(this.listenerNames())].sort().join('\n') : '';
  }

  private regenerate(key: string): void {
    const p = this.proxy!;
    try {
      this.resources = this.ctx.generator.generate(p, p.kind === 'grpc' ? new Set(key === '' ? [] : key.split('\n')) : EMPTY_SET);
    } catch (e) {
      log.error('%s: generating resources failed, keeping the previous ones: %s', p.id, e instanceof Error ? e.stack : String(e));
    }
    this.generated = true;
    this.listenerKey = key;
  }

  private fail(code: GrpcStatus, details: string): void {
    if (this.done) return;
    log.warning('%s: %s', this.proxyId || this.peer, details);
    this.call.emit('error', Object.assign(new Error(details), { code, details }));
    this.teardown(details);
  }

  private teardown(reason: string): void {
    if (this.done) return;
    this.done = true;
    if (this.holdTimer !== undefined) clearTimeout(this.holdTimer);
    if (this.isHeld) { this.isHeld = false; this.ctx.warmup.held(this as unknown as AdsStream<never, never>, false, 'disconnected'); }
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.queue = [];
    if (this.proxy !== undefined) log.info('%s disconnected (%s, %s): %s', this.proxy.id, this.variant, this.peer, reason);
    this.ctx.disconnected(this as unknown as AdsStream<never, never>);
  }
}
