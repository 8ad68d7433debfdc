// Envoy's drain manager (arch_overview/operations/draining; DrainManagerImpl::drainClose): during a
// drain sequence a listener keeps accepting, but its connections are told to go elsewhere:
// an HTTP/1.1 response says `Connection: close` and the connection closes after it, an HTTP/2
// connection gets GOAWAY. With the Gradual strategy (`--drain-strategy gradual`, Envoy's default)
// the chance that a response closes its connection rises linearly from 0 at the start of the drain
// time to 1 at its end; with Immediate (Istio's choice for sidecars) every response does from the
// start. Counted in `http.<prefix>.downstream_cx_drain_close`. The sequence is started by a sidecar
// leaving the mesh (its termination drain duration) and by `POST /drain_listeners?graceful`.

export type DrainStrategy = 'gradual' | 'immediate';

export const DRAIN_STRATEGIES: readonly DrainStrategy[] = ['gradual', 'immediate'];

/** One drain sequence: started now, lasting durationMs. */
export class DrainSequence {
  private readonly start = performance.now();

  constructor(readonly durationMs: number, readonly strategy: DrainStrategy) {}

  /** Milliseconds since the sequence started. */
  get elapsedMs(): number { return performance.now() - this.start; }

  /** Whether the connection at hand should close now (Envoy's drainClose()). */
  drainClose(): boolean {
    if (this.strategy === 'immediate' || this.durationMs <= 0) return true;
    const elapsed = performance.now() - this.start;
    return elapsed >= this.durationMs || Math.random() * this.durationMs < elapsed;
  }

  /**
   * For connections asked by a periodic sweep rather than at each response: the chance that one not
   * asked yet is asked at this sweep, so that the share asked grows linearly with the elapsed time
   * (Gradual), given the share that had been asked by the previous sweep at `prevElapsedMs`.
   */
  sweepChance(prevElapsedMs: number): number {
    if (this.strategy === 'immediate' || this.durationMs <= 0) return 1;
    const now = Math.min(this.elapsedMs, this.durationMs) / this.durationMs;
    const before = Math.min(prevElapsedMs, this.durationMs) / this.durationMs;
    return before >= 1 ? 1 : (now - before) / (1 - before);
  }
}
