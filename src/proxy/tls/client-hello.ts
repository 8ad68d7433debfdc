// A TLS ClientHello reader for the tls_inspector listener filter: from the first bytes a client
// sends, tells TLS from anything else and pulls out SNI (RFC 6066 §3) and ALPN (RFC 7301) from
// the ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2), which may span several TLS records.

/** Envoy's tls_inspector default limit on a ClientHello. */
export const MAX_CLIENT_HELLO_BYTES = 64 * 1024;

export type ClientHelloResult =
  /** More bytes are needed to decide. */
  | { readonly state: 'more' }
  /** Not TLS (or not a ClientHello we can read): the connection is raw bytes. */
  | { readonly state: 'not-tls' }
  | { readonly state: 'tls'; readonly serverName: string | null; readonly alpn: readonly string[] };

const MORE: ClientHelloResult = Object.freeze({ state: 'more' });
const NOT_TLS: ClientHelloResult = Object.freeze({ state: 'not-tls' });

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;

/**
 * Reads what has arrived so far. The first byte decides "not TLS" at once (a handshake record
 * starts with 0x16, then major version 3), so plaintext protocols never wait.
 */
export function parseClientHello(data: Buffer): ClientHelloResult {
  if (data.length === 0) return MORE;
  if (data[0] !== RECORD_HANDSHAKE) return NOT_TLS;
  if (data.length >= 2 && data[1] !== 0x03) return NOT_TLS;
  // Gather the handshake bytes from consecutive handshake records.
  const fragments: Buffer[] = [];
  let have = 0;
  let need = -1; // total handshake message length (header included), once known
  let off = 0;
  while (need < 0 || have < need) {
    if (off + 5 > data.length) return data.length > MAX_CLIENT_HELLO_BYTES ? NOT_TLS : MORE;
    if (data[off] !== RECORD_HANDSHAKE || data[off + 1] !== 0x03) return NOT_TLS;
    const len = data.readUInt16BE(off + 3);
    if (len === 0) return NOT_TLS;
    if (off + 5 + len > data.length) {
      return data.length > MAX_CLIENT_HELLO_BYTES ? NOT_TLS : MORE;
    }
    fragments.push(data.subarray(off + 5, off + 5 + len));
    have += len;
    off += 5 + len;
    if (need < 0 && have >= 4) {
      const hs = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
      if (hs[0] !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS;
      need = 4 + hs.readUIntBE(1, 3);
      if (need > MAX_CLIENT_HELLO_BYTES) return NOT_TLS;
    }
  }
  const hello = Buffer.concat(fragments).subarray(4, need);
  return readHello(hello) ?? NOT_TLS;
}

/** The body of a ClientHello; null when malformed. */
function readHello(b: Buffer): ClientHelloResult | null {
  let p = 2 + 32; // legacy_version, random
  if (p + 1 > b.length) return null;
  p += 1 + b[p]!; // session id
  if (p + 2 > b.length) return null;
  p += 2 + b.readUInt16BE(p); // cipher suites
  if (p + 1 > b.length) return null;
  p += 1 + b[p]!; // compression methods
  if (p === b.length) return { state: 'tls', serverName: null, alpn: [] }; // no extensions
  if (p + 2 > b.length) return null;
  const end = p + 2 + b.readUInt16BE(p);
  if (end > b.length) return null;
  p += 2;
  let serverName: string | null = null;
  let alpn: string[] = [];
  while (p + 4 <= end) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    const body = p + 4;
    if (body + len > end) return null;
    if (type === EXT_SERVER_NAME) serverName = readServerName(b.subarray(body, body + len));
    else if (type === EXT_ALPN) alpn = readAlpn(b.subarray(body, body + len));
    p = body + len;
  }
  return { state: 'tls', serverName, alpn };
}

/** server_name extension: a list of (type, name); the host_name (type 0) entry, lower-cased. */
function readServerName(b: Buffer): string | null {
  if (b.length < 2) return null;
  const end = Math.min(b.length, 2 + b.readUInt16BE(0));
  let p = 2;
  while (p + 3 <= end) {
    const type = b[p]!;
    const len = b.readUInt16BE(p + 1);
    if (p + 3 + len > end) return null;
    if (type === 0) return b.toString('latin1', p + 3, p + 3 + len).toLowerCase();
    p += 3 + len;
  }
  return null;
}

/** application_layer_protocol_negotiation extension: a list of length-prefixed names. */
function readAlpn(b: Buffer): string[] {
  if (b.length < 2) return [];
  const end = Math.min(b.length, 2 + b.readUInt16BE(0));
  const out: string[] = [];
  let p = 2;
  while (p < end) {
    const len = b[p]!;
    if (len === 0 || p + 1 + len > end) break;
    out.push(b.toString('latin1', p + 1, p + 1 + len));
    p += 1 + len;
  }
  return out;
}
