// `weft demo` as users run it: it comes up, the frontend reaches backend v1 through the sidecars,
// a VirtualService applied with `weft apply` moves traffic, and Ctrl-C stops every process it started.

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { fromRoot } from '../helpers/paths.js';
import { runWeft, startWeft } from '../helpers/process.js';
import { waitUntil } from '../helpers/mesh.js';

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

test('weft demo runs the mesh, follows weft apply, and Ctrl-C stops everything', async (t) => {
  const offset = 20000 + Math.floor(Math.random() * 2000) * 10;
  const demo = startWeft(['demo', '--port-offset', String(offset)]);
  t.after(async () => { demo.kill('SIGKILL'); await demo.exited; });
  await demo.waitFor(/weft demo: ready/, 0, 60_000);
  const front = `http://127.0.0.1:${8000 + offset}`;
  const version = async () => ((await (await fetch(`${front}/api/backend`)).json()) as { version: string }).version;
  assert.equal(await version(), 'v1');
  assert.match(await (await fetch(`${front}/`)).text(), /frontend → backend/);

  const r = await runWeft(['apply', '-f', fromRoot('examples', 'demo', 'mesh', 'user-pin.yaml'), '--control', `127.0.0.1:${15014 + offset}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'virtualservice.networking.istio.io/backend configured\n');
  await waitUntil('jason pinned to v2', async () =>
    ((await (await fetch(`${front}/api/backend?user=jason`)).json()) as { version: string }).version === 'v2');
  assert.equal(await version(), 'v1');

  demo.kill('SIGINT');
  assert.equal(await demo.exited, 0);
  for (const port of [8000, 9090, 9081, 9082, 15010, 15014, 15000, 15100, 15200]) {
    assert.equal(await portOpen(port + offset), false, `port ${port + offset} closed after Ctrl-C`);
  }
});
