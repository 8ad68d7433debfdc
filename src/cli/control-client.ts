// What the control-plane CLI commands share: the `--control HOST:PORT` address (env WEFT_CONTROL,
// default 127.0.0.1:15014), JSON requests to the HTTP API (src/control/api-server/), tables, ages.

export const DEFAULT_CONTROL = '127.0.0.1:15014';

/** A failed request: the API's `{error, details}` or a connection failure; the command prints it and exits 1. */
export class ControlError extends Error {
  constructor(message: string, readonly details: readonly string[] = [], readonly status = 0) { super(message); }
}

/** The control address from `--control`, else WEFT_CONTROL, else the default. */
export function controlAddress(flag: string | undefined): string {
  return flag ?? process.env.WEFT_CONTROL ?? DEFAULT_CONTROL;
}

/** Calls the API; resolves with the parsed JSON body of a 2xx answer, throws ControlError otherwise. */
export async function callControl(control: string, method: string, path: string, body?: string, contentType = 'application/yaml'): Promise<unknown> {
  const base = /^https?:\/\//.test(control) ? control : `http://${control}`;
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, { method, body, headers: body === undefined ? {} : { 'content-type': contentType } });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new ControlError(`cannot reach the control plane at ${control}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
  }
  const text = await res.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { throw new ControlError(`${method} ${path}: HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`, [], res.status); }
  if (!res.ok) {
    const j = json as { error?: string; details?: string[] };
    throw new ControlError(j.error ?? `HTTP ${res.status}`, j.details ?? [], res.status);
  }
  return json;
}

/** Prints a ControlError (message then each detail) to stderr; returns the exit code 1. */
export function reportError(cmd: string, e: unknown): number {
  if (!(e instanceof ControlError)) throw e;
  console.error(`weft ${cmd}: ${e.message}`);
  for (const d of e.details) console.error(`  ${d}`);
  return 1;
}

/** Left-aligned columns separated by three spaces, as kubectl prints them. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** kubectl's short age: 42s, 5m, 3h, 2d. */
export function age(since: string, now = Date.now()): string {
  const t = Date.parse(since);
  if (Number.isNaN(t)) return '<unknown>';
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** The `--control` option for parseArgs. */
export const CONTROL_OPTION = { control: { type: 'string' as const } };
