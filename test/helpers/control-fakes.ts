// Small stand-ins for the control plane's injected parts (src/control/model.ts contracts) and
// event-waiting helpers for the store / registry / API tests.

import type { AnalysisMessage, ConfigResource, MeshSnapshot, ProxyInfo, ProxyStatus, ResourceValidator, XdsServerHandle } from '../../src/control/model.js';
import { ISTIO_KINDS } from '../../src/control/model.js';

/**
 * Accepts any `{apiVersion, kind (an Istio kind), metadata.name, spec}`; rejects a document whose
 * `spec.invalid` is set, with the path error `spec.invalid: expected nothing, got ...`.
 */
export const fakeValidator: ResourceValidator = (doc, source) => {
  const d = doc as { apiVersion?: unknown; kind?: unknown; metadata?: Record<string, unknown>; spec?: Record<string, unknown> };
  const errors: string[] = [];
  const who = `${String(d?.kind)} ${String(d?.metadata?.namespace ?? 'default')}/${String(d?.metadata?.name)}`;
  if (typeof d?.apiVersion !== 'string') errors.push(`${source}: ${who}: apiVersion: expected a string`);
  if (!ISTIO_KINDS.includes(d?.kind as never)) errors.push(`${source}: ${who}: kind: expected an Istio kind, got ${JSON.stringify(d?.kind)}`);
  if (typeof d?.metadata?.name !== 'string') errors.push(`${source}: ${who}: metadata.name: expected a string`);
  if (d?.spec === null || typeof d?.spec !== 'object') errors.push(`${source}: ${who}: spec: expected a map`);
  else if (d.spec.invalid !== undefined) errors.push(`${source}: ${who}: spec.invalid: expected nothing, got ${JSON.stringify(d.spec.invalid)}`);
  if (errors.length > 0) return { ok: false, errors };
  const m = d.metadata!;
  return {
    ok: true,
    value: Object.freeze({
      apiVersion: d.apiVersion as string, kind: d.kind as ConfigResource['kind'], spec: Object.freeze({ ...d.spec }),
      metadata: Object.freeze({
        name: m.name as string, namespace: (m.namespace as string | undefined) ?? 'default',
        labels: Object.freeze({ ...(m.labels as Record<string, string> | undefined) }),
        annotations: Object.freeze({ ...(m.annotations as Record<string, string> | undefined) }),
        resourceVersion: '', creationTimestamp: '', generation: 0,
      }),
    }),
  };
};

/** A VirtualService document. */
export function vs(name: string, spec: Record<string, unknown> = { hosts: [name] }, namespace?: string): unknown {
  return { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, ...(namespace ? { namespace } : {}) }, spec };
}

/** An analyzer that reports one finding per VirtualService, at `level`, and remembers the snapshots it saw. */
export function fakeAnalyzer(level: AnalysisMessage['level'] = 'Warning'): ((m: MeshSnapshot) => AnalysisMessage[]) & { seen: MeshSnapshot[] } {
  const seen: MeshSnapshot[] = [];
  const fn = (m: MeshSnapshot) => {
    seen.push(m);
    return m.configs.filter((c) => c.kind === 'VirtualService').map((c) => ({
      level, code: 'IST0101', resource: `VirtualService ${c.metadata.namespace}/${c.metadata.name}`, path: 'spec.http[0].route[0].destination.host',
      message: 'Referenced host not found: "nowhere"',
    }));
  };
  return Object.assign(fn, { seen });
}

/** An XdsServerHandle that reports canned statuses. */
export function fakeXds(statuses: ProxyStatus[]): XdsServerHandle & { pushes: number } {
  return {
    pushes: 0,
    async start() { return { port: 0 }; },
    push() { this.pushes++; },
    status() { return statuses; },
    async close() {},
  };
}

/** A sidecar's ProxyInfo. */
export function sidecar(id: string, service: string, opts: Partial<ProxyInfo> = {}): ProxyInfo {
  return {
    id, kind: 'sidecar', namespace: 'default', labels: { app: service }, ipAddress: '127.0.0.1', service,
    appPorts: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'HTTP' }], inboundPort: 15006, outboundPort: 15001,
    register: true, metadata: {}, serviceAccount: service, ...opts,
  };
}

/**
 * Resolves with the first value `subscribe`'s callback receives that satisfies `pred`
 * (rejects after `timeoutMs`, default 10 s). `subscribe` returns its unsubscribe function.
 */
export function waitForEvent<T>(subscribe: (cb: (v: T) => void) => () => void, pred: (v: T) => boolean = () => true, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    let off = () => {};
    const timer = setTimeout(() => { off(); reject(new Error(`no matching event within ${timeoutMs} ms`)); }, timeoutMs);
    off = subscribe((v) => {
      if (!pred(v)) return;
      clearTimeout(timer);
      off();
      resolve(v);
    });
  });
}
