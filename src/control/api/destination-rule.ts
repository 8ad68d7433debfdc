// DestinationRule validation (networking.istio.io/v1 DestinationRule): host, subsets, and traffic
// policies (load balancer, connection pool, outlier detection, client TLS) following Istio's rules.

import {
  Ctx, type Field, bool, compact, dnsLabel, duration, exportTo, filePath, host, int, isObject, join, labelMap, list, map, nonNegInt,
  num, oneOf, portSelector, required, shape, str,
} from './common.js';
import type { ClientTLSSettings, ConnectionPoolSettings, DestinationRuleSpec, LoadBalancerSettings, OutlierDetection, Subset, TrafficPolicy } from './types.js';

export const NOT_YET_MTLS = 'not supported yet (arrives with automatic mTLS)';

const nonZeroDuration = duration(1);

const consistentHash: Field<NonNullable<LoadBalancerSettings['consistentHash']>> = (v, p, c) => {
  const o = shape(c, v, p, {
    httpHeaderName: str,
    httpCookie: (x, xp, cc) => {
      const k = shape(cc, x, xp, { name: str, path: str, ttl: duration(0) });
      return k !== undefined && required(cc, x, xp, 'name', 'a cookie name') && k.name !== undefined ? k : undefined;
    },
    useSourceIp: bool,
    httpQueryParameterName: str,
    ringHash: (x, xp, cc) => shape(cc, x, xp, { minimumRingSize: nonNegInt }),
    maglev: (x, xp, cc) => shape(cc, x, xp, { tableSize: nonNegInt }),
    minimumRingSize: nonNegInt,
  });
  if (o === undefined || !isObject(v)) return undefined;
  const keys = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'].filter((k) => v[k] != null);
  if (keys.length !== 1) c.fail(p, `expected exactly one hash key of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName, got ${keys.length === 0 ? 'none' : keys.join(' and ')}`);
  const algos = ['ringHash', 'maglev', 'minimumRingSize'].filter((k) => v[k] != null);
  if (algos.length > 1) c.fail(p, `expected at most one of ringHash, maglev, minimumRingSize, got ${algos.join(' and ')}`);
  return o;
};

const localityLbSetting: Field<NonNullable<LoadBalancerSettings['localityLbSetting']>> = (v, p, c) => {
  const o = shape(c, v, p, {
    distribute: list((x, xp, cc) => {
      const d = shape(cc, x, xp, { from: str, to: map(int(0, 100)) });
      if (d === undefined || !required(cc, x, xp, 'from', 'a locality') || !required(cc, x, xp, 'to', 'a map of locality to weight')) return undefined;
      const sum = Object.values(d.to ?? {}).reduce((a: number, b) => a + (b as number), 0);
      if (d.to !== undefined && sum !== 100) cc.fail(join(xp, 'to'), `expected weights that add up to 100, got ${sum}`);
      return d;
    }),
    failover: list((x, xp, cc) => {
      const f = shape(cc, x, xp, { from: str, to: str });
      return f !== undefined && required(cc, x, xp, 'from', 'a region') && required(cc, x, xp, 'to', 'a region') ? f : undefined;
    }),
    failoverPriority: list(str),
    enabled: bool,
  });
  if (o === undefined || !isObject(v)) return undefined;
  if (v.distribute != null && v.failover != null) c.fail(p, 'expected at most one of distribute, failover, got both');
  return o;
};

const loadBalancer: Field<LoadBalancerSettings> = (v, p, c) => {
  const o = shape(c, v, p, {
    simple: oneOf(['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST'] as const),
    consistentHash,
    localityLbSetting,
    warmupDurationSecs: duration(0),
  });
  if (o === undefined || !isObject(v)) return undefined;
  const policies = ['simple', 'consistentHash'].filter((k) => v[k] != null);
  if (policies.length > 1 || (policies.length === 0 && v.localityLbSetting == null && v.warmupDurationSecs == null)) {
    c.fail(p, `expected exactly one of simple, consistentHash, got ${policies.length === 0 ? 'none' : policies.join(' and ')}`);
  }
  return o as LoadBalancerSettings;
};

const connectionPool: Field<ConnectionPoolSettings> = (v, p, c) =>
  shape(c, v, p, {
    tcp: (x, xp, cc) =>
      shape(cc, x, xp, {
        maxConnections: nonNegInt,
        connectTimeout: nonZeroDuration,
        tcpKeepalive: (k, kp, kc) => shape(kc, k, kp, { probes: nonNegInt, time: nonZeroDuration, interval: nonZeroDuration }),
        maxConnectionDuration: nonZeroDuration,
        idleTimeout: nonZeroDuration,
      }),
    http: (x, xp, cc) =>
      shape(cc, x, xp, {
        http1MaxPendingRequests: nonNegInt,
        http2MaxRequests: nonNegInt,
        maxRequestsPerConnection: nonNegInt,
        maxRetries: nonNegInt,
        idleTimeout: nonZeroDuration,
        h2UpgradePolicy: oneOf(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'] as const),
        useClientProtocol: bool,
        maxConcurrentStreams: nonNegInt,
      }),
  }) as ConnectionPoolSettings | undefined;

const outlierDetection: Field<OutlierDetection> = (v, p, c) =>
  shape(c, v, p, {
    consecutiveGatewayErrors: nonNegInt,
    consecutive5xxErrors: nonNegInt,
    interval: nonZeroDuration,
    baseEjectionTime: nonZeroDuration,
    maxEjectionPercent: int(0, 100),
    minHealthPercent: int(0, 100),
    splitExternalLocalOriginErrors: bool,
    consecutiveLocalOriginFailures: nonNegInt,
  }) as OutlierDetection | undefined;

const clientTls: Field<ClientTLSSettings> = (v, p, c) => {
  const o = shape(c, v, p, {
    mode: oneOf(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'] as const),
    clientCertificate: filePath,
    privateKey: filePath,
    caCertificates: filePath,
    credentialName: str,
    subjectAltNames: list(str),
    sni: str,
    insecureSkipVerify: bool,
  });
  if (o === undefined || !isObject(v)) return undefined;
  o.mode ??= v.mode == null ? 'DISABLE' : undefined;
  if (o.mode === 'ISTIO_MUTUAL') c.fail(join(p, 'mode'), `ISTIO_MUTUAL is ${NOT_YET_MTLS}`);
  if (v.credentialName != null) c.fail(join(p, 'credentialName'), NOT_YET_MTLS);
  if (o.mode === 'MUTUAL') {
    required(c, v, p, 'clientCertificate', 'a file path (required for MUTUAL)');
    required(c, v, p, 'privateKey', 'a file path (required for MUTUAL)');
  }
  return o.mode === undefined ? undefined : (o as ClientTLSSettings);
};

const policyFields = { loadBalancer, connectionPool, outlierDetection, tls: clientTls };

const trafficPolicy: Field<TrafficPolicy> = (v, p, c) => {
  const o = shape(c, v, p, {
    ...policyFields,
    portLevelSettings: list((x, xp, cc) => {
      const s = shape(cc, x, xp, { ...policyFields, port: portSelector });
      return s !== undefined && required(cc, x, xp, 'port', 'a port selector') && s.port !== undefined ? s : undefined;
    }),
  });
  if (o === undefined) return undefined;
  const seen = new Set<number>();
  (o.portLevelSettings ?? []).forEach((s: { port: { number: number } }, i: number) => {
    if (seen.has(s.port.number)) c.fail(`${p}.portLevelSettings[${i}].port.number`, `expected a port not listed before, got ${s.port.number} again`);
    seen.add(s.port.number);
  });
  return o as TrafficPolicy;
};

const subset: Field<Subset> = (v, p, c) => {
  const o = shape(c, v, p, { name: dnsLabel, labels: labelMap, trafficPolicy });
  if (o === undefined || !isObject(v)) return undefined;
  const named = required(c, v, p, 'name', 'a DNS-1123 label');
  if (isObject(v.labels) && Object.keys(v.labels).length === 0) c.expected(join(p, 'labels'), 'a non-empty label map', v.labels);
  else required(c, v, p, 'labels', 'a non-empty label map');
  return named && o.name !== undefined ? (compact({ name: o.name, labels: o.labels ?? {}, trafficPolicy: o.trafficPolicy }) as Subset) : undefined;
};

export function validateDestinationRule(spec: unknown, c: Ctx): DestinationRuleSpec | undefined {
  const o = shape(c, spec, 'spec', { host: host({ star: false }), trafficPolicy, subsets: list(subset), exportTo });
  if (o === undefined || !isObject(spec)) return undefined;
  required(c, spec, 'spec', 'host', 'a host name');
  const subsets: Subset[] = o.subsets ?? [];
  const seen = new Set<string>();
  (Array.isArray(spec.subsets) ? spec.subsets : []).forEach((x: unknown, i: number) => {
    const name = isObject(x) ? x.name : undefined;
    if (typeof name !== 'string') return;
    if (seen.has(name)) c.fail(`spec.subsets[${i}].name`, `expected a unique subset name, got ${JSON.stringify(name)} again`);
    seen.add(name);
  });
  return compact({ host: o.host ?? '', trafficPolicy: o.trafficPolicy, subsets, exportTo: o.exportTo ?? [] }) as DestinationRuleSpec;
}
