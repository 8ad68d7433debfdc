// Test upstreams: real HTTP servers on port 0 (node:http is fine here: it is the system under
// test's peer, not the proxy) and raw TCP servers for misbehaving upstreams.

import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  trailers: NodeJS.Dict<string>;
  httpVersion: string;
}

export interface Upstream {
  port: number;
  requests: SeenRequest[];
  server: http.Server;
  close(): Promise<void>;
}

export type UpstreamHandler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;

/** Default handler: 200 with a JSON echo of what was received, plus `x-upstream: <name>`. */
export function echo(name: string): UpstreamHandler {
  return (req, res, body) => {
    const out = JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers, body: body.toString('latin1') });
    res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': name, 'content-length': Buffer.byteLength(out) });
    res.end(out);
  };
}

/** Starts an HTTP/1.1 upstream on 127.0.0.1:0 that records every request. */
export async function startUpstream(handler: UpstreamHandler = echo('up'), opts: { keepAliveTimeout?: number } = {}): Promise<Upstream> {
  const requests: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body, trailers: req.trailers, httpVersion: req.httpVersion });
      handler(req, res, body);
    });
  });
  server.keepAliveTimeout = opts.keepAliveTimeout ?? 30_000;
  // Track every socket, upgraded ones included (closeAllConnections does not see those).
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    server,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

/** A raw TCP server: `onSocket` does whatever the test needs (malformed responses, resets, ...). */
export async function startRawServer(onSocket: (s: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => {}); onSocket(s); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

/** Starts one echo upstream per name (each answering with `x-upstream: <name>`), closed after the test. */
export async function startEchoUpstreams(t: { after(fn: () => Promise<void> | void): void }, ...names: string[]): Promise<Upstream[]> {
  const out: Upstream[] = [];
  for (const n of names) {
    const u = await startUpstream(echo(n));
    t.after(() => u.close());
    out.push(u);
  }
  return out;
}
