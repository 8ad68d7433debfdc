// A child process hosting K simulated sidecars (sim-proxy.ts) for the control-plane benchmark,
// driven by its parent over Node IPC: the messages below, one JSON object each way.

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
  const send = (m: SimMessage): void => { process.send!(m); };
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
        send({ ev: 'closed' });
        process.disconnect();
        break;
    }
  });
  // The parent went away: nothing left to measure for.
  process.on('disconnect', () => { fleet.close(); setImmediate(() => process.exit(0)); });
}

main();
