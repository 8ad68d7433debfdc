// Fixed-rate (open-loop) HTTP/1.1 load generator, in the manner of wrk2 (not packaged by Debian):
// N keep-alive connections, requests issued on a fixed schedule whatever the responses do, and
// latency measured from each request's *scheduled* send time, so a stalled target is charged for
// the requests that queued behind the stall (no coordinated omission). Also reports the service
// time (from the actual send) and the generator's own send lag, to show how precise the schedule was.
//
// CLI: node dist/bench/lib/fixed-rate.js --port 18002 [--rate 1000] [--duration 15] [--warmup 2]
//        [--connections 16] [--path /] [--host 127.0.0.1]
// prints "MEASURE_START" when the measured window begins, "MEASURE_END" when it has drained, then
// "RESULT <json>" (a FixedRateResult).
import { connect, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { TickerData } from './ticker.js';

export interface FixedRateOptions {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  /** Requests per second, over all connections together. */
  readonly rate: number;
  /** Measured window, seconds. */
  readonly durationS: number;
  /** Unmeasured lead-in at the same rate (JIT, pools, caches), seconds. */
  readonly warmupS: number;
  readonly connections: number;
  /** Called when the measured window starts and when it has drained (for CPU accounting). */
  readonly onPhase?: (phase: 'MEASURE_START' | 'MEASURE_END') => void;
}

export interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export interface FixedRateResult {
  readonly rate: number;
  readonly durationS: number;
  readonly connections: number;
  /** Requests scheduled in the measured window, and how many of them got a complete response. */
  readonly scheduled: number;
  readonly completed: number;
  readonly achievedRps: number;
  /** Responses with a status outside 2xx, connection errors, requests left unanswered at the end. */
  readonly non2xx: number;
  readonly errors: number;
  readonly unanswered: number;
  /** From the scheduled send time to the last byte of the response (the headline number), ms. */
  readonly latencyMs: Percentiles;
  /** From the actual send to the last byte of the response, ms. */
  readonly serviceMs: Percentiles;
  /** How late the generator sent, relative to the schedule, ms. */
  readonly sendLagMs: Percentiles;
}

const now = (): bigint => process.hrtime.bigint();

function percentiles(samples: Float64Array, n: number): Percentiles {
  if (n === 0) return { p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN };
  const s = samples.slice(0, n).sort();
  const at = (q: number): number => s[Math.min(n - 1, Math.ceil(q * n) - 1)]!;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i]!;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: s[n - 1]!, mean: sum / n };
}

interface InFlight {
  readonly scheduledNs: number; // since t0
  readonly sentNs: number;
  readonly measured: boolean;
}

const enum State {
  Head,
  Body,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
}

/**
 * One keep-alive connection with a minimal HTTP/1.1 response reader (status line, Content-Length
 * or chunked bodies, Connection: close). One request at a time, no pipelining.
 */
class Connection {
  private socket: Socket | undefined;
  private state = State.Head;
  private head = '';
  private line = '';
  private remaining = 0;
  private status = 0;
  private closeAfter = false;
  inFlight: InFlight | undefined;
  ready = false;

  constructor(
    private readonly gen: LoadGenerator,
    private readonly request: Buffer,
  ) {}

  open(): void {
    this.ready = false;
    this.state = State.Head;
    this.head = '';
    this.line = '';
    const s = connect(this.gen.opts.port, this.gen.opts.host);
    s.setNoDelay(true);
    this.socket = s;
    s.on('connect', () => {
      this.ready = true;
      this.gen.idle(this);
    });
    s.on('data', (chunk: Buffer) => this.onData(chunk));
    s.on('error', () => undefined); // 'close' follows
    s.on('close', () => {
      if (this.socket !== s) return;
      this.socket = undefined;
      this.ready = false;
      if (this.inFlight) {
        this.gen.failed(this.inFlight);
        this.inFlight = undefined;
      }
      if (!this.gen.stopped) setTimeout(() => this.open(), 10);
    });
  }

  send(req: InFlight): void {
    this.inFlight = req;
    this.socket!.write(this.request);
  }

  close(): void {
    const s = this.socket;
    this.socket = undefined;
    s?.destroy();
  }

  private onData(buf: Buffer): void {
    let i = 0;
    while (i < buf.length) {
      switch (this.state) {
        case State.Head: {
          const end = buf.indexOf('\r\n\r\n', i, 'latin1');
          if (end < 0 || this.head.length > 0) {
            // The head spans several reads (rare): accumulate as text and look again.
            this.head += buf.toString('latin1', i);
            const e = this.head.indexOf('\r\n\r\n');
            if (e < 0) return;
            const rest = Buffer.from(this.head.slice(e + 4), 'latin1');
            if (!this.parseHead(this.head.slice(0, e))) return;
            this.head = '';
            buf = rest;
            i = 0;
          } else {
            if (!this.parseHead(buf.toString('latin1', i, end))) return;
            i = end + 4;
          }
          // A response without a body is complete here; an interim 1xx is skipped.
          if (this.state === State.Head && this.status >= 200 && !this.complete()) return;
          break;
        }
        case State.Body: {
          const take = Math.min(this.remaining, buf.length - i);
          this.remaining -= take;
          i += take;
          if (this.remaining === 0 && !this.complete()) return;
          break;
        }
        case State.ChunkSize: {
          // The chunk-size line may be split across reads (even between CR and LF).
          let eol = buf.indexOf('\r\n', i, 'latin1');
          if (eol < 0 && this.line.endsWith('\r') && buf[i] === 10) eol = i - 1;
          if (eol < 0) {
            this.line += buf.toString('latin1', i);
            if (this.line.length > 1024) return this.protocolError();
            return;
          }
          const text = (this.line + buf.toString('latin1', i, Math.max(i, eol))).replace(/\r$/, '');
          this.line = '';
          this.remaining = parseInt(text, 16);
          if (Number.isNaN(this.remaining)) return this.protocolError();
          i = eol + 2;
          this.state = this.remaining === 0 ? State.Trailers : State.ChunkData;
          if (this.state === State.Trailers) this.remaining = 2;
          break;
        }
        case State.ChunkData: {
          const take = Math.min(this.remaining, buf.length - i);
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) {
            this.state = State.ChunkEnd;
            this.remaining = 2;
          }
          break;
        }
        case State.ChunkEnd: {
          const take = Math.min(this.remaining, buf.length - i);
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = State.ChunkSize;
          break;
        }
        case State.Trailers: {
          // Only the empty trailer section (CRLF) is expected: skip its two bytes.
          const take = Math.min(this.remaining, buf.length - i);
          this.remaining -= take;
          i += take;
          if (this.remaining === 0 && !this.complete()) return;
          break;
        }
      }
    }
  }

  /** Reads the status line and framing headers; false (and the connection dropped) if malformed. */
  private parseHead(head: string): boolean {
    const m = /^HTTP\/1\.([01]) (\d{3})/.exec(head);
    if (!m) {
      this.protocolError();
      return false;
    }
    this.status = Number(m[2]);
    const lower = head.toLowerCase();
    this.closeAfter = /\r\nconnection:[ \t]*close/.test(lower) || m[1] === '0';
    const len = /\r\ncontent-length:[ \t]*(\d+)/.exec(lower);
    if (this.status < 200 || this.status === 204 || this.status === 304) {
      this.state = State.Head;
    } else if (/\r\ntransfer-encoding:[^\r]*chunked/.test(lower)) {
      this.state = State.ChunkSize;
    } else if (len) {
      this.remaining = Number(len[1]);
      this.state = this.remaining > 0 ? State.Body : State.Head;
    } else {
      this.protocolError(); // read-until-close bodies are not expected from a keep-alive target
      return false;
    }
    return true;
  }

  /** A response has ended; false when the connection is closing (so reading stops). */
  private complete(): boolean {
    this.state = State.Head;
    const req = this.inFlight;
    this.inFlight = undefined;
    if (req) this.gen.done(req, this.status);
    if (this.closeAfter) {
      this.socket?.destroy(); // 'close' reconnects
      return false;
    }
    this.gen.idle(this);
    return true;
  }

  private protocolError(): void {
    this.socket?.destroy(); // 'close' counts the request as failed and reconnects
  }
}

class LoadGenerator {
  stopped = false;
  private readonly t0 = now();
  private readonly intervalNs: number;
  private readonly warmupNs: number;
  private readonly endNs: number;
  private nextIndex = 0;
  private readonly idleConns: Connection[] = [];
  private readonly pending: InFlight[] = [];
  private readonly conns: Connection[] = [];
  private readonly latency: Float64Array;
  private readonly service: Float64Array;
  private readonly lag: Float64Array;
  private n = 0;
  private lagN = 0;
  private scheduled = 0;
  private non2xx = 0;
  private errors = 0;
  private outstanding = 0; // measured requests not yet answered or failed
  private measuring = false;
  private finish: (() => void) | undefined;

  constructor(readonly opts: FixedRateOptions) {
    this.intervalNs = 1e9 / opts.rate;
    this.warmupNs = opts.warmupS * 1e9;
    this.endNs = this.warmupNs + opts.durationS * 1e9;
    const cap = Math.ceil(opts.rate * opts.durationS) + 16;
    this.latency = new Float64Array(cap);
    this.service = new Float64Array(cap);
    this.lag = new Float64Array(cap);
    const request = Buffer.from(`GET ${opts.path} HTTP/1.1\r\nHost: ${opts.host}:${opts.port}\r\n\r\n`, 'latin1');
    for (let i = 0; i < opts.connections; i++) this.conns.push(new Connection(this, request));
  }

  async run(): Promise<FixedRateResult> {
    for (const c of this.conns) c.open();
    const data: TickerData = { t0: this.t0, intervalNs: this.intervalNs };
    const ticker = new Worker(new URL('./ticker.js', import.meta.url), { workerData: data });
    ticker.on('message', () => this.tick());
    await new Promise<void>((resolve, reject) => {
      this.finish = resolve;
      ticker.once('error', reject);
    });
    await ticker.terminate();
    const drainNs = Number(now() - this.t0) - this.endNs;
    this.opts.onPhase?.('MEASURE_END');
    this.stopped = true;
    for (const c of this.conns) c.close();
    const completed = this.n;
    return {
      rate: this.opts.rate,
      durationS: this.opts.durationS,
      connections: this.opts.connections,
      scheduled: this.scheduled,
      completed,
      achievedRps: completed / ((this.endNs - this.warmupNs + Math.max(0, drainNs)) / 1e9),
      non2xx: this.non2xx,
      errors: this.errors,
      unanswered: this.outstanding,
      latencyMs: percentiles(this.latency, this.n),
      serviceMs: percentiles(this.service, this.n),
      sendLagMs: percentiles(this.lag, this.lagN),
    };
  }

  /** Issues every request whose scheduled time has come. */
  private tick(): void {
    const elapsed = Number(now() - this.t0);
    while (!this.stopped) {
      const scheduledNs = (this.nextIndex + 1) * this.intervalNs;
      if (scheduledNs > elapsed || scheduledNs >= this.endNs) break;
      this.nextIndex++;
      const measured = scheduledNs >= this.warmupNs;
      if (measured && !this.measuring) {
        this.measuring = true;
        this.opts.onPhase?.('MEASURE_START');
      }
      if (measured) {
        this.scheduled++;
        this.outstanding++;
      }
      this.dispatch({ scheduledNs, sentNs: 0, measured });
    }
    if ((this.nextIndex + 1) * this.intervalNs >= this.endNs) this.drain();
  }

  private dispatch(req: InFlight): void {
    const conn = this.idleConns.shift();
    if (!conn) {
      this.pending.push(req);
      return;
    }
    const sentNs = Number(now() - this.t0);
    if (req.measured && this.lagN < this.lag.length) this.lag[this.lagN++] = (sentNs - req.scheduledNs) / 1e6;
    conn.send({ scheduledNs: req.scheduledNs, sentNs, measured: req.measured });
  }

  /** A connection is ready for its next request. */
  idle(conn: Connection): void {
    if (this.stopped || !conn.ready) return;
    this.idleConns.push(conn);
    const next = this.pending.shift();
    if (next) this.dispatch(next);
  }

  done(req: InFlight, status: number): void {
    if (!req.measured) return;
    const t = Number(now() - this.t0);
    if (status < 200 || status > 299) this.non2xx++;
    if (this.n < this.latency.length) {
      this.latency[this.n] = (t - req.scheduledNs) / 1e6;
      this.service[this.n] = (t - req.sentNs) / 1e6;
      this.n++;
    }
    this.outstanding--;
    this.drain();
  }

  failed(req: InFlight): void {
    if (!req.measured) return;
    this.errors++;
    this.outstanding--;
    this.drain();
  }

  private drainTimer: NodeJS.Timeout | undefined;
  /** Once the schedule is over, finishes when every measured request is answered (or after 5 s). */
  private drain(): void {
    if ((this.nextIndex + 1) * this.intervalNs < this.endNs) return;
    if (this.outstanding === 0 && this.pending.length === 0) {
      if (this.drainTimer) clearTimeout(this.drainTimer);
      this.finish?.();
      this.finish = undefined;
    } else if (!this.drainTimer) {
      this.drainTimer = setTimeout(() => {
        this.finish?.();
        this.finish = undefined;
      }, 5000);
    }
  }
}

/** Runs one fixed-rate measurement in this process. */
export function runFixedRate(opts: FixedRateOptions): Promise<FixedRateResult> {
  return new LoadGenerator(opts).run();
}

function parseArgs(argv: string[]): FixedRateOptions {
  const get = (name: string, def?: string): string => {
    const i = argv.indexOf(`--${name}`);
    const v = i >= 0 ? argv[i + 1] : def;
    if (v === undefined) throw new Error(`--${name} is required`);
    return v;
  };
  const num = (name: string, def?: string): number => {
    const v = Number(get(name, def));
    if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} must be a non-negative number`);
    return v;
  };
  return {
    host: get('host', '127.0.0.1'),
    port: num('port'),
    path: get('path', '/'),
    rate: num('rate', '1000'),
    durationS: num('duration', '15'),
    warmupS: num('warmup', '2'),
    connections: Math.max(1, Math.floor(num('connections', '16'))),
    onPhase: (phase) => process.stdout.write(`${phase}\n`),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runFixedRate(parseArgs(process.argv.slice(2))).then(
    (result) => {
      process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`fixed-rate: ${(err as Error).message}\n`);
      process.exit(2);
    },
  );
}
