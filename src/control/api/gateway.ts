// Gateway validation (networking.istio.io/v1 Gateway): servers with ports, protocols, `ns/host`
// hosts and TLS settings (HTTPS needs certificate files; MUTUAL also a CA), as Istio checks them.

import { Ctx, type Field, bool, filePath, isObject, join, labelMap, list, nsHost, oneOf, port, required, shape, str } from './common.js';
import { NOT_YET_MTLS } from './destination-rule.js';
import { PORT_PROTOCOLS, protocol } from './service-entry.js';
import type { GatewayServer, GatewaySpec, ServerTLSSettings } from './types.js';

const TLS_VERSIONS = ['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'] as const;

const serverTls: Field<ServerTLSSettings> = (v, p, c) => {
  const o = shape(c, v, p, {
    httpsRedirect: bool,
    mode: oneOf(['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL'] as const),
    serverCertificate: filePath,
    privateKey: filePath,
    caCertificates: filePath,
    credentialName: str,
    subjectAltNames: list(str),
    minProtocolVersion: oneOf(TLS_VERSIONS),
    maxProtocolVersion: oneOf(TLS_VERSIONS),
    cipherSuites: list(str),
  });
  if (o === undefined || !isObject(v)) return undefined;
  if (o.mode === 'ISTIO_MUTUAL') c.fail(join(p, 'mode'), `ISTIO_MUTUAL is ${NOT_YET_MTLS}`);
  if (v.credentialName != null) c.fail(join(p, 'credentialName'), NOT_YET_MTLS);
  return o as ServerTLSSettings;
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
    bind: str,
    hosts: list(nsHost({ bare: true, tilde: false }), { nonEmpty: true }),
    tls: serverTls,
    name: str,
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
      if (mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') {
        required(c, v.tls, tp, 'serverCertificate', `a file path (required for ${mode})`);
        required(c, v.tls, tp, 'privateKey', `a file path (required for ${mode})`);
      }
      if (mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') required(c, v.tls, tp, 'caCertificates', `a file path (required for ${mode})`);
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
  (Array.isArray(spec.servers) ? spec.servers : []).forEach((x: unknown, i: number) => {
    const name = isObject(x) && isObject(x.port) && typeof x.port.name === 'string' ? x.port.name : undefined;
    if (name === undefined) return;
    if (names.has(name)) c.fail(`spec.servers[${i}].port.name`, `expected a port name unique among servers, got ${JSON.stringify(name)} again`);
    names.add(name);
  });
  return { servers: o.servers ?? [], selector: o.selector ?? {} };
}
