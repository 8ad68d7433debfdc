// Earliest-deadline-first scheduler over weighted entries (what Envoy uses for weighted RR, weighted least
// request and locality picks): a min-heap on typed arrays, O(log n) per pick, no allocation.

export class EdfScheduler {
  private readonly heap: Int32Array;     // entry indices, heap-ordered
  private readonly deadline: Float64Array;
  private readonly seq: Float64Array;    // insertion order, the tie-breaker
  private size = 0;
  private counter = 0;
  private now = 0;

  /** Entries with weight <= 0 (or NaN) are left out and never picked. */
  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    this.heap = new Int32Array(n);
    this.deadline = new Float64Array(n);
    this.seq = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const w = weights[i]!;
      if (!(w > 0)) continue;
      this.deadline[i] = 1 / w;
      this.seq[i] = this.counter++;
      this.heap[this.size] = i;
      this.siftUp(this.size++);
    }
  }

  get empty(): boolean { return this.size === 0; }

  /** The entry that is due next; -1 when empty. Call `advance` after using it. */
  peek(): number { return this.size === 0 ? -1 : this.heap[0]!; }

  /** Re-schedules the entry returned by `peek` with its (possibly new) weight. */
  advance(weight: number): void {
    const i = this.heap[0]!;
    this.now = this.deadline[i]!;
    this.deadline[i] = this.now + 1 / (weight > 0 ? weight : 1e-9);
    this.seq[i] = this.counter++;
    this.siftDown(0);
  }

  /** peek + advance with a fixed weight; -1 when empty. */
  pick(weight: ArrayLike<number>): number {
    if (this.size === 0) return -1;
    const i = this.heap[0]!;
    this.advance(weight[i]!);
    return i;
  }

  private less(a: number, b: number): boolean {
    const da = this.deadline[a]!, db = this.deadline[b]!;
    return da < db || (da === db && this.seq[a]! < this.seq[b]!);
  }

  private siftUp(pos: number): void {
    const h = this.heap;
    const x = h[pos]!;
    while (pos > 0) {
      const parent = (pos - 1) >> 1;
      const p = h[parent]!;
      if (!this.less(x, p)) break;
      h[pos] = p;
      pos = parent;
    }
    h[pos] = x;
  }

  private siftDown(pos: number): void {
    const h = this.heap, n = this.size;
    const x = h[pos]!;
    for (;;) {
      let c = 2 * pos + 1;
      if (c >= n) break;
      if (c + 1 < n && this.less(h[c + 1]!, h[c]!)) c++;
      if (!this.less(h[c]!, x)) break;
      h[pos] = h[c]!;
      pos = c;
    }
    h[pos] = x;
  }
}
