// Incremental ADS (DeltaAggregatedResources) per the xDS protocol
// (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#incremental-xds): per type,
// subscribe/unsubscribe, what the client has (initial_resource_versions, then what it was sent),
// only resources whose version changed plus removed_resources, and ACK/NACK by nonce.
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DeltaResource } from '../../xds/ads-service.js';
import { isWildcardType, LISTENER_TYPE } from '../../xds/resource-types.js';
import type { XdsTypeStatus } from '../model.js';
import { typeVersion } from './resource-cache.js';
import { AdsStream, log, shortName } from './stream.js';

interface DeltaType {
  wildcard: boolean;
  names: Set<string>;
  /** What the client has: name → version (its initial versions, then what it was sent). */
  known: Map<string, string>;
  /** Names subscribed since the last response: told `removed` if they do not exist. */
  newly: Set<string>;
  /** Responses not yet answered, oldest first: nonce → the names they carried and the type version after them. */
  pending: Map<string, { readonly names: readonly string[]; readonly version: string }>;
  lastNonce: string;
  sentVersion: string;
  ackedVersion: string;
  state: XdsTypeStatus['state'];
  error?: string;
  rejected?: readonly string[];
}

export class DeltaStream extends AdsStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
  readonly variant = 'delta';
  private readonly types = new Map<string, DeltaType>();

  protected handle(typeUrl: string, req: DeltaDiscoveryRequest): boolean | undefined {
    const subscribe = req.resource_names_subscribe ?? [];
    const unsubscribe = req.resource_names_unsubscribe ?? [];
    let st = this.types.get(typeUrl);
    const first = st === undefined;
    if (st === undefined) {
      const initial = Object.keys(req.initial_resource_versions ?? {});
      if (initial.length > 0) this.hadBefore(typeUrl, initial);
      st = {
        wildcard: isWildcardType(typeUrl) && subscribe.length === 0,
        names: new Set(),
        known: new Map(Object.entries(req.initial_resource_versions ?? {})),
        newly: new Set(),
        pending: new Map(),
        lastNonce: '',
        sentVersion: '',
        ackedVersion: '',
        state: 'NOT SENT',
      };
      this.types.set(typeUrl, st);
    } else {
      this.answer(typeUrl, st, req);
    }
    const wasWildcard = st.wildcard;
    for (const n of subscribe) {
      if (n === '*') { st.wildcard = true; continue; }
      st.names.add(n);
      st.newly.add(n);
    }
    for (const n of unsubscribe) {
      if (n === '*') { st.wildcard = false; continue; }
      st.names.delete(n);
      st.newly.delete(n);
      if (!st.wildcard) st.known.delete(n);
    }
    if (first || st.newly.size > 0) return true;
    return st.wildcard !== wasWildcard ? false : undefined;
  }

  /** An ACK or NACK of one of our responses (identified by its nonce). */
  private answer(typeUrl: string, st: DeltaType, req: DeltaDiscoveryRequest): void {
    const nonce = req.response_nonce ?? '';
    if (nonce === '') return;
    const sent = st.pending.get(nonce);
    if (sent === undefined) {
      log.debug('%s: delta %s request with unknown nonce %j ignored', this.proxyId, shortName(typeUrl), nonce);
      return;
    }
    // This answer also settles every older response.
    for (const k of [...st.pending.keys()]) {
      st.pending.delete(k);
      if (k === nonce) break;
    }
    if (req.error_detail !== undefined) {
      st.state = 'NACKED';
      st.error = req.error_detail.message ?? '';
      st.rejected = sent.names;
      log.warning('%s NACKed delta %s (%s): %s', this.proxyId, shortName(typeUrl), sent.names.join(', '), st.error);
    } else {
      st.ackedVersion = sent.version;
      if (nonce === st.lastNonce) {
        st.state = 'SYNCED';
        st.error = undefined;
        st.rejected = undefined;
      }
    }
  }

  protected respond(typeUrl: string, force: boolean): void {
    const st = this.types.get(typeUrl);
    if (st === undefined) return;
    const enc = this.encoded(typeUrl);
    const wants = (n: string): boolean => st.wildcard || st.names.has(n);
    const resources: DeltaResource[] = [];
    const removed: string[] = [];
    for (const [name, e] of enc.entries) {
      if (wants(name) && st.known.get(name) !== e.version) resources.push({ name, version: e.version, resource: e.any });
    }
    for (const name of st.known.keys()) if (!wants(name) || !enc.entries.has(name)) removed.push(name);
    // A name subscribed to that does not exist: say so, so the client need not wait for it.
    for (const name of st.newly) if (!enc.entries.has(name) && !st.known.has(name)) removed.push(name);
    st.newly.clear();
    if (!force && resources.length === 0 && removed.length === 0) return;
    for (const r of resources) st.known.set(r.name, r.version);
    for (const n of removed) st.known.delete(n);
    const nonce = this.ctx.nextNonce();
    const version = typeVersion(st.known);
    st.pending.set(nonce, { names: resources.map((r) => r.name), version });
    st.lastNonce = nonce;
    st.sentVersion = version;
    st.state = 'STALE';
    st.error = undefined;
    st.rejected = undefined;
    this.send({
      system_version_info: String(this.ctx.generator.version),
      resources,
      type_url: typeUrl,
      removed_resources: removed,
      nonce,
      ...(this.ctx.controlPlane === undefined ? {} : { control_plane: this.ctx.controlPlane }),
    });
  }

  protected subscribedTypes(): Iterable<string> {
    return this.types.keys();
  }

  protected listenerNames(): Iterable<string> {
    return this.types.get(LISTENER_TYPE)?.names ?? [];
  }

  protected typeStatus(typeUrl: string): XdsTypeStatus | undefined {
    const st = this.types.get(typeUrl);
    if (st === undefined) return undefined;
    return Object.freeze({
      state: st.state,
      sentVersion: st.sentVersion,
      ackedVersion: st.ackedVersion,
      resourceCount: st.known.size,
      ...(st.state === 'NACKED' ? { error: st.error ?? '', rejectedResources: st.rejected ?? [] } : {}),
    });
  }
}
