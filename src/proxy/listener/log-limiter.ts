// A rate limit for log lines an attacker can trigger at will (failed TLS handshakes, accept()
// failures when file descriptors run out): at most one line per interval per limiter, and the next
// line says how many were suppressed meanwhile. Counting stays exact in the stats; only the log is thinned.

import type { Logger, LogLevel } from '../../observe/logger.js';

export class LogLimiter {
  private last = -Infinity;
  private suppressed = 0;

  constructor(private readonly logger: Logger, private readonly level: LogLevel, private readonly intervalMs = 5_000) {}

  /** Logs `msg` (util.format style) unless a line went out less than the interval ago. */
  log(msg: string, ...args: unknown[]): void {
    if (!this.logger.enabled(this.level)) return;
    const now = performance.now();
    if (now - this.last < this.intervalMs) { this.suppressed++; return; }
    this.last = now;
    const tail = this.suppressed > 0 ? ` (${this.suppressed} similar lines suppressed)` : '';
    this.suppressed = 0;
    const write = this.level === 'debug' ? this.logger.debug : this.level === 'info' ? this.logger.info
      : this.level === 'warning' ? this.logger.warning : this.logger.error;
    write(msg + tail, ...args);
  }
}
