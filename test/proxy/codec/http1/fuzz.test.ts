// Bounded, seeded fuzzing of the HTTP/1.1 parser (RFC 9112): random and mutated messages must
// never make execute() throw, every accepted head must be well-formed and survive a
// serialize/parse round trip, and the way the input is split must not change the outcome.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageHead } from '../../../../src/proxy/codec/http1/parser.js';
import { requestHead, responseHead } from '../../../../src/proxy/codec/http1/serialize.js';
import { MAX, parsePieces, type Event } from './recorder.js';

const BUDGET_MS = 4000;
const CASES = 6000;

/** mulberry32: small, seeded, good enough for test inputs. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

class Gen {
  constructor(readonly r: () => number) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  token(max = 10): string {
    let s = '';
    for (let i = 1 + this.int(max); i > 0; i--) s += TCHARS[this.int(TCHARS.length)];
    return s;
  }
  value(): string {
    let s = '';
    for (let i = this.int(20); i > 0; i--) {
      const c = this.chance(0.9) ? 0x20 + this.int(95) : this.pick([9, 0x80 + this.int(128)]);
      s += String.fromCharCode(c);
    }
    return s;
  }

  body(framing: number): string {
    const data = 'x'.repeat(this.int(40));
    if (framing === 0) return '';
    if (framing === 1) return data;
    let out = '';
    for (let left = data; left.length > 0; ) {
      const n = 1 + this.int(left.length);
      out += n.toString(16) + (this.chance(0.2) ? ';ext=' + this.token(4) : '') + '\r\n' + left.slice(0, n) + '\r\n';
      left = left.slice(n);
    }
    out += '0\r\n';
    if (this.chance(0.3)) out += this.token() + ': ' + this.value().trim() + '\r\n';
    return out + '\r\n';
  }

  /** A valid request (sometimes with an unusual but legal shape). */
  request(): string {
    const method = this.pick(['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', this.token(8)]);
    const target = this.pick(['/', '/a/b?c=d&e', '*', 'http://h.example/x', '/' + this.token(20)]);
    const v = this.chance(0.85) ? 1 : 0;
    const lines: string[] = [];
    if (v === 1 || this.chance(0.5)) lines.push(this.pick(['Host', 'host', 'HOST']) + ':' + this.pick([' ', '', '\t']) + this.pick(['h.example', 'h:80', '[::1]', '']));
    for (let i = this.int(8); i > 0; i--) lines.push(this.token() + ':' + this.pick([' ', '', '  ']) + this.value().trim());
    if (this.chance(0.3)) lines.push('Connection: ' + this.pick(['close', 'keep-alive', 'Upgrade', 'x, close']));
    if (this.chance(0.1)) lines.push('Upgrade: websocket');
    const framing = v === 1 ? this.int(3) : this.int(2); // 0 none, 1 CL, 2 chunked
    const body = this.body(framing);
    if (framing === 1) lines.push('Content-Length: ' + body.length);
    if (framing === 2) lines.push('Transfer-Encoding: chunked');
    // shuffle the field lines
    for (let i = lines.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
    }
    return (this.chance(0.05) ? '\r\n' : '') + `${method} ${target} HTTP/1.${v}\r\n` + lines.map((l) => l + '\r\n').join('') + '\r\n' + body;
  }

  response(): string {
    const status = this.pick([100, 101, 200, 204, 301, 304, 404, 500, 103, 200 + this.int(800)]);
    const lines: string[] = [];
    for (let i = this.int(6); i > 0; i--) lines.push(this.token() + ': ' + this.value().trim());
    const framing = this.int(3);
    const body = this.body(framing);
    if (framing === 1) lines.push('Content-Length: ' + body.length);
    if (framing === 2) lines.push('Transfer-Encoding: chunked');
    return `HTTP/1.${this.int(2)} ${status} ${this.pick(['OK', '', 'Some Reason'])}\r\n` + lines.map((l) => l + '\r\n').join('') + '\r\n' + body;
  }

  mutate(s: string): string {
    const n = 1 + this.int(4);
    for (let k = 0; k < n; k++) {
      const at = this.int(s.length + 1);
      switch (this.int(12)) {
        case 10: { // cut the end of the start line
          const p = s.indexOf('\r\n');
          if (p > 0) s = s.slice(0, Math.max(0, p - 1 - this.int(12))) + s.slice(p);
          break;
        }
        case 11: { // drop the field lines
          const p = s.indexOf('\r\n');
          const e = s.indexOf('\r\n\r\n');
          if (p !== -1 && e > p) s = s.slice(0, p) + s.slice(e);
          break;
        }
        case 0: // flip a byte
          s = s.slice(0, at) + String.fromCharCode(this.int(256)) + s.slice(at + 1);
          break;
        case 1: // insert a special byte
          s = s.slice(0, at) + this.pick(['\r', '\n', '\0', ' ', '\t', ':', ',', '\r\n', '\x7f', ';']) + s.slice(at);
          break;
        case 2: // delete a byte
          s = s.slice(0, at) + s.slice(at + 1);
          break;
        case 3: { // duplicate a line
          const a = s.lastIndexOf('\r\n', at);
          const b = s.indexOf('\r\n', at);
          if (a !== -1 && b !== -1) s = s.slice(0, b + 2) + s.slice(a + 2, b + 2) + s.slice(b + 2);
          break;
        }
        case 4: // truncate
          s = s.slice(0, at);
          break;
        case 5: // insert a framing field
          {
            const line = this.pick(['Transfer-Encoding: chunked', 'Content-Length: 3', 'Content-Length: 4', 'Transfer-Encoding: gzip', 'Host: other', 'Connection: upgrade', 'Expect: 100-continue', ' folded', 'Transfer-Encoding : chunked']);
            const p = s.indexOf('\r\n');
            if (p !== -1) s = s.slice(0, p + 2) + line + '\r\n' + s.slice(p + 2);
          }
          break;
        case 6: // change case
          s = s.slice(0, at) + s.slice(at, at + 5).toUpperCase() + s.slice(at + 5);
          break;
        case 7: // append another message
          s += this.chance(0.5) ? this.request() : this.response();
          break;
        case 8: // replace a digit
          s = s.replace(/\d/, () => String(this.int(10)));
          break;
        default: // random garbage
          s = s.slice(0, at) + this.value() + s.slice(at);
      }
    }
    return s;
  }

  split(s: string): string[] {
    const out: string[] = [];
    for (let i = 0; i < s.length; ) {
      const n = 1 + this.int(this.chance(0.5) ? 4 : 64);
      out.push(s.slice(i, i + n));
      i += n;
    }
    return out;
  }
}

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (const ch of s) if (!TCHARS.includes(ch)) return false;
  return true;
}

function checkHead(kind: 'request' | 'response', head: MessageHead, where: string): void {
  if (kind === 'request') {
    assert.ok(isToken(head.method), `${where}: method ${JSON.stringify(head.method)}`);
    assert.ok(head.url.length > 0 && !/[\x00-\x20\x7f#]/.test(head.url), `${where}: url`);
    if (head.url.startsWith('*')) assert.ok(head.url === '*' && head.method === 'OPTIONS', `${where}: asterisk-form`);
    assert.equal(head.statusCode, 0, where);
    const hosts = head.headers.filter((_, i) => i % 2 === 0 && head.headers[i] === 'host').length;
    assert.ok(head.versionMinor === 1 ? hosts === 1 : hosts <= 1, `${where}: host count ${hosts}`);
  } else {
    assert.ok(head.statusCode >= 100 && head.statusCode <= 999, where);
    assert.ok(!/[\x00-\x08\x0a-\x1f\x7f]/.test(head.reason), where);
  }
  assert.ok(head.versionMinor === 0 || head.versionMinor === 1, where);
  assert.equal(head.headers.length % 2, 0, where);
  let hasTE = false;
  let hasCL = false;
  for (let i = 0; i < head.headers.length; i += 2) {
    const name = head.headers[i]!;
    const value = head.headers[i + 1]!;
    assert.ok(isToken(name) && name === name.toLowerCase(), `${where}: name ${JSON.stringify(name)}`);
    assert.ok(!/[\x00-\x08\x0a-\x1f\x7f]/.test(value), `${where}: value ${JSON.stringify(value)}`);
    assert.ok(!/^[ \t]|[ \t]$/.test(value), `${where}: untrimmed value`);
    if (name === 'transfer-encoding') hasTE = true;
    if (name === 'content-length') hasCL = true;
  }
  assert.ok(!(hasTE && hasCL), `${where}: CL and TE both accepted`);
  assert.ok(!(head.chunked && head.contentLength !== -1), where);
  assert.equal(head.contentLength !== -1, hasCL, where);
  assert.ok(head.contentLength === -1 || (Number.isSafeInteger(head.contentLength) && head.contentLength >= 0), where);
  if (kind === 'request') assert.equal(head.chunked, hasTE, `${where}: request TE must be exactly chunked`);
  if (hasTE) assert.equal(head.versionMinor, 1, where);
}

/** Serializes the head again, parses it, and compares. */
function roundTrip(kind: 'request' | 'response', head: MessageHead, where: string): void {
  const text = kind === 'request'
    ? requestHead(head.method, head.url, head.headers, head.versionMinor)
    : responseHead(head.statusCode, head.headers, head.versionMinor, head.reason);
  const ev = parsePieces(kind, [text], { noBody: true });
  const again = ev.find((e): e is Extract<Event, { type: 'head' | 'info' }> => e.type === 'head' || e.type === 'info');
  assert.ok(again !== undefined, `${where}: round trip rejected ${JSON.stringify(ev)}`);
  const a = { ...head, headBytes: 0, keepAlive: 0 };
  const b = { ...again.head, headBytes: 0, keepAlive: 0 };
  assert.deepEqual(b, a, `${where}: round trip`);
}

/** Checks the callback sequence is well-formed; returns the heads. */
function checkSequence(kind: 'request' | 'response', events: Event[], where: string): MessageHead[] {
  const heads: MessageHead[] = [];
  let inMessage = false;
  let body = 0;
  let head: MessageHead | null = null;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    switch (e.type) {
      case 'head':
        assert.ok(!inMessage, `${where}: head inside a message`);
        inMessage = true;
        head = e.head;
        body = 0;
        heads.push(e.head);
        checkHead(kind, e.head, where);
        break;
      case 'info':
        assert.ok(!inMessage && kind === 'response', where);
        assert.ok(e.head.statusCode >= 100 && e.head.statusCode < 200 && e.head.statusCode !== 101, where);
        checkHead(kind, e.head, where);
        break;
      case 'data':
        assert.ok(inMessage, `${where}: data outside a message`);
        body += e.data.length;
        break;
      case 'complete':
        assert.ok(inMessage, `${where}: complete outside a message`);
        if (head!.contentLength > 0 && kind === 'request') assert.equal(body, head!.contentLength, where);
        inMessage = false;
        break;
      case 'error':
        assert.equal(i, events.length - 1, `${where}: events after an error`);
        assert.ok([400, 431, 501, 505].includes(e.status), where);
        assert.match(e.code, /^HPE_[A-Z_]+$/, where);
        break;
    }
  }
  return heads;
}

function run(kind: 'request' | 'response', input: string, g: Gen, where: string): void {
  let whole: Event[] = [];
  let split: Event[] = [];
  assert.doesNotThrow(() => {
    whole = parsePieces(kind, [input], { eof: true });
    split = parsePieces(kind, g.split(input), { eof: true });
  }, where);
  const heads = checkSequence(kind, whole, where);
  // Liveness: once the first head's CRLFCRLF has arrived, the parser must have said something
  // (a head, a 1xx or an error) without waiting for more input or EOF.
  const firstEnd = input.replace(/^(\r\n)+/, '').indexOf('\r\n\r\n');
  if (firstEnd !== -1 && firstEnd + 4 <= MAX) {
    const live = parsePieces(kind, g.split(input));
    assert.ok(live.length > 0, `${where}: no event although the first head is complete`);
  }
  checkSequence(kind, split, where + ' (split)');
  for (const h of heads) roundTrip(kind, h, where);
  // The split must not change the outcome; only which error is found first may differ.
  const wErr = whole.at(-1)?.type === 'error';
  const sErr = split.at(-1)?.type === 'error';
  assert.equal(sErr, wErr, `${where}: error whole=${JSON.stringify(whole.at(-1))} split=${JSON.stringify(split.at(-1))}`);
  assert.deepEqual(wErr ? split.slice(0, -1) : split, wErr ? whole.slice(0, -1) : whole, `${where}: split changed the events`);
}

test('fuzz: random and mutated requests and responses (seeded, time-bounded)', (t) => {
  const seed = Number(process.env.WEFT_FUZZ_SEED ?? 0x5eed);
  const g = new Gen(prng(seed));
  const start = performance.now();
  let n = 0;
  let accepted = 0;
  for (; n < CASES && performance.now() - start < BUDGET_MS; n++) {
    const kind = g.chance(0.75) ? 'request' : 'response';
    const base = kind === 'request' ? g.request() : g.response();
    const input = g.chance(0.15) ? base : g.mutate(base);
    const where = `seed ${seed} case ${n} ${kind} ${JSON.stringify(input)}`;
    run(kind, input, g, where);
    if (!parsePieces(kind, [input]).some((e) => e.type === 'error')) accepted++;
  }
  t.diagnostic(`seed ${seed}: ${n} cases, ${accepted} accepted without error`);
  assert.ok(n >= 500, `only ${n} cases ran within the budget`);
  assert.ok(accepted > n / 10, `too few accepted inputs (${accepted}/${n}): the generator is broken`);
});
