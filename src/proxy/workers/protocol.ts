// The IPC messages between the `weft proxy --concurrency N` primary and its workers (node:cluster
// channel with `advanced` serialization, so configs and snapshots cross as structured clones).
// Requests that expect an answer carry a `seq` the answer repeats.

import type { DrainStrategy } from '../overload/drain.js';
import type { StatSample } from '../../observe/stats-snapshot.js';
import type { AdminCluster } from '../admin/handlers.js';
import type { BootstrapConfig, SdsSecretRef, SocketAddress } from '../config/types.js';
import type { SecretValue } from '../secrets/types.js';

/** An SDS secret value the primary fetched (workers do not reach secret sources themselves). */
export interface ForwardedSecret {
  readonly ref: SdsSecretRef;
  readonly value: SecretValue;
  readonly version: string;
}

/** A listener as a worker bound it (port resolved when the config asks for port 0). */
export interface BoundListener {
  readonly name: string;
  readonly address: SocketAddress;
}

export type ToWorker =
  /** First message: the validated config (without admin) to start; answered by `started`. */
  | { type: 'start'; seq: number; slot: number; config: BootstrapConfig; logLevel: string; drainMs: number; drainStrategy?: DrainStrategy; secrets?: ForwardedSecret[] }
  /** A new or rotated SDS secret (applies to the worker's next handshakes). */
  | ({ type: 'secret' } & ForwardedSecret)
  /** A new validated config; answered by `applied`. */
  | { type: 'apply'; seq: number; config: BootstrapConfig }
  | { type: 'stats'; seq: number }
  | { type: 'clusters'; seq: number }
  | { type: 'drain_listeners'; graceful?: boolean; inboundOnly?: boolean }
  /** A drain sequence on the listeners, which keep accepting (a sidecar leaving the mesh). */
  | { type: 'drain_sequence'; durationMs: number; inboundOnly: boolean }
  | { type: 'log_level'; level: string }
  /** Drain for up to drainMs, close, exit 0. */
  | { type: 'shutdown'; drainMs: number };

export type FromWorker =
  /**
   * The worker's message handler is installed. Sent first: an ES-module worker evaluates its code
   * after cluster's `online` event, and a message that arrives before the handler is dropped.
   */
  | { type: 'hello' }
  /** `error` set when the step failed (the worker then exits after `start`). */
  | { type: 'started'; seq: number; listeners: BoundListener[]; error?: string }
  | { type: 'applied'; seq: number; listeners: BoundListener[]; error?: string }
  | { type: 'stats'; seq: number; stats: StatSample[] }
  | { type: 'clusters'; seq: number; clusters: AdminCluster[] };
