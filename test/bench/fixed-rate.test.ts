// The fixed-rate load generator (bench/lib/fixed-rate.ts) against a real server on port 0:
// it keeps its schedule and reads Content-Length, chunked and Connection: close responses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runFixedRate } from '../../bench/lib/fixed-rate.js';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function serve(t: { after: (fn: () => void) => void }, handler: Parameters<typeof createServer>[1]): Promise<number> {
  const server = createServer(handler);
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return listen(server);
}

const run = (port: number, path: string) =>
  runFixedRate({ host: '127.0.0.1', port, path, rate: 200, durationS: 0.5, warmupS: 0.1, connections: 4 });

test('sends every scheduled request and reads Content-Length bodies', async (t) => {
  const port = await serve(t, (_req, res) => res.end('x'.repeat(64)));
  const r = await run(port, '/');
  assert.equal(r.scheduled, 100);
  assert.equal(r.completed, 100);
  assert.equal(r.errors + r.non2xx + r.unanswered, 0);
  assert.ok(r.latencyMs.p50 > 0 && r.latencyMs.p50 <= r.latencyMs.p99);
  assert.ok(r.latencyMs.p50 >= r.serviceMs.p50 - 1e-9, 'latency counts from the scheduled time');
});

test('reads chunked bodies and counts non-2xx responses', async (t) => {
  const port = await serve(t, (_req, res) => {
    res.statusCode = 503;
    res.write('a'.repeat(10));
    res.end('b'.repeat(5000));
  });
  const r = await run(port, '/');
  assert.equal(r.completed, 100);
  assert.equal(r.non2xx, 100);
  assert.equal(r.errors, 0);
});

test('reconnects when the server closes after each response', async (t) => {
  const port = await serve(t, (_req, res) => {
    res.setHeader('Connection', 'close');
    res.end('ok');
  });
  const r = await run(port, '/');
  assert.equal(r.completed, 100);
  assert.equal(r.errors + r.unanswered, 0);
});
