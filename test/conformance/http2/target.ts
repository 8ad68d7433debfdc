// The system under test of the HTTP/2 conformance suite: a Weft proxy child process (so a crash
// shows as a crash, not as a dead test runner) with an h2c-capable listener `main` (codec AUTO:
// prior-knowledge HTTP/2 by its preface) routing everything to an HTTP/1.1 upstream whose answers
// depend on the path. Used by every *.test.ts file of this folder.

import assert from 'node:assert/strict';
import { after, afterEach, before } from 'node:test';
import type http from 'node:http';
import { bootstrap, cluster, hcm, listener, toCluster, type Obj } from '../../helpers/bootstrap.js';
import { startProxyChild, waitUntil, type ProxyChild } from '../../helpers/adversarial.js';
import { startUpstream, type Upstream } from '../../helpers/upstream.js';
import { withConn, type H2Conn, type OpenOptions } from '../../helpers/h2-frames.js';

/**
 * The upstream's answers:
 *   /big/N        N bytes of 'x' (content-length)
 *   /hdr/N        200 with an `x-big` response header of N bytes
 *   /hop          connection-specific response headers (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding: chunked, Upgrade)
 *   /status/N     status N, no body
 *   /trailers     chunked body "abc" with a trailer `x-trailer: done`
 *   anything else a JSON echo of method, url, headers, body (content-type application/json)
 */
export function conformanceUpstream(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
  const url = req.url ?? '/';
  let m: RegExpMatchArray | null;
  if ((m = /^\/big\/(\d+)/.exec(url)) !== null) {
    const n = Number(m[1]);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
    res.end(Buffer.alloc(n, 'x'));
  } else if ((m = /^\/hdr\/(\d+)/.exec(url)) !== null) {
    res.writeHead(200, { 'x-big': 'h'.repeat(Number(m[1])), 'content-length': 2 });
    res.end('ok');
  } else if (url.startsWith('/hop')) {
    res.writeHead(200, {
      connection: 'keep-alive, x-hop', 'keep-alive': 'timeout=5', 'x-hop': 'hop-by-hop', 'proxy-connection': 'keep-alive',
      upgrade: 'h2c', 'transfer-encoding': 'chunked', 'x-end-to-end': 'yes',
    });
    res.end('hop body');
  } else if ((m = /^\/status\/(\d+)/.exec(url)) !== null) {
    res.writeHead(Number(m[1]));
    res.end();
  } else if (url.startsWith('/trailers')) {
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-trailer' });
    res.write('abc');
    res.addTrailers({ 'x-trailer': 'done' });
    res.end();
  } else {
    const out = JSON.stringify({ method: req.method, url, headers: req.headers, body: body.toString('latin1') });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
    res.end(req.method === 'HEAD' ? undefined : out);
  }
}

export interface Target {
  port: number;
  px: ProxyChild;
  up: Upstream;
  /** Fails when the proxy process exited (it must survive every case). */
  assertUp(): void;
  close(): Promise<void>;
}

/**
 * Starts the upstream and the proxy. `http2` goes to the connection manager's
 * http2_protocol_options; `extraClusters`/`routes` let a file add more (e.g. a second hop).
 */
export async function startTarget(o: { http2?: Obj; hcmExtra?: Obj } = {}): Promise<Target> {
  const up = await startUpstream(conformanceUpstream);
  let px: ProxyChild;
  try {
    px = await startProxyChild(bootstrap({
      admin: true,
      listeners: [listener({ name: 'main', filter: hcm({ routes: [toCluster('/', 'up')], extra: { http2_protocol_options: o.http2 ?? {}, ...o.hcmExtra } }) })],
      clusters: [cluster('up', [up.port])],
    }), ['main']);
  } catch (e) {
    await up.close();
    throw e;
  }
  return {
    port: px.port('main'), px, up,
    assertUp() {
      assert.equal(px.proc.child.exitCode, null, `the proxy exited; its output:\n${px.proc.output().slice(-3000)}`);
    },
    async close() {
      // A proxy that does not exit on SIGTERM (it drains open connections first) is killed after
      // 5 s: connections left open are reported by the suite's last test, not by a hung runner.
      let timer: NodeJS.Timeout | undefined;
      const hung = await Promise.race([
        px.close().then(() => false),
        new Promise<boolean>((r) => { timer = setTimeout(() => r(true), 5_000); }),
      ]);
      clearTimeout(timer);
      if (hung) { px.proc.kill('SIGKILL'); await px.proc.exited; }
      await up.close();
    },
  };
}

/** How many cases of a file run at once (each on its own connection): H2CONF_CONCURRENCY overrides. */
export const CASE_CONCURRENCY = Number(process.env.H2CONF_CONCURRENCY ?? 6);

export const NO_CONNECTION_LEFT = 'afterwards the proxy holds no client connection (http.ingress.downstream_cx_active back to 0)';

export type CaseFn = (c: H2Conn) => Promise<void>;

/**
 * Registers the target's lifecycle in the calling suite (started before its first test, closed
 * after its last, checked alive after each test) and returns what its tests use: `run(fn)` is a
 * test body running `fn` on a fresh connection to the listener (closed afterwards);
 * `noConnectionLeft` is the body of the suite's last test. (The files call node:test's `test`
 * themselves, so that each result is reported under its own file.)
 */
export function useTarget(o: Parameters<typeof startTarget>[0] = {}): {
  target(): Target;
  run(fn: CaseFn, opts?: OpenOptions): () => Promise<void>;
  noConnectionLeft(): Promise<void>;
} {
  let tg: Target | undefined;
  const target = (): Target => { if (tg === undefined) throw new Error('target not started'); return tg; };
  before(async () => { tg = await startTarget(o); });
  after(async () => { await tg?.close(); });
  afterEach(() => { tg?.assertUp(); });
  return {
    target,
    run: (fn, opts) => () => withConn(target().port, fn, opts),
    async noConnectionLeft() {
      const px = target().px;
      await waitUntil(async () => (await px.stat('http.ingress.downstream_cx_active')) === 0, 5_000, 'downstream_cx_active 0')
        .catch(async () => assert.fail(`downstream_cx_active is still ${await px.stat('http.ingress.downstream_cx_active')} after every case closed its connection`));
    },
  };
}
