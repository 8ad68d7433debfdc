// The frame writer of Weft's HTTP/2 codec (RFC 9113 §4.1 frame layout, §6 frame definitions):
// frames are serialized into a slab (one allocation shared by many small frames), DATA payloads
// are queued as views without copying, and everything collected during one processing turn goes
// to the socket in one write (a writev when DATA payloads are in it). The writer counts the frames
// queued towards the socket and not yet written (Envoy's max_outbound_frames and
// max_outbound_control_frames accounting): a frame stays counted until the write holding it
// completes.

import type { Duplex } from 'node:stream';
import { FRAME_HEADER_LENGTH, Flag, FrameType } from './constants.js';

const SLAB_SIZE = 16 * 1024;

/** Called when a count crosses its limit ('outbound' or 'outbound_control'). */
export type OverflowHandler = (kind: 'outbound' | 'outbound_control') => void;

export class FrameWriter {
  private slab: Buffer = Buffer.allocUnsafe(SLAB_SIZE);
  /** Start of the slab region not yet moved to `chunks`. */
  private slabStart = 0;
  private slabPos = 0;
  private chunks: Buffer[] = [];
  /** Bytes in `chunks` + the open slab region. */
  pendingBytes = 0;
  /** Frames in this writer, not yet handed to the socket. */
  private pendingFrames = 0;
  private pendingControl = 0;
  /** Frames handed to the socket whose write has not completed. */
  private inflightFrames = 0;
  private inflightControl = 0;
  /** [frames, control] per write, in write order (write callbacks run in order). */
  private fifo: number[] = [];
  private fifoHead = 0;
  private readonly written: () => void;
  /** Set once the limits were crossed (reported once). */
  overflowed = false;
  /** Counting is off once the session is closing (the last GOAWAY is not limited). */
  counting = true;

  constructor(
    private readonly socket: Duplex,
    private readonly maxFrames: number,
    private readonly maxControl: number,
    private readonly onOverflow: OverflowHandler,
  ) {
    this.written = () => {
      const f = this.fifo;
      this.inflightFrames -= f[this.fifoHead]!;
      this.inflightControl -= f[this.fifoHead + 1]!;
      this.fifoHead += 2;
      if (this.fifoHead === f.length) { f.length = 0; this.fifoHead = 0; }
      else if (this.fifoHead > 1024) { f.splice(0, this.fifoHead); this.fifoHead = 0; }
    };
  }

  /** Frames queued towards the socket and not yet written (for tests and stats). */
  get outboundFrames(): number { return this.pendingFrames + this.inflightFrames; }
  get outboundControlFrames(): number { return this.pendingControl + this.inflightControl; }

  private count(control: boolean): void {
    this.pendingFrames++;
    if (control) this.pendingControl++;
    if (!this.counting || this.overflowed) return;
    if (this.pendingFrames + this.inflightFrames > this.maxFrames) { this.overflowed = true; this.onOverflow('outbound'); }
    else if (control && this.pendingControl + this.inflightControl > this.maxControl) { this.overflowed = true; this.onOverflow('outbound_control'); }
  }

  /** Room for `n` bytes at slabPos (a new slab when the current one is full). Returns the offset. */
  private reserve(n: number): number {
    if (this.slabPos + n > this.slab.length) {
      this.seal();
      this.slab = Buffer.allocUnsafe(n > SLAB_SIZE ? n : SLAB_SIZE);
      this.slabStart = this.slabPos = 0;
    }
    const at = this.slabPos;
    this.slabPos += n;
    this.pendingBytes += n;
    return at;
  }

  private seal(): void {
    if (this.slabPos > this.slabStart) {
      this.chunks.push(this.slab.subarray(this.slabStart, this.slabPos));
      this.slabStart = this.slabPos;
    }
  }

  private head(at: number, length: number, type: number, flags: number, streamId: number): void {
    const b = this.slab;
    b[at] = length >>> 16; b[at + 1] = (length >>> 8) & 0xff; b[at + 2] = length & 0xff;
    b[at + 3] = type; b[at + 4] = flags;
    b.writeUInt32BE(streamId, at + 5);
  }

  /** SETTINGS from [id, value, id, value, ...] (RFC 9113 §6.5). */
  settings(pairs: readonly number[]): void {
    const len = pairs.length * 3;
    const at = this.reserve(FRAME_HEADER_LENGTH + len);
    this.head(at, len, FrameType.SETTINGS, 0, 0);
    for (let i = 0, o = at + FRAME_HEADER_LENGTH; i < pairs.length; i += 2, o += 6) {
      this.slab.writeUInt16BE(pairs[i]!, o);
      this.slab.writeUInt32BE(pairs[i + 1]!, o + 2);
    }
    this.count(false);
  }

  settingsAck(): void {
    this.head(this.reserve(FRAME_HEADER_LENGTH), 0, FrameType.SETTINGS, Flag.ACK, 0);
    this.count(true);
  }

  /** PING with an 8-byte payload `hi`,`lo` (§6.7); an ACK counts as a control frame. */
  ping(ack: boolean, hi: number, lo: number): void {
    const at = this.reserve(FRAME_HEADER_LENGTH + 8);
    this.head(at, 8, FrameType.PING, ack ? Flag.ACK : 0, 0);
    this.slab.writeUInt32BE(hi >>> 0, at + 9);
    this.slab.writeUInt32BE(lo >>> 0, at + 13);
    this.count(ack);
  }

  /** PING ACK echoing the payload at `src[off..off+8]`. */
  pingAck(src: Buffer, off: number): void {
    const at = this.reserve(FRAME_HEADER_LENGTH + 8);
    this.head(at, 8, FrameType.PING, Flag.ACK, 0);
    src.copy(this.slab, at + 9, off, off + 8);
    this.count(true);
  }

  rstStream(streamId: number, code: number): void {
    const at = this.reserve(FRAME_HEADER_LENGTH + 4);
    this.head(at, 4, FrameType.RST_STREAM, 0, streamId);
    this.slab.writeUInt32BE(code >>> 0, at + 9);
    this.count(true);
  }

  goaway(lastStreamId: number, code: number): void {
    const at = this.reserve(FRAME_HEADER_LENGTH + 8);
    this.head(at, 8, FrameType.GOAWAY, 0, 0);
    this.slab.writeUInt32BE(lastStreamId, at + 9);
    this.slab.writeUInt32BE(code >>> 0, at + 13);
    this.count(false);
  }

  windowUpdate(streamId: number, increment: number): void {
    const at = this.reserve(FRAME_HEADER_LENGTH + 4);
    this.head(at, 4, FrameType.WINDOW_UPDATE, 0, streamId);
    this.slab.writeUInt32BE(increment, at + 9);
    this.count(false);
  }

  /** A header block as HEADERS + CONTINUATION frames of at most `maxFrameSize` bytes (copied: `block` may be a scratch view). */
  headers(streamId: number, block: Buffer, endStream: boolean, maxFrameSize: number): void {
    let off = 0;
    let type: number = FrameType.HEADERS;
    let flags = endStream ? Flag.END_STREAM : 0;
    do {
      const n = block.length - off > maxFrameSize ? maxFrameSize : block.length - off;
      const last = off + n === block.length;
      const at = this.reserve(FRAME_HEADER_LENGTH + n);
      this.head(at, n, type, last ? flags | Flag.END_HEADERS : flags, streamId);
      block.copy(this.slab, at + FRAME_HEADER_LENGTH, off, off + n);
      this.count(false);
      off += n;
      type = FrameType.CONTINUATION;
      flags = 0;
    } while (off < block.length);
  }

  /** A DATA frame header; the payload follows as `payload()` views totalling `length` bytes. */
  dataHeader(streamId: number, length: number, endStream: boolean): void {
    this.head(this.reserve(FRAME_HEADER_LENGTH), length, FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId);
    this.count(false);
  }

  /** A DATA payload piece, queued as is (no copy). */
  payload(view: Buffer): void {
    if (view.length === 0) return;
    this.seal();
    this.chunks.push(view);
    this.pendingBytes += view.length;
  }

  /** Hands everything queued to the socket in one write. Returns false when the socket asks to wait for 'drain'. */
  flush(): boolean {
    this.seal();
    const c = this.chunks;
    if (c.length === 0) return true;
    const s = this.socket;
    if (s.destroyed) { this.drop(); return false; }
    this.fifo.push(this.pendingFrames, this.pendingControl);
    this.inflightFrames += this.pendingFrames;
    this.inflightControl += this.pendingControl;
    this.pendingFrames = this.pendingControl = 0;
    this.pendingBytes = 0;
    let ok: boolean;
    if (c.length === 1) {
      ok = s.write(c[0], this.written);
    } else {
      s.cork();
      const last = c.length - 1;
      for (let i = 0; i < last; i++) s.write(c[i]);
      ok = s.write(c[last], this.written);
      s.uncork();
    }
    c.length = 0;
    return ok;
  }

  /** Forgets what was queued (the socket is gone). */
  drop(): void {
    this.chunks.length = 0;
    this.slabStart = this.slabPos;
    this.pendingBytes = this.pendingFrames = this.pendingControl = 0;
  }
}
