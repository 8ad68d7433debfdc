// Per-connection buffer limits on the TCP proxy, plain and TLS-terminated: an upstream that never
// reads while the client pushes hundreds of MB, and a client that never reads a huge download.
// The proxy must pause the side whose peer has not drained (listener and cluster
// per_connection_buffer_limit_bytes), so its RSS stays bounded; the flow-control stats prove it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { bootstrap, cluster, listener, type Obj } from '../helpers/bootstrap.js';
import { startProxyChild, waitUntil, type ProxyChild } from '../helpers/adversarial.js';
import { makePki, type LeafFiles, type TestPki } from '../helpers/certs.js';

const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const MiB = 1024 * 1024;
/** How much the attack tries to push through. */
const ATTACK_BYTES = Number(process.env.ATTACK_MB ?? 300) * MiB;
/** RSS growth allowed over the baseline. */
const RSS_SLACK = 64 * MiB;

function tcpProxy(): Obj {
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: 'tcp', cluster: 'up' } };
}

function yaml(upstreamPort: number, tlsCert: LeafFiles | null): string {
  const chain: Obj = { filters: [tcpProxy()] };
  if (tlsCert !== null) {
    chain.transport_socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: { '@type': DOWNSTREAM_TLS, common_tls_context: { tls_certificates: [{ certificate_chain: { filename: tlsCert.cert }, private_key: { filename: tlsCert.key } }] } },
    };
  }
  return bootstrap({
    admin: true,
    listeners: [{ ...listener({ name: 'tcp', chains: [chain] }), per_connection_buffer_limit_bytes: 1 * MiB }],
    clusters: [cluster('up', [upstreamPort], { per_connection_buffer_limit_bytes: 1 * MiB })],
  });
}

/** A raw upstream: `onSocket` decides what it does with each connection. */
async function rawUpstream(onSocket: (s: net.Socket) => void): Promise<{ port: number; sockets: net.Socket[]; close(): Promise<void> }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => { sockets.push(s); s.on('error', () => {}); onSocket(s); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

/** Writes up to `total` bytes to `s`, honouring its backpressure, until it is refused for `stallMs` or the total is reached; resolves with the bytes accepted. */
function push(s: net.Socket, total: number, stallMs: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let sent = 0;
  return new Promise((resolve) => {
    let stall: NodeJS.Timeout | null = null;
    const finish = () => { if (stall) clearTimeout(stall); resolve(sent); };
    const pump = () => {
      if (stall) { clearTimeout(stall); stall = null; }
      while (sent < total) {
        sent += chunk.length;
        if (!s.write(chunk)) { stall = setTimeout(finish, stallMs); s.once('drain', pump); return; }
      }
      finish();
    };
    s.on('error', finish);
    pump();
  });
}

async function measure(px: ProxyChild, attack: () => Promise<void>): Promise<{ before: number; peak: number }> {
  const before = px.rss();
  let peak = before;
  const sampler = setInterval(() => { peak = Math.max(peak, px.rss()); }, 50);
  try { await attack(); } finally { clearInterval(sampler); }
  peak = Math.max(peak, px.rss());
  return { before, peak };
}

let pki: TestPki;
let serverCert: LeafFiles;

test('setup', async () => {
  pki = await makePki();
  serverCert = await pki.issue('tcp-server', { sans: ['DNS:tcp.weft.test'] });
});

for (const withTls of [false, true]) {
  const kind = withTls ? 'TLS-terminated' : 'plain';
  test(`${kind} TCP proxy: an upstream that never reads, the client pushing ${ATTACK_BYTES / MiB} MB: the proxy stops reading, RSS bounded`, { timeout: 120_000 }, async (t) => {
    const up = await rawUpstream((s) => s.pause());
    const px = await startProxyChild(yaml(up.port, withTls ? serverCert : null), ['tcp']).catch(async (e) => { await up.close(); throw e; });
    const client = withTls
      ? tls.connect({ host: '127.0.0.1', port: px.port('tcp'), rejectUnauthorized: false })
      : net.connect(px.port('tcp'), '127.0.0.1');
    client.on('error', () => {});
    // Both ends first: the proxy's shutdown waits for its TCP connections to end.
    t.after(async () => { client.destroy(); await up.close(); await px.close(); });
    await new Promise<void>((r) => client.once(withTls ? 'secureConnect' : 'connect', () => r()));
    let accepted = 0;
    const { before, peak } = await measure(px, async () => { accepted = await push(client, ATTACK_BYTES, 1500); });
    assert.ok(accepted < ATTACK_BYTES, `all ${accepted} bytes were taken: nothing pushed back`);
    assert.ok(peak - before < RSS_SLACK, `RSS grew by ${((peak - before) / MiB).toFixed(1)} MiB (from ${(before / MiB).toFixed(1)})`);
    assert.ok(await px.stat('tcp.tcp.downstream_flow_control_paused_reading_total') >= 1);
  });

  test(`${kind} TCP proxy: a client that never reads a ${ATTACK_BYTES / MiB} MB download: the proxy stops reading the upstream, RSS bounded`, { timeout: 120_000 }, async (t) => {
    let pushed = 0;
    const done: Promise<void>[] = [];
    const up = await rawUpstream((s) => { done.push(push(s, ATTACK_BYTES, 1500).then((n) => { pushed = n; })); });
    const px = await startProxyChild(yaml(up.port, withTls ? serverCert : null), ['tcp']).catch(async (e) => { await up.close(); throw e; });
    const client = withTls
      ? tls.connect({ host: '127.0.0.1', port: px.port('tcp'), rejectUnauthorized: false, ca: readFileSync(pki.cert) })
      : net.connect(px.port('tcp'), '127.0.0.1');
    client.on('error', () => {});
    t.after(async () => { client.destroy(); await up.close(); await px.close(); });
    await new Promise<void>((r) => client.once(withTls ? 'secureConnect' : 'connect', () => r()));
    client.pause();
    const { before, peak } = await measure(px, async () => {
      await waitUntil(() => done.length === 1, 10_000, 'the upstream connection');
      await done[0];
    });
    assert.ok(pushed < ATTACK_BYTES, `the upstream got rid of all ${pushed} bytes: nothing pushed back`);
    assert.ok(peak - before < RSS_SLACK, `RSS grew by ${((peak - before) / MiB).toFixed(1)} MiB (from ${(before / MiB).toFixed(1)})`);
    assert.ok(await px.stat('cluster.up.upstream_flow_control_paused_reading_total') >= 1);
  });
}

test('teardown', () => pki.close());
