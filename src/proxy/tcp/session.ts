// One TCP proxy connection: an upstream connection (with connect attempts across hosts), the
// downstream socket once it is attached, bytes both ways with backpressure, half-close both ways,
// the idle timeout, stats and the access log. The upstream side can start before the downstream
// is attached (pre-connect while the listener sniffs the protocol): what the server says first is
// held until then. Envoy: arch_overview/listeners/tcp_proxy and the tcp_proxy filter's stats.
//
// Buffer limits (per_connection_buffer_limit_bytes): what waits to be written to the client is
// bounded by the listener's limit, what waits to be written to the upstream by the cluster's; at
// the limit, the side that sent it stops being read until the other has drained (Envoy's
// watermarks), counted in tcp.<prefix>.downstream_flow_control_* and
// cluster.<name>.upstream_flow_control_*. Plain and TLS sockets alike (a TLSSocket's writableLength
// counts what it has not yet handed, encrypted, to the TCP socket).

import type net from 'node:net';
import type { Cluster } from '../cluster/cluster.js';
import { hostKey, type Host } from '../cluster/host.js';
import { openUpstreamSocket } from '../pool/connect.js';
import { StreamInfo } from '../stream-info.js';
import type { ChainSlot, ConnectionClosed, DownstreamConnectionHandle } from '../listener/chain.js';
import type { CompiledTcpProxy } from './tcp-proxy.js';
import { clusterFlowStats, type ClusterFlowStats } from './stats.js';

/** Where a downstream connection comes from and arrived at (a net.Socket fits). */
export interface DownstreamAddresses {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
}

/**
 * What the upstream did before the downstream was attached: sent bytes (`data`), closed its side
 * (`end`), or could not be reached after every connect attempt (`error`).
 */
export type UpstreamEarlyEvent = 'data' | 'end' | 'error';

const formatAddress = (address: string | undefined, port: number | undefined): string =>
  address === undefined || address === '' ? '' : hostKey(address, port ?? 0);

export class TcpSession implements DownstreamConnectionHandle {
  readonly info = new StreamInfo();
  private slotRef: ChainSlot | null = null;
  private onClose: ConnectionClosed | null = null;
  /** The listener's per_connection_buffer_limit_bytes: bound on bytes queued for the client. */
  private bufferLimit = 0;
  /** The cluster's per_connection_buffer_limit_bytes: bound on bytes queued for the upstream. */
  private upstreamBufferLimit = 0;
  private flow: ClusterFlowStats | null = null;

  // ── upstream ──
  private readonly cluster: Cluster | null;
  private host: Host | null = null;
  private up: net.Socket | null = null;
  private upConnected = false;
  private upOpenedAt = 0;
  private upEnded = false;
  private upEndSent = false;
  private upClosed = true;
  private upFlushing = false;
  /** Set when Weft ends or destroys the upstream first (upstream_cx_destroy_local). */
  private upLocalClose = false;
  private attempts = 0;
  private readonly tried = new Set<Host>();
  private connectTimer: NodeJS.Timeout | null = null;
  /** No upstream will come: no route, no host, overflow, every attempt failed, or cancelled. */
  private upFailed = false;
  /** Server bytes received before the downstream was attached. */
  private early: Buffer[] = [];
  private onEarly: ((event: UpstreamEarlyEvent) => void) | null;

  // ── downstream ──
  private down: net.Socket | null = null;
  private downEnded = false;
  private downEndSent = false;
  private downClosed = true;
  private downPaused = false;
  private upPaused = false;

  // ── lifetime ──
  private lastActivity = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private cancelled = false;
  private finished = false;

  constructor(private readonly proxy: CompiledTcpProxy, clusterName: string, downstream: DownstreamAddresses,
              onEarly: ((event: UpstreamEarlyEvent) => void) | null) {
    this.onEarly = onEarly;
    const info = this.info;
    info.startTime = Date.now();
    info.startMono = performance.now();
    info.protocol = '';
    info.downstreamRemoteAddress = info.downstreamDirectRemoteAddress = formatAddress(downstream.remoteAddress, downstream.remotePort);
    info.downstreamLocalAddress = formatAddress(downstream.localAddress, downstream.localPort);
    this.cluster = proxy.clusters.get(clusterName) ?? null;
    if (this.cluster === null) {
      // Envoy: no cluster found, NC; counted as downstream_cx_no_route once the downstream is ours.
      info.addResponseFlag('NC');
      info.responseCodeDetails = 'cluster_not_found';
      this.upFailed = true;
      return;
    }
    info.upstreamCluster = clusterName;
    this.upstreamBufferLimit = this.cluster.config.perConnectionBufferLimitBytes;
    this.flow = clusterFlowStats(this.cluster.stats);
    this.connect();
  }

  get slot(): ChainSlot {
    if (this.slotRef === null) throw new Error('tcp_proxy session has no downstream yet');
    return this.slotRef;
  }

  // ───────────────────────────── upstream ─────────────────────────────

  /** Picks a host (one not tried yet when possible) and opens a connection to it. */
  private connect(): void {
    const cluster = this.cluster!;
    const stats = cluster.stats;
    let host = cluster.chooseHost(null);
    for (let i = 0; i < 4 && host !== null && this.tried.has(host); i++) host = cluster.chooseHost(null);
    if (host === null) {
      stats.upstream_cx_none_healthy.inc();
      this.info.addResponseFlag('UH');
      this.info.responseCodeDetails = 'no_healthy_upstream';
      this.failUpstream();
      return;
    }
    if (stats.upstream_cx_active.value >= cluster.config.connectionPool.maxConnections) {
      stats.upstream_cx_overflow.inc();
      this.info.addResponseFlag('UO');
      this.info.responseCodeDetails = 'upstream_overflow';
      this.failUpstream();
      return;
    }
    this.attempts++;
    this.tried.add(host);
    this.host = host;
    this.info.upstreamHost = host.key;
    this.info.retries = this.attempts - 1;
    const { socket, readyEvent } = openUpstreamSocket(cluster, host);
    // Half-close: the client may go on sending after the server has finished, and vice versa.
    socket.allowHalfOpen = true;
    this.up = socket;
    this.upConnected = false;
    this.upEnded = false;
    this.upEndSent = false;
    this.upClosed = false;
    this.upLocalClose = false;
    this.upOpenedAt = performance.now();
    stats.upstream_cx_total.inc();
    stats.upstream_cx_active.inc();
    host.stats.cxTotal++;
    host.stats.cxActive++;
    socket.on(readyEvent, () => this.onUpstreamConnected(socket));
    socket.on('data', (d: Buffer) => this.onUpstreamData(d));
    socket.on('end', () => this.onUpstreamEnd(socket));
    socket.on('error', (e) => this.onUpstreamError(socket, e));
    socket.on('close', () => this.onUpstreamClose(socket));
    const ms = cluster.config.connectTimeoutMs;
    if (ms > 0) this.connectTimer = setTimeout(() => this.onConnectTimeout(socket), ms);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) { clearTimeout(this.connectTimer); this.connectTimer = null; }
  }

  private onUpstreamConnected(socket: net.Socket): void {
    if (socket !== this.up) return;
    this.clearConnectTimer();
    this.upConnected = true;
    this.cluster!.stats.upstream_cx_connect_ms.record(performance.now() - this.upOpenedAt);
    this.cluster!.outlier?.putConnectSuccess(this.host!);
    this.touch();
    this.armIdleTimer();
    if (this.down !== null) this.startForwarding();
  }

  private onConnectTimeout(socket: net.Socket): void {
    this.connectTimer = null;
    if (socket !== this.up || this.upConnected) return;
    this.cluster!.stats.upstream_cx_connect_timeout.inc();
    this.connectFailed(socket);
  }

  private onUpstreamError(socket: net.Socket, _e: Error): void {
    if (socket !== this.up || this.upConnected) return; // after connecting, 'close' does the rest
    this.connectFailed(socket);
  }

  /** A connect attempt failed (refused, reset, timed out): try another host or give up (UF). */
  private connectFailed(socket: net.Socket): void {
    this.clearConnectTimer();
    const cluster = this.cluster!;
    cluster.stats.upstream_cx_connect_fail.inc();
    this.host!.stats.cxConnectFail++;
    cluster.outlier?.putLocalOrigin(this.host!, 'connect-failed');
    this.up = null;
    this.releaseUpstream(true);
    socket.destroy();
    if (this.cancelled || (this.down !== null && this.downClosed)) { this.maybeFinish(); return; }
    if (this.attempts < this.proxy.config.maxConnectAttempts) { this.connect(); return; }
    this.info.addResponseFlag('UF');
    this.info.addResponseFlag('URX');
    this.info.responseCodeDetails = 'upstream_connection_failure';
    this.proxy.store.counter(`cluster.${cluster.name}.upstream_cx_connect_attempts_exceeded`,
      'cluster_upstream_cx_connect_attempts_exceeded', { envoy_cluster_name: cluster.name }).inc();
    this.failUpstream();
  }

  /** Cluster and host accounting for an upstream socket that is gone (or given up on). */
  private releaseUpstream(failedConnect: boolean): void {
    const stats = this.cluster!.stats;
    stats.upstream_cx_active.dec();
    this.host!.stats.cxActive--;
    stats.upstream_cx_destroy.inc();
    if (!failedConnect) {
      (this.upLocalClose ? stats.upstream_cx_destroy_local : stats.upstream_cx_destroy_remote).inc();
      stats.upstream_cx_length_ms.record(performance.now() - this.upOpenedAt);
    }
    this.upClosed = true;
  }

  /** No upstream connection will exist: tell an early listener, close the downstream. */
  private failUpstream(): void {
    this.upFailed = true;
    this.upClosed = true;
    this.early = [];
    if (this.down === null) { this.signalEarly('error'); this.maybeFinish(); return; }
    if (!this.downClosed) this.down.destroy();
    this.maybeFinish();
  }

  private signalEarly(event: UpstreamEarlyEvent): void {
    const cb = this.onEarly;
    this.onEarly = null;
    if (cb !== null && !this.cancelled) cb(event);
  }

  private onUpstreamData(d: Buffer): void {
    this.cluster!.stats.upstream_cx_rx_bytes_total.add(d.length);
    this.touch();
    const down = this.down;
    if (down === null) {
      // The server spoke first and the downstream is not attached yet: hold the bytes and stop
      // reading until it is (the listener is told once).
      this.early.push(d);
      this.up!.pause();
      this.signalEarly('data');
      return;
    }
    if (this.downClosed) return;
    this.proxy.stats.downstream_cx_tx_bytes_total.add(d.length);
    this.info.bytesSent += d.length;
    this.forward(d, down, this.up!, false);
  }

  private onUpstreamEnd(socket: net.Socket): void {
    if (socket !== this.up) return;
    this.upEnded = true;
    if (this.down === null) { this.signalEarly('end'); return; }
    this.endDownstream();
  }

  private onUpstreamClose(socket: net.Socket): void {
    if (socket !== this.up) return; // a failed attempt, already accounted for
    this.clearConnectTimer();
    if (!this.upConnected) {
      // Closed before connecting without an 'error' (destroyed by us): nothing more to try.
      this.releaseUpstream(true);
      this.maybeFinish();
      return;
    }
    this.releaseUpstream(false);
    if (this.upFlushing) { this.upFlushing = false; this.proxy.stats.upstream_flush_active.dec(); }
    if (this.down === null) {
      // Gone before the downstream arrived (a reset after its greeting, say).
      this.signalEarly(this.upEnded ? 'end' : 'error');
      this.maybeFinish();
      return;
    }
    // The upstream is gone: whatever is queued for the client goes out, then the client's side closes.
    if (!this.downClosed) this.closeAfterFlush(this.down);
    this.maybeFinish();
  }

  // ───────────────────────────── downstream ─────────────────────────────

  /** Takes the downstream socket: forwarding starts once the upstream is connected. */
  attach(socket: net.Socket, slot: ChainSlot, bufferLimit: number, onClose: ConnectionClosed): void {
    this.slotRef = slot;
    this.onClose = onClose;
    this.onEarly = null;
    this.bufferLimit = bufferLimit;
    this.down = socket;
    this.downClosed = false;
    socket.allowHalfOpen = true;
    const stats = this.proxy.stats;
    stats.downstream_cx_total.inc();
    if (this.info.responseFlags === 'NC') stats.downstream_cx_no_route.inc();
    // Nothing is read until the upstream is there (Envoy reads only once connected).
    socket.pause();
    socket.on('data', (d: Buffer) => this.onDownstreamData(d));
    socket.on('end', () => this.onDownstreamEnd());
    socket.on('error', () => { /* 'close' follows */ });
    socket.on('close', () => this.onDownstreamClose());
    if (this.upFailed) { socket.destroy(); return; }
    if (this.upConnected) this.startForwarding();
  }

  /** Upstream connected and downstream attached: replay what the server said first, then flow. */
  private startForwarding(): void {
    const down = this.down!;
    const up = this.up!;
    if (this.downClosed) return;
    for (const d of this.early) this.sendDownstream(d);
    this.early = [];
    if (this.upClosed) {
      // The upstream came and went before the downstream was attached: it has had its say.
      this.closeAfterFlush(down);
      return;
    }
    if (this.upEnded) this.endDownstream();
    if (this.downEnded) this.endUpstream();
    if (!this.downPaused) down.resume();
    if (!this.upPaused && !this.upEnded) up.resume();
  }

  private sendDownstream(d: Buffer): void {
    this.proxy.stats.downstream_cx_tx_bytes_total.add(d.length);
    this.info.bytesSent += d.length;
    this.forward(d, this.down!, this.up, false);
  }

  private onDownstreamData(d: Buffer): void {
    const stats = this.proxy.stats;
    stats.downstream_cx_rx_bytes_total.add(d.length);
    this.info.bytesReceived += d.length;
    this.touch();
    const up = this.up;
    if (up === null || this.upClosed) return;
    this.cluster!.stats.upstream_cx_tx_bytes_total.add(d.length);
    this.forward(d, up, this.down!, true);
  }

  private onDownstreamEnd(): void {
    this.downEnded = true;
    if (this.upConnected && !this.upClosed) this.endUpstream();
  }

  private onDownstreamClose(): void {
    this.downClosed = true;
    const up = this.up;
    if (up !== null && !this.upClosed) {
      if (!this.upConnected) {
        // Still connecting: nobody is left to talk to.
        this.upLocalClose = true;
        this.clearConnectTimer();
        up.destroy();
      } else if (!(this.upEndSent && this.upEnded)) {
        // The client is gone: whatever it sent still goes out, then the upstream closes (Envoy's flush).
        if (up.writableLength > 0) {
          this.upFlushing = true;
          this.proxy.stats.upstream_flush_total.inc();
          this.proxy.stats.upstream_flush_active.inc();
        }
        if (!this.upEnded) this.upLocalClose = true;
        this.closeAfterFlush(up);
      }
    }
    this.maybeFinish();
  }

  private endUpstream(): void {
    if (this.upEndSent || this.up === null) return;
    this.upEndSent = true;
    if (!this.upEnded) this.upLocalClose = true;
    this.up.end();
  }

  private endDownstream(): void {
    if (this.downEndSent || this.down === null || this.downClosed) return;
    this.downEndSent = true;
    this.down.end();
  }

  // ───────────────────────────── both ways ─────────────────────────────

  /**
   * Writes `chunk` to `dst`. When that takes dst's send buffer to its limit (the cluster's for the
   * upstream, the listener's for the client), `src` stops reading until the chunk has been flushed
   * (Envoy's high/low watermarks on the write buffer, with the low mark at empty).
   */
  private forward(chunk: Buffer, dst: net.Socket, src: net.Socket | null, fromDownstream: boolean): void {
    const configured = fromDownstream ? this.upstreamBufferLimit : this.bufferLimit;
    const limit = configured > 0 ? configured : dst.writableHighWaterMark;
    if (src === null || dst.writableLength + chunk.length < limit) {
      dst.write(chunk);
      return;
    }
    if (fromDownstream) {
      if (this.downPaused) { dst.write(chunk); return; }
      this.downPaused = true;
      this.proxy.stats.downstream_flow_control_paused_reading_total.inc();
      this.flow?.upstream_flow_control_backed_up_total.inc();
    } else {
      if (this.upPaused) { dst.write(chunk); return; }
      this.upPaused = true;
      this.flow?.upstream_flow_control_paused_reading_total.inc();
    }
    src.pause();
    dst.write(chunk, () => this.resumeReading(src, fromDownstream));
  }

  private resumeReading(src: net.Socket, fromDownstream: boolean): void {
    if (fromDownstream) {
      if (!this.downPaused) return;
      this.downPaused = false;
      this.proxy.stats.downstream_flow_control_resumed_reading_total.inc();
      this.flow?.upstream_flow_control_drained_total.inc();
    } else {
      if (!this.upPaused) return;
      this.upPaused = false;
      this.flow?.upstream_flow_control_resumed_reading_total.inc();
    }
    if (!src.destroyed) src.resume();
  }

  /** Ends a socket's writing side and closes it once what is queued has gone out. */
  private closeAfterFlush(s: net.Socket): void {
    if (s.destroyed) return;
    if (s.writableFinished) { s.destroy(); return; }
    s.once('finish', () => s.destroy());
    if (!s.writableEnded) s.end();
  }

  private touch(): void {
    this.lastActivity = performance.now();
  }

  private armIdleTimer(): void {
    const ms = this.proxy.config.idleTimeoutMs;
    if (ms <= 0 || this.idleTimer !== null) return;
    this.idleTimer = setTimeout(() => this.onIdleTimer(), ms);
    this.idleTimer.unref();
  }

  /** Fires at most once per idle period; re-arms for the rest of the period after activity. */
  private onIdleTimer(): void {
    this.idleTimer = null;
    if (this.finished) return;
    const ms = this.proxy.config.idleTimeoutMs;
    const left = this.lastActivity + ms - performance.now();
    if (left > 1) {
      this.idleTimer = setTimeout(() => this.onIdleTimer(), left);
      this.idleTimer.unref();
      return;
    }
    this.proxy.stats.idle_timeout.inc();
    this.info.responseCodeDetails = 'idle_timeout';
    this.destroy();
  }

  // ───────────────────────────── lifetime ─────────────────────────────

  /** Listener drain or chain removal: like Envoy's TCP proxy, the connection runs to its end. */
  drain(): void {}

  /** Closes both sides now. */
  destroy(): void {
    this.clearConnectTimer();
    const up = this.up;
    if (up !== null && !this.upClosed) {
      if (!this.upEnded || !this.upEndSent) this.upLocalClose = true;
      up.destroy();
    }
    if (this.down !== null && !this.downClosed) this.down.destroy();
    this.maybeFinish();
  }

  /** Drops a pre-connected upstream that no downstream will use (the connection was HTTP). */
  cancel(): void {
    if (this.down !== null || this.finished) return;
    this.cancelled = true;
    this.onEarly = null;
    this.early = [];
    this.destroy();
  }

  private maybeFinish(): void {
    if (this.finished) return;
    if (this.up !== null && !this.upClosed) return;
    // Not attached yet: only a cancel ends it (otherwise attach closes the downstream it gets).
    if (this.down === null ? !this.cancelled : !this.downClosed) return;
    this.finished = true;
    this.clearConnectTimer();
    if (this.idleTimer !== null) { clearTimeout(this.idleTimer); this.idleTimer = null; }
    if (this.upFlushing) { this.upFlushing = false; this.proxy.stats.upstream_flush_active.dec(); }
    if (this.down === null) return; // cancelled: never the proxy's connection
    this.info.endMono = performance.now();
    for (const l of this.proxy.accessLoggers) l.log(this.info);
    this.onClose?.(this);
  }
}
