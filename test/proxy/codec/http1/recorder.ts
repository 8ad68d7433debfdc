// Test helper for the HTTP/1.1 parser: a handler that records every callback as a plain event,
// and feeds input whole, split at given offsets, or byte by byte.
import { Http1Parser, type Http1ParserHandler, type MessageHead } from '../../../../src/proxy/codec/http1/parser.js';
import type { Http1ParseError } from '../../../../src/proxy/codec/http1/errors.js';

export type Event =
  | { type: 'head'; head: MessageHead }
  | { type: 'info'; head: MessageHead }
  | { type: 'data'; data: string }
  | { type: 'complete'; trailers: string[] | null }
  | { type: 'error'; code: string; status: number };

export class Recorder implements Http1ParserHandler {
  events: Event[] = [];
  /** Return value of onHead (e.g. true for a response to HEAD). */
  noBody: (head: MessageHead) => boolean = () => false;
  /** Called after each event is recorded (to pause, resume, ...). */
  after: (e: Event) => void = () => {};

  onHead(head: MessageHead): boolean {
    this.push({ type: 'head', head });
    return this.noBody(head);
  }
  onInformational(head: MessageHead): void {
    this.push({ type: 'info', head });
  }
  onData(chunk: Buffer): void {
    this.push({ type: 'data', data: chunk.toString('latin1') });
  }
  onComplete(trailers: string[] | null): void {
    this.push({ type: 'complete', trailers });
  }
  onError(err: Http1ParseError): void {
    this.push({ type: 'error', code: err.code, status: err.status });
  }
  private push(e: Event): void {
    this.events.push(e);
    this.after(e);
  }

  /** Events with adjacent data merged, so differently split input compares equal. */
  normalized(): Event[] {
    const out: Event[] = [];
    for (const e of this.events) {
      const last = out[out.length - 1];
      if (e.type === 'data' && last !== undefined && last.type === 'data') last.data += e.data;
      else out.push(e.type === 'data' ? { ...e } : e);
    }
    return out;
  }

  heads(): MessageHead[] {
    return this.events.flatMap((e) => (e.type === 'head' ? [e.head] : []));
  }
  errors(): Event[] {
    return this.events.filter((e) => e.type === 'error');
  }
}

export const MAX = 16 * 1024;

export function parser(kind: 'request' | 'response', maxHeaderBytes = MAX): { p: Http1Parser; r: Recorder } {
  const r = new Recorder();
  return { p: new Http1Parser(kind, r, { maxHeaderBytes }), r };
}

export const buf = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Parses input given as pieces (strings or buffers), returns the normalized events. */
export function parsePieces(kind: 'request' | 'response', pieces: (string | Buffer)[], opts: { eof?: boolean; noBody?: boolean; max?: number } = {}): Event[] {
  const { p, r } = parser(kind, opts.max);
  if (opts.noBody) r.noBody = () => true;
  for (const piece of pieces) p.execute(typeof piece === 'string' ? buf(piece) : piece);
  if (opts.eof) p.finish();
  return r.normalized();
}

export function parseWhole(kind: 'request' | 'response', input: string, opts: { eof?: boolean; noBody?: boolean; max?: number } = {}): Event[] {
  return parsePieces(kind, [input], opts);
}
