// Kubernetes-style service names as Istio resolves them: `name`, `name.namespace`,
// `name.namespace.svc`, `name.namespace.svc.cluster.local`, relative to the caller's namespace;
// and Istio's port-name protocol selection (`http-web` → HTTP).

import type { PortProtocol, ServiceDef } from '../model.js';

export const DEFAULT_DOMAIN_SUFFIX = 'cluster.local';

/** `name.namespace.svc.<suffix>`. */
export function serviceHostname(name: string, namespace: string, suffix = DEFAULT_DOMAIN_SUFFIX): string {
  return `${name}.${namespace}.svc.${suffix}`;
}

/**
 * Istio's short-name rule for hosts in config (VirtualService, DestinationRule): a host without a
 * dot (and not a wildcard) is a Kubernetes service in the referring resource's namespace
 * (`reviews` in `default` → `reviews.default.svc.cluster.local`); anything else is kept as written.
 * Narrower than qualifyHost, which follows Kubernetes DNS for names people type.
 */
export function resolveConfigHost(host: string, namespace: string, suffix = DEFAULT_DOMAIN_SUFFIX): string {
  if (host.includes('.') || host.includes('*')) return host;
  return serviceHostname(host, namespace, suffix);
}

/**
 * The fully qualified hostname `host` means when written in `namespace`: a bare name is in that
 * namespace, `name.ns` and `name.ns.svc` are completed with the suffix; anything else is kept.
 */
export function qualifyHost(host: string, namespace: string, suffix = DEFAULT_DOMAIN_SUFFIX): string {
  const parts = host.split('.');
  if (parts.length === 1) return serviceHostname(host, namespace, suffix);
  if (parts.length === 2) return serviceHostname(parts[0]!, parts[1]!, suffix);
  if (parts.length === 3 && parts[2] === 'svc') return serviceHostname(parts[0]!, parts[1]!, suffix);
  return host;
}

/** Finds the service `host` names from `namespace` (see qualifyHost); exact hostnames (ServiceEntry hosts) match too. */
export function lookupService(services: readonly ServiceDef[], host: string, namespace: string, suffix = DEFAULT_DOMAIN_SUFFIX): ServiceDef | undefined {
  const fq = qualifyHost(host, namespace, suffix);
  return services.find((s) => s.hostname === fq) ?? services.find((s) => s.hostname === host);
}

const PROTOCOLS: Readonly<Record<string, PortProtocol>> = {
  http: 'HTTP', http2: 'HTTP2', grpc: 'GRPC', 'grpc-web': 'HTTP', tcp: 'TCP', tls: 'TLS', https: 'HTTPS',
  mongo: 'MONGO', redis: 'REDIS', mysql: 'MYSQL',
};

/** An explicit protocol (case-insensitive) or, failing that, Istio's port-name prefix rule; UNKNOWN otherwise. */
export function portProtocol(name: string, explicit?: string): PortProtocol {
  if (explicit !== undefined && explicit !== '') {
    const p = PROTOCOLS[explicit.toLowerCase()];
    if (p !== undefined) return p;
  }
  const lower = name.toLowerCase();
  return PROTOCOLS[lower] ?? PROTOCOLS[lower.split('-')[0]!] ?? 'UNKNOWN';
}

/** The protocol names accepted in registry input. */
export const PROTOCOL_NAMES = Object.keys(PROTOCOLS);
