// Tests for the batched access-log sinks (src/observe/access-log/logger.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { StreamInfo } from '../../../src/proxy/stream-info.js';
import { AccessLogError, BufferedAccessLogger, createAccessLogger } from '../../../src/observe/access-log/logger.js';

function info(path: string, code = 200): StreamInfo {
  const i = new StreamInfo();
  i.startTime = Date.UTC(2024, 0, 1);
  i.method = 'GET';
  i.path = path;
  i.responseCode = code;
  return i;
}

/** A Writable that records each write; `nextWrite()` resolves on the next one. */
class Recorder extends Writable {
  writes: string[] = [];
  private waiters: Array<() => void> = [];
  constructor(private readonly hold = false, highWaterMark = 16 * 1024) { super({ highWaterMark, decodeStrings: false }); }
  release: (() => void) | null = null;
  override _write(chunk: string | Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writes.push(String(chunk));
    for (const w of this.waiters.splice(0)) w();
    if (this.hold) this.release = () => { this.release = null; cb(); };
    else cb();
  }
  nextWrite(): Promise<void> { return new Promise((r) => this.waiters.push(r)); }
}

test('file sink appends lines and close() flushes them', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-al-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'access.log');
  await writeFile(path, 'existing\n');
  const logger = createAccessLogger({ sink: { kind: 'file', path }, format: { kind: 'text', template: '%REQ(:PATH)% %RESPONSE_CODE%\n' } });
  for (let k = 0; k < 100; k++) logger.log(info(`/p${k}`));
  await logger.close();
  const lines = (await readFile(path, 'utf8')).split('\n');
  assert.equal(lines[0], 'existing');
  assert.equal(lines[1], '/p0 200');
  assert.equal(lines[100], '/p99 200');
  assert.equal(lines.length, 102); // trailing newline
  logger.log(info('/after-close')); // ignored, no throw
});

test('file sink with json_format writes one JSON object per line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-al-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'a.json');
  const logger = createAccessLogger({ sink: { kind: 'file', path }, format: { kind: 'json', fields: { code: '%RESPONSE_CODE%', path: '%REQ(:PATH)%' } } });
  logger.log(info('/a', 201));
  logger.log(info('/b', 404));
  await logger.close();
  const rows = (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(rows, [{ code: 201, path: '/a' }, { code: 404, path: '/b' }]);
});

test('an empty text template means Envoy\'s default format', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-al-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'd.log');
  const logger = createAccessLogger({ sink: { kind: 'file', path }, format: { kind: 'text', template: '' } });
  logger.log(info('/x'));
  await logger.close();
  assert.match(await readFile(path, 'utf8'), /^\[2024-01-01T00:00:00\.000Z\] "GET \/x HTTP\/1\.1" 200 - 0 0 \d+ - "-" "-" "-" "-" "-"\n$/);
});

test('a path that cannot be opened fails at creation with AccessLogError', () => {
  assert.throws(
    () => createAccessLogger({ sink: { kind: 'file', path: '/nonexistent-dir-weft/x.log' }, format: { kind: 'text', template: 'x' } }),
    (err: unknown) => err instanceof AccessLogError && err.code === 'ACCESS_LOG_OPEN_FAILED' && err.cause !== undefined,
  );
});

test('bad formats fail at creation with FormatError', () => {
  assert.throws(
    () => createAccessLogger({ sink: { kind: 'stdout' }, format: { kind: 'text', template: '%NOPE%' } }),
    { name: 'FormatError', code: 'UNKNOWN_COMMAND', command: 'NOPE' },
  );
});

test('lines logged in one tick are written later, in one batch', async () => {
  const out = new Recorder();
  const logger = new BufferedAccessLogger((i) => i.path + '\n', out, false);
  const written = out.nextWrite();
  for (let k = 0; k < 500; k++) logger.log(info(`/${k}`));
  assert.equal(out.writes.length, 0, 'log() must not write synchronously');
  await written;
  assert.equal(out.writes.length, 1);
  assert.equal(out.writes[0]!.split('\n').length, 501);
  await logger.close();
});

test('a full batch is written immediately', async () => {
  const out = new Recorder();
  const logger = new BufferedAccessLogger((i) => i.path, out, false, { batchBytes: 10, flushMs: 60_000 });
  logger.log(info('12345'));
  assert.equal(out.writes.length, 0);
  logger.log(info('67890'));
  assert.deepEqual(out.writes, ['1234567890']);
  logger.log(info('tail'));
  await logger.close(); // flushes without waiting for the long timer
  assert.deepEqual(out.writes, ['1234567890', 'tail']);
});

test('a slow sink queues lines until drain, drops beyond the queue limit, and close() waits', async () => {
  const out = new Recorder(true, 4);
  const logger = new BufferedAccessLogger((i) => i.path, out, true, { batchBytes: 8, maxQueuedBytes: 16, flushMs: 60_000 });
  logger.log(info('aaaaaaaa')); // batch full → written; the sink holds it → needs drain
  assert.equal(out.writes.length, 1);
  logger.log(info('bbbbbbbb'));
  logger.log(info('cccccccc')); // 16 queued
  logger.log(info('dddddddd')); // over the limit → dropped
  assert.equal(logger.dropped, 1);
  assert.equal(out.writes.length, 1);
  const next = out.nextWrite();
  out.release!(); // drain → queued lines go out
  await next;
  assert.deepEqual(out.writes, ['aaaaaaaa', 'bbbbbbbbcccccccc']);
  const closed = logger.close();
  out.release!();
  await closed;
  assert.equal(out.writableFinished, true);
});

test('stdout sink writes batched lines to process.stdout and leaves it open', async () => {
  const marker = `weft-stdout-${process.pid}-${Date.now()}`;
  const captured: string[] = [];
  const original = process.stdout.write;
  let sawLine: () => void = () => {};
  const seen = new Promise<void>((r) => { sawLine = r; });
  process.stdout.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
    const s = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString() : '';
    if (s.includes(marker)) {
      captured.push(s);
      sawLine();
      const cb = rest.find((a) => typeof a === 'function') as (() => void) | undefined;
      if (cb) process.nextTick(cb);
      return true;
    }
    return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof process.stdout.write;
  try {
    const logger = createAccessLogger({ sink: { kind: 'stdout' }, format: { kind: 'text', template: `${marker} %REQ(:PATH)%\n` } });
    logger.log(info('/one'));
    logger.log(info('/two'));
    await seen;
    await logger.close();
    assert.deepEqual(captured, [`${marker} /one\n${marker} /two\n`]);
    assert.equal(process.stdout.destroyed, false);
  } finally {
    process.stdout.write = original;
  }
});
