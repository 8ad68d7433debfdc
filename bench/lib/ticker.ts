// A sub-millisecond clock for the fixed-rate load generator: a worker thread that sleeps with
// Atomics.wait (which takes fractional milliseconds) until each scheduled send time and then wakes
// the main thread. Node timers only have 1 ms resolution, which alone would add up to 1 ms of
// scheduling error to every measured latency; this keeps it to the wake-up cost (tens of µs).
import { parentPort, workerData } from 'node:worker_threads';

export interface TickerData {
  /** Schedule origin, from process.hrtime.bigint() (monotonic and shared by all threads). */
  readonly t0: bigint;
  /** Interval between ticks, in nanoseconds. */
  readonly intervalNs: number;
}

function run(data: TickerData): void {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 1; ; i++) {
    const dueNs = i * data.intervalNs;
    const waitMs = (dueNs - Number(process.hrtime.bigint() - data.t0)) / 1e6;
    if (waitMs > 0) Atomics.wait(sleeper, 0, 0, waitMs);
    parentPort!.postMessage(i);
  }
}

if (parentPort && workerData) run(workerData as TickerData);
