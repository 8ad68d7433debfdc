// TLS origination for a cluster (envoy.transport_sockets.tls with an UpstreamTlsContext): SNI,
// ALPN, a client certificate (mTLS), server verification against validation_context (trusted CA
// and SAN matchers), session resumption, and Envoy's cluster TLS stats (`cluster.<name>.ssl.*`).
//
// As in Envoy, without a validation_context the server certificate is not verified at all; with
// one, the chain must lead to trusted_ca, and only match_typed_subject_alt_names (not the host
// name) decides whether the certificate names the right server.
//
// Resumption: the last session a server gave is offered on the next connection to that same
// server only: sessions are kept per compiled context (so per client certificate and validation
// context) and per host address and SNI. That scoping matters because node:tls does not check the
// server identity again on a resumed session (the chain and SANs were checked on the full
// handshake that made it). When a handshake offering a session fails, the session is dropped and
// that server gets full handshakes only for a while (NO_RESUME_MS): a server that cannot resume
// (Weft's own listeners requiring client certificates could not, before their session id context
// was set) costs one failed connection instead of failing every connection after the first.

import tls from 'node:tls';
import type { UpstreamTlsConfig } from '../config/types.js';
import type { Host } from '../cluster/host.js';
import type { Counter, StatsStore } from '../../observe/stats.js';
import { createLogger } from '../../observe/logger.js';
import { LogLimiter } from '../listener/log-limiter.js';
import { paramsOptions } from './params.js';
import { parseSubjectAltNames, SanMatchers } from './san.js';

const log = createLogger('tls');

/** How long a server whose resumed handshake failed gets full handshakes only. */
const NO_RESUME_MS = 10 * 60_000;
/** Sessions kept per compiled context (one per host and SNI); the oldest goes first beyond this. */
const MAX_SESSIONS = 4096;

/** Envoy's cluster TLS stats (`cluster.<name>.ssl.*`). */
export class UpstreamTlsStats {
  readonly handshake: Counter;
  readonly session_reused: Counter;
  readonly connection_error: Counter;
  readonly fail_verify_error: Counter;
  readonly fail_verify_san: Counter;
  constructor(store: StatsStore, clusterName: string) {
    const labels = { envoy_cluster_name: clusterName };
    const c = (n: string) => store.counter(`cluster.${clusterName}.ssl.${n}`, `cluster_ssl_${n}`, labels);
    this.handshake = c('handshake');
    this.session_reused = c('session_reused');
    this.connection_error = c('connection_error');
    this.fail_verify_error = c('fail_verify_error');
    this.fail_verify_san = c('fail_verify_san');
  }
}

const statsByStore = new WeakMap<StatsStore, Map<string, UpstreamTlsStats>>();

/** The TLS stats of a cluster, created once per stats store and cluster name. */
export function upstreamTlsStats(store: StatsStore, clusterName: string): UpstreamTlsStats {
  let byName = statsByStore.get(store);
  if (byName === undefined) statsByStore.set(store, (byName = new Map()));
  let s = byName.get(clusterName);
  if (s === undefined) byName.set(clusterName, (s = new UpstreamTlsStats(store, clusterName)));
  return s;
}

export class UpstreamTls {
  private readonly context: tls.SecureContext;
  private readonly verify: boolean;
  private readonly sans: SanMatchers;
  /** The last session each server (`address:port`, SNI) gave us, offered on the next connect. */
  private readonly sessions = new Map<string, Buffer>();
  /** Servers whose resumed handshake failed: when they may be offered a session again. */
  private readonly noResumeUntil = new Map<string, number>();
  private readonly failLog = new LogLimiter(log, 'info');

  constructor(readonly config: UpstreamTlsConfig) {
    const common = config.commonTlsContext;
    const v = common.validationContext;
    const cert = common.tlsCertificates[0];
    this.context = tls.createSecureContext({
      ...paramsOptions(common.tlsParams, 'TLSv1.2'),
      ...(cert ? { cert: cert.certificateChain.text, key: cert.privateKey.text } : {}),
      ...(v?.trustedCa ? { ca: v.trustedCa.text } : {}),
      ...(v?.crl ? { crl: v.crl.text } : {}),
    });
    this.verify = v !== null && v.trustedCa !== null;
    this.sans = new SanMatchers(v?.matchTypedSubjectAltNames ?? []);
  }

  /** The session to offer `key`'s server, if any. */
  private sessionFor(key: string): Buffer | undefined {
    const until = this.noResumeUntil.get(key);
    if (until !== undefined) {
      if (performance.now() < until) return undefined;
      this.noResumeUntil.delete(key);
    }
    return this.sessions.get(key);
  }

  private keep(key: string, session: Buffer): void {
    this.sessions.delete(key);
    this.sessions.set(key, session);
    if (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
  }

  /**
   * Connects to `host`; the socket emits 'secureConnect' once usable, 'error' on any failure.
   * `stats`: the cluster's TLS stats (handshakes, resumptions, failures by kind).
   */
  connect(host: Host, alpn: readonly string[] | undefined, stats?: UpstreamTlsStats, clusterName = ''): tls.TLSSocket {
    const configured = this.config.commonTlsContext.alpnProtocols;
    const protocols = configured.length > 0 ? configured : alpn;
    const sni = this.config.sni;
    const key = `${host.key}\n${sni}`;
    const session = this.sessionFor(key);
    const socket = tls.connect({
      host: host.address,
      port: host.port,
      secureContext: this.context,
      ...(sni !== '' ? { servername: sni } : {}),
      ...(protocols && protocols.length > 0 ? { ALPNProtocols: [...protocols] } : {}),
      ...(session ? { session } : {}),
      rejectUnauthorized: this.verify,
      checkServerIdentity: (_name, cert) => {
        if (!this.verify || this.sans.matches(parseSubjectAltNames(cert.subjectaltname))) return undefined;
        const err = new Error(`upstream certificate SANs (${cert.subjectaltname ?? 'none'}) match no match_typed_subject_alt_names entry`);
        (err as NodeJS.ErrnoException).code = 'ERR_TLS_SAN_MISMATCH';
        return err;
      },
    });
    socket.setNoDelay(true);
    let secured = false;
    socket.on('session', (s: Buffer) => this.keep(key, s));
    socket.once('secureConnect', () => {
      secured = true;
      stats?.handshake.inc();
      if (socket.isSessionReused()) stats?.session_reused.inc();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // Only handshake failures: not TCP connect errors (no TLS yet), not errors after the handshake.
      if (secured || err.syscall === 'connect') return;
      stats?.connection_error.inc();
      const verifyFailed = socket.authorizationError !== undefined && socket.authorizationError !== null;
      if (err.code === 'ERR_TLS_SAN_MISMATCH') stats?.fail_verify_san.inc();
      else if (verifyFailed) stats?.fail_verify_error.inc();
      if (session !== undefined) {
        this.sessions.delete(key);
        this.noResumeUntil.set(key, performance.now() + NO_RESUME_MS);
      }
      this.failLog.log('TLS handshake with %s (cluster %s, sni %s)%s failed: %s', host.key, clusterName || '?', sni || 'none',
        session !== undefined ? ' offering a resumed session' : '', err.message.trim());
    });
    return socket;
  }
}

const byConfig = new WeakMap<UpstreamTlsConfig, UpstreamTls>();

/** The compiled TLS origination for a cluster's (frozen) transport socket config, built once. */
export function upstreamTlsFor(config: UpstreamTlsConfig): UpstreamTls {
  let u = byConfig.get(config);
  if (u === undefined) byConfig.set(config, (u = new UpstreamTls(config)));
  return u;
}
