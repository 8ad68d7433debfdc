// Real-world Envoy bootstraps (test/envoy/examples/, copied from envoyproxy/examples, see the README
// there) through the bootstrap adapter: the ones Weft supports must decode, and the others must be
// refused with errors that name only the real cause (an unsupported field, type or value, or a
// missing file): no follow-on errors, no truncated type URLs. <name>.errors.txt holds the exact
// expected errors (UPDATE_EXAMPLES=1 rewrites them).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBootstrapText } from '../../src/envoy/text.js';
import { makePki } from '../helpers/certs.js';
import { fromRoot } from '../helpers/paths.js';

const dir = fromRoot('test', 'envoy', 'examples');
const update = process.env.UPDATE_EXAMPLES === '1';
const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
const errorsFile = (f: string): string => join(dir, f.replace(/\.ya?ml$/, '.errors.txt'));

/** Examples that read certificates their docker setup generates under certs/: file name → what to put there. */
const NEEDS_CERTS: Record<string, Record<string, 'ca' | 'server' | 'client' | 'domain1' | 'domain2'>> = {
  'double-proxy_envoy-backend.yaml': { 'servercert.pem': 'server', 'serverkey.pem': 'server', 'cacert.pem': 'ca' },
  'double-proxy_envoy-frontend.yaml': { 'clientcert.pem': 'client', 'clientkey.pem': 'client', 'cacert.pem': 'ca' },
  'tls-sni_envoy.yaml': {
    'domain1.crt.pem': 'domain1', 'domain1.key.pem': 'domain1', 'domain2.crt.pem': 'domain2', 'domain2.key.pem': 'domain2',
  },
};

/** What a root-cause error looks like: an unsupported field / type / value, or an unreadable file. */
const ROOT_CAUSE = /: (unsupported field, got |expected a supported .* type \(.*\), got "[^"]+"$|expected one of .* \(\S+ is not supported yet\), got |expected a readable UTF-8 file \()/;

test('the examples directory holds both accepted and refused bootstraps', () => {
  const refused = files.filter((f) => existsSync(errorsFile(f)));
  assert.ok(files.length - refused.length >= 15, `only ${files.length - refused.length} accepted examples`);
  assert.ok(refused.length >= 10, `only ${refused.length} refused examples`);
});

for (const file of files) {
  if (file in NEEDS_CERTS) continue;
  test(`envoyproxy/examples: ${file}`, () => {
    const result = parseBootstrapText(readFileSync(join(dir, file), 'utf8'), file, { baseDir: dir });
    const expectedFile = errorsFile(file);
    if (update) {
      if (result.ok) rmSync(expectedFile, { force: true });
      else writeFileSync(expectedFile, `${result.errors.join('\n')}\n`);
      return;
    }
    if (!existsSync(expectedFile)) {
      assert.ok(result.ok, `${file} should be accepted, got:\n${result.ok ? '' : result.errors.join('\n')}`);
      return;
    }
    assert.ok(!result.ok, `${file} decoded cleanly but ${expectedFile} expects errors`);
    const errors = result.errors;
    for (const e of errors) {
      // Every error is a root cause ...
      assert.match(e, ROOT_CAUSE, `not a root-cause error: ${e}`);
      // ... and a type URL in it is never cut short.
      assert.doesNotMatch(e, /type\.googleapis\.com\/[\w.]*\.\.\./, `truncated type URL: ${e}`);
    }
    assert.equal(`${errors.join('\n')}\n`, readFileSync(expectedFile, 'utf8'));
  });
}

test('the examples that need certificates decode once their certs/ directory exists', async (t) => {
  const pki = await makePki();
  t.after(() => pki.close());
  const made = {
    ca: { cert: pki.cert, key: pki.key },
    server: await pki.issue('server', { sans: ['DNS:backend.example.com'] }),
    client: await pki.issue('client', { sans: ['DNS:frontend.example.com'] }),
    domain1: await pki.issue('domain1', { sans: ['DNS:domain1.example.com'] }),
    domain2: await pki.issue('domain2', { sans: ['DNS:domain2.example.com'] }),
  };
  const base = pki.file('example-root');
  mkdirSync(join(base, 'certs'), { recursive: true });
  for (const [file, certs] of Object.entries(NEEDS_CERTS)) {
    for (const [name, who] of Object.entries(certs)) {
      copyFileSync(/key/.test(name) ? made[who].key : made[who].cert, join(base, 'certs', name));
    }
    const result = parseBootstrapText(readFileSync(join(dir, file), 'utf8'), file, { baseDir: base });
    assert.ok(result.ok, `${file}: ${result.ok ? '' : result.errors.join('\n')}`);
  }
});
