// Gateway validation (networking.istio.io/v1 Gateway): servers with ports, protocols, `ns/host`
// hosts and TLS settings (HTTPS needs certificate files; MUTUAL also a CA), as Istio checks them.

import tls from 'node:tls';
import { opensslCipherList } from '../../proxy/tls/params.js';
import {
  Ctx, type Field, bool, filePath, isIP, isObject, join, labelMap, list, notYet, notYetFields, nsHost, oneOf, oneOfSupported, port,
  required, shape, str,
} from './common.js';
import { PORT_PROTOCOLS, protocol } from './service-entry.js';
import type { GatewayServer, GatewaySpec, ServerTLSSettings } from './types.js';

const TLS_VERSIONS = ['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'] as const;

/** Cipher suite names as Envoy takes them (OpenSSL names, `[A|B]` groups), checked against this OpenSSL. */
const cipherSuites: Field<string[]> = (v, p, c) => {
  const suites = list<string>((x, xp, xc) => (typeof x === 'string' && x !== '' ? x : (xc.expected(xp, 'a cipher suite name', x), undefined)), { nonEmpty: true })(v, p, c);
  if (suites === undefined) return undefined;
  try {
    tls.createSecureContext({ ciphers: opensslCipherList(suites) });
  } catch (e) {
    return c.expected(p, `cipher suites OpenSSL knows (${(e as Error).message})`, suites.join(':')), undefined;
  }
  return suites;
};

const serverTls: Field<ServerTLSSettings> = (v, p, c) => {
  const o = shape(c, v, p, {
    httpsRedirect: bool,
    mode: oneOfSupported(['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'OPTIONAL_MUTUAL', 'ISTIO_MUTUAL'] as const, {
      AUTO_PASSTHROUGH: 'it routes by SNI to Istio-named clusters, which needs multi-network mTLS',
    }),
    serverCertificate: filePath,
    privateKey: filePath,
    caCertificates: filePath,
    caCrl: filePath,
    credentialName: str,
    ...notYetFields(['credentialNames', 'caCertCredentialName'], 'arrives with automatic mTLS'),
    tlsCertificates: notYet('one serverCertificate/privateKey pair per server'),
    subjectAltNames: list(str),
    ...notYetFields(['verifyCertificateSpki', 'verifyCertificateHash'], 'the proxy verifies client certificates by CA and SAN only'),
    insecureSkipVerify: notYet(),
    minProtocolVersion: oneOf(TLS_VERSIONS),
    maxProtocolVersion: oneOf(TLS_VERSIONS),
    cipherSuites,
  });
  if (o === undefined || !isObject(v)) return undefined;
  const min = TLS_VERSIONS.indexOf(o.minProtocolVersion ?? 'TLS_AUTO');
  const max = TLS_VERSIONS.indexOf(o.maxProtocolVersion ?? 'TLS_AUTO');
  if (min > 0 && max > 0 && min > max) c.fail(join(p, 'minProtocolVersion'), `expected a version not above maxProtocolVersion (${String(o.maxProtocolVersion)}), got ${String(o.minProtocolVersion)}`);
  return o as ServerTLSSettings;
};

/** A server's bind address: an IP (Istio also takes unix:// sockets, which the proxy cannot listen on). */
const bindAddress: Field<string> = (v, p, c) => {
  if (typeof v === 'string' && isIP(v)) return v;
  if (typeof v === 'string' && v.startsWith('unix://')) return c.fail(p, 'unix domain sockets are not supported yet'), undefined;
  return c.expected(p, 'an IP address', v), undefined;
};

const server: Field<GatewayServer> = (v, p, c) => {
  const o = shape(c, v, p, {
    port: (x, xp, cc) => {
      const s = shape(cc, x, xp, {
        number: port,
        protocol: protocol(PORT_PROTOCOLS),
        name: str,
        targetPort: (_t, tp, tc) => (tc.fail(tp, 'expected no targetPort: it has no effect on Gateways'), undefined),
      });
      if (s === undefined) return undefined;
      const ok = [
        required(cc, x, xp, 'number', 'an integer in 1..65535'),
        required(cc, x, xp, 'protocol', `one of ${PORT_PROTOCOLS.join(', ')}`),
        required(cc, x, xp, 'name', 'a port name'),
      ].every(Boolean);
      return ok && s.number !== undefined && s.protocol !== undefined && s.name !== undefined ? s : undefined;
    },
    bind: bindAddress,
    hosts: list(nsHost({ bare: true, tilde: false }), { nonEmpty: true }),
    tls: serverTls,
    name: str,
    defaultEndpoint: notYet('gateways forward by their routes only'),
  });
  if (o === undefined || !isObject(v)) return undefined;
  const hasPort = required(c, v, p, 'port', 'a port (number, protocol, name)');
  required(c, v, p, 'hosts', 'a non-empty list');
  const proto = o.port?.protocol as string | undefined;
  const tls = o.tls as ServerTLSSettings | undefined;
  const tp = join(p, 'tls');
  if (proto === 'HTTPS' || proto === 'TLS') {
    if (v.tls == null) c.fail(tp, `expected TLS settings for protocol ${proto}`);
    else if (tls !== undefined) {
      const mode = tls.mode ?? 'PASSTHROUGH';
      const t = v.tls as Record<string, unknown>;
      // What only applies to some modes: Istio ignores it elsewhere, Weft says so.
      const unused = (keys: readonly string[], why: string) => {
        for (const k of keys) if (t[k] != null) c.fail(join(tp, k), `expected nothing here: ${why}`);
      };
      const cred = t.credentialName != null;
      if ((mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') && !cred) {
        required(c, t, tp, 'serverCertificate', `a file path (required for ${mode})`);
        required(c, t, tp, 'privateKey', `a file path (required for ${mode})`);
      }
      if ((mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') && !cred) required(c, t, tp, 'caCertificates', `a file path (required for ${mode})`);
      // credentialName: the Secret (in the gateway's namespace) holds certificate, key and CA (NAME-cacert).
      if (cred && mode !== 'PASSTHROUGH' && mode !== 'ISTIO_MUTUAL') unused(['serverCertificate', 'privateKey', 'caCertificates', 'caCrl'], 'credentialName gives the certificates');
      // ISTIO_MUTUAL: the gateway's mesh certificate and the mesh root are used (Istio refuses certificates here).
      if (mode === 'ISTIO_MUTUAL') unused(['serverCertificate', 'privateKey', 'caCertificates', 'caCrl', 'credentialName'], 'ISTIO_MUTUAL uses the mesh certificates and root');
      if (mode === 'PASSTHROUGH') unused(['serverCertificate', 'privateKey', 'credentialName', 'caCertificates', 'caCrl', 'subjectAltNames', 'minProtocolVersion', 'maxProtocolVersion', 'cipherSuites'], 'PASSTHROUGH does not terminate TLS');
      if (mode === 'SIMPLE') unused(['caCertificates', 'caCrl', 'subjectAltNames'], 'SIMPLE does not verify client certificates (use MUTUAL or OPTIONAL_MUTUAL)');
      if (t.httpsRedirect === true) c.fail(join(tp, 'httpsRedirect'), `expected only on HTTP servers (a ${proto} server is already TLS)`);
    }
  } else if (proto !== undefined && isObject(v.tls)) {
    // Istio: a plain-text HTTP server may only carry httpsRedirect; other plain-text servers no TLS at all.
    const t = v.tls;
    const http = proto === 'HTTP' || proto === 'HTTP2' || proto === 'GRPC';
    const certs = t.serverCertificate != null || t.privateKey != null || t.caCertificates != null;
    if (!http) c.fail(tp, `expected no TLS settings on a plain-text ${proto} port (use protocol TLS or HTTPS)`);
    else if (certs || (t.mode != null && t.mode !== 'PASSTHROUGH')) c.fail(tp, `expected only httpsRedirect on a plain-text ${proto} port`);
  }
  return hasPort && o.port !== undefined && o.hosts !== undefined ? (o as GatewayServer) : undefined;
};

export function validateGateway(spec: unknown, c: Ctx): GatewaySpec | undefined {
  const o = shape(c, spec, 'spec', { servers: list(server, { nonEmpty: true }), selector: labelMap });
  if (o === undefined || !isObject(spec)) return undefined;
  required(c, spec, 'spec', 'servers', 'a non-empty list');
  const names = new Set<string>();
  const serverNames = new Set<string>();
  (Array.isArray(spec.servers) ? spec.servers : []).forEach((x: unknown, i: number) => {
    const name = isObject(x) && typeof x.name === 'string' ? x.name : undefined;
    if (name === undefined) return;
    if (serverNames.has(name)) c.fail(`spec.servers[${i}].name`, `expected a server name unique in the Gateway, got ${JSON.stringify(name)} again`);
    serverNames.add(name);
  });
  (Array.isArray(spec.servers) ? spec.servers : []).forEach((x: unknown, i: number) => {
    const name = isObject(x) && isObject(x.port) && typeof x.port.name === 'string' ? x.port.name : undefined;
    if (name === undefined) return;
    if (names.has(name)) c.fail(`spec.servers[${i}].port.name`, `expected a port name unique among servers, got ${JSON.stringify(name)} again`);
    names.add(name);
  });
  return { servers: o.servers ?? [], selector: o.selector ?? {} };
}
