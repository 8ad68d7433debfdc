// Envoy's downstream HTTP/2 flood protections (envoy.config.core.v3.Http2ProtocolOptions,
// Envoy's protocol_constraints) as far as node:http2 lets them be enforced without moving the
// socket's reads and writes into JavaScript (a JS frame scanner costs ~10–25 µs per request on
// the h2c path, measured with h2load; the native consume path is kept):
//  - max_outbound_control_frames: nghttp2's own limit on queued PING/SETTINGS ACKs and
//    RST_STREAMs (max_outbound_ack), fixed at 1000 = Envoy's default; its NGHTTP2_ERR_FLOODED
//    closes the connection and counts http2.outbound_control_flood. Other values are config errors.
//  - max_consecutive_inbound_frames_with_empty_payload: node:http2 counts every DATA frame with
//    an empty payload and no END_STREAM as an invalid frame, in one session-wide budget
//    (maxSessionInvalidFrames) with other invalid frames: streams refused while the client had
//    not yet seen max_concurrent_streams, malformed requests. The budget is the configured value
//    plus max_concurrent_streams plus 100 (so that well-behaved clients racing the SETTINGS are
//    never cut off): past it the connection closes (http2.inbound_empty_frames_flood). Not
//    Envoy's "consecutive" count, but the same bound on the flood. nghttp2 itself caps
//    CONTINUATION frames per header block.
//  - max_inbound_priority_frames_per_stream: PRIORITY frames are counted from node:http2's
//    'priority' events; more than max × (1 + streams opened) closes the connection
//    (http2.inbound_priority_frames_flood), Envoy's formula.
//  - max_outbound_frames: node:http2 stops pulling frames out of nghttp2 while a socket write is
//    pending, and response bodies are pushed back per stream, so queued frames stay bounded by the
//    streams (max_concurrent_streams) and the control-frame limit; only Envoy's default (10000)
//    is accepted. max_inbound_window_update_frames_per_data_frame_sent: WINDOW_UPDATE frames never
//    reach JavaScript; only Envoy's default (10) is accepted, and it is not enforced.

import type { Http2ProtocolOptions } from '../config/types.js';
import type { Http2CodecStats } from './http2-stats.js';

/** nghttp2's NGHTTP2_ERR_FLOODED (queued ACK frames over max_outbound_ack). */
const NGHTTP2_ERR_FLOODED = -904;

/** Which flood a session error reports, if any. */
export function floodKind(err: NodeJS.ErrnoException): 'outbound_control' | 'inbound_empty' | null {
  if (err.errno === NGHTTP2_ERR_FLOODED) return 'outbound_control';
  if (err.code === 'ERR_HTTP2_TOO_MANY_INVALID_FRAMES') return 'inbound_empty';
  return null;
}

/** node:http2's maxSessionInvalidFrames for a connection manager (see above). */
export function invalidFrameBudget(o: Http2ProtocolOptions): number {
  return Math.min(0xffffffff, o.maxConsecutiveInboundFramesWithEmptyPayload + Math.min(o.maxConcurrentStreams, 10_000) + 100);
}

/** PRIORITY-frame accounting of one connection (Envoy: priority frames > max × (1 + inbound streams)). */
export class PriorityGuard {
  private frames = 0;
  private streams = 0;

  constructor(private readonly max: number, private readonly stats: Http2CodecStats, private readonly onFlood: () => void) {}

  /** A stream was opened by the client. */
  onStream(): void { this.streams++; }

  /** A PRIORITY frame arrived (on any stream). Bound once per connection: no allocation per frame. */
  readonly onPriority = (): void => {
    if (++this.frames > this.max * (1 + this.streams)) {
      this.stats.inbound_priority_frames_flood.inc();
      this.frames = -Infinity; // once
      this.onFlood();
    }
  };
}

/** Envoy's defaults of the limits enforced structurally or not at all (see above). */
export const FIXED_FLOOD_LIMITS: Readonly<Pick<Http2ProtocolOptions, 'maxOutboundFrames' | 'maxOutboundControlFrames' | 'maxInboundWindowUpdateFramesPerDataFrameSent'>> = {
  maxOutboundFrames: 10_000,
  maxOutboundControlFrames: 1_000,
  maxInboundWindowUpdateFramesPerDataFrameSent: 10,
};
