// TlsParameters (envoy.extensions.transport_sockets.tls.v3.TlsParameters) as Node secure-context options.

import type tls from 'node:tls';
import type { TlsParamsConfig, TlsProtocolVersion } from '../config/types.js';

/**
 * Envoy cipher lists use BoringSSL's equal-preference groups (`[A|B]`); OpenSSL has none, so a
 * group becomes its members in order.
 */
export function opensslCipherList(suites: readonly string[]): string {
  return suites.flatMap((s) => s.replace(/^\[|\]$/g, '').split('|')).join(':');
}

/** Versions, ciphers and curves; `max` is the side's default maximum (servers 1.3, clients 1.2, as in Envoy). */
export function paramsOptions(p: TlsParamsConfig, max: TlsProtocolVersion): tls.SecureContextOptions {
  return {
    minVersion: p.minimumProtocolVersion ?? 'TLSv1.2',
    maxVersion: p.maximumProtocolVersion ?? max,
    ...(p.cipherSuites.length > 0 ? { ciphers: opensslCipherList(p.cipherSuites) } : {}),
    ...(p.ecdhCurves.length > 0 ? { ecdhCurve: p.ecdhCurves.join(':') } : {}),
  };
}
