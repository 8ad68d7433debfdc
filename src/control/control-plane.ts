// `weft control` composed: config store (+ config dir), service registry, mesh model, HTTP API and
// an injected xDS server / generator / validator / analyzer (the contracts of src/control/model.ts).
// Order: store → registry → mesh → CA → xDS server → HTTP API; the mesh's snapshots feed the generator's
// `update` then the xDS server's `push`; sidecars reach the registry through the ProxyLifecycle.

import { join } from 'node:path';
import type { Analyzer, MeshConfig, MeshSnapshot, ProxyLifecycle, ResourceValidator, XdsGenerator, XdsServerHandle } from './model.js';
import { ConfigStore } from './store/config-store.js';
import { ConfigDirSource } from './store/config-dir.js';
import { ServiceRegistry, type ServiceRegistryOptions } from './registry/service-registry.js';
import { Mesh } from './mesh.js';
import { ApiServer } from './api-server/api-server.js';
import { createLogger } from '../observe/logger.js';
import type { ServerCredentials } from '@grpc/grpc-js';
import { MeshCa, type MeshCaOptions } from './ca/index.js';
import { DEFAULT_TRUST_DOMAIN } from '../security/spiffe.js';

const log = createLogger('control');

/** Translation as the control plane drives it: told each new snapshot, then asked by the xDS server. */
export type MeshGeneratorLike = XdsGenerator & { update(mesh: MeshSnapshot): void };

export interface ControlPlaneOptions {
  readonly validator: ResourceValidator;
  readonly analyzer: Analyzer;
  /** Absent: no xDS (the HTTP API alone, e.g. for tests). */
  readonly generator?: MeshGeneratorLike;
  /** Builds the xDS server on `port`/`host` (both given; the server must not be started). */
  readonly makeXdsServer?: (generator: MeshGeneratorLike, lifecycle: ProxyLifecycle, opts: { port: number; host: string; reconnectHoldMs: number; credentials?: ServerCredentials }) => XdsServerHandle;
  /**
   * The warm-up after start (default 15000 ms, 0: none): proxies that reconnect keep their last
   * config until what they had is known again (see XdsServerOptions.reconnectHoldMs).
   */
  readonly reconnectHoldMs?: number;
  readonly host?: string;
  /** 15010 by default. */
  readonly xdsPort?: number;
  /** 15014 by default. */
  readonly httpPort?: number;
  readonly dataDir?: string;
  readonly configDir?: string;
  readonly registryFile?: string;
  /** `--mesh-config`, already validated. */
  readonly meshConfig?: MeshConfig;
  /** Grace period, health-check and TTL settings of the registry. */
  readonly registry?: Omit<ServiceRegistryOptions, 'file'>;
  readonly meshDebounceMs?: number;
  readonly configDirDebounceMs?: number;
  /**
   * The CA (src/control/ca/): absent, none runs (and xDS is plaintext). Its port: 15012 by
   * default, 0 picks one. The trust domain comes from meshConfig, roots from dataDir.
   */
  readonly ca?: Omit<MeshCaOptions, 'trustDomain' | 'dataDir' | 'onBundle'> & { readonly port?: number };
  /** With a CA: serve xDS in plaintext anyway (development; `--insecure-xds`). */
  readonly insecureXds?: boolean;
}

export class ControlPlane {
  readonly store: ConfigStore;
  readonly registry: ServiceRegistry;
  readonly mesh: Mesh;
  readonly api: ApiServer;
  readonly #opts: ControlPlaneOptions;
  #configDir: ConfigDirSource | null = null;
  #xds: XdsServerHandle | undefined;
  #ca: MeshCa | undefined;
  #ready = false;
  #unsubscribe: (() => void) | null = null;

  constructor(opts: ControlPlaneOptions) {
    this.#opts = opts;
    this.store = new ConfigStore({ validator: opts.validator, dataDir: opts.dataDir });
    this.registry = new ServiceRegistry({
      ...opts.registry, file: opts.registryFile,
      stateFile: opts.dataDir === undefined ? undefined : join(opts.dataDir, 'registry.json'),
    });
    this.mesh = new Mesh({ store: this.store, registry: this.registry, debounceMs: opts.meshDebounceMs, meshConfig: opts.meshConfig });
    this.api = new ApiServer({
      store: this.store, registry: this.registry, mesh: this.mesh, analyzer: opts.analyzer,
      xds: () => this.#xds, ca: () => this.#ca, ready: () => this.#ready, host: opts.host, port: opts.httpPort ?? 15014,
    });
  }

  /** The CA, once started (undefined when the control plane runs none). */
  get ca(): MeshCa | undefined { return this.#ca; }

  /** Loads state, starts every part; resolves with the bound ports (xdsPort 0 when there is no xDS server, caPort 0 without a CA). */
  async start(): Promise<{ xdsPort: number; httpPort: number; caPort: number }> {
    const host = this.#opts.host ?? '127.0.0.1';
    this.store.start();
    if (this.#opts.configDir !== undefined) {
      this.#configDir = new ConfigDirSource(this.store, this.#opts.configDir, { debounceMs: this.#opts.configDirDebounceMs });
      this.#configDir.start();
    }
    this.registry.start();
    this.mesh.start();
    let caPort = 0;
    const caOpts = this.#opts.ca;
    if (caOpts !== undefined) {
      this.#ca = await MeshCa.create({
        ...caOpts, trustDomain: this.#opts.meshConfig?.trustDomain ?? DEFAULT_TRUST_DOMAIN, dataDir: this.#opts.dataDir,
        onBundle: (b) => this.mesh.setTrustBundle(b),
      });
      caPort = await this.#ca.start(host, caOpts.port ?? 15012);
    }
    const credentials = this.#ca !== undefined && this.#opts.insecureXds !== true ? this.#ca.serving.credentials(true) : undefined;
    const { generator, makeXdsServer } = this.#opts;
    let xdsPort = 0;
    if (generator !== undefined) {
      generator.update(this.mesh.current);
      this.#unsubscribe = this.mesh.onSnapshot((m) => { generator.update(m); this.#xds?.push(); });
      if (makeXdsServer !== undefined) {
        const lifecycle: ProxyLifecycle = {
          onConnected: (proxy, peer) => this.registry.registerSidecar(proxy, peer),
          onDisconnected: (proxy, how) => this.registry.unregisterSidecar(proxy, how?.leaving ?? false),
        };
        this.#xds = makeXdsServer(generator, lifecycle, { port: this.#opts.xdsPort ?? 15010, host, reconnectHoldMs: this.#opts.reconnectHoldMs ?? 15_000, ...(credentials === undefined ? {} : { credentials }) });
        xdsPort = (await this.#xds.start()).port;
      }
    }
    const { port: httpPort } = await this.api.start();
    this.#ready = true;
    log.info('control plane started: HTTP API on %s:%d%s%s', host, httpPort,
      this.#xds ? `, xDS on ${host}:${xdsPort} ${credentials === undefined ? '(plaintext)' : '(mTLS)'}` : ', no xDS server',
      this.#ca ? `, CA on ${host}:${caPort}` : '');
    if (this.#ca !== undefined && credentials === undefined && this.#xds !== undefined) log.warning('xDS is plaintext (--insecure-xds): for development only');
    return { xdsPort, httpPort, caPort };
  }

  async close(): Promise<void> {
    this.#ready = false;
    this.#unsubscribe?.();
    await this.api.close();
    await this.#xds?.close();
    await this.#ca?.close();
    this.#configDir?.close();
    this.mesh.close();
    await this.registry.close();
  }
}
