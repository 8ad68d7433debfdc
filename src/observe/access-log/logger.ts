// Access-log sinks: file (append), stdout and stderr, as Envoy's file and stream access loggers
// (envoy.extensions.access_loggers.file.v3 / stream.v3). Lines are rendered at log() time and
// written in batches (64 KiB or every 16 ms) so logging never blocks or writes once per request.
import { createWriteStream, openSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { AccessLogConfig } from '../../proxy/config/types.js';
import type { StreamInfo } from '../../proxy/stream-info.js';
import { createLogger } from '../logger.js';
import { DEFAULT_FORMAT, compileJsonFormat, compileTemplate } from './format.js';

const diag = createLogger('access_log');

export interface AccessLogger {
  /** Renders one line from the finished stream and queues it; cheap, never blocks. */
  log(info: StreamInfo): void;
  /** Writes what is queued, then releases the sink (a file is closed; stdout/stderr stay open). */
  close(): Promise<void>;
}

/** A sink that cannot be set up (the file cannot be opened); `code` is stable. */
export class AccessLogError extends Error {
  override readonly name = 'AccessLogError';
  readonly code = 'ACCESS_LOG_OPEN_FAILED';
  constructor(readonly path: string, options: { cause: unknown }) {
    super(`cannot open access log ${path}: ${(options.cause as Error)?.message ?? String(options.cause)}`, options);
  }
}

export interface BufferOptions {
  /** Write as soon as this many characters are queued (default 64 KiB). */
  readonly batchBytes?: number;
  /** Write whatever is queued at most this long after the first queued line (default 16 ms). */
  readonly flushMs?: number;
  /** Drop lines (counted in `dropped`) while this much is queued behind a slow sink (default 16 MiB). */
  readonly maxQueuedBytes?: number;
}

/**
 * Batches rendered lines into one `write` per batch on a Writable, honouring backpressure:
 * while the sink needs draining lines queue in memory, and past `maxQueuedBytes` they are dropped.
 */
export class BufferedAccessLogger implements AccessLogger {
  /** Lines dropped because the sink fell too far behind or failed. */
  dropped = 0;
  private queue: string[] = [];
  private queued = 0;
  private timer: NodeJS.Timeout | null = null;
  private waitingDrain = false;
  private failed = false;
  private closing: Promise<void> | null = null;
  private readonly batchBytes: number;
  private readonly flushMs: number;
  private readonly maxQueued: number;
  private readonly onTimer = (): void => { this.timer = null; this.flush(); };

  constructor(
    private readonly render: (info: StreamInfo) => string,
    private readonly out: Writable,
    /** True when close() should end the stream (files); false for shared streams (stdout). */
    private readonly ownsStream: boolean,
    opts: BufferOptions = {},
  ) {
    this.batchBytes = opts.batchBytes ?? 64 * 1024;
    this.flushMs = opts.flushMs ?? 16;
    this.maxQueued = opts.maxQueuedBytes ?? 16 * 1024 * 1024;
    if (ownsStream) {
      out.on('error', (err) => {
        if (!this.failed) diag.error('access log write failed, dropping further lines: %s', err.message);
        this.failed = true;
        this.dropped += this.queue.length;
        this.queue = [];
        this.queued = 0;
      });
    }
  }

  log(info: StreamInfo): void {
    if (this.closing !== null || this.failed) { this.dropped++; return; }
    if (this.queued >= this.maxQueued) { this.dropped++; return; }
    const line = this.render(info);
    this.queue.push(line);
    this.queued += line.length;
    if (this.queued >= this.batchBytes && !this.waitingDrain) this.flush();
    else if (this.timer === null) this.timer = setTimeout(this.onTimer, this.flushMs);
  }

  /** Writes the queued lines now (unless the sink asked to wait for 'drain'). */
  flush(): void {
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    if (this.queue.length === 0 || this.waitingDrain || this.failed) return;
    const data = this.queue.length === 1 ? this.queue[0]! : this.queue.join('');
    this.queue = [];
    this.queued = 0;
    if (!this.out.write(data)) {
      this.waitingDrain = true;
      this.out.once('drain', () => {
        this.waitingDrain = false;
        if (this.queue.length > 0 && this.closing === null) this.flush();
      });
    }
  }

  close(): Promise<void> {
    this.closing ??= this.finish();
    return this.closing;
  }

  private async finish(): Promise<void> {
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    if (this.waitingDrain && !this.failed) {
      await new Promise<void>((resolve) => {
        const done = (): void => { this.out.off('drain', done); this.out.off('close', done); resolve(); };
        this.out.once('drain', done);
        this.out.once('close', done);
      });
    }
    const data = this.failed ? '' : this.queue.join('');
    this.queue = [];
    this.queued = 0;
    if (this.ownsStream) {
      if (this.out.destroyed || this.failed) { this.out.destroy(); return; }
      await new Promise<void>((resolve) => {
        this.out.once('close', resolve);
        if (data === '') this.out.end();
        else this.out.end(data);
      });
    } else if (data !== '') {
      await new Promise<void>((resolve) => { this.out.write(data, () => resolve()); });
    }
  }
}

/** The line renderer an access log config describes (Envoy's default format when text is empty). */
export function compileAccessLogFormat(format: AccessLogConfig['format']): (info: StreamInfo) => string {
  if (format.kind === 'json') return compileJsonFormat(format.fields);
  return compileTemplate(format.template === '' ? DEFAULT_FORMAT : format.template);
}

/**
 * Builds the logger for one `access_log` entry. The file is opened (append, created if missing)
 * before this returns, so a bad path fails config loading with AccessLogError; a bad format
 * throws FormatError.
 */
export function createAccessLogger(cfg: AccessLogConfig): AccessLogger {
  const render = compileAccessLogFormat(cfg.format);
  switch (cfg.sink.kind) {
    case 'stdout': return new BufferedAccessLogger(render, process.stdout, false);
    case 'stderr': return new BufferedAccessLogger(render, process.stderr, false);
    case 'file': {
      const path = cfg.sink.path;
      let fd: number;
      try {
        fd = openSync(path, 'a', 0o644);
      } catch (cause) {
        throw new AccessLogError(path, { cause });
      }
      return new BufferedAccessLogger(render, createWriteStream(path, { fd, autoClose: true }), true);
    }
  }
}
