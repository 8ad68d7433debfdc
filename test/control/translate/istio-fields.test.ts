// "Nothing silently ignored" for the Istio API, table-driven: for each Istio field or enum value
// Weft classified, one YAML document goes through `weft apply`'s validation; it is either refused
// with the line that says it is not supported yet (or what to write instead), or translated, and
// then the generated xDS resource shows the field's effect and the proxy's own decoders take it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ProxyInfo, ProxyResources } from '../../../src/control/model.js';
import { CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../../src/xds/resource-types.js';
import { fqdn, gatewayProxy, sidecarProxy } from '../../helpers/bookinfo-mesh.js';
import { makePki, type TestPki } from '../../helpers/certs.js';
import { applyYaml, generateFor, meshOf, proxyRejects, resource } from '../../helpers/istio-translate.js';

type J = any; // eslint-disable-line @typescript-eslint/no-explicit-any

let pki: TestPki;
/** Certificate files the proxy's decoders can read: a server pair, the CA, a CRL. */
const files = { cert: '', key: '', ca: '', crl: '' };

before(async () => {
  pki = await makePki();
  const leaf = await pki.issue('gateway', { sans: ['DNS:bookinfo.example.com'] });
  Object.assign(files, { cert: leaf.cert, key: leaf.key, ca: pki.cert, crl: await pki.crl() });
});
after(() => pki?.close());

const doc = (kind: string, name: string, spec: string): string =>
  `apiVersion: networking.istio.io/v1\nkind: ${kind}\nmetadata: { name: ${name} }\nspec:\n${spec}\n`;
const VS = (spec: string): string => doc('VirtualService', 'r', spec);
const DR = (spec: string): string => doc('DestinationRule', 'd', spec);
const GW = (servers: string): string => doc('Gateway', 'gw', `  selector: { istio: ingressgateway }\n  servers:\n${servers}`);
const SE = (spec: string): string => doc('ServiceEntry', 'se', spec);
const SC = (spec: string): string => doc('Sidecar', 'sc', spec);
const at = (kind: string, name: string, rest: string): string => `test.yaml#1: ${kind} default/${name}: ${rest}`;
const VS_ROUTE = '  hosts: [reviews]\n  http:\n  - route: [{ destination: { host: reviews } }]\n';
const DB_SE = SE('  hosts: [db.example.com, db-replica.example.com]\n  ports: [{ number: 5432, name: tcp-pg, protocol: TCP }]\n  resolution: DNS');
const DB_EGRESS = SC('  egress:\n  - port: { number: 5432, protocol: TCP, name: pg }\n    hosts: ["*/db.example.com"]');

// ───────────────────────────── refused: not supported yet ─────────────────────────────

const refused: { field: string; yaml: string; error: string | RegExp }[] = [
  // VirtualService
  { field: 'VirtualService http[].delegate', yaml: VS(`${VS_ROUTE}    delegate: { name: reviews-routes }`),
    error: at('VirtualService', 'r', 'spec.http[0].delegate: not supported yet (VirtualService delegation)') },
  { field: 'VirtualService retries.retryRemoteLocalities', yaml: VS(`${VS_ROUTE}    retries: { attempts: 2, retryRemoteLocalities: true }`),
    error: at('VirtualService', 'r', 'spec.http[0].retries.retryRemoteLocalities: not supported yet (the proxy has no retry priority)') },
  { field: 'VirtualService retries.retryIgnorePreviousHosts', yaml: VS(`${VS_ROUTE}    retries: { attempts: 2, retryIgnorePreviousHosts: true }`),
    error: at('VirtualService', 'r', 'spec.http[0].retries.retryIgnorePreviousHosts: not supported yet (the proxy has no retry host predicate)') },
  { field: 'VirtualService match.statPrefix', yaml: VS(`${VS_ROUTE}    match: [{ statPrefix: reviews }]`),
    error: at('VirtualService', 'r', 'spec.http[0].match[0].statPrefix: not supported yet (the proxy keeps no per-route stats)') },
  { field: 'VirtualService match.headers keyed uri/scheme/method/authority (Istio ignores them)', yaml: VS(`${VS_ROUTE}    match: [{ headers: { method: { exact: GET } } }]`),
    error: at('VirtualService', 'r', 'spec.http[0].match[0].headers["method"]: expected a header name other than method (Istio ignores it here: use the match\'s method field)') },
  { field: 'VirtualService match.headers on JWT claims', yaml: VS(`${VS_ROUTE}    match: [{ headers: { "@request.auth.claims.group": { exact: admin } } }]`),
    error: at('VirtualService', 'r', 'spec.http[0].match[0].headers["@request.auth.claims.group"]: not supported yet (JWT claims arrive with RequestAuthentication)') },
  { field: 'VirtualService corsPolicy.unmatchedPreflights', yaml: VS(`${VS_ROUTE}    corsPolicy: { unmatchedPreflights: IGNORE }`),
    error: at('VirtualService', 'r', 'spec.http[0].corsPolicy.unmatchedPreflights: not supported yet') },
  { field: 'VirtualService fault.delay.exponentialDelay', yaml: VS(`${VS_ROUTE}    fault: { delay: { fixedDelay: 1s, exponentialDelay: 1s } }`),
    error: at('VirtualService', 'r', 'spec.http[0].fault.delay.exponentialDelay: not supported yet') },
  { field: 'VirtualService mirrorPercentage with mirrors', yaml: VS(`${VS_ROUTE}    mirrors: [{ destination: { host: ratings } }]\n    mirrorPercentage: { value: 10 }`),
    error: at('VirtualService', 'r', 'spec.http[0].mirrorPercentage: expected only with mirror (each of mirrors has its own percentage)') },
  { field: 'VirtualService tcp match.destinationSubnets', yaml: VS('  hosts: [db]\n  tcp:\n  - match: [{ destinationSubnets: [10.0.0.0/8] }]\n    route: [{ destination: { host: db } }]'),
    error: at('VirtualService', 'r', 'spec.tcp[0].match[0].destinationSubnets: not supported yet (the proxy does not see original destination addresses)') },
  { field: 'VirtualService tls match.sourceSubnet', yaml: VS('  hosts: [db]\n  tls:\n  - match: [{ sniHosts: [db], sourceSubnet: 10.0.0.0/8 }]\n    route: [{ destination: { host: db } }]'),
    error: at('VirtualService', 'r', 'spec.tls[0].match[0].sourceSubnet: not supported yet') },
  // DestinationRule
  { field: 'DestinationRule loadBalancer.simple PASSTHROUGH', yaml: DR('  host: reviews\n  trafficPolicy: { loadBalancer: { simple: PASSTHROUGH } }'),
    error: at('DestinationRule', 'd', 'spec.trafficPolicy.loadBalancer.simple: PASSTHROUGH is not supported yet (the proxy has no original-destination load balancing)') },
  { field: 'DestinationRule consistentHash.httpQueryParameterName', yaml: DR('  host: reviews\n  trafficPolicy: { loadBalancer: { consistentHash: { httpQueryParameterName: user } } }'),
    error: at('DestinationRule', 'd', 'spec.trafficPolicy.loadBalancer.consistentHash.httpQueryParameterName: not supported yet (the proxy has no query-parameter hash policy)') },
  { field: 'DestinationRule consistentHash.maglev.tableSize (not prime)', yaml: DR('  host: reviews\n  trafficPolicy: { loadBalancer: { consistentHash: { useSourceIp: true, maglev: { tableSize: 1000 } } } }'),
    error: at('DestinationRule', 'd', 'spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: expected a prime number below 5000011, got 1000') },
  { field: 'DestinationRule localityLbSetting.failoverPriority', yaml: DR('  host: reviews\n  trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN, localityLbSetting: { failoverPriority: [topology.kubernetes.io/region] } } }'),
    error: at('DestinationRule', 'd', 'spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority: not supported yet (the proxy does not prioritize endpoints by labels)') },
  { field: 'DestinationRule loadBalancer.warmupDurationSecs', yaml: DR('  host: reviews\n  trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN, warmupDurationSecs: 10s } }'),
    error: at('DestinationRule', 'd', 'spec.trafficPolicy.loadBalancer.warmupDurationSecs: not supported yet (the proxy has no slow-start mode)') },
  { field: 'DestinationRule connectionPool.tcp.tcpKeepalive', yaml: DR('  host: reviews\n  trafficPolicy: { connectionPool: { tcp: { tcpKeepalive: { time: 10s } } } }'),
    error: at('DestinationRule', 'd', 'spec.trafficPolicy.connectionPool.tcp.tcpKeepalive: not supported yet (the proxy sets no TCP keepalive on upstream connections)') },
  { field: 'DestinationRule connectionPool.tcp.maxConnectionDuration', yaml: DR('  host: reviews\n  trafficPolicy: { connectionPool: { tcp: { maxConnectionDuration: 1h } } }'),
    error: at('DestinationRule', 'd', 'spec.trafficPolicy.connectionPool.tcp.maxConnectionDuration: not supported yet (the proxy has no upstream max_connection_duration)') },
  { field: 'DestinationRule connectionPool.http.http2KeepAlive', yaml: DR('  host: reviews\n  trafficPolicy: { connectionPool: { http: { http2KeepAlive: { interval: 10s } } } }'),
    error: at('DestinationRule', 'd', 'spec.trafficPolicy.connectionPool.http.http2KeepAlive: not supported yet (the proxy sends no HTTP/2 keepalive PINGs upstream)') },
  { field: 'DestinationRule trafficPolicy.proxyProtocol', yaml: DR('  host: reviews\n  trafficPolicy: { proxyProtocol: { version: V1 } }'),
    error: at('DestinationRule', 'd', 'spec.trafficPolicy.proxyProtocol: not supported yet (the proxy sends no PROXY protocol header)') },
  { field: 'DestinationRule workloadSelector', yaml: DR('  host: reviews\n  workloadSelector: { matchLabels: { app: productpage } }'),
    error: at('DestinationRule', 'd', 'spec.workloadSelector: not supported yet (DestinationRules apply to every client of the host)') },
  { field: 'DestinationRule tls SIMPLE without caCertificates (Istio: the system CAs)', yaml: DR('  host: reviews\n  trafficPolicy: { tls: { mode: SIMPLE } }'),
    error: at('DestinationRule', 'd', "spec.trafficPolicy.tls.caCertificates: expected a file path: verifying the server against the system's CAs is not supported yet (or set insecureSkipVerify: true)") },
  { field: 'DestinationRule tls insecureSkipVerify with caCertificates', yaml: DR('  host: reviews\n  trafficPolicy: { tls: { mode: SIMPLE, caCertificates: /ca.pem, insecureSkipVerify: true } }'),
    error: at('DestinationRule', 'd', 'spec.trafficPolicy.tls.caCertificates: expected nothing with insecureSkipVerify: true (the server certificate is not verified)') },
  { field: 'DestinationRule tls clientCertificate with mode SIMPLE', yaml: DR('  host: reviews\n  trafficPolicy: { tls: { mode: SIMPLE, caCertificates: /ca.pem, clientCertificate: /c.pem } }'),
    error: at('DestinationRule', 'd', 'spec.trafficPolicy.tls.clientCertificate: expected only with mode MUTUAL (SIMPLE presents no client certificate)') },
  { field: 'DestinationRule outlierDetection.consecutiveLocalOriginFailures without the split', yaml: DR('  host: reviews\n  trafficPolicy: { outlierDetection: { consecutiveLocalOriginFailures: 3 } }'),
    error: at('DestinationRule', 'd', 'spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures: expected only with splitExternalLocalOriginErrors: true (local-origin failures are counted apart only then)') },
  // ServiceEntry
  { field: 'ServiceEntry resolution NONE', yaml: SE('  hosts: [api.example.com]\n  ports: [{ number: 443, name: tls, protocol: TLS }]\n  resolution: NONE'),
    error: at('ServiceEntry', 'se', 'spec.resolution: NONE is not supported yet (the proxy has no original-destination passthrough; use DNS or STATIC)') },
  { field: 'ServiceEntry resolution omitted (NONE)', yaml: SE('  hosts: [api.example.com]\n  ports: [{ number: 443, name: tls, protocol: TLS }]'),
    error: at('ServiceEntry', 'se', 'spec.resolution: expected DNS, DNS_ROUND_ROBIN or STATIC: the default, NONE, is not supported yet (the proxy has no original-destination passthrough)') },
  { field: 'ServiceEntry resolution DYNAMIC_DNS', yaml: SE('  hosts: ["*.example.com"]\n  ports: [{ number: 443, name: tls, protocol: TLS }]\n  resolution: DYNAMIC_DNS'),
    error: at('ServiceEntry', 'se', 'spec.resolution: DYNAMIC_DNS is not supported yet (the proxy has no dynamic forward proxy)') },
  { field: 'ServiceEntry addresses', yaml: SE('  hosts: [api.example.com]\n  addresses: [10.0.0.1]\n  ports: [{ number: 443, name: tls, protocol: TLS }]\n  resolution: DNS'),
    error: at('ServiceEntry', 'se', 'spec.addresses: not supported yet (apps reach services by host name through their sidecar, not by virtual IP)') },
  { field: 'ServiceEntry location MESH_INTERNAL', yaml: SE('  hosts: [api.example.com]\n  location: MESH_INTERNAL\n  ports: [{ number: 443, name: tls, protocol: TLS }]\n  resolution: DNS'),
    error: at('ServiceEntry', 'se', 'spec.location: MESH_INTERNAL is not supported yet (arrives with automatic mTLS)') },
  { field: 'ServiceEntry subjectAltNames', yaml: SE('  hosts: [api.example.com]\n  ports: [{ number: 443, name: tls, protocol: TLS }]\n  resolution: DNS\n  subjectAltNames: [spiffe://cluster.local/ns/default/sa/api]'),
    error: at('ServiceEntry', 'se', 'spec.subjectAltNames: not supported yet (arrives with automatic mTLS)') },
  { field: 'ServiceEntry workloadSelector', yaml: SE('  hosts: [api.example.com]\n  ports: [{ number: 443, name: tls, protocol: TLS }]\n  resolution: STATIC\n  workloadSelector: { labels: { app: api } }'),
    error: at('ServiceEntry', 'se', 'spec.workloadSelector: not supported yet (list the endpoints, or register the workloads as a service)') },
  { field: 'ServiceEntry endpoints[].network', yaml: SE('  hosts: [api.example.com]\n  ports: [{ number: 443, name: tls, protocol: TLS }]\n  resolution: STATIC\n  endpoints: [{ address: 10.0.0.1, network: east }]'),
    error: at('ServiceEntry', 'se', 'spec.endpoints[0].network: not supported yet (the mesh is one network)') },
  // Gateway
  { field: 'Gateway tls.mode AUTO_PASSTHROUGH', yaml: GW('  - port: { number: 15443, name: tls, protocol: TLS }\n    hosts: ["*.local"]\n    tls: { mode: AUTO_PASSTHROUGH }'),
    error: at('Gateway', 'gw', 'spec.servers[0].tls.mode: AUTO_PASSTHROUGH is not supported yet (it routes by SNI to Istio-named clusters, which needs multi-network mTLS)') },
  { field: 'Gateway tls.credentialNames', yaml: GW('  - port: { number: 443, name: https, protocol: HTTPS }\n    hosts: ["*"]\n    tls: { mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem, credentialNames: [a, b] }'),
    error: at('Gateway', 'gw', 'spec.servers[0].tls.credentialNames: not supported yet (arrives with automatic mTLS)') },
  { field: 'Gateway bind unix://', yaml: GW('  - port: { number: 80, name: http, protocol: HTTP }\n    bind: unix:///var/run/gw.sock\n    hosts: ["*"]'),
    error: at('Gateway', 'gw', 'spec.servers[0].bind: unix domain sockets are not supported yet') },
  { field: 'Gateway defaultEndpoint', yaml: GW('  - port: { number: 80, name: http, protocol: HTTP }\n    defaultEndpoint: 127.0.0.1:8080\n    hosts: ["*"]'),
    error: at('Gateway', 'gw', 'spec.servers[0].defaultEndpoint: not supported yet (gateways forward by their routes only)') },
  { field: 'Gateway httpsRedirect on an HTTPS server', yaml: GW('  - port: { number: 443, name: https, protocol: HTTPS }\n    hosts: ["*"]\n    tls: { mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem, httpsRedirect: true }'),
    error: at('Gateway', 'gw', 'spec.servers[0].tls.httpsRedirect: expected only on HTTP servers (a HTTPS server is already TLS)') },
  { field: 'Gateway minProtocolVersion above maxProtocolVersion', yaml: GW('  - port: { number: 443, name: https, protocol: HTTPS }\n    hosts: ["*"]\n    tls: { mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem, minProtocolVersion: TLSV1_3, maxProtocolVersion: TLSV1_2 }'),
    error: at('Gateway', 'gw', 'spec.servers[0].tls.minProtocolVersion: expected a version not above maxProtocolVersion (TLSV1_2), got TLSV1_3') },
  { field: 'Gateway cipherSuites unknown to OpenSSL', yaml: GW('  - port: { number: 443, name: https, protocol: HTTPS }\n    hosts: ["*"]\n    tls: { mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem, cipherSuites: [NOT-A-CIPHER] }'),
    error: /^test\.yaml#1: Gateway default\/gw: spec\.servers\[0\]\.tls\.cipherSuites: expected cipher suites OpenSSL knows \(.+\), got "NOT-A-CIPHER"$/ },
  { field: 'Gateway certificates on a PASSTHROUGH server', yaml: GW('  - port: { number: 443, name: https, protocol: HTTPS }\n    hosts: ["*"]\n    tls: { mode: PASSTHROUGH, serverCertificate: /c.pem }'),
    error: at('Gateway', 'gw', 'spec.servers[0].tls.serverCertificate: expected nothing here: PASSTHROUGH does not terminate TLS') },
  // Sidecar
  { field: 'Sidecar ingress', yaml: SC('  ingress:\n  - port: { number: 9080, protocol: HTTP, name: http }\n    defaultEndpoint: 127.0.0.1:8080'),
    error: at('Sidecar', 'sc', "spec.ingress: not supported yet (a sidecar's inbound listener sends everything to its first app port)") },
  { field: 'Sidecar outboundTrafficPolicy ALLOW_ANY', yaml: SC('  outboundTrafficPolicy: { mode: ALLOW_ANY }'),
    error: at('Sidecar', 'sc', 'spec.outboundTrafficPolicy.mode: ALLOW_ANY is not supported yet (the proxy has no original-destination passthrough; unknown hosts get 404)') },
  { field: 'Sidecar egress listener on an HTTP port', yaml: SC('  egress:\n  - port: { number: 9080, protocol: HTTP, name: http }\n    hosts: ["./*"]'),
    error: at('Sidecar', 'sc', 'spec.egress[0].port: an egress listener for HTTP on its own port is not supported yet (HTTP goes through the outbound listener: omit the port)') },
  { field: 'Sidecar egress captureMode', yaml: SC('  egress:\n  - hosts: ["./*"]\n    captureMode: NONE'),
    error: at('Sidecar', 'sc', 'spec.egress[0].captureMode: not supported yet (there is no traffic capture: apps call the sidecar)') },
  { field: 'Sidecar inboundConnectionPool', yaml: SC('  inboundConnectionPool: { http: { http1MaxPendingRequests: 10 } }'),
    error: at('Sidecar', 'sc', 'spec.inboundConnectionPool: not supported yet') },
];

for (const c of refused) {
  test(`refused — ${c.field}`, () => {
    const r = applyYaml(c.yaml);
    assert.equal(r.ok, false, `${c.field} was accepted`);
    if (r.ok) return;
    if (typeof c.error === 'string') assert.deepEqual(r.errors, [c.error]);
    else {
      assert.equal(r.errors.length, 1, r.errors.join('\n'));
      assert.match(r.errors[0]!, c.error);
    }
  });
}

// ───────────────────────────── applied: the effect in the xDS resources ─────────────────────────────

const sidecar = (): ProxyInfo => sidecarProxy('productpage');
const gateway = (): ProxyInfo => gatewayProxy();
const reviewsCluster = (res: ProxyResources): J => resource(res, CLUSTER_TYPE, `outbound|9080||${fqdn('reviews')}`);
const reviewsRoutes = (res: ProxyResources): J[] =>
  resource(res, ROUTE_TYPE, '15001').virtual_hosts.find((v: J) => v.name === `${fqdn('reviews')}:9080`).routes;
const httpOptions = (c: J): J => c.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
/** The DownstreamTlsContext of the first filter chain of a gateway listener. */
const serverTls = (res: ProxyResources, listener: string): J => resource(res, LISTENER_TYPE, listener).filter_chains[0].transport_socket.typed_config;
const https = (tls: string): string => GW(`  - port: { number: 443, name: https, protocol: HTTPS }\n    hosts: [bookinfo.example.com]\n    tls: { serverCertificate: ${files.cert}, privateKey: ${files.key}, ${tls} }`);

const applied: { field: string; yaml: () => string; proxy: () => ProxyInfo; effect: (res: ProxyResources) => void }[] = [
  // Gateway TLS
  { field: 'Gateway tls.minProtocolVersion / maxProtocolVersion', proxy: gateway, yaml: () => https('mode: SIMPLE, minProtocolVersion: TLSV1_2, maxProtocolVersion: TLSV1_3'),
    effect: (res) => assert.deepEqual(serverTls(res, '0.0.0.0_443').common_tls_context.tls_params, { tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3' }) },
  { field: 'Gateway tls.cipherSuites', proxy: gateway, yaml: () => https('mode: SIMPLE, cipherSuites: [ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-RSA-AES128-GCM-SHA256]'),
    effect: (res) => assert.deepEqual(serverTls(res, '0.0.0.0_443').common_tls_context.tls_params, { cipher_suites: ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256'] }) },
  { field: 'Gateway tls.mode OPTIONAL_MUTUAL', proxy: gateway, yaml: () => https(`mode: OPTIONAL_MUTUAL, caCertificates: ${files.ca}`),
    effect: (res) => {
      const t = serverTls(res, '0.0.0.0_443');
      assert.deepEqual(t.common_tls_context.validation_context, { trusted_ca: { filename: files.ca } });
      assert.equal(t.require_client_certificate, undefined); // a client certificate is verified when presented, not required
    } },
  { field: 'Gateway tls.mode MUTUAL with caCrl and subjectAltNames', proxy: gateway, yaml: () => https(`mode: MUTUAL, caCertificates: ${files.ca}, caCrl: ${files.crl}, subjectAltNames: [client.example.com]`),
    effect: (res) => {
      const t = serverTls(res, '0.0.0.0_443');
      assert.deepEqual(t.common_tls_context.validation_context, {
        trusted_ca: { filename: files.ca }, crl: { filename: files.crl },
        match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'client.example.com' } }],
      });
      assert.equal(t.require_client_certificate, true);
    } },
  { field: 'Gateway protocol TLS with mode SIMPLE (terminated, TCP inside)', proxy: gateway,
    yaml: () => `${GW(`  - port: { number: 9443, name: tls, protocol: TLS }\n    hosts: [db.example.com]\n    tls: { mode: SIMPLE, serverCertificate: ${files.cert}, privateKey: ${files.key} }`)}---\n${DB_SE}---\n${VS('  hosts: [db.example.com]\n  gateways: [gw]\n  tcp:\n  - route: [{ destination: { host: db.example.com, port: { number: 5432 } } }]')}`,
    effect: (res) => {
      const chain = resource(res, LISTENER_TYPE, '0.0.0.0_9443').filter_chains[0];
      assert.deepEqual(chain.filter_chain_match, { server_names: ['db.example.com'] });
      assert.equal(chain.filters[0].typed_config.cluster, 'outbound|5432||db.example.com');
      assert.deepEqual(chain.transport_socket.typed_config.common_tls_context.tls_certificates, [{ certificate_chain: { filename: files.cert }, private_key: { filename: files.key } }]);
      assert.equal(chain.transport_socket.typed_config.common_tls_context.alpn_protocols, undefined);
    } },
  { field: 'Gateway servers[].bind (one listener per address)', proxy: gateway,
    yaml: () => GW('  - port: { number: 8080, name: http-a, protocol: HTTP }\n    bind: 127.0.0.1\n    hosts: ["*"]\n  - port: { number: 8080, name: http-b, protocol: HTTP }\n    bind: 127.0.0.2\n    hosts: ["*"]'),
    effect: (res) => {
      assert.deepEqual([...res.get(LISTENER_TYPE)!.keys()].sort(), ['127.0.0.1_8080', '127.0.0.2_8080']);
      assert.deepEqual(resource(res, LISTENER_TYPE, '127.0.0.2_8080').address, { socket_address: { address: '127.0.0.2', port_value: 8080 } });
    } },
  { field: 'Gateway servers[].name (the stat prefix)', proxy: gateway, yaml: () => GW('  - port: { number: 8080, name: http, protocol: HTTP }\n    name: public-web\n    hosts: ["*"]'),
    effect: (res) => assert.equal(resource(res, LISTENER_TYPE, '0.0.0.0_8080').filter_chains[0].filters[0].typed_config.stat_prefix, 'public-web') },
  // DestinationRule
  { field: 'DestinationRule connectionPool.tcp.idleTimeout (HTTP connections)', proxy: sidecar, yaml: () => DR('  host: reviews\n  trafficPolicy: { connectionPool: { tcp: { idleTimeout: 90s } } }'),
    effect: (res) => assert.deepEqual(httpOptions(reviewsCluster(res)).common_http_protocol_options, { idle_timeout: '90s' }) },
  { field: 'DestinationRule connectionPool.tcp.idleTimeout (TCP proxy)', proxy: sidecar,
    yaml: () => `${DB_SE}---\n${DB_EGRESS}---\n${DR('  host: db.example.com\n  trafficPolicy: { connectionPool: { tcp: { idleTimeout: 5m } } }')}`,
    effect: (res) => assert.equal(resource(res, LISTENER_TYPE, '127.0.0.1_5432').filter_chains[0].filters[0].typed_config.idle_timeout, '300s') },
  { field: 'DestinationRule connectionPool.http.useClientProtocol', proxy: sidecar, yaml: () => DR('  host: reviews\n  trafficPolicy: { connectionPool: { http: { useClientProtocol: true, h2UpgradePolicy: UPGRADE } } }'),
    effect: (res) => {
      const o = httpOptions(reviewsCluster(res));
      assert.deepEqual(o.use_downstream_protocol_config, { http_protocol_options: {}, http2_protocol_options: {} });
      assert.equal(o.explicit_http_config, undefined);
    } },
  { field: 'DestinationRule connectionPool.http.maxConcurrentStreams', proxy: sidecar, yaml: () => DR('  host: reviews\n  trafficPolicy: { connectionPool: { http: { h2UpgradePolicy: UPGRADE, maxConcurrentStreams: 50 } } }'),
    effect: (res) => assert.deepEqual(httpOptions(reviewsCluster(res)).explicit_http_config, { http2_protocol_options: { max_concurrent_streams: 50 } }) },
  { field: 'DestinationRule connection pool limits of 0 (unset, as Istio)', proxy: sidecar,
    yaml: () => DR('  host: reviews\n  trafficPolicy: { connectionPool: { tcp: { maxConnections: 0 }, http: { http1MaxPendingRequests: 0, http2MaxRequests: 0, maxRetries: 0 } } }'),
    effect: (res) => assert.deepEqual(reviewsCluster(res).circuit_breakers.thresholds, [{ max_connections: 4294967295, max_pending_requests: 4294967295, max_requests: 4294967295, max_retries: 4294967295 }]) },
  { field: 'DestinationRule consistentHash.ringHash.minimumRingSize 0 (Envoy default)', proxy: sidecar, yaml: () => DR('  host: reviews\n  trafficPolicy: { loadBalancer: { consistentHash: { useSourceIp: true, ringHash: { minimumRingSize: 0 } } } }'),
    effect: (res) => {
      assert.equal(reviewsCluster(res).lb_policy, 'RING_HASH');
      assert.equal(reviewsCluster(res).ring_hash_lb_config, undefined);
    } },
  { field: 'DestinationRule tls.caCrl', proxy: sidecar, yaml: () => DR(`  host: reviews\n  trafficPolicy: { tls: { mode: SIMPLE, caCertificates: ${files.ca}, caCrl: ${files.crl} } }`),
    effect: (res) => assert.deepEqual(reviewsCluster(res).transport_socket.typed_config.common_tls_context.validation_context, { trusted_ca: { filename: files.ca }, crl: { filename: files.crl } }) },
  { field: 'DestinationRule tls.insecureSkipVerify', proxy: sidecar, yaml: () => DR('  host: reviews\n  trafficPolicy: { tls: { mode: SIMPLE, insecureSkipVerify: true, sni: reviews.example.com } }'),
    effect: (res) => assert.deepEqual(reviewsCluster(res).transport_socket.typed_config, {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', common_tls_context: {}, sni: 'reviews.example.com',
    }) },
  // VirtualService
  { field: 'VirtualService match headers / withoutHeaders / queryParams {} (presence)', proxy: sidecar,
    yaml: () => VS(`${VS_ROUTE}    match: [{ headers: { x-canary: {} }, withoutHeaders: { x-debug: {} }, queryParams: { preview: {} } }]`),
    effect: (res) => assert.deepEqual(reviewsRoutes(res)[0].match, {
      prefix: '/',
      headers: [{ name: 'x-canary', present_match: true }, { name: 'x-debug', present_match: true, invert_match: true }],
      query_parameters: [{ name: 'preview', present_match: true }],
    }) },
  { field: 'VirtualService retries.backoff', proxy: sidecar, yaml: () => VS(`${VS_ROUTE}    retries: { attempts: 3, backoff: 100ms }`),
    effect: (res) => assert.deepEqual(reviewsRoutes(res)[0].route.retry_policy.retry_back_off, { base_interval: '0.1s' }) },
  { field: 'VirtualService redirect.derivePort FROM_REQUEST_PORT', proxy: sidecar, yaml: () => VS('  hosts: [reviews]\n  http:\n  - redirect: { authority: reviews.example.com, derivePort: FROM_REQUEST_PORT }'),
    effect: (res) => assert.deepEqual(reviewsRoutes(res)[0].redirect, { host_redirect: 'reviews.example.com', port_redirect: 9080, response_code: 'MOVED_PERMANENTLY' }) },
  { field: 'VirtualService redirect.prefixRewrite', proxy: sidecar, yaml: () => VS('  hosts: [reviews]\n  http:\n  - match: [{ uri: { prefix: /old } }]\n    redirect: { prefixRewrite: /new, redirectCode: 308 }'),
    effect: (res) => assert.deepEqual(reviewsRoutes(res)[0].redirect, { prefix_rewrite: '/new', response_code: 'PERMANENT_REDIRECT' }) },
  { field: 'VirtualService directResponse.body.bytes', proxy: sidecar, yaml: () => VS('  hosts: [reviews]\n  http:\n  - directResponse: { status: 200, body: { bytes: aGVsbG8= } }'),
    effect: (res) => assert.deepEqual(reviewsRoutes(res)[0].direct_response, { status: 200, body: { inline_bytes: 'aGVsbG8=' } }) },
  { field: 'VirtualService route[].headers of a lone destination', proxy: sidecar,
    yaml: () => VS('  hosts: [reviews]\n  http:\n  - route: [{ destination: { host: reviews }, headers: { request: { set: { x-dest: r } }, response: { remove: [server] } } }]'),
    effect: (res) => {
      assert.deepEqual(reviewsRoutes(res)[0].request_headers_to_add, [{ header: { key: 'x-dest', value: 'r' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }]);
      assert.deepEqual(reviewsRoutes(res)[0].response_headers_to_remove, ['server']);
    } },
  { field: 'VirtualService tcp match.sourceLabels (sidecar egress)', proxy: sidecar,
    yaml: () => `${DB_SE}---\n${DB_EGRESS}---\n${VS('  hosts: [db.example.com]\n  tcp:\n  - match: [{ sourceLabels: { app: reviews } }]\n    route: [{ destination: { host: db-replica.example.com } }]\n  - route: [{ destination: { host: db.example.com } }]')}`,
    effect: (res) => assert.equal(resource(res, LISTENER_TYPE, '127.0.0.1_5432').filter_chains[0].filters[0].typed_config.cluster, 'outbound|5432||db.example.com') },
  { field: 'VirtualService tls routes bound to the mesh (sidecar egress)', proxy: sidecar,
    yaml: () => `${SE('  hosts: [api.example.com, api-eu.example.com]\n  ports: [{ number: 443, name: tls, protocol: TLS }]\n  resolution: DNS')}---\n`
      + `${SC('  egress:\n  - port: { number: 443, protocol: TLS, name: tls }\n    hosts: ["*/api.example.com"]')}---\n`
      + VS('  hosts: [api.example.com]\n  tls:\n  - match: [{ sniHosts: [api.example.com] }]\n    route: [{ destination: { host: api-eu.example.com } }]'),
    effect: (res) => {
      const l = resource(res, LISTENER_TYPE, '127.0.0.1_443');
      assert.deepEqual(l.listener_filters.map((f: J) => f.name), ['envoy.filters.listener.tls_inspector']);
      assert.deepEqual(l.filter_chains.map((c: J) => [c.filter_chain_match?.server_names, c.filters[0].typed_config.cluster]), [
        [['api.example.com'], 'outbound|443||api-eu.example.com'],
        [undefined, 'outbound|443||api.example.com'],
      ]);
    } },
  // Sidecar, ServiceEntry
  { field: 'Sidecar outboundTrafficPolicy REGISTRY_ONLY (no catch-all virtual host)', proxy: sidecar, yaml: () => SC('  outboundTrafficPolicy: { mode: REGISTRY_ONLY }'),
    effect: (res) => {
      const domains = resource(res, ROUTE_TYPE, '15001').virtual_hosts.flatMap((v: J) => v.domains);
      assert.ok(domains.length > 0 && !domains.includes('*'), domains.join(', '));
    } },
  { field: 'ServiceEntry resolution DNS_ROUND_ROBIN', proxy: sidecar, yaml: () => SE('  hosts: [api.example.com]\n  ports: [{ number: 443, name: tls, protocol: TLS }]\n  resolution: DNS_ROUND_ROBIN'),
    effect: (res) => {
      const c = resource(res, CLUSTER_TYPE, 'outbound|443||api.example.com');
      assert.equal(c.type, 'STRICT_DNS');
      assert.equal(c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address, 'api.example.com');
    } },
];

for (const c of applied) {
  test(`applied with effect — ${c.field}`, () => {
    const r = applyYaml(c.yaml());
    if (!r.ok) assert.fail(`${c.field} was refused:\n${r.errors.join('\n')}`);
    const res = generateFor(meshOf(r.configs), c.proxy());
    c.effect(res);
    assert.deepEqual(proxyRejects(res), [], 'the proxy decodes every generated resource');
  });
}
