// AdminContext.prepare(): a request waits for it (a primary pulling its workers' stats), answers
// stay in request order with pipelining, and a client that half-closes still gets its answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { AdminServer } from '../../../src/proxy/admin/server.js';
import type { AdminRequest } from '../../../src/proxy/admin/handlers.js';
import { fakeContext } from './fake-context.js';

/** A context whose /stats waits until release() and then shows a refreshed counter. */
function slowStats(): { ctx: ReturnType<typeof fakeContext>; release(): void; asked: Promise<void> } {
  const ctx = fakeContext();
  let release: () => void = () => {};
  let asked: () => void = () => {};
  const askedP = new Promise<void>((r) => { asked = r; });
  ctx.prepare = (req: AdminRequest) => {
    if (req.path !== '/stats') return undefined;
    asked();
    return new Promise<void>((r) => { release = () => { ctx.stats.counter('cluster.web.upstream_rq_total').add(1); r(); }; });
  };
  return { ctx, release: () => release(), asked: askedP };
}

async function exchange(port: number, data: string, halfClose: boolean, onSent: () => Promise<void>): Promise<string> {
  const sock = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  sock.on('data', (b) => chunks.push(b));
  sock.write(data);
  if (halfClose) sock.end();
  await onSent();
  await closed;
  return Buffer.concat(chunks).toString('latin1');
}

test('pipelined requests are answered in order when the first waits for prepare()', async (t) => {
  const { ctx, release, asked } = slowStats();
  const server = new AdminServer({ address: '127.0.0.1', port: 0 }, ctx);
  const { port } = await server.start();
  t.after(() => server.close());
  const out = await exchange(port,
    'GET /stats?filter=upstream_rq_total HTTP/1.1\r\nHost: a\r\n\r\nGET /ready HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    false, async () => { await asked; release(); });
  const stats = out.indexOf('cluster.web.upstream_rq_total: 8');
  const ready = out.indexOf('LIVE\n');
  assert.ok(stats > 0 && ready > stats, out);
});

test('a client that half-closes after its request still gets the prepared answer', async (t) => {
  const { ctx, release, asked } = slowStats();
  const server = new AdminServer({ address: '127.0.0.1', port: 0 }, ctx);
  const { port } = await server.start();
  t.after(() => server.close());
  const out = await exchange(port, 'GET /stats?filter=upstream_rq_total HTTP/1.1\r\nHost: a\r\n\r\n', true, async () => { await asked; release(); });
  assert.match(out, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(out, /cluster\.web\.upstream_rq_total: 8\n$/);
});
