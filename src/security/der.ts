// A small DER (ITU-T X.690) writer and reader: only what X.509 certificates (RFC 5280) and PKCS#10
// certificate requests (RFC 2986) need. The CA's hot path (src/security/x509.ts) builds the
// TBSCertificate bytes with it and signs them with node:crypto, so issuing a certificate costs one
// signature and a few small Buffer concatenations.

// ───────────────────────────── writer ─────────────────────────────

/** Tag bytes used here. */
export const TAG = {
  BOOLEAN: 0x01, INTEGER: 0x02, BIT_STRING: 0x03, OCTET_STRING: 0x04, NULL: 0x05, OID: 0x06,
  UTF8_STRING: 0x0c, PRINTABLE_STRING: 0x13, IA5_STRING: 0x16, UTC_TIME: 0x17, GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30, SET: 0x31,
} as const;

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One TLV with the given tag and content. */
export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), lengthBytes(content.length), content]);
}

export function seq(...items: Buffer[]): Buffer { return tlv(TAG.SEQUENCE, Buffer.concat(items)); }
export function set(...items: Buffer[]): Buffer { return tlv(TAG.SET, Buffer.concat(items)); }
/** Context-specific constructed tag `[n]` (EXPLICIT, or IMPLICIT of a constructed type). */
export function ctx(n: number, ...items: Buffer[]): Buffer { return tlv(0xa0 | n, Buffer.concat(items)); }
/** Context-specific primitive tag `[n]` IMPLICIT (e.g. GeneralName URI [6], DNS [2]). */
export function ctxPrim(n: number, content: Buffer): Buffer { return tlv(0x80 | n, content); }
export function bool(v: boolean): Buffer { return tlv(TAG.BOOLEAN, Buffer.from([v ? 0xff : 0])); }
export function nul(): Buffer { return Buffer.from([TAG.NULL, 0]); }
export function octets(b: Buffer): Buffer { return tlv(TAG.OCTET_STRING, b); }
/** A BIT STRING of whole bytes (no unused bits). */
export function bits(b: Buffer, unused = 0): Buffer { return tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([unused]), b])); }
export function utf8(s: string): Buffer { return tlv(TAG.UTF8_STRING, Buffer.from(s, 'utf8')); }
export function printable(s: string): Buffer { return tlv(TAG.PRINTABLE_STRING, Buffer.from(s, 'latin1')); }

/** A non-negative INTEGER from its big-endian magnitude (a 0x00 is prefixed when the top bit is set). */
export function uint(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  return tlv(TAG.INTEGER, m.length > 0 && (m[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), m]) : (m.length === 0 ? Buffer.from([0]) : m));
}

export function smallInt(n: number): Buffer {
  if (n < 0 || n > 127) throw new Error('smallInt: 0..127 only');
  return tlv(TAG.INTEGER, Buffer.from([n]));
}

const oidCache = new Map<string, Buffer>();

/** An OBJECT IDENTIFIER from its dotted form (encodings are cached: the set used is small). */
export function oid(dotted: string): Buffer {
  let b = oidCache.get(dotted);
  if (b !== undefined) return b;
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [];
    let v = arc;
    do { chunk.unshift(v & 0x7f); v = Math.floor(v / 128); } while (v > 0);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i]! |= 0x80;
    out.push(...chunk);
  }
  b = tlv(TAG.OID, Buffer.from(out));
  oidCache.set(dotted, b);
  return b;
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, Zulu. */
export function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const compact = iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z';
  const year = d.getUTCFullYear();
  return year < 2050 && year >= 1950 ? tlv(TAG.UTC_TIME, Buffer.from(compact.slice(2), 'latin1')) : tlv(TAG.GENERALIZED_TIME, Buffer.from(compact, 'latin1'));
}

// ───────────────────────────── reader ─────────────────────────────

/** One decoded TLV: its tag, and where its header and content lie in `buf`. */
export interface Node {
  readonly buf: Buffer;
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset just past the content. */
  readonly end: number;
}

/** Reads the TLV at `offset` (definite lengths only, as DER requires); throws on truncation. */
export function read(buf: Buffer, offset = 0): Node {
  if (offset + 2 > buf.length) throw new Error('DER: truncated');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new Error('DER: multi-byte tags not supported');
  let len = buf[offset + 1]!;
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error('DER: unsupported length');
    if (p + n > buf.length) throw new Error('DER: truncated');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    p += n;
  }
  if (p + len > buf.length) throw new Error('DER: truncated');
  return { buf, tag, start: offset, contentStart: p, end: p + len };
}

/** The children of a constructed node. */
export function children(n: Node): Node[] {
  const out: Node[] = [];
  for (let p = n.contentStart; p < n.end;) {
    const c = read(n.buf, p);
    out.push(c);
    p = c.end;
  }
  return out;
}

/** The whole TLV bytes of a node. */
export function bytes(n: Node): Buffer { return n.buf.subarray(n.start, n.end); }
/** The content bytes of a node. */
export function content(n: Node): Buffer { return n.buf.subarray(n.contentStart, n.end); }

export function expect(n: Node | undefined, tag: number, what: string): Node {
  if (n === undefined || n.tag !== tag) throw new Error(`DER: ${what}: expected tag 0x${tag.toString(16)}, got ${n === undefined ? 'nothing' : `0x${n.tag.toString(16)}`}`);
  return n;
}

/** The dotted form of an OBJECT IDENTIFIER node. */
export function readOid(n: Node): string {
  const c = content(n);
  if (c.length === 0) throw new Error('DER: empty OID');
  const arcs = [Math.floor(c[0]! / 40), c[0]! % 40];
  let v = 0;
  for (let i = 1; i < c.length; i++) {
    v = v * 128 + (c[i]! & 0x7f);
    if ((c[i]! & 0x80) === 0) { arcs.push(v); v = 0; }
  }
  return arcs.join('.');
}

/** The content of a BIT STRING without its unused-bits byte. */
export function readBits(n: Node): Buffer {
  return content(expect(n, TAG.BIT_STRING, 'BIT STRING')).subarray(1);
}
