// TLS termination for a filter chain (envoy.transport_sockets.tls with a DownstreamTlsContext):
// one secure context per certificate, chosen by SNI (exact name, then a `*.` wildcard, else the
// first certificate); client certificates checked against the validation context (trusted CA,
// CRL, SAN matchers); Envoy's listener `ssl.*` stats; certificates reloaded when their files change.
//
// Node verifies a client certificate during the handshake but reports the outcome only after it,
// so a rejected client (untrusted, revoked, SAN mismatch, missing when required) is closed as soon
// as the handshake ends, before a byte of application data is read.

import type { X509Certificate } from 'node:crypto';
import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import tls from 'node:tls';
import type net from 'node:net';
import type { DownstreamTlsConfig, TlsDataSource } from '../config/types.js';
import type { Counter, StatsStore } from '../../observe/stats.js';
import { createLogger } from '../../observe/logger.js';
import { checkKeyPair, parseCertificates } from './pem.js';
import { paramsOptions } from './params.js';
import { nameCovers, parseSubjectAltNames, SanMatchers, serverNamesOf } from './san.js';

const log = createLogger('tls');

/** Envoy's listener TLS stats (`listener.<address>.ssl.*`). */
export class DownstreamTlsStats {
  readonly handshake: Counter;
  readonly connection_error: Counter;
  readonly no_certificate: Counter;
  readonly fail_verify_no_cert: Counter;
  readonly fail_verify_error: Counter;
  readonly fail_verify_san: Counter;
  constructor(store: StatsStore, statName: string) {
    const labels = { envoy_listener_address: statName };
    const c = (n: string) => store.counter(`listener.${statName}.ssl.${n}`, `listener_ssl_${n}`, labels);
    this.handshake = c('handshake');
    this.connection_error = c('connection_error');
    this.no_certificate = c('no_certificate');
    this.fail_verify_no_cert = c('fail_verify_no_cert');
    this.fail_verify_error = c('fail_verify_error');
    this.fail_verify_san = c('fail_verify_san');
  }
}

interface CertEntry {
  /** Names the certificate serves (DNS SANs, else CN), lower-cased. */
  readonly names: readonly string[];
  readonly context: tls.SecureContext;
}

/** Builds one secure context per certificate; `read` supplies each data source's current text. Throws on bad material. */
function buildEntries(cfg: DownstreamTlsConfig, read: (s: TlsDataSource) => string): CertEntry[] {
  const common = cfg.commonTlsContext;
  const v = common.validationContext;
  const shared: tls.SecureContextOptions = {
    ...paramsOptions(common.tlsParams, 'TLSv1.3'),
    // The server's cipher order wins (Envoy's default; prefer_client_ciphers is not supported).
    honorCipherOrder: true,
    ...(v?.trustedCa ? { ca: checkedCa(read(v.trustedCa)) } : {}),
    ...(v?.crl ? { crl: read(v.crl) } : {}),
  };
  return common.tlsCertificates.map((c) => {
    const cert = read(c.certificateChain);
    const key = read(c.privateKey);
    const bad = checkKeyPair(cert, key);
    if (bad !== null) throw new Error(`${bad.field}: expected ${bad.why}`);
    const first = parseCertificates(cert) as X509Certificate[];
    return { names: serverNamesOf(first[0]!), context: tls.createSecureContext({ ...shared, cert, key }) };
  });
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

export class DownstreamTls {
  private entries: CertEntry[];
  private readonly sans: SanMatchers;
  private readonly requestCert: boolean;
  private readonly alpn: string[] | undefined;
  private readonly watchers: FSWatcher[] = [];
  private reloadTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Successful certificate reloads (for tests and diagnostics). */
  reloads = 0;

  constructor(readonly config: DownstreamTlsConfig, private readonly stats: DownstreamTlsStats) {
    this.entries = buildEntries(config, (s) => s.text);
    const v = config.commonTlsContext.validationContext;
    this.sans = new SanMatchers(v?.matchTypedSubjectAltNames ?? []);
    this.requestCert = v !== null && v.trustedCa !== null;
    this.alpn = config.commonTlsContext.alpnProtocols.length > 0 ? [...config.commonTlsContext.alpnProtocols] : undefined;
    this.watchFiles();
  }

  /** The context for a server name: a certificate naming it exactly, then by wildcard, else the first. */
  contextFor(serverName: string | null): tls.SecureContext {
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
    const t = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext: this.contextFor(null),
      SNICallback: (name, cb) => cb(null, this.contextFor(name)),
      requestCert: this.requestCert,
      // Verification results are checked below, so rejections are counted and classified.
      rejectUnauthorized: false,
      ...(this.alpn ? { ALPNProtocols: this.alpn } : {}),
    });
    let settled = false;
    const fail = (): void => {
      if (settled) return;
      settled = true;
      this.stats.connection_error.inc();
      t.destroy();
      socket.destroy();
      done(null);
    };
    const onError = (): void => fail();
    const onClose = (): void => fail();
    t.on('error', onError);
    t.once('close', onClose);
    t.once('secure', () => {
      if (!this.verifyPeer(t)) { fail(); return; }
      // Outside tls.Server, Node leaves secureConnecting set after the handshake; node:http2 would
      // then wait for a 'secure' event that has already happened.
      (t as unknown as { secureConnecting: boolean }).secureConnecting = false;
      settled = true;
      t.off('error', onError);
      t.off('close', onClose);
      this.stats.handshake.inc();
      done(t);
    });
  }

  /** Applies the validation context to the client's certificate; counts the outcome. */
  private verifyPeer(t: tls.TLSSocket): boolean {
    const cert = t.getPeerCertificate();
    const present = cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0;
    if (!present) {
      if (this.config.requireClientCertificate) { this.stats.fail_verify_no_cert.inc(); return false; }
      this.stats.no_certificate.inc();
      return true;
    }
    if (!this.requestCert) return true;
    if (verifyError(t) !== null) { this.stats.fail_verify_error.inc(); return false; }
    if (!this.sans.matches(parseSubjectAltNames(cert.subjectaltname))) { this.stats.fail_verify_san.inc(); return false; }
    return true;
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
      const entries = buildEntries(this.config, (s) => (s.filename === null ? s.text : readFileSync(s.filename, 'utf8')));
      this.entries = entries;
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
