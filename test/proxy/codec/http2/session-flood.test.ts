// Envoy's HTTP/2 flood limits in Weft's own session (src/proxy/codec/http2/session.ts), with
// Envoy's formulas (protocol_constraints.cc): consecutive inbound frames with an empty payload,
// PRIORITY frames per stream opened, WINDOW_UPDATE frames per DATA frame sent, and the outbound
// queue (all frames, and PING/SETTINGS ACK + RST_STREAM control frames) of a peer that does not
// read. Each crossing: onFlood(kind), GOAWAY(ENHANCE_YOUR_CALM), the connection closes; just
// under the limit, nothing happens.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { Flag, FrameType, type RawH2Client, h2Frame, h2Get, h2Request, h2WindowUpdate, rawH2Client, waitUntil } from '../../../helpers/adversarial.js';
import type { H2Stream } from '../../../../src/proxy/codec/http2/types.js';
import { Recorder, startH2Server, type TestServer } from './session-helpers.js';

const ENHANCE_YOUR_CALM = 11;

async function setup(t: TestContext, limits: Parameters<typeof startH2Server>[2] = {}, onStream?: (st: H2Stream) => void): Promise<{ srv: TestServer; c: RawH2Client }> {
  const srv = await startH2Server(t, (st) => { st.handler = new Recorder(); onStream?.(st); }, limits);
  const c = await rawH2Client(srv.port);
  t.after(() => c.close());
  await c.waitFor((fs) => fs.some((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0), 'server SETTINGS');
  return { srv, c };
}

async function roundTrip(c: RawH2Client, tag: number): Promise<void> {
  const p = Buffer.alloc(8); p.writeUInt32BE(tag, 4);
  c.write(h2Frame(FrameType.PING, 0, 0, p));
  await c.waitFor((fs) => fs.some((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0 && f.payload.readUInt32BE(4) === tag), `PING ACK ${tag}`);
}

async function expectFlood(srv: TestServer, c: RawH2Client, kind: string): Promise<void> {
  await waitUntil(() => srv.events.floods.length > 0, 10_000, `flood ${kind}`);
  assert.deepEqual(srv.events.floods, [kind]);
  await waitUntil(() => srv.events.closes === 1, 5000, 'session closed');
  await waitUntil(() => c.closed, 5000, 'connection closed');
}

const priority = (id: number): Buffer => h2Frame(FrameType.PRIORITY, 0, id, Buffer.from([0, 0, 0, 0, 16]));

test('inbound_empty: one empty DATA frame without END_STREAM passes, the second in a row is a flood', async (t) => {
  const { srv, c } = await setup(t);
  c.write([h2Request(1, h2Get('/'), false), h2Frame(FrameType.DATA, 0, 1)]);
  await roundTrip(c, 1);
  assert.deepEqual(srv.events.floods, []);
  // A non-empty DATA frame resets the count; then two empty ones in a row.
  c.write([h2Frame(FrameType.DATA, 0, 1, Buffer.from('x')), h2Frame(FrameType.DATA, 0, 1), h2Frame(FrameType.DATA, 0, 1)]);
  await c.waitFor(() => c.goaway() !== undefined, 'GOAWAY');
  assert.equal(c.goaway()!.code, ENHANCE_YOUR_CALM);
  await expectFlood(srv, c, 'inbound_empty');
});

test('inbound_empty: HEADERS and CONTINUATION with empty fragments count too (limit 2 here)', async (t) => {
  const { srv, c } = await setup(t, { limits: { maxConsecutiveInboundFramesWithEmptyPayload: 2 } });
  c.write([h2Frame(FrameType.HEADERS, 0, 1), h2Frame(FrameType.CONTINUATION, 0, 1), h2Frame(FrameType.CONTINUATION, 0, 1)]);
  await expectFlood(srv, c, 'inbound_empty');
});

test('inbound_priority: 100 PRIORITY frames per stream opened (+1), Envoy\'s formula', async (t) => {
  const { srv, c } = await setup(t);
  c.write(Array.from({ length: 100 }, () => priority(3)));
  await roundTrip(c, 1);
  assert.equal(srv.events.priorities, 100);
  // One stream opened: the budget becomes 100 × (1 + 1) = 200.
  c.write([h2Request(1, h2Get('/'), true), ...Array.from({ length: 100 }, () => priority(5))]);
  await roundTrip(c, 2);
  assert.deepEqual(srv.events.floods, []);
  c.write(priority(7));
  await expectFlood(srv, c, 'inbound_priority');
});

test('inbound_window_update: 1 + 2 × (streams opened + 10 × DATA frames sent) WINDOW_UPDATE frames', async (t) => {
  const { srv, c } = await setup(t, {}, (st) => { st.sendHeaders([':status', '200'], false); st.sendData(Buffer.from('x'), false); });
  // Nothing opened or sent: 1 allowed.
  c.write(h2WindowUpdate(0, 100));
  await roundTrip(c, 1);
  assert.deepEqual(srv.events.floods, []);
  // One stream opened and one DATA frame sent: 1 + 2 × (1 + 10) = 23.
  c.write(h2Request(1, h2Get('/'), true));
  await c.waitFor((fs) => fs.some((f) => f.type === FrameType.DATA && f.streamId === 1), 'DATA on 1');
  c.write(Array.from({ length: 22 }, () => h2WindowUpdate(0, 1)));
  await roundTrip(c, 2);
  assert.deepEqual(srv.events.floods, []);
  c.write(h2WindowUpdate(1, 1));
  await expectFlood(srv, c, 'inbound_window_update');
});

/** Writes PING frames as fast as the socket takes them until it closes (the client does not read). */
function pingFlood(c: RawH2Client): Promise<number> {
  const one = h2Frame(FrameType.PING, 0, 0, Buffer.alloc(8));
  const chunk = Buffer.concat(Array.from({ length: 4096 }, () => one));
  let sent = 0;
  return new Promise((resolve) => {
    const pump = (): void => {
      while (!c.sock.destroyed && sent < 200 * chunk.length * 50) {
        sent += chunk.length;
        if (!c.sock.write(chunk)) { c.sock.once('drain', pump); return; }
      }
      // Enough written (a fast loopback can take it all before the server's close): read again,
      // so that the server's GOAWAY and close are seen (a paused socket would never see them).
      c.sock.resume();
    };
    c.sock.on('close', () => resolve(sent));
    pump();
  });
}

test('outbound_control: a client that sends PINGs and never reads gets cut off once 100 ACKs are queued', async (t) => {
  const { srv, c } = await setup(t, { limits: { maxOutboundControlFrames: 100 } });
  c.sock.pause();
  const sent = await pingFlood(c);
  assert.deepEqual(srv.events.floods, ['outbound_control']);
  await waitUntil(() => srv.events.closes === 1, 5000, 'session closed');
  assert.ok(sent > 0);
});

test('outbound: the same attack against max_outbound_frames (50, below the control limit) is an outbound flood', async (t) => {
  const { srv, c } = await setup(t, { limits: { maxOutboundFrames: 50 } });
  c.sock.pause();
  await pingFlood(c);
  assert.deepEqual(srv.events.floods, ['outbound']);
  await waitUntil(() => srv.events.closes === 1, 5000, 'session closed');
});

test('outbound accounting: frames leave the count once written (a reading client never floods)', async (t) => {
  const { srv, c } = await setup(t, { limits: { maxOutboundControlFrames: 100 } });
  for (let round = 0; round < 20; round++) {
    c.write(Array.from({ length: 50 }, () => h2Frame(FrameType.PING, 0, 0, Buffer.alloc(8))));
    await roundTrip(c, 1000 + round);
  }
  assert.deepEqual(srv.events.floods, []);
  assert.equal(c.goaway(), undefined);
  await waitUntil(() => (srv.events.sessions[0] as unknown as { outboundFrames: number }).outboundFrames === 0, 5000, 'outbound count back to 0');
});
