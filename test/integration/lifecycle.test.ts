// The `weft proxy` process: --validate, SIGTERM drain, reload on file change and SIGHUP (an
// invalid file keeps the old config), and a reload under load that loses no request.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startUpstream } from '../helpers/upstream.js';
import { simpleBootstrap } from '../helpers/proxy.js';
import { CLI, runWeft, startWeft } from '../helpers/process.js';
import { fromRoot } from '../helpers/paths.js';

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a file atomically (write + rename), as config management tools do. */
function writeAtomic(path: string, text: string): void {
  writeFileSync(path + '.tmp', text);
  renameSync(path + '.tmp', path);
}

const directResponse = (body: string) => simpleBootstrap({
  ports: [1],
  vhostRoutes: `
                      - match: { prefix: "/" }
                        direct_response: { status: 200, body: { inline_string: "${body}" } }`,
});

test('--validate accepts a good file and lists every error of a bad one', async (t) => {
  const dir = tmp(t);
  writeFileSync(join(dir, 'good.yaml'), simpleBootstrap({ ports: [8080] }));
  const good = await runWeft(['proxy', '--validate', '-c', join(dir, 'good.yaml')]);
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /OK/);
  writeFileSync(join(dir, 'bad.yaml'), simpleBootstrap({ ports: [8080] })
    .replace('connect_timeout: 1s', 'connect_timeout: soon\n      bogus_field: 1'));
  const bad = await runWeft(['proxy', '--validate', '--config', join(dir, 'bad.yaml')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /static_resources\.clusters\[0\]\.connect_timeout/);
  assert.match(bad.stderr, /static_resources\.clusters\[0\]\.bogus_field/);
});

test('SIGTERM lets an in-flight request finish, then exits 0', async (t) => {
  let release: () => void = () => {};
  const up = await startUpstream((_req, res) => { release = () => { res.writeHead(200, { 'content-length': '4' }); res.end('done'); }; });
  t.after(() => up.close());
  const dir = tmp(t);
  writeFileSync(join(dir, 'b.yaml'), simpleBootstrap({ ports: [up.port] }));
  const p = startWeft(['proxy', '-c', join(dir, 'b.yaml'), '--drain-time-s', '10']);
  t.after(() => p.kill('SIGKILL'));
  const port = Number((await p.waitFor(/listener main on 127\.0\.0\.1:(\d+)/))[1]);
  const inflight = fetch(`http://127.0.0.1:${port}/slow`);
  while (up.requests.length === 0) await new Promise((r) => up.server.once('request', () => setImmediate(r)));
  p.kill('SIGTERM');
  await p.waitFor(/draining/);
  release();
  const res = await inflight;
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'done');
  assert.equal(await p.exited, 0);
});

test('a changed file is applied; an invalid one is rejected and the old config kept; SIGHUP reloads', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'b.yaml');
  writeFileSync(file, directResponse('v1'));
  const p = startWeft(['proxy', '-c', file]);
  t.after(() => p.kill('SIGKILL'));
  const port = Number((await p.waitFor(/listener main on 127\.0\.0\.1:(\d+)/))[1]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const get = () => new Promise<{ body: string; socket: unknown }>((resolve, reject) => {
    http.get({ port, host: '127.0.0.1', path: '/', agent }, (res) => {
      let b = ''; res.on('data', (d) => { b += d; }); res.on('end', () => resolve({ body: b, socket: res.socket }));
    }).on('error', reject);
  });
  const first = await get();
  assert.equal(first.body, 'v1');

  let mark = p.output().length;
  writeAtomic(file, directResponse('v2'));
  await p.waitFor(/new config applied/, mark);
  const second = await get();
  assert.equal(second.body, 'v2');
  assert.equal(second.socket, first.socket, 'the keep-alive connection survived the reload');

  mark = p.output().length;
  writeAtomic(file, directResponse('v3').replace('stat_prefix: ingress', 'stat_prefix: 7\n                nonsense: true'));
  await p.waitFor(/rejected, keeping the running config/, mark);
  assert.match(p.output().slice(mark), /nonsense/);
  assert.equal((await get()).body, 'v2');

  mark = p.output().length;
  writeFileSync(file, directResponse('v4'));
  await p.waitFor(/new config applied/, mark);
  mark = p.output().length;
  p.child.kill('SIGHUP');
  await p.waitFor(/SIGHUP\): new config applied/, mark);
  assert.equal((await get()).body, 'v4');
  p.kill('SIGTERM');
  assert.equal(await p.exited, 0);
});

test('reloading under load loses no request', async (t) => {
  const up = await startUpstream((_req, res) => { res.writeHead(200, { 'content-length': '2' }); res.end('ok'); });
  t.after(() => up.close());
  const dir = tmp(t);
  const file = join(dir, 'b.yaml');
  const cfg = (n: number) => simpleBootstrap({ ports: [up.port], hcmExtra: `                server_name: gen${n}` });
  writeFileSync(file, cfg(0));
  const p = startWeft(['proxy', '-c', file, '--no-watch', '--drain-time-s', '5']);
  t.after(() => p.kill('SIGKILL'));
  const port = Number((await p.waitFor(/listener main on 127\.0\.0\.1:(\d+)/))[1]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  t.after(() => agent.destroy());
  let ok = 0, running = true;
  const failures: string[] = [];
  const servers = new Set<string>();
  // Resolves when `n` more requests have finished (ok or not).
  let waiter: { target: number; resolve: () => void } | null = null;
  const finished = () => { if (waiter !== null && ok + failures.length >= waiter.target) { waiter.resolve(); waiter = null; } };
  const moreFinished = (n: number) => new Promise<void>((resolve) => { waiter = { target: ok + failures.length + n, resolve }; finished(); });
  const worker = async () => {
    while (running) {
      await new Promise<void>((resolve) => {
        const req = http.get({ port, host: '127.0.0.1', path: '/', agent, timeout: 5000 }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) ok++; else failures.push(`status ${res.statusCode}`);
            servers.add(String(res.headers.server));
            finished(); resolve();
          });
        });
        req.on('timeout', () => req.destroy(new Error('no response within 5 s')));
        req.on('error', (e) => { failures.push(e.message); finished(); resolve(); });
      });
    }
  };
  const workers = Array.from({ length: 8 }, worker);
  for (let i = 1; i <= 5; i++) {
    const mark = p.output().length;
    writeFileSync(file, cfg(i));
    p.child.kill('SIGHUP');
    await p.waitFor(/new config applied/, mark);
    await Promise.race([moreFinished(50), new Promise((_r, reject) => setTimeout(
      () => reject(new Error(`requests stalled: ok=${ok} failures=${failures.join('; ')}\nproxy output:\n${p.output()}`)), 30_000).unref())]);
  }
  running = false;
  await Promise.all(workers);
  assert.deepEqual(failures, [], `proxy output:\n${p.output()}`);
  assert.ok(ok > 250, `only ${ok} requests`);
  assert.ok(servers.has('gen5'), `saw ${[...servers].join(',')}`);
  p.kill('SIGTERM');
  assert.equal(await p.exited, 0);
});

test('started through npx, the proxy exits when the npx process is stopped', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'b.yaml');
  writeFileSync(file, directResponse('npx'));
  // npm does not forward SIGTERM to the command it runs; the proxy must notice it was orphaned.
  // The command is `node <cli>`, not `weft`: inside this repository npm (10+) runs the project's own bin by first
  // installing the project into its npx cache (~/.npm/_npx/<hash of the path>), which runs `prepare`, a full build,
  // at the first call: minutes on a loaded machine, a rebuild of dist/ under the other running tests, and a
  // corrupt cache entry (ENOENT on every later call) when interrupted. The launcher is the same npm exec either way.
  const npm = spawn('npm', ['exec', '--no', '--', 'node', CLI, 'proxy', '-c', file, '--no-watch'], { cwd: fromRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let outputClosed = false;
  const waiters: Array<() => void> = [];
  const onData = (d: Buffer) => { out += d.toString(); for (const w of waiters.splice(0)) w(); };
  npm.stdout.on('data', onData);
  npm.stderr.on('data', onData);
  // The pipes close only when every process holding them (npm and the proxy) has exited.
  const closed = new Promise<void>((r) => { let n = 0; const one = () => { if (++n === 2) { outputClosed = true; r(); } }; npm.stdout.on('close', one); npm.stderr.on('close', one); });
  t.after(() => { npm.kill('SIGKILL'); });
  const waitFor = (re: RegExp) => new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${re} within 30 s; output:\n${out}`)), 30_000);
    const check = () => { const m = out.match(re); if (m) { clearTimeout(timer); resolve(m); } else waiters.push(check); };
    check();
  });
  const port = Number((await waitFor(/listener main on 127\.0\.0\.1:(\d+)/))[1]);
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'npx');
  npm.kill('SIGTERM');
  await waitFor(/the (parent process \d+|launcher \(pid \d+\)) exited/);
  await closed;
  assert.ok(outputClosed);
  await assert.rejects(fetch(`http://127.0.0.1:${port}/`));
});
