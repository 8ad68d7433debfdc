// A child process hosting K simulated sidecars (sim-proxy.ts) for the control-plane benchmark,
// driven by its parent over Node IPC: the messages below, one JSON object each way.

import { messageType } from '../../src/xds/protos.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, messageName, ROUTE_TYPE } from '../../src/xds/resource-types.js';
import { SimFleet, type SimCounters, type SimEvent, type Variant } from './sim-proxy.js';

/** Parent → child. */
export type SimCommand =
  | { readonly cmd: 'connect'; readonly target: string; readonly first: number; readonly n: number; readonly variant: Variant; readonly concurrency?: number }
  | { readonly cmd: 'mark' }
  | { readonly cmd: 'stats' }
  | { readonly cmd: 'close' };

/** Child → parent: the fleet's events, plus one reply per command. */
export type SimMessage =
  | SimEvent
  | { readonly ev: 'connected'; readonly count: number }
  | { readonly ev: 'marked' }
  | ({ readonly ev: 'stats' } & SimCounters)
  | { readonly ev: 'closed' };

function main(): void {
  if (process.send === undefined) {
    process.stderr.write('sim-proxies: run me with child_process.fork (I am driven over IPC)\n');
    process.exit(2);
  }
  // After the parent disconnects a late event has nowhere to go: dropped (the callback takes the error).
  const send = (m: SimMessage): void => { if (process.connected) process.send!(m, undefined, undefined, () => undefined); };
  // Load the protos now, so the first proxy's sync does not pay for it.
  for (const t of [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE]) messageType(messageName(t));
  const fleet = new SimFleet(send);
  process.on('message', (m: SimCommand) => {
    switch (m.cmd) {
      case 'connect':
        fleet.connect(m).then(() => send({ ev: 'connected', count: fleet.size }), (e: Error) => send({ ev: 'error', proxy: -1, message: e.message }));
        break;
      case 'mark':
        fleet.mark();
        send({ ev: 'marked' });
        break;
      case 'stats':
        send({ ev: 'stats', ...fleet.stats() });
        break;
      case 'close':
        fleet.close();
        process.send!({ ev: 'closed' } satisfies SimMessage, undefined, undefined, () => { if (process.connected) process.disconnect(); });
        break;
    }
  });
  // The parent went away: nothing left to measure for.
  process.on('disconnect', () => { fleet.close(); setImmediate(() => process.exit(0)); });
}

main();
