// The RBAC policy engine shared by envoy.filters.http.rbac and envoy.filters.network.rbac
// (Envoy's filters/common/rbac): envoy.config.rbac.v3.RBAC compiled once per config into
// predicates; evaluation walks them against a subject (a connection, and for HTTP a request)
// without compiling or allocating per request. A policy matches when one of its permissions and
// one of its principals match; policies are tried in name order, the first match is the
// effective policy. ALLOW allows when a policy matches, DENY denies when one matches, LOG always
// allows (and tells whether a policy matched).

import type net from 'node:net';
import type { X509Certificate } from 'node:crypto';
import type { CidrRange, HeaderMatcherConfig } from '../config/types.js';
import { Cidr, ipBytes } from '../listener/cidr.js';
import { CompiledHeaderMatcher, CompiledStringMatcher, type HeaderSource } from '../router/matchers.js';
import type { RbacPermissionConfig, RbacPrincipalConfig, RbacRulesConfig } from './config.js';
import { compileMetadataMatcher, type DynamicMetadata, type MetadataMatcherConfig } from './metadata.js';

/** What Envoy's RBAC reads of a downstream connection; computed once per connection, lazily. */
export class RbacConnection {
  private remote: Uint8Array | null | undefined = undefined;
  private local: Uint8Array | null | undefined = undefined;
  private peer: PeerNames | null | undefined = undefined;
  readonly localPort: number;
  /** SNI ('' when none). */
  readonly serverName: string;
  /** The connection is TLS (terminated by the listener). */
  readonly tls: boolean;

  constructor(private readonly socket: net.Socket, serverName: string | null) {
    this.localPort = socket.localPort ?? 0;
    this.tls = typeof (socket as { getPeerX509Certificate?: unknown }).getPeerX509Certificate === 'function';
    this.serverName = serverName ?? (this.tls ? String((socket as { servername?: unknown }).servername || '') : '');
  }

  /** The peer's address as 16 bytes (null when unknown). */
  remoteIp(): Uint8Array | null {
    if (this.remote === undefined) this.remote = ipBytes(this.socket.remoteAddress ?? '');
    return this.remote;
  }

  localIp(): Uint8Array | null {
    if (this.local === undefined) this.local = ipBytes(this.socket.localAddress ?? '');
    return this.local;
  }

  /** The client certificate's URI SANs, DNS SANs and subject; null when not TLS. */
  peerNames(): PeerNames | null {
    if (this.peer === undefined) this.peer = this.tls ? peerNamesOf(this.socket) : null;
    return this.peer;
  }
}

export interface PeerNames {
  readonly uriSans: readonly string[];
  readonly dnsSans: readonly string[];
  /** RFC 2253 form, most specific first: `CN=client,O=Example` ('' without a certificate). */
  readonly subject: string;
}

const NO_PEER: PeerNames = Object.freeze({ uriSans: [], dnsSans: [], subject: '' });

function peerNamesOf(socket: net.Socket): PeerNames {
  let cert: X509Certificate | undefined;
  try {
    cert = (socket as unknown as { getPeerX509Certificate(): X509Certificate | undefined }).getPeerX509Certificate();
  } catch {
    cert = undefined;
  }
  if (cert === undefined) return NO_PEER;
  const uriSans: string[] = [];
  const dnsSans: string[] = [];
  for (const entry of splitSan(cert.subjectAltName ?? '')) {
    if (entry.startsWith('URI:')) uriSans.push(entry.slice(4));
    else if (entry.startsWith('DNS:')) dnsSans.push(entry.slice(4));
  }
  // An empty subject (mesh workload certificates have none: the SPIFFE id is a critical URI SAN)
  // is undefined in node:crypto, not ''.
  const subject = (cert.subject ?? '').split('\n').filter((l) => l !== '').reverse().join(',');
  return { uriSans, dnsSans, subject };
}

/** Node's subjectAltName: `DNS:a, URI:b`; values with separators are JSON-quoted (`URI:"a, b"`). */
function splitSan(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const colon = s.indexOf(':', i);
    if (colon < 0) break;
    const kind = s.slice(i, colon + 1);
    let value: string;
    let next: number;
    if (s[colon + 1] === '"') {
      let j = colon + 2;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      try { value = JSON.parse(s.slice(colon + 1, j + 1)) as string; } catch { value = s.slice(colon + 2, j); }
      next = s.indexOf(', ', j);
    } else {
      next = s.indexOf(', ', colon);
      value = s.slice(colon + 1, next < 0 ? s.length : next);
    }
    out.push(kind + value);
    if (next < 0) break;
    i = next + 2;
  }
  return out;
}

/** What one evaluation looks at: the connection, and for HTTP the request. */
export interface RbacSubject {
  readonly conn: RbacConnection;
  /** The HTTP request (method, path with query, authority, headers); null on a network filter. */
  readonly request: HeaderSource | null;
  /** The request path without query string or fragment ('' on a network filter). */
  pathOnly(): string;
  /** remote_ip: the client address after x-forwarded-for processing (the peer on a network filter). */
  remoteIp(): Uint8Array | null;
  /** The stream's dynamic metadata (null on a network filter or when no filter wrote any). */
  dynamicMetadata(): DynamicMetadata;
}

function metadataPredicate(cfg: MetadataMatcherConfig): Predicate {
  const m = compileMetadataMatcher(cfg);
  return (s) => m(s.dynamicMetadata());
}

type Predicate = (s: RbacSubject) => boolean;

const NO_HEADERS: HeaderSource = Object.freeze({ authority: '', path: '', method: '', headers: [] });

function headerPredicate(cfg: HeaderMatcherConfig): Predicate {
  const m = new CompiledHeaderMatcher(cfg);
  return (s) => m.matches(s.request ?? NO_HEADERS);
}

function cidrPredicate(range: CidrRange, ip: (s: RbacSubject) => Uint8Array | null): Predicate {
  const cidr = new Cidr(range.addressPrefix, range.prefixLen);
  return (s) => {
    const b = ip(s);
    return b !== null && cidr.contains(b);
  };
}

function anyOf(ps: readonly Predicate[]): Predicate {
  if (ps.length === 1) return ps[0]!;
  return (s) => {
    for (let i = 0; i < ps.length; i++) if (ps[i]!(s)) return true;
    return false;
  };
}

function allOf(ps: readonly Predicate[]): Predicate {
  if (ps.length === 1) return ps[0]!;
  return (s) => {
    for (let i = 0; i < ps.length; i++) if (!ps[i]!(s)) return false;
    return true;
  };
}

const TRUE: Predicate = () => true;

/** Compiles a Permission (throws on a bad regex, which the decoder has already checked). */
export function compilePermission(p: RbacPermissionConfig): Predicate {
  switch (p.kind) {
    case 'and_rules': return allOf(p.rules.map(compilePermission));
    case 'or_rules': return anyOf(p.rules.map(compilePermission));
    case 'not_rule': { const inner = compilePermission(p.rule); return (s) => !inner(s); }
    case 'any': return TRUE;
    case 'header': return headerPredicate(p.header);
    case 'url_path': { const m = new CompiledStringMatcher(p.path); return (s) => s.request !== null && m.match(s.pathOnly()); }
    case 'destination_ip': return cidrPredicate(p.cidr, (s) => s.conn.localIp());
    case 'destination_port': { const port = p.port; return (s) => s.conn.localPort === port; }
    case 'destination_port_range': {
      const { start, end } = p;
      return (s) => s.conn.localPort >= start && s.conn.localPort < end;
    }
    case 'requested_server_name': { const m = new CompiledStringMatcher(p.name); return (s) => m.match(s.conn.serverName); }
    case 'metadata': return metadataPredicate(p.matcher);
  }
}

/** Compiles a Principal. */
export function compilePrincipal(p: RbacPrincipalConfig): Predicate {
  switch (p.kind) {
    case 'and_ids': return allOf(p.ids.map(compilePrincipal));
    case 'or_ids': return anyOf(p.ids.map(compilePrincipal));
    case 'not_id': { const inner = compilePrincipal(p.id); return (s) => !inner(s); }
    case 'any': return TRUE;
    case 'authenticated': {
      if (p.principalName === null) return (s) => s.conn.tls;
      const m = new CompiledStringMatcher(p.principalName);
      // Envoy: any URI SAN, then any DNS SAN, then the subject.
      return (s) => {
        const peer = s.conn.peerNames();
        if (peer === null) return false;
        for (const u of peer.uriSans) if (m.match(u)) return true;
        for (const d of peer.dnsSans) if (m.match(d)) return true;
        return m.match(peer.subject);
      };
    }
    case 'source_ip':
    case 'direct_remote_ip': return cidrPredicate(p.cidr, (s) => s.conn.remoteIp());
    case 'remote_ip': return cidrPredicate(p.cidr, (s) => s.remoteIp());
    case 'header': return headerPredicate(p.header);
    case 'url_path': { const m = new CompiledStringMatcher(p.path); return (s) => s.request !== null && m.match(s.pathOnly()); }
    case 'metadata': return metadataPredicate(p.matcher);
  }
}

/** Envoy's response detail for a denial: whitespace in the policy name becomes '_'. */
export function deniedDetails(policy: string): string {
  return `rbac_access_denied_matched_policy[${policy.replace(/\s/g, '_')}]`;
}

export const NO_POLICY = -1;

/** One compiled envoy.config.rbac.v3.RBAC. */
export class RbacEngine {
  readonly action: 'ALLOW' | 'DENY' | 'LOG';
  readonly names: readonly string[];
  private readonly permissions: readonly Predicate[];
  private readonly principals: readonly Predicate[];
  /** Response details per policy index, and for no policy (last). */
  private readonly details: readonly string[];

  constructor(cfg: RbacRulesConfig) {
    this.action = cfg.action;
    this.names = cfg.policies.map(([n]) => n);
    this.permissions = cfg.policies.map(([, p]) => anyOf(p.permissions.map(compilePermission)));
    this.principals = cfg.policies.map(([, p]) => anyOf(p.principals.map(compilePrincipal)));
    this.details = [...this.names.map(deniedDetails), deniedDetails('none')];
  }

  /** The index of the first policy (in name order) that matches, or NO_POLICY. */
  match(s: RbacSubject): number {
    const perms = this.permissions;
    for (let i = 0; i < perms.length; i++) if (perms[i]!(s) && this.principals[i]!(s)) return i;
    return NO_POLICY;
  }

  /** Whether the action lets the subject through, given match()'s result. */
  allows(matched: number): boolean {
    switch (this.action) {
      case 'ALLOW': return matched !== NO_POLICY;
      case 'DENY': return matched === NO_POLICY;
      default: return true;
    }
  }

  /** `rbac_access_denied_matched_policy[<name>|none]`. */
  deniedDetails(matched: number): string {
    return this.details[matched === NO_POLICY ? this.details.length - 1 : matched]!;
  }
}

/** Envoy's statPrefixJoin: `prefix` + '.' + `token`, without doubling a trailing dot. */
export function statPrefixJoin(prefix: string, token: string): string {
  if (prefix === '') return token;
  return prefix.endsWith('.') ? prefix + token : `${prefix}.${token}`;
}
