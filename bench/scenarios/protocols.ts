// Scenarios d–i of `npm run bench`: the protocols beyond plain HTTP/1.1, each measured against the
// Weft candidate (a bootstrap under bench/envoy/) and its peers (nginx, HAProxy, the upstream
// directly where that means something) in one run, rounds interleaved target by target:
//   d  h2c      HTTP/2 cleartext rps (h2load)            candidate bench/envoy/h2c.yaml
//   e  grpc     gRPC unary rps (h2load POST)             candidate bench/envoy/grpc.yaml
//   f  tls      new TLS handshakes/s (openssl s_time)    candidate bench/envoy/tls.yaml
//   g  https    HTTPS keep-alive rps (wrk)               candidate bench/envoy/tls.yaml
//   h  tcp      TCP proxy bulk MB/s (iperf3)             candidate bench/envoy/tcp.yaml
//   i  multicore HTTP/1.1 rps, 2 workers each, unpinned  candidate bench/peers.yaml --concurrency 2
// A candidate whose config is rejected today (the feature is on another branch) or that does not
// come up is reported as "candidate not available: <first error line>"; the peers are measured anyway.
// Shared machinery (ports, result model, measuring, candidate start-up): ./protocol-common.ts;
// rendering: ./protocol-render.ts; scenarios j and k (two sidecars, 1,000 streams): ./h2-streams.ts.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { h2load, iperf3, iperf3Probe, sTime, wrk, type LoadRun } from '../lib/loadgen.js';
import { commandLine } from '../lib/markdown.js';
import { haproxyHttp, nginxProxyConf, nginxUpstreamConf } from '../lib/peers.js';
import { httpsGet } from '../lib/probes.js';
import {
  addCandidate,
  BODY_BYTES,
  candidateCommand,
  GRPC_PATH,
  GRPC_REQUEST,
  GRPC_RESPONSE,
  grpcProbe,
  grpcUpstream,
  h2cGetProbe,
  http1Probe,
  httpsProbe,
  LOAD_CPU,
  loads,
  nginxServer,
  PORT,
  PROXY_CPU,
  ready,
  rounds,
  TLS_DIR,
  withStack,
  type ByRole,
  type ProtocolOptions,
  type ProtocolResult,
  type Target,
} from './protocol-common.js';

export { PROTOCOL_SCENARIOS, TLS_DIR, type ProtocolOptions, type ProtocolResult, type ProtocolScenario } from './protocol-common.js';
export { renderProtocol } from './protocol-render.js';
// --- d. HTTP/2 cleartext -------------------------------------------------------------------------

export async function runH2c(o: ProtocolOptions): Promise<ProtocolResult[]> {
  const cmd = candidateCommand(o, 'bench/envoy/h2c.yaml');
  const meta = {
    id: 'd' as const,
    short: 'h2c → HTTP/1.1',
    unit: 'req',
    title: 'd. HTTP/2 (h2c) requests per second',
    intro:
      `h2load (CPU ${LOAD_CPU}, 1 thread, 10 clients × 10 concurrent streams, prior-knowledge h2c) against each target, rounds interleaved. ` +
      `The proxies (CPU ${PROXY_CPU}) take h2c and forward over HTTP/1.1 keep-alive to the same upstream nginx (${BODY_BYTES} B body, CPU ${LOAD_CPU}); ` +
      `\`direct\` is a second nginx on CPU ${LOAD_CPU} serving the same body over h2c itself (no proxy hop, no HTTP/1.1 leg).`,
    metric: 'req/s',
    decimals: 0,
    latency: 'mean' as const,
    pinned: true,
    goal: undefined,
    candidateCmd: cmd,
  };
  return withStack(meta, async (stack) => {
    const d = stack.dir;
    stack.write('body', Buffer.alloc(BODY_BYTES, 'x'), false);
    stack.nginx(o.nginx, 'up', nginxUpstreamConf(d), { cpu: LOAD_CPU });
    const direct = stack.nginx(
      o.nginx,
      'h2up',
      nginxServer(d, 'h2up', 1, `  server { listen 127.0.0.1:${PORT.upstream2} http2; keepalive_requests 10000000;
    location / { root ${d}; try_files /body =404; } }`),
      { cpu: LOAD_CPU },
    );
    const px = stack.nginx(
      o.nginx,
      'px',
      nginxServer(d, 'px', 1, `  upstream up { server 127.0.0.1:${PORT.upstream}; keepalive 128; }
  server { listen 127.0.0.1:${PORT.nginx} http2; keepalive_requests 10000000;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }`),
      { cpu: PROXY_CPU },
    );
    const ha = stack.haproxy(
      o.haproxy,
      'ha',
      haproxyHttp(d, { bind: `127.0.0.1:${PORT.haproxy} proto h2`, server: `127.0.0.1:${PORT.upstream}` }),
      { cpu: PROXY_CPU },
    );
    const targets: Target[] = [
      { role: 'direct', label: 'direct (nginx h2c origin)', port: PORT.upstream2, roots: direct },
      { role: 'nginx', label: 'nginx (listen http2)', port: PORT.nginx, roots: px },
      { role: 'haproxy', label: 'haproxy (bind proto h2)', port: PORT.haproxy, roots: ha },
    ];
    await ready(targets, h2cGetProbe);
    const candidateError = await addCandidate(stack, o, cmd, PROXY_CPU, targets, 'candidate (Weft h2c.yaml)', h2cGetProbe);
    const load = (t: Target): LoadRun =>
      h2load({ url: `http://127.0.0.1:${t.port}/`, clients: 10, streams: 10, durationS: o.durationS, warmupS: o.warmupS, cpu: LOAD_CPU });
    const rows = await rounds('d', targets, o.rounds, load);
    return [{ ...meta, rows, candidateError, notes: [], setup: stack.commands(), load: loads(targets, load), configs: stack.configs() }];
  });
}

// --- e. gRPC unary -------------------------------------------------------------------------------

export async function runGrpc(o: ProtocolOptions): Promise<ProtocolResult[]> {
  const cmd = candidateCommand(o, 'bench/envoy/grpc.yaml');
  const meta = {
    id: 'e' as const,
    short: 'gRPC unary, h2c → h2c',
    unit: 'req',
    title: 'e. gRPC unary requests per second',
    intro:
      `h2load (CPU ${LOAD_CPU}, 1 thread, 10 clients × 10 concurrent streams) sends the same gRPC unary call to each target: ` +
      `\`POST ${GRPC_PATH}\`, \`content-type: application/grpc\`, \`te: trailers\`, a ${GRPC_REQUEST.length}-byte length-prefixed message. ` +
      `The upstream (CPU ${LOAD_CPU}) is an nginx h2c server answering every call with a fixed ${GRPC_RESPONSE.length}-byte gRPC-framed ` +
      `message and a \`grpc-status: 0\` trailer (static file; \`error_page 405 =200\` lets it answer POST); \`direct\` is that upstream ` +
      `without a proxy, i.e. the upstream's own capacity with h2load beside it on the same core. Every target is checked once ` +
      `with a real call (status 200, \`grpc-status: 0\`, the exact response bytes) before it is measured.`,
    metric: 'req/s',
    decimals: 0,
    latency: 'mean' as const,
    pinned: true,
    goal: undefined,
    candidateCmd: cmd,
  };
  return withStack(meta, async (stack) => {
    const d = stack.dir;
    const { up, reqFile } = grpcUpstream(stack, o);
    const px = stack.nginx(
      o.nginx,
      'px',
      nginxServer(d, 'px', 1, `  upstream grpcup { server 127.0.0.1:${PORT.upstream2}; keepalive 128; }
  server { listen 127.0.0.1:${PORT.nginx} http2; keepalive_requests 10000000;
    location / { grpc_pass grpc://grpcup; } }`),
      { cpu: PROXY_CPU },
    );
    const ha = stack.haproxy(
      o.haproxy,
      'ha',
      haproxyHttp(d, { bind: `127.0.0.1:${PORT.haproxy} proto h2`, server: `127.0.0.1:${PORT.upstream2} proto h2` }),
      { cpu: PROXY_CPU },
    );
    const targets: Target[] = [
      { role: 'direct', label: 'direct (nginx gRPC upstream)', port: PORT.upstream2, roots: up },
      { role: 'nginx', label: 'nginx (grpc_pass)', port: PORT.nginx, roots: px },
      { role: 'haproxy', label: 'haproxy (proto h2 both sides)', port: PORT.haproxy, roots: ha },
    ];
    await ready(targets, grpcProbe);
    const candidateError = await addCandidate(stack, o, cmd, PROXY_CPU, targets, 'candidate (Weft grpc.yaml)', grpcProbe);
    const load = (t: Target): LoadRun =>
      h2load({
        url: `http://127.0.0.1:${t.port}${GRPC_PATH}`,
        clients: 10,
        streams: 10,
        durationS: o.durationS,
        warmupS: o.warmupS,
        cpu: LOAD_CPU,
        dataFile: reqFile,
        headers: ['content-type: application/grpc', 'te: trailers'],
      });
    const rows = await rounds('e', targets, o.rounds, load);
    const notes = [
      'The upstream answers as soon as it has the request headers and, when the request body has not been read by then, ' +
        'ends the stream with RST_STREAM(NO_ERROR), which RFC 9113 §8.1 allows. nginx\'s grpc module does not tolerate that ' +
        'frame on a reused upstream connection ("upstream sent frame for unknown stream") and answers 502 to a small share ' +
        'of the calls (0.1–1% in short runs here); they are counted in `errors`. An upstream that reads every body first (nginx `mirror_request_body`) ' +
        'avoids it but halves the upstream\'s capacity, which would then cap the proxies.',
    ];
    return [{ ...meta, rows, candidateError, notes, setup: stack.commands(), load: loads(targets, load), configs: stack.configs() }];
  });
}

// --- f, g. TLS -----------------------------------------------------------------------------------

/** Generates a fresh self-signed ECDSA P-256 certificate in TLS_DIR; returns the commands. */
function makeCert(): string[] {
  mkdirSync(TLS_DIR, { recursive: true });
  const req = [
    'openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${TLS_DIR}/server.key`, '-out', `${TLS_DIR}/server.crt`, '-days', '7', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ];
  execFileSync(req[0]!, req.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  const pem = `${readFileSync(`${TLS_DIR}/server.crt`, 'utf8')}${readFileSync(`${TLS_DIR}/server.key`, 'utf8')}`;
  execFileSync('bash', ['-c', `umask 077; cat > ${TLS_DIR}/server.pem`], { input: pem });
  return [`mkdir -p ${TLS_DIR}`, commandLine(req), `cat ${TLS_DIR}/server.crt ${TLS_DIR}/server.key > ${TLS_DIR}/server.pem  # HAProxy's crt`];
}

export async function runTls(o: ProtocolOptions, which: ReadonlySet<'f' | 'g'>): Promise<ProtocolResult[]> {
  const cmd = candidateCommand(o, 'bench/envoy/tls.yaml');
  const clients = 16;
  const metaF = {
    id: 'f' as const,
    short: 'new TLS handshakes',
    unit: 'handshake',
    title: 'f. New TLS handshakes per second on one core',
    intro:
      `${clients} \`openssl s_time -new\` processes in parallel (CPU ${LOAD_CPU}) against each TLS-terminating proxy (CPU ${PROXY_CPU}), rounds interleaved. ` +
      `\`-new\` never offers a session, so every connection is a full handshake (TLS 1.3, X25519, ECDSA P-256 certificate made with openssl for this run), ` +
      `then \`GET / HTTP/1.0\` proxied over HTTP/1.1 to the upstream nginx (CPU ${LOAD_CPU}) and the connection closed. ` +
      '`CPU` is the proxy\'s share of its one core: below ~0.95 the clients, not the proxy, set the pace, and `per CPU-s` ' +
      '(handshakes per second of proxy CPU) is then the better measure of what one core can do.',
    metric: 'handshakes/s',
    decimals: 0,
    latency: 'none' as const,
    pinned: true,
    goal: {
      text: '≥ 2,000 handshakes/s per core and ≥ 0.8× nginx, both per CPU-second of the proxy',
      check: (by: ByRole) => {
        const c = by('candidate', 'cpu');
        const n = by('nginx', 'cpu');
        return c === undefined || n === undefined ? undefined : c >= 2000 && c / n >= 0.8;
      },
    },
    candidateCmd: cmd,
  };
  const metaG = {
    id: 'g' as const,
    short: 'HTTPS keep-alive',
    unit: 'req',
    title: 'g. HTTPS keep-alive requests per second',
    intro:
      `wrk (CPU ${LOAD_CPU}, 1 thread, 50 keep-alive connections) over HTTPS against each TLS-terminating proxy (CPU ${PROXY_CPU}, same certificate), ` +
      `forwarding over HTTP/1.1 keep-alive to the same upstream nginx (${BODY_BYTES} B body, CPU ${LOAD_CPU}), rounds interleaved.`,
    metric: 'req/s',
    decimals: 0,
    latency: 'percentiles' as const,
    pinned: true,
    goal: undefined,
    candidateCmd: cmd,
  };
  const fallback = which.has('f') ? metaF : metaG;
  return withStack(fallback, async (stack) => {
    for (const c of makeCert()) stack.note(c);
    const d = stack.dir;
    stack.write('body', Buffer.alloc(BODY_BYTES, 'x'), false);
    stack.nginx(o.nginx, 'up', nginxUpstreamConf(d), { cpu: LOAD_CPU });
    const px = stack.nginx(
      o.nginx,
      'px',
      nginxServer(d, 'px', 1, `  upstream up { server 127.0.0.1:${PORT.upstream}; keepalive 128; }
  server { listen 127.0.0.1:${PORT.nginx} ssl; keepalive_requests 10000000;
    ssl_certificate ${TLS_DIR}/server.crt; ssl_certificate_key ${TLS_DIR}/server.key; ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off; ssl_session_tickets off;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }`),
      { cpu: PROXY_CPU },
    );
    const ha = stack.haproxy(
      o.haproxy,
      'ha',
      haproxyHttp(d, { bind: `127.0.0.1:${PORT.haproxy} ssl crt ${TLS_DIR}/server.pem`, server: `127.0.0.1:${PORT.upstream}` }),
      { cpu: PROXY_CPU },
    );
    const targets: Target[] = [
      { role: 'nginx', label: 'nginx (listen ssl)', port: PORT.nginx, roots: px },
      { role: 'haproxy', label: 'haproxy (bind ssl crt)', port: PORT.haproxy, roots: ha },
    ];
    await ready(targets, httpsProbe);
    const candidateError = await addCandidate(stack, o, cmd, PROXY_CPU, targets, 'candidate (Weft tls.yaml)', httpsProbe);
    const negotiated: string[] = [];
    for (const t of targets) {
      const r = await httpsGet(t.port);
      negotiated.push(`${t.label} ${r.protocol} ${r.cipher}`);
    }
    const notes = [`Negotiated with a Node TLS client: ${negotiated.join('; ')}.`];
    const notesF = [
      ...notes,
      'An ECDSA handshake costs the client more than the server (verifying the CertificateVerify signature costs about ' +
        'three times what making it does, and s_time adds per-connection work of its own), so one client core cannot keep ' +
        'one proxy core busy: expect `CPU` well below 1 for every proxy here and read `per CPU-s` for what one core can do. The issue\'s target is judged on that column ' +
        'and on the ratio to nginx in it.',
    ];
    const out: ProtocolResult[] = [];
    const setup = stack.commands();
    if (which.has('f')) {
      const load = (t: Target): LoadRun => sTime({ port: t.port, clients, durationS: o.durationS, warmupS: o.warmupS, cpu: LOAD_CPU });
      const rows = await rounds('f', targets, o.rounds, load);
      out.push({ ...metaF, rows, candidateError, notes: notesF, setup, load: loads(targets, load), configs: stack.configs() });
    }
    if (which.has('g')) {
      const load = (t: Target): LoadRun =>
        wrk({ url: `https://127.0.0.1:${t.port}/`, connections: 50, durationS: o.durationS, warmupS: o.warmupS, cpu: LOAD_CPU });
      const rows = await rounds('g', targets, o.rounds, load);
      out.push({ ...metaG, rows, candidateError, notes, setup, load: loads(targets, load), configs: stack.configs() });
    }
    return out;
  });
}

// --- h. TCP proxy --------------------------------------------------------------------------------

export async function runTcp(o: ProtocolOptions): Promise<ProtocolResult[]> {
  const cmd = candidateCommand(o, 'bench/envoy/tcp.yaml');
  const meta = {
    id: 'h' as const,
    short: 'TCP proxy',
    unit: 'MB',
    title: 'h. TCP proxy throughput',
    intro:
      `iperf3 (one stream, client and server both on CPU ${LOAD_CPU}) pushes bulk data through each TCP proxy (CPU ${PROXY_CPU}) to the ` +
      `iperf3 server on 127.0.0.1:${PORT.upstream}; MB/s is what the server received (10^6 bytes per second), rounds interleaved. ` +
      '`direct` is iperf3 without a proxy (client and server sharing one core).',
    metric: 'MB/s',
    decimals: 0,
    latency: 'none' as const,
    pinned: true,
    goal: {
      text: '≥ 0.8× HAProxy (MB/s)',
      check: (by: ByRole) => {
        const c = by('candidate');
        const h = by('haproxy');
        return c === undefined || h === undefined ? undefined : c / h >= 0.8;
      },
    },
    candidateCmd: cmd,
  };
  return withStack(meta, async (stack) => {
    const d = stack.dir;
    const sink = stack.process('iperf3', ['iperf3', '-s', '-p', String(PORT.upstream)], { cpu: LOAD_CPU });
    const ha = stack.haproxy(
      o.haproxy,
      'ha',
      `global
  nbthread 1
  maxconn 4000
  pidfile ${d}/ha.pid
  daemon
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:${PORT.haproxy}
  default_backend be
backend be
  server s1 127.0.0.1:${PORT.upstream}
`,
      { cpu: PROXY_CPU },
    );
    const targets: Target[] = [
      { role: 'direct', label: 'direct (iperf3 to iperf3)', port: PORT.upstream, roots: sink },
      { role: 'haproxy', label: 'haproxy (mode tcp)', port: PORT.haproxy, roots: ha },
    ];
    await ready(targets, iperf3Probe);
    const candidateError = await addCandidate(stack, o, cmd, PROXY_CPU, targets, 'candidate (Weft tcp.yaml)', iperf3Probe);
    const load = (t: Target): LoadRun =>
      iperf3({ port: t.port, durationS: o.durationS, omitS: o.warmupS, streams: 1, cpu: LOAD_CPU });
    const rows = await rounds('h', targets, o.rounds, load);
    const notes = [
      'nginx is not a peer here: its stream module is not in the Debian nginx build installed (a dynamic module, libnginx-mod-stream).',
      'HAProxy runs with its defaults (no `option splice-*`); `direct` CPU is the iperf3 server only.',
    ];
    return [{ ...meta, rows, candidateError, notes, setup: stack.commands(), load: loads(targets, load), configs: stack.configs() }];
  });
}

// --- i. HTTP/1.1 with two workers ----------------------------------------------------------------

export async function runMulticore(o: ProtocolOptions): Promise<ProtocolResult[]> {
  const cmd = candidateCommand(o, 'bench/peers.yaml', ' --concurrency 2');
  const meta = {
    id: 'i' as const,
    short: 'HTTP/1.1, 2 workers, unpinned',
    unit: 'req',
    title: 'i. HTTP/1.1 requests per second with two workers',
    intro:
      'wrk (1 thread, 50 keep-alive connections) against each proxy running two workers: `weft proxy --concurrency 2`, ' +
      'nginx `worker_processes 2`, HAProxy `nbthread 2`, forwarding to an upstream nginx with two workers (64 B body). ' +
      '**Nothing is pinned**: the proxy, the upstream and wrk all compete for the same 2 cores, so this shows how each ' +
      'proxy shares a busy machine rather than what two dedicated cores give; `CPU` is in cores (up to 2).',
    metric: 'req/s',
    decimals: 0,
    latency: 'percentiles' as const,
    pinned: false,
    goal: undefined,
    candidateCmd: cmd,
  };
  return withStack(meta, async (stack) => {
    const d = stack.dir;
    stack.write('body', Buffer.alloc(BODY_BYTES, 'x'), false);
    const up = stack.nginx(o.nginx, 'up', nginxUpstreamConf(d).replace('worker_processes 1;', 'worker_processes 2;'), { cpu: undefined });
    const px = stack.nginx(o.nginx, 'px', nginxProxyConf(d).replace('worker_processes 1;', 'worker_processes 2;'), { cpu: undefined });
    const ha = stack.haproxy(
      o.haproxy,
      'ha',
      haproxyHttp(d, { bind: `127.0.0.1:${PORT.haproxy}`, server: `127.0.0.1:${PORT.upstream}`, nbthread: 2 }),
      { cpu: undefined },
    );
    const targets: Target[] = [
      { role: 'direct', label: 'direct (upstream nginx, 2 workers)', port: PORT.upstream, roots: up },
      { role: 'nginx', label: 'nginx (worker_processes 2)', port: PORT.nginx, roots: px },
      { role: 'haproxy', label: 'haproxy (nbthread 2)', port: PORT.haproxy, roots: ha },
    ];
    await ready(targets, http1Probe);
    const candidateError = await addCandidate(stack, o, cmd, undefined, targets, 'candidate (Weft --concurrency 2)', http1Probe);
    const load = (t: Target): LoadRun =>
      wrk({ url: `http://127.0.0.1:${t.port}/`, connections: 50, durationS: o.durationS, warmupS: o.warmupS, cpu: undefined });
    const rows = await rounds('i', targets, o.rounds, load);
    return [{ ...meta, rows, candidateError, notes: [], setup: stack.commands(), load: loads(targets, load), configs: stack.configs() }];
  });
}

