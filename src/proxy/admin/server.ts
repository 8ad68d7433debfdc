// The admin listener: HTTP/1.1 over node:net with the project's own codec (RFC 9112), serving
// handleAdmin() with keep-alive, Content-Length bodies, `Connection: close` and pipelined requests.
import { createServer, type Server, type Socket } from 'node:net';
import { createLogger } from '../../observe/logger.js';
import type { Http1ParseError } from '../codec/http1/errors.js';
import { Http1Parser, type MessageHead } from '../codec/http1/parser.js';
import { responseHead } from '../codec/http1/serialize.js';
import type { SocketAddress } from '../config/types.js';
import { handleAdmin, type AdminContext, type AdminResponse } from './handlers.js';

const log = createLogger('admin');

export interface AdminServerOptions {
  /** Largest request head (default 64 KiB). */
  readonly maxHeaderBytes?: number;
  /** Largest request body; larger ones get 413 (default 1 MiB). */
  readonly maxBodyBytes?: number;
  /** How long close() lets busy connections finish before destroying them (default 1 s). */
  readonly closeGraceMs?: number;
}

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const TEXT = 'text/plain; charset=UTF-8';

/** One client connection: parses requests in order and answers each as soon as it is complete. */
class AdminConnection {
  private readonly parser: Http1Parser;
  private head: MessageHead | null = null;
  private body: Buffer[] = [];
  private bodyBytes = 0;
  /** No more requests are read; the socket ends after the current response. */
  private closing = false;

  constructor(
    private readonly socket: Socket,
    private readonly ctx: AdminContext,
    private readonly maxBodyBytes: number,
    maxHeaderBytes: number,
  ) {
    this.parser = new Http1Parser('request', {
      onHead: (head) => this.onHead(head),
      onInformational: () => {},
      onData: (chunk) => this.onData(chunk),
      onComplete: () => this.onComplete(),
      onError: (err) => this.onError(err),
    }, { maxHeaderBytes });
    socket.on('data', (b: Buffer) => this.parser.execute(b));
    socket.on('end', () => {
      this.parser.finish();
      // A request waiting for prepare() is still answered (the server allows half-open sockets).
      if (this.waiting) this.closing = true;
      else if (!this.socket.destroyed) this.socket.end();
    });
    socket.on('error', (err) => log.debug('admin connection error: %s', err.message));
  }

  /** A response waiting for AdminContext.prepare(); the parser is paused meanwhile, so answers stay in order. */
  private waiting = false;

  /** True while a request is partly read or waits for its answer. */
  get busy(): boolean {
    return this.head !== null || this.waiting;
  }

  /** Stops reading; ends the socket now when idle, else after the current response. */
  shutdown(): void {
    this.closing = true;
    this.parser.pause();
    if (!this.busy) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onHead(head: MessageHead): void {
    if (head.contentLength > this.maxBodyBytes) { this.rejectTooLarge(); return; }
    this.head = head;
    this.body = [];
    this.bodyBytes = 0;
    if (head.expectContinue) this.socket.write(CONTINUE);
  }

  private onData(chunk: Buffer): void {
    if (this.head === null) return;
    this.bodyBytes += chunk.length;
    if (this.bodyBytes > this.maxBodyBytes) { this.rejectTooLarge(); return; }
    this.body.push(chunk);
  }

  /** 413 right away (without reading the rest of the body), then close. */
  private rejectTooLarge(): void {
    this.head = null;
    this.body = [];
    this.closing = true;
    this.respond({ status: 413, contentType: TEXT, body: 'request body too large\n' }, false, 1);
  }

  private onComplete(): void {
    const head = this.head;
    if (head === null) return;
    if (!head.keepAlive || head.upgrade !== null) this.closing = true;
    let url: URL;
    try {
      url = new URL(head.url, 'http://admin');
    } catch {
      url = new URL('http://admin/invalid-request-target');
    }
    const body = this.body.length === 1 ? this.body[0]! : Buffer.concat(this.body);
    this.head = null;
    this.body = [];
    const req = { method: head.method, path: url.pathname, query: url.searchParams, body };
    const ready = this.ctx.prepare?.(req);
    if (ready === undefined) {
      this.respond(handleAdmin(this.ctx, req), head.method === 'HEAD', head.versionMinor);
      return;
    }
    this.waiting = true;
    this.parser.pause();
    const answer = (): void => {
      this.waiting = false;
      this.respond(handleAdmin(this.ctx, req), head.method === 'HEAD', head.versionMinor);
      if (!this.closing) this.parser.resume();
    };
    ready.then(answer, (err: unknown) => {
      log.warning('admin: preparing %s failed: %s', req.path, (err as Error)?.message ?? String(err));
      answer();
    });
  }

  private onError(err: Http1ParseError): void {
    this.head = null;
    this.closing = true;
    this.respond({ status: err.status, contentType: TEXT, body: `${err.message}\n` }, false, 1);
  }

  private respond(res: AdminResponse, headOnly: boolean, versionMinor: number): void {
    if (this.socket.destroyed) return;
    const body = typeof res.body === 'string' ? Buffer.from(res.body) : res.body;
    const headers = [
      'content-type', res.contentType,
      'content-length', String(body.length),
      'cache-control', 'no-cache, max-age=0',
      'x-content-type-options', 'nosniff',
    ];
    if (this.closing) headers.push('connection', 'close');
    else if (versionMinor === 0) headers.push('connection', 'keep-alive');
    const after = res.afterSend;
    const done = after === undefined ? undefined : (): void => runAfter(after);
    const head = responseHead(res.status, headers, versionMinor);
    const withBody = !headOnly && body.length > 0;
    this.socket.cork();
    this.socket.write(head, 'latin1', withBody ? undefined : done);
    if (withBody) this.socket.write(body, done);
    if (this.closing) {
      this.parser.pause();
      this.socket.end();
    }
    this.socket.uncork();
  }
}

function runAfter(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    log.error('admin post-response action failed: %s', (err as Error)?.message ?? String(err));
  }
}

/**
 * Envoy's admin listener on `address`. start() resolves with the bound port (useful with port 0);
 * close() stops accepting, lets in-flight responses finish, and resolves when every socket is gone.
 */
export class AdminServer {
  private server: Server | null = null;
  private readonly conns = new Map<Socket, AdminConnection>();
  private readonly maxHeaderBytes: number;
  private readonly maxBodyBytes: number;
  private readonly closeGraceMs: number;
  private closing: Promise<void> | null = null;

  constructor(private readonly address: SocketAddress, private readonly ctx: AdminContext, opts: AdminServerOptions = {}) {
    this.maxHeaderBytes = opts.maxHeaderBytes ?? 64 * 1024;
    this.maxBodyBytes = opts.maxBodyBytes ?? 1024 * 1024;
    this.closeGraceMs = opts.closeGraceMs ?? 1000;
  }

  start(): Promise<{ port: number }> {
    if (this.server !== null) throw new Error('admin server already started');
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      if (this.closing !== null) { socket.destroy(); return; }
      socket.setNoDelay(true);
      const conn = new AdminConnection(socket, this.ctx, this.maxBodyBytes, this.maxHeaderBytes);
      this.conns.set(socket, conn);
      socket.on('close', () => this.conns.delete(socket));
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => { this.server = null; reject(err); };
      server.once('error', onError);
      server.listen({ host: this.address.address, port: this.address.port }, () => {
        server.off('error', onError);
        server.on('error', (err) => log.error('admin listener error: %s', err.message));
        const addr = server.address();
        const port = addr !== null && typeof addr === 'object' ? addr.port : this.address.port;
        log.info('admin listening on %s:%d', this.address.address, port);
        resolve({ port });
      });
    });
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const conn of this.conns.values()) conn.shutdown();
    const grace = setTimeout(() => { for (const conn of this.conns.values()) conn.destroy(); }, this.closeGraceMs);
    grace.unref();
    await closed; // resolves once every connection has closed
    clearTimeout(grace);
  }
}
