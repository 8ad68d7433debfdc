// Per-stream buffer memory accounts for envoy.overload_actions.reset_high_memory_stream (Envoy's
// WatermarkBufferFactory and BufferMemoryAccount, configured by the overload manager's
// buffer_factory_config.minimum_account_to_track_power_of_two; configuration/operations/
// overload_manager "Reset Streams"). A stream is tracked once the bytes it holds in buffers reach
// 2^N: the request body it keeps for a retry or while its upstream connection is made, and the
// response bytes queued towards its client. Tracked streams fall into 8 power-of-two memory classes
// ([2^N, 2^(N+1)), ..., >= 2^(N+7)); when the action fires with state s, the streams of the top
// floor(s * 8) + 1 classes are reset, the biggest first, at most 50 per invocation.
//
// The hot path pays one comparison where a stream's buffered bytes grow (and nothing while the
// action is not configured: the minimum is then Infinity). A stream's balance is not kept up to
// date chunk by chunk: it is asked for when the action fires, and streams that fell below the
// minimum meanwhile are dropped from the set then.

/** What the accounts need from a stream (ActiveStream implements it). */
export interface AccountedStream {
  /** Bytes the stream holds in buffers now. */
  bufferedBytes(): number;
  /** Resets the stream (as Envoy's StreamResetReason::OverloadManager); it calls untrack() on its way out. */
  resetForOverload(): void;
}

/** Envoy's BufferMemoryAccountImpl::NUM_MEMORY_CLASSES_. */
export const NUM_MEMORY_CLASSES = 8;
/** Envoy's kMaxNumberOfStreamsToResetPerInvocation. */
export const MAX_RESETS_PER_INVOCATION = 50;

export class BufferAccounts {
  /** 2^minimum_account_to_track_power_of_two; Infinity while nothing is tracked. */
  minimum = Infinity;
  private readonly tracked = new Set<AccountedStream>();

  /** Applies buffer_factory_config (null: track nothing, forget what was tracked). */
  configure(powerOfTwo: number | null): void {
    this.minimum = powerOfTwo === null ? Infinity : 2 ** powerOfTwo;
    if (powerOfTwo === null) this.tracked.clear();
  }

  track(s: AccountedStream): void { this.tracked.add(s); }
  untrack(s: AccountedStream): void { this.tracked.delete(s); }
  get trackedCount(): number { return this.tracked.size; }

  /** The memory class of a balance: 0..7, or -1 below the minimum. */
  classOf(bytes: number): number {
    if (!(bytes >= this.minimum)) return -1;
    let c = 0;
    let upper = this.minimum * 2;
    while (c < NUM_MEMORY_CLASSES - 1 && bytes >= upper) { c++; upper *= 2; }
    return c;
  }

  /**
   * Envoy's resetAccountsGivenPressure: with the action at `pressure` (0..1), resets the streams in
   * the top floor(pressure * 8) + 1 memory classes, biggest first, at most 50. Returns how many.
   */
  resetGivenPressure(pressure: number): number {
    const classesToClear = Math.min(Math.floor(pressure * NUM_MEMORY_CLASSES) + 1, NUM_MEMORY_CLASSES);
    const lowest = NUM_MEMORY_CLASSES - classesToClear;
    const candidates: Array<{ s: AccountedStream; bytes: number }> = [];
    for (const s of this.tracked) {
      const bytes = s.bufferedBytes();
      const c = this.classOf(bytes);
      if (c < 0) this.tracked.delete(s);
      else if (c >= lowest) candidates.push({ s, bytes });
    }
    candidates.sort((a, b) => b.bytes - a.bytes);
    const n = Math.min(candidates.length, MAX_RESETS_PER_INVOCATION);
    for (let i = 0; i < n; i++) {
      const s = candidates[i]!.s;
      this.tracked.delete(s);
      s.resetForOverload();
    }
    return n;
  }
}

/** The process's accounts (one overload manager per process, as Envoy has one per server). */
export const bufferAccounts = new BufferAccounts();
