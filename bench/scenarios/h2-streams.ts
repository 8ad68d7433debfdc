// Scenarios j and k of `npm run bench`, the HTTP/2 paths that stress a proxy's HTTP/2 codec on
// both sides or with many streams at once, each against nginx and HAProxy in the same run:
//   j  grpc-sidecars  gRPC unary between two sidecars: h2load → proxy (h2c) → proxy (h2c) → gRPC
//                     upstream; Weft bench/envoy/sidecar-out.yaml → sidecar-in.yaml, nginx grpc_pass
//                     → grpc_pass, HAProxy proto h2 → proto h2; both hops of a chain on one core
//   k  mixed          1,000 concurrent streams over 10 connections (h2load -c 10 -m 100), each client
//                     cycling through three response sizes (64 B, 1 KiB, 16 KiB); h2c in, HTTP/1.1
//                     keep-alive out; Weft bench/envoy/h2c.yaml
// RFC 9113 (HTTP/2), gRPC over HTTP/2 (PROTOCOL-HTTP2.md of grpc/grpc).
import { h2load, type LoadRun } from '../lib/loadgen.js';
import { haproxyHttp } from '../lib/peers.js';
import { h2Request } from '../lib/probes.js';
import {
  addCandidateChain,
  candidateCommand,
  GRPC_PATH,
  GRPC_REQUEST,
  GRPC_RESPONSE,
  grpcProbe,
  grpcUpstream,
  LOAD_CPU,
  loads,
  nginxServer,
  PORT,
  PROXY_CPU,
  ready,
  rounds,
  withStack,
  type ProtocolOptions,
  type ProtocolResult,
  type Target,
} from './protocol-common.js';

// --- j. gRPC between two sidecars ----------------------------------------------------------------

export async function runGrpcSidecars(o: ProtocolOptions): Promise<ProtocolResult[]> {
  const inbound = candidateCommand(o, 'bench/envoy/sidecar-in.yaml');
  const outbound = candidateCommand(o, 'bench/envoy/sidecar-out.yaml');
  const meta = {
    id: 'j' as const,
    title: 'j. gRPC between two sidecars (h2c → h2c → gRPC upstream)',
    short: 'gRPC via two sidecars (h2 → h2)',
    unit: 'req',
    intro:
      `h2load (CPU ${LOAD_CPU}, 1 thread, 10 clients × 10 concurrent streams) sends the gRPC unary call of scenario e ` +
      `(\`POST ${GRPC_PATH}\`, a ${GRPC_REQUEST.length}-byte message, ${GRPC_RESPONSE.length}-byte answer with \`grpc-status: 0\`) ` +
      'through two proxies in a row, as from a client\'s sidecar to the server\'s sidecar: client → outbound proxy (h2c) → ' +
      'inbound proxy (h2c) → the nginx gRPC upstream of scenario e. Both proxies of a chain are separate processes pinned to ' +
      `CPU ${PROXY_CPU} (upstream and h2load on CPU ${LOAD_CPU}): Weft sidecar-out.yaml → sidecar-in.yaml, nginx \`grpc_pass\` → ` +
      '`grpc_pass`, HAProxy `proto h2` → `proto h2`. CPU and RSS of a row are both hops together (halve them for one hop); ' +
      '`direct` is the upstream without a proxy.',
    metric: 'req/s',
    decimals: 0,
    latency: 'mean' as const,
    pinned: true,
    chain: true,
    goal: undefined,
    candidateCmd: inbound && outbound ? `${inbound}, then ${outbound}` : undefined,
  };
  return withStack(meta, async (stack) => {
    const d = stack.dir;
    const { up, reqFile } = grpcUpstream(stack, o);
    const nginxHop = (name: string, port: number, to: number): (() => number[]) =>
      stack.nginx(
        o.nginx,
        name,
        nginxServer(d, name, 1, `  upstream next { server 127.0.0.1:${to}; keepalive 128; }
  server { listen 127.0.0.1:${port} http2; keepalive_requests 10000000;
    location / { grpc_pass grpc://next; } }`),
        { cpu: PROXY_CPU },
      );
    const nginxIn = nginxHop('px2', PORT.nginx2, PORT.upstream2);
    const nginxOut = nginxHop('px', PORT.nginx, PORT.nginx2);
    const haHop = (name: string, port: number, to: number): (() => number[]) =>
      stack.haproxy(
        o.haproxy,
        name,
        haproxyHttp(d, { bind: `127.0.0.1:${port} proto h2`, server: `127.0.0.1:${to} proto h2`, name }),
        { cpu: PROXY_CPU },
      );
    const haIn = haHop('ha2', PORT.haproxy2, PORT.upstream2);
    const haOut = haHop('ha', PORT.haproxy, PORT.haproxy2);
    const both = (a: () => number[], b: () => number[]) => (): number[] => [...a(), ...b()];
    const targets: Target[] = [
      { role: 'direct', label: 'direct (nginx gRPC upstream)', port: PORT.upstream2, roots: up },
      { role: 'nginx', label: 'nginx → nginx (grpc_pass)', port: PORT.nginx, roots: both(nginxOut, nginxIn) },
      { role: 'haproxy', label: 'haproxy → haproxy (proto h2)', port: PORT.haproxy, roots: both(haOut, haIn) },
    ];
    await ready(targets, grpcProbe);
    const hops = inbound && outbound ? [{ cmd: inbound, port: PORT.candidate2 }, { cmd: outbound, port: PORT.candidate }] : undefined;
    const candidateError = await addCandidateChain(stack, o, hops, PROXY_CPU, targets, 'Weft → Weft (sidecar-out → sidecar-in)', grpcProbe);
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
    const rows = await rounds('j', targets, o.rounds, load);
    const notes = [
      'The nginx chain\'s inner hop talks to the upstream of scenario e, which may end a stream with RST_STREAM(NO_ERROR) ' +
        'before reading the request body; nginx\'s grpc module answers a small share of those calls with 502 (see e); they are counted in `errors`.',
    ];
    return [{ ...meta, rows, candidateError, notes, setup: stack.commands(), load: loads(targets, load), configs: stack.configs() }];
  });
}

// --- k. 1,000 concurrent streams, mixed response sizes ------------------------------------------

/** The mixed responses of scenario k: path → body size; each h2load client requests them in turn. */
export const MIXED_BODIES: Readonly<Record<string, number>> = { '/s': 64, '/m': 1024, '/l': 16384 };
const MIXED_CLIENTS = 10;
const MIXED_STREAMS = 100;

const mixedProbe = async (port: number): Promise<void> => {
  for (const [path, size] of Object.entries(MIXED_BODIES)) {
    const r = await h2Request(port, { path });
    if (r.status !== 200 || r.body.length !== size) throw new Error(`h2c GET ${path}: status ${r.status}, ${r.body.length} bytes (want ${size})`);
  }
};

export async function runMixed(o: ProtocolOptions): Promise<ProtocolResult[]> {
  const cmd = candidateCommand(o, 'bench/envoy/h2c.yaml');
  const sizes = Object.entries(MIXED_BODIES).map(([p, n]) => `\`${p}\` ${n >= 1024 ? `${n / 1024} KiB` : `${n} B`}`).join(', ');
  const meta = {
    id: 'k' as const,
    title: 'k. HTTP/2 with 1,000 concurrent streams, mixed response sizes',
    short: `h2c, ${MIXED_CLIENTS * MIXED_STREAMS} streams / ${MIXED_CLIENTS} conns, mixed sizes`,
    unit: 'req',
    intro:
      `h2load (CPU ${LOAD_CPU}, 1 thread) with ${MIXED_CLIENTS} connections × ${MIXED_STREAMS} concurrent streams = ` +
      `${MIXED_CLIENTS * MIXED_STREAMS} requests in flight, each connection requesting in turn ${sizes}. ` +
      `The proxies (CPU ${PROXY_CPU}) take h2c and forward over HTTP/1.1 keep-alive to the same upstream nginx (CPU ${LOAD_CPU}), ` +
      'so each proxy holds up to one upstream connection per stream in flight; `direct` is a second nginx serving the same files over h2c itself. ' +
      `${MIXED_STREAMS} streams per connection is exactly Weft's and HAProxy's default stream limit (nginx: 128).`,
    metric: 'req/s',
    decimals: 0,
    latency: 'mean' as const,
    pinned: true,
    goal: undefined,
    candidateCmd: cmd,
  };
  return withStack(meta, async (stack) => {
    const d = stack.dir;
    for (const [path, size] of Object.entries(MIXED_BODIES)) stack.write(path.slice(1), Buffer.alloc(size, 'x'), false);
    const files = `root ${d}; try_files $uri =404;`;
    stack.nginx(
      o.nginx,
      'up',
      nginxServer(d, 'up', 1, `  server { listen 127.0.0.1:${PORT.upstream}; keepalive_requests 10000000;
    location / { ${files} } }`),
      { cpu: LOAD_CPU },
    );
    const direct = stack.nginx(
      o.nginx,
      'h2up',
      nginxServer(d, 'h2up', 1, `  server { listen 127.0.0.1:${PORT.upstream2} http2; keepalive_requests 10000000;
    location / { ${files} } }`),
      { cpu: LOAD_CPU },
    );
    const px = stack.nginx(
      o.nginx,
      'px',
      nginxServer(d, 'px', 1, `  upstream up { server 127.0.0.1:${PORT.upstream}; keepalive 1024; }
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
    await ready(targets, mixedProbe);
    const hops = cmd ? [{ cmd, port: PORT.candidate }] : undefined;
    const candidateError = await addCandidateChain(stack, o, hops, PROXY_CPU, targets, 'candidate (Weft h2c.yaml)', mixedProbe);
    const load = (t: Target): LoadRun =>
      h2load({
        url: Object.keys(MIXED_BODIES).map((p) => `http://127.0.0.1:${t.port}${p}`),
        clients: MIXED_CLIENTS,
        streams: MIXED_STREAMS,
        durationS: o.durationS,
        warmupS: o.warmupS,
        cpu: LOAD_CPU,
      });
    const rows = await rounds('k', targets, o.rounds, load);
    const notes = [
      'nginx keeps up to 1,024 idle upstream connections here (`keepalive 1024`, scenario d has 128) so that 1,000 streams in flight do not ' +
        'reopen upstream connections all the time; HAProxy reuses idle server connections (`http-reuse always`); Weft uses its cluster\'s connection pool ' +
        '(Envoy\'s default circuit breakers: 1,024 connections and requests).',
    ];
    return [{ ...meta, rows, candidateError, notes, setup: stack.commands(), load: loads(targets, load), configs: stack.configs() }];
  });
}
