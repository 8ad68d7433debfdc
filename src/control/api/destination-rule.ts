// DestinationRule validation (networking.istio.io/v1 DestinationRule): host, subsets, and traffic
// policies (load balancer, connection pool, outlier detection, client TLS) following Istio's rules.

import {
  Ctx, type Field, bool, compact, dnsLabel, duration, exportTo, filePath, host, int, isObject, join, labelMap, list, map, nonNegInt,
  notYet, notYetFields, oneOf, oneOfSupported, portSelector, required, shape, str,
} from './common.js';
import type { ClientTLSSettings, ConnectionPoolSettings, DestinationRuleSpec, LoadBalancerSettings, OutlierDetection, Subset, TrafficPolicy } from './types.js';

export const NOT_YET_MTLS = 'not supported yet (arrives with automatic mTLS)';

/** Envoy's largest ring (RingHashLbConfig.maximum_ring_size's ceiling) and Istio's Maglev table bound. */
const MAX_RING_SIZE = 8_388_608;
const MAX_MAGLEV_TABLE_SIZE = 5_000_011;

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/** Istio: a Maglev table size is required, prime and below 5000011. */
const maglevTableSize: Field<number> = (v, p, c) =>
  typeof v === 'number' && Number.isInteger(v) && v < MAX_MAGLEV_TABLE_SIZE && isPrime(v) ? v : (c.expected(p, `a prime number below ${MAX_MAGLEV_TABLE_SIZE}`, v), undefined);

const nonZeroDuration = duration(1);
const NOT_YET_PLAIN = 'not supported yet';

const consistentHash: Field<NonNullable<LoadBalancerSettings['consistentHash']>> = (v, p, c) => {
  const o = shape(c, v, p, {
    httpHeaderName: str,
    httpCookie: (x, xp, cc) => {
      const k = shape(cc, x, xp, { name: str, path: str, ttl: duration(0), attributes: notYet('the proxy sets no cookie attributes') });
      return k !== undefined && required(cc, x, xp, 'name', 'a cookie name') && k.name !== undefined ? k : undefined;
    },
    useSourceIp: bool,
    httpQueryParameterName: notYet('the proxy has no query-parameter hash policy'),
    ringHash: (x, xp, cc) => shape(cc, x, xp, { minimumRingSize: int(0, MAX_RING_SIZE) }),
    maglev: (x, xp, cc) => {
      const m = shape(cc, x, xp, { tableSize: maglevTableSize });
      return m !== undefined && required(cc, x, xp, 'tableSize', `a prime number below ${MAX_MAGLEV_TABLE_SIZE}`) && m.tableSize !== undefined ? m : undefined;
    },
    minimumRingSize: int(0, MAX_RING_SIZE),
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
    failoverPriority: notYet('the proxy does not prioritize endpoints by labels'),
    enabled: bool,
  });
  if (o === undefined || !isObject(v)) return undefined;
  if (v.distribute != null && v.failover != null) c.fail(p, 'expected at most one of distribute, failover, got both');
  return o;
};

const loadBalancer: Field<LoadBalancerSettings> = (v, p, c) => {
  const o = shape(c, v, p, {
    simple: oneOfSupported(['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'ROUND_ROBIN', 'LEAST_REQUEST'] as const, {
      PASSTHROUGH: 'the proxy has no original-destination load balancing',
    }),
    consistentHash,
    localityLbSetting,
    ...notYetFields(['warmupDurationSecs', 'warmup'], 'the proxy has no slow-start mode'),
    zoneAwareLbSetting: notYet(),
  });
  if (o === undefined || !isObject(v)) return undefined;
  const policies = ['simple', 'consistentHash'].filter((k) => v[k] != null);
  if (policies.length > 1 || (policies.length === 0 && v.localityLbSetting == null)) {
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
        tcpKeepalive: notYet('the proxy sets no TCP keepalive on upstream connections'),
        maxConnectionDuration: notYet('the proxy has no upstream max_connection_duration'),
        idleTimeout: duration(0),
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
        http2KeepAlive: notYet('the proxy sends no HTTP/2 keepalive PINGs upstream'),
      }),
  }) as ConnectionPoolSettings | undefined;

const outlierDetection: Field<OutlierDetection> = (v, p, c) => {
  const o = shape(c, v, p, {
    consecutiveGatewayErrors: nonNegInt,
    consecutive5xxErrors: nonNegInt,
    interval: nonZeroDuration,
    baseEjectionTime: nonZeroDuration,
    maxEjectionPercent: int(0, 100),
    minHealthPercent: int(0, 100),
    splitExternalLocalOriginErrors: bool,
    consecutiveLocalOriginFailures: nonNegInt,
    consecutiveErrors: notYet('deprecated in Istio: use consecutive5xxErrors'),
    outlierDetectionHttpErrorCodes: notYet('the proxy counts only 5xx and gateway errors'),
  }) as OutlierDetection | undefined;
  if (o !== undefined && o.consecutiveLocalOriginFailures !== undefined && o.splitExternalLocalOriginErrors !== true) {
    c.fail(join(p, 'consecutiveLocalOriginFailures'), 'expected only with splitExternalLocalOriginErrors: true (local-origin failures are counted apart only then)');
  }
  return o;
};

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
    caCrl: filePath,
  });
  if (o === undefined || !isObject(v)) return undefined;
  o.mode ??= v.mode == null ? 'DISABLE' : undefined;
  if (o.mode === 'ISTIO_MUTUAL') {
    // Istio: the mesh's own certificates are used; only sni and subjectAltNames may be given.
    for (const k of ['clientCertificate', 'privateKey', 'caCertificates', 'credentialName', 'insecureSkipVerify', 'caCrl']) {
      if (v[k] != null) c.fail(join(p, k), 'expected nothing with mode ISTIO_MUTUAL (the mesh certificates and root are used)');
    }
  }
  const cred = v.credentialName != null && (o.mode === 'SIMPLE' || o.mode === 'MUTUAL');
  if (cred) {
    // Istio: the certificate, key and CA all come from the Secret (NAME, or NAME-cacert for the CA).
    for (const k of ['clientCertificate', 'privateKey', 'caCertificates', 'caCrl']) {
      if (v[k] != null) c.fail(join(p, k), 'expected nothing with credentialName (the Secret holds the certificates)');
    }
  }
  if (o.mode === 'MUTUAL' && !cred) {
    required(c, v, p, 'clientCertificate', 'a file path (required for MUTUAL)');
    required(c, v, p, 'privateKey', 'a file path (required for MUTUAL)');
  }
  if (o.mode === 'SIMPLE') {
    for (const k of ['clientCertificate', 'privateKey']) if (v[k] != null) c.fail(join(p, k), 'expected only with mode MUTUAL (SIMPLE presents no client certificate)');
  }
  if (o.mode === 'SIMPLE' || o.mode === 'MUTUAL') {
    // Istio verifies the server against the system's CAs when no caCertificates are given; the
    // proxy has no system trust store, so the CA file is required (or verification is skipped on purpose).
    if (o.insecureSkipVerify === true) {
      for (const k of ['caCertificates', 'subjectAltNames', 'caCrl']) {
        if (v[k] != null) c.fail(join(p, k), 'expected nothing with insecureSkipVerify: true (the server certificate is not verified)');
      }
    } else if (v.caCertificates == null && !cred) {
      c.fail(join(p, 'caCertificates'), `expected a file path: verifying the server against the system's CAs is ${NOT_YET_PLAIN} (or set insecureSkipVerify: true)`);
    }
  } else {
    for (const k of ['clientCertificate', 'privateKey', 'caCertificates', 'credentialName', 'subjectAltNames', 'sni', 'insecureSkipVerify', 'caCrl']) {
      if (v[k] != null && o.mode === 'DISABLE') c.fail(join(p, k), 'expected nothing with mode DISABLE (no TLS is used)');
    }
  }
  return o.mode === undefined ? undefined : (o as ClientTLSSettings);
};

const policyFields = {
  loadBalancer, connectionPool, outlierDetection, tls: clientTls,
  tunnel: notYet('the proxy has no upstream CONNECT tunnels'),
  proxyProtocol: notYet('the proxy sends no PROXY protocol header'),
  retryBudget: notYet('the proxy has no retry budgets'),
};

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
  const o = shape(c, spec, 'spec', {
    host: host({ star: false }), trafficPolicy, subsets: list(subset), exportTo,
    workloadSelector: notYet('DestinationRules apply to every client of the host'),
  });
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
