// Serves a downstream connection with the HTTP connection manager: picks the codec. HTTP/2 when
// TLS negotiated `h2` (ALPN) or codec_type is HTTP2; HTTP/1.1 for `http/1.1` or HTTP1; with AUTO
// on a connection that did not say, the first bytes decide: the HTTP/2 client preface
// (RFC 9113 §3.4, prior knowledge) or anything else, which is HTTP/1.1.

import type net from 'node:net';
import type { ConnectionClosed, ConnectionFacts, DownstreamConnectionHandle, HcmSlot } from '../listener/chain.js';
import { Http1DownstreamConnection } from './http1-downstream.js';
import { H2_PREFACE, Http2DownstreamConnection } from './http2-downstream.js';
import { alpnCodec } from '../tls/alpn.js';

type Protocol = 'h1' | 'h2';

export function serveHttp(socket: net.Socket, slot: HcmSlot, facts: ConnectionFacts, bufferLimit: number, onClose: ConnectionClosed): DownstreamConnectionHandle {
  const proto = chooseProtocol(slot, facts);
  if (proto !== null) return open(proto, socket, slot, facts, bufferLimit, onClose);
  return new SniffingConnection(socket, slot, facts, bufferLimit, onClose);
}

function chooseProtocol(slot: HcmSlot, facts: ConnectionFacts): Protocol | null {
  // Istio's ALPN markers (istio-h2, istio-http/1.1) stand for the protocol they name.
  const alpn = alpnCodec(facts.alpn);
  if (alpn === 'h2') return 'h2';
  if (alpn === 'http/1.1') return 'h1';
  switch (slot.hcm.config.codecType) {
    case 'HTTP1': return 'h1';
    case 'HTTP2': return 'h2';
    default: break;
  }
  // http_inspector may have told already.
  if (facts.applicationProtocols.includes('h2c')) return 'h2';
  if (facts.applicationProtocols.includes('http/1.1') || facts.applicationProtocols.includes('http/1.0')) return 'h1';
  return null;
}

function open(proto: Protocol, socket: net.Socket, slot: HcmSlot, facts: ConnectionFacts, bufferLimit: number,
              onClose: (c: DownstreamConnectionHandle) => void): DownstreamConnectionHandle {
  return proto === 'h2'
    ? new Http2DownstreamConnection(socket, slot, facts.tls ? 'https' : 'http', bufferLimit, onClose)
    : new Http1DownstreamConnection(socket, slot, bufferLimit, onClose, facts.tls);
}

/** 'h2' when `buf` starts with the preface, 'h1' when it cannot, null while it still may. */
export function detectProtocol(buf: Buffer): Protocol | null {
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.compare(H2_PREFACE, 0, n, 0, n) !== 0) return 'h1';
  return n === H2_PREFACE.length ? 'h2' : null;
}

/** AUTO on a connection that did not say: reads until the protocol is known, then hands over. */
class SniffingConnection implements DownstreamConnectionHandle {
  private inner: DownstreamConnectionHandle | null = null;
  private buf: Buffer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private gone = false;

  constructor(private readonly socket: net.Socket, readonly slot: HcmSlot, private readonly facts: ConnectionFacts,
              private readonly bufferLimit: number, private readonly onClose: ConnectionClosed) {
    socket.on('data', this.onData);
    socket.on('end', this.onEarlyEnd);
    socket.on('error', this.onEarlyError);
    socket.on('close', this.onEarlyClose);
    const ms = slot.hcm.config.idleTimeoutMs;
    if (ms > 0) {
      this.timer = setTimeout(() => socket.destroy(), ms);
      this.timer.unref();
    }
  }

  private readonly onData = (d: Buffer): void => {
    const buf = this.buf === null ? d : Buffer.concat([this.buf, d]);
    const proto = detectProtocol(buf);
    if (proto === null) { this.buf = buf; return; }
    this.buf = null;
    const socket = this.socket;
    socket.off('data', this.onData);
    socket.off('end', this.onEarlyEnd);
    socket.off('error', this.onEarlyError);
    socket.off('close', this.onEarlyClose);
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    socket.pause();
    socket.unshift(buf);
    this.inner = open(proto, socket, this.slot, this.facts, this.bufferLimit, () => this.onClose(this));
    if (proto === 'h1') socket.resume();
  };

  private readonly onEarlyEnd = (): void => { this.socket.destroy(); };
  private readonly onEarlyError = (): void => { /* close follows */ };
  private readonly onEarlyClose = (): void => {
    if (this.gone) return;
    this.gone = true;
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    this.onClose(this);
  };

  /** Nothing is in flight before the protocol is known: a drain sweep skips it until then. */
  get drainsPerResponse(): boolean {
    return this.inner === null || this.inner.drainsPerResponse === true;
  }

  drain(): void {
    if (this.inner !== null) this.inner.drain();
    else this.socket.destroy(); // nothing in flight yet
  }

  destroy(): void {
    if (this.inner !== null) this.inner.destroy();
    else this.socket.destroy();
  }
}
