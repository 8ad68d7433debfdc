// A hand-driven HTTP/2 server for the upstream conformance cases (upstream.test.ts): the proxy is
// the HTTP/2 client (a cluster with http2_protocol_options) and this server can answer with
// anything, valid or not. It reads the client preface, decodes the proxy's header blocks with the
// strict HPACK oracle (h2-hpack.ts), records every frame of every connection, and hands each
// request (once its END_STREAM arrived) to the test's handler.

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { HpackDecoder } from '../../helpers/h2-hpack.js';
import { F, PREFACE, settings, settingsAck, T, windowUpdate, type Ev } from '../../helpers/h2-frames.js';

export interface UpStream {
  id: number;
  headers: Array<[string, string]>;
  body: Buffer;
  /** The proxy's DATA frames on this stream (payload lengths). */
  dataFrames: number[];
}

export interface UpConn {
  sock: net.Socket;
  frames: Ev[];
  streams: Map<number, UpStream>;
  /** HPACK errors in the proxy's blocks (its encoder broke a rule). */
  hpackErrors: string[];
  /** Open streams (HEADERS seen, not yet ended by both sides as far as the proxy sent) — for concurrency checks. */
  maxOpen: number;
  send(...b: Buffer[]): void;
  path(s: UpStream): string;
}

export interface RawH2Upstream {
  port: number;
  conns: UpConn[];
  /** The stream whose :path is `path`, with its connection. */
  find(path: string): { conn: UpConn; stream: UpStream } | undefined;
  close(): Promise<void>;
}

export interface RawH2Options {
  /** What the server sends first (default: SETTINGS with `settings`). */
  preface?: Buffer;
  settings?: ReadonlyArray<readonly [number, number]>;
  /** Give back the window of received DATA at once (default true). */
  autoWindow?: boolean;
  /** Our SETTINGS_HEADER_TABLE_SIZE as the oracle should enforce it. */
  headerTableSize?: number;
  onRequest(conn: UpConn, stream: UpStream): void;
}

export async function startRawH2Upstream(o: RawH2Options): Promise<RawH2Upstream> {
  const conns: UpConn[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => { /* the proxy resets */ });
    const decoder = new HpackDecoder();
    if (o.headerTableSize !== undefined) decoder.setSettingsMax(o.headerTableSize);
    let buf = Buffer.alloc(0), prefaceSeen = false, block: { id: number; parts: Buffer[]; end: boolean } | null = null;
    const open = new Set<number>();
    const conn: UpConn = {
      sock, frames: [], streams: new Map(), hpackErrors: [], maxOpen: 0,
      send: (...b) => { if (!sock.destroyed) sock.write(Buffer.concat(b)); },
      path: (s) => s.headers.find(([n]) => n === ':path')?.[1] ?? '',
    };
    conns.push(conn);
    conn.send(o.preface ?? settings(o.settings ?? []));
    const ended = (s: UpStream) => { open.delete(s.id); o.onRequest(conn, s); };
    const finishBlock = () => {
      const b = block!;
      block = null;
      let fields: Array<[string, string]> = [];
      try { fields = decoder.decode(Buffer.concat(b.parts)); } catch (e) { conn.hpackErrors.push((e as Error).message); return; }
      const existing = conn.streams.get(b.id);
      if (existing !== undefined) { if (b.end) ended(existing); return; } // trailers
      const s: UpStream = { id: b.id, headers: fields, body: Buffer.alloc(0), dataFrames: [] };
      conn.streams.set(b.id, s);
      open.add(b.id);
      conn.maxOpen = Math.max(conn.maxOpen, open.size);
      if (b.end) ended(s);
    };
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!prefaceSeen) {
        if (buf.length < PREFACE.length) return;
        if (!buf.subarray(0, PREFACE.length).equals(PREFACE)) { sock.destroy(); return; }
        prefaceSeen = true;
        buf = buf.subarray(PREFACE.length);
      }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const ev: Ev = { type: buf[3]!, flags: buf[4]!, streamId: buf.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(buf.subarray(9, 9 + len)) };
        buf = buf.subarray(9 + len);
        conn.frames.push(ev);
        if (ev.type === T.SETTINGS && (ev.flags & F.ACK) === 0) conn.send(settingsAck());
        else if (ev.type === T.HEADERS) {
          let start = 0, end = ev.payload.length;
          if (ev.flags & F.PADDED) { start = 1; end -= ev.payload[0]!; }
          if (ev.flags & F.PRIORITY) start += 5;
          block = { id: ev.streamId, parts: [ev.payload.subarray(start, end)], end: (ev.flags & F.END_STREAM) !== 0 };
          if (ev.flags & F.END_HEADERS) finishBlock();
        } else if (ev.type === T.CONTINUATION && block !== null) {
          block.parts.push(ev.payload);
          if (ev.flags & F.END_HEADERS) finishBlock();
        } else if (ev.type === T.DATA) {
          const s = conn.streams.get(ev.streamId);
          if (s !== undefined) {
            let p = ev.payload;
            if (ev.flags & F.PADDED) p = p.subarray(1, p.length - p[0]!);
            s.body = Buffer.concat([s.body, p]);
            s.dataFrames.push(ev.payload.length);
            if (o.autoWindow !== false && ev.payload.length > 0) conn.send(windowUpdate(0, ev.payload.length), ...((ev.flags & F.END_STREAM) ? [] : [windowUpdate(ev.streamId, ev.payload.length)]));
            if (ev.flags & F.END_STREAM) ended(s);
          }
        } else if (ev.type === T.RST_STREAM) open.delete(ev.streamId);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    conns,
    find(path) {
      for (const conn of conns) for (const stream of conn.streams.values()) if (conn.path(stream) === path) return { conn, stream };
      return undefined;
    },
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}
