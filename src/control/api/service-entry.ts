// ServiceEntry validation (networking.istio.io/v1 ServiceEntry): hosts, addresses, ports, and the
// consistency of resolution with endpoints that Istio requires (STATIC = IPs, NONE = no endpoints).

import {
  Ctx, type Field, compact, exportTo, host, int, isHostname, isIP, isObject, join, labelMap, list, map, notYet, oneOfSupported, port, required,
  shape, str,
} from './common.js';
import { NOT_YET_MTLS } from './destination-rule.js';
import type { ServiceEntryPort, ServiceEntrySpec, WorkloadEntrySpec } from './types.js';

/** Protocols of ServiceEntry, Gateway and Sidecar ports (Istio's names; matched case-insensitively). */
export const PORT_PROTOCOLS = ['HTTP', 'HTTPS', 'GRPC', 'HTTP2', 'MONGO', 'TCP', 'TLS'] as const;

/** A port protocol, upper-cased. */
export function protocol(allowed: readonly string[]): Field<string> {
  return (v, p, c) => {
    const up = typeof v === 'string' ? v.toUpperCase() : undefined;
    return up !== undefined && allowed.includes(up) ? up : (c.expected(p, `one of ${allowed.join(', ')}`, v), undefined);
  };
}

/** Checks `{labels}` selectors: a non-empty label map. */
export const workloadSelector: Field<{ labels: Record<string, string> }> = (v, p, c) => {
  const o = shape(c, v, p, { labels: labelMap });
  if (o === undefined || !isObject(v)) return undefined;
  if (!required(c, v, p, 'labels', 'a non-empty label map') || o.labels === undefined) return undefined;
  if (Object.keys(o.labels).length === 0) return c.expected(join(p, 'labels'), 'a non-empty label map', v.labels), undefined;
  return { labels: o.labels };
};

const sePort: Field<ServiceEntryPort> = (v, p, c) => {
  const o = shape(c, v, p, { number: port, protocol: protocol(PORT_PROTOCOLS), name: str, targetPort: port });
  if (o === undefined) return undefined;
  const ok = [
    required(c, v, p, 'number', 'an integer in 1..65535'),
    required(c, v, p, 'protocol', `one of ${PORT_PROTOCOLS.join(', ')}`),
    required(c, v, p, 'name', 'a port name'),
  ].every(Boolean);
  return ok && o.number !== undefined && o.protocol !== undefined && o.name !== undefined ? (o as ServiceEntryPort) : undefined;
};

const endpoint: Field<WorkloadEntrySpec> = (v, p, c) => {
  const o = shape(c, v, p, {
    address: (x, xp, cc) => {
      if (typeof x === 'string' && (isIP(x) || isHostname(x, false))) return x;
      if (typeof x === 'string' && x.startsWith('unix://')) return cc.fail(xp, 'unix domain sockets are not supported yet'), undefined;
      return cc.expected(xp, 'an IP address or a host name', x), undefined;
    },
    ports: map(port),
    labels: labelMap,
    locality: str,
    weight: int(0, 4294967295),
    network: notYet('the mesh is one network'),
    serviceAccount: notYet('arrives with automatic mTLS'),
  });
  if (o === undefined || !required(c, v, p, 'address', 'an IP address or a host name')) return undefined;
  return o.address === undefined ? undefined : (o as WorkloadEntrySpec);
};

export function validateServiceEntry(spec: unknown, c: Ctx): ServiceEntrySpec | undefined {
  const o = shape(c, spec, 'spec', {
    hosts: list(host({ star: false }), { nonEmpty: true }),
    addresses: notYet('apps reach services by host name through their sidecar, not by virtual IP'),
    ports: list(sePort),
    location: oneOfSupported(['MESH_EXTERNAL'] as const, { MESH_INTERNAL: 'arrives with automatic mTLS' }),
    resolution: oneOfSupported(['STATIC', 'DNS', 'DNS_ROUND_ROBIN'] as const, {
      NONE: 'the proxy has no original-destination passthrough; use DNS or STATIC',
      DYNAMIC_DNS: 'the proxy has no dynamic forward proxy',
    }),
    endpoints: list(endpoint),
    workloadSelector: notYet('list the endpoints, or register the workloads as a service'),
    exportTo,
    subjectAltNames: (_v, p, cc) => (cc.fail(p, NOT_YET_MTLS), undefined),
  });
  if (o === undefined || !isObject(spec)) return undefined;
  required(c, spec, 'spec', 'hosts', 'a non-empty list');
  const ports: ServiceEntryPort[] = o.ports ?? [];
  const endpoints: WorkloadEntrySpec[] = o.endpoints ?? [];
  const hosts: string[] = o.hosts ?? [];
  const rawPorts = Array.isArray(spec.ports) ? spec.ports : [];
  const numbers = new Set<unknown>();
  const names = new Set<unknown>();
  rawPorts.forEach((x: unknown, i: number) => {
    if (!isObject(x)) return;
    if (x.number != null && numbers.has(x.number)) c.fail(`spec.ports[${i}].number`, `expected a port number not listed before, got ${String(x.number)} again`);
    if (x.name != null && names.has(x.name)) c.fail(`spec.ports[${i}].name`, `expected a port name not listed before, got ${JSON.stringify(x.name)} again`);
    numbers.add(x.number);
    names.add(x.name);
  });
  // Checks across fields run only on lists that validated whole (their errors are already reported).
  if (o.ports === undefined && spec.ports != null) return undefined;
  if (o.endpoints === undefined && spec.endpoints != null) return undefined;
  const portNames = new Set(ports.map((x) => x.name));
  endpoints.forEach((e, i) => {
    for (const name of Object.keys(e.ports ?? {})) {
      if (!portNames.has(name)) c.fail(`spec.endpoints[${i}].ports[${JSON.stringify(name)}]`, `expected the name of a port of spec.ports (${[...portNames].join(', ') || 'none declared'})`);
    }
  });
  // Istio's default is NONE (passthrough to the caller's original destination), which Weft lacks:
  // say so rather than create a service without a cluster.
  if (spec.resolution == null) c.fail('spec.resolution', 'expected DNS, DNS_ROUND_ROBIN or STATIC: the default, NONE, is not supported yet (the proxy has no original-destination passthrough)');
  const resolution: ServiceEntrySpec['resolution'] = o.resolution ?? 'NONE';
  switch (resolution) {
    case 'NONE':
      break;
    case 'STATIC':
      if (endpoints.length === 0 && spec.workloadSelector == null) c.fail('spec.endpoints', 'expected endpoints with resolution STATIC');
      endpoints.forEach((e, i) => {
        if (!isIP(e.address)) c.expected(`spec.endpoints[${i}].address`, 'an IP address (resolution STATIC)', e.address);
      });
      break;
    case 'DNS':
    case 'DNS_ROUND_ROBIN':
      if (endpoints.length === 0) {
        hosts.forEach((h, i) => {
          if (h.startsWith('*')) c.expected(`spec.hosts[${i}]`, `a host without wildcard (resolution ${resolution} without endpoints resolves the hosts)`, h);
        });
      }
      if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1) c.fail('spec.endpoints', 'expected at most one endpoint with resolution DNS_ROUND_ROBIN');
      break;
  }
  return compact({
    hosts,
    addresses: o.addresses ?? [],
    ports,
    location: o.location ?? 'MESH_EXTERNAL',
    resolution,
    endpoints,
    exportTo: o.exportTo ?? [],
    subjectAltNames: o.subjectAltNames ?? [],
  }) as ServiceEntrySpec;
}
