// Listeners end to end: several per process, IPv6, filter_chain_match on source_prefix_ranges and
// destination_port, default_filter_chain, and connections no chain accepts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startProxy } from '../helpers/proxy.js';
import { bootstrap, deadPort, direct, hcm, listener, request, type Obj } from '../helpers/bootstrap.js';

/** A connection manager that answers every request with `body`, plus the client address as seen. */
const answer = (body: string, statPrefix = body): Obj => hcm({
  statPrefix,
  routes: [direct({ prefix: '/' }, body, 200, {
    response_headers_to_add: [{ header: { key: 'x-peer', value: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%' } }],
  })],
});

/** Resolves once the socket is closed by the peer, with whatever it received. */
function closedBy(port: number, opts: { localAddress?: string; host?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: opts.host ?? '127.0.0.1', localAddress: opts.localAddress });
    let got = '';
    s.on('connect', () => s.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    s.on('data', (d) => { got += d.toString(); });
    s.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'ECONNRESET') resolve(got); else reject(e); });
    s.on('close', () => resolve(got));
  });
}

async function ipv6Available(): Promise<boolean> {
  const s = net.createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

async function canBind(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '127.0.0.1', () => {
      const c = net.connect({ port: (s.address() as net.AddressInfo).port, host: '127.0.0.1', localAddress: address });
      c.once('connect', () => { c.destroy(); s.close(() => resolve(true)); });
      c.once('error', () => { s.close(() => resolve(false)); });
    });
  });
}

test('two listeners in one process, each with its own routes and stats', async (t) => {
  const px = await startProxy(bootstrap({
    listeners: [listener({ name: 'one', filter: answer('one') }), listener({ name: 'two', filter: answer('two') })],
  }));
  t.after(() => px.close());
  const p1 = px.portOf('one');
  const p2 = px.portOf('two');
  assert.notEqual(p1, p2);
  assert.equal((await request(p1, '/')).body, 'one');
  assert.equal((await request(p2, '/')).body, 'two');
  assert.equal((await request(p2, '/x')).body, 'two');
  assert.equal(px.server.stats.value('http.one.downstream_rq_total'), 1);
  assert.equal(px.server.stats.value('http.two.downstream_rq_total'), 2);
  assert.equal(px.server.stats.value(`listener.127.0.0.1_0.downstream_cx_total`), 3);
});

test('an IPv6 listener on ::1', async (t) => {
  if (!(await ipv6Available())) { t.skip('::1 is not available here'); return; }
  const px = await startProxy(bootstrap({ listeners: [listener({ name: 'v6', address: '::1', filter: answer('v6') })] }));
  t.after(() => px.close());
  const r = await request(px.port, '/', { host: '::1' });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'v6');
  assert.equal(r.headers['x-peer'], '::1');
  // The same listener does not answer on IPv4.
  await assert.rejects(request(px.port, '/', { host: '127.0.0.1' }), { code: 'ECONNREFUSED' });
});

test('a dual-stack listener on :: reports IPv4 clients as IPv4 addresses', async (t) => {
  if (!(await ipv6Available())) { t.skip('IPv6 is not available here'); return; }
  const px = await startProxy(bootstrap({ listeners: [listener({ name: 'any', address: '::', filter: answer('any') })] }));
  t.after(() => px.close());
  const v4 = await request(px.port, '/', { host: '127.0.0.1' });
  assert.equal(v4.body, 'any');
  assert.equal(v4.headers['x-peer'], '127.0.0.1');
  const v6 = await request(px.port, '/', { host: '::1' });
  assert.equal(v6.headers['x-peer'], '::1');
});

test('filter_chain_match on source_prefix_ranges: the most specific range wins', async (t) => {
  if (!(await canBind('127.0.0.2'))) { t.skip('cannot bind client sockets to 127.0.0.2'); return; }
  const px = await startProxy(bootstrap({
    listeners: [listener({
      chains: [
        { filter_chain_match: { source_prefix_ranges: [{ address_prefix: '127.0.0.0', prefix_len: 8 }] }, filters: [answer('loopback-8')] },
        { filter_chain_match: { source_prefix_ranges: [{ address_prefix: '127.0.0.1', prefix_len: 32 }] }, filters: [answer('exactly-1')] },
        { filter_chain_match: { source_prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] }, filters: [answer('ten')] },
      ],
    })],
  }));
  t.after(() => px.close());
  const from1 = await request(px.port, '/');
  assert.equal(from1.body, 'exactly-1');
  assert.equal(from1.headers['x-peer'], '127.0.0.1');
  const from2 = await request(px.port, '/', { localAddress: '127.0.0.2' });
  assert.equal(from2.body, 'loopback-8');
  assert.equal(from2.headers['x-peer'], '127.0.0.2');
  assert.equal(px.server.stats.value('http.exactly-1.downstream_rq_total'), 1);
  assert.equal(px.server.stats.value('http.loopback-8.downstream_rq_total'), 1);
});

test('default_filter_chain takes connections no chain matches; without it they are closed', async (t) => {
  if (!(await canBind('127.0.0.2'))) { t.skip('cannot bind client sockets to 127.0.0.2'); return; }
  const px = await startProxy(bootstrap({
    listeners: [
      listener({
        name: 'with-default',
        chains: [{ filter_chain_match: { source_prefix_ranges: [{ address_prefix: '127.0.0.2', prefix_len: 32 }] }, filters: [answer('two')] }],
        defaultChain: { filters: [answer('default')] },
      }),
      listener({
        name: 'no-default',
        chains: [{ filter_chain_match: { source_prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] }, filters: [answer('ten')] }],
      }),
    ],
  }));
  t.after(() => px.close());
  const withDefault = px.portOf('with-default');
  assert.equal((await request(withDefault, '/', { localAddress: '127.0.0.2' })).body, 'two');
  assert.equal((await request(withDefault, '/')).body, 'default');
  const noDefault = px.portOf('no-default');
  assert.equal(await closedBy(noDefault), '');
  assert.equal(px.server.stats.value(`listener.127.0.0.1_0.no_filter_chain_match`), 1);
});

test('filter_chain_match on destination_port', async (t) => {
  // destination_port needs the port in the config: take a free one first.
  const port = await deadPort();
  const other = await deadPort();
  const px = await startProxy(bootstrap({
    listeners: [
      listener({
        name: 'by-port',
        port,
        chains: [
          { filter_chain_match: {}, filters: [answer('any-port')] },
          { filter_chain_match: { destination_port: port }, filters: [answer('this-port')] },
        ],
      }),
      listener({
        name: 'wrong-port',
        chains: [{ filter_chain_match: { destination_port: other }, filters: [answer('other-port')] }],
        defaultChain: { filters: [answer('fallback')] },
      }),
    ],
  }));
  t.after(() => px.close());
  assert.equal(px.portOf('by-port'), port);
  assert.equal((await request(port, '/')).body, 'this-port');
  assert.equal((await request(px.portOf('wrong-port'), '/')).body, 'fallback');
});
