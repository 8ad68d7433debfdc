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
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { h2load, iperf3, iperf3Probe, sTime, wrk, type LoadResult, type LoadRun } from '../lib/loadgen.js';
import { codeBlock, commandLine, fmt, mib, table } from '../lib/markdown.js';
import { haproxyHttp, httpGet, nginxProxyConf, nginxUpstreamConf } from '../lib/peers.js';
import { grpcFrame, h2Request, httpsGet, protoString } from '../lib/probes.js';
import { cpuSeconds, processTree, rssKiB } from '../lib/procfs.js';
import { Stack, waitFor } from '../lib/stack.js';

export const PROTOCOL_SCENARIOS = {
  d: 'h2c',
  e: 'grpc',
  f: 'tls',
  g: 'https',
  h: 'tcp',
  i: 'multicore',
} as const;
export type ProtocolScenario = keyof typeof PROTOCOL_SCENARIOS;

/** CPUs: the proxies on PROXY_CPU, the load generator and the upstream on LOAD_CPU. */
const PROXY_CPU = 0;
const LOAD_CPU = 1;
const PORT = { upstream: 18001, nginx: 18002, haproxy: 18003, candidate: 18004, upstream2: 18005 } as const;
/** Where scenarios f/g put the generated certificate; bench/envoy/tls.yaml names these files. */
export const TLS_DIR = '/tmp/weft-bench-tls';
const BODY_BYTES = 64;
const GRPC_PATH = '/pkg.Svc/Method';
const GRPC_REQUEST = grpcFrame(protoString('weft-bench request'));
const GRPC_RESPONSE = grpcFrame(protoString('weft-bench response'));

export interface ProtocolOptions {
  readonly cwd: string;
  readonly nginx: string;
  readonly haproxy: string;
  /** Command that starts Weft without its `proxy` arguments, e.g. `node dist/src/cli/main.js`. */
  readonly weft: string | undefined;
  /** Why there is no candidate at all (--no-candidate, not built). */
  readonly candidateSkipped: string | undefined;
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
}

type Role = 'direct' | 'nginx' | 'haproxy' | 'candidate';

interface Target {
  readonly role: Role;
  /** What the row is, e.g. "nginx grpc_pass". */
  readonly label: string;
  readonly port: number;
  readonly roots: () => number[];
}

interface Row {
  readonly target: Target;
  readonly results: LoadResult[];
  /** Share of one core used by the target's process tree during each run (1 = one full core). */
  readonly cpu: number[];
  /** Peak RSS of the target's process tree during each run, KiB. */
  readonly rssKiB: number[];
}

export interface ProtocolResult {
  readonly id: ProtocolScenario;
  readonly title: string;
  readonly intro: string;
  readonly metric: string;
  readonly decimals: number;
  readonly latency: 'percentiles' | 'mean' | 'none';
  /** Whether the proxies are pinned to one core (all but scenario i). */
  readonly pinned: boolean;
  /** The peer the per-CPU-second ratio is taken against (HAProxy for TCP, where nginx is absent). */
  readonly reference?: 'nginx' | 'haproxy';
  readonly rows: Row[];
  /** The candidate row that could not be measured, and why. */
  readonly candidateError: string | undefined;
  readonly goal: Goal | undefined;
  readonly notes: string[];
  readonly setup: string[];
  readonly load: { readonly label: string; readonly commands: string[] }[];
  readonly configs: Record<string, string>;
  readonly candidateCmd: string | undefined;
}

/** Per role: the median value, and the value per second of the target's own CPU. */
type ByRole = (role: Role, per?: 'cpu') => number | undefined;

interface Goal {
  readonly text: string;
  readonly check: (by: ByRole) => boolean | undefined;
}

const median = (xs: number[]): number | undefined => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function measureOnce(target: Target, run: LoadRun): Promise<{ result: LoadResult; cpu: number; rssKiB: number }> {
  const pids = processTree(target.roots());
  const before = new Map(pids.map((p) => [p, cpuSeconds([p])]));
  let rss = 0;
  const sample = (): void => void (rss = Math.max(rss, rssKiB(processTree(target.roots()))));
  const timer = setInterval(sample, 250);
  const t0 = process.hrtime.bigint();
  const result = await run.exec();
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  clearInterval(timer);
  sample();
  let used = 0;
  for (const p of processTree(target.roots())) used += cpuSeconds([p]) - (before.get(p) ?? 0);
  return { result, cpu: used / wallS, rssKiB: rss };
}

/** Rounds × targets, interleaved (round 1: every target, round 2: every target, ...). */
async function rounds(
  id: string,
  targets: Target[],
  n: number,
  load: (t: Target) => LoadRun,
): Promise<Row[]> {
  const rows = targets.map((target) => ({ target, results: [] as LoadResult[], cpu: [] as number[], rssKiB: [] as number[] }));
  for (let r = 1; r <= n; r++) {
    for (const row of rows) {
      process.stderr.write(`  ${id}: round ${r}/${n}, ${row.target.label}\n`);
      const run = load(row.target);
      await run.warmup?.();
      const { result, cpu, rssKiB } = await measureOnce(row.target, run);
      if (result.error) process.stderr.write(`    ${result.error}\n`);
      row.results.push(result);
      row.cpu.push(cpu);
      row.rssKiB.push(rssKiB);
    }
  }
  return rows;
}

function candidateCommand(o: ProtocolOptions, config: string, extra = ''): string | undefined {
  return o.weft ? `${o.weft} proxy -c ${config} --log-level warning${extra}` : undefined;
}

/** Starts the candidate (if any) and adds it to the targets, or returns why it is absent. */
async function addCandidate(
  stack: Stack,
  o: ProtocolOptions,
  cmd: string | undefined,
  cpu: number | undefined,
  targets: Target[],
  label: string,
  ready: (port: number) => Promise<void>,
): Promise<string | undefined> {
  if (!cmd) return o.candidateSkipped ?? 'candidate not available: no candidate command';
  const started = await stack.candidate(cmd, { cpu }, o.cwd, () => ready(PORT.candidate));
  if ('error' in started) return started.error;
  targets.push({ role: 'candidate', label, port: PORT.candidate, roots: started.roots });
  return undefined;
}

/** Checks each peer once before measuring; a peer that fails is an error of the whole scenario. */
async function ready(targets: Target[], probe: (port: number) => Promise<void>): Promise<void> {
  for (const t of targets) await waitFor(`${t.label} on 127.0.0.1:${t.port}`, () => probe(t.port));
}

const h2cGetProbe = async (port: number): Promise<void> => {
  const r = await h2Request(port, { path: '/' });
  if (r.status !== 200 || r.body.length !== BODY_BYTES) throw new Error(`h2c GET: status ${r.status}, ${r.body.length} bytes`);
};

const grpcProbe = async (port: number): Promise<void> => {
  const r = await h2Request(port, {
    method: 'POST',
    path: GRPC_PATH,
    headers: { 'content-type': 'application/grpc', te: 'trailers' },
    body: GRPC_REQUEST,
  });
  const status = r.trailers['grpc-status'] ?? r.headers['grpc-status'];
  if (r.status !== 200 || status !== '0' || !r.body.equals(GRPC_RESPONSE)) {
    throw new Error(`gRPC call: :status ${r.status}, grpc-status ${status ?? 'none'}, ${r.body.length} bytes`);
  }
};

const httpsProbe = async (port: number): Promise<void> => {
  const r = await httpsGet(port);
  if (r.status !== 200 || r.body.length !== BODY_BYTES) throw new Error(`HTTPS GET: status ${r.status}, ${r.body.length} bytes`);
};

const http1Probe = async (port: number): Promise<void> => {
  const r = await httpGet(port);
  if (r.status !== 200 || r.body.length !== BODY_BYTES) throw new Error(`GET: status ${r.status}, ${r.body.length} bytes`);
};

function nginxServer(dir: string, name: string, workers: number | 'auto', http: string): string {
  return `worker_processes ${workers}; daemon on; pid ${dir}/${name}.pid; error_log ${dir}/${name}.err;
events { worker_connections 8192; }
http { access_log off; default_type text/plain;
${http}
}
`;
}

/** Runs one scenario with its own stack; a failure to set the peers up becomes a note, not a crash. */
async function withStack(
  fallback: Omit<ProtocolResult, 'rows' | 'candidateError' | 'notes' | 'setup' | 'load' | 'configs'>,
  body: (stack: Stack) => Promise<ProtocolResult[]>,
): Promise<ProtocolResult[]> {
  let stack: Stack | undefined;
  try {
    stack = await Stack.create();
    const dir = stack.dir;
    return (await body(stack)).map((r) => withTempDirAsVar(r, dir));
  } catch (err) {
    const failed: ProtocolResult = {
      ...fallback,
      rows: [],
      candidateError: undefined,
      notes: [`Not measured: ${(err as Error).message}`],
      setup: stack?.commands() ?? [],
      load: [],
      configs: stack?.configs() ?? {},
    };
    return [withTempDirAsVar(failed, stack?.dir)];
  } finally {
    await stack?.close();
  }
}

// --- d. HTTP/2 cleartext -------------------------------------------------------------------------

export async function runH2c(o: ProtocolOptions): Promise<ProtocolResult[]> {
  const cmd = candidateCommand(o, 'bench/envoy/h2c.yaml');
  const meta = {
    id: 'd' as const,
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

function loads(targets: Target[], load: (t: Target) => LoadRun): { label: string; commands: string[] }[] {
  return targets.map((t) => ({ label: t.label, commands: load(t).commands }));
}

// --- e. gRPC unary -------------------------------------------------------------------------------

export async function runGrpc(o: ProtocolOptions): Promise<ProtocolResult[]> {
  const cmd = candidateCommand(o, 'bench/envoy/grpc.yaml');
  const meta = {
    id: 'e' as const,
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
    stack.write('grpc-response', GRPC_RESPONSE, false);
    const reqFile = stack.write('grpc-request', GRPC_REQUEST, false);
    const up = stack.nginx(
      o.nginx,
      'grpcup',
      nginxServer(d, 'grpcup', 1, `  server { listen 127.0.0.1:${PORT.upstream2} http2; keepalive_requests 10000000; etag off;
    location / { root ${d}; default_type application/grpc; try_files /grpc-response =404;
      error_page 405 =200 $uri; add_trailer grpc-status 0; } }`),
      { cpu: LOAD_CPU },
    );
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
    title: 'h. TCP proxy throughput',
    intro:
      `iperf3 (one stream, client and server both on CPU ${LOAD_CPU}) pushes bulk data through each TCP proxy (CPU ${PROXY_CPU}) to the ` +
      `iperf3 server on 127.0.0.1:${PORT.upstream}; MB/s is what the server received (10^6 bytes per second), rounds interleaved. ` +
      '`direct` is iperf3 without a proxy (client and server sharing one core).',
    metric: 'MB/s',
    reference: 'haproxy' as const,
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

// --- rendering -----------------------------------------------------------------------------------

export function renderProtocol(r: ProtocolResult, rounds: number, durationS: number, warmupS: number): string {
  const out: string[] = [`## ${r.title}`, r.intro];
  const value = (row: Row): number | undefined => median(row.results.map((x) => x.value ?? NaN));
  const perCpu = (row: Row): number | undefined => {
    const v = value(row);
    const cpu = median(row.cpu);
    return v !== undefined && cpu ? v / cpu : undefined;
  };
  const by: ByRole = (role, per) => {
    const row = r.rows.find((x) => x.target.role === role);
    return row ? (per === 'cpu' ? perCpu(row) : value(row)) : undefined;
  };
  const nginx = by('nginx');
  const haproxy = by('haproxy');
  const ref = r.reference ?? 'nginx';
  const refPerCpu = by(ref, 'cpu');
  if (r.rows.length > 0) {
    const latencyCols = r.latency === 'percentiles' ? ['p50 ms', 'p99 ms'] : r.latency === 'mean' ? ['mean ms'] : [];
    const rows = r.rows.map((row) => {
      const v = value(row);
      const cpu = median(row.cpu);
      const lat =
        r.latency === 'percentiles'
          ? [fmt(median(row.results.map((x) => x.p50Ms ?? NaN)), 3), fmt(median(row.results.map((x) => x.p99Ms ?? NaN)), 3)]
          : r.latency === 'mean'
            ? [fmt(median(row.results.map((x) => x.meanMs ?? NaN)), 3)]
            : [];
      return [
        row.target.label,
        fmt(v, r.decimals),
        ...lat,
        fmt(cpu, 2),
        fmt(perCpu(row), r.decimals),
        v !== undefined && nginx ? fmt(v / nginx, 2) : '–',
        v !== undefined && haproxy ? fmt(v / haproxy, 2) : '–',
        perCpu(row) !== undefined && refPerCpu ? fmt(perCpu(row)! / refPerCpu, 2) : '–',
        mib(row.rssKiB.length > 0 ? Math.max(...row.rssKiB) : undefined),
        String(row.results.reduce((s, x) => s + x.errors, 0)),
      ];
    });
    if (r.candidateError) rows.push([r.candidateError.replace(/\|/g, '\\|'), '–', ...latencyCols.map(() => '–'), '–', '–', '–', '–', '–', '–', '–']);
    out.push(
      `Median of ${rounds} round(s) × ${durationS} s per target` +
        (warmupS > 0
          ? `, each measured run after ${warmupS} s of the same load unmeasured (h2load \`--warm-up-time\`, iperf3 \`-O\`, or a separate wrk / s_time run).`
          : ', no warm-up (a cold JIT costs a Node proxy a lot in the first seconds).') +
        ' `CPU` is the target process tree\'s utime+stime over the run (/proc, 10 ms ticks) in cores; `per CPU-s` divides the rate by it; ' +
        'peak RSS is VmRSS summed over the tree, sampled every 250 ms.',
      table(
        ['target', r.metric, ...latencyCols, 'CPU', `${r.metric} per CPU-s`, 'vs nginx', 'vs haproxy', `per CPU-s vs ${ref}`, 'peak RSS MiB', 'errors'],
        rows,
      ),
    );
  }
  if (r.goal) {
    const cand = by('candidate');
    const met = cand === undefined ? undefined : r.goal.check(by);
    const verdict =
      cand === undefined ? 'not measured (no candidate)' : met === undefined ? 'cannot tell (peer missing)' : met ? '**met**' : '**not met**';
    out.push(`Target (issue): ${r.goal.text} — ${verdict}.`);
  }
  for (const row of r.rows) {
    const errs = [...new Set(row.results.map((x) => x.error).filter((e): e is string => e !== undefined))];
    for (const e of errs) out.push(`- ${row.target.label}: ${e}`);
    const detail = row.results.find((x) => x.errorDetail)?.errorDetail;
    if (detail) out.push(`- ${row.target.label} errors (first round that had any): ${detail}`);
  }
  if (r.pinned) {
    const slack = r.rows.filter((row) => row.target.role !== 'direct' && (median(row.cpu) ?? 1) < 0.9);
    if (slack.length > 0) {
      out.push(
        `- CPU below 0.9 for ${slack.map((row) => row.target.label).join(', ')}: that proxy's core was not saturated, so ` +
          `CPU ${LOAD_CPU} (load generator and upstream) or the machine's other load set the pace; \`per CPU-s\` is the fairer comparison there.`,
      );
    }
  }
  for (const n of r.notes) out.push(`- ${n}`);
  if (r.setup.length > 0 || r.load.length > 0) {
    const cand = r.candidateCmd ? `# candidate: ${r.candidateCmd}\n` : '';
    out.push('Commands (from the repo root; `$D` is the run\'s temp dir; the load command per target, run once per round):');
    out.push(
      codeBlock(
        cand +
          r.setup.join('\n') +
          '\n' +
          r.load.map((l) => `# ${l.label}\n${l.commands.join('\n')}`).join('\n'),
        'sh',
      ),
    );
  }
  const configs = Object.entries(r.configs);
  if (configs.length > 0) {
    out.push(
      '<details><summary>Generated peer configs</summary>\n\n' +
        configs.map(([name, text]) => `${name}:\n${codeBlock(text, name.endsWith('.cfg') ? '' : 'nginx')}`).join('\n\n') +
        '\n\n</details>',
    );
  }
  return out.join('\n\n');
}

/** Replaces the temp dir in commands and configs with `$D`, so the report reads the same every run. */
function withTempDirAsVar(r: ProtocolResult, dir: string | undefined): ProtocolResult {
  if (!dir) return r;
  const sub = (s: string): string => s.split(dir).join('$D');
  return {
    ...r,
    setup: r.setup.map(sub),
    load: r.load.map((l) => ({ label: l.label, commands: l.commands.map(sub) })),
    configs: Object.fromEntries(Object.entries(r.configs).map(([k, v]) => [k, sub(v)])),
  };
}

