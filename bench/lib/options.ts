// The command line of `npm run bench` (bench/run.ts): which scenarios to run (`--only`, by letter
// or name), `--quick` smoke runs, the candidate commands, rounds and durations, and the report file.
// Kept apart from run.ts so test/bench can check the parsing without starting a benchmark.
import { join, resolve } from 'node:path';
import { PROTOCOL_SCENARIOS, type ProtocolScenario } from '../scenarios/protocol-common.js';

export type Scenario = 'a' | 'b' | ProtocolScenario;
export const ALL_SCENARIOS: readonly Scenario[] = ['a', 'b', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'];

// The same V8 flags the `weft` launcher (shebang) sets (see src/cli/main.ts); spelled out because this runs node directly.
export const DEFAULT_WEFT = 'node --max-semi-space-size=2 --no-memory-reducer dist/src/cli/main.js';
export const DEFAULT_CANDIDATE = `${DEFAULT_WEFT} proxy -c bench/peers.yaml --log-level warning`;

/** Other names `--only` accepts for a scenario, besides its letter and PROTOCOL_SCENARIOS' name. */
const ALIASES: Readonly<Record<string, Scenario>> = {
  c: 'a',
  saturation: 'a',
  http1: 'a',
  'fixed-rate': 'b',
  sidecars: 'j',
  h2h2: 'j',
  'h2-h2': 'j',
  streams: 'k',
  mtls: 'l',
  'tls-handshakes': 'f',
};

export const USAGE = `usage: npm run bench -- [options]
  --quick            one short round of everything (a smoke run, not numbers to quote): a 1 × 3 s, b 4 s,
                     d–k 1 round × 2 s after 1 s of warm-up
  --only a,b,...     scenarios to run (default: all), by letter or name:
                       a  saturation, HTTP/1.1 (with c: RSS under load)    b  fixed rate (1000 rps)
                       d  h2c: HTTP/2 cleartext rps (h2load)               e  grpc: gRPC unary rps (h2load)
                       f  tls: new TLS handshakes/s (openssl s_time)       g  https: HTTPS keep-alive rps (wrk)
                       h  tcp: TCP proxy MB/s (iperf3)                     i  multicore: HTTP/1.1, 2 workers, unpinned
                       j  grpc-sidecars (h2h2): gRPC through two proxies   k  mixed: 1,000 streams over 10 h2c connections
                       l  mtls-sidecars (mtls): two Weft sidecars, mesh mTLS vs plaintext (wrk)
  --proxy-cmd CMD    candidate of a and b, run from the repo root (default: ${DEFAULT_CANDIDATE})
  --weft CMD         how d–k start Weft, before "proxy -c bench/envoy/<scenario>.yaml ..." (default: ${DEFAULT_WEFT})
  --no-candidate     measure only direct, nginx and haproxy
  --rounds N         d–k: interleaved rounds per target (default 3; --quick 1)
  --duration S       d–k: seconds per measurement (default 8; --quick 2)
  --rate N           scenario b's rate in requests per second (default 1000)
  --out FILE         where to write the report (default bench/RESULTS.md); with --only, the sections of
                     FILE that were not re-run are kept, marked with the date of the run they come from
Every scenario reports, per target, the rate, the CPU time of its process tree per request (per
handshake, per MB) and its peak RSS; the report starts with a summary table of those figures.`;

export interface Options {
  readonly quick: boolean;
  readonly scenarios: ReadonlySet<Scenario>;
  /** Whether --only was given (then sections not re-run are kept from the existing report). */
  readonly partial: boolean;
  readonly candidateCmd: string | undefined;
  readonly weft: string | undefined;
  readonly rounds: number | undefined;
  readonly durationS: number | undefined;
  readonly rate: number;
  readonly out: string;
  readonly help: boolean;
  readonly argv: string[];
}

/** The scenario a name given to --only stands for, or undefined. */
export function scenarioNamed(name: string): Scenario | undefined {
  const s = name.trim().toLowerCase();
  if ((ALL_SCENARIOS as readonly string[]).includes(s)) return s as Scenario;
  if (s in ALIASES) return ALIASES[s];
  for (const [letter, n] of Object.entries(PROTOCOL_SCENARIOS)) if (n === s) return letter as ProtocolScenario;
  return undefined;
}

export function parseOptions(argv: string[], root: string): Options {
  let quick = false;
  let only: string | undefined;
  let candidateCmd: string | undefined = DEFAULT_CANDIDATE;
  let weft: string | undefined = DEFAULT_WEFT;
  let rounds: number | undefined;
  let durationS: number | undefined;
  let rate = 1000;
  let out = join(root, 'bench', 'RESULTS.md');
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    switch (arg) {
      case '--quick':
        quick = true;
        break;
      case '--only':
        only = [only, value()].filter((x) => x !== undefined).join(',');
        break;
      case '--proxy-cmd':
        candidateCmd = value();
        break;
      case '--no-candidate':
        candidateCmd = undefined;
        weft = undefined;
        break;
      case '--weft':
        weft = value();
        break;
      case '--rounds':
        rounds = Number(value());
        if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
        break;
      case '--duration':
        durationS = Number(value());
        if (!Number.isInteger(durationS) || durationS < 1) throw new Error('--duration must be a positive whole number of seconds');
        break;
      case '--rate':
        rate = Number(value());
        if (!(rate > 0)) throw new Error('--rate must be a positive number');
        break;
      case '--out':
        out = resolve(value());
        break;
      case '--help':
      case '-h':
        help = true;
        break;
      default:
        throw new Error(`unknown argument ${arg}\n${USAGE}`);
    }
  }
  const scenarios = new Set<Scenario>(only === undefined ? ALL_SCENARIOS : []);
  for (const s of (only ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '')) {
    const sc = scenarioNamed(s);
    if (sc === undefined) throw new Error(`--only: unknown scenario "${s}"\n${USAGE}`);
    scenarios.add(sc);
  }
  if (only !== undefined && scenarios.size === 0) throw new Error(`--only: no scenario given\n${USAGE}`);
  return { quick, scenarios, partial: only !== undefined, candidateCmd, weft, rounds, durationS, rate, out, help, argv };
}
