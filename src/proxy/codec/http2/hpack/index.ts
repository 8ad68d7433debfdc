// HPACK (RFC 7541) for Weft's HTTP/2 codec: the factories the session uses. STUB until the
// implementation lands (decoder.ts, encoder.ts, huffman.ts, table.ts).

import type { HpackDecoder, HpackEncoder } from '../types.js';

/** A decoder whose dynamic table may grow to `maxTableSize` (our SETTINGS_HEADER_TABLE_SIZE). */
export function createHpackDecoder(maxTableSize: number): HpackDecoder {
  void maxTableSize;
  throw new Error('HPACK decoder not implemented yet');
}

/** An encoder starting from the default 4096-byte table (RFC 7541 §4.2) until the peer's SETTINGS say otherwise. */
export function createHpackEncoder(): HpackEncoder {
  throw new Error('HPACK encoder not implemented yet');
}
