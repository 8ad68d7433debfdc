// Validation of the registry's two external inputs into frozen typed values, every error with its
// path: the registry file (format below) and the HTTP API's workload registration.
//
// Registry file (YAML):
//   services:
//     - name: reviews                # required, DNS label
//       namespace: default           # default `default`
//       ports:                       # required, at least one
//         - {name: http, port: 9080, protocol: HTTP}   # protocol defaults from the name (Istio's rule)
//       endpoints:
//         - address: 127.0.0.1       # required
//           ports: {http: 9081}      # service port name → port on this address (default: the service port)
//           labels: {version: v1}
//           locality: region/zone/subzone
//           weight: 1                # 1..1000000, default 1
//
// Workload registration (POST /v1/registry/workloads, JSON):
//   {id?, service, namespace?, address, ports: {http: 9080} | [{name, port, targetPort?, protocol?}],
//    labels?, locality?, weight?, ttl?: "30s"}

import type { PortProtocol, ServiceDef, ServicePort, Workload } from '../model.js';
import { portProtocol, serviceHostname, DEFAULT_DOMAIN_SUFFIX } from './names.js';

type Loc = Workload['locality'];
type WorkloadPort = Workload['ports'][number];

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

class Errors {
  readonly list: string[] = [];
  constructor(readonly prefix: string) {}
  add(path: string, msg: string): void { this.list.push(`${this.prefix}${path}: ${msg}`); }
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

function str(v: unknown, path: string, e: Errors, opts: { required?: boolean; dflt?: string; label?: boolean } = {}): string {
  if (v === undefined && !opts.required) return opts.dflt ?? '';
  if (typeof v !== 'string' || v === '') { e.add(path, `expected a non-empty string, got ${show(v)}`); return ''; }
  if (opts.label && !DNS_LABEL.test(v)) { e.add(path, `expected a DNS label (lower-case letters, digits, '-'), got ${show(v)}`); return ''; }
  return v;
}

function port(v: unknown, path: string, e: Errors): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) { e.add(path, `expected a port number in 1..65535, got ${show(v)}`); return 0; }
  return v;
}

function labels(v: unknown, path: string, e: Errors): Readonly<Record<string, string>> {
  if (v === undefined) return Object.freeze({});
  if (!isObj(v)) { e.add(path, `expected a map of strings, got ${show(v)}`); return {}; }
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') e.add(`${path}.${k}`, `expected a string, got ${show(x)}`);
    else out[k] = x;
  }
  return Object.freeze(out);
}

function protocol(name: string, v: unknown, path: string, e: Errors): PortProtocol {
  if (v !== undefined && (typeof v !== 'string' || portProtocol('', v) === 'UNKNOWN')) {
    e.add(path, `expected one of HTTP, HTTP2, GRPC, TCP, TLS, HTTPS, MONGO, REDIS, MYSQL, got ${show(v)}`);
    return 'UNKNOWN';
  }
  return portProtocol(name, v as string | undefined);
}

function locality(v: unknown, path: string, e: Errors): Loc {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') { e.add(path, `expected "region/zone/subzone", got ${show(v)}`); return undefined; }
  const [region, zone, subZone] = v.split('/');
  return Object.freeze({ region: region || undefined, zone: zone || undefined, subZone: subZone || undefined });
}

function weight(v: unknown, path: string, e: Errors): number {
  if (v === undefined) return 1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1_000_000) { e.add(path, `expected an integer in 1..1000000, got ${show(v)}`); return 1; }
  return v;
}

/** `30s`, `500ms`, `2m`, `1h`, or a number of seconds → milliseconds; undefined when invalid. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v > 0 ? v * 1000 : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return n > 0 ? n : undefined;
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errors: readonly string[] };

/** Parses a registry file's document (`file` prefixes every error). */
export function parseRegistryFile(doc: unknown, file: string, suffix = DEFAULT_DOMAIN_SUFFIX): Parsed<{ services: readonly ServiceDef[]; workloads: readonly Workload[] }> {
  const e = new Errors(`${file}: `);
  const services: ServiceDef[] = [];
  const workloads: Workload[] = [];
  if (doc === undefined || doc === null) return { ok: true, value: { services, workloads } };
  if (!isObj(doc)) return { ok: false, errors: [`${file}: expected a map with 'services', got ${show(doc)}`] };
  for (const k of Object.keys(doc)) if (k !== 'services') e.add(k, "unknown field (expected 'services')");
  const list = doc.services ?? [];
  if (!Array.isArray(list)) e.add('services', `expected a list, got ${show(list)}`);
  const hosts = new Set<string>();
  (Array.isArray(list) ? list : []).forEach((s: unknown, i) => {
    const p = `services[${i}]`;
    if (!isObj(s)) { e.add(p, `expected a map, got ${show(s)}`); return; }
    for (const k of Object.keys(s)) if (!['name', 'namespace', 'ports', 'endpoints'].includes(k)) e.add(`${p}.${k}`, 'unknown field (expected name, namespace, ports, endpoints)');
    const name = str(s.name, `${p}.name`, e, { required: true, label: true });
    const namespace = str(s.namespace, `${p}.namespace`, e, { dflt: 'default', label: true });
    const host = serviceHostname(name, namespace, suffix);
    if (name !== '' && hosts.has(host)) e.add(`${p}.name`, `service ${namespace}/${name} is listed twice`);
    hosts.add(host);
    const ports: ServicePort[] = [];
    if (!Array.isArray(s.ports) || s.ports.length === 0) e.add(`${p}.ports`, `expected a non-empty list of {name, port, protocol}, got ${show(s.ports)}`);
    else s.ports.forEach((x: unknown, j) => {
      const pp = `${p}.ports[${j}]`;
      if (!isObj(x)) { e.add(pp, `expected a map, got ${show(x)}`); return; }
      const pname = str(x.name, `${pp}.name`, e);
      ports.push(Object.freeze({ name: pname, port: port(x.port, `${pp}.port`, e), protocol: protocol(pname, x.protocol, `${pp}.protocol`, e) }));
    });
    services.push(Object.freeze({ hostname: host, name, namespace, ports: Object.freeze(ports), location: 'MESH_INTERNAL', resolution: 'STATIC', source: 'file' }));
    const eps = s.endpoints ?? [];
    if (!Array.isArray(eps)) { e.add(`${p}.endpoints`, `expected a list, got ${show(eps)}`); return; }
    eps.forEach((ep: unknown, j) => {
      const ep_ = `${p}.endpoints[${j}]`;
      if (!isObj(ep)) { e.add(ep_, `expected a map, got ${show(ep)}`); return; }
      for (const k of Object.keys(ep)) if (!['address', 'ports', 'labels', 'locality', 'weight'].includes(k)) e.add(`${ep_}.${k}`, 'unknown field (expected address, ports, labels, locality, weight)');
      const address = str(ep.address, `${ep_}.address`, e, { required: true });
      const targets: Record<string, number> = {};
      if (ep.ports !== undefined) {
        if (!isObj(ep.ports)) e.add(`${ep_}.ports`, `expected a map of port name → port, got ${show(ep.ports)}`);
        else for (const [k, v] of Object.entries(ep.ports)) {
          if (!ports.some((sp) => sp.name === k)) e.add(`${ep_}.ports.${k}`, `no service port is named '${k}' (${ports.map((sp) => sp.name).join(', ')})`);
          targets[k] = port(v, `${ep_}.ports.${k}`, e);
        }
      }
      workloads.push(Object.freeze({
        id: `${name}.${namespace}~${address}~${j}`, service: name, namespace, address,
        labels: labels(ep.labels, `${ep_}.labels`, e),
        ports: Object.freeze(ports.map((sp) => Object.freeze({ ...sp, targetPort: targets[sp.name] ?? sp.port }))),
        locality: locality(ep.locality, `${ep_}.locality`, e),
        weight: weight(ep.weight, `${ep_}.weight`, e), healthy: true, source: 'file',
      }));
    });
  });
  return e.list.length > 0 ? { ok: false, errors: e.list } : { ok: true, value: { services, workloads } };
}

export interface WorkloadRegistration {
  readonly id?: string;
  readonly service: string;
  readonly namespace: string;
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ports: readonly WorkloadPort[];
  readonly locality: Loc;
  readonly weight: number;
  readonly ttlMs: number;
}

/** Parses a POST /v1/registry/workloads body. */
export function parseWorkloadRegistration(body: unknown, defaultTtlMs = 30_000): Parsed<WorkloadRegistration> {
  const e = new Errors('');
  if (!isObj(body)) return { ok: false, errors: [`body: expected a JSON object, got ${show(body)}`] };
  for (const k of Object.keys(body)) if (!['id', 'service', 'namespace', 'address', 'ports', 'labels', 'locality', 'weight', 'ttl'].includes(k)) e.add(k, 'unknown field');
  const id = body.id === undefined ? undefined : str(body.id, 'id', e);
  const service = str(body.service, 'service', e, { required: true, label: true });
  const namespace = str(body.namespace, 'namespace', e, { dflt: 'default', label: true });
  const address = str(body.address, 'address', e, { required: true });
  const ports: WorkloadPort[] = [];
  if (Array.isArray(body.ports)) {
    body.ports.forEach((x: unknown, i) => {
      if (!isObj(x)) { e.add(`ports[${i}]`, `expected a map, got ${show(x)}`); return; }
      const name = str(x.name, `ports[${i}].name`, e);
      const p = port(x.port, `ports[${i}].port`, e);
      ports.push(Object.freeze({ name, port: p, targetPort: x.targetPort === undefined ? p : port(x.targetPort, `ports[${i}].targetPort`, e), protocol: protocol(name, x.protocol, `ports[${i}].protocol`, e) }));
    });
  } else if (isObj(body.ports)) {
    for (const [name, v] of Object.entries(body.ports)) {
      const p = port(v, `ports.${name}`, e);
      ports.push(Object.freeze({ name, port: p, targetPort: p, protocol: portProtocol(name) }));
    }
  }
  if (ports.length === 0 && !(Array.isArray(body.ports) || isObj(body.ports))) e.add('ports', `expected {name: port, ...} or [{name, port, targetPort?, protocol?}], got ${show(body.ports)}`);
  else if (ports.length === 0) e.add('ports', 'expected at least one port');
  let ttlMs = defaultTtlMs;
  if (body.ttl !== undefined) {
    const d = parseDuration(body.ttl);
    if (d === undefined) e.add('ttl', `expected a duration like "30s", "500ms", "2m", got ${show(body.ttl)}`);
    else ttlMs = d;
  }
  const value: WorkloadRegistration = Object.freeze({
    id, service, namespace, address, labels: labels(body.labels, 'labels', e), ports: Object.freeze(ports),
    locality: locality(body.locality, 'locality', e), weight: weight(body.weight, 'weight', e), ttlMs,
  });
  return e.list.length > 0 ? { ok: false, errors: e.list } : { ok: true, value };
}
