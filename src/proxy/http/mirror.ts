// Request mirroring (route `request_mirror_policies`): a fire-and-forget copy of the request to
// another cluster, with `-shadow` appended to the host as Envoy does; the response is discarded.

import type { Cluster } from '../cluster/cluster.js';
import type { MessageHead } from '../codec/http1/parser.js';
import { requestHead } from '../codec/http1/serialize.js';
import { upstreamPoolFor } from '../pool/http2-pool.js';
import type { PoolWaiter, UpstreamRequest, UpstreamRequestSource, UpstreamResponseHandler } from '../pool/upstream.js';
import type { CompiledRoute } from '../router/route-table.js';

export class Mirror implements PoolWaiter, UpstreamResponseHandler, UpstreamRequestSource {
  private payload: Buffer[] = [];
  private readonly headers: string[] = [];
  // UpstreamRequestSource, filled in once the body is known
  upstreamHead = '';
  upstreamHeaders: readonly string[] = [];
  readonly requestChunked = false;
  get upstreamMethod(): string { return this.method; }
  get upstreamPath(): string { return this.path; }

  private constructor(private readonly cluster: Cluster, private readonly method: string, private readonly path: string,
                      headers: readonly string[]) {
    for (let i = 0; i < headers.length; i += 2) {
      const n = headers[i]!;
      if (n === 'transfer-encoding' || n === 'content-length') continue;
      this.headers.push(n, n === 'host' ? shadowHost(headers[i + 1]!) : headers[i + 1]!);
    }
  }

  /** Starts the mirrors a route asks for (each sampled by its fraction). */
  static start(clusters: { get(name: string): Cluster | undefined }, route: CompiledRoute, method: string, path: string,
               headers: readonly string[]): Mirror[] | null {
    let out: Mirror[] | null = null;
    for (const m of route.mirrors) {
      if (m.fraction < 1 && Math.random() >= m.fraction) continue;
      const c = clusters.get(m.cluster);
      if (c === undefined) continue;
      (out ??= []).push(new Mirror(c, method, path, headers));
    }
    return out;
  }

  /** The original request is complete: send the copy with its body (null = body too large: skip). */
  onRequestComplete(body: Buffer[] | null, hadBody: boolean): void {
    if (body === null && hadBody) return;
    this.payload = body ?? [];
    const host = this.cluster.chooseHost(null);
    if (host === null) return;
    const pool = upstreamPoolFor(this.cluster, host, 'HTTP/1.1', false);
    const conn = pool.acquire(this);
    if (conn !== null) this.onPoolReady(conn);
  }

  onPoolReady(conn: UpstreamRequest): void {
    conn.begin(this);
    const body = this.payload;
    let len = 0;
    for (const b of body) len += b.length;
    const headers = len > 0 ? [...this.headers, 'content-length', String(len)] : this.headers;
    this.upstreamHeaders = headers;
    if (conn.protocol === 'HTTP/1.1') this.upstreamHead = requestHead(this.method, this.path, headers);
    if (len === 0) { conn.sendHead(this, true); return; }
    conn.cork();
    conn.sendHead(this, false);
    for (const b of body) conn.sendData(b);
    conn.sendEnd(null);
    conn.uncork();
  }
  onPoolFailure(): void { /* a lost mirror is not an error for the client */ }
  onResponseHead(_h: MessageHead): boolean { return false; }
  onResponseData(): void { /* discarded */ }
  onResponseComplete(): void { /* discarded */ }
  onResponseReset(): void { /* a lost mirror is not an error for the client */ }
  onUpstreamDrain(): void { /* bodies are written at once */ }
  onUpstreamReadEnd(): void { /* nothing is held */ }
}

function shadowHost(host: string): string {
  const colon = host.lastIndexOf(':');
  if (colon > 0 && host.indexOf(']') < colon && /^\d+$/.test(host.slice(colon + 1))) {
    return host.slice(0, colon) + '-shadow' + host.slice(colon);
  }
  return host + '-shadow';
}
