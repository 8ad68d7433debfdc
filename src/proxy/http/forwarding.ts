// Request and response header rewriting at the proxy hop (RFC 9110 §7.6 hop-by-hop fields,
// Envoy's x-forwarded-for / x-forwarded-proto / x-request-id / x-envoy-original-path rules,
// host and path rewrites, server header overwrite).

import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { Cluster } from '../cluster/cluster.js';
import type { CompiledRoute, MatchedRoute, SelectedCluster } from '../router/route-table.js';
import type { ActiveStream } from './stream.js';

/** Whether a header is hop-by-hop (never forwarded as is). `te` is handled apart. */
function isHopByHop(name: string): boolean {
  switch (name) {
    case 'connection': case 'keep-alive': case 'proxy-connection': case 'transfer-encoding':
    case 'upgrade': case 'trailer': case 'proxy-authenticate': case 'proxy-authorization':
      return true;
    default:
      return false;
  }
}

/** Extra header names listed in Connection (beyond close / keep-alive / upgrade), lower-cased. */
function connectionListed(headers: readonly string[]): Set<string> | null {
  let set: Set<string> | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'connection') continue;
    for (const tok of headers[i + 1]!.split(',')) {
      const t = tok.trim().toLowerCase();
      if (t === '' || t === 'close' || t === 'keep-alive' || t === 'upgrade') continue;
      (set ??= new Set()).add(t);
    }
  }
  return set;
}

/** RFC 1918 / loopback / ULA addresses are "internal" in Envoy's sense. */
export function isInternalAddress(ip: string): boolean {
  if (ip.startsWith('::ffff:')) ip = ip.slice(7);
  const v = isIP(ip);
  if (v === 4) {
    const [a, b] = ip.split('.').map(Number) as [number, number];
    return a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }
  if (v === 6) {
    const l = ip.toLowerCase();
    return l === '::1' || l.startsWith('fc') || l.startsWith('fd');
  }
  return false;
}

export interface RequestIdDecision { readonly id: string; readonly set: boolean; }

/**
 * x-request-id: kept when present (unless the request is external at an edge proxy), generated
 * when missing and generate_request_id is on.
 */
export function requestIdFor(headers: readonly string[], generate: boolean, edge: boolean, remoteIp = ''): RequestIdDecision {
  let existing: string | undefined;
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'x-request-id') { existing = headers[i + 1]; break; }
  if (existing !== undefined && existing !== '' && !(edge && generate && remoteIp !== '' && !isInternalAddress(remoteIp))) {
    return { id: existing, set: false };
  }
  if (!generate) return { id: existing ?? '', set: false };
  return { id: randomUUID(), set: true };
}

/**
 * Builds the request head sent upstream (serialized once; retries and mirrors reuse it):
 * hop-by-hop fields dropped, forwarding headers set, rewrites and header mutations applied.
 */
export function buildUpstreamHeaders(stream: ActiveStream, route: CompiledRoute, matched: MatchedRoute,
                                     selected: SelectedCluster, cluster: Cluster, reqId: RequestIdDecision): { path: string; headers: string[] } {
  const head = stream.head;
  const info = stream.info;
  const cfg = stream.hcm.config;
  const src = head.headers;
  const listed = head.headers.length > 0 ? connectionListedIfAny(src) : null;
  const upgrade = head.upgrade !== null;
  const out: string[] = [];
  let hasXfp = false;
  let xffIndex = -1;
  let hostIndex = -1;
  let seenCl = false;
  for (let i = 0; i < src.length; i += 2) {
    const name = src[i]!;
    if (isHopByHop(name)) {
      if (upgrade && name === 'upgrade') out.push(name, src[i + 1]!);
      continue;
    }
    // Connection may nominate extra hop-by-hop fields, but never the message's framing.
    if (listed !== null && listed.has(name) && name !== 'content-length' && name !== 'host') continue;
    switch (name) {
      case 'te':
        if (src[i + 1]!.trim().toLowerCase() === 'trailers') out.push(name, 'trailers');
        continue;
      case 'expect':
        if (head.expectContinue) continue;
        break;
      case 'content-length':
        // Repeated identical values were collapsed by the parser; send the one value.
        if (seenCl || head.chunked) continue;
        seenCl = true;
        out.push(name, String(head.contentLength));
        continue;
      case 'x-request-id':
        if (reqId.set) continue;
        break;
      case 'x-forwarded-proto':
        if (cfg.useRemoteAddress) continue;
        hasXfp = true;
        break;
      case 'x-forwarded-for':
        if (xffIndex >= 0) { out[xffIndex + 1] += ', ' + src[i + 1]!; continue; }
        xffIndex = out.length;
        break;
      case 'host':
        hostIndex = out.length;
        break;
    }
    out.push(name, src[i + 1]!);
  }
  // Host: absolute-form authority wins; then rewrites (auto_host_rewrite is applied per attempt,
  // with the chosen host's DNS name: see withHost).
  let host = info.authority;
  if (route.hostRewriteLiteral !== null) host = route.hostRewriteLiteral;
  if (host === '') host = cluster.name;
  if (hostIndex >= 0) out[hostIndex + 1] = host;
  else out.unshift('host', host);
  if (hostIndex >= 0 && host !== info.authority) { /* rewritten in place */ }

  if (upgrade) out.push('connection', 'upgrade');
  if (head.chunked) out.push('transfer-encoding', 'chunked');
  if (cfg.useRemoteAddress) {
    const remote = stream.codec.remoteAddress;
    if (xffIndex >= 0) out[xffIndex + 1] += ', ' + remote;
    else out.push('x-forwarded-for', remote);
  }
  if (!hasXfp) out.push('x-forwarded-proto', stream.codec.scheme);
  if (reqId.set) out.push('x-request-id', reqId.id);

  let path = info.path;
  const rewritten = route.rewritePath(path);
  if (rewritten !== path) {
    out.push('x-envoy-original-path', path);
    path = rewritten;
  }
  // Header mutations: weighted cluster, route, virtual host, route configuration (the most
  // general level is applied last, so it wins on overwrite, as in Envoy's default).
  if (selected.headers !== null && !selected.headers.isEmpty) selected.headers.applyRequest(out, info);
  if (!route.headers.isEmpty) route.headers.applyRequest(out, info);
  const vh = matched.virtualHost.headers;
  if (!vh.isEmpty) vh.applyRequest(out, info);
  const rc = stream.hcm.routes.headers;
  if (!rc.isEmpty) rc.applyRequest(out, info);
  return { path, headers: out };
}

function connectionListedIfAny(src: readonly string[]): Set<string> | null {
  for (let i = 0; i < src.length; i += 2) {
    if (src[i] !== 'connection') continue;
    const v = src[i + 1]!;
    // Fast path: the usual single token names no other field.
    if (v.length <= 10 && /^(keep-alive|close|upgrade)$/i.test(v) && !hasSecondConnection(src, i + 2)) return null;
    return connectionListed(src);
  }
  return null;
}

function hasSecondConnection(src: readonly string[], from: number): boolean {
  for (let i = from; i < src.length; i += 2) if (src[i] === 'connection') return true;
  return false;
}

/**
 * Response headers for the client: hop-by-hop and framing fields dropped (the codec writes its
 * own framing), `server` overwritten, x-envoy-upstream-service-time added, mutations applied.
 * For a 101 the upgrade fields are kept.
 */
export function buildResponseHeaders(stream: ActiveStream, src: readonly string[], upgrade: boolean, serviceTimeMs: number): string[] {
  const out: string[] = [];
  const listed = connectionListedIfAny(src);
  for (let i = 0; i < src.length; i += 2) {
    const name = src[i]!;
    if (isHopByHop(name)) {
      if (upgrade && (name === 'upgrade' || name === 'connection')) out.push(name, src[i + 1]!);
      continue;
    }
    if (name === 'content-length' || name === 'server') continue;
    if (listed !== null && listed.has(name)) continue;
    out.push(name, src[i + 1]!);
  }
  out.push('x-envoy-upstream-service-time', String(Math.round(serviceTimeMs)));
  stream.applyResponseMutations(out);
  out.push('server', stream.hcm.config.serverName);
  return out;
}

/** A copy of `headers` with the Host value replaced (auto_host_rewrite, per attempt). */
export function withHost(headers: readonly string[], host: string): string[] {
  const out = headers.slice();
  for (let i = 0; i < out.length; i += 2) if (out[i] === 'host') { out[i + 1] = host; return out; }
  out.unshift('host', host);
  return out;
}
