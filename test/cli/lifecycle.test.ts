// Long-running weft commands started the way users start them, `npx weft ...`, exit when the npx
// process is stopped: npm does not pass SIGTERM on (and runs the bin through `sh -c`), so weft
// follows its launcher (src/cli/parent-watch.ts). The project here is a scratch directory that
// depends on this repository the way an installed weft does (node_modules/weft and
// node_modules/.bin/weft), so `npx --no-install weft` resolves the local bin, without the network.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { repoRoot } from '../helpers/paths.js';
import { waitUntil } from '../helpers/mesh.js';

function scratchProject(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-npx-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'uses-weft', private: true, dependencies: { weft: `file:${repoRoot}` } }));
  mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true });
  symlinkSync(repoRoot, join(dir, 'node_modules', 'weft'));
  symlinkSync(join('..', 'weft', 'dist', 'src', 'cli', 'main.js'), join(dir, 'node_modules', '.bin', 'weft'));
  return dir;
}

/** Pids of the processes whose command line contains `marker`. */
function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      const state = readFileSync(`/proc/${e}/stat`, 'utf8').split(') ')[1]?.[0];
      if (cmd.includes(marker) && state !== 'Z') out.push(Number(e));
    } catch { /* gone */ }
  }
  return out;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

test('npx weft control: SIGTERM to the npx process stops the control plane and frees its ports', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const project = scratchProject(t);
  // A unique argument marks the weft process, to find it among the npm/sh/node processes.
  const marker = join(project, 'registry-marker.yaml');
  writeFileSync(marker, 'services: []\n');
  const npx = spawn('npx', ['--no-install', 'weft', 'control', '--xds-port', '0', '--http-port', '0', '--ca-port', '0', '--registry-file', marker], {
    cwd: project, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  let out = '';
  npx.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  npx.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const npxExited = new Promise<void>((r) => npx.once('exit', () => r()));
  t.after(async () => {
    npx.kill('SIGKILL');
    for (const pid of processesWith(marker)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    await npxExited;
  });
  await waitUntil('the control plane to start under npx', async () => /HTTP API on 127\.0\.0\.1:\d+, xDS on 127\.0\.0\.1:\d+/.test(out), 60_000);
  const [, http, xds] = /HTTP API on 127\.0\.0\.1:(\d+), xDS on 127\.0\.0\.1:(\d+)/.exec(out)!.map(Number);
  const weft = processesWith(marker).filter((pid) => pid !== npx.pid && !readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sh\0'));
  assert.ok(weft.length >= 1, `the weft process runs: ${weft}`);
  assert.equal(await portOpen(http!), true);

  npx.kill('SIGTERM');
  await npxExited;
  // The weft process is not our child: poll (bounded) for it and its ports to go.
  await waitUntil('the weft process to exit after npx got SIGTERM', async () =>
    processesWith(marker).filter((pid) => weft.includes(pid)).length === 0, 15_000)
    .catch((e: Error) => { throw new Error(`${e.message}\noutput:\n${out}`); });
  assert.equal(await portOpen(http!), false, 'HTTP API port closed');
  assert.equal(await portOpen(xds!), false, 'xDS port closed');
  assert.match(out, /launcher|parent process/, `says why it stopped:\n${out}`);
});
