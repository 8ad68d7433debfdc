// A bounded, seeded fuzz of the whole proxy over raw sockets. Valid requests (random methods,
// targets, fields, bodies in Content-Length and chunked framing) and mutated ones (byte flips,
// inserted CR / LF / NUL / SP / colon, duplicated or conflicting Content-Length and
// Transfer-Encoding, obs-fold, bare LF, truncated heads and bodies, oversized heads, broken chunk
// framing) go to an in-process proxy, alone or pipelined on one connection.
//
// The upstream records the exact bytes it receives and frames them with Node's own parser
// (llhttp, through http.Server fed the raw sockets): llhttp rejecting anything the proxy
// forwarded is a failure, apart from three reported cases (an aborted request, an extension
// method llhttp does not know, obs-text in a request-target; see `tolerated`).
//
// Checked: every response is a well-formed HTTP/1.1 message with an expected status, a request
// the proxy rejected never reached the upstream as a request (head-level rejections not at all),
// valid requests arrive with the same method, target and body, the upstream never sees a request
// the client did not send, and the proxy still serves a normal request at the end with no
// connection or request left active.
//
// Reproduce a run with WEFT_FUZZ_SEED; raise the count with WEFT_FUZZ_ITERATIONS.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startRawServer } from '../helpers/upstream.js';
import { rawExchange, simpleBootstrap, startProxy } from '../helpers/proxy.js';

const SEED = Number(process.env.WEFT_FUZZ_SEED ?? 0x5eed_f00d);
/** Single-request connections; half valid, half mutated. */
const ITERATIONS = Math.max(3000, Number(process.env.WEFT_FUZZ_ITERATIONS ?? 0) || 0);
/** Connections with several pipelined requests (about a twentieth as many). */
const PIPELINES = Math.ceil(ITERATIONS / 20);
const CONCURRENCY = 16;
/** Statuses the proxy may answer itself. */
const LOCAL_STATUSES = new Set([400, 404, 413, 431, 501, 505, 502, 503]);
/** Generous bound after which an exchange counts as hung (only reached on a bug). */
const HANG_MS = 20_000;

// ─────────────────────────── randomness ───────────────────────────

class Rng {
  private a: number;
  constructor(seed: number) { this.a = seed >>> 0; }
  /** mulberry32: uniform in [0, 1). */
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  range(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }
  str(alphabet: string, lo: number, hi: number): string {
    let s = '';
    for (let n = this.range(lo, hi); n > 0; n--) s += alphabet[this.int(alphabet.length)];
    return s;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

const TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const TCHAR_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const PCHAR = ALNUM + "-._~!$&'()*+,;=:@";
const VCHARS = (() => { let s = ''; for (let c = 33; c < 127; c++) s += String.fromCharCode(c); return s; })();
const OBS_TEXT = (() => { let s = ''; for (let c = 128; c < 256; c++) s += String.fromCharCode(c); return s; })();
/** Methods llhttp knows (CONNECT aside: it changes what follows the head). */
const METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND', 'REPORT', 'PURGE', 'MKCOL', 'SEARCH', 'TRACE'];
const BODYLESS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE']);

// ─────────────────────────── requests ───────────────────────────

interface Req {
  id: number;
  token: string;
  method: string;
  target: string;
  minor: 0 | 1;
  framing: 'none' | 'cl' | 'chunked';
  /** The body as the upstream should see it (de-chunked). */
  body: Buffer;
  /** Exactly what is written to the proxy. */
  wire: Buffer;
  /** Where the body starts in `wire`. */
  headLen: number;
  /** null for valid requests, else what was done to it. */
  mutation: string | null;
  /** Client-side parse of what the proxy answered (filled in later). */
  outcome?: Outcome;
}

type Outcome =
  | { kind: 'upstream'; status: number }
  | { kind: 'local'; status: number; close: boolean }
  /** The upstream's parser rejected what the proxy forwarded (see `tolerated`). */
  | { kind: 'upstream-error'; status: number }
  /** Node answered by itself: 417 for an Expect other than 100-continue (forwarded as it should be). */
  | { kind: 'upstream-auto'; status: number }
  | { kind: 'none' };

/** The random parts of a valid request, before serialization (mutations edit these). */
interface Draft {
  id: number;
  token: string;
  method: string;
  target: string;
  minor: 0 | 1;
  leading: string;
  versionText: string;
  headers: Array<[string, string]>;
  framing: 'none' | 'cl' | 'chunked';
  body: Buffer;
  chunks: Array<{ size: string; ext: string; data: Buffer }>;
  lastChunk: string;
  trailers: Array<[string, string]>;
}

function draft(r: Rng, id: number, opts: { pipelined: boolean }): Draft {
  const token = `fz${id.toString(36)}x${r.str(ALNUM, 6, 6)}y`;
  const method = r.pick(METHODS);
  let target = `/f/${token}`;
  for (let n = r.int(4); n > 0; n--) target += '/' + (r.chance(0.2) ? `%${r.pick([...'0123456789ABCDEF'])}${r.pick([...'0123456789abcdef'])}` : '') + r.str(PCHAR, 0, 12);
  if (r.chance(0.4)) target += '?' + r.str(PCHAR + '/?', 0, 40);
  const minor: 0 | 1 = !opts.pipelined && r.chance(0.06) ? 0 : 1;
  const headers: Array<[string, string]> = [];
  const host = r.chance(0.1) ? `${r.str('abcdefghij', 1, 8)}.example:${r.range(1, 65535)}` : r.chance(0.1) ? '[::1]:8080' : `${r.str('abcdefghijklmnopqrstuvwxyz0123456789-', 1, 20)}.test`;
  if (minor === 1 || r.chance(0.5)) headers.push([r.pick(['Host', 'host', 'HOST']), host]);
  headers.push(['x-fuzz-token', token]);
  for (let n = r.int(7); n > 0; n--) {
    const name = 'x-f-' + r.str(TCHAR, 1, 16);
    let value = r.str(VCHARS + ' \t' + (r.chance(0.2) ? OBS_TEXT : ''), 0, 60).replace(/^[ \t]+|[ \t]+$/g, '');
    if (r.chance(0.05)) value = r.str(VCHARS, 500, 4000);
    headers.push([name, value]);
  }
  if (r.chance(0.3)) headers.push([r.pick(['User-Agent', 'Accept', 'Accept-Encoding', 'Cookie', 'X-Forwarded-For', 'X-Request-Id', 'traceparent']), r.str(ALNUM + ' ,;=/.-', 1, 40).trim() || 'v']);
  if (r.chance(0.15)) {
    // Connection may nominate any field; nominated ones are dropped at the hop, never the framing.
    const listed = ['keep-alive', 'x-hop'];
    if (r.chance(0.5)) listed.push(r.pick(['content-length', 'host', 'transfer-encoding', 'x-f-nothing']));
    if (!opts.pipelined && r.chance(0.2)) listed.push('close');
    headers.push(['Connection', listed.join(r.pick([', ', ',', ' , ']))]);
    headers.push(['X-Hop', 'dropped']);
  }
  if (r.chance(0.05)) headers.push(['TE', 'trailers']);

  let framing: Draft['framing'] = 'none';
  if (!BODYLESS.has(method) || r.chance(0.1)) framing = minor === 0 || r.chance(0.5) ? 'cl' : 'chunked';
  if (framing === 'none' && r.chance(0.1)) framing = 'cl'; // Content-Length: 0 (or more) on a GET
  const size = framing === 'none' ? 0 : r.chance(0.05) ? r.range(16_384, 300_000) : r.chance(0.15) ? 0 : r.range(1, 3000);
  let body = r.bytes(size);
  if (size > 0 && r.chance(0.1)) {
    // A request hidden in the body (after what would end a chunked body, or the body's very
    // start): it must stay body. If the upstream ever parses it, framing was lost on the way.
    const prefix = r.chance(0.5) ? '' : '\r\n\r\n0\r\n\r\n';
    const smuggled = Buffer.from(`${prefix}GET /smuggled-${token} HTTP/1.1\r\nHost: s\r\nContent-Length: 0\r\n\r\n`, 'latin1');
    const at = prefix === '' ? 0 : r.int(size);
    body = Buffer.concat([body.subarray(0, at), smuggled, body.subarray(at)]);
  }
  const chunks: Draft['chunks'] = [];
  const trailers: Array<[string, string]> = [];
  let lastChunk = '0';
  if (framing === 'chunked') {
    for (let off = 0; off < body.length;) {
      const n = Math.min(body.length - off, r.chance(0.3) ? r.range(1, 16) : r.range(1, 70_000));
      let size = n.toString(16);
      if (r.chance(0.3)) size = size.toUpperCase();
      if (r.chance(0.1)) size = '00' + size;
      const ext = r.chance(0.1) ? `;${r.str(TCHAR, 1, 8)}${r.pick(['', '=' + r.str(TCHAR, 1, 8), `="${r.str(ALNUM + ' ', 0, 8)}"`])}` : '';
      chunks.push({ size, ext, data: body.subarray(off, off + n) });
      off += n;
    }
    if (r.chance(0.1)) lastChunk = '000';
    if (r.chance(0.15)) for (let n = r.range(1, 3); n > 0; n--) trailers.push(['x-f-trailer-' + r.str(ALNUM, 1, 6), r.str(ALNUM + ' ', 1, 20).trim() || 't']);
  }
  if (framing !== 'none' && minor === 1 && r.chance(0.05)) headers.push(['Expect', '100-continue']);
  // Framing fields at a random place among the others.
  const framingField: [string, string] | null = framing === 'cl' ? [r.pick(['Content-Length', 'content-length']), String(body.length)]
    : framing === 'chunked' ? [r.pick(['Transfer-Encoding', 'transfer-encoding']), r.pick(['chunked', 'chunked', 'Chunked'])] : null;
  if (framingField !== null) headers.splice(r.int(headers.length + 1), 0, framingField);
  return {
    id, token, method, target, minor, leading: r.chance(0.03) ? '\r\n' : '', versionText: `HTTP/1.${minor}`,
    headers, framing, body, chunks, lastChunk, trailers,
  };
}

function serialize(d: Draft): { wire: Buffer; headLen: number } {
  let head = `${d.leading}${d.method} ${d.target} ${d.versionText}\r\n`;
  for (const [n, v] of d.headers) head += `${n}: ${v}\r\n`;
  head += '\r\n';
  const parts: Buffer[] = [Buffer.from(head, 'latin1')];
  if (d.framing === 'cl') parts.push(d.body);
  else if (d.framing === 'chunked') {
    for (const c of d.chunks) parts.push(Buffer.from(`${c.size}${c.ext}\r\n`, 'latin1'), c.data, Buffer.from('\r\n'));
    let tail = `${d.lastChunk}\r\n`;
    for (const [n, v] of d.trailers) tail += `${n}: ${v}\r\n`;
    parts.push(Buffer.from(tail + '\r\n', 'latin1'));
  }
  return { wire: Buffer.concat(parts), headLen: parts[0]!.length };
}

function toReq(d: Draft, mutation: string | null, wire?: Buffer, headLen?: number): Req {
  const s = serialize(d);
  return {
    id: d.id, token: d.token, method: d.method, target: d.target, minor: d.minor, framing: d.framing,
    body: d.body, wire: wire ?? s.wire, headLen: headLen ?? s.headLen, mutation,
  };
}

// ─────────────────────────── mutations ───────────────────────────

const SPECIAL_BYTES = ['\r', '\n', '\0', ' ', ':', '\t', '\x7f', '\x80', '\xff', '\r\n', '\r\n ', '\n\n', '\x0b', '\x0c', ';', ','];

function replaceAt(b: Buffer, pos: number, del: number, ins: Buffer | string): Buffer {
  return Buffer.concat([b.subarray(0, pos), typeof ins === 'string' ? Buffer.from(ins, 'latin1') : ins, b.subarray(pos + del)]);
}

/** A position in the head most of the time (where the parser's decisions are), else anywhere. */
function position(r: Rng, q: Req): number {
  return r.chance(0.85) || q.wire.length === q.headLen ? r.int(q.headLen) : r.range(q.headLen, q.wire.length - 1);
}

/** Offsets of the CRLFs that end the head's lines. */
function headLineEnds(q: Req): number[] {
  const out: number[] = [];
  const s = q.wire.subarray(0, q.headLen).toString('latin1');
  for (let i = s.indexOf('\r\n'); i >= 0; i = s.indexOf('\r\n', i + 2)) out.push(i);
  return out;
}

type Mutator = (r: Rng, d: Draft) => Req | null;

/** Mutations that rebuild the head (framing fields, request line, Host, oversized fields). */
const DRAFT_MUTATIONS: Record<string, Mutator> = {
  'cl-duplicate-same': (_r, d) => d.framing !== 'cl' ? null : (d.headers.push(['Content-Length', String(d.body.length)]), toReq(d, 'cl-duplicate-same')),
  'cl-list-same': (_r, d) => d.framing !== 'cl' ? null : (setField(d, 'content-length', `${d.body.length}, ${d.body.length}`), toReq(d, 'cl-list-same')),
  'cl-conflict': (r, d) => d.framing !== 'cl' ? null : (d.headers.push(['Content-Length', String(d.body.length + r.range(1, 5))]), toReq(d, 'cl-conflict')),
  'cl-list-conflict': (_r, d) => d.framing !== 'cl' ? null : (setField(d, 'content-length', `${d.body.length}, ${d.body.length + 1}`), toReq(d, 'cl-list-conflict')),
  'cl-bad-value': (r, d) => {
    if (d.framing !== 'cl') return null;
    const n = d.body.length;
    const v = r.pick([`+${n}`, `-${n}`, `0x${n.toString(16)}`, `${n} ${n}`, `${n}.0`, '', ' ', `${n}a`, '99999999999999999999', `0${n}`, `${n}\t`, `\t${n}`, `${n},`, `,${n}`]);
    setField(d, 'content-length', v);
    return toReq(d, `cl-bad-value ${JSON.stringify(v)}`);
  },
  'cl-and-te': (r, d) => {
    if (d.framing === 'none') return null;
    if (d.framing === 'cl') d.headers.push([r.pick(['Transfer-Encoding', 'transfer-encoding']), r.pick(['chunked', 'identity', 'gzip, chunked'])]);
    else d.headers.splice(r.int(d.headers.length + 1), 0, ['Content-Length', String(r.pick([0, d.body.length, 5]))]);
    return toReq(d, 'cl-and-te');
  },
  'te-variant': (r, d) => {
    if (d.framing !== 'chunked') return null;
    const v = r.pick(['chunked, chunked', 'gzip, chunked', 'chunked, gzip', 'CHUNKED', 'identity', 'xchunked', 'chunked;q=1', ' chunked', 'chunked ', '', ',', 'chunked,', ', chunked', 'gzip', 'identity, chunked', 'chunk', '"chunked"', 'chunked\x0b']);
    setField(d, 'transfer-encoding', v);
    return toReq(d, `te-variant ${JSON.stringify(v)}`);
  },
  'te-split': (r, d) => {
    if (d.framing !== 'chunked') return null;
    setField(d, 'transfer-encoding', r.pick(['gzip', 'chunked']));
    d.headers.push(['Transfer-Encoding', 'chunked']);
    return toReq(d, 'te-split');
  },
  'te-http10': (_r, d) => {
    if (d.framing !== 'chunked') return null;
    d.versionText = 'HTTP/1.0';
    return toReq(d, 'te-http10');
  },
  'framing-name-space': (r, d) => {
    const name = d.framing === 'chunked' ? 'transfer-encoding' : d.framing === 'cl' ? 'content-length' : null;
    if (name === null) return null;
    const i = d.headers.findIndex(([n]) => n.toLowerCase() === name);
    d.headers[i]![0] = d.headers[i]![0] + r.pick([' ', '\t', '\x00', '\x0b']);
    return toReq(d, 'framing-name-space');
  },
  'obs-fold': (r, d) => {
    const i = r.int(d.headers.length);
    const [n, v] = d.headers[i]!;
    d.headers[i] = [n, v.slice(0, r.int(v.length + 1)) + r.pick(['\r\n ', '\r\n\t', '\r\n  ']) + (v.slice(r.int(v.length + 1)) || 'x')];
    return toReq(d, `obs-fold ${n}`);
  },
  'request-line': (r, d) => {
    const kind = r.pick(['version', 'double-space', 'trailing-space', 'no-version', 'star', 'absolute', 'authority', 'empty-target', 'fragment', 'method-case', 'method-long', 'ctl-in-target', 'space-in-target']);
    switch (kind) {
      case 'version': d.versionText = r.pick(['HTTP/1.2', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.10', 'http/1.1', 'HTTP/1', 'HTTP/1.1.1', 'HTTP/11', 'HTTPS/1.1', 'HTTP/3.0', 'HTTP/1.01']); break;
      case 'double-space': d.method += ' '; break;
      case 'trailing-space': d.versionText += ' '; break;
      case 'no-version': d.versionText = ''; break;
      case 'star': d.target = '*'; break;
      case 'absolute': d.target = `http://${r.str('abcdef', 1, 6)}.example${d.target}`; break;
      case 'authority': d.target = `${r.str('abcdef', 1, 6)}.example:443`; break;
      case 'empty-target': d.target = ''; break;
      case 'fragment': d.target += '#frag'; break;
      case 'method-case': d.method = d.method.toLowerCase(); break;
      case 'method-long': d.method = r.str('ABCDEFGHIJKLMNOPQRSTUVWXYZ', 20, 200); break;
      case 'ctl-in-target': d.target += r.pick(['\x00', '\x01', '\x7f', '\t', '\x1b']); break;
      case 'space-in-target': d.target += ' x'; break;
    }
    return toReq(d, `request-line ${kind}`);
  },
  'host': (r, d) => {
    const kind = r.pick(['missing', 'duplicate', 'bad-char', 'empty']);
    const i = d.headers.findIndex(([n]) => n.toLowerCase() === 'host');
    if (kind === 'missing') { if (i >= 0) d.headers.splice(i, 1); else return null; }
    else if (kind === 'duplicate') d.headers.push(['Host', 'other.example']);
    else if (kind === 'bad-char') {
      const bad: [string, string] = ['Host', `a${r.pick([' ', '/', '@', '"', '<', '\\', '{', '\x80'])}b`];
      if (i >= 0) d.headers[i] = bad; else d.headers.push(bad);
    }
    else { if (i >= 0) d.headers[i] = ['Host', '']; else return null; }
    return toReq(d, `host ${kind}`);
  },
  'oversized': (r, d) => {
    if (r.chance(0.5)) d.headers.push(['X-Big', 'a'.repeat(r.range(61, 120) * 1024)]);
    else for (let n = r.range(700, 1500); n > 0; n--) d.headers.push([`x-many-${n}`, r.str(ALNUM, 60, 100)]);
    return toReq(d, 'oversized');
  },
  'chunk-bad': (r, d) => {
    if (d.framing !== 'chunked' || d.chunks.length === 0) return null;
    const c = r.pick(d.chunks);
    const kind = r.pick(['non-hex', 'negative', 'huge', 'too-long', 'too-short', 'space', 'ext-ctl', 'empty']);
    switch (kind) {
      case 'non-hex': c.size = r.pick(['zz', 'g', '0x1', '1g']); break;
      case 'negative': c.size = '-' + c.size; break;
      case 'huge': c.size = r.pick(['fffffffffffffffff', '10000000000000000', '7fffffffffffffff']); break;
      case 'too-long': c.size = (parseInt(c.size, 16) + r.range(1, 3)).toString(16); break;
      case 'too-short': if (parseInt(c.size, 16) < 2) return null; c.size = (parseInt(c.size, 16) - 1).toString(16); break;
      case 'space': c.size = r.pick([' ', '\t']) + c.size; break;
      case 'ext-ctl': c.ext = `;a=${r.pick(['\x00', '\x01', '\n', '\x7f'])}`; break;
      case 'empty': c.size = ''; break;
    }
    return toReq(d, `chunk-bad ${kind}`);
  },
  'trailer-framing': (r, d) => {
    if (d.framing !== 'chunked') return null;
    d.trailers.push(r.pick([['Content-Length', '5'], ['Transfer-Encoding', 'chunked'], ['Host', 'evil.example'], ['x-f-t', 'a\r\n b']] as Array<[string, string]>));
    return toReq(d, 'trailer-framing');
  },
  'leading': (r, d) => { d.leading = r.pick(['\n', ' ', '\r\n\r\n', '\t', '\r', '\x00']); return toReq(d, `leading ${JSON.stringify(d.leading)}`); },
};

/** Mutations on the serialized bytes. */
const BYTE_MUTATIONS: Record<string, (r: Rng, q: Req) => Req | null> = {
  flip: (r, q) => {
    const pos = position(r, q);
    const b = Buffer.from(q.wire);
    b[pos] = r.chance(0.5) ? b[pos]! ^ (1 << r.int(8)) : r.int(256);
    return { ...q, wire: b, mutation: `flip @${pos}` };
  },
  insert: (r, q) => {
    const pos = position(r, q);
    const ins = r.pick(SPECIAL_BYTES);
    return { ...q, wire: replaceAt(q.wire, pos, 0, ins), headLen: pos < q.headLen ? q.headLen + ins.length : q.headLen, mutation: `insert ${JSON.stringify(ins)} @${pos}` };
  },
  delete: (r, q) => {
    const pos = position(r, q);
    return { ...q, wire: replaceAt(q.wire, pos, 1, ''), headLen: pos < q.headLen ? q.headLen - 1 : q.headLen, mutation: `delete @${pos}` };
  },
  'bare-lf': (r, q) => {
    const ends = headLineEnds(q);
    const pos = r.pick(ends);
    return { ...q, wire: replaceAt(q.wire, pos, 2, r.chance(0.8) ? '\n' : '\r'), headLen: q.headLen - 1, mutation: `bare-lf @${pos}` };
  },
  'truncate-head': (r, q) => {
    const pos = r.int(q.headLen);
    return { ...q, wire: q.wire.subarray(0, pos), headLen: pos, mutation: `truncate-head @${pos}` };
  },
  'truncate-body': (r, q) => {
    if (q.wire.length <= q.headLen + 1) return null;
    const pos = r.range(q.headLen, q.wire.length - 1);
    return { ...q, wire: q.wire.subarray(0, pos), mutation: `truncate-body @${pos}` };
  },
};

function setField(d: Draft, lower: string, value: string): void {
  const i = d.headers.findIndex(([n]) => n.toLowerCase() === lower);
  if (i >= 0) d.headers[i] = [d.headers[i]![0], value];
  else d.headers.push([lower, value]);
}

/** A mutated request: one draft or byte mutation, sometimes followed by more byte mutations. */
function mutated(r: Rng, id: number, opts: { pipelined: boolean }): Req {
  for (;;) {
    const d = draft(r, id, opts);
    if (d.body.length > 20_000) continue; // keep mutated ones small
    let q: Req | null;
    const names = [...Object.keys(DRAFT_MUTATIONS), ...Object.keys(BYTE_MUTATIONS), 'flip', 'insert', 'flip', 'insert'];
    const name = r.pick(opts.pipelined ? names.filter((n) => !n.startsWith('truncate')) : names);
    if (name in DRAFT_MUTATIONS) q = DRAFT_MUTATIONS[name]!(r, d);
    else q = BYTE_MUTATIONS[name]!(r, toReq(d, null));
    if (q === null) continue;
    if (!opts.pipelined && r.chance(0.15)) {
      const more = BYTE_MUTATIONS[r.pick(['flip', 'insert', 'delete', 'bare-lf'])]!(r, q);
      if (more !== null) q = { ...more, mutation: `${q.mutation}; ${more.mutation}` };
    }
    return q;
  }
}

// ─────────────────────────── the upstream ───────────────────────────

interface UpConn { id: number; chunks: Buffer[]; bytes: number; errors: Array<{ code: string; at: number }>; }
interface UpRequest { conn: number; method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer; trailers: NodeJS.Dict<string>; }

const FIXED_RESPONSE = { 'content-type': 'text/plain', 'content-length': '2', 'x-fuzz-origin': 'upstream' };

async function startRecordingUpstream() {
  const conns: UpConn[] = [];
  const requests: UpRequest[] = [];
  const connOf = new WeakMap<net.Socket, UpConn>();
  const llhttp = http.createServer({ maxHeaderSize: 512 * 1024, requireHostHeader: false }, (req, res) => {
    const chunks: Buffer[] = [];
    const conn = connOf.get(req.socket)!;
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ conn: conn.id, method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks), trailers: req.trailers });
      res.writeHead(200, FIXED_RESPONSE);
      res.end('ok');
    });
    req.on('error', () => { /* aborted: recorded as a clientError on the connection */ });
  });
  llhttp.keepAliveTimeout = 60_000;
  llhttp.on('clientError', (e: Error & { code?: string; bytesParsed?: number; rawPacket?: Buffer }, s: net.Socket) => {
    const conn = connOf.get(s);
    if (conn !== undefined) {
      const at = e.rawPacket !== undefined && e.bytesParsed !== undefined ? conn.bytes - e.rawPacket.length + e.bytesParsed : conn.bytes;
      conn.errors.push({ code: e.code ?? e.message, at });
    }
    if (s.writable) s.end('HTTP/1.1 400 Bad Request\r\nx-fuzz-origin: upstream-error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    else s.destroy();
  });
  const raw = await startRawServer((s) => {
    const conn: UpConn = { id: conns.length, chunks: [], bytes: 0, errors: [] };
    conns.push(conn);
    connOf.set(s, conn);
    llhttp.emit('connection', s);
    // Prepended after the server attached its parser: Node then parses in JS ('data' events)
    // and this listener sees every byte first.
    s.prependListener('data', (d: Buffer) => { conn.chunks.push(d); conn.bytes += d.length; });
  });
  return {
    port: raw.port, conns, requests,
    text(c: UpConn): string { return Buffer.concat(c.chunks).toString('latin1'); },
    close: () => raw.close(),
  };
}

/**
 * Errors llhttp may raise on bytes a correct proxy forwards:
 * - the proxy aborting a request it had started forwarding (client gone or body framing broken):
 *   the connection ends or resets inside the message;
 * - an extension method (any token is a method, RFC 9110 §9.1; llhttp knows a fixed list);
 * - obs-text (bytes >= 0x80) in the request-target: the proxy's parser accepts it on purpose,
 *   llhttp does not (reported to the lead as a policy question, not hidden).
 * Anything else means the proxy forwarded something malformed.
 */
function tolerated(text: string, e: { code: string; at: number }): string | null {
  if (e.code === 'HPE_INVALID_EOF_STATE' || e.code === 'ECONNRESET') return 'aborted';
  if (e.code === 'HPE_INVALID_METHOD') {
    let start = Math.min(e.at, text.length);
    while (start > 0 && TCHAR.includes(text[start - 1]!)) start--;
    const line = /^([^ \r\n]+) \S+ HTTP\/1\.1\r\n/.exec(text.slice(start, start + 64 * 1024));
    if (line !== null && TCHAR_RE.test(line[1]!) && !http.METHODS.includes(line[1]!)) return 'extension-method';
  }
  if (e.code === 'HPE_INVALID_URL' && text.charCodeAt(e.at) >= 0x80) return 'obs-text-target';
  return null;
}

// ─────────────────────────── the client side ───────────────────────────

interface Exchange { reqs: Req[]; data: Buffer; error: string | null; hung: boolean; }

/**
 * Writes the requests (split at random points), half-closes once `halfCloseAfter` final
 * responses have arrived (the proxy answers the request in progress at a half-close, then
 * closes: pipelined requests still queued behind it are dropped), and collects until the proxy
 * closes.
 */
function exchange(port: number, reqs: Req[], splits: number[], halfCloseAfter: number): Promise<Exchange> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let error: string | null = null;
    let hung = false;
    const timer = setTimeout(() => { hung = true; s.destroy(); }, HANG_MS);
    s.setNoDelay(true);
    const methods = reqs.map(wireMethod);
    let ended = false;
    const maybeEnd = () => {
      if (ended || (halfCloseAfter > 0 && parseResponses(Buffer.concat(got), methods, []).length < halfCloseAfter)) return;
      ended = true;
      s.end();
    };
    s.on('connect', () => {
      const all = Buffer.concat(reqs.map((q) => q.wire));
      let off = 0;
      for (const at of [...splits.filter((x) => x > 0 && x < all.length), all.length]) {
        if (at <= off) continue;
        s.write(all.subarray(off, at));
        off = at;
      }
      maybeEnd();
    });
    s.on('data', (d: Buffer) => { got.push(d); maybeEnd(); });
    s.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; });
    s.on('close', () => { clearTimeout(timer); resolve({ reqs, data: Buffer.concat(got), error, hung }); });
  });
}

interface Parsed { status: number; headers: Array<[string, string]>; body: Buffer; close: boolean; }

/** The method the proxy will see for bytes on the wire (for HEAD responses). */
function wireMethod(q: Req): string {
  const s = q.wire.subarray(0, 64).toString('latin1').replace(/^(\r?\n)+/, '');
  return s.slice(0, s.indexOf(' '));
}

/**
 * Parses the responses strictly (RFC 9112): status-line, field lines, one framing. Returns the
 * final (non-1xx) responses in order; problems get pushed to `problems`.
 */
function parseResponses(data: Buffer, methods: string[], problems: string[]): Parsed[] {
  const out: Parsed[] = [];
  const text = data.toString('latin1');
  let pos = 0;
  let closeSeen = false;
  while (pos < text.length) {
    if (closeSeen) { problems.push(`bytes after a response with connection: close: ${JSON.stringify(text.slice(pos, pos + 80))}`); break; }
    const end = text.indexOf('\r\n\r\n', pos);
    if (end < 0) { problems.push(`incomplete response head: ${JSON.stringify(text.slice(pos, pos + 200))}`); break; }
    const lines = text.slice(pos, end).split('\r\n');
    const sl = /^HTTP\/1\.1 ([1-5][0-9][0-9]) [\t !-~\x80-\xff]*$/.exec(lines[0]!);
    if (sl === null) { problems.push(`bad status line ${JSON.stringify(lines[0])}`); break; }
    const status = Number(sl[1]);
    const headers: Array<[string, string]> = [];
    let bad = false;
    for (const l of lines.slice(1)) {
      const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*((?:[\t !-~\x80-\xff]*[!-~\x80-\xff])?)[ \t]*$/.exec(l);
      if (m === null) { problems.push(`bad field line ${JSON.stringify(l)}`); bad = true; break; }
      headers.push([m[1]!.toLowerCase(), m[2]!]);
    }
    if (bad) break;
    pos = end + 4;
    if (status < 200) {
      if (status === 101) { problems.push('unexpected 101'); break; }
      continue;
    }
    const get = (n: string) => headers.filter(([k]) => k === n).map(([, v]) => v);
    const cl = get('content-length');
    const te = get('transfer-encoding');
    if (cl.length > 1) problems.push(`several content-length fields: ${cl.join(' | ')}`);
    if (cl.length > 0 && te.length > 0) problems.push('content-length with transfer-encoding');
    const close = get('connection').some((v) => /(^|,)\s*close\s*(,|$)/i.test(v));
    if (close) closeSeen = true;
    const method = methods[out.length] ?? '';
    let body: Buffer;
    if (method === 'HEAD' && close && cl.length === 1 && text.length - pos === Number(cl[0])) {
      // A rejected head: the proxy could not know the method, so its error reply has a body.
      body = data.subarray(pos);
      pos = text.length;
    } else if (method === 'HEAD' || status === 204 || status === 304) body = Buffer.alloc(0);
    else if (te.length > 0) {
      if (te.join(',').trim().toLowerCase() !== 'chunked') { problems.push(`transfer-encoding ${te.join(',')}`); break; }
      const parts: Buffer[] = [];
      for (;;) {
        const le = text.indexOf('\r\n', pos);
        const m = le < 0 ? null : /^([0-9a-fA-F]+)(;[^\r\n]*)?$/.exec(text.slice(pos, le));
        if (m === null) { problems.push(`bad chunk line ${JSON.stringify(text.slice(pos, pos + 40))}`); return out; }
        const n = parseInt(m[1]!, 16);
        pos = le + 2;
        if (n === 0) {
          // Trailer section: nothing, or field lines, then CRLF.
          if (text.startsWith('\r\n', pos)) { pos += 2; break; }
          const tEnd = text.indexOf('\r\n\r\n', pos);
          if (tEnd < 0) { problems.push('incomplete trailer section'); return out; }
          pos = tEnd + 4;
          break;
        }
        if (pos + n + 2 > text.length || text.slice(pos + n, pos + n + 2) !== '\r\n') { problems.push('truncated or unterminated chunk'); return out; }
        parts.push(data.subarray(pos, pos + n));
        pos += n + 2;
      }
      body = Buffer.concat(parts);
    } else if (cl.length > 0) {
      if (!/^[0-9]+$/.test(cl[0]!)) { problems.push(`content-length ${cl[0]}`); break; }
      const n = Number(cl[0]);
      if (pos + n > text.length) { problems.push(`truncated body: ${text.length - pos} of ${n}`); break; }
      body = data.subarray(pos, pos + n);
      pos += n;
    } else {
      if (!closeSeen) problems.push('close-delimited response without connection: close');
      body = data.subarray(pos);
      pos = text.length;
    }
    out.push({ status, headers, body, close });
  }
  return out;
}

// ─────────────────────────── the test ───────────────────────────

test(`fuzz: ${ITERATIONS} requests (+${PIPELINES} pipelined connections), seed 0x${SEED.toString(16)}`, { timeout: 300_000 }, async (t) => {
  const t0 = performance.now();
  const up = await startRecordingUpstream();
  t.after(() => up.close());
  const px = await startProxy(simpleBootstrap({ ports: [up.port] }));
  t.after(() => px.close());

  const r = new Rng(SEED);
  const exchanges: Array<{ reqs: Req[]; splits: number[]; halfCloseAfter: number }> = [];
  let id = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const q = r.chance(0.5) ? toReq(draft(r, id++, { pipelined: false }), null) : mutated(r, id++, { pipelined: false });
    exchanges.push({ reqs: [q], splits: r.chance(0.2) ? [r.int(q.wire.length), r.int(q.wire.length)].sort((a, b) => a - b) : [], halfCloseAfter: 0 });
  }
  for (let i = 0; i < PIPELINES; i++) {
    const reqs: Req[] = [];
    const n = r.range(2, 6);
    const bad = r.chance(0.4) ? r.int(n) : -1;
    for (let k = 0; k < n; k++) {
      let q: Req;
      do q = k === bad ? mutated(r, id++, { pipelined: true }) : toReq(draft(r, id++, { pipelined: true }), null);
      while (q.mutation === null && q.body.length > 50_000);
      reqs.push(q);
    }
    const total = reqs.reduce((a, q) => a + q.wire.length, 0);
    // Half-close once every request before the mutated one (or all but the last) is answered.
    exchanges.push({ reqs, splits: r.chance(0.5) ? [r.int(total)] : [], halfCloseAfter: bad >= 0 ? bad : n - 1 });
  }
  const generated = performance.now();

  // Run them, CONCURRENCY connections at a time.
  const done: Exchange[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < exchanges.length) {
      const e = exchanges[next++]!;
      done.push(await exchange(px.port, e.reqs, e.splits, e.halfCloseAfter));
    }
  }));
  const ran = performance.now();

  // ── checks ──
  const failures: string[] = [];
  const describe = (q: Req) => `#${q.id} ${q.mutation ?? 'valid'} ${JSON.stringify(q.wire.subarray(0, 300).toString('latin1'))}${q.wire.length > 300 ? `…(${q.wire.length} bytes)` : ''}`;
  const statusCounts = new Map<string, number>();
  const count = (k: string) => statusCounts.set(k, (statusCounts.get(k) ?? 0) + 1);

  for (const ex of done) {
    if (ex.hung) failures.push(`exchange hung for ${HANG_MS} ms: ${ex.reqs.map(describe).join(' + ')}`);
    const problems: string[] = [];
    const responses = parseResponses(ex.data, ex.reqs.map(wireMethod), problems);
    for (const p of problems) failures.push(`malformed response (${p}) to ${ex.reqs.map(describe).join(' + ')}`);
    let stopped = false;
    ex.reqs.forEach((q, k) => {
      const res = stopped ? undefined : responses[k];
      if (res === undefined) { q.outcome = { kind: 'none' }; count('none'); return; }
      const origin = res.headers.find(([n]) => n === 'x-fuzz-origin')?.[1];
      // Only responses relayed from the upstream carry x-envoy-upstream-service-time.
      const relayed = res.headers.some(([n]) => n === 'x-envoy-upstream-service-time');
      if (origin === 'upstream') q.outcome = { kind: 'upstream', status: res.status };
      else if (origin === 'upstream-error') q.outcome = { kind: 'upstream-error', status: res.status }; // judged below, from llhttp's error
      else if (relayed) q.outcome = { kind: 'upstream-auto', status: res.status };
      else q.outcome = { kind: 'local', status: res.status, close: res.close };
      count(`${q.outcome.kind} ${res.status}`);
      if (q.outcome.kind === 'upstream' && res.status !== 200) failures.push(`upstream status ${res.status} for ${describe(q)}`);
      if (q.outcome.kind === 'upstream' && wireMethod(q) !== 'HEAD' && res.body.toString() !== 'ok') failures.push(`response body ${JSON.stringify(res.body.toString('latin1').slice(0, 80))} for ${describe(q)}`);
      if (q.outcome.kind === 'local' && !LOCAL_STATUSES.has(res.status)) failures.push(`local status ${res.status} for ${describe(q)}`);
      if (q.outcome.kind === 'upstream-auto' && res.status !== 417) failures.push(`status ${res.status} from the upstream's own HTTP stack for ${describe(q)}`);
      if (res.close) stopped = true;
    });
    if (responses.length > ex.reqs.length) {
      // Extra responses come from bytes the proxy saw as another request (e.g. a mutation that
      // shortened a body): they must be the proxy's own rejections.
      for (const res of responses.slice(ex.reqs.length)) {
        if (!LOCAL_STATUSES.has(res.status) || res.headers.some(([n]) => n === 'x-fuzz-origin')) {
          failures.push(`extra response ${res.status} from ${res.headers.some(([n]) => n === 'x-fuzz-origin') ? 'the upstream' : 'the proxy'} to ${ex.reqs.map(describe).join(' + ')}`);
        }
      }
    }
    for (const [k, q] of ex.reqs.entries()) {
      if (q.mutation !== null) continue;
      const earlierBad = ex.reqs.slice(0, k).some((p) => p.mutation !== null);
      if (earlierBad) continue;
      if (q.outcome!.kind !== 'upstream') {
        failures.push(`valid request not answered by the upstream (${q.outcome!.kind}${'status' in q.outcome! ? ' ' + q.outcome!.status : ''}${ex.error ? ', ' + ex.error : ''}): ${describe(q)}`);
      }
    }
  }

  // Upstream side: what arrived, keyed by token.
  const sentTokens = new Set(done.flatMap((e) => e.reqs.map((q) => q.token)));
  const byToken = new Map<string, UpRequest[]>();
  const tokenRe = /\/f\/(fz[0-9a-z]+x[0-9A-Za-z]{6}y)/;
  let untokened = 0;
  for (const u of up.requests) {
    if (u.url.includes('/smuggled-')) failures.push(`the upstream received a smuggled request: ${u.method} ${u.url}`);
    // A mutation may have hit one of the two copies of the token; either copy identifies it.
    const candidates = [u.headers['x-fuzz-token'], tokenRe.exec(u.url)?.[1]].filter((x): x is string => typeof x === 'string');
    const tok = candidates.find((c) => sentTokens.has(c));
    if (tok === undefined) { untokened++; continue; }
    const list = byToken.get(tok) ?? [];
    list.push(u);
    byToken.set(tok, list);
  }
  const all = done.flatMap((e) => e.reqs);
  const byId = new Map(all.map((q) => [q.token, q]));
  const exchangeOf = new Map(done.flatMap((e) => e.reqs.map((q) => [q.token, e] as const)));
  for (const [tok, list] of byToken) {
    const q = byId.get(tok);
    if (q === undefined) { failures.push(`the upstream received token ${tok} that no client sent`); continue; }
    if (list.length > 1) failures.push(`the upstream received ${list.length} requests for ${describe(q)}`);
    if (q.outcome!.kind !== 'upstream' && q.outcome!.kind !== 'local') {
      failures.push(`completed at the upstream, but the client got ${q.outcome!.kind}${'status' in q.outcome! ? ' ' + q.outcome!.status : ''}: ${exchangeOf.get(tok)!.reqs.map(describe).join(' + ')}`);
    }
    if (q.outcome!.kind === 'local') failures.push(`rejected with ${(q.outcome as { status: number }).status} but delivered to the upstream (${list[0]!.method} ${list[0]!.url}): ${describe(q)}`);
  }
  for (const ex of done) {
    // A rejection that closes the connection: nothing after it may be forwarded. (Local replies
    // that keep the connection, like 404 or a 400 for a bad target, leave the framing intact.)
    const k = ex.reqs.findIndex((q) => q.outcome!.kind === 'local' && q.outcome!.close);
    if (k < 0) continue;
    for (const q of ex.reqs.slice(k + 1)) {
      if (byToken.has(q.token)) failures.push(`#${q.id} reached the upstream after #${ex.reqs[k]!.id} on its connection was rejected: ${ex.reqs.map(describe).join(' + ')}`);
    }
  }
  const upstreamAnswers = all.filter((q) => q.outcome!.kind === 'upstream').length;
  if (up.requests.length !== upstreamAnswers) {
    // One request completed at the upstream for each upstream response a client got (requests
    // whose two token copies were both mutated are among them, counted as untokened).
    failures.push(`the upstream completed ${up.requests.length} requests (${untokened} without a recognizable token), clients got ${upstreamAnswers} upstream responses`);
  }

  // Valid requests arrive unchanged.
  for (const q of all) {
    if (q.mutation !== null || q.outcome!.kind !== 'upstream') continue;
    const u = byToken.get(q.token)?.[0];
    if (u === undefined) { failures.push(`answered by the upstream but not recorded: ${describe(q)}`); continue; }
    if (u.method !== q.method) failures.push(`method ${u.method} != ${q.method}: ${describe(q)}`);
    if (u.url !== q.target) failures.push(`target ${JSON.stringify(u.url)} != ${JSON.stringify(q.target)}: ${describe(q)}`);
    if (!u.body.equals(q.body)) failures.push(`body of ${u.body.length} bytes != ${q.body.length} sent: ${describe(q)}`);
    if (u.headers['x-fuzz-token'] !== q.token) failures.push(`x-fuzz-token ${String(u.headers['x-fuzz-token'])}: ${describe(q)}`);
    if (u.headers['x-hop'] !== undefined) failures.push(`a field nominated by Connection was forwarded: ${describe(q)}`);
  }

  // Rejections: on single-request connections the token can only appear upstream as this
  // request's own head; then the upstream connection must have been aborted inside it.
  const conns = up.conns.map((c) => ({ c, text: up.text(c) }));
  // Upstream connections on which each token appeared in a head (target or x-fuzz-token line).
  const carriersOf = new Map<string, Set<UpConn>>();
  for (const { c, text } of conns) {
    for (const m of text.matchAll(/(?:\/f\/|\r\nx-fuzz-token: )(fz[0-9a-z]+x[0-9A-Za-z]{6}y)/g)) {
      const set = carriersOf.get(m[1]!) ?? new Set<UpConn>();
      set.add(c);
      carriersOf.set(m[1]!, set);
    }
  }
  let headRejected = 0, bodyRejected = 0;
  for (const ex of done) {
    if (ex.reqs.length !== 1) continue;
    const q = ex.reqs[0]!;
    if (q.outcome!.kind !== 'local') continue;
    const carriers = carriersOf.get(q.token);
    if (carriers === undefined) { headRejected++; continue; }
    bodyRejected++;
    for (const c of carriers) {
      // Aborted by the proxy (EOF / reset inside the request), or refused by llhttp (an
      // extension method): either way the connection ended there and was not reused.
      if (c.errors.length === 0) {
        failures.push(`rejected with ${(q.outcome as { status: number }).status} after forwarding, and the upstream connection was not aborted: ${describe(q)}`);
      }
    }
  }

  // llhttp's view of everything forwarded.
  const toleratedCounts = new Map<string, number>();
  for (const { c, text } of conns) {
    for (const e of c.errors) {
      const why = tolerated(text, e);
      if (why !== null) { toleratedCounts.set(why, (toleratedCounts.get(why) ?? 0) + 1); continue; }
      failures.push(`llhttp rejected forwarded bytes (${e.code} at ${e.at}): ${JSON.stringify(text.slice(Math.max(0, e.at - 300), e.at + 100))}`);
    }
  }

  // Still alive and serving; nothing left active.
  const final = await rawExchange(px.port, 'POST /f/final HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nConnection: close\r\n\r\nstill here');
  assert.match(final, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok$/);
  assert.equal(up.requests.at(-1)!.body.toString(), 'still here');
  const stats = px.server.stats;
  const gauges = ['http.ingress.downstream_rq_active', 'http.ingress.downstream_cx_active', 'cluster.up.upstream_rq_active', 'cluster.up.upstream_rq_pending_active'];
  for (const deadline = performance.now() + 5000; gauges.some((g) => stats.value(g) !== 0) && performance.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 10)); // the last connections close asynchronously
  }
  for (const g of gauges) if (stats.value(g) !== 0) failures.push(`${g} = ${stats.value(g)} after the run`);

  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v}`).join(', ');
  t.diagnostic(`${all.length} requests on ${done.length} connections; generated in ${((generated - t0) / 1000).toFixed(2)} s, ran in ${((ran - generated) / 1000).toFixed(2)} s, checked in ${((performance.now() - ran) / 1000).toFixed(2)} s`);
  t.diagnostic(`outcomes: ${sorted(statusCounts)}`);
  t.diagnostic(`rejections on single-request connections: ${headRejected} never reached the upstream, ${bodyRejected} were aborted mid-body upstream`);
  t.diagnostic(`upstream: ${up.requests.length} requests on ${up.conns.length} connections; llhttp errors tolerated: ${sorted(toleratedCounts) || 'none'}`);
  if (process.env.WEFT_FUZZ_DUMP) (await import('node:fs')).writeFileSync(process.env.WEFT_FUZZ_DUMP, failures.join('\n'));
  // Two examples of each kind of failure, the kinds in order of first appearance.
  const kinds = new Map<string, string[]>();
  for (const f of failures) {
    const kind = f.replace(/\s*(#\d+|:| for | to | \().*$/s, '') || f.slice(0, 60);
    const list = kinds.get(kind) ?? [];
    list.push(f);
    kinds.set(kind, list);
  }
  const summary = [...kinds].map(([k, list]) => `${list.length} × ${k}\n    ${list.slice(0, 2).map((f) => f.slice(0, 1500)).join('\n    ')}`);
  assert.equal(failures.length, 0, `${failures.length} failures (seed 0x${SEED.toString(16)}):\n${summary.join('\n')}`);
});

// ─────────────────────────── what the fuzz found, pinned down ───────────────────────────

test('fuzz findings: framing survives Connection nominations, list-form Content-Length and framing trailers; nothing is forwarded after the proxy decided to close', async (t) => {
  const up = await startRecordingUpstream();
  t.after(() => up.close());
  const px = await startProxy(simpleBootstrap({ ports: [up.port] }));
  t.after(() => px.close());
  const send = (text: string) => rawExchange(px.port, text, { halfClose: true });

  // Connection may nominate Content-Length; dropping it while forwarding the body would make
  // the body the upstream's next request (request smuggling).
  const hidden = 'GET /smuggled-1 HTTP/1.1\r\nHost: s\r\n\r\n';
  const r1 = await send(`POST /f/nominated HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, content-length\r\nContent-Length: ${hidden.length}\r\n\r\n${hidden}`);
  assert.match(r1, /^HTTP\/1\.1 200 /);
  // `5, 5` is one valid length downstream (RFC 9110 §8.6) but not for every upstream parser.
  const r2 = await send('POST /f/list HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello');
  assert.match(r2, /^HTTP\/1\.1 200 /);
  // Framing fields in a trailer section: llhttp refuses them, so they are not forwarded.
  const r3 = await send('POST /f/trailers HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nX-T: 1\r\n\r\n');
  assert.match(r3, /^HTTP\/1\.1 200 /);
  // Answered (400, bad target) before its body arrived: the proxy closes after the body, and
  // must not forward the request pipelined behind it, whose response could never be delivered.
  const r4 = await send('PUT a.example:443 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' + 'GET /f/after-close HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.match(r4, /^HTTP\/1\.1 400 /);
  const problems: string[] = [];
  assert.equal(parseResponses(Buffer.from(r4, 'latin1'), ['PUT', 'GET'], problems).length, 1);
  assert.deepEqual(problems, []);

  const final = await send('GET /f/last HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.match(final, /^HTTP\/1\.1 200 /);
  assert.deepEqual(up.conns.flatMap((c) => c.errors), [], 'llhttp found nothing to reject');
  assert.deepEqual(up.requests.map((u) => [u.method, u.url, u.body.toString('latin1'), u.trailers]), [
    ['POST', '/f/nominated', hidden, {}],
    ['POST', '/f/list', 'hello', {}],
    ['POST', '/f/trailers', 'hello', { 'x-t': '1' }],
    ['GET', '/f/last', '', {}],
  ]);
});
