// HPACK (RFC 7541) for Weft's HTTP/2 codec: the factories the session uses. Implementation:
// decoder.ts, encoder.ts, huffman.ts (Appendix B), table.ts (Appendix A and the dynamic table).

import type { HpackDecoder, HpackEncoder } from '../types.js';
import { Decoder } from './decoder.js';
import { Encoder } from './encoder.js';

/**
 * A decoder whose dynamic table may grow to `maxTableSize` (our SETTINGS_HEADER_TABLE_SIZE).
 * The table starts at the protocol's initial 4096 bytes, which the peer may use before it has
 * seen our SETTINGS; call `setMaxTableSize` when our SETTINGS are acknowledged (RFC 9113 §6.5.3):
 * if that is below the table's current size, the peer's next block must start with a size update.
 */
export function createHpackDecoder(maxTableSize: number): HpackDecoder {
  return new Decoder(maxTableSize);
}

/**
 * An encoder starting from the default 4096-byte table (RFC 7541 §4.2) until the peer's SETTINGS
 * say otherwise. It never uses more than 4096 bytes of table, whatever the peer allows.
 */
export function createHpackEncoder(): HpackEncoder {
  return new Encoder();
}
