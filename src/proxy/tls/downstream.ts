// TLS termination for a filter chain (envoy.transport_sockets.tls with a DownstreamTlsContext):
// one secure context per certificate, chosen by SNI (exact name, then a `*.` wildcard, else the
// first certificate); client certificates checked against the validation context (trusted CA,
// CRL, SAN matchers); Envoy's listener `ssl.*` stats; certificates reloaded when their files change.
//
// SDS (tls_certificate_sds_secret_configs, validation_context_sds_secret_config or a combined
// validation context): the certificates and trust bundle come from the proxy's SecretManager
// (src/proxy/secrets/); when its generation moved, the next handshake rebuilds the contexts from
// the current values (the default_validation_context's SAN matchers stay), so a rotated secret
// applies to new connections at once and established ones keep theirs. Until every named secret
// has arrived, handshakes fail (`ssl.connection_error` and Envoy's
// `server_ssl_socket_factory.downstream_context_secrets_not_ready`).
//
// Node verifies a client certificate during the handshake but reports the outcome only after it,
// so a rejected client (untrusted, revoked, SAN mismatch, missing when required) is closed as soon
// as the handshake ends, before a byte of application data is read.
//
// Session resumption (RFC 5077 tickets, TLS 1.3 PSK tickets): OpenSSL refuses to resume any session
// on a context that verifies peers unless the context has a session id context ("session id
// context uninitialized", a fatal alert) — tls.Server sets one, a bare TLSSocket does not — so
// every resumption against a listener requesting client certificates used to fail. Each context
// here gets a session id context hashed from what decides a client's acceptance (certificates,
// trusted CA, CRL, SAN matchers, require_client_certificate), as Envoy does, so a session only
// resumes under the same validation rules. A resumed session carries the peer certificate and the
// verification result of its full handshake (OpenSSL keeps both in the session), and the checks
// below run again on every handshake, resumed or not: a session made by a client that was refused
// (untrusted chain, other SAN, no certificate) is refused again when it is resumed. Tickets are
// encrypted with per-context random keys (no session_ticket_keys support yet), so a certificate
// reload and another worker process both mean a full handshake instead of a resumption.

import { createHash, type X509Certificate } from 'node:crypto';
import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import tls from 'node:tls';
import type net from 'node:net';
import type { DownstreamTlsConfig, SdsSecretRef, TlsDataSource } from '../config/types.js';
import { describeRef, secretManagerOf, type ProxySecretManager } from '../secrets/manager.js';
import type { Counter, StatsStore } from '../../observe/stats.js';
import { createLogger } from '../../observe/logger.js';
import { LogLimiter } from '../listener/log-limiter.js';
import { checkKeyPair, parseCertificates } from './pem.js';
import { paramsOptions } from './params.js';
import { nameCovers, parseSubjectAltNames, SanMatchers, serverNamesOf } from './san.js';
import { alpnSelector } from './alpn.js';

const log = createLogger('tls');

/** Envoy's listener TLS stats (`listener.<address>.ssl.*`). */
export class DownstreamTlsStats {
  readonly handshake: Counter;
  readonly session_reused: Counter;
  readonly connection_error: Counter;
  readonly no_certificate: Counter;
  readonly fail_verify_no_cert: Counter;
  readonly fail_verify_error: Counter;
  readonly fail_verify_san: Counter;
  /** Envoy's `listener.<address>.server_ssl_socket_factory.*`. */
  readonly ssl_context_update_by_sds: Counter;
  readonly downstream_context_secrets_not_ready: Counter;
  /** The SecretManager of the proxy owning the store (SDS references), if any. */
  readonly secrets: ProxySecretManager | null;
  constructor(store: StatsStore, statName: string) {
    const labels = { envoy_listener_address: statName };
    const c = (n: string) => store.counter(`listener.${statName}.ssl.${n}`, `listener_ssl_${n}`, labels);
    this.handshake = c('handshake');
    this.session_reused = c('session_reused');
    this.connection_error = c('connection_error');
    this.no_certificate = c('no_certificate');
    this.fail_verify_no_cert = c('fail_verify_no_cert');
    this.fail_verify_error = c('fail_verify_error');
    this.fail_verify_san = c('fail_verify_san');
    const f = (n: string) => store.counter(`listener.${statName}.server_ssl_socket_factory.${n}`, `listener_server_ssl_socket_factory_${n}`, labels);
    this.ssl_context_update_by_sds = f('ssl_context_update_by_sds');
    this.downstream_context_secrets_not_ready = f('downstream_context_secrets_not_ready');
    this.secrets = secretManagerOf(store);
  }
}

interface CertEntry {
  /** Names the certificate serves (DNS SANs, else CN), lower-cased. */
  readonly names: readonly string[];
  readonly context: tls.SecureContext;
}

/** The PEM material of a context now: files / inline data, then SDS secrets. */
interface Material {
  readonly certs: readonly { readonly cert: string; readonly key: string }[];
  readonly ca: string | null;
  readonly crl: string | null;
}

/**
 * The material of `cfg`: `read` supplies each data source's current text, `secrets` the SDS
 * values. Null when a named secret has not arrived (or is of the wrong kind): not ready.
 */
function materialOf(cfg: DownstreamTlsConfig, read: (s: TlsDataSource) => string, secrets: ProxySecretManager | null): Material | null {
  const common = cfg.commonTlsContext;
  const v = common.validationContext;
  const certs = common.tlsCertificates.map((c) => ({ cert: read(c.certificateChain), key: read(c.privateKey) }));
  for (const ref of common.sdsCertificates) {
    const s = secrets?.get(ref);
    if (s === undefined || s.kind !== 'tls_certificate') return null;
    certs.push({ cert: s.certificateChain, key: s.privateKey });
  }
  let ca = v?.trustedCa ? read(v.trustedCa) : null;
  if (common.sdsValidation !== null) {
    const s = secrets?.get(common.sdsValidation);
    if (s === undefined || s.kind !== 'validation_context') return null;
    ca = s.trustedCa;
  }
  return { certs, ca, crl: v?.crl ? read(v.crl) : null };
}

/** Every SDS reference of a context. */
function sdsRefs(cfg: DownstreamTlsConfig): SdsSecretRef[] {
  const c = cfg.commonTlsContext;
  return [...c.sdsCertificates, ...(c.sdsValidation === null ? [] : [c.sdsValidation])];
}

/** Builds one secure context per certificate. Throws on bad material. */
function buildEntries(cfg: DownstreamTlsConfig, mat: Material): CertEntry[] {
  const common = cfg.commonTlsContext;
  const shared: tls.SecureContextOptions = {
    ...paramsOptions(common.tlsParams, 'TLSv1.3'),
    sessionIdContext: sessionIdContext(cfg, mat),
    // The server's cipher order wins (Envoy's default; prefer_client_ciphers is not supported).
    honorCipherOrder: true,
    ...(mat.ca !== null ? { ca: checkedCa(mat.ca) } : {}),
    ...(mat.crl !== null ? { crl: mat.crl } : {}),
  };
  return mat.certs.map(({ cert, key }) => {
    const bad = checkKeyPair(cert, key);
    if (bad !== null) throw new Error(`${bad.field}: expected ${bad.why}`);
    const first = parseCertificates(cert) as X509Certificate[];
    return { names: serverNamesOf(first[0]!), context: tls.createSecureContext({ ...shared, cert, key }) };
  });
}

/**
 * The session id context of a listener's contexts: a hash of everything that decides whether a
 * client is accepted, so a session resumes only where its full handshake would have been accepted.
 * 32 hex characters (OpenSSL allows up to 32 bytes).
 */
function sessionIdContext(cfg: DownstreamTlsConfig, mat: Material): string {
  const v = cfg.commonTlsContext.validationContext;
  const h = createHash('sha256');
  for (const c of mat.certs) h.update(c.cert).update('\0');
  h.update(mat.ca ?? '').update('\0');
  h.update(mat.crl ?? '').update('\0');
  h.update(JSON.stringify(v?.matchTypedSubjectAltNames ?? [])).update('\0');
  h.update(cfg.requireClientCertificate ? 'require' : 'optional');
  return h.digest('hex').slice(0, 32);
}

function checkedCa(text: string): string {
  const certs = parseCertificates(text);
  if (typeof certs === 'string') throw new Error(`trusted_ca: expected PEM CA certificates (${certs})`);
  return text;
}

/**
 * The chain verification result of a server-side TLSSocket made without a tls.Server: Node sets
 * `authorized` only in tls.Server's own connection handling, from this same call on the handle.
 */
function verifyError(t: tls.TLSSocket): Error | null {
  const handle = (t as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  if (typeof handle?.verifyError === 'function') return handle.verifyError();
  return t.authorized ? null : new Error(String(t.authorizationError ?? 'unverified'));
}

function peerOf(s: net.Socket): string {
  return `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`;
}

export class DownstreamTls {
  private entries: CertEntry[];
  private readonly sans: SanMatchers;
  private readonly requestCert: boolean;
  /** ALPN selection (alpnSelector) when the context has alpn_protocols. */
  private readonly alpnSelect: ReturnType<typeof alpnSelector> | undefined;
  /** Handshake failures are logged, at most one line per interval (a scanner must not flood the log). */
  private readonly failLog = new LogLimiter(log, 'debug');
  private readonly rejectLog = new LogLimiter(log, 'info');
  private readonly watchers: FSWatcher[] = [];
  private reloadTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Successful certificate reloads (for tests and diagnostics). */
  reloads = 0;
  /** SDS: the secret references, and the manager generation the entries were built at (-1: none yet). */
  private readonly sds: readonly SdsSecretRef[];
  private builtAt = -1;

  constructor(readonly config: DownstreamTlsConfig, private readonly stats: DownstreamTlsStats) {
    this.sds = sdsRefs(config);
    if (this.sds.length === 0) {
      this.entries = buildEntries(config, materialOf(config, (s) => s.text, null)!);
    } else {
      this.entries = [];
      this.refreshSds();
    }
    const v = config.commonTlsContext.validationContext;
    this.sans = new SanMatchers(v?.matchTypedSubjectAltNames ?? []);
    this.requestCert = (v !== null && v.trustedCa !== null) || config.commonTlsContext.sdsValidation !== null;
    const alpn = config.commonTlsContext.alpnProtocols;
    this.alpnSelect = alpn.length > 0 ? alpnSelector(alpn) : undefined;
    this.watchFiles();
  }

  /**
   * SDS: rebuilds the contexts from the current secret values when the manager's generation moved
   * since the last build (one integer compare per handshake otherwise). A bad value (it was
   * validated on arrival, so rare) keeps the previous contexts.
   */
  private refreshSds(): void {
    const m = this.stats.secrets;
    if (m === null || m.generation === this.builtAt) return;
    this.builtAt = m.generation;
    const files = this.watchers.length > 0;
    const mat = materialOf(this.config, (s) => (s.filename !== null && files ? readFileSync(s.filename, 'utf8') : s.text), m);
    if (mat === null) return;
    try {
      const had = this.entries.length > 0;
      this.entries = buildEntries(this.config, mat);
      if (had) this.stats.ssl_context_update_by_sds.inc();
    } catch (err) {
      log.error('TLS context from SDS (%s) could not be built, keeping the previous one: %s', this.sds.map(describeRef).join(', '), (err as Error).message);
    }
  }

  /** Whether every SDS secret has arrived (always true without SDS). */
  get ready(): boolean {
    if (this.sds.length > 0) this.refreshSds();
    return this.entries.length > 0;
  }

  /** The context for a server name: a certificate naming it exactly, then by wildcard, else the first. */
  contextFor(serverName: string | null): tls.SecureContext {
    if (this.sds.length > 0) this.refreshSds();
    const entries = this.entries;
    if (serverName !== null && serverName !== '') {
      const sni = serverName.toLowerCase();
      for (const e of entries) if (e.names.includes(sni)) return e.context;
      for (const e of entries) if (e.names.some((n) => nameCovers(n, sni))) return e.context;
    }
    return entries[0]!.context;
  }

  /**
   * Runs the server handshake on `socket` (any peeked bytes already unshifted). `done` gets the
   * TLS socket once the handshake succeeded and the client passed verification, or null (the
   * socket is then destroyed).
   */
  terminate(socket: net.Socket, done: (t: tls.TLSSocket | null) => void): void {
    if (!this.ready) {
      this.stats.downstream_context_secrets_not_ready.inc();
      this.stats.connection_error.inc();
      this.failLog.log('TLS handshake from %s refused: secrets not ready (%s)', peerOf(socket), this.sds.map(describeRef).join(', '));
      socket.destroy();
      done(null);
      return;
    }
    const t = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext: this.contextFor(null),
      SNICallback: (name, cb) => cb(null, this.contextFor(name)),
      requestCert: this.requestCert,
      // Verification results are checked below, so rejections are counted and classified.
      rejectUnauthorized: false,
      ...(this.alpnSelect ? { ALPNCallback: this.alpnSelect } : {}),
    });
    let settled = false;
    const fail = (why: string | null): void => {
      if (settled) return;
      settled = true;
      this.stats.connection_error.inc();
      if (why !== null) this.failLog.log('TLS handshake from %s failed: %s', peerOf(socket), why);
      t.destroy();
      socket.destroy();
      done(null);
    };
    const onError = (err: Error): void => fail(err.message.trim());
    const onClose = (): void => fail('connection closed during the handshake');
    t.on('error', onError);
    t.once('close', onClose);
    t.once('secure', () => {
      const rejected = this.verifyPeer(t);
      if (rejected !== null) {
        this.rejectLog.log('TLS client %s refused%s: %s', peerOf(socket), t.isSessionReused() ? ' (resumed session)' : '', rejected);
        fail(null);
        return;
      }
      // Outside tls.Server, Node leaves secureConnecting set after the handshake; anything that
      // checks it (Node's own stream wrappers) would wait for a 'secure' event already past.
      (t as unknown as { secureConnecting: boolean }).secureConnecting = false;
      settled = true;
      t.off('error', onError);
      t.off('close', onClose);
      this.stats.handshake.inc();
      if (t.isSessionReused()) this.stats.session_reused.inc();
      done(t);
    });
  }

  /**
   * Applies the validation context to the client's certificate (on a resumed session, the one its
   * full handshake presented, with that handshake's chain verification result); counts the
   * outcome. Returns null when the client is accepted, else why not.
   */
  private verifyPeer(t: tls.TLSSocket): string | null {
    const cert = t.getPeerCertificate();
    const present = cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0;
    if (!present) {
      if (this.config.requireClientCertificate) { this.stats.fail_verify_no_cert.inc(); return 'no client certificate (require_client_certificate)'; }
      this.stats.no_certificate.inc();
      return null;
    }
    if (!this.requestCert) return null;
    const err = verifyError(t);
    if (err !== null) { this.stats.fail_verify_error.inc(); return `certificate verification failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`; }
    if (!this.sans.matches(parseSubjectAltNames(cert.subjectaltname))) {
      this.stats.fail_verify_san.inc();
      return `certificate SANs (${cert.subjectaltname ?? 'none'}) match no match_typed_subject_alt_names entry`;
    }
    return null;
  }

  // ───── certificate reload ─────

  private sources(): TlsDataSource[] {
    const c = this.config.commonTlsContext;
    const out: TlsDataSource[] = [];
    for (const t of c.tlsCertificates) out.push(t.certificateChain, t.privateKey);
    if (c.validationContext?.trustedCa) out.push(c.validationContext.trustedCa);
    if (c.validationContext?.crl) out.push(c.validationContext.crl);
    return out.filter((s) => s.filename !== null);
  }

  /** Watches the directories of every file-backed source (so renames and atomic replaces are seen). */
  private watchFiles(): void {
    const byDir = new Map<string, Set<string>>();
    for (const s of this.sources()) {
      const dir = dirname(s.filename!);
      let names = byDir.get(dir);
      if (names === undefined) byDir.set(dir, (names = new Set()));
      names.add(basename(s.filename!));
    }
    for (const [dir, names] of byDir) {
      try {
        const w = watch(dir, { persistent: false }, (_event, file) => {
          if (file === null || names.has(file.toString())) this.scheduleReload();
        });
        w.on('error', (err) => log.warning('watching %s for certificate changes failed: %s', dir, err.message));
        this.watchers.push(w);
      } catch (err) {
        log.warning('cannot watch %s for certificate changes: %s', dir, (err as Error).message);
      }
    }
  }

  /** Coalesces the burst of events one file replacement produces (and a cert written just before its key). */
  private scheduleReload(): void {
    if (this.closed || this.reloadTimer !== null) return;
    this.reloadTimer = setTimeout(() => { this.reloadTimer = null; this.reload(); }, 25);
    this.reloadTimer.unref();
  }

  /** Re-reads the files; new handshakes use the new certificates; on any error the old ones stay. */
  reload(): boolean {
    if (this.closed) return false;
    try {
      const mat = materialOf(this.config, (s) => (s.filename === null ? s.text : readFileSync(s.filename, 'utf8')), this.stats.secrets);
      if (mat === null) return false; // SDS secrets not there yet: built when they arrive
      this.entries = buildEntries(this.config, mat);
      this.reloads++;
      log.info('reloaded TLS certificates (%s)', this.sources().map((s) => s.filename).join(', '));
      return true;
    } catch (err) {
      log.error('TLS certificate reload failed, keeping the previous certificates: %s', (err as Error).message);
      return false;
    }
  }

  /** Stops watching files; connections already established are not touched. */
  close(): void {
    this.closed = true;
    if (this.reloadTimer !== null) { clearTimeout(this.reloadTimer); this.reloadTimer = null; }
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
  }
}
