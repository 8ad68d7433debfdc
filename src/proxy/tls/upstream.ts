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
//
// SDS (a client certificate from tls_certificate_sds_secret_configs, the trust bundle from
// validation_context_sds_secret_config or a combined validation context, as Istio's ISTIO_MUTUAL
// clusters use): the context is rebuilt from the SecretManager's current values when they changed
// (checked on each connect by comparing the manager's generation), and the cached sessions are
// dropped with the old context; connections already up keep theirs. Until the secrets arrived,
// connects fail (`ssl.connection_error`, Envoy's `client_ssl_socket_factory.upstream_context_secrets_not_ready`).

import tls from 'node:tls';
import type { SdsSecretRef, UpstreamTlsConfig } from '../config/types.js';
import type { ProxySecretManager } from '../secrets/manager.js';
import type { SecretValue } from '../secrets/types.js';
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
  /** Envoy's `cluster.<name>.client_ssl_socket_factory.*`. */
  readonly ssl_context_update_by_sds: Counter;
  readonly upstream_context_secrets_not_ready: Counter;
  constructor(store: StatsStore, clusterName: string) {
    const labels = { envoy_cluster_name: clusterName };
    const c = (n: string) => store.counter(`cluster.${clusterName}.ssl.${n}`, `cluster_ssl_${n}`, labels);
    this.handshake = c('handshake');
    this.session_reused = c('session_reused');
    this.connection_error = c('connection_error');
    this.fail_verify_error = c('fail_verify_error');
    this.fail_verify_san = c('fail_verify_san');
    const f = (n: string) => store.counter(`cluster.${clusterName}.client_ssl_socket_factory.${n}`, `cluster_client_ssl_socket_factory_${n}`, labels);
    this.ssl_context_update_by_sds = f('ssl_context_update_by_sds');
    this.upstream_context_secrets_not_ready = f('upstream_context_secrets_not_ready');
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

/** An error for a connect attempted before the SDS secrets arrived (an 'error' before 'secureConnect'). */
function notReadySocket(): tls.TLSSocket {
  const socket = new tls.TLSSocket(null as unknown as import('node:net').Socket);
  const err = Object.assign(new Error('TLS secrets (SDS) not ready'), { code: 'WEFT_SECRETS_NOT_READY' });
  process.nextTick(() => socket.destroy(err));
  return socket;
}

export class UpstreamTls {
  private context: tls.SecureContext | null;
  private readonly verify: boolean;
  /** SDS references (client certificate, trust bundle) and the values the context was built from. */
  private readonly sdsCert: SdsSecretRef | null;
  private readonly sdsCa: SdsSecretRef | null;
  private builtAt = -1;
  private builtFrom: (SecretValue | undefined)[] = [];
  private readonly sans: SanMatchers;
  /** The last session each server (`address:port`, SNI) gave us, offered on the next connect. */
  private readonly sessions = new Map<string, Buffer>();
  /** Servers whose resumed handshake failed: when they may be offered a session again. */
  private readonly noResumeUntil = new Map<string, number>();
  private readonly failLog = new LogLimiter(log, 'info');

  constructor(readonly config: UpstreamTlsConfig, private readonly secrets: ProxySecretManager | null = null) {
    const common = config.commonTlsContext;
    const v = common.validationContext;
    this.sdsCert = common.sdsCertificates[0] ?? null;
    this.sdsCa = common.sdsValidation;
    this.context = this.sdsCert === null && this.sdsCa === null ? this.build(undefined, undefined) : null;
    this.verify = (v !== null && v.trustedCa !== null) || this.sdsCa !== null;
    this.sans = new SanMatchers(v?.matchTypedSubjectAltNames ?? []);
  }

  private build(sdsCert: SecretValue | undefined, sdsCa: SecretValue | undefined): tls.SecureContext {
    const common = this.config.commonTlsContext;
    const v = common.validationContext;
    const cert = common.tlsCertificates[0];
    const pair = sdsCert?.kind === 'tls_certificate' ? { cert: sdsCert.certificateChain, key: sdsCert.privateKey }
      : cert ? { cert: cert.certificateChain.text, key: cert.privateKey.text } : {};
    const ca = sdsCa?.kind === 'validation_context' ? sdsCa.trustedCa : v?.trustedCa ? v.trustedCa.text : undefined;
    return tls.createSecureContext({
      ...paramsOptions(common.tlsParams, 'TLSv1.2'),
      ...pair,
      ...(ca !== undefined ? { ca } : {}),
      ...(v?.crl ? { crl: v.crl.text } : {}),
    });
  }

  /**
   * SDS: the context for the current secret values (rebuilt, and the sessions of the old one
   * dropped, when they changed); null while one is missing.
   */
  private currentContext(stats: UpstreamTlsStats | undefined): tls.SecureContext | null {
    if (this.sdsCert === null && this.sdsCa === null) return this.context;
    const m = this.secrets;
    if (m === null) return null;
    if (m.generation === this.builtAt) return this.context;
    const cert = this.sdsCert === null ? undefined : m.get(this.sdsCert);
    const ca = this.sdsCa === null ? undefined : m.get(this.sdsCa);
    if ((this.sdsCert !== null && cert?.kind !== 'tls_certificate') || (this.sdsCa !== null && ca?.kind !== 'validation_context')) return null;
    this.builtAt = m.generation;
    if (this.context !== null && this.builtFrom[0] === cert && this.builtFrom[1] === ca) return this.context;
    try {
      const had = this.context !== null;
      this.context = this.build(cert, ca);
      this.builtFrom = [cert, ca];
      this.sessions.clear();
      this.noResumeUntil.clear();
      if (had) stats?.ssl_context_update_by_sds.inc();
    } catch (err) {
      log.error('upstream TLS context from SDS could not be built, keeping the previous one: %s', (err as Error).message);
    }
    return this.context;
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
    const context = this.currentContext(stats);
    if (context === null) {
      stats?.upstream_context_secrets_not_ready.inc();
      stats?.connection_error.inc();
      this.failLog.log('TLS connect to %s (cluster %s) refused: SDS secrets not ready', host.key, clusterName || '?');
      return notReadySocket();
    }
    const session = this.sessionFor(key);
    const socket = tls.connect({
      ...(host.port === 0 ? { path: host.address } : { host: host.address, port: host.port }),
      secureContext: context,
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

/** The compiled TLS origination for a cluster's (frozen) transport socket config, built once; `secrets` for SDS references. */
export function upstreamTlsFor(config: UpstreamTlsConfig, secrets: ProxySecretManager | null = null): UpstreamTls {
  let u = byConfig.get(config);
  if (u === undefined) byConfig.set(config, (u = new UpstreamTls(config, secrets)));
  return u;
}
