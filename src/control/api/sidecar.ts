// Sidecar validation (networking.istio.io/v1 Sidecar): workload selector, ingress listeners, egress
// listeners with `namespace/host` hosts, and the outbound traffic policy, following Istio's rules.

import { Ctx, type Field, isIP, isObject, list, notYet, nsHost, oneOfSupported, port, required, shape, str } from './common.js';
import { protocol, workloadSelector } from './service-entry.js';
import type { SidecarSpec } from './types.js';

const SIDECAR_PROTOCOLS = ['HTTP', 'HTTPS', 'GRPC', 'HTTP2', 'MONGO', 'TCP', 'TLS', 'REDIS', 'MYSQL'] as const;

const sidecarPort: Field<{ number: number; protocol: string; name: string }> = (v, p, c) => {
  const o = shape(c, v, p, { number: port, protocol: protocol(SIDECAR_PROTOCOLS), name: str });
  if (o === undefined) return undefined;
  const ok = required(c, v, p, 'number', 'an integer in 1..65535') && required(c, v, p, 'protocol', `one of ${SIDECAR_PROTOCOLS.join(', ')}`);
  return ok && o.number !== undefined && o.protocol !== undefined ? { number: o.number, protocol: o.protocol, name: o.name ?? '' } : undefined;
};

/** `IP:port` or `unix://path`, where the sidecar forwards inbound traffic. */
const defaultEndpoint: Field<string> = (v, p, c) => {
  if (typeof v === 'string' && (/^(127\.0\.0\.1|0\.0\.0\.0|\[::1\]|\[::\]):\d{1,5}$/.test(v) || (v.startsWith('unix://') && v.length > 7))) {
    const n = Number(v.slice(v.lastIndexOf(':') + 1));
    if (v.startsWith('unix://') || (n >= 1 && n <= 65535)) return v;
  }
  return c.expected(p, '127.0.0.1:PORT, 0.0.0.0:PORT, [::1]:PORT or unix://path', v), undefined;
};

/** An egress listener's bind address: an IP (Istio also takes unix:// sockets). */
const bindAddress: Field<string> = (v, p, c) => {
  if (typeof v === 'string' && isIP(v)) return v;
  if (typeof v === 'string' && v.startsWith('unix://')) return c.fail(p, 'unix domain sockets are not supported yet'), undefined;
  return c.expected(p, 'an IP address', v), undefined;
};

const INGRESS_NOT_YET = "a sidecar's inbound listener sends everything to its first app port";

export function validateSidecar(spec: unknown, c: Ctx): SidecarSpec | undefined {
  const o = shape(c, spec, 'spec', {
    workloadSelector,
    // Checked for shape (so a bad document gets its real errors), then refused as a whole.
    ingress: list((x, xp, cc) => {
      const i = shape(cc, x, xp, {
        port: sidecarPort, bind: bindAddress, defaultEndpoint,
        captureMode: notYet(), tls: notYet(), connectionPool: notYet(),
      });
      return i !== undefined && required(cc, x, xp, 'port', 'a port (number, protocol, name)') && i.port !== undefined ? i : undefined;
    }),
    egress: list((x, xp, cc) => {
      const e = shape(cc, x, xp, {
        port: sidecarPort, bind: bindAddress, hosts: list(nsHost({ bare: false, tilde: true }), { nonEmpty: true }),
        captureMode: notYet('there is no traffic capture: apps call the sidecar'),
      });
      if (e?.port !== undefined && ['HTTP', 'HTTP2', 'GRPC'].includes(e.port.protocol as string)) {
        cc.fail(`${xp}.port`, `an egress listener for ${e.port.protocol as string} on its own port is not supported yet (HTTP goes through the outbound listener: omit the port)`);
        return undefined;
      }
      return e !== undefined && required(cc, x, xp, 'hosts', 'a non-empty list of namespace/host') && e.hosts !== undefined ? e : undefined;
    }),
    outboundTrafficPolicy: (x, xp, cc) => {
      const t = shape(cc, x, xp, {
        mode: oneOfSupported(['REGISTRY_ONLY'] as const, { ALLOW_ANY: 'the proxy has no original-destination passthrough; unknown hosts get 404' }),
        egressProxy: notYet(),
      });
      return t === undefined || !isObject(x) || (x.mode != null && t.mode === undefined) ? undefined : { mode: 'REGISTRY_ONLY' as const };
    },
    inboundConnectionPool: notYet(),
  });
  if (isObject(spec) && Array.isArray(spec.ingress) && spec.ingress.length > 0) c.fail('spec.ingress', `not supported yet (${INGRESS_NOT_YET})`);
  if (o === undefined || !isObject(spec)) return undefined;
  const rawEgress = Array.isArray(spec.egress) ? spec.egress : [];
  rawEgress.forEach((x: unknown, i: number) => {
    if (isObject(x) && x.port == null && i !== rawEgress.length - 1) c.fail(`spec.egress[${i}]`, 'expected a port: only the last egress listener may omit it (it catches the rest)');
  });
  const result: SidecarSpec = { ingress: o.ingress ?? [], egress: o.egress ?? [] };
  return { ...(o.workloadSelector !== undefined ? { workloadSelector: o.workloadSelector } : {}), ...result, ...(o.outboundTrafficPolicy !== undefined ? { outboundTrafficPolicy: o.outboundTrafficPolicy } : {}) };
}
