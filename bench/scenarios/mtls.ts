// Scenario l of `npm run bench` ("mtls-sidecars", issue 10's mTLS target): HTTP/1.1 keep-alive
// through two Weft sidecars, once in plaintext and once over mesh mTLS, and the ratio of their CPU
// per request (target: mTLS ≤ 1.25× plaintext). wrk → outbound Weft (HTTP/1.1) → inbound Weft →
// nginx upstream. The mTLS chain is Istio's ISTIO_MUTUAL shape: the outbound cluster has an
// UpstreamTlsContext with a SPIFFE client certificate, the mesh root, a URI SAN matcher and ALPN
// `istio-http/1.1`; the inbound listener a DownstreamTlsContext requiring a client certificate from
// the mesh root (alpn h2, http/1.1: the marker is selected, src/proxy/tls/downstream.ts).
// Certificates come from Weft's own X.509 code (src/security/x509.ts), ECDSA P-256, as the mesh CA
// issues them. Both hops of a chain are pinned to the proxy core; CPU is both hops together.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { stringify } from 'yaml';
import { wrk, type LoadRun } from '../lib/loadgen.js';
import { nginxUpstreamConf } from '../lib/peers.js';
import type { Stack } from '../lib/stack.js';
import { createRootCertificate, generateKeyPair, issueCertificate } from '../../src/security/x509.js';
import { spiffeId } from '../../src/security/spiffe.js';
import {
  addCandidateChain,
  BODY_BYTES,
  http1Probe,
  LOAD_CPU,
  loads,
  PORT,
  PROXY_CPU,
  ready,
  rounds,
  withStack,
  type ByRole,
  type ProtocolOptions,
  type ProtocolResult,
  type Target,
} from './protocol-common.js';

type Obj = Record<string, unknown>;
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const DAY = 86_400_000;

interface MeshFiles { root: string; client: { cert: string; key: string }; server: { cert: string; key: string } }

/** A mesh root and two workload certificates (SPIFFE URI SAN only, empty subject), written to the stack dir. */
async function meshCerts(stack: Stack): Promise<MeshFiles> {
  const root = generateKeyPair();
  const rootPem = await createRootCertificate(root, 'O=cluster.local', DAY);
  const leaf = async (sa: string): Promise<{ cert: string; key: string }> => {
    const kp = generateKeyPair();
    const cert = await issueCertificate({
      issuerCertPem: rootPem, issuerKey: root.privateKey, publicKey: kp.publicKey, ttlMs: DAY,
      uris: [spiffeId({ trustDomain: 'cluster.local', namespace: 'default', serviceAccount: sa })],
    });
    return { cert: stack.write(`${sa}.pem`, cert, false), key: stack.write(`${sa}.key`, kp.privateKeyPem, false) };
  };
  return { root: stack.write('root.pem', rootPem, false), client: await leaf('client'), server: await leaf('server') };
}

function bootstrapYaml(name: string, listenPort: number, to: number, o: { downstreamTls?: Obj; upstreamTls?: Obj }): string {
  return stringify({
    static_resources: {
      listeners: [{
        name,
        address: { socket_address: { address: '127.0.0.1', port_value: listenPort } },
        filter_chains: [{
          filters: [{
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM, stat_prefix: name, codec_type: 'AUTO',
              route_config: { name: 'local', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'next' } }] }] },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
            },
          }],
          ...(o.downstreamTls ? { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: o.downstreamTls } } : {}),
        }],
      }],
      clusters: [{
        name: 'next', type: 'STATIC', connect_timeout: '5s',
        load_assignment: { cluster_name: 'next', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: to } } } }] }] },
        ...(o.upstreamTls ? { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: o.upstreamTls } } : {}),
      }],
    },
  });
}

/** GET / over mTLS (the workload client certificate, ALPN istio-http/1.1) to the inbound hop: 200 with the body. */
function mtlsProbe(certs: MeshFiles): (port: number) => Promise<void> {
  return (port) => new Promise((resolve, reject) => {
    let data = '';
    const s = tls.connect({
      host: '127.0.0.1', port, ca: readFileSync(certs.root), cert: readFileSync(certs.client.cert), key: readFileSync(certs.client.key),
      ALPNProtocols: ['istio-http/1.1'], checkServerIdentity: () => undefined,
    }, () => s.end('GET / HTTP/1.1\r\nhost: probe\r\nconnection: close\r\n\r\n'));
    s.on('data', (d: Buffer) => { data += d.toString(); });
    s.on('error', reject);
    s.on('close', () => (/^HTTP\/1\.1 200 /.test(data) && data.endsWith('x'.repeat(BODY_BYTES)) ? resolve() : reject(new Error(`mTLS GET: ${data.split('\r\n')[0] || 'no response'}`))));
  });
}

export async function runMtlsSidecars(o: ProtocolOptions): Promise<ProtocolResult[]> {
  const meta = {
    id: 'l' as const,
    title: 'l. HTTP/1.1 keep-alive through two Weft sidecars: mesh mTLS vs plaintext',
    short: 'two sidecars, mTLS vs plaintext',
    unit: 'req',
    intro:
      `wrk (CPU ${LOAD_CPU}, 1 thread, 50 keep-alive connections) through two Weft proxies in a row, as from a client's sidecar to ` +
      `the server's: outbound Weft → inbound Weft → the upstream nginx (${BODY_BYTES} B body, CPU ${LOAD_CPU}); both Weft processes of a chain ` +
      `pinned to CPU ${PROXY_CPU}, CPU and RSS of a row are both hops together. The \`direct\` row is the same two-proxy path in plaintext ` +
      '(the baseline), the `candidate` row the path over mesh mTLS between the sidecars (ISTIO_MUTUAL: SPIFFE workload certificates ' +
      'from src/security/x509.ts, ECDSA P-256, client certificate required, ALPN `istio-http/1.1`, TLS 1.3). No nginx or HAProxy rows.',
    metric: 'req/s',
    decimals: 0,
    latency: 'percentiles' as const,
    pinned: true,
    chain: true,
    goal: {
      text: 'mTLS costs at most 1.25× the CPU per request of plaintext (both sidecars summed)',
      check: (by: ByRole) => {
        const plain = by('direct', 'cpu');
        const mtls = by('candidate', 'cpu');
        return plain === undefined || mtls === undefined ? undefined : plain / mtls <= 1.25;
      },
    },
    candidateCmd: o.weft ? `${o.weft} proxy -c <generated>` : undefined,
  };
  return withStack(meta, async (stack) => {
    if (!o.weft) throw new Error(o.candidateSkipped ?? 'no Weft command');
    stack.nginx(o.nginx, 'up', nginxUpstreamConf(stack.dir), { cpu: LOAD_CPU });
    stack.write('body', Buffer.alloc(BODY_BYTES, 'x'), false);
    const certs = await meshCerts(stack);
    const upstreamTls: Obj = {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      common_tls_context: {
        tls_certificates: [{ certificate_chain: { filename: certs.client.cert }, private_key: { filename: certs.client.key } }],
        validation_context: {
          trusted_ca: { filename: certs.root },
          match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/default/sa/server' } }],
        },
        alpn_protocols: ['istio-http/1.1'],
        tls_params: { tls_maximum_protocol_version: 'TLSv1_3' },
      },
    };
    const downstreamTls: Obj = {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      require_client_certificate: true,
      common_tls_context: {
        tls_certificates: [{ certificate_chain: { filename: certs.server.cert }, private_key: { filename: certs.server.key } }],
        validation_context: { trusted_ca: { filename: certs.root } },
        alpn_protocols: ['h2', 'http/1.1'],
      },
    };
    const cmd = (name: string, yaml: string): string => `${o.weft} proxy -c ${stack.write(`${name}.yaml`, yaml)} --log-level warning`;
    // Plaintext chain: 18004 → 18006 → upstream; mTLS chain: 18002 → 18007 → upstream (the nginx ports are free here).
    const plainHops = [
      { cmd: cmd('in-plain', bootstrapYaml('in_plain', PORT.candidate2, PORT.upstream, {})), port: PORT.candidate2 },
      { cmd: cmd('out-plain', bootstrapYaml('out_plain', PORT.candidate, PORT.candidate2, {})), port: PORT.candidate },
    ];
    const mtlsHops = [
      { cmd: cmd('in-mtls', bootstrapYaml('in_mtls', PORT.nginx2, PORT.upstream, { downstreamTls })), port: PORT.nginx2 },
      { cmd: cmd('out-mtls', bootstrapYaml('out_mtls', PORT.nginx, PORT.nginx2, { upstreamTls })), port: PORT.nginx },
    ];
    const targets: Target[] = [];
    const plainError = await addCandidateChain(stack, o, plainHops, PROXY_CPU, targets, 'Weft → Weft, plaintext', http1Probe);
    if (plainError !== undefined) throw new Error(`plaintext chain: ${plainError}`);
    targets[0] = { ...targets[0]!, role: 'direct' };
    const viaTls = mtlsProbe(certs);
    const probe = (port: number): Promise<void> => (port === PORT.nginx2 ? viaTls(port) : http1Probe(port));
    const candidateError = await addCandidateChain(stack, o, mtlsHops, PROXY_CPU, targets, 'Weft → Weft, mesh mTLS (ISTIO_MUTUAL)', probe);
    await ready(targets, http1Probe);
    const load = (t: Target): LoadRun =>
      wrk({ url: `http://127.0.0.1:${t.port}/`, connections: 50, durationS: o.durationS, warmupS: o.warmupS, cpu: LOAD_CPU });
    const rows = await rounds('l', targets, o.rounds, load);
    const us = (row: (typeof rows)[number] | undefined): number | undefined => {
      if (row === undefined) return undefined;
      const per = row.results.map((r, i) => (r.value ? (row.cpu[i]! / r.value) * 1e6 : NaN)).filter(Number.isFinite).sort((a, b) => a - b);
      return per.length === 0 ? undefined : per[Math.floor(per.length / 2)];
    };
    const plainUs = us(rows.find((r) => r.target.role === 'direct'));
    const mtlsUs = us(rows.find((r) => r.target.role === 'candidate'));
    const notes = plainUs !== undefined && mtlsUs !== undefined
      ? [`CPU per request, both sidecars: plaintext ${plainUs.toFixed(1)} µs, mTLS ${mtlsUs.toFixed(1)} µs: ratio ${(mtlsUs / plainUs).toFixed(2)}× (target ≤ 1.25×).`]
      : [];
    return [{ ...meta, rows, candidateError, notes, setup: stack.commands(), load: loads(targets, load), configs: stack.configs() }];
  });
}
