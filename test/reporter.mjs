// A node:test reporter (https://nodejs.org/api/test.html#custom-reporters) that writes one JSON object per
// finished test, one a line: the machine-readable results test/run.mjs checks after `node --test`.
// Plain JS so it needs no build. Fields: file, name, path (suite names down to the test), nesting, ok,
// skip / todo (the reason string, true when none was given), failureType and error for a failed test.
// node --test also reports each test file itself as a test named by its path: such lines carry fileLevel: true.

/** @param {AsyncIterable<{ type: string, data: any }>} source */
export default async function* jsonLines(source) {
  /** Per file, the names of the tests started at each nesting level, to give every result its full path. */
  const stacks = new Map();
  for await (const { type, data } of source) {
    if (type === 'test:start') {
      const key = data.file ?? '';
      let stack = stacks.get(key);
      if (stack === undefined) stacks.set(key, (stack = []));
      stack.length = data.nesting;
      stack.push(data.name);
      continue;
    }
    if (type !== 'test:pass' && type !== 'test:fail') continue;
    const file = data.file ?? null;
    const stack = stacks.get(file ?? '') ?? [];
    const path = stack.slice(0, data.nesting).concat(data.name);
    const out = { file, name: data.name, path, nesting: data.nesting, ok: type === 'test:pass' };
    if (file !== null && data.name === file) out.fileLevel = true;
    if (data.skip !== undefined) out.skip = data.skip;
    if (data.todo !== undefined) out.todo = data.todo;
    if (data.details?.type === 'suite') out.suite = true;
    const err = data.details?.error;
    if (err) {
      out.failureType = err.failureType ?? null;
      const cause = err.cause instanceof Error ? err.cause.message : err.cause;
      out.error = String(cause ?? err.message ?? err).split('\n')[0].slice(0, 500);
    }
    out.durationMs = data.details?.duration_ms ?? null;
    yield `${JSON.stringify(out)}\n`;
  }
}
