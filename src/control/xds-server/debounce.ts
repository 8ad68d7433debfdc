// Coalesces bursts of mesh changes into one xDS push round: a round runs `debounceMs` after the last
// call, but never later than `maxDebounceMs` after the first call of a burst (as istiod's
// PILOT_DEBOUNCE_AFTER / PILOT_DEBOUNCE_MAX).

export class Debouncer {
  private timer: NodeJS.Timeout | undefined;
  private burstStart = 0;
  private closed = false;

  constructor(
    private readonly fire: () => void,
    private readonly debounceMs: number,
    private readonly maxDebounceMs: number,
  ) {}

  /** Asks for a round; calls within the window coalesce. */
  trigger(): void {
    if (this.closed) return;
    const now = Date.now();
    if (this.timer === undefined) this.burstStart = now;
    else clearTimeout(this.timer);
    const deadline = this.burstStart + Math.max(this.maxDebounceMs, this.debounceMs);
    const delay = Math.max(0, Math.min(this.debounceMs, deadline - now));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.fire();
    }, delay);
  }

  /** True while a round is waiting. */
  get pending(): boolean {
    return this.timer !== undefined;
  }

  /** Drops a waiting round; later triggers are ignored. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
