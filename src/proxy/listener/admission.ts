// Whether a listener takes a connection it just accepted, in Envoy's order (ActiveTcpListener):
// the listener's own connection limit (runtime key envoy.resource_limits.listener.<name>.connection_limit,
// stat `downstream_cx_overflow`), the process-wide limit of the global_downstream_max_connections
// resource monitor (`downstream_global_cx_overflow`), then the overload actions
// stop_accepting_connections / reject_incoming_connections (`downstream_cx_overload_reject`). Weft adds
// the descriptor guard (fd-guard.ts) in front, counted as `downstream_cx_overflow` too. A refused
// connection is closed at once, before any listener filter reads it.
//
// Envoy's stop_accepting_connections stops calling accept(), leaving connections in the kernel's
// backlog; Node cannot pause accepting on a listening socket without closing it, so Weft accepts and
// closes them, like reject_incoming_connections.

import type net from 'node:net';
import type { Counter, StatsStore } from '../../observe/stats.js';
import { createLogger } from '../../observe/logger.js';
import { downstreamConnections, overloadState, shed } from '../overload/state.js';
import { fdLimit, fdOf, fdThreshold } from './fd-guard.js';
import { LogLimiter } from './log-limiter.js';

const log = createLogger('listener');

export class ListenerAdmissionStats {
  readonly downstream_cx_overflow: Counter;
  readonly downstream_global_cx_overflow: Counter;
  readonly downstream_cx_overload_reject: Counter;
  constructor(store: StatsStore, statName: string) {
    const labels = { envoy_listener_address: statName };
    const c = (n: string) => store.counter(`listener.${statName}.${n}`, `listener_${n}`, labels);
    this.downstream_cx_overflow = c('downstream_cx_overflow');
    this.downstream_global_cx_overflow = c('downstream_global_cx_overflow');
    this.downstream_cx_overload_reject = c('downstream_cx_overload_reject');
  }
}

export class ListenerAdmission {
  private readonly stats: ListenerAdmissionStats;
  /** Connections of this listener open now (from accept to close, whatever stage they are in). */
  private open = 0;
  /** The runtime connection limit (Infinity when not set). */
  limit = Infinity;
  private readonly fdLog = new LogLimiter(log, 'warning');
  private readonly limitLog = new LogLimiter(log, 'info');

  constructor(store: StatsStore, statName: string, private readonly listenerName: string) {
    this.stats = new ListenerAdmissionStats(store, statName);
  }

  /** Takes the connection (counted until it closes) or destroys it; returns whether it was taken. */
  admit(socket: net.Socket): boolean {
    const fd = fdOf(socket);
    if (fd >= fdThreshold()) {
      this.stats.downstream_cx_overflow.inc();
      this.fdLog.log('listener %s: connection refused, file descriptors nearly exhausted (descriptor %d, limit %d; the rest is kept for the admin server and upstreams)',
        this.listenerName, fd, fdLimit());
      socket.destroy();
      return false;
    }
    if (this.open >= this.limit) {
      this.stats.downstream_cx_overflow.inc();
      this.limitLog.log('listener %s: connection refused, %d connections open (runtime envoy.resource_limits.listener.%s.connection_limit)',
        this.listenerName, this.open, this.listenerName);
      socket.destroy();
      return false;
    }
    if (downstreamConnections.active >= downstreamConnections.max) {
      this.stats.downstream_global_cx_overflow.inc();
      socket.destroy();
      return false;
    }
    if ((overloadState.stopAcceptingConnections > 0 && shed(overloadState.stopAcceptingConnections))
        || (overloadState.rejectIncomingConnections > 0 && shed(overloadState.rejectIncomingConnections))) {
      this.stats.downstream_cx_overload_reject.inc();
      socket.destroy();
      return false;
    }
    this.open++;
    downstreamConnections.active++;
    socket.once('close', () => { this.open--; downstreamConnections.active--; });
    return true;
  }
}
