// What the ext_authz filter asks and hears, independent of the transport: the check's attributes
// (envoy.service.auth.v3.AttributeContext as Envoy fills it: source / destination peers with the
// TLS principals, the HTTP request with its headers, body and context extensions) and the decision
// (OK with header mutations, denied with a local reply, or error). grpc-client.ts and
// http-client.ts turn these into wire requests and back.

import type net from 'node:net';
import type tls from 'node:tls';
import type { StringMatcherConfig } from '../../../config/types.js';
import { CompiledStringMatcher } from '../../../router/matchers.js';
import type { FilterStream } from '../filter.js';

/** One header mutation; applied in order. */
export interface HeaderOp {
  /**
   * set: replace every entry (or add); append: combine with an existing value (',') or add; add:
   * another entry; add_if_absent; overwrite_if_exists; remove (never pseudo-headers nor host).
   */
  readonly op: 'set' | 'append' | 'add' | 'add_if_absent' | 'overwrite_if_exists' | 'remove';
  readonly key: string;
  readonly value: string;
}

/** The decision. Header names lower-cased. */
export interface AuthzResult {
  readonly status: 'ok' | 'denied' | 'error';
  /** denied: the status to answer with. */
  readonly httpStatus: number;
  /** denied: the local reply's body. */
  readonly body: string;
  /** ok: mutations of the request before it goes upstream. */
  readonly requestOps: readonly HeaderOp[];
  /** ok: mutations of the response on its way back. */
  readonly responseOps: readonly HeaderOp[];
  /** denied: headers of the local reply, flat [name, value, ...]. */
  readonly deniedHeaders: readonly string[];
  /** CheckResponse.dynamic_metadata (gRPC), as JSON; null when none. */
  readonly dynamicMetadata: Record<string, unknown> | null;
}

export const ERROR_RESULT: AuthzResult = Object.freeze({
  status: 'error', httpStatus: 403, body: '', requestOps: [], responseOps: [], deniedHeaders: [], dynamicMetadata: null,
});

export function result(partial: Partial<AuthzResult> & Pick<AuthzResult, 'status'>): AuthzResult {
  return { ...ERROR_RESULT, ...partial };
}

/** Whether a request header may be removed or replaced by the authorization service. */
export function mutable(name: string): boolean {
  return name !== '' && name.charCodeAt(0) !== 58 /* : */ && name !== 'host';
}

/** Applies `ops` to a flat header list in place. */
export function applyOps(headers: string[], ops: readonly HeaderOp[]): void {
  for (const o of ops) {
    const idx = indexOf(headers, o.key);
    switch (o.op) {
      case 'remove': removeAll(headers, o.key); break;
      case 'set': removeAll(headers, o.key); headers.push(o.key, o.value); break;
      case 'add': headers.push(o.key, o.value); break;
      case 'append':
        if (idx < 0) headers.push(o.key, o.value);
        else headers[idx + 1] = headers[idx + 1] + ',' + o.value;
        break;
      case 'add_if_absent': if (idx < 0) headers.push(o.key, o.value); break;
      case 'overwrite_if_exists': if (idx >= 0) { removeAll(headers, o.key); headers.push(o.key, o.value); } break;
    }
  }
}

function indexOf(headers: readonly string[], name: string): number {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return i;
  return -1;
}

function removeAll(headers: string[], name: string): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    if (headers[r] === name) continue;
    headers[w] = headers[r]!;
    headers[w + 1] = headers[r + 1]!;
    w += 2;
  }
  headers.length = w;
}

/** A list of StringMatchers on header names; `negate` for Envoy's "all but" lists. */
export class HeaderNameMatcher {
  private readonly matchers: CompiledStringMatcher[];
  constructor(list: readonly StringMatcherConfig[], private readonly negate = false) {
    this.matchers = list.map((c) => new CompiledStringMatcher(c));
  }

  get empty(): boolean { return this.matchers.length === 0 && !this.negate; }

  matches(name: string): boolean {
    for (let i = 0; i < this.matchers.length; i++) if (this.matchers[i]!.match(name)) return !this.negate;
    return this.negate;
  }
}

export const exact = (value: string): StringMatcherConfig => ({ kind: 'exact', value, ignoreCase: false });

/** The request attributes of one check (built once per check, then encoded). */
export interface CheckAttributes {
  readonly sourceAddress: string;
  readonly sourcePort: number;
  readonly sourcePrincipal: string;
  readonly sourceCertificate: string;
  readonly destinationAddress: string;
  readonly destinationPort: number;
  readonly destinationPrincipal: string;
  readonly timeMs: number;
  readonly id: string;
  readonly method: string;
  /** Request headers for the check: pseudo-headers first (:authority, :method, :path, :scheme), repeated names joined with ','. */
  readonly headers: Map<string, string>;
  readonly path: string;
  readonly host: string;
  readonly scheme: string;
  readonly size: number;
  readonly protocol: string;
  /** The buffered body (null when the filter does not send one). */
  readonly body: Buffer | null;
  readonly partialBody: boolean;
  readonly contextExtensions: ReadonlyMap<string, string> | null;
  readonly sni: string;
}

function splitHostPort(a: string): [string, number] {
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    return [a.slice(1, end), Number(a.slice(end + 2)) || 0];
  }
  const i = a.lastIndexOf(':');
  return i < 0 ? [a, 0] : [a.slice(0, i), Number(a.slice(i + 1)) || 0];
}

/** The URI SAN of a certificate (the first), else its subject (RFC 2253-like), else ''. */
function principalOf(cert: tls.PeerCertificate | object | null | undefined): string {
  if (cert === null || cert === undefined || !('subject' in cert)) return '';
  const c = cert as tls.PeerCertificate;
  const san = c.subjectaltname;
  if (typeof san === 'string') {
    for (const part of san.split(', ')) if (part.startsWith('URI:')) return part.slice(4);
  }
  const subject = c.subject as unknown as Record<string, string | string[]> | undefined;
  if (subject === undefined) return '';
  return Object.entries(subject).reverse().map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`).join(',');
}

function pemOf(raw: Buffer): string {
  const b64 = raw.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

export interface AttributeOptions {
  /** Whether a request header goes into the check (allowed_headers / disallowed_headers / defaults). */
  readonly includeHeader: (name: string) => boolean;
  readonly includePeerCertificate: boolean;
  readonly includeTlsSession: boolean;
}

/** Builds the attributes of a check for `stream`, with `body` when buffered. */
export function checkAttributes(stream: FilterStream, opts: AttributeOptions, body: Buffer | null, partialBody: boolean,
                                contextExtensions: ReadonlyMap<string, string> | null): CheckAttributes {
  const info = stream.info;
  const socket: net.Socket | null = stream.downstreamSocket();
  const tlsSocket = socket !== null && (socket as tls.TLSSocket).encrypted === true ? socket as tls.TLSSocket : null;
  const scheme = tlsSocket !== null ? 'https' : 'http';
  const [srcIp, srcPort] = splitHostPort(info.downstreamRemoteAddress);
  const [dstIp, dstPort] = splitHostPort(info.downstreamLocalAddress);
  let sourcePrincipal = '';
  let sourceCertificate = '';
  let destinationPrincipal = '';
  let sni = '';
  if (tlsSocket !== null) {
    const peer = tlsSocket.getPeerCertificate();
    sourcePrincipal = principalOf(peer);
    if (opts.includePeerCertificate && peer !== null && 'raw' in peer && peer.raw !== undefined) {
      sourceCertificate = encodeURIComponent(pemOf(peer.raw));
    }
    destinationPrincipal = principalOf(tlsSocket.getCertificate());
    if (opts.includeTlsSession) sni = typeof (tlsSocket as { servername?: unknown }).servername === 'string' ? (tlsSocket as unknown as { servername: string }).servername : '';
  }
  const headers = new Map<string, string>();
  const put = (name: string, value: string): void => {
    if (!opts.includeHeader(name)) return;
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? value : prev + ',' + value);
  };
  put(':authority', info.authority);
  put(':method', info.method);
  put(':path', info.path);
  put(':scheme', scheme);
  const hs = info.requestHeaders;
  for (let i = 0; i < hs.length; i += 2) {
    const name = hs[i]!;
    if (name === 'host') continue; // it is :authority
    put(name, hs[i + 1]!);
  }
  if (info.requestId !== '' && !headers.has('x-request-id')) put('x-request-id', info.requestId);
  if (body !== null) put('x-envoy-auth-partial-body', partialBody ? 'true' : 'false');
  return {
    sourceAddress: srcIp, sourcePort: srcPort, sourcePrincipal, sourceCertificate,
    destinationAddress: dstIp, destinationPort: dstPort, destinationPrincipal,
    timeMs: info.startTime, id: info.requestId, method: info.method, headers, path: info.path, host: info.authority,
    scheme, size: info.bytesReceived, protocol: info.protocol, body, partialBody, contextExtensions, sni,
  };
}
