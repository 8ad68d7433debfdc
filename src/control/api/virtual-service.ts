// VirtualService validation (networking.istio.io/v1 VirtualService): structure, defaults, and the
// rules of Istio's pkg/config/validation (hosts, route/redirect/directResponse, retries, faults, ...).

import {
  Ctx, type Field, bool, compact, dnsLabel, duration, exportTo, headerMatchMap, headers, presenceOrStringMatch, requestHeaderMatchMap, host, int, isDnsLabel, isDnsSubdomain,
  isObject, join, labelMap, list, map, nonNegInt, notYet, notYetFields, oneOf, percent, port, portSelector, regex, required, shape, str, stringMatch,
} from './common.js';
import type {
  CorsPolicy, Destination, HTTPFaultInjection, HTTPMatchRequest, HTTPRedirect, HTTPRetry, HTTPRewrite, HTTPRoute, HTTPRouteDestination,
  L4MatchAttributes, RouteDestination, TCPRoute, TLSMatchAttributes, TLSRoute, VirtualServiceSpec,
} from './types.js';

/** Envoy's retry_on conditions (router filter, x-envoy-retry-on and x-envoy-retry-grpc-on), as Istio accepts them. */
export const RETRY_ON = [
  '5xx', 'gateway-error', 'reset', 'reset-before-request', 'connect-failure', 'envoy-ratelimited', 'retriable-4xx', 'refused-stream',
  'retriable-status-codes', 'retriable-headers', 'http3-post-connect-failure',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
] as const;

/** A gRPC status code name (Istio's spelling, e.g. UNAVAILABLE) or number (0..16). */
const GRPC_CODES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE',
  'DATA_LOSS', 'UNAUTHENTICATED',
];
const grpcStatus: Field<string> = (v, p, c) =>
  typeof v === 'string' && (GRPC_CODES.includes(v.toUpperCase()) || (/^\d+$/.test(v) && Number(v) <= 16)) ? v : (c.expected(p, 'a gRPC status name (UNAVAILABLE, ...) or code 0..16', v), undefined);

/** Base64 text (HTTPBody.bytes), kept as given; the proxy decodes it. */
const base64: Field<string> = (v, p, c) =>
  typeof v === 'string' && /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(v) ? v : (c.expected(p, 'base64 text', v), undefined);

/** Gateway references: `mesh`, `name` (same namespace) or `namespace/name`. */
export const gatewayRef: Field<string> = (v, p, c) => {
  if (typeof v === 'string') {
    if (v === 'mesh') return v;
    const parts = v.split('/');
    if (parts.length === 1 && isDnsSubdomain(v)) return v;
    if (parts.length === 2 && isDnsLabel(parts[0]!) && isDnsSubdomain(parts[1]!)) return v;
  }
  return c.expected(p, 'mesh, a Gateway name or namespace/name', v), undefined;
};

export const destination: Field<Destination> = (v, p, c) => {
  const o = shape(c, v, p, { host: host({ star: false }), subset: dnsLabel, port: portSelector });
  if (o === undefined || !required(c, v, p, 'host', 'a host name')) return undefined;
  return o.host === undefined ? undefined : (compact({ host: o.host, subset: o.subset, port: o.port }) as Destination);
};

const weight = int(0, 100);

const httpRouteDestination: Field<HTTPRouteDestination> = (v, p, c) => {
  const o = shape(c, v, p, { destination, weight, headers });
  if (o === undefined || !required(c, v, p, 'destination', 'a destination')) return undefined;
  return o.destination === undefined ? undefined : (compact({ destination: o.destination, weight: o.weight, headers: o.headers }) as HTTPRouteDestination);
};

const routeDestination: Field<RouteDestination> = (v, p, c) => {
  const o = shape(c, v, p, { destination, weight });
  if (o === undefined || !required(c, v, p, 'destination', 'a destination')) return undefined;
  return o.destination === undefined ? undefined : (compact({ destination: o.destination, weight: o.weight }) as RouteDestination);
};

const matchRequest: Field<HTTPMatchRequest> = (v, p, c) =>
  shape(c, v, p, {
    name: str,
    uri: stringMatch,
    scheme: stringMatch,
    method: stringMatch,
    authority: stringMatch,
    headers: requestHeaderMatchMap,
    port,
    sourceLabels: labelMap,
    gateways: list(gatewayRef),
    queryParams: map(presenceOrStringMatch),
    ignoreUriCase: bool,
    withoutHeaders: headerMatchMap,
    sourceNamespace: dnsLabel,
    statPrefix: notYet('the proxy keeps no per-route stats'),
  }) as HTTPMatchRequest | undefined;

const redirect: Field<HTTPRedirect> = (v, p, c) => {
  const o = shape(c, v, p, {
    uri: str,
    authority: str,
    port,
    derivePort: oneOf(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT'] as const),
    scheme: str,
    redirectCode: (x, xp, cc) => ([301, 302, 303, 307, 308].includes(x as number) ? (x as number) : (cc.expected(xp, 'one of 301, 302, 303, 307, 308', x), undefined)),
    prefixRewrite: str,
  });
  if (o === undefined || !isObject(v)) return undefined;
  if (v.port != null && v.derivePort != null) c.fail(p, 'expected at most one of port, derivePort, got both');
  if (v.uri != null && v.prefixRewrite != null) c.fail(p, 'expected at most one of uri, prefixRewrite, got both');
  if (v.uri == null && v.prefixRewrite == null && v.authority == null && v.scheme == null && v.port == null && v.derivePort == null) {
    c.fail(p, 'expected at least one of uri, prefixRewrite, authority, scheme, port, derivePort');
  }
  return o as HTTPRedirect;
};

const rewrite: Field<HTTPRewrite> = (v, p, c) => {
  const o = shape(c, v, p, {
    uri: str,
    authority: str,
    uriRegexRewrite: (x, xp, cc) => {
      const r = shape(cc, x, xp, { match: regex, rewrite: str });
      if (r === undefined) return undefined;
      const ok = required(cc, x, xp, 'match', 'a regular expression') && required(cc, x, xp, 'rewrite', 'a string');
      return ok && r.match !== undefined && r.rewrite !== undefined ? { match: r.match, rewrite: r.rewrite } : undefined;
    },
  });
  if (o === undefined || !isObject(v)) return undefined;
  if (v.uri != null && v.uriRegexRewrite != null) c.fail(p, 'expected at most one of uri, uriRegexRewrite, got both');
  if (v.uri == null && v.authority == null && v.uriRegexRewrite == null) c.fail(p, 'expected at least one of uri, authority, uriRegexRewrite');
  return o as HTTPRewrite;
};

const retryOn: Field<string> = (v, p, c) => {
  if (typeof v !== 'string' || v === '') return c.expected(p, 'a comma-separated list of retry conditions', v), undefined;
  let ok = true;
  for (const raw of v.split(',')) {
    const item = raw.trim();
    const status = /^\d+$/.test(item) ? Number(item) : NaN;
    if ((RETRY_ON as readonly string[]).includes(item) || (status >= 100 && status <= 599)) continue;
    c.expected(p, `retry conditions among ${RETRY_ON.join(', ')} or HTTP status codes 100..599`, item);
    ok = false;
  }
  return ok ? v : undefined;
};

const retries: Field<HTTPRetry> = (v, p, c) => {
  const o = shape(c, v, p, {
    attempts: nonNegInt, perTryTimeout: duration(1), retryOn, backoff: duration(1),
    retryRemoteLocalities: notYet('the proxy has no retry priority'),
    retryIgnorePreviousHosts: notYet('the proxy has no retry host predicate'),
  });
  if (o === undefined || !isObject(v)) return undefined;
  // As in Istio, absent attempts are 0 (retries disabled), and then nothing else may be set.
  if (v.attempts == null) o.attempts = 0;
  else if (o.attempts === undefined) return undefined;
  const others = ['perTryTimeout', 'retryOn', 'backoff'].filter((k) => v[k] != null);
  if (o.attempts === 0 && others.length > 0) {
    c.fail(join(p, 'attempts'), `expected an integer ≥ 1 when ${others.join(', ')} ${others.length > 1 ? 'are' : 'is'} set (0 or none disables retries)`);
  }
  return o as HTTPRetry;
};

const fault: Field<HTTPFaultInjection> = (v, p, c) => {
  const o = shape(c, v, p, {
    delay: (x, xp, cc) => {
      const d = shape(cc, x, xp, {
        fixedDelay: duration(1), percentage: percent,
        percent: notYet('deprecated in Istio: use percentage'), exponentialDelay: notYet(),
      });
      if (d === undefined || !required(cc, x, xp, 'fixedDelay', 'a duration like 1.5s, 100ms, 1m or 2h (at least 1ms)')) return undefined;
      return d.fixedDelay === undefined ? undefined : d;
    },
    abort: (x, xp, cc) => {
      const a = shape(cc, x, xp, { httpStatus: int(200, 599), grpcStatus: grpcStatus, percentage: percent, http2Error: notYet() });
      if (a === undefined || !isObject(x)) return undefined;
      if ((x.httpStatus == null) === (x.grpcStatus == null)) {
        cc.fail(xp, `expected exactly one of httpStatus, grpcStatus, got ${x.httpStatus == null ? 'none' : 'both'}`);
        return undefined;
      }
      return a;
    },
  });
  if (o === undefined || !isObject(v)) return undefined;
  if (v.delay == null && v.abort == null) c.fail(p, 'expected at least one of delay, abort');
  return o as HTTPFaultInjection;
};

const corsPolicy: Field<CorsPolicy> = (v, p, c) =>
  shape(c, v, p, {
    allowOrigins: list(stringMatch),
    allowMethods: list(str),
    allowHeaders: list(str),
    exposeHeaders: list(str),
    maxAge: duration(0),
    allowCredentials: bool,
    allowOrigin: notYet('deprecated in Istio: use allowOrigins'),
    unmatchedPreflights: notYet(),
  }) as CorsPolicy | undefined;

const httpRoute: Field<HTTPRoute> = (v, p, c) => {
  const o = shape(c, v, p, {
    name: str,
    match: list(matchRequest),
    route: list(httpRouteDestination),
    redirect,
    directResponse: (x, xp, cc) => {
      const d = shape(cc, x, xp, {
        status: int(200, 599),
        body: (b, bp, bc) => {
          const r = shape(bc, b, bp, { string: str, bytes: base64 });
          if (r === undefined || !isObject(b)) return undefined;
          if ((b.string == null) === (b.bytes == null)) return bc.fail(bp, `expected exactly one of string, bytes, got ${b.string == null ? 'none' : 'both'}`), undefined;
          return r.string !== undefined ? { string: r.string } : r.bytes !== undefined ? { bytes: r.bytes } : undefined;
        },
      });
      return d !== undefined && required(cc, x, xp, 'status', 'an integer in 200..599') && d.status !== undefined ? d : undefined;
    },
    rewrite,
    timeout: duration(0),
    retries,
    fault,
    mirror: destination,
    mirrors: list((x, xp, cc) => {
      const m = shape(cc, x, xp, { destination, percentage: percent });
      return m !== undefined && required(cc, x, xp, 'destination', 'a destination') && m.destination !== undefined ? m : undefined;
    }),
    mirrorPercentage: percent,
    corsPolicy,
    headers,
    delegate: notYet('VirtualService delegation'),
    mirrorPercent: notYet('deprecated in Istio: use mirrorPercentage'),
  });
  if (o === undefined || !isObject(v)) return undefined;
  const routeGiven = Array.isArray(v.route) && v.route.length > 0;
  const actions = [routeGiven && 'route', v.redirect != null && 'redirect', v.directResponse != null && 'directResponse'].filter((x) => x !== false);
  if (actions.length !== 1) {
    c.fail(p, `expected exactly one of route, redirect, directResponse, got ${actions.length === 0 ? 'none' : actions.join(' and ')}`);
  }
  if (v.rewrite != null && !routeGiven) c.fail(join(p, 'rewrite'), 'expected only with route (not with redirect or directResponse)');
  if (v.fault != null && !routeGiven) c.fail(join(p, 'fault'), 'expected only with route (not with redirect or directResponse)');
  if (v.mirror != null && v.mirrors != null) c.fail(p, 'expected at most one of mirror, mirrors, got both');
  if (v.mirrorPercentage != null && v.mirror == null) c.fail(join(p, 'mirrorPercentage'), 'expected only with mirror (each of mirrors has its own percentage)');
  return { ...o, match: o.match ?? [], route: o.route ?? [] } as HTTPRoute;
};

const l4Fields = {
  destinationSubnets: notYet('the proxy does not see original destination addresses'),
  sourceSubnet: notYet(),
  port,
  sourceLabels: labelMap,
  gateways: list(gatewayRef),
  sourceNamespace: dnsLabel,
};

const tcpRoute: Field<TCPRoute> = (v, p, c) => {
  const o = shape(c, v, p, { match: list((x, xp, cc) => shape(cc, x, xp, l4Fields) as L4MatchAttributes | undefined), route: list(routeDestination, { nonEmpty: true }) });
  if (o === undefined || !required(c, v, p, 'route', 'a non-empty list')) return undefined;
  return { match: o.match ?? [], route: o.route ?? [] };
};

const tlsRoute: Field<TLSRoute> = (v, p, c) => {
  const tlsMatch: Field<TLSMatchAttributes> = (x, xp, cc) => {
    const m = shape(cc, x, xp, { ...l4Fields, sniHosts: list(host({ star: true }), { nonEmpty: true }) });
    if (m === undefined || !required(cc, x, xp, 'sniHosts', 'a non-empty list') || m.sniHosts === undefined) return undefined;
    return m as TLSMatchAttributes;
  };
  const o = shape(c, v, p, { match: list(tlsMatch, { nonEmpty: true }), route: list(routeDestination, { nonEmpty: true }) });
  if (o === undefined) return undefined;
  const ok = required(c, v, p, 'match', 'a non-empty list of SNI matches') && required(c, v, p, 'route', 'a non-empty list');
  return ok ? { match: o.match ?? [], route: o.route ?? [] } : undefined;
};

export function validateVirtualService(spec: unknown, c: Ctx): VirtualServiceSpec | undefined {
  const o = shape(c, spec, 'spec', {
    hosts: list(host({ star: true, ip: true }), { nonEmpty: true }),
    gateways: list(gatewayRef),
    http: list(httpRoute),
    tcp: list(tcpRoute),
    tls: list(tlsRoute),
    exportTo,
  });
  if (o === undefined || !isObject(spec)) return undefined;
  required(c, spec, 'spec', 'hosts', 'a non-empty list');
  const gateways: string[] = o.gateways ?? [];
  const hosts: string[] = o.hosts ?? [];
  const meshBound = gateways.length === 0 || gateways.includes('mesh');
  (Array.isArray(spec.hosts) ? spec.hosts : []).forEach((h: unknown, i: number) => {
    if (h === '*' && meshBound) c.fail(`spec.hosts[${i}]`, 'expected a specific host: * is allowed only for VirtualServices bound to gateways (not mesh)');
  });
  // Istio: each TLS route's SNI hosts must fall within the VirtualService's hosts.
  (o.tls ?? []).forEach((r: TLSRoute, i: number) => r.match.forEach((m, j) => m.sniHosts.forEach((sni, k) => {
    if (!hosts.some((h) => sniWithin(sni, h))) c.expected(`spec.tls[${i}].match[${j}].sniHosts[${k}]`, `an SNI host within spec.hosts (${hosts.join(', ')})`, sni);
  })));
  const nonEmpty = (k: string) => Array.isArray(spec[k]) && (spec[k] as unknown[]).length > 0;
  if (!nonEmpty('http') && !nonEmpty('tcp') && !nonEmpty('tls')) c.fail('spec', 'expected at least one of http, tcp, tls routes');
  return { hosts, gateways, http: o.http ?? [], tcp: o.tcp ?? [], tls: o.tls ?? [], exportTo: o.exportTo ?? [] };
}

/** Whether every name `sni` matches is also matched by `host` (both may be `*` or `*.suffix`). */
function sniWithin(sni: string, host: string): boolean {
  if (host === '*' || sni === host) return true;
  if (!host.startsWith('*.')) return false;
  const suffix = host.slice(1);
  return sni.startsWith('*.') ? sni.slice(1).endsWith(suffix) : sni.endsWith(suffix);
}
