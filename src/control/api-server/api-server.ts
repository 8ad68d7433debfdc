// The control plane's HTTP API (port 15014, JSON over node:http): apply / get / delete Istio
// resources, proxy status, analysis, the service registry and its TTL registrations, readiness.
// Errors are `{error, details[]}` with a 4xx/5xx status. Routes:
//   POST   /v1/apply[?dryRun=true]                 body: YAML (multi-document; `?source=NAME` names it in errors), or JSON
//                                                  {sources: [{name, text}]} (several files applied atomically, errors by file:line)
//                                                  → {results: [{key, kind, namespace, name, action}], dryRun}
//   GET    /v1/config[/{kind}[/{namespace}[/{name}]]]  → {items: [...]} or one resource
//   DELETE /v1/config/{kind}/{namespace}/{name}    → {key, action: 'deleted'}
//   GET    /v1/proxy-status                        → {proxies: ProxyStatus[]}
//   GET    /v1/analyze                             → {version, messages: AnalysisMessage[]}
//   GET    /v1/registry                            → {services, workloads}
//   POST   /v1/registry/workloads                  body: JSON (registry/input.ts) → {id, ttl}
//   DELETE /v1/registry/workloads/{id}             → {id, action: 'deleted'}
//   GET    /ready                                  → {ready: true} (503 until ready)
//   the CA's routes (/v1/tokens, /v1/ca/..., /api/v1/ca/root): see ca-routes.ts

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Analyzer, ProxyStatus, XdsServerHandle } from '../model.js';
import type { ConfigStore } from '../store/config-store.js';
import type { ServiceRegistry } from '../registry/service-registry.js';
import type { Mesh } from '../mesh.js';
import { parseYamlDocuments, type SourcedDoc } from '../store/yaml-docs.js';
import { KIND_NAMES, resolveKind } from '../store/kinds.js';
import { createLogger } from '../../observe/logger.js';
import type { MeshCa } from '../ca/index.js';
import { caRoute, CaRouteError, isCaRoute } from './ca-routes.js';

const log = createLogger('api-server');

/** Request bodies larger than this are refused with 413. */
const MAX_BODY = 4 * 1024 * 1024;

export interface ApiServerOptions {
  readonly store: ConfigStore;
  readonly registry: ServiceRegistry;
  readonly mesh: Mesh;
  readonly analyzer: Analyzer;
  /** The xDS server, when there is one (proxy-status answers [] otherwise). */
  readonly xds?: () => XdsServerHandle | undefined;
  /** The CA, when the control plane runs one. */
  readonly ca?: () => MeshCa | undefined;
  /** Whether the control plane is ready (default: always). */
  readonly ready?: () => boolean;
  readonly host?: string;
  /** 15014 by default; 0 picks a free port. */
  readonly port?: number;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly details: readonly string[] = []) { super(message); }
}

export class ApiServer {
  readonly #opts: ApiServerOptions;
  readonly #server: http.Server;

  constructor(opts: ApiServerOptions) {
    this.#opts = opts;
    this.#server = http.createServer((req, res) => { void this.#handle(req, res); });
  }

  /** Listens; resolves with the bound port. */
  async start(): Promise<{ port: number }> {
    const { host = '127.0.0.1', port = 15014 } = this.#opts;
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => { this.#server.off('error', reject); resolve(); });
    });
    return { port: (this.#server.address() as AddressInfo).port };
  }

  async close(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((r) => this.#server.close(() => r()));
    this.#server.closeAllConnections();
    await closed;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      const parts = url.pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
      const body = await readBody(req);
      if (isCaRoute(parts)) {
        const r = await caRoute(this.#opts.ca?.(), req, parts, body);
        if (r.pem !== undefined) {
          res.writeHead(r.status, { 'content-type': 'application/x-pem-file', 'content-length': Buffer.byteLength(r.pem) });
          res.end(r.pem);
        } else send(res, r.status, r.value);
        return;
      }
      const { status, value } = this.#route(req.method ?? 'GET', parts, url.searchParams, body);
      send(res, status, value);
    } catch (e) {
      if (e instanceof HttpError || e instanceof CaRouteError) send(res, e.status, { error: e.message, details: e.details });
      else {
        log.error('%s %s: %s', req.method, req.url, (e as Error).stack ?? e);
        send(res, 500, { error: 'internal error', details: [(e as Error).message] });
      }
    }
  }

  /** Proxies without an mTLS xDS peer identity get the CA's last issuance for their node id. */
  #withIdentities(proxies: readonly ProxyStatus[]): readonly ProxyStatus[] {
    const ca = this.#opts.ca?.();
    if (ca === undefined) return proxies;
    return proxies.map((p) => {
      const r = ca.records.byNode.get(p.id);
      if (r === undefined) return p;
      // The latest issuance is newer than the certificate the xDS stream was opened with.
      if (p.certExpiry !== undefined && p.certExpiry >= r.notAfter) return p;
      return { ...p, identity: r.identity, certExpiry: r.notAfter };
    });
  }

  #route(method: string, p: string[], q: URLSearchParams, body: Buffer): { status: number; value: unknown } {
    const { store, registry, mesh } = this.#opts;
    const allow = (...methods: string[]) => {
      if (!methods.includes(method)) throw new HttpError(405, `method ${method} not allowed on /${p.join('/')}`, [`allowed: ${methods.join(', ')}`]);
    };
    if (p.length === 1 && p[0] === 'ready') {
      allow('GET');
      const ready = this.#opts.ready?.() ?? true;
      return { status: ready ? 200 : 503, value: ready ? { ready: true } : { error: 'not ready', details: [] } };
    }
    if (p[0] !== 'v1') throw new HttpError(404, `no route for /${p.join('/')}`);
    const [, what, ...rest] = p;
    switch (what) {
      case 'apply': {
        allow('POST');
        const dryRun = q.get('dryRun') === 'true';
        const docs: SourcedDoc[] = [];
        const syntax: string[] = [];
        for (const { name, text } of applySources(body, q)) {
          const parsed = parseYamlDocuments(text, name);
          if (parsed.ok) docs.push(...parsed.docs); else syntax.push(...parsed.errors);
        }
        if (syntax.length > 0) throw new HttpError(400, 'invalid YAML, nothing applied', syntax);
        if (docs.length === 0) throw new HttpError(400, 'no resources in the request body');
        const r = store.apply(docs, { dryRun });
        if (!r.ok) throw new HttpError(400, `${r.errors.length} error${r.errors.length === 1 ? '' : 's'}, nothing applied`, r.errors);
        return { status: 200, value: { dryRun, results: r.results.map((x) => ({ ...splitKey(x.key), ...x })) } };
      }
      case 'config': {
        // Resources as their authors wrote them (what `weft get -o yaml` prints and `weft apply` takes back).
        if (rest.length === 0) { allow('GET'); return { status: 200, value: { items: store.list().map((r) => store.asWritten(r)) } }; }
        const kind = resolveKind(rest[0]!);
        if (kind === undefined) throw new HttpError(404, `unknown kind '${rest[0]}'`, [`expected one of ${KIND_NAMES}`]);
        if (method === 'DELETE') {
          if (rest.length !== 3) throw new HttpError(400, 'DELETE needs /v1/config/{kind}/{namespace}/{name}');
          if (!store.delete(kind, rest[1]!, rest[2]!)) throw new HttpError(404, `${kind} ${rest[1]}/${rest[2]} not found`);
          return { status: 200, value: { key: `${kind}/${rest[1]}/${rest[2]}`, kind, namespace: rest[1], name: rest[2], action: 'deleted' } };
        }
        allow('GET', 'DELETE');
        if (rest.length > 3) throw new HttpError(404, `no route for /${p.join('/')}`);
        const items = store.get(kind, rest[1], rest[2]).map((r) => store.asWritten(r));
        if (rest.length === 3) {
          if (items.length === 0) throw new HttpError(404, `${kind} ${rest[1]}/${rest[2]} not found`);
          return { status: 200, value: items[0] };
        }
        return { status: 200, value: { items } };
      }
      case 'proxy-status':
        allow('GET');
        return { status: 200, value: { proxies: this.#withIdentities(this.#opts.xds?.()?.status() ?? []) } };
      case 'analyze': {
        allow('GET');
        const snap = mesh.current;
        return { status: 200, value: { version: snap.version, messages: this.#opts.analyzer(snap) } };
      }
      case 'registry': {
        if (rest.length === 0) {
          allow('GET');
          const s = registry.snapshot();
          return { status: 200, value: { services: s.services, workloads: s.workloads.map((w) => {
            const exp = registry.expiresAt(w.id);
            return exp === undefined ? w : { ...w, expiresAt: new Date(exp).toISOString() };
          }) } };
        }
        if (rest[0] !== 'workloads' || rest.length > 2) throw new HttpError(404, `no route for /${p.join('/')}`);
        if (rest.length === 1) {
          allow('POST');
          let json: unknown;
          try { json = JSON.parse(body.toString('utf8')); } catch (e) { throw new HttpError(400, 'invalid JSON', [(e as Error).message]); }
          const r = registry.registerWorkload(json);
          if (!r.ok) throw new HttpError(400, 'invalid workload registration', r.errors);
          return { status: 200, value: { id: r.value.id, ttl: `${r.value.ttlMs / 1000}s` } };
        }
        allow('DELETE');
        if (!registry.deregisterWorkload(rest[1]!)) throw new HttpError(404, `workload '${rest[1]}' not found`);
        return { status: 200, value: { id: rest[1], action: 'deleted' } };
      }
      default:
        throw new HttpError(404, `no route for /${p.join('/')}`);
    }
  }
}

/** The texts of an apply request: JSON `{sources: [{name, text}]}` or the body itself as YAML. */
function applySources(body: Buffer, q: URLSearchParams): { name: string; text: string }[] {
  const text = body.toString('utf8');
  if (!/^\s*\{\s*"sources"\s*:/.test(text)) return [{ name: q.get('source') ?? 'request', text }];
  let json: unknown;
  try { json = JSON.parse(text); } catch (e) { throw new HttpError(400, 'invalid JSON', [(e as Error).message]); }
  const sources = (json as { sources?: unknown }).sources;
  const ok = Array.isArray(sources) && sources.every((s) => s !== null && typeof s === 'object'
    && typeof (s as { name?: unknown }).name === 'string' && typeof (s as { text?: unknown }).text === 'string');
  if (!ok) throw new HttpError(400, 'invalid apply request', ['sources: expected a list of {name: string, text: string}']);
  return sources as { name: string; text: string }[];
}

function splitKey(key: string): { kind: string; namespace: string; name: string } {
  const [kind, namespace, name] = key.split('/') as [string, string, string];
  return { kind, namespace, name };
}

function send(res: http.ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) { reject(new HttpError(413, `request body over ${MAX_BODY} bytes`)); req.resume(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
