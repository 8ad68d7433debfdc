// CIDR ranges (envoy.config.core.v3.CidrRange) compiled for fast matching of IPv4 and IPv6
// addresses; IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) match IPv4 ranges.

import { isIP } from 'node:net';

/** An address as 16 bytes (IPv4 mapped into ::ffff:0:0/96), or null when not an IP literal. */
export function ipBytes(ip: string): Uint8Array | null {
  const v = isIP(ip);
  if (v === 4) {
    const out = new Uint8Array(16);
    out[10] = 0xff; out[11] = 0xff;
    const p = ip.split('.');
    for (let i = 0; i < 4; i++) out[12 + i] = Number(p[i]);
    return out;
  }
  if (v !== 6) return null;
  let s = ip;
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    tail = s.slice(lastColon + 1).split('.').map(Number);
    s = s.slice(0, lastColon + 1) + '0:0';
  }
  const [headPart, tailPart] = s.split('::') as [string, string | undefined];
  const h = headPart === '' ? [] : headPart.split(':');
  const t = tailPart === undefined ? [] : tailPart === '' ? [] : tailPart.split(':');
  const groups = tailPart === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = parseInt(groups[i] ?? '0', 16);
    out[i * 2] = g >> 8; out[i * 2 + 1] = g & 0xff;
  }
  if (tail.length === 4) for (let i = 0; i < 4; i++) out[12 + i] = tail[i]!;
  return out;
}

export class Cidr {
  private readonly bytes: Uint8Array;
  /** Prefix length over the 128-bit form. */
  readonly bits: number;
  constructor(addressPrefix: string, prefixLen: number) {
    const b = ipBytes(addressPrefix);
    if (b === null) throw new TypeError(`not an IP address: ${addressPrefix}`);
    this.bytes = b;
    this.bits = isIP(addressPrefix) === 4 ? 96 + prefixLen : prefixLen;
  }
  contains(addr: Uint8Array): boolean {
    let bits = this.bits;
    for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
      const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
      if ((addr[i]! & mask) !== (this.bytes[i]! & mask)) return false;
    }
    return true;
  }
}
