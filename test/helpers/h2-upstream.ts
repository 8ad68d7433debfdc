// HTTP/2 test upstreams: a node:http2 plaintext server on port 0 that records each stream and
// hands it to the test's handler, with every session tracked so close() leaves nothing open.

import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

export interface H2Seen {
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | null;
  sessionId: number;
}

export type H2Handler = (stream: http2.ServerHttp2Stream, seen: H2Seen, session: http2.ServerHttp2Session) => void;

export interface H2Upstream {
  port: number;
  server: http2.Http2Server;
  seen: H2Seen[];
  /** Sessions accepted so far. */
  sessions(): number;
  close(): Promise<void>;
}

/**
 * Starts an HTTP/2 (prior knowledge) server. The handler runs once a request's body has been read
 * (or at once with `early: true`, then `seen.body` is empty).
 */
export async function startH2Upstream(handler: H2Handler, opts: { settings?: http2.Settings; early?: boolean } = {}): Promise<H2Upstream> {
  const server = http2.createServer({ settings: opts.settings ?? {} });
  const seen: H2Seen[] = [];
  const open = new Set<http2.ServerHttp2Session>();
  const ids = new WeakMap<http2.ServerHttp2Session, number>();
  let count = 0;
  server.on('session', (s) => {
    ids.set(s, ++count);
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => { /* test peers reset */ });
  });
  server.on('stream', (stream, headers) => {
    const session = stream.session as http2.ServerHttp2Session;
    const entry: H2Seen = { headers, body: Buffer.alloc(0), trailers: null, sessionId: ids.get(session) ?? 0 };
    stream.on('error', () => { /* resets are part of the tests */ });
    if (opts.early) { seen.push(entry); handler(stream, entry, session); return; }
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('trailers', (t) => { entry.trailers = t; });
    stream.on('end', () => {
      entry.body = Buffer.concat(chunks);
      seen.push(entry);
      handler(stream, entry, session);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    seen,
    sessions: () => count,
    close: () => new Promise<void>((r) => { for (const s of open) s.destroy(); server.close(() => r()); }),
  };
}

/** Cluster extra keys selecting explicit HTTP/2 upstream (with optional Http2ProtocolOptions and common options). */
export function h2Options(http2Options: Record<string, unknown> = {}, common?: Record<string, unknown>): Record<string, unknown> {
  return {
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: http2Options },
        ...(common ? { common_http_protocol_options: common } : {}),
      },
    },
  };
}
