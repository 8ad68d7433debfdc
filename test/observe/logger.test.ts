// Tests for the leveled process logger (src/observe/logger.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, getLevel, log, loggerNames, setLevel, setSink } from '../../src/observe/logger.js';

function capture(t: { after(fn: () => void): void }): string[] {
  const lines: string[] = [];
  const before = getLevel();
  setSink((l) => lines.push(l));
  t.after(() => { setSink(null); setLevel(before); });
  return lines;
}

test('writes timestamped lines with level and logger name at or above the level', (t) => {
  const lines = capture(t);
  setLevel('info');
  const up = createLogger('upstream');
  up.debug('hidden');
  up.info('connected to %s:%d', 'db', 5432);
  up.warning('slow');
  up.warn('also warning');
  up.error('failed', { code: 1 });
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\]\[info\]\[upstream\] connected to db:5432\n$/);
  assert.match(lines[1]!, /\[warning\]\[upstream\] slow\n$/);
  assert.match(lines[2]!, /\[warning\]\[upstream\] also warning\n$/);
  assert.match(lines[3]!, /\[error\]\[upstream\] failed \{ code: 1 \}\n$/);
});

test('setLevel takes Envoy level names, rejects others, and off silences everything', (t) => {
  const lines = capture(t);
  assert.equal(setLevel('trace'), true);
  log.trace('t');
  assert.equal(lines.length, 1);
  assert.equal(setLevel('loud'), false);
  assert.equal(getLevel(), 'trace');
  assert.equal(setLevel('warn'), true); // alias
  assert.equal(getLevel(), 'warning');
  assert.equal(setLevel('off'), true);
  log.critical('nothing');
  assert.equal(lines.length, 1);
  assert.equal(log.enabled('critical'), false);
  setLevel('error');
  assert.equal(log.enabled('error'), true);
  assert.equal(log.enabled('warning'), false);
});

test('disabled levels do not format their arguments', (t) => {
  capture(t);
  setLevel('error');
  let formatted = false;
  const arg = { [Symbol.for('nodejs.util.inspect.custom')]: () => { formatted = true; return 'x'; } };
  log.debug('value %o', arg);
  assert.equal(formatted, false);
});

test('loggerNames lists the created loggers', () => {
  createLogger('zeta-test');
  assert.ok(loggerNames().includes('main'));
  assert.ok(loggerNames().includes('zeta-test'));
  assert.deepEqual(loggerNames(), [...loggerNames()].sort());
});
