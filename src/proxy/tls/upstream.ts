// TLS origination for a cluster (envoy.transport_sockets.tls with an UpstreamTlsContext): SNI,
// ALPN, a client certificate (mTLS), server verification against validation_context (trusted CA
// and SAN matchers), and session resumption with the last session per host.
//
// As in Envoy, without a validation_context the server certificate is not verified at all; with
// one, the chain must lead to trusted_ca, and only match_typed_subject_alt_names (not the host
// name) decides whether the certificate names the right server.

import tls from 'node:tls';
import type { UpstreamTlsConfig } from '../config/types.js';
import type { Host } from '../cluster/host.js';
import { paramsOptions } from './params.js';
import { parseSubjectAltNames, SanMatchers } from './san.js';

export class UpstreamTls {
  private readonly context: tls.SecureContext;
  private readonly verify: boolean;
  private readonly sans: SanMatchers;
  /** The last session each host gave us, offered on the next connect. */
  private readonly sessions = new WeakMap<Host, Buffer>();

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

  /** Connects to `host`; the socket emits 'secureConnect' once usable, 'error' on any failure. */
  connect(host: Host, alpn: readonly string[] | undefined): tls.TLSSocket {
    const configured = this.config.commonTlsContext.alpnProtocols;
    const protocols = configured.length > 0 ? configured : alpn;
    const session = this.sessions.get(host);
    const socket = tls.connect({
      host: host.address,
      port: host.port,
      secureContext: this.context,
      ...(this.config.sni !== '' ? { servername: this.config.sni } : {}),
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
    socket.on('session', (s: Buffer) => this.sessions.set(host, s));
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
