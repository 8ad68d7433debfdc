// State-of-the-world ADS (StreamAggregatedResources) per the xDS protocol
// (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol): per type, the subscription
// (LDS/CDS wildcard, RDS/EDS by name), the last nonce, ACK/NACK, stale nonces ignored, and a
// response only when what the client should have differs from what it was last sent.
import type { DiscoveryRequest, DiscoveryResponse } from '../../xds/ads-service.js';
import type { RawAny } from '../../xds/proto-json.js';
import { isWildcardType, LISTENER_TYPE } from '../../xds/resource-types.js';
import type { XdsTypeStatus } from '../model.js';
import { AdsStream, log, shortName } from './stream.js';
import { typeVersion } from './resource-cache.js';

interface SotwType {
  wildcard: boolean;
  names: ReadonlySet<string>;
  /** Nonce of the last response for this type; '' before the first. */
  nonce: string;
  sentVersion: string;
  /** Names in the last response (what a NACK is about). */
  sentNames: readonly string[];
  ackedVersion: string;
  /** RDS / EDS: the version of each resource as last sent, so a push carries only what changed. */
  sentVersions: Map<string, string>;
  /** Resources the client has (all subscribed ones that exist), for the status. */
  count: number;
  state: XdsTypeStatus['state'];
  error?: string;
  rejected?: readonly string[];
}

/** A subscription from request names: LDS/CDS are wildcard when empty on the first request (or still wildcard), or with `*`. */
function subscription(typeUrl: string, names: readonly string[], prev: SotwType | undefined): { wildcard: boolean; names: Set<string> } {
  const explicit = new Set(names.filter((n) => n !== '*'));
  const wildcard = isWildcardType(typeUrl) && (names.includes('*') || (names.length === 0 && (prev === undefined || prev.wildcard)));
  return { wildcard, names: explicit };
}

function sameSubscription(a: SotwType, b: { wildcard: boolean; names: Set<string> }): boolean {
  if (a.wildcard !== b.wildcard || a.names.size !== b.names.size) return false;
  for (const n of a.names) if (!b.names.has(n)) return false;
  return true;
}

export class SotwStream extends AdsStream<DiscoveryRequest, DiscoveryResponse> {
  readonly variant = 'sotw';
  private readonly types = new Map<string, SotwType>();

  protected handle(typeUrl: string, req: DiscoveryRequest): boolean | undefined {
    const names = req.resource_names ?? [];
    const st = this.types.get(typeUrl);
    if (st === undefined) {
      // A version on the first request: the proxy had this type from an earlier stream (a reconnect).
      if ((req.version_info ?? '') !== '') this.hadBefore(typeUrl, isWildcardType(typeUrl) ? [] : names.filter((n) => n !== '*'));
      const sub = subscription(typeUrl, names, undefined);
      this.types.set(typeUrl, { ...sub, nonce: '', sentVersion: '', sentNames: [], ackedVersion: '', sentVersions: new Map(), count: 0, state: 'NOT SENT' });
      return true;
    }
    const nonce = req.response_nonce ?? '';
    if (nonce === '') {
      // No nonce: the client is (re)starting this type on this stream, e.g. a subscription sent
      // before it saw our first response. Not stale: take its names and answer it.
      const sub = subscription(typeUrl, names, st);
      st.wildcard = sub.wildcard;
      st.names = sub.names;
      return true;
    }
    if (st.nonce !== '') {
      if (nonce !== st.nonce) {
        // A reply to an older response, overtaken by a newer one: the spec says to ignore it.
        log.debug('%s: %s request with stale nonce %j (current %j) ignored', this.proxyId, shortName(typeUrl), nonce, st.nonce);
        return undefined;
      }
      if (req.error_detail !== undefined) {
        const repeated = st.state === 'NACKED';
        st.state = 'NACKED';
        st.error = req.error_detail.message ?? '';
        st.rejected = st.sentNames;
        if (!repeated) log.warning('%s NACKed %s version %s (%s): %s', this.proxyId, shortName(typeUrl), st.sentVersion, st.sentNames.join(', '), st.error);
      } else if (st.state !== 'NACKED') {
        // (After a NACK, later requests repeat its nonce without error_detail: still not an ACK.)
        st.state = 'SYNCED';
        st.ackedVersion = st.sentVersion;
      }
    }
    const sub = subscription(typeUrl, names, st);
    if (sameSubscription(st, sub)) return undefined;
    st.wildcard = sub.wildcard;
    st.names = sub.names;
    return true;
  }

  protected respond(typeUrl: string, force: boolean): void {
    const st = this.types.get(typeUrl);
    if (st === undefined) return;
    const enc = this.encoded(typeUrl);
    let names: readonly string[];
    let anys: readonly RawAny[];
    let version: string;
    if (st.wildcard) {
      // The whole type: shared, precomputed arrays (no per-proxy work when proxies share a shape).
      names = enc.names;
      anys = enc.anys;
      version = enc.version;
      // Unchanged content is not resent, including after a NACK: the client keeps what it has.
      if (!force && version === st.sentVersion) return;
      st.count = names.length;
    } else {
      const subscribed = [...st.names].filter((n) => enc.entries.has(n)).sort();
      version = typeVersion(subscribed.map((n) => [n, enc.entries.get(n)!.version] as const));
      if (!force && version === st.sentVersion) return;
      // RDS and EDS are not wildcard types: the spec lets a response carry only some of the
      // subscribed resources, and what is left out is kept by the client. A push sends only those
      // that changed (one changed endpoint → one ClusterLoadAssignment, as Istio's incremental
      // EDS does); a new or changed subscription gets all of them.
      names = force ? subscribed : subscribed.filter((n) => st.sentVersions.get(n) !== enc.entries.get(n)!.version);
      st.count = subscribed.length;
      if (names.length === 0 && !force) { st.sentVersion = version; return; }
      anys = names.map((n) => enc.entries.get(n)!.any);
      for (const n of names) st.sentVersions.set(n, enc.entries.get(n)!.version);
      for (const n of st.sentVersions.keys()) if (!st.names.has(n)) st.sentVersions.delete(n);
    }
    const nonce = this.ctx.nextNonce();
    st.nonce = nonce;
    st.sentVersion = version;
    st.sentNames = names;
    st.state = 'STALE';
    st.error = undefined;
    st.rejected = undefined;
    this.send({
      version_info: version,
      resources: anys,
      type_url: typeUrl,
      nonce,
      ...(this.ctx.controlPlane === undefined ? {} : { control_plane: this.ctx.controlPlane }),
    });
  }

  protected subscribedTypes(): Iterable<string> {
    return this.types.keys();
  }

  protected listenerNames(): Iterable<string> {
    const st = this.types.get(LISTENER_TYPE);
    return st === undefined ? [] : st.names;
  }

  protected typeStatus(typeUrl: string): XdsTypeStatus | undefined {
    const st = this.types.get(typeUrl);
    if (st === undefined) return undefined;
    return Object.freeze({
      state: st.state,
      sentVersion: st.sentVersion,
      ackedVersion: st.ackedVersion,
      resourceCount: st.count,
      ...(st.state === 'NACKED' ? { error: st.error ?? '', rejectedResources: st.rejected ?? [] } : {}),
    });
  }
}
