// `weft control` composed: config store (+ config dir), service registry, mesh model, HTTP API and
// an injected xDS server / generator / validator / analyzer (the contracts of src/control/model.ts).
// Order: store → registry → mesh → xDS server → HTTP API; the mesh's snapshots feed the generator's
// `update` then the xDS server's `push`; sidecars reach the registry through the ProxyLifecycle.

import { join } from 'node:path';
import type { Analyzer, MeshConfig, MeshSnapshot, ProxyLifecycle, ResourceValidator, XdsGenerator, XdsServerHandle } from './model.js';
import { ConfigStore } from './store/config-store.js';
import { ConfigDirSource } from './store/config-dir.js';
import { ServiceRegistry, type ServiceRegistryOptions } from './registry/service-registry.js';
import { Mesh } from './mesh.js';
import { ApiServer } from './api-server/api-server.js';
import { createLogger } from '../observe/logger.js';

const log = createLogger('control');

/** Translation as the control plane drives it: told each new snapshot, then asked by the xDS server. */
export type MeshGeneratorLike = XdsGenerator & { update(mesh: MeshSnapshot): void };

export interface ControlPlaneOptions {
  readonly validator: ResourceValidator;
  readonly analyzer: Analyzer;
  /** Absent: no xDS (the HTTP API alone, e.g. for tests). */
  readonly generator?: MeshGeneratorLike;
  /** Builds the xDS server on `port`/`host` (both given; the server must not be started). */
  readonly makeXdsServer?: (generator: MeshGeneratorLike, lifecycle: ProxyLifecycle, opts: { port: number; host: string; reconnectHoldMs: number }) => XdsServerHandle;
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
}

export class ControlPlane {
  readonly store: ConfigStore;
  readonly registry: ServiceRegistry;
  readonly mesh: Mesh;
  readonly api: ApiServer;
  readonly #opts: ControlPlaneOptions;
  #configDir: ConfigDirSource | null = null;
  #xds: XdsServerHandle | undefined;
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
      xds: () => this.#xds, ready: () => this.#ready, host: opts.host, port: opts.httpPort ?? 15014,
    });
  }

  /** Loads state, starts every part; resolves with the bound ports (xdsPort 0 when there is no xDS server). */
  async start(): Promise<{ xdsPort: number; httpPort: number }> {
    const host = this.#opts.host ?? '127.0.0.1';
    this.store.start();
    if (this.#opts.configDir !== undefined) {
      this.#configDir = new ConfigDirSource(this.store, this.#opts.configDir, { debounceMs: this.#opts.configDirDebounceMs });
      this.#configDir.start();
    }
    this.registry.start();
    this.mesh.start();
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
        this.#xds = makeXdsServer(generator, lifecycle, { port: this.#opts.xdsPort ?? 15010, host, reconnectHoldMs: this.#opts.reconnectHoldMs ?? 15_000 });
        xdsPort = (await this.#xds.start()).port;
      }
    }
    const { port: httpPort } = await this.api.start();
    this.#ready = true;
    log.info('control plane started: HTTP API on %s:%d%s', host, httpPort, this.#xds ? `, xDS on ${host}:${xdsPort}` : ', no xDS server');
    return { xdsPort, httpPort };
  }

  async close(): Promise<void> {
    this.#ready = false;
    this.#unsubscribe?.();
    await this.api.close();
    await this.#xds?.close();
    this.#configDir?.close();
    this.mesh.close();
    await this.registry.close();
  }
}
