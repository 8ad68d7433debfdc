// The overload manager's contract with the codecs and listeners (Envoy's overload actions as
// arch_overview/operations/overload_manager describes them): each action's current state as a
// number in 0..1 (0 = inactive, 1 = saturated, in between = a scaled trigger's value), read on the
// hot path as one property load. Only the OverloadManager (manager.ts) writes them. One manager per
// process, as Envoy has one per server; with `--concurrency N` every worker runs its own.

export const overloadState = {
  /** envoy.overload_actions.stop_accepting_requests: that share of new requests gets 503 "envoy overloaded" (OL). */
  stopAcceptingRequests: 0,
  /** envoy.overload_actions.disable_http_keepalive: HTTP/1.1 responses close the connection, HTTP/2 connections get GOAWAY. */
  disableHttpKeepalive: 0,
  /** envoy.overload_actions.stop_accepting_connections: new connections are closed at accept. */
  stopAcceptingConnections: 0,
  /** envoy.overload_actions.reject_incoming_connections: new connections are closed at accept. */
  rejectIncomingConnections: 0,
  /** envoy.overload_actions.reset_high_memory_stream: acted on by the manager (accounts.ts), read by nobody else. */
  resetHighMemoryStream: 0,
  /** envoy.overload_actions.reduce_timeouts: acted on through scaled-timers.ts. */
  reduceTimeouts: 0,
};

/** Whether to act on one request or connection when the action's state is `scale` (Envoy's bernoulli draw). */
export function shed(scale: number): boolean {
  return scale >= 1 || (scale > 0 && Math.random() < scale);
}

/**
 * Downstream connections open in this process on every listener (the admin server's are not
 * counted), for envoy.resource_monitors.global_downstream_max_connections: listeners refuse a
 * connection while `active >= max` (Infinity when the monitor is not configured).
 */
export const downstreamConnections = {
  active: 0,
  max: Infinity,
};

/** Back to no overload (the manager stopped). */
export function resetOverloadState(): void {
  overloadState.stopAcceptingRequests = 0;
  overloadState.disableHttpKeepalive = 0;
  overloadState.stopAcceptingConnections = 0;
  overloadState.rejectIncomingConnections = 0;
  overloadState.resetHighMemoryStream = 0;
  overloadState.reduceTimeouts = 0;
  downstreamConnections.max = Infinity;
}
