// Starts the control plane's HTTP API on 127.0.0.1:0 over a real store, registry and mesh, with
// the fakes of control-fakes.ts; closes everything after the test.

import { ConfigStore } from '../../src/control/store/config-store.js';
import { ServiceRegistry } from '../../src/control/registry/service-registry.js';
import { Mesh } from '../../src/control/mesh.js';
import { ApiServer } from '../../src/control/api-server/api-server.js';
import type { Analyzer, ProxyStatus } from '../../src/control/model.js';
import { fakeAnalyzer, fakeValidator, fakeXds } from './control-fakes.js';

export interface TestApi {
  port: number;
  base: string;
  store: ConfigStore;
  registry: ServiceRegistry;
  mesh: Mesh;
  /** fetch + JSON: status and parsed body. */
  call(method: string, path: string, body?: string, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
}

export async function startTestApi(t: { after(fn: () => Promise<void> | void): void }, opts: { statuses?: ProxyStatus[]; analyzer?: Analyzer } = {}): Promise<TestApi> {
  const store = new ConfigStore({ validator: fakeValidator });
  const registry = new ServiceRegistry({ healthCheckIntervalMs: 0 });
  const mesh = new Mesh({ store, registry, debounceMs: 10 });
  mesh.start();
  const xds = fakeXds(opts.statuses ?? []);
  const api = new ApiServer({ store, registry, mesh, analyzer: opts.analyzer ?? fakeAnalyzer(), xds: () => xds, port: 0 });
  const { port } = await api.start();
  t.after(async () => { await api.close(); mesh.close(); await registry.close(); });
  const base = `http://127.0.0.1:${port}`;
  return {
    port, base, store, registry, mesh,
    async call(method, path, body, headers = {}) {
      const res = await fetch(`${base}${path}`, { method, body, headers });
      return { status: res.status, body: await res.json() };
    },
  };
}
