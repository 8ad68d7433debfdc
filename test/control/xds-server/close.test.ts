// close() ends every stream, stops the gRPC server and clears timers: a process that used the
// server exits by itself afterwards.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

test('after close() the streams have ended with OK and the process exits on its own', async (t) => {
  const script = fileURLToPath(new URL('./fixtures/close-exits.js', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  t.after(() => { clearTimeout(killer); child.kill('SIGKILL'); });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  const [code, signal] = await once(child, 'exit');
  clearTimeout(killer);
  assert.equal(signal, null, 'the child had to be killed: something kept it alive after close()');
  assert.equal(code, 0);
  assert.equal(out, 'closed 0 0\n');
});
