// The CA of `weft control` put together: roots (./rotation.ts), the signer (./ca.ts), tokens
// (./tokens.ts), the CreateCertificate server (./server.ts), the control plane's serving
// certificate (./serving.ts) and the record of issued certificates (for proxy-status and
// `weft ca status`). Every trust bundle change goes to the mesh (MeshSnapshot.trustBundle → ROOTCA
// over ADS) and to the xDS server's client-certificate check.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { spiffeId } from '../../security/spiffe.js';
import { DEFAULT_CERT_TTL_MS, pluginSet, Signer, type Issued, type PluginFiles } from './ca.js';
import { bundleOf, RootStore, type RootsState } from './rotation.js';
import { TokenIssuer } from './tokens.js';
import { CaServer } from './server.js';
import { CONTROL_NAMESPACE, CONTROL_SERVICE_ACCOUNT, ServingIdentity } from './serving.js';
import { createLogger } from '../../observe/logger.js';

const log = createLogger('ca');

export interface MeshCaOptions {
  readonly trustDomain: string;
  readonly dataDir?: string;
  readonly plugin?: PluginFiles;
  /** Leaf TTL (default 24 h, at most 90 days). */
  readonly certTtlMs?: number;
  /** The control plane's serving certificate TTL (default: the leaf TTL). */
  readonly servingTtlMs?: number;
  /** Loopback callers without a token are trusted (local mode). */
  readonly trustLoopback: boolean;
  /** Told the new bundle (signing root first) at start and at every change. */
  readonly onBundle?: (bundle: readonly string[]) => void;
}

export interface IssuedRecord {
  readonly nodeId?: string;
  readonly identity: string;
  readonly serial: string;
  /** RFC 3339. */
  readonly notAfter: string;
  readonly issuedAt: string;
  /** Fingerprint of the root the leaf chains to. */
  readonly root: string;
}

/** Issued-certificate records, bounded (least recently issued dropped first). */
class Records {
  readonly byNode = new Map<string, IssuedRecord>();
  readonly byIdentity = new Map<string, IssuedRecord>();
  constructor(private readonly max = 10_000) {}
  add(r: IssuedRecord): void {
    for (const [map, key] of [[this.byNode, r.nodeId], [this.byIdentity, r.identity]] as const) {
      if (key === undefined) continue;
      map.delete(key);
      map.set(key, r);
      if (map.size > this.max) map.delete(map.keys().next().value!);
    }
  }
}

export interface CaStatus {
  readonly trustDomain: string;
  readonly phase: string;
  readonly mode: 'self-signed' | 'plug-in';
  readonly persistent: boolean;
  readonly roots: readonly { subject: string; fingerprint: string; notAfter: string; signing: boolean }[];
  readonly certTtl: string;
  readonly issued: readonly IssuedRecord[];
  readonly stats: CaServer['stats'];
}

const fingerprints = new Map<string, string>();

/** SHA-256 fingerprint (hex) of a PEM certificate; cached (roots are few and asked for on every issuance). */
function fingerprint(pem: string): string {
  let f = fingerprints.get(pem);
  if (f === undefined) {
    f = new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
    if (fingerprints.size > 32) fingerprints.clear();
    fingerprints.set(pem, f);
  }
  return f;
}

export class MeshCa {
  readonly tokens: TokenIssuer;
  readonly signer: Signer;
  readonly serving: ServingIdentity;
  readonly server: CaServer;
  readonly records = new Records();
  readonly #store: RootStore;
  readonly #o: MeshCaOptions;

  private constructor(o: MeshCaOptions, store: RootStore) {
    this.#o = o;
    this.#store = store;
    const ttl = o.certTtlMs ?? DEFAULT_CERT_TTL_MS;
    this.signer = new Signer(store.state.signing, o.trustDomain, ttl);
    this.tokens = TokenIssuer.open(o.dataDir);
    this.serving = new ServingIdentity(this.signer, o.servingTtlMs ?? ttl,
      spiffeId({ trustDomain: o.trustDomain, namespace: CONTROL_NAMESPACE, serviceAccount: CONTROL_SERVICE_ACCOUNT }));
    this.server = new CaServer({
      signer: this.signer, tokens: this.tokens, credentials: this.serving.credentials(false), trustLoopback: o.trustLoopback,
      onIssued: (i, nodeId) => this.#record(i, nodeId),
    });
  }

  /** Loads or creates the roots (throws naming the flag when a plug-in file is wrong). */
  static async create(o: MeshCaOptions): Promise<MeshCa> {
    const plugin = o.plugin === undefined ? undefined : pluginSet(o.plugin);
    const { store, created } = await RootStore.open({ dataDir: o.dataDir, trustDomain: o.trustDomain, plugin });
    const ca = new MeshCa(o, store);
    const root = new X509Certificate(store.state.signing.rootPem);
    if (plugin !== undefined) log.info('CA: plug-in CA (signer %s, root %s)', new X509Certificate(plugin.certPem).subject.replace(/\n/g, ', '), root.subject.replace(/\n/g, ', '));
    else if (o.dataDir === undefined) log.warning('CA: ephemeral root, lost on restart (give --data-dir to keep it)');
    else log.info('CA: %s root in %s/ca (fingerprint %s)', created ? 'created a' : 'loaded the', o.dataDir, fingerprint(root.toString()).slice(0, 16));
    return ca;
  }

  /** Issues the serving certificate, publishes the bundle, serves CreateCertificate; resolves with the bound port. */
  async start(host: string, port: number): Promise<number> {
    this.serving.start();
    this.#publish();
    const bound = await this.server.start(host, port);
    log.info('CA: CreateCertificate (istio.v1.auth.IstioCertificateService) on %s:%d, leaf TTL %ds', host, bound, Math.round(this.signer.ttlMs / 1000));
    return bound;
  }

  get bundle(): readonly string[] { return bundleOf(this.#store.state); }
  get state(): RootsState { return this.#store.state; }

  async prepare(given?: { certPem: string; keyPem: string }): Promise<RootsState> {
    const s = await this.#store.prepare(this.#o.trustDomain, given);
    this.#publish();
    log.info('CA rotation: prepared a new root %s (trusted alongside the current one, which still signs)', fingerprint(s.other!.rootPem).slice(0, 16));
    return s;
  }

  activate(): RootsState {
    const s = this.#store.activate();
    this.signer.setSigning(s.signing);
    this.#publish();
    this.serving.renew();
    log.info('CA rotation: activated root %s (it signs from now on; the old root stays trusted)', fingerprint(s.signing.rootPem).slice(0, 16));
    return s;
  }

  retire(): RootsState {
    const s = this.#store.retire();
    this.#publish();
    log.info('CA rotation: retired the old root (bundle: %s only)', fingerprint(s.signing.rootPem).slice(0, 16));
    return s;
  }

  status(): CaStatus {
    const s = this.#store.state;
    return {
      trustDomain: this.#o.trustDomain, phase: s.phase, mode: this.#o.plugin === undefined ? 'self-signed' : 'plug-in', persistent: this.#store.persistent,
      roots: bundleOf(s).map((pem) => {
        const c = new X509Certificate(pem);
        return { subject: c.subject.replace(/\n/g, ', '), fingerprint: fingerprint(pem), notAfter: new Date(c.validTo).toISOString(), signing: pem === s.signing.rootPem };
      }),
      certTtl: `${Math.round(this.signer.ttlMs / 1000)}s`,
      issued: [...this.records.byIdentity.values()],
      stats: this.server.stats,
    };
  }

  #publish(): void {
    const b = this.bundle;
    this.serving.setBundle(b);
    try { this.#o.onBundle?.(b); } catch (e) { log.error('publishing the trust bundle failed: %s', e); }
  }

  #record(i: Issued, nodeId: string | undefined): void {
    this.records.add({
      nodeId, identity: i.spiffeId, serial: i.serial, notAfter: i.notAfter.toISOString(), issuedAt: new Date().toISOString(),
      root: fingerprint(i.chain[i.chain.length - 1]!),
    });
  }

  async close(): Promise<void> {
    this.serving.close();
    await this.server.close();
  }
}

/** Reads a PEM file for a flag, naming the flag on failure. */
export function readPemFlag(file: string, flag: string): string {
  try { return readFileSync(file, 'utf8'); } catch (e) { throw new Error(`${flag}: cannot read ${file}: ${(e as Error).message}`); }
}
