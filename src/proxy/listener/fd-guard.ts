// Keeps accept() from eating the last file descriptors. Linux hands out the lowest free descriptor,
// so a downstream connection whose descriptor number is at or above (limit − reserve) means every
// lower number is taken: such a connection is closed at once (counted as
// `listener.<address>.downstream_cx_overflow` and logged, rate-limited) and the top `reserve`
// descriptors stay for the admin server, upstream connections and files. Without this, 20,000
// leaked connections exhausted the table; libuv then accepts and drops every new connection
// silently (its EMFILE "trick"), on the admin port too, and nothing said why.
//
// The limit is the process's RLIMIT_NOFILE soft limit (Node raises it to the hard limit at start),
// read once from /proc/self/limits; where that cannot be read, no guard applies.

import { readFileSync } from 'node:fs';
import type net from 'node:net';

/** Descriptors kept free: a sixteenth of the limit, at least 32, at most 1024. */
export function reserveFor(limit: number): number {
  return Math.max(32, Math.min(1024, Math.floor(limit / 16)));
}

function readLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
    if (m === null || m[1] === 'unlimited') return Infinity;
    return Number(m[1]);
  } catch {
    return Infinity;
  }
}

let threshold: number | null = null;
let limitSeen = Infinity;

/** The descriptor number from which downstream connections are refused (Infinity: no guard). */
export function fdThreshold(): number {
  if (threshold === null) {
    limitSeen = readLimit();
    threshold = Number.isFinite(limitSeen) ? limitSeen - reserveFor(limitSeen) : Infinity;
  }
  return threshold;
}

/** The descriptor limit the guard works with (after fdThreshold() ran). */
export function fdLimit(): number {
  fdThreshold();
  return limitSeen;
}

/** The socket's file descriptor, or -1 when unknown. */
export function fdOf(socket: net.Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}
