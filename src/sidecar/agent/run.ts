// Running the certificate agent inside `weft sidecar`: the trust root (a file given with --ca-root,
// or, only when the control plane is on loopback, fetched from its HTTP API), the SDS server on a
// Unix socket in the sidecar's private directory (listening at once, serving as soon as the first
// certificate is in hand), and the first certificate, retried with back-off until the CA answers.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../../observe/logger.js';
import type { SecretManager } from '../../proxy/secrets/types.js';
import type { WorkloadIdentity } from '../../security/spiffe.js';
import { CertificateAgent } from './agent.js';
import { fetchRootFromControlPlane, isLoopbackHost } from './ca-client.js';
import { SdsServer, type SdsSecretProvider } from './sds-server.js';

const log = createLogger('agent');

export interface SidecarAgentOptions {
  readonly identity: WorkloadIdentity;
  readonly nodeId: string;
  readonly caAddress: string;
  /** A PEM file with the trust root(s); without it the root is fetched from controlHost:controlHttpPort (loopback only). */
  readonly caRootFile?: string;
  readonly controlHost: string;
  readonly controlHttpPort: number;
  readonly tokenFile?: string;
  readonly validitySeconds?: number;
  /** The sidecar's private directory (mode 0700): the SDS socket and the trust bundle file go there. */
  readonly dir: string;
}

export interface SidecarAgent {
  readonly sdsSocketPath: string;
  readonly trustBundlePath: string;
  /** Resolves with the agent once the first certificate is in hand (rejects when closed before). */
  readonly ready: Promise<CertificateAgent>;
  /** The agent, once the trust root is known. */
  agent(): CertificateAgent | null;
  /** Follow the proxy's ROOTCA (once the agent exists). */
  watchTrustBundle(secrets: SecretManager): void;
  close(): Promise<void>;
}

/** Checks the trust-root flags before anything starts: a non-loopback control plane needs --ca-root. */
export function trustRootProblem(caRootFile: string | undefined, controlHost: string): string | null {
  if (caRootFile !== undefined || isLoopbackHost(controlHost)) return null;
  return `--ca-root: required when the control plane (${controlHost}) is not on loopback; the mesh's root cannot be fetched safely over the network`;
}

export async function startSidecarAgent(o: SidecarAgentOptions): Promise<SidecarAgent> {
  const sdsSocketPath = join(o.dir, 'sds.sock');
  const trustBundlePath = join(o.dir, 'root-cert.pem');
  let agent: CertificateAgent | null = null;
  let closed = false;
  let unwatch: (() => void) | null = null;
  let secrets: SecretManager | null = null;
  const subs = new Set<(name: string) => void>();
  const provider: SdsSecretProvider = {
    current: (name) => agent?.current(name),
    subscribe: (fn) => { subs.add(fn); return () => { subs.delete(fn); }; },
  };
  const sds = await SdsServer.listen(provider, sdsSocketPath);
  let wake: () => void = () => {};

  const rootPem = async (): Promise<string> => {
    if (o.caRootFile !== undefined) return readFileSync(o.caRootFile, 'utf8');
    let delay = 500;
    for (;;) {
      try {
        const pem = await fetchRootFromControlPlane(o.controlHost, o.controlHttpPort);
        log.warning('agent: trust in the mesh\'s root was bootstrapped over loopback from http://%s:%d/api/v1/ca/root (local mode; give --ca-root FILE otherwise)',
          o.controlHost, o.controlHttpPort);
        return pem;
      } catch (e) {
        if (closed) throw new Error('closed');
        log.warn('agent: cannot fetch the mesh\'s root from the control plane at %s:%d (%s); retrying in %d ms',
          o.controlHost, o.controlHttpPort, (e as Error).message, delay);
        await new Promise<void>((r) => { wake = r; const t = setTimeout(r, delay); t.unref(); });
        if (closed) throw new Error('closed');
        delay = Math.min(delay * 2, 10_000);
      }
    }
  };

  const ready = (async () => {
    const bundle = await rootPem();
    if (closed) throw new Error('closed');
    const a = new CertificateAgent({
      identity: o.identity, nodeId: o.nodeId, caAddress: o.caAddress, trustBundle: bundle,
      tokenFile: o.tokenFile, validitySeconds: o.validitySeconds, trustBundleFile: trustBundlePath,
    });
    agent = a;
    a.subscribe((name) => { for (const f of [...subs]) f(name); });
    if (secrets !== null) unwatch = a.watchTrustBundle(secrets);
    log.info('agent: identity %s; asking the CA at %s for a certificate', a.spiffeId, o.caAddress);
    await a.start();
    return a;
  })();
  ready.catch(() => undefined);

  return {
    sdsSocketPath,
    trustBundlePath,
    ready,
    agent: () => agent,
    watchTrustBundle(s) {
      secrets = s;
      if (agent !== null && unwatch === null) unwatch = agent.watchTrustBundle(s);
    },
    async close() {
      closed = true;
      wake();
      unwatch?.();
      agent?.close();
      await sds.close();
    },
  };
}
