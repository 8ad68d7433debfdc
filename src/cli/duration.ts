// Durations on the command line, written as Istio writes them in its mesh config (terminationDrainDuration: 5s).

/** A duration as Istio writes one (`5s`, `500ms`, `1m`, `1.5s`) or a bare number of seconds; undefined if invalid. */
export function durationMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (m === null) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 's']!;
  return Math.round(Number(m[1]) * unit);
}
