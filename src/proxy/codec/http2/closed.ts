// Memory of recently closed HTTP/2 streams for Weft's session: how a stream closed decides what a
// frame arriving on it afterwards means (RFC 9113 §5.1 "closed": ignored after our RST_STREAM,
// STREAM_CLOSED after the peer's RST_STREAM or a normal close). A fixed ring, no allocation.

/** How a remembered stream closed. */
export const enum Closed { Unknown = 0, ResetByUs = 1, ResetByPeer = 2, Normally = 3 }

const SIZE = 128;

export class ClosedStreams {
  private readonly ids = new Int32Array(SIZE);
  private readonly how = new Uint8Array(SIZE);
  private at = 0;

  remember(id: number, how: Closed): void {
    this.ids[this.at] = id;
    this.how[this.at] = how;
    this.at = (this.at + 1) % SIZE;
  }

  /** How a recently closed stream closed (Unknown when no longer remembered, or never opened). */
  lookup(id: number): Closed {
    const r = this.ids;
    for (let i = 0; i < SIZE; i++) if (r[i] === id) return this.how[i] as Closed;
    return Closed.Unknown;
  }
}
