// The process's leveled diagnostic logger (not the access log): one global level with Envoy's level
// names (trace … critical, off), lines to stderr with a UTC timestamp, as Envoy's `--log-level` / admin `/logging`.
import { format } from 'node:util';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'error', 'critical', 'off'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const LEVEL_INDEX: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(LOG_LEVELS.map((l, i) => [l, i])),
);

/** Where formatted lines go; replaceable for tests. Each call gets one complete line with `\n`. */
export type LogSink = (line: string) => void;

const stderrSink: LogSink = (line) => { process.stderr.write(line); };

let threshold = LEVEL_INDEX.info!;
let sink: LogSink = stderrSink;
const names = new Set<string>();

/** A named logger; every logger shares the process level. */
export interface Logger {
  readonly name: string;
  trace(msg: string, ...args: unknown[]): void;
  debug(msg: string, ...args: unknown[]): void;
  info(msg: string, ...args: unknown[]): void;
  warning(msg: string, ...args: unknown[]): void;
  /** Alias of `warning`. */
  warn(msg: string, ...args: unknown[]): void;
  error(msg: string, ...args: unknown[]): void;
  critical(msg: string, ...args: unknown[]): void;
  /** True when a message at `level` would be written (to skip building expensive messages). */
  enabled(level: LogLevel): boolean;
}

function emit(level: number, name: string, msg: string, args: unknown[]): void {
  const text = args.length === 0 ? msg : format(msg, ...args);
  sink(`[${new Date().toISOString()}][${LOG_LEVELS[level]}][${name}] ${text}\n`);
}

/** Creates (or returns an equivalent) logger tagged with a component name, e.g. `admin`, `upstream`. */
export function createLogger(name: string): Logger {
  names.add(name);
  return {
    name,
    trace(msg, ...args) { if (threshold <= 0) emit(0, name, msg, args); },
    debug(msg, ...args) { if (threshold <= 1) emit(1, name, msg, args); },
    info(msg, ...args) { if (threshold <= 2) emit(2, name, msg, args); },
    warning(msg, ...args) { if (threshold <= 3) emit(3, name, msg, args); },
    warn(msg, ...args) { if (threshold <= 3) emit(3, name, msg, args); },
    error(msg, ...args) { if (threshold <= 4) emit(4, name, msg, args); },
    critical(msg, ...args) { if (threshold <= 5) emit(5, name, msg, args); },
    enabled(level) { const i = LEVEL_INDEX[level]; return i !== undefined && i < 6 && threshold <= i; },
  };
}

/** The default process logger (`main`). */
export const log: Logger = createLogger('main');

/** Sets the process level by Envoy name; false (and no change) for an unknown name. `warn` is accepted for `warning`. */
export function setLevel(name: string): boolean {
  const i = LEVEL_INDEX[name === 'warn' ? 'warning' : name];
  if (i === undefined) return false;
  threshold = i;
  return true;
}

/** The current process level name. */
export function getLevel(): LogLevel {
  return LOG_LEVELS[threshold]!;
}

/** Names of the loggers created so far, sorted (what admin `/logging` lists). */
export function loggerNames(): string[] {
  return [...names].sort();
}

/** Redirects output (tests); returns the previous sink. `null` restores stderr. */
export function setSink(next: LogSink | null): LogSink {
  const prev = sink;
  sink = next ?? stderrSink;
  return prev;
}
