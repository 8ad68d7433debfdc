// Interop of Weft's HPACK (src/proxy/codec/http2/hpack, RFC 7541) with an independent
// implementation: Python's `hpack` package (Debian python3-hpack, pulled in by python3-h2; see
// .ci/run). One python process per test, fed JSON lines: ours encode → Python decodes, and Python
// encodes → ours decode, over hundreds of random lists sharing one table, with table size changes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { once } from 'node:events';
import { createHpackDecoder, createHpackEncoder } from '../../../../src/proxy/codec/http2/hpack/index.js';
import { randomList, rng } from './hpack-random.js';

const PY = String.raw`
import sys, json
from hpack import Encoder, Decoder
enc = Encoder()
dec = Decoder()
dec.max_header_list_size = 1 << 26
for line in sys.stdin:
    m = json.loads(line)
    op = m['op']
    try:
        if op == 'decode':
            fields = dec.decode(bytes.fromhex(m['hex']), raw=True)
            out = {'ok': True, 'fields': [[n.decode('latin1'), v.decode('latin1')] for n, v in fields]}
        elif op == 'encode':
            data = enc.encode([(n.encode('latin1'), v.encode('latin1')) for n, v in m['fields']], huffman=m.get('huffman', True))
            out = {'ok': True, 'hex': data.hex()}
        elif op == 'encoder_table_size':
            enc.header_table_size = m['size']
            out = {'ok': True}
        elif op == 'decoder_table_limit':
            dec.max_allowed_table_size = m['size']
            out = {'ok': True}
    except Exception as e:
        out = {'ok': False, 'error': type(e).__name__ + ': ' + str(e)}
    sys.stdout.write(json.dumps(out) + '\n')
    sys.stdout.flush()
`;

interface Reply { ok: boolean; error?: string; fields?: Array<[string, string]>; hex?: string }

/** A Python hpack peer: one request line, one reply line. */
class PythonHpack {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly iterator: AsyncIterator<string>;
  private stderr = '';

  constructor() {
    this.child = spawn('/usr/bin/python3', ['-c', PY], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.lines = createInterface({ input: this.child.stdout });
    this.iterator = this.lines[Symbol.asyncIterator]();
  }

  async call(message: object): Promise<Reply> {
    this.child.stdin.write(JSON.stringify(message) + '\n');
    const next = await this.iterator.next();
    if (next.done === true) throw new Error(`python hpack peer exited: ${this.stderr}`);
    return JSON.parse(next.value) as Reply;
  }

  async close(): Promise<void> {
    const exited = this.child.exitCode !== null ? Promise.resolve() : once(this.child, 'exit').then(() => undefined);
    this.child.stdin.end();
    await exited;
    this.lines.close();
  }
}

const pairs = (flat: string[]): Array<[string, string]> => {
  const r: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) r.push([flat[i], flat[i + 1]]);
  return r;
};

test('interop: blocks from our encoder decode in Python hpack (400 lists, one table, size changes)', async () => {
  const py = new PythonHpack();
  try {
    const r = rng(1337);
    const enc = createHpackEncoder();
    for (let i = 0; i < 400; i++) {
      if (i % 50 === 25) {
        enc.setMaxTableSize([0, 256, 1000][(i / 50) % 3 | 0]);
        enc.setMaxTableSize(i % 100 === 25 ? 4096 : 2048);
      }
      const list = randomList(r);
      const block = enc.encode(list);
      const reply = await py.call({ op: 'decode', hex: block.toString('hex') });
      assert.equal(reply.error, undefined, `block ${i}`);
      assert.deepEqual(reply.fields, pairs(list), `block ${i}`);
    }
  } finally {
    await py.close();
  }
});

test('interop: blocks from Python hpack decode with ours (400 lists, one table, size changes up to our limit)', async () => {
  const py = new PythonHpack();
  try {
    const r = rng(7331);
    const dec = createHpackDecoder(65536);
    for (let i = 0; i < 400; i++) {
      if (i % 40 === 20) assert.equal((await py.call({ op: 'encoder_table_size', size: [0, 300, 65536, 4096, 16384][(i / 40) % 5 | 0] })).ok, true);
      const list = randomList(r);
      const reply = await py.call({ op: 'encode', fields: pairs(list), huffman: i % 3 !== 0 });
      assert.equal(reply.error, undefined, `block ${i}`);
      const out: string[] = [];
      assert.equal(dec.decode(Buffer.from(reply.hex as string, 'hex'), out, 1 << 26), true, `block ${i}`);
      assert.deepEqual(out, list, `block ${i}`);
    }
  } finally {
    await py.close();
  }
});
